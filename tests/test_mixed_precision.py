"""`--mixed-precision bf16` through Accelerate for every trainer (train-encoder, train-gan, train-clip,
train-image-to-eeg), at tiny scale on CPU: the option reaches the `Accelerator`, training steps run under bf16
autocast, and the saved models keep float32 weights that load and give finite outputs."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.pipelines import precision
from eeg2img_hf.training.args import EncoderTrainingArguments
from eeg2img_hf.training.common import make_accelerator

TRACKERS = ["--log-with", ""]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("bf16") / "data"
    simulate_dataset("thoughtviz", n_subjects=2, n_blocks_per_class=2, trials_per_block=4, image_size=16,
                     classes=["Apple", "Car", "Dog"]).save_to_disk(str(path))
    return path


@pytest.fixture(autouse=True)
def bf16_units(monkeypatch):
    """These tests check the wiring, on any CPU: bfloat16 units are assumed (emulated where absent)."""
    monkeypatch.setattr(precision, "_cpu_bf16_units", lambda: ["amx_tile"])


@pytest.fixture(autouse=True)
def record_autocast(monkeypatch):
    """Notes the dtype of every Accelerator.autocast / prepared-model forward context entered on CPU."""
    seen: list[torch.dtype] = []
    original = torch.autocast.__enter__

    def enter(self):
        if self.device == "cpu" and self._enabled:
            seen.append(self.fast_dtype)
        return original(self)

    monkeypatch.setattr(torch.autocast, "__enter__", enter)
    return seen


def _weights_are_float32(folder) -> bool:
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        return all(handle.get_slice(key).get_dtype() in ("F32", "I64", "BOOL") for key in handle.keys())


def _record(folder) -> dict:
    return json.loads((folder / "eeg2img_training.json").read_text())


@pytest.mark.integration  # four tiny trainings: about 20 s on 2 cores
def test_every_trainer_runs_under_bf16_on_cpu(data_dir, tmp_path, record_autocast, capsys):
    precision = ["--mixed-precision", "bf16"]
    encoder = tmp_path / "encoder"
    assert main(["train-encoder", "--preset", "cpu-small", "--dataset", str(data_dir), "--output-dir", str(encoder),
                 "--epochs", "1", "--max-steps", "2", "--batch-size", "8", *TRACKERS, *precision]) == 0
    assert record_autocast and set(record_autocast) == {torch.bfloat16}
    runs = {"encoder": encoder / "model"}
    counts = {"encoder": len(record_autocast)}

    gan = tmp_path / "gan"
    assert main(["train-gan", "--preset", "tiny", "--encoder", str(runs["encoder"]), "--dataset", str(data_dir),
                 "--output-dir", str(gan), "--max-steps", "2", "--batch-size", "8", *TRACKERS, *precision]) == 0
    runs["gan"] = gan / "model"
    counts["gan"] = len(record_autocast) - sum(counts.values())

    clip = tmp_path / "clip"
    assert main(["train-clip", "--preset", "cpu-small", "--model-preset", "tiny", "--allow-random-vision-tower",
                 "--dataset", str(data_dir), "--output-dir", str(clip), "--epochs", "1", "--max-steps", "2",
                 "--batch-size", "8", "--eval-every-epochs", "1", *TRACKERS, *precision]) == 0
    runs["clip"] = clip / "model"
    counts["clip"] = len(record_autocast) - sum(counts.values())

    i2e = tmp_path / "i2e"
    assert main(["train-image-to-eeg", "--preset", "tiny", "--encoder", str(runs["encoder"]), "--dataset",
                 str(data_dir), "--output-dir", str(i2e), "--max-steps", "2", "--batch-size", "8",
                 "--allow-random-vision-tower", *precision]) == 0
    runs["image_to_eeg"] = i2e / "model"
    counts["image_to_eeg"] = len(record_autocast) - sum(counts.values())
    capsys.readouterr()

    assert set(record_autocast) == {torch.bfloat16}
    for name, folder in runs.items():
        assert counts[name] > 0, f"{name}: no bf16 autocast region was entered"
        record = _record(folder)
        args = record.get("training_args") or record.get("args") or {}
        assert args.get("mixed_precision") == "bf16", name
        recorded = json.loads((folder.parent / "training_args.json").read_text())
        assert recorded["autocast_precision"] == "bf16", name  # what autocast computed in
        assert _weights_are_float32(folder), name  # master weights stay float32


def test_mixed_precision_is_checked_and_defaults_to_accelerate():
    assert EncoderTrainingArguments.from_preset("cpu-small").mixed_precision is None
    with pytest.raises(ValueError, match="mixed_precision"):
        EncoderTrainingArguments.from_preset("cpu-small", mixed_precision="fp8")


def test_a_later_run_in_the_same_process_gets_its_own_precision(tmp_path):
    """Accelerate refuses a second Accelerator with another precision; one process running trainers one after
    another (a notebook, the quickstart) gets the precision each run asks for."""
    from types import SimpleNamespace

    from accelerate import Accelerator

    Accelerator()  # an earlier run without mixed precision
    args = SimpleNamespace(output_dir=str(tmp_path), log_with=[], seed=0, mixed_precision="bf16")
    assert make_accelerator(args).mixed_precision == "bf16"
    args.mixed_precision = "no"
    assert make_accelerator(args).mixed_precision == "no"
    args.mixed_precision = "bf16"
    make_accelerator(args)
    args.mixed_precision = None  # a later run that asks for nothing gets no mixed precision, not the earlier bf16
    assert make_accelerator(args).mixed_precision == "no"


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 autocast runs on a GPU")
def test_fp16_on_cpu_is_refused_rather_than_recorded(tmp_path):
    """On the CPU Accelerate keeps mixed_precision='fp16' but computes in float32: a run would record fp16."""
    from types import SimpleNamespace

    from eeg2img_hf.training.common import autocast_precision

    args = SimpleNamespace(output_dir=str(tmp_path), log_with=[], seed=0, mixed_precision="fp16")
    with pytest.raises(ValueError, match="fp16 needs a GPU: on cpu Accelerate would compute in float32"):
        make_accelerator(args)
    args.mixed_precision = "no"
    assert autocast_precision(make_accelerator(args)) == "no"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal concerns CPUs")
def test_bf16_on_a_cpu_without_bfloat16_units_is_refused(tmp_path, monkeypatch, data_dir, capsys):
    from types import SimpleNamespace

    monkeypatch.setattr(precision, "_cpu_bf16_units", lambda: [])
    monkeypatch.delenv(precision.ALLOW_EMULATED_VAR, raising=False)
    args = SimpleNamespace(output_dir=str(tmp_path), log_with=[], seed=0, mixed_precision="bf16")
    with pytest.raises(ValueError, match=r"--mixed-precision bf16 is refused: this CPU .* has no bfloat16 units.*"
                                         r"use --mixed-precision no, or set EEG2IMG_ALLOW_EMULATED_BF16=1"):
        make_accelerator(args)
    out = tmp_path / "run"
    assert main(["train-encoder", "--preset", "cpu-small", "--dataset", str(data_dir), "--output-dir", str(out),
                 "--max-steps", "1", *TRACKERS, "--mixed-precision", "bf16"]) == 2
    err = capsys.readouterr().err
    assert "bf16 is refused" in err and "Traceback" not in err
    monkeypatch.setenv(precision.ALLOW_EMULATED_VAR, "1")
    assert make_accelerator(args).mixed_precision == "bf16"
