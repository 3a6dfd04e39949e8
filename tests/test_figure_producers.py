"""The producers of the documented figures at tiny size: `scripts/bench_channel_means.py`,
`scripts/things_ridge_attributes.py` and `scripts/things_simulated_table.py` print one JSON line and write it, with
the environment, to their results file."""

from __future__ import annotations

import json
import runpy
import shlex
import sys

import numpy as np
import pytest

from eeg2img_hf.cli import build_parser
from eeg2img_hf.data import simulate_dataset

from testing_utils import SCRIPTS, load_script

THINGS = {"n_subjects": 2, "n_train_concepts": 16, "n_test_concepts": 6, "train_images_per_concept": 2,
          "train_repetitions": 2, "test_repetitions": 3, "image_size": 16}


def _printed(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _check_environment(result: dict, seeds: dict) -> None:
    env = result["environment"]
    assert env["cpu_model"] and isinstance(env["isa_flags"], list) and env["torch"] and env["threads"] >= 1
    assert env["seeds"] == seeds


def test_channel_means_svm_writes_its_figures(tmp_path, capsys):
    bench = load_script("bench_channel_means")
    eeg = np.random.default_rng(0).normal(size=(5, 3, 8)).astype(np.float32) + np.arange(3)[None, :, None]
    z = bench.FEATURES["raw_trials_z_scored_per_trial"](eeg).reshape(5, 3, 8)
    assert np.allclose(z.mean(axis=2), 0, atol=1e-5) and np.allclose(z.std(axis=2), 1, atol=1e-3)
    assert np.allclose(bench.FEATURES["channel_means"](eeg), eeg.mean(axis=2))
    data = tmp_path / "data"
    simulate_dataset("thoughtviz", n_subjects=2, trials_per_block=3, n_blocks_per_class=2, image_size=8) \
        .save_to_disk(str(data))
    result = bench.main(["--dataset", str(data), "--output", str(tmp_path / "out" / "svm.json")])
    assert _printed(capsys) == result == json.loads((tmp_path / "out" / "svm.json").read_text())
    assert result["n_features"] == {"channel_means": 14, "raw_trials": 14 * 32,
                                    "raw_trials_z_scored_per_trial": 14 * 32}
    assert all(0 <= a <= 1 for a in result["test_accuracy"].values())
    _check_environment(result, {"simulator": 0, "svm": 45})


def test_ridge_on_true_attributes_identifies_concepts_without_concept_component(tmp_path, capsys):
    ridge = load_script("things_ridge_attributes")
    measured = np.random.default_rng(0).normal(size=(6, 20))
    assert ridge.identification(measured, measured) == {"top1": 1.0, "top5": 1.0}
    assert ridge.identification(measured, -measured)["top1"] == 0.0
    # EEG that is a function of the attributes only (no concept component, little noise; enough training concepts
    # for every shape and texture): every test concept is found
    data = tmp_path / "attributes-only"
    simulate_dataset("things-eeg2", **{**THINGS, "n_train_concepts": 60, "train_images_per_concept": 1},
                     concept_weight=0.0, image_weight=0.0, snr=20.0).save_to_disk(str(data))
    result = ridge.main(["--dataset", str(data), "--output", str(tmp_path / "ridge.json")])
    assert _printed(capsys) == result == json.loads((tmp_path / "ridge.json").read_text())
    assert result["test"] == {"6-way": {"top1": 1.0, "top5": 1.0}} and result["chance_top1"] == round(1 / 6, 4)
    assert result["n_concepts"] == {"train": 51, "validation": 9, "test": 6}
    assert result["alpha_chosen_on_validation"] in ridge.ALPHAS
    _check_environment(result, {"simulator": 0})
    thoughtviz = tmp_path / "thoughtviz"
    simulate_dataset("thoughtviz", n_subjects=2, trials_per_block=3, n_blocks_per_class=1, image_size=8) \
        .save_to_disk(str(thoughtviz))
    with pytest.raises(ValueError, match=f"--dataset {thoughtviz}: needs the simulated things-eeg2 data"):
        ridge.main(["--dataset", str(thoughtviz), "--output", str(tmp_path / "refused.json")])
    assert not (tmp_path / "refused.json").exists()


@pytest.fixture(scope="module")
def things_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("things") / "data"
    simulate_dataset("things-eeg2", **THINGS).save_to_disk(str(path))
    return path


def test_things_table_dry_run_prints_both_regimes_per_subject(things_dir, tmp_path, capsys):
    table = load_script("things_simulated_table")
    out = tmp_path / "table"
    plan = table.main(["--dataset", str(things_dir), "--output-dir", str(out), "--dry-run", "--", "--epochs", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1])["dry_run"] is True and not out.exists()
    commands = [shlex.split(line) for line in lines[:-1]]
    assert commands == plan["commands"] and len(commands) == 8  # 2 subjects x 2 regimes x (train, evaluate)
    for command in commands:
        build_parser().parse_args(command[1:])  # each printed command parses as printed
    trains = commands[::2]
    assert [(c[c.index("--output-dir") + 1], c[6:8]) for c in trains] == [
        (str(out / "dependent-01"), ["--subjects", "1"]), (str(out / "dependent-02"), ["--subjects", "2"]),
        (str(out / "heldout-01"), ["--exclude-subjects", "1"]), (str(out / "heldout-02"), ["--exclude-subjects", "2"])]
    assert all(c[-2:] == ["--epochs", "1"] for c in trains)


@pytest.mark.integration
def test_things_table_trains_both_regimes_and_averages_subjects(things_dir, tmp_path, capsys):
    table = load_script("things_simulated_table")
    argv = ["--dataset", str(things_dir), "--output-dir", str(tmp_path / "table"), "--output",
            str(tmp_path / "table.json"), "--ways", "2,6", "--", "--epochs", "1", "--batch-size", "8", "--log-with", ""]
    result = table.main(argv)
    assert json.loads((tmp_path / "table.json").read_text()) == json.loads(json.dumps(result))
    assert [(r["regime"], r["subject"], r["train_subjects"]) for r in result["per_subject"]] == [
        ("subject-dependent", 1, [1]), ("subject-dependent", 2, [2]),
        ("leave-one-subject-out", 1, [2]), ("leave-one-subject-out", 2, [1])]
    for regime, summary in result["mean_over_subjects"].items():
        rows = [r for r in result["per_subject"] if r["regime"] == regime]
        for mode in ("averaged", "single_trial"):
            for way in ("2-way", "6-way"):
                assert summary[mode][way]["top1"] == pytest.approx(np.mean([r[mode][way]["top1"] for r in rows]))
    assert all(r["best_epoch"] == 1 and r["epochs_run"] == 1 for r in result["per_subject"])
    _check_environment(result, {"train": 0, "evaluate": 0})
    capsys.readouterr()
    assert table.main(argv)["per_subject"] == result["per_subject"]  # the same command again trains nothing
    assert "$ eeg2img" not in capsys.readouterr().err


@pytest.mark.parametrize("script", ["bench_channel_means", "things_ridge_attributes"])
def test_an_output_that_is_not_a_results_file_is_refused_before_any_work(script, tmp_path, monkeypatch, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    monkeypatch.setattr(sys, "argv", [f"{script}.py", "--output", str(notes)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPTS / f"{script}.py"), run_name="__main__")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err and notes.read_text() == "mine"
    first, hint = err.strip().splitlines()
    assert first.startswith(f"{script}.py: error: --output ") and "must be a .json file" in first
    assert hint == f"{script}.py: choose another file name (nothing was written)"


def test_recipes_table_dry_run_prints_each_recipe_through_the_same_protocol(things_dir, tmp_path, capsys):
    recipes = load_script("things_recipes_table")
    out = tmp_path / "recipes"
    plans = recipes.main(["--dataset", str(things_dir), "--output-dir", str(out), "--dry-run"])
    assert list(plans) == list(recipes.RECIPES) and not out.exists()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("eeg2img ")]
    commands = [shlex.split(line) for line in lines]
    assert len(commands) == len(recipes.RECIPES) * 2 * 2  # 2 subjects x (train, evaluate), subject-dependent only
    for command in commands:
        build_parser().parse_args(command[1:])  # each printed command parses as printed
    trains = [c for c in commands if c[1] == "train-clip"]
    presets = {c[c.index("--output-dir") + 1].split("/")[-2]: c[c.index("--preset") + 1] for c in trains}
    assert presets == {"nice": "things-eeg2-sim", "atm": "things-eeg2-atm-sim", "ubp": "things-eeg2-ubp-sim",
                       "ubp-noblur": "things-eeg2-ubp-sim", "eegnet": "things-eeg2-sim", "shallow": "things-eeg2-sim"}
    assert all(c[-2:] == ["--blur-sigmas", "none"] for c in trains if "/ubp-noblur/" in c[c.index("--output-dir") + 1])
    assert all("--exclude-subjects" not in c and "--subjects" in c for c in trains)
    towers = {c[c.index("--braindecode-model") + 1] for c in trains if "--braindecode-model" in c}
    assert towers == {"EEGNet", "ShallowFBCSPNet"}
    with pytest.raises(SystemExit):
        recipes.main(["--output-dir", str(out), "--recipes", "nice,unknown"])
    assert "--recipes: choose from" in capsys.readouterr().err
