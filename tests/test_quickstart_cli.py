"""The README's main job (`eeg2img quickstart --fast`: every stage, every model folder) and CLI start-up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from eeg2img_hf import quickstart
from eeg2img_hf.quickstart import QUICKSTART_SETTINGS, QUICKSTART_STAGES, parse_stages, results_markdown, run_quickstart
from eeg2img_hf.training import common
from eeg2img_hf.utils.interrupts import TrainingInterrupted, request_stop

from testing_utils import run_python

EEG2IMG = os.path.join(os.path.dirname(sys.executable), "eeg2img")
MODELS = ("encoder", "gan", "clip", "image_to_eeg")


def _quickstart(output_dir, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([EEG2IMG, "quickstart", "--fast", "--output-dir", str(output_dir), *extra],
                          capture_output=True, text=True, env=env, timeout=600)


# every stage at toy size, twice, plus a loading subprocess: about 15 s on 2 busy cores (CI runs it)
@pytest.mark.integration
def test_quickstart_fast_every_stage_loads_and_resumes(tmp_path):
    from huggingface_hub import ModelCard

    from eeg2img_hf.hub import check_model_card_metadata

    proc = _quickstart(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["stages"]) == list(QUICKSTART_STAGES[:-1]) and results["fast"] is True
    for name, stage in results["stages"].items():
        assert stage["seconds"] >= 0 and stage["figures"] and not stage.get("reused"), name
    assert results["stages"]["encoder"]["chance"] == pytest.approx(0.1)
    table = (tmp_path / "results.md").read_text()
    assert all(f"| {name} |" in table for name in results["stages"])
    gan = results["stages"]["gan"]
    assert (tmp_path / "gan" / "samples" / "seed0000.png").stat().st_size > 0 and gan["grid_png"].endswith(".png")
    assert (tmp_path / "judge" / "model.safetensors").is_file()
    assert (tmp_path / "encoder" / "model" / "tsne_test.png").exists()
    # how to load each model and start the Space, with the real paths; the log has no library progress bars
    for name in MODELS:
        assert str(tmp_path / name / "model") in proc.stdout
    assert f"EEG2IMG_QUICKSTART={tmp_path}" in proc.stdout
    for bar in ("Loading weights", "Writing model shards", "Saving the dataset", "--resume: no checkpoint"):
        assert bar not in proc.stdout + proc.stderr
    assert "image-classifier judge:" in proc.stderr and "evaluate-gan: generated images:" in proc.stderr
    # the printed next steps run as printed: the Python code in a fresh process, the Space command in a shell
    code = quickstart.usage_code(tmp_path)
    assert code in proc.stdout
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (tmp_path / "generated.png").stat().st_size > 0 and (tmp_path / "reconstructed.png").stat().st_size > 0
    command = next(line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("EEG2IMG_QUICKSTART="))
    assert command.endswith("app.py") and "EEG2IMG_QUICKSTART=" in command
    page = _serve_and_fetch(command, "/config")
    assert "**Judge**" in page and "**Dataset** (simulated)" in page  # the judge and the test trials are there
    # every folder: card (parses, says simulated / from scratch), evaluation JSON next to it
    for name in MODELS:
        model_dir = tmp_path / name / "model"
        card = ModelCard.load(model_dir / "README.md")
        check_model_card_metadata(card)
        assert "simulated-data" in card.data.tags and "SIMULATED" in card.text
        assert json.loads((model_dir / "eval_results.json").read_text())
    for name in ("clip", "image_to_eeg"):
        assert "trained from scratch" in ModelCard.load(tmp_path / name / "model" / "README.md").text
    # each model loads with from_pretrained in a fresh process
    check = run_python(f"""
        import torch, eeg2img_hf
        from eeg2img_hf.models import EEGClipModel, EEGStyleGANModel, ImageToEEGModel
        from transformers import AutoModel
        root = {str(tmp_path)!r}
        enc = AutoModel.from_pretrained(root + "/encoder/model")
        print("encoder", tuple(enc(eeg_values=torch.rand(2, 14, 32)).eeg_embeds.shape))
        gan = EEGStyleGANModel.from_pretrained(root + "/gan/model").eval()
        print("gan", tuple(gan(eeg_values=torch.rand(2, 14, 32)).images.shape[:2]))
        clip = EEGClipModel.from_pretrained(root + "/clip/model").eval()
        print("clip", tuple(clip.get_eeg_features(eeg_values=torch.rand(2, 14, 32)).shape[:1]))
        i2e = ImageToEEGModel.from_pretrained(root + "/image_to_eeg/model")
        print("image_to_eeg", type(i2e).__name__)
    """)
    assert check.returncode == 0, check.stderr[-3000:]
    assert "encoder (2, 128)" in check.stdout and "gan (2, 3)" in check.stdout and "clip (2,)" in check.stdout
    assert "image_to_eeg ImageToEEGModel" in check.stdout
    # a re-run reuses every finished stage and trains nothing
    before = (tmp_path / "gan" / "model" / "model.safetensors").stat().st_mtime_ns
    again = _quickstart(tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    for number, name in enumerate(QUICKSTART_STAGES[:-1], start=1):
        assert f"[{number}/{len(QUICKSTART_STAGES)}] {name}: reusing the finished stage" in again.stdout
    assert "train-gan" not in again.stderr and "train-encoder" not in again.stderr
    assert (tmp_path / "gan" / "model" / "model.safetensors").stat().st_mtime_ns == before
    rerun = json.loads((tmp_path / "results.json").read_text())
    assert all(stage["reused"] for stage in rerun["stages"].values())


def _serve_and_fetch(command: str, path: str, timeout: float = 180) -> str:
    """Run a shell `command` that starts a Gradio app (on a free port), fetch `path` once it answers, stop it."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    server = subprocess.Popen(command, shell=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stdout.read()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                    return response.read().decode()
            except OSError:
                time.sleep(1)
        raise AssertionError(f"{command!r} did not answer on port {port} within {timeout} s")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_stages_option_runs_a_subset_and_checks_dependencies(tmp_path):
    with pytest.raises(ValueError, match="needs the finished stage"):
        run_quickstart(tmp_path, fast=True, stages="encoder")
    results = run_quickstart(tmp_path, fast=True, stages="simulate,report")
    assert list(results["stages"]) == ["simulate"]
    # sample inputs for the next steps: one test trial, its stimulus, one trial per class as MNE epochs
    import mne
    import numpy as np
    from PIL import Image

    from eeg2img_hf.data import get_eeg_info, load_eeg_dataset

    test = load_eeg_dataset(str(tmp_path / "dataset_thoughtviz"))["test"]
    np.testing.assert_array_equal(np.load(tmp_path / "sample_trial.npy"), np.asarray(test[0]["eeg"], np.float32))
    assert Image.open(tmp_path / "sample_image.png").size == test[0]["image"].size
    epochs = mne.read_epochs(tmp_path / "sample_trials-epo.fif", verbose="error")
    assert epochs.ch_names == get_eeg_info(test)["ch_names"] and epochs.info["sfreq"] == 128.0
    labels = np.asarray(test["label"])
    assert list(epochs.events[:, 2]) == list(range(10))  # one trial per class, in class order
    first_of_class_3 = np.asarray(test[int(np.flatnonzero(labels == 3)[0])]["eeg"])
    np.testing.assert_allclose(epochs.get_data()[3], first_of_class_3, rtol=1e-6)
    assert results["samples"]["trial"] == str(tmp_path / "sample_trial.npy")
    assert results["stages"]["simulate"]["counts"] == {"train": 360, "validation": 120, "test": 120}
    assert (tmp_path / "results.json").is_file() and "| simulate |" in (tmp_path / "results.md").read_text()
    # a default run must not reuse (or overwrite) a --fast run's folder
    with pytest.raises(ValueError, match="choose another --output-dir"):
        run_quickstart(tmp_path, fast=False, stages="simulate")
    assert json.loads((tmp_path / "stages" / "simulate.json").read_text())["mode"] == "fast"


def test_threads_per_stage_and_restored(tmp_path, monkeypatch):
    settings = QUICKSTART_SETTINGS["default"]
    monkeypatch.setattr(quickstart.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert quickstart._stage_threads(settings, "gan", None, 7) == 1  # spinning OpenMP threads: one
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert quickstart._stage_threads(settings, "gan", None, 7) == 2  # the GAN stage's setting
    assert quickstart._stage_threads(settings, "encoder", None, 7) == 1  # every other stage: 1
    assert quickstart._stage_threads(settings, "gan", 3, 7) == 3  # an explicit count wins
    assert quickstart._stage_threads(settings, "clip", 0, 7) == 7  # 0: torch's own choice
    monkeypatch.setattr(quickstart.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert quickstart._stage_threads(settings, "gan", None, 7) == 1  # capped by the cores this process may use
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be an integer >= 0"):
            run_quickstart(tmp_path / "bad", fast=True, stages="simulate", threads=bad)
    assert not (tmp_path / "bad").exists()  # refused before anything is written
    before = torch.get_num_threads()
    results = run_quickstart(tmp_path / "run", fast=True, stages="simulate,report", threads=1)
    assert results["stages"]["simulate"]["threads"] == 1 and torch.get_num_threads() == before
    assert "| simulate | " in (tmp_path / "run" / "results.md").read_text()


def test_parse_stages_and_results_table():
    assert parse_stages(None) == list(QUICKSTART_STAGES)
    assert parse_stages("clip, gan") == ["gan", "clip"]  # run order, not the given order
    for bad in ("gan,nope", ",", "GAN"):
        with pytest.raises(ValueError, match="--stages expects"):
            parse_stages(bad)
    table = results_markdown({"fast": False, "total_seconds": 12.0, "stages": {
        "gan": {"figures": [{"name": "generated-image class accuracy", "value": 0.25}], "chance": 0.1,
                "seconds": 10.04, "output": "out/gan/model"},
        "clip": {"figures": [{"name": "MRR", "value": None}], "chance": 0.1, "seconds": 2.0, "reused": True},
        "encoder": {"figures": [], "chance": 0.1, "seconds": 3.0, "threads": 2, "output": "e"}}})
    assert "| gan | generated-image class accuracy 0.250 | 0.100 | 10.0 | `out/gan/model` |" in table
    assert "| clip | MRR - | 0.100 | 2.0 (earlier run) |" in table
    assert "| encoder | - | 0.100 | 3.0, 2 th. | `e` |" in table
    assert "Total: 12.0 s" in table


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
    options = subprocess.run([EEG2IMG, "quickstart", "--help"], capture_output=True, text=True).stdout
    assert "--stages" in options and "--gan-kimg" in options


def test_the_cli_makes_openmp_wait_passively_before_torch_loads():
    """`eeg2img` sets OMP_WAIT_POLICY=PASSIVE unless the user chose a policy (it must precede torch's import)."""
    probe = ("import os, sys\nfrom eeg2img_hf import cli\n"
             "try:\n    cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
             "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-2:] == ["PASSIVE", "False"], out.stderr[-2000:]
    out = subprocess.run([sys.executable, "-c", probe], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-2:] == ["ACTIVE", "False"]


@pytest.mark.integration  # three quickstart runs of two stages (about 50 s)
def test_a_rerun_continues_an_interrupted_stage_or_restarts_one_stopped_before_its_first_checkpoint(tmp_path,
                                                                                                    monkeypatch):
    real_poll = common.poll_stop_and_clock

    def stop_now(accelerator, clock):
        request_stop()
        return real_poll(accelerator, clock)

    monkeypatch.setattr(common, "poll_stop_and_clock", stop_now)
    with pytest.raises(TrainingInterrupted):
        run_quickstart(tmp_path, fast=True, stages="simulate,encoder")
    monkeypatch.undo()
    assert (tmp_path / "encoder" / "checkpoints" / "step_00000001").is_dir()
    assert quickstart._continue(tmp_path / "encoder") == {"resume": True}
    results = run_quickstart(tmp_path, fast=True, stages="simulate,encoder")  # continues from step 1
    assert (tmp_path / "encoder" / "model" / "eeg2img_training.json").is_file()
    assert results["stages"]["encoder"]["figures"]
    # a stage stopped before its first checkpoint (its folder holds only the run's arguments) starts anew
    shutil.rmtree(tmp_path / "encoder" / "checkpoints")
    shutil.rmtree(tmp_path / "encoder" / "model")
    (tmp_path / "stages" / "encoder.json").unlink()
    assert quickstart._continue(tmp_path / "encoder") == {"overwrite": True}
    run_quickstart(tmp_path, fast=True, stages="simulate,encoder")
    assert (tmp_path / "encoder" / "model" / "eeg2img_training.json").is_file()
