"""EEGClip training through Accelerate: tiny run, resume, batch sampler, encoder init, CLI, two CPU processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from eeg2img_hf.data import get_eeg_info, simulate_dataset
from eeg2img_hf.training import ClipTrainingArguments, UniqueKeyBatchSampler, train_clip
from eeg2img_hf.training import common as training_common
from eeg2img_hf.training.train_clip import build_clip_model
from eeg2img_hf.utils.interrupts import TrainingInterrupted

from testing_utils import csv_rows, stop_after_step

SIM = {"seed": 3, "n_subjects": 2, "images_per_class": 2, "classes": ["Apple", "Car", "Dog", "Gold"]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "thoughtviz"
    simulate_dataset("thoughtviz", **SIM).save_to_disk(str(path))
    return str(path)


def tiny_args(data_dir: str, output_dir, **overrides) -> ClipTrainingArguments:
    # The tiny preset's frozen tower loads no weights: the run opts in to its random features.
    base = dict(dataset=data_dir, output_dir=str(output_dir), model_preset="tiny", epochs=2, batch_size=8,
                learning_rate=1e-3, simulate={}, model_config={}, log_with=["csv"], allow_random_vision_tower=True)
    return ClipTrainingArguments.from_preset("cpu-small", **{**base, **overrides})


def test_tiny_run_produces_a_loadable_model(data_dir, tmp_path):
    from transformers import AutoImageProcessor, AutoModel

    import eeg2img_hf.models  # noqa: F401  (Auto registration)

    summary = train_clip(tiny_args(data_dir, tmp_path))
    model_dir = tmp_path / "model"
    assert (model_dir / "model.safetensors").exists() and not list(model_dir.glob("*.bin"))
    record = json.loads((model_dir / "eeg2img_training.json").read_text())
    assert record["selection_metric"] == "val_exact_mrr" == summary["selection_metric"]
    assert 0.0 < record["best_validation"] <= 1.0 and record["global_step"] == summary["global_step"] > 0
    assert set(record["best_validation_metrics"]) == {
        "val_exact_mrr", "val_exact_top1", "val_class_map", "val_class_top1"
    }
    assert record["classes"] == SIM["classes"] and record["n_train_images"] == 8
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,train_loss") and len(rows) == 1 + 2
    model = AutoModel.from_pretrained(model_dir).eval()
    assert type(model).__name__ == "EEGClipModel" and model.config.id2label[0] == "Apple"
    assert model.config.encoder_config.n_chans == 14 and model.config.encoder_config.n_times == 32
    processor = AutoImageProcessor.from_pretrained(model_dir)
    split = simulate_dataset("thoughtviz", **SIM)["validation"]
    pixels = processor(images=[split[0]["image"].convert("RGB")], return_tensors="pt")["pixel_values"]
    eeg = torch.as_tensor(np.asarray(split[0]["eeg"], dtype=np.float32))[None]
    out = model(eeg_values=eeg, pixel_values=pixels)
    assert out.logits_per_eeg.shape == (1, 1) and torch.isfinite(out.logits_per_eeg).all()
    with pytest.raises(ValueError, match="already holds a training run"):
        train_clip(tiny_args(data_dir, tmp_path))


def test_resume_matches_uninterrupted_run(data_dir, tmp_path, monkeypatch):
    common = dict(checkpoint_every_steps=1, keep_checkpoints=50)
    train_clip(tiny_args(data_dir, tmp_path / "a", **common))
    stop_after_step(monkeypatch, training_common, 5)  # a stop request after step 5 (Ctrl-C)
    with pytest.raises(TrainingInterrupted):
        train_clip(tiny_args(data_dir, tmp_path / "b", **common))
    monkeypatch.undo()
    final_a = sorted((tmp_path / "a" / "checkpoints").glob("step_*"))[-1]
    assert not (tmp_path / "b" / "checkpoints" / final_a.name).exists()
    train_clip(tiny_args(data_dir, tmp_path / "b", resume=True, **common))
    final_b = tmp_path / "b" / "checkpoints" / final_a.name
    weights_a, weights_b = load_file(final_a / "model.safetensors"), load_file(final_b / "model.safetensors")
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        torch.testing.assert_close(weights_a[key], weights_b[key], rtol=0, atol=0)
    assert csv_rows(tmp_path / "a" / "metrics.csv") == csv_rows(tmp_path / "b" / "metrics.csv")


@pytest.mark.parametrize("seed", range(5))
def test_unique_key_batch_sampler_property(seed):
    rng = np.random.default_rng(seed)
    n_keys = int(rng.integers(5, 20))
    keys = rng.integers(0, n_keys, size=int(rng.integers(30, 120)))
    keys[:n_keys] = np.arange(n_keys)  # every key present
    batch_size = int(rng.integers(2, n_keys + 1))
    sampler = UniqueKeyBatchSampler([f"img{k}" for k in keys], batch_size, seed=seed)
    counts = np.bincount(keys)
    optimum = max(b for b in range(len(keys) // batch_size + 1) if np.minimum(counts, b).sum() >= b * batch_size)
    sampler.set_epoch(1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == optimum
    used = [i for batch in batches for i in batch]
    assert len(used) == len(set(used))  # no trial twice in an epoch
    for batch in batches:
        assert len(batch) == batch_size and len({keys[i] for i in batch}) == batch_size
    assert list(sampler) == batches  # same epoch, same batches
    sampler.set_epoch(2)
    assert list(sampler) != batches


def test_unique_key_batch_sampler_counts_and_errors():
    # One key with many items: at most one of them per batch, so only 3 batches of size 2 are possible.
    sampler = UniqueKeyBatchSampler([0, 0, 0, 0, 0, 1, 2, 3], batch_size=2)
    assert len(sampler) == len(list(sampler)) == 3
    assert Counter(i < 5 for batch in sampler for i in batch)[True] == 3
    with pytest.raises(ValueError, match="distinct keys"):
        UniqueKeyBatchSampler([0, 1, 1], batch_size=3)


def test_class_balanced_batches_and_multi_positive_loss(data_dir, tmp_path):
    summary = train_clip(tiny_args(data_dir, tmp_path, class_balanced=True, unique_classes=True, batch_size=4,
                                   positives="class", epochs=1))
    assert summary["global_step"] > 0
    with pytest.raises(ValueError, match="distinct keys"):
        train_clip(tiny_args(data_dir, tmp_path / "c", class_balanced=True, unique_classes=True, batch_size=6))


def test_encoder_initialises_the_eeg_tower(data_dir, tmp_path):
    from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel

    torch.manual_seed(0)
    encoder = EEGEncoderModel(
        EEGEncoderConfig(n_chans=14, n_times=32, lstm_num_layers=1, lstm_hidden_size=9, embed_dim=7)
    )
    encoder.save_pretrained(tmp_path / "encoder")
    args = tiny_args(data_dir, tmp_path / "run", encoder=str(tmp_path / "encoder"))
    info = get_eeg_info(simulate_dataset("thoughtviz", **SIM))
    model = build_clip_model(args, info, SIM["classes"])
    assert model.config.encoder_config.lstm_hidden_size == 9 and model.eeg_projection.in_features == 7
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.eeg_model.state_dict()[key], value), key
    with pytest.raises(ValueError, match="expects"):
        build_clip_model(args, {**info, "n_chans": 5}, SIM["classes"])
    with pytest.raises(ValueError, match="not a folder"):
        build_clip_model(tiny_args(data_dir, tmp_path, encoder=str(tmp_path / "missing")), info, SIM["classes"])


def test_bad_arguments(data_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown clip preset"):
        ClipTrainingArguments.from_preset("nope")
    with pytest.raises(ValueError, match="unknown clip training arguments"):
        ClipTrainingArguments.from_preset("cpu-small", learning_rat=1.0)
    with pytest.raises(ValueError, match="positives"):
        ClipTrainingArguments(positives="all")
    with pytest.raises(ValueError, match="unique_classes"):
        ClipTrainingArguments(unique_classes=True)
    with pytest.raises(ValueError, match="exceeds"):
        train_clip(tiny_args(data_dir, tmp_path, class_balanced=False, batch_size=1000))
    with pytest.raises(ValueError, match="unknown class names"):
        train_clip(tiny_args(data_dir, tmp_path, classes=["Unicorn", "Apple"]))


def test_cli_in_process(data_dir, tmp_path, capsys):
    from eeg2img_hf.cli import main

    out = tmp_path / "cli"
    code = main(["train-clip", "--preset", "cpu-small", "--model-preset", "tiny", "--allow-random-vision-tower",
                 "--dataset", data_dir, "--output-dir", str(out), "--epochs", "1", "--batch-size", "4",
                 "--log-with", "csv", "--classes", "Apple,Car,Dog"])
    assert code == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["model_dir"] == str(out / "model") and line["selection_metric"] == "val_exact_mrr"
    assert json.loads((out / "model" / "eeg2img_training.json").read_text())["classes"] == ["Apple", "Car", "Dog"]
    assert main(["train-clip", "--dataset", str(tmp_path / "missing"), "--output-dir", str(tmp_path / "x")]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.integration
def test_two_process_accelerate_launch(data_dir, tmp_path):
    """ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 (gloo, two ranks)."""
    accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
    out = tmp_path / "ddp"
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29547", "--module",
           "eeg2img_hf.cli", "train-clip", "--preset", "cpu-small", "--model-preset", "tiny",
           "--allow-random-vision-tower", "--dataset", data_dir,
           "--output-dir", str(out), "--epochs", "1", "--batch-size", "8", "--log-with", "csv"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    record = json.loads((out / "model" / "eeg2img_training.json").read_text())
    assert record["num_processes"] == 2 and record["global_step"] > 0
    assert (out / "model" / "model.safetensors").exists() and (out / "model" / "preprocessor_config.json").exists()
