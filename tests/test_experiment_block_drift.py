"""`scripts/experiment_block_drift.py`: its `--set` overrides (JSON values; a dict updates the preset's dict)."""

from __future__ import annotations

import json

import pytest

from eeg2img_hf.training import EncoderTrainingArguments
from eeg2img_hf.utils.errors import RefusedOutputError

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


def test_writes_every_cell_with_its_environment(experiment, tmp_path, capsys):
    output = tmp_path / "results" / "drift.json"
    result = experiment.main(["--drifts", "0,2", "--n-subjects", "1", "--trials-per-block", "6",
                              "--n-blocks-per-class", "5", "--epochs", "1", "--training-preset", "cpu-small",
                              "--set", "batch_size=8",
                              "--seeds", "0", "--output", str(output)])
    assert json.loads(output.read_text()) == result == json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["cells"]) == {"drift=0/within-block", "drift=0/block-held-out", "drift=2/within-block",
                                    "drift=2/block-held-out"}
    cell = result["cells"]["drift=2/block-held-out"]
    assert 0 <= cell["kmeans_test"] <= 1 and 0 <= cell["svm_train_to_test"] <= 1 and cell["kmeans_test_per_seed"]
    gaps = result["kmeans_gap_within-block_minus_block-held-out"]
    assert gaps["drift=2"] == pytest.approx(
        result["cells"]["drift=2/within-block"]["kmeans_test"] - cell["kmeans_test"], abs=1e-4)
    assert result["environment"]["seeds"] == {"simulator_and_training_0": 0} and result["environment"]["threads"] == 1


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--epochs", "0"]])
def test_refuses_bad_counts(experiment, argv, capsys):
    with pytest.raises(SystemExit) as info:
        experiment.main(argv)
    assert info.value.code == 2 and "must be >= 1" in capsys.readouterr().err


def test_an_output_that_is_not_a_json_result_is_refused_before_training(experiment, tmp_path):
    output = tmp_path / "notes.json"
    output.write_text("my notes, not JSON")
    with pytest.raises(RefusedOutputError, match="--output .* is not a JSON result"):
        experiment.main(["--epochs", "1", "--output", str(output)])
    assert output.read_text() == "my notes, not JSON"
