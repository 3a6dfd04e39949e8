"""Encoder training through Accelerate: one process, two CPU processes, resume, CLI, evaluation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.evaluation import evaluate_encoder
from eeg2img_hf.models import EEGEncoderModel
from eeg2img_hf.training import EncoderTrainingArguments, train_encoder
from eeg2img_hf.training import common as training_common
from eeg2img_hf.utils.interrupts import TrainingInterrupted

from testing_utils import csv_rows, stop_after_step

SIM = {"seed": 3, "n_subjects": 3, "images_per_class": 2}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "thoughtviz"
    simulate_dataset("thoughtviz", **SIM).save_to_disk(str(path))
    return str(path)


TINY_TSCONV = {"tsconv_filters": 4, "tsconv_kernel_size": 5, "tsconv_pool_size": 32, "tsconv_pool_stride": 32,
               "embed_dim": 16}
TINY_LSTM = {"lstm_num_layers": 1, "lstm_hidden_size": 16, "embed_dim": 16}
AUGMENT = {"augment_time_shift": 2, "augment_channel_dropout": 0.2, "augment_noise_std": 0.3}


def tiny_args(data_dir: str, output_dir, preset: str = "cpu-small-lstm-triplet", **overrides):
    encoder_config = TINY_TSCONV if preset == "cpu-small" else TINY_LSTM
    base = dict(dataset=data_dir, output_dir=str(output_dir), epochs=2, batch_size=32, learning_rate=1e-3,
                encoder_config=encoder_config, log_with=["csv"])
    return EncoderTrainingArguments.from_preset(preset, **{**base, **overrides})


@pytest.mark.parametrize("loss", ["triplet-semihard", "triplet-ms", "supervised", "supervised+triplet-ms"])
def test_train_then_evaluate(data_dir, tmp_path, loss):
    summary = train_encoder(tiny_args(data_dir, tmp_path, loss=loss))
    model_dir = tmp_path / "model"
    assert (model_dir / "model.safetensors").exists() and (model_dir / "eeg2img_training.json").exists()
    assert summary["selection_metric"] == ("val_accuracy" if loss == "supervised" else "val_kmeans")
    # the combined loss's head is a training device: its folder holds the encoder alone
    has_head = any(k.startswith("classifier.") for k in load_file(model_dir / "model.safetensors"))
    assert has_head == (loss == "supervised")
    assert 0.0 <= summary["best_validation"] <= 1.0 and summary["global_step"] > 0
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 1 + 2  # header + one row per epoch
    result = evaluate_encoder(model_dir, tsne_path=str(tmp_path / "tsne.png"))
    assert (tmp_path / "tsne.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((model_dir / "eval_results.json").read_text())
    assert saved["loss"] == loss and saved["split"] == "within-block"
    assert 0.0 <= saved["seen_classes"]["kmeans_test"] <= 1.0
    assert result["checkpoint"]["selection_metric"] == summary["selection_metric"]


@pytest.mark.parametrize("preset, extra", [("cpu-small-lstm-triplet", {}), ("cpu-small", AUGMENT)])
def test_resume_matches_uninterrupted_run(data_dir, tmp_path, monkeypatch, preset, extra):
    # with augmentation on, the resumed run must also draw the same shifts, dropped channels and noise
    common = dict(preset=preset, checkpoint_every_steps=1, keep_checkpoints=10, **extra)
    straight = tiny_args(data_dir, tmp_path / "a", **common)
    train_encoder(straight)
    stop_after_step(monkeypatch, training_common, 3)  # a stop request after step 3 (Ctrl-C)
    with pytest.raises(TrainingInterrupted):
        train_encoder(tiny_args(data_dir, tmp_path / "b", **common))
    monkeypatch.undo()
    final_a = sorted((tmp_path / "a" / "checkpoints").glob("step_*"))[-1]
    assert not (tmp_path / "b" / "checkpoints" / final_a.name).exists()
    train_encoder(tiny_args(data_dir, tmp_path / "b", resume=True, **common))
    final_b = tmp_path / "b" / "checkpoints" / final_a.name
    weights_a, weights_b = load_file(final_a / "model.safetensors"), load_file(final_b / "model.safetensors")
    for key in weights_a:
        torch.testing.assert_close(weights_a[key], weights_b[key], rtol=0, atol=0)
    assert csv_rows(tmp_path / "a" / "metrics.csv") == csv_rows(tmp_path / "b" / "metrics.csv")


def test_cpu_small_preset_trains_saves_and_loads(data_dir, tmp_path):
    from transformers import AutoModel

    args = EncoderTrainingArguments.from_preset("cpu-small", dataset=data_dir, output_dir=str(tmp_path), epochs=1,
                                                log_with=["csv"])
    assert (args.architecture, args.loss, args.augment_channel_dropout) == ("tsconv", "supervised+triplet-ms", 0.1)
    assert EncoderTrainingArguments.from_preset("cpu-small-lstm-triplet").architecture == "lstm"
    summary = train_encoder(args)
    assert summary["selection_metric"] == "val_kmeans" and summary["global_step"] > 0
    model_dir = tmp_path / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architecture"] == "tsconv" and config["architectures"] == ["EEGEncoderModel"]
    model = EEGEncoderModel.from_pretrained(model_dir).eval()
    remote = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    eeg = torch.randn(3, 14, 32) + 1.0
    with torch.no_grad():
        embeds = model(eeg_values=eeg).eeg_embeds
        torch.testing.assert_close(remote(eeg_values=eeg).eeg_embeds, embeds)
    torch.testing.assert_close(embeds.norm(dim=-1), torch.ones(3))
    result = evaluate_encoder(model_dir, tsne_path="")
    assert result["architecture"] == "tsconv" and result["loss"] == "supervised+triplet-ms"
    assert 0.0 <= result["seen_classes"]["svm_train_to_test"] <= 1.0


def test_unseen_class_training_and_evaluation(data_dir, tmp_path):
    held_out = ["Tiger", "Wallet", "Watch"]
    train_encoder(tiny_args(data_dir, tmp_path, exclude_classes=held_out, epochs=1))
    record = json.loads((tmp_path / "model" / "eeg2img_training.json").read_text())
    assert record["excluded_classes"] == held_out and not set(held_out) & set(record["classes"])
    result = evaluate_encoder(tmp_path / "model", tsne_path="")
    assert result["unseen_classes"]["unseen_classes"] == held_out
    assert "kmeans_zero_shot" in result["unseen_classes"]
    assert set(result["classes"]) == set(record["classes"])


def test_bad_arguments(data_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown encoder preset"):
        EncoderTrainingArguments.from_preset("nope")
    with pytest.raises(ValueError, match="unknown encoder training arguments"):
        EncoderTrainingArguments.from_preset("cpu-small", learning_rat=1.0)
    with pytest.raises(ValueError, match="exceeds"):
        train_encoder(tiny_args(data_dir, tmp_path, batch_size=100000))
    with pytest.raises(ValueError, match="unknown class names"):
        train_encoder(tiny_args(data_dir, tmp_path, exclude_classes=["Unicorn"]))


def _cli_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@pytest.mark.integration
def test_cli_train_evaluate_smoke(data_dir, tmp_path):
    eeg2img = shutil.which("eeg2img", path=os.path.dirname(sys.executable)) or "eeg2img"
    out = tmp_path / "run"
    train = subprocess.run([eeg2img, "train-encoder", "--dataset", data_dir, "--output-dir", str(out), "--epochs", "1",
                            "--batch-size", "32", "--log-with", "csv"], capture_output=True, text=True, env=_cli_env())
    assert train.returncode == 0, train.stderr[-3000:]
    assert json.loads(train.stdout.strip().splitlines()[-1])["model_dir"] == str(out / "model")
    evaluate = subprocess.run([eeg2img, "evaluate-encoder", str(out / "model"), "--no-tsne"], capture_output=True,
                              text=True, env=_cli_env())
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert (out / "model" / "eval_results.json").exists()
    bad = subprocess.run([eeg2img, "train-encoder", "--dataset", str(tmp_path / "missing")], capture_output=True,
                         text=True, env=_cli_env())
    assert bad.returncode == 2 and "error" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.integration
def test_two_process_accelerate_launch(data_dir, tmp_path):
    """ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 (gloo, two ranks)."""
    accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
    out = tmp_path / "ddp"
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29531", "--module",
           "eeg2img_hf.cli", "train-encoder", "--dataset", data_dir, "--output-dir", str(out), "--epochs", "2",
           "--batch-size", "32", "--log-with", "csv"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**_cli_env(), "ACCELERATE_USE_CPU": "1"},
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    record = json.loads((out / "model" / "eeg2img_training.json").read_text())
    assert record["num_processes"] == 2
    assert (out / "model" / "model.safetensors").exists()


TINY_CNN = {"cnn_channels": [4, 6], "cnn_dropout": 0.2, "embed_dim": 16}


def test_gradient_checkpointing_trains_the_cnn_to_the_same_weights(data_dir, tmp_path):
    # same seed, same dropout draws: the checkpointed run ends where the plain one does (up to float rounding)
    common = dict(architecture="cnn", encoder_config=TINY_CNN, epochs=1, max_steps=2)
    train_encoder(tiny_args(data_dir, tmp_path / "plain", **common))
    train_encoder(tiny_args(data_dir, tmp_path / "checkpointed", gradient_checkpointing=True, **common))
    plain = load_file(tmp_path / "plain" / "model" / "model.safetensors")
    checkpointed = load_file(tmp_path / "checkpointed" / "model" / "model.safetensors")
    assert plain.keys() == checkpointed.keys()
    for key in plain:
        torch.testing.assert_close(checkpointed[key], plain[key])


def test_gradient_checkpointing_refusals(capsys):
    with pytest.raises(ValueError, match="CNN encoder only .*'lstm'"):
        EncoderTrainingArguments.from_preset("cpu-small-lstm-triplet", gradient_checkpointing=True)
    with pytest.raises(ValueError, match="batch norm"):
        EncoderTrainingArguments.from_preset("thoughtviz-cnn", gradient_checkpointing=True)
    from eeg2img_hf.cli import main

    assert main(["train-encoder", "--architecture", "tsconv", "--gradient-checkpointing"]) == 2
    err = capsys.readouterr().err
    assert "--gradient-checkpointing" in err and "'tsconv'" in err and "Traceback" not in err
