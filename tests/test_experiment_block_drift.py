"""`scripts/experiment_block_drift.py`: its `--set` overrides (JSON values; a dict updates the preset's dict)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from eeg2img_hf.training import EncoderTrainingArguments

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "experiment_block_drift.py"


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("experiment_block_drift", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overrides_merge_dicts_into_the_preset(experiment):
    overrides = experiment.parse_overrides(
        ['encoder_config={"input_normalization": "channel_zscore"}', "epochs=3", "loss=supervised"], "cpu-small")
    preset = EncoderTrainingArguments.PRESETS["cpu-small"]["encoder_config"]
    assert overrides["encoder_config"] == {**preset, "input_normalization": "channel_zscore"}
    assert overrides["encoder_config"]["tsconv_filters"] == preset["tsconv_filters"]  # kept, not replaced
    assert overrides["epochs"] == 3 and overrides["loss"] == "supervised"
    args = EncoderTrainingArguments.from_preset("cpu-small", **overrides)
    assert args.architecture == "tsconv" and args.encoder_config["input_normalization"] == "channel_zscore"
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        experiment.parse_overrides(["epochs"], "cpu-small")
