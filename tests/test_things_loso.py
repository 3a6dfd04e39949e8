"""scripts/things_loso.py: the leave-one-subject-out table, a fresh model per fold, checked before any training."""

from __future__ import annotations

import json
import runpy
import shlex
import sys

import numpy as np
import pytest
from datasets import DatasetDict
from safetensors.numpy import load_file

from eeg2img_hf.cli import build_parser
from eeg2img_hf.cli import main as eeg2img
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.utils.errors import Eeg2ImgError

from testing_utils import SCRIPTS, load_script

SIM = {"n_subjects": 2, "n_train_concepts": 16, "n_test_concepts": 6, "train_images_per_concept": 2,
       "train_repetitions": 2, "test_repetitions": 3, "image_size": 32}
TRAIN = ["--epochs", "1", "--batch-size", "8", "--log-with", ""]


@pytest.fixture(scope="module")
def loso():
    return load_script("things_loso")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "things"
    simulate_dataset("things-eeg2", **SIM).save_to_disk(str(path))
    return path


def test_dry_run_prints_runnable_commands_and_writes_nothing(loso, data_dir, tmp_path, capsys):
    out = tmp_path / "loso"
    plan = loso.main(["--dataset", str(data_dir), "--output-dir", str(out), "--preset", "things-eeg2-sim",
                      "--dry-run", "--", *TRAIN])
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1])["dry_run"] is True and not out.exists()
    commands = [shlex.split(line) for line in lines[:-1]]
    assert commands == plan["commands"] and len(commands) == 4  # train + evaluate per held-out subject
    for command in commands:
        assert command[0] == "eeg2img"
        build_parser().parse_args(command[1:])  # each printed command parses as printed
    assert commands[0][commands[0].index("--exclude-subjects") + 1] == "1" and "--single-trial" in commands[1]
    assert [c[c.index("--output-dir") + 1] for c in commands[::2]] == [str(out / "heldout-01"),
                                                                         str(out / "heldout-02")]


def test_refused_before_training_on_averaged_or_seen_concepts(loso, data_dir, tmp_path, monkeypatch, capsys):
    data = simulate_dataset("things-eeg2", **SIM)
    averaged = DatasetDict({**data, "test": data["test"].filter(lambda r: r == 0, input_columns="repetition")})
    averaged.save_to_disk(str(tmp_path / "averaged"))
    with pytest.raises(Eeg2ImgError, match="one row per subject and image") as refusal:
        loso.main(["--dataset", str(tmp_path / "averaged"), "--output-dir", str(tmp_path / "out")])
    assert "--average train" in str(refusal.value)
    assert not (tmp_path / "out").exists()
    thoughtviz = simulate_dataset("thoughtviz", n_subjects=2, trials_per_block=3, n_blocks_per_class=1, image_size=8)
    thoughtviz.save_to_disk(str(tmp_path / "thoughtviz"))
    with pytest.raises(Eeg2ImgError, match="10 of the 10 concepts of split 'test' also appear in train"):
        loso.main(["--dataset", str(tmp_path / "thoughtviz"), "--output-dir", str(tmp_path / "out")])
    with pytest.raises(Eeg2ImgError, match=r"--subjects \[7\] are not in the dataset"):
        loso.main(["--dataset", str(data_dir), "--output-dir", str(tmp_path / "out"), "--subjects", "1,7"])
    assert not (tmp_path / "out").exists()
    # as a command: exit 2, the error and its hint on two lines, no traceback
    monkeypatch.setattr(sys, "argv", ["things_loso.py", "--dataset", str(tmp_path / "averaged"), "--output-dir",
                                      str(tmp_path / "out")])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPTS / "things_loso.py"), run_name="__main__")
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 2 and "Traceback" not in "".join(lines)
    assert lines[0].startswith("things_loso.py: error: --dataset") and "--average train" in lines[1]


@pytest.mark.parametrize("how", ["raised", "exit status 130"])
def test_an_interrupt_exits_130_and_says_how_to_resume(how, data_dir, tmp_path, monkeypatch, capsys):
    def interrupted(argv):
        if how == "raised":
            raise KeyboardInterrupt
        return 130  # an eeg2img command that caught the interrupt itself

    monkeypatch.setattr("eeg2img_hf.cli.main", interrupted)  # the script imports it when it runs
    monkeypatch.setattr(sys, "argv", ["things_loso.py", "--dataset", str(data_dir), "--output-dir",
                                      str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPTS / "things_loso.py"), run_name="__main__")
    assert exit_info.value.code == 130 and "run the same command again to resume" in capsys.readouterr().err
    assert (tmp_path / "out" / "plan.json").is_file() and not (tmp_path / "out" / "loso.json").exists()


def _weights(folder) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.integration
def test_loso_table_fresh_model_per_fold_resume_and_refusals(loso, data_dir, tmp_path, capsys):
    out = tmp_path / "loso"
    argv = ["--dataset", str(data_dir), "--output-dir", str(out), "--preset", "things-eeg2-sim", "--", *TRAIN]
    result = loso.main(argv)
    written = json.loads((out / "loso.json").read_text())
    assert written == json.loads(json.dumps(result))
    rows = written["per_subject"]
    assert [(r["subject"], r["train_subjects"], r["regime"]) for r in rows] == [
        (1, [2], "leave-one-subject-out"), (2, [1], "leave-one-subject-out")]
    for mode, queries in (("averaged", 6), ("single_trial", 18)):
        assert all(r["n_queries"][mode] == queries for r in rows)
        per_subject = [r[mode]["6-way"]["top1"] for r in rows]
        summary = written["mean_over_subjects"][mode]["6-way"]
        assert summary["top1"] == pytest.approx(np.mean(per_subject))
        assert summary["top1_std_over_subjects"] == pytest.approx(np.std(per_subject))
    env = written["environment"]
    assert env["torch"] and env["threads"] >= 1 and env["seeds"] == {"train": 0, "evaluate": 0}
    assert isinstance(env["isa_flags"], list) and env["cpu_model"]
    # fold 2 trained on its own gives the driver's fold-2 weights: it did not start from fold 1's model
    solo = tmp_path / "solo"
    assert eeg2img(["train-clip", "--preset", "things-eeg2-sim", "--dataset", str(data_dir), "--exclude-subjects",
                    "2", "--output-dir", str(solo), "--seed", "0", *TRAIN]) == 0
    fold1, fold2, alone = (_weights(p) for p in (out / "heldout-01" / "model", out / "heldout-02" / "model",
                                                 solo / "model"))
    assert all(np.array_equal(fold2[k], alone[k]) for k in alone)
    assert not all(np.array_equal(fold1[k], fold2[k]) for k in fold2)
    # the same command again resumes: finished folds are kept, nothing is trained again
    capsys.readouterr()
    assert loso.main(argv)["per_subject"] == result["per_subject"]
    assert "$ eeg2img" not in capsys.readouterr().err
    with pytest.raises(Eeg2ImgError, match="holds a things-loso run with other options"):
        loso.main([*argv[:6], "--seed", "1", *argv[6:]])
