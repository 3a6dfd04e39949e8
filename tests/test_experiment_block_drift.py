"""`scripts/experiment_block_drift.py`: its `--set` overrides (JSON values; a dict updates the preset's dict)."""

from __future__ import annotations

import pytest

from eeg2img_hf.training import EncoderTrainingArguments

from testing_utils import load_script


@pytest.fixture(scope="module")
def experiment():
    return load_script("experiment_block_drift")


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
