"""`scripts/bench_gan_conditioning.py` at tiny size: it trains the EEG and class-label runs, scores both on
validation and test with the judge, chooses the conditional-truncation psi on validation, prints one JSON line
whose ratio is the test accuracy over the encoder's test linear probe, and scores existing runs the same way."""

from __future__ import annotations

import json
import shutil

import pytest

from eeg2img_hf.data import load_eeg_dataset
from eeg2img_hf.metrics.image_classifier import CONFIG_NAME, train_image_classifier
from eeg2img_hf.utils.errors import RefusedOutputError

from testing_utils import load_script, save_tiny_gan_inputs


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_gan_conditioning")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = save_tiny_gan_inputs(tmp_path_factory.mktemp("bench-gan-conditioning"))
    train_image_classifier(load_eeg_dataset(str(root / "data")), image_size=16, epochs=1, output_dir=root / "judge",
                           device="cpu")
    return root


def test_trains_scores_and_rescores_existing_runs(bench, inputs, tmp_path, capsys):
    argv = ["--dataset", str(inputs / "data"), "--encoder", str(inputs / "encoder"), "--judge", str(inputs / "judge"),
            "--preset", "tiny", "--kimg", "0.016", "--num-fakes", "8", "--truncation-psi", "0.5,0.0"]
    result = bench.main(["--work-dir", str(tmp_path / "w"), *argv])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    eeg, onehot = result["runs"]["eeg"], result["runs"]["onehot"]
    assert eeg["conditioning"] == "eeg" and onehot["conditioning"] == "onehot"
    assert eeg["kimg"] == pytest.approx(0.016) and eeg["preset_fields"]["stylegan_preset"] == "tiny"
    probe = result["encoder_probe_test"]
    assert 0 <= probe["logreg_mean_true_class_probability"] <= 1 and 0 <= probe["linear_svm"] <= 1
    assert result["efficiency_psi1"] == pytest.approx(eeg["test"]["accuracy"] / probe["linear_svm"], abs=1e-4)
    sweep = eeg["conditional_truncation"]
    best = max(sweep["validation_by_psi"].items(), key=lambda kv: (kv[1], float(kv[0])))
    assert sweep["psi_chosen_on_validation"] == float(best[0])  # chosen on validation, ties to the larger psi
    assert result["efficiency_conditional_truncation"] == pytest.approx(
        sweep["test"]["accuracy"] / probe["linear_svm"], abs=1e-4)
    assert "conditional_truncation" not in onehot  # truncation is swept for the EEG run only
    evaluations = {p.name for p in (tmp_path / "w" / "evaluations").iterdir()}
    assert {"eeg_test.json", "eeg_validation.json", "onehot_test.json", "eeg_validation_psi0.5_condition.json"} \
        <= evaluations
    # scoring the same folders again gives the same figures
    again = bench.main(["--work-dir", str(tmp_path / "w2"), "--eeg-run", str(tmp_path / "w" / "gan_eeg"),
                        "--onehot-run", str(tmp_path / "w" / "gan_onehot"), "--judge", str(inputs / "judge"),
                        "--num-fakes", "8"])
    assert again["runs"]["eeg"]["test"] == eeg["test"] and again["runs"]["onehot"]["validation"] == \
        onehot["validation"]
    assert again["dataset"] == str(inputs / "data") and again["encoder"] == str(inputs / "encoder")
    with pytest.raises(SystemExit, match="exists"):  # a finished run is never trained over
        bench.main(["--work-dir", str(tmp_path / "w"), *argv])


def test_snapshots_are_trained_scored_and_the_result_written_with_its_environment(bench, inputs, tmp_path, capsys):
    output = tmp_path / "results" / "gan.json"
    result = bench.main(["--work-dir", str(tmp_path / "w"), "--dataset", str(inputs / "data"), "--encoder",
                         str(inputs / "encoder"), "--judge", str(inputs / "judge"), "--preset", "tiny", "--kimg",
                         "0.032", "--snapshot-kimg", "0.016", "--score-snapshots", "--num-fakes", "8", "--no-onehot",
                         "--output", str(output)])
    assert json.loads(output.read_text()) == result == json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["environment"]["seeds"] == {"simulator": 0, "evaluation": 0} and result["environment"]["cpu_model"]
    [snapshot] = result["runs"]["eeg"]["snapshots"]  # tick 1 of 2 (the end is the model itself)
    assert snapshot["kimg"] == 0 and set(snapshot) == {"kimg", "validation", "test"}
    assert 0 <= snapshot["test"]["accuracy"] <= 1 and snapshot["validation"]["fid_judge_features"] >= 0
    assert (tmp_path / "w" / "evaluations" / "eeg_kimg0_test.json").is_file()
    assert snapshot["test"] != result["runs"]["eeg"]["test"] or snapshot["validation"] != \
        result["runs"]["eeg"]["validation"]  # an earlier generator than the final one
    with pytest.raises(ValueError, match="not a multiple of the preset's tick"):
        bench.main(["--work-dir", str(tmp_path / "w3"), "--dataset", str(inputs / "data"), "--encoder",
                    str(inputs / "encoder"), "--judge", str(inputs / "judge"), "--preset", "tiny", "--snapshot-kimg",
                    "0.02", "--no-onehot"])


def test_second_judge_scores_existing_runs_with_an_independent_judge(bench, inputs, tmp_path, capsys):
    bench.main(["--work-dir", str(tmp_path / "w"), "--dataset", str(inputs / "data"), "--encoder",
                str(inputs / "encoder"), "--judge", str(inputs / "judge"), "--preset", "tiny", "--kimg", "0.016",
                "--num-fakes", "8", "--no-onehot"])
    run, copy = tmp_path / "w" / "gan_eeg", tmp_path / "copy"
    shutil.copytree(run, copy)
    with pytest.raises(ValueError, match="names a run more than once"):
        bench.main(["--work-dir", str(tmp_path / "second"), "--second-judge-runs", str(run), str(run)])
    capsys.readouterr()
    argv = ["--work-dir", str(tmp_path / "second"), "--second-judge-runs", str(run), str(copy), "--num-fakes", "8",
            "--judge-epochs", "1", "--second-judge-widths", "6,10"]
    result = bench.main(argv)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert json.loads((tmp_path / "second" / "second_judge.json").read_text()) == result
    judge = json.loads((tmp_path / "second" / "second_judge" / CONFIG_NAME).read_text())
    assert judge["widths"] == [6, 10] and judge["training"]["seed"] == 1  # not the first judge's seed 0
    assert result["judge"]["seed"] == 1 and result["judge"]["widths"] == [6, 10]
    first, again = result["runs"]
    assert first["run"] == str(run) and first["conditioning"] == "eeg" and first["kimg"] == pytest.approx(0.016)
    assert again["run"] == str(copy) and first["test"] == again["test"]  # the same generator, the same figures
    assert 0 <= first["test"]["accuracy"] <= 1
    assert 0 <= first["test"]["judge_real_accuracy"] <= 1
    assert result["environment"]["seeds"] == {"second_judge": 1, "evaluation": 0} and result["environment"]["torch"]
    # a judge folder holding another judge is refused, not silently reused
    with pytest.raises(ValueError, match="holds a judge with seed 1 and widths \\(6, 10\\), not seed 2"):
        bench.main([*argv, "--second-judge", str(tmp_path / "second" / "second_judge"), "--second-judge-seed", "2"])


@pytest.mark.parametrize("argv, message", [
    (["--eeg-run", "r"], "--onehot-run RUN or --no-onehot"),
    (["--eeg-run", "r", "--no-onehot", "--set", "kimg=1"], "no --set"),
    (["--onehot-run", "r"], "--onehot-run needs --eeg-run"),
    (["--truncation-psi", "1.5"], "values in [0, 1)"),
    (["--truncation-psi", "a"], "comma-separated numbers"),
    (["--set", "kimg"], "FIELD=VALUE"),
    (["--num-fakes", "1"], "--num-fakes"),
    (["--second-judge-runs", "r", "--eeg-run", "r", "--no-onehot"], "no --eeg-run, --onehot-run or --set"),
    (["--second-judge-widths", "24,x"], "comma-separated integers"),
    (["--second-judge-runs", "r", "--judge-epochs", "0"], "--judge-epochs"),
    (["--snapshot-kimg", "-1"], "--snapshot-kimg >= 0"),
    (["--eeg-run", "r", "--no-onehot", "--snapshot-kimg", "15"], "applies to runs trained here"),
])
def test_refuses_bad_options(bench, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_refuses_a_folder_that_is_not_a_finished_run(bench, tmp_path):
    with pytest.raises(SystemExit, match="not a finished train-gan output folder"):
        bench.main(["--work-dir", str(tmp_path / "w"), "--eeg-run", str(tmp_path), "--no-onehot"])


def test_never_writes_into_a_foreign_folder(bench, tmp_path):
    (tmp_path / "w" / "dataset").mkdir(parents=True)
    (tmp_path / "w" / "dataset" / "notes.txt").write_text("mine")
    with pytest.raises(RefusedOutputError, match="--work-dir dataset"):
        bench.main(["--work-dir", str(tmp_path / "w"), "--dataset", "thoughtviz", "--no-onehot"])
    assert (tmp_path / "w" / "dataset" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("make_output", [lambda d: d, lambda d: d / "weights.safetensors"], ids=["folder", "not-json"])
def test_a_bad_output_is_refused_before_anything_is_trained(bench, tmp_path, make_output):
    output = make_output(tmp_path / "out")
    if output.suffix:
        output.parent.mkdir(parents=True)
        output.write_bytes(b"mine")
    else:
        output.mkdir(parents=True)
    with pytest.raises(RefusedOutputError, match="--output"):
        bench.main(["--work-dir", str(tmp_path / "w"), "--no-onehot", "--output", str(output)])
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())  # nothing prepared or trained
    assert output.is_dir() or output.read_bytes() == b"mine"
