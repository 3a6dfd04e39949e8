"""Interrupts keep the work: a stop request ends a trainer after its step with a checkpoint that resumes exactly;
wall-clock checkpoints; the CLI's one line and exit status 130; progress lines with the time left."""

from __future__ import annotations

import argparse
import importlib
import io
import os
import random
import shlex
import signal
import subprocess
import sys
import time

import datasets
import huggingface_hub.utils as hub_utils
import numpy as np
import pytest
import torch
from PIL import Image
from transformers.utils import logging

from eeg2img_hf import cli
from eeg2img_hf.data import get_eeg_info, load_eeg_dataset, simulate_dataset, write_eeg_dataset
from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel
from eeg2img_hf.training import EncoderTrainingArguments, GANTrainingArguments, train_encoder, train_gan
from eeg2img_hf.training import common as training_common
from eeg2img_hf.utils.interrupts import (
    CheckpointClock,
    TrainingInterrupted,
    request_stop,
    stop_on_signal,
    stop_requested,
)
from eeg2img_hf.utils.progress import Progress, format_duration, quiet_library_progress

from testing_utils import assert_same_weights, csv_rows, stop_after_step

train_gan_module = importlib.import_module("eeg2img_hf.training.train_gan")  # the package re-exports the function
TINY_TSCONV = {"tsconv_filters": 4, "tsconv_kernel_size": 5, "tsconv_pool_size": 32, "tsconv_pool_stride": 32,
               "embed_dim": 16}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "thoughtviz"
    simulate_dataset("thoughtviz", seed=3, n_subjects=2, images_per_class=2, image_size=16).save_to_disk(str(path))
    return str(path)


@pytest.fixture(scope="module")
def encoder_dir(data_dir, tmp_path_factory):
    info = get_eeg_info(load_eeg_dataset(data_dir))
    torch.manual_seed(0)
    config = EEGEncoderConfig(n_chans=int(info["n_chans"]), n_times=int(info["n_times"]), lstm_num_layers=1,
                              lstm_hidden_size=8, embed_dim=12)
    path = tmp_path_factory.mktemp("encoder")
    EEGEncoderModel(config).save_pretrained(str(path))
    return str(path)


def encoder_args(data_dir, out, **overrides) -> EncoderTrainingArguments:
    base = dict(dataset=data_dir, output_dir=str(out), epochs=3, batch_size=16, learning_rate=1e-3,
                encoder_config=TINY_TSCONV, log_with=["csv"], keep_checkpoints=10)
    return EncoderTrainingArguments.from_preset("cpu-small", **{**base, **overrides})


def gan_args(data_dir, encoder_dir, out, **overrides) -> GANTrainingArguments:
    base = {"dataset": data_dir, "encoder": encoder_dir, "output_dir": str(out), "log_with": ["csv"],
            "keep_checkpoints": 10, "tick_kimg": 0.032, "kimg": 0.064}  # 4 steps per tick, 8 steps, 2 ticks
    return GANTrainingArguments.from_preset("tiny", **{**base, **overrides})


# ------------------------------------------------------------------------------------------ the mechanism


def test_first_signal_sets_the_flag_second_raises_and_handlers_come_back():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="after the run had finished"):
        with stop_on_signal():
            assert not stop_requested()
            os.kill(os.getpid(), signal.SIGTERM)  # delivered before the next bytecode: the flag only
            assert stop_requested()
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)  # the second one stops at once
    assert signal.getsignal(signal.SIGINT) is before and not stop_requested()


def test_a_block_that_ends_normally_clears_the_flag_and_nested_blocks_share_it():
    with stop_on_signal():
        with stop_on_signal():
            pass
        assert not stop_requested()
    with pytest.raises(KeyboardInterrupt):
        with stop_on_signal():
            with stop_on_signal():
                request_stop()
            assert stop_requested()  # the inner block leaves the request to the outermost one


def test_checkpoint_clock():
    assert not CheckpointClock(0).due()
    assert CheckpointClock(1e-9).due()
    clock = CheckpointClock(5)
    assert not clock.due()


# ------------------------------------------------------------------------------------------ trainers


@pytest.mark.integration  # trains tiny models (about 20 s each)
def test_encoder_stops_after_the_step_with_a_checkpoint_and_resumes_exactly(data_dir, tmp_path, monkeypatch):
    straight = train_encoder(encoder_args(data_dir, tmp_path / "a"))
    total = straight["global_step"]
    stop_at = random.Random(os.getpid()).randint(1, total - 1)  # any step, mid-epoch ones included
    stop_after_step(monkeypatch, training_common, stop_at)
    with pytest.raises(TrainingInterrupted) as info:
        train_encoder(encoder_args(data_dir, tmp_path / "b"))
    monkeypatch.undo()
    assert info.value.step == stop_at and info.value.checkpoint.endswith(f"step_{stop_at:08d}")
    assert not (tmp_path / "b" / "model" / "eeg2img_training.json").exists()  # not a finished model
    resumed = train_encoder(encoder_args(data_dir, tmp_path / "b", resume=True))
    assert resumed["global_step"] == total
    assert_same_weights(tmp_path / "a" / "model" / "model.safetensors", tmp_path / "b" / "model" / "model.safetensors")
    assert csv_rows(tmp_path / "a" / "metrics.csv") == csv_rows(tmp_path / "b" / "metrics.csv")


@pytest.mark.integration  # trains tiny models (about 20 s each)
def test_gan_stops_mid_tick_and_resumes_exactly_with_the_same_tick_rows(data_dir, encoder_dir, tmp_path,
                                                                         monkeypatch):
    train_gan(gan_args(data_dir, encoder_dir, tmp_path / "a"))
    stop_after_step(monkeypatch, train_gan_module, 2)  # after the second of the first tick's 4 steps
    with pytest.raises(TrainingInterrupted) as info:
        train_gan(gan_args(data_dir, encoder_dir, tmp_path / "b"))
    monkeypatch.undo()
    assert info.value.step == 2 and (tmp_path / "b" / "checkpoints" / "step_00000002").is_dir()
    summary = train_gan(gan_args(data_dir, encoder_dir, tmp_path / "b", resume=True))
    assert summary["steps"] == 8 and summary["ticks"] == 2
    final = "checkpoints/step_00000008"
    for name in ("model.safetensors", "model_1.safetensors", "generator_ema/model.safetensors"):
        assert_same_weights(tmp_path / "a" / final / name, tmp_path / "b" / final / name)
    assert csv_rows(tmp_path / "a" / "metrics.csv") == csv_rows(tmp_path / "b" / "metrics.csv")


@pytest.mark.integration  # trains tiny models (about 20 s each)
def test_wall_clock_checkpoints(data_dir, encoder_dir, tmp_path):
    """checkpoint_minutes tiny: a checkpoint after every step (beside the per-epoch / per-tick ones)."""
    summary = train_encoder(encoder_args(data_dir, tmp_path / "enc", epochs=1, checkpoint_minutes=1e-9,
                                         keep_checkpoints=100))
    steps = sorted(p.name for p in (tmp_path / "enc" / "checkpoints").glob("step_*"))
    assert steps == [f"step_{s:08d}" for s in range(1, summary["global_step"] + 1)]
    train_gan(gan_args(data_dir, encoder_dir, tmp_path / "gan", checkpoint_minutes=1e-9, checkpoint_ticks=0))
    steps = sorted(p.name for p in (tmp_path / "gan" / "checkpoints").glob("step_*"))
    assert steps == [f"step_{s:08d}" for s in range(1, 9)]
    with pytest.raises(ValueError, match="checkpoint_minutes"):
        encoder_args(data_dir, tmp_path / "x", checkpoint_minutes=-1)
    with pytest.raises(ValueError, match="checkpoint_minutes"):
        gan_args(data_dir, encoder_dir, tmp_path / "y", checkpoint_minutes=float("nan"))


# ------------------------------------------------------------------------------------------ the CLI


def test_cli_prints_one_line_with_the_command_that_continues(monkeypatch, capsys, tmp_path):
    def interrupted(ns):
        raise TrainingInterrupted("train-gan", tmp_path / "checkpoints" / "step_00000012", 12)

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda args: _namespace("train-gan", interrupted, resume=False))
    assert cli.main(["train-gan", "--output-dir", "my run"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0] == (f"eeg2img train-gan: interrupted after step 12; checkpoint saved in "
                      f"{tmp_path / 'checkpoints' / 'step_00000012'}. Continue with: "
                      "eeg2img train-gan --output-dir 'my run' --resume")


def test_cli_interrupt_of_other_commands_and_debug(monkeypatch, capsys):
    def stop(ns):
        raise KeyboardInterrupt

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda args: _namespace("convert", stop))
    assert cli.main(["convert", "x"]) == 130
    assert capsys.readouterr().err.strip() == "eeg2img convert: interrupted"
    monkeypatch.setattr(parser, "parse_args", lambda args: _namespace("quickstart", stop))
    assert cli.main(["quickstart", "--fast"]) == 130
    assert capsys.readouterr().err.strip().endswith("Continue with: eeg2img quickstart --fast")
    with pytest.raises(KeyboardInterrupt):
        cli.main(["quickstart", "--debug"])


def _namespace(command, func, **fields):
    return argparse.Namespace(command=command, func=func, **fields)


# ------------------------------------------------------------------------------------------ progress


def test_progress_lines_carry_the_time_left(caplog, monkeypatch):
    clock = iter([0.0, 10.0, 10.0, 20.0, 20.0])  # start; each update: its check, then its line
    monkeypatch.setattr("eeg2img_hf.utils.progress.time.monotonic", lambda: next(clock))
    progress = Progress(100, desc="train-x", every_seconds=5)
    with caplog.at_level("INFO", logger="eeg2img_hf"):
        progress.update(25)  # 10 s for 25 steps: 30 s left
        progress.update(75)
    assert "train-x: 25/100 (25 %), 10 s, 2.50 it/s, about 30 s left" in caplog.text
    assert "train-x: 100/100 (100 %), 20 s, 5.00 it/s, done" in caplog.text
    assert [format_duration(s) for s in (42.3, 754, 7380)] == ["42 s", "12 min 34 s", "2 h 03 min"]


def test_quiet_library_progress_restores_each_library(monkeypatch, recwarn):
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    datasets.enable_progress_bars()
    logging.enable_progress_bar()
    with quiet_library_progress():
        assert not datasets.is_progress_bar_enabled() and not logging.is_progress_bar_enabled()
        assert hub_utils.are_progress_bars_disabled()
    assert datasets.is_progress_bar_enabled() and logging.is_progress_bar_enabled()
    # bars forced off for good (the test suite's setting): left off, and no warning about re-enabling them
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    recwarn.clear()
    with quiet_library_progress():
        pass
    assert logging.is_progress_bar_enabled()
    assert not [w for w in recwarn if "progress bars" in str(w.message)]


def test_progress_of_an_unknown_total_and_of_a_conversion(caplog, tmp_path):
    with caplog.at_level("INFO", logger="eeg2img_hf"):
        progress = Progress(None, desc="rows")
        progress.update(7)
        progress.close()
        row = {"eeg": np.full((2, 4), 0.5, np.float32), "image": _png(), "label": 0, "subject": 1, "image_id": "a",
               "block": 0}
        rows = [row] * 3
        write_eeg_dataset(tmp_path / "out", {"train": rows}, n_chans=2, n_times=4, class_names=["x"], info={})
    assert "rows: 7, 0 s" in caplog.text and "left" not in caplog.text.split("rows: 7")[1].split("\n")[0]
    assert "writing split 'train' (rows): 3/3 (100 %)" in caplog.text


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ a real Ctrl-C


@pytest.mark.integration
def test_ctrl_c_during_train_encoder_then_the_printed_command_ends_as_an_uninterrupted_run(tmp_path):
    """SIGINT at a random moment of a real `eeg2img train-encoder`: exit 130, one line without a traceback that
    names the checkpoint and the command that continues; that command, run as printed, ends with the weights and
    log rows of an uninterrupted run."""
    eeg2img = os.path.join(os.path.dirname(sys.executable), "eeg2img")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([eeg2img, "simulate", "thoughtviz", "--output", "data", "--seed-data", "3"], cwd=tmp_path,
                   env=env, check=True, capture_output=True, timeout=300)
    command = [eeg2img, "train-encoder", "--preset", "cpu-small", "--dataset", "data", "--epochs", "6",
               "--batch-size", "32", "--log-with", "csv"]
    straight = subprocess.run([*command, "--output-dir", "straight"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr[-2000:]

    run = subprocess.Popen([*command, "--output-dir", "stopped"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (tmp_path / "stopped" / "checkpoints").is_dir():  # the first epoch is done: training is under way
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[1][-2000:]
        time.sleep(0.05)
    time.sleep(random.Random().uniform(0.0, 5.0))  # any later moment (mid-epoch or at an epoch's end)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("eeg2img train-encoder: interrupted after step ")
    assert "checkpoint saved in stopped/checkpoints/step_" in last
    assert not (tmp_path / "stopped" / "model" / "eeg2img_training.json").exists()
    again = shlex.split(last.split("Continue with: ", 1)[1])
    assert again[0] == "eeg2img" and again[-1] == "--resume"
    resumed = subprocess.run([eeg2img, *again[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_weights(tmp_path / "straight" / "model" / "model.safetensors",
                        tmp_path / "stopped" / "model" / "model.safetensors")
    assert csv_rows(tmp_path / "straight" / "metrics.csv") == csv_rows(tmp_path / "stopped" / "metrics.csv")
