"""The README's main job (`eeg2img quickstart --fast`) and CLI start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from testing_utils import run_python

EEG2IMG = os.path.join(os.path.dirname(sys.executable), "eeg2img")


def test_quickstart_fast_writes_loadable_model(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([EEG2IMG, "quickstart", "--fast", "--output-dir", str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model_dir = tmp_path / "encoder" / "model"
    assert "AutoModel.from_pretrained" in proc.stdout and str(model_dir) in proc.stdout
    results = json.loads((model_dir / "eval_results.json").read_text())
    assert {"kmeans_test", "svm_train_to_test", "knn3_train_to_test"} <= set(results["seen_classes"])
    assert (model_dir / "tsne_test.png").exists()
    check = run_python(f"""
        import torch, eeg2img_hf
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(model_dir)!r})
        print(model(eeg_values=torch.rand(2, 14, 32)).eeg_embeds.shape)
    """)
    assert check.returncode == 0 and "torch.Size([2, 128])" in check.stdout, check.stderr[-2000:]
    again = subprocess.run([EEG2IMG, "quickstart", "--fast", "--output-dir", str(tmp_path)], capture_output=True,
                           text=True, env=env, timeout=600)
    assert again.returncode == 0 and "reusing the simulated dataset" in again.stdout


def test_help_is_fast_and_light():
    proc = run_python("""
        import sys
        from eeg2img_hf.cli import build_parser
        build_parser().format_help()
        heavy = [m for m in ("torch", "transformers", "datasets", "accelerate", "sklearn") if m in sys.modules]
        print(heavy)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
    names = subprocess.run([EEG2IMG, "--help"], capture_output=True, text=True).stdout
    for command in ("quickstart", "train-encoder", "evaluate-encoder", "train-gan", "evaluate-gan",
                    "convert-checkpoint"):
        assert command in names
