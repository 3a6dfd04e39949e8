"""`--resume` is exact or refused: every file of a checkpoint is checked before anything is loaded.

`accelerator.load_state` only logs when a random-state file is missing or unreadable and then continues, so a
resumed run would silently differ from the uninterrupted one. Here each file of a checkpoint is corrupted in turn
(deleted, truncated or replaced) and resuming must raise a `CheckpointError` naming the folder and the file. The
bit-identical intact resume is tested in `test_training_encoder.py` / `test_training_gan.py`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.training.common import CheckpointError, latest_checkpoint, verify_checkpoint


def _corrupt(file: Path, how: str) -> None:
    if how == "missing":
        file.unlink()
    elif how == "truncated":
        data = file.read_bytes()
        file.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        file.write_bytes(b"not a checkpoint file" * 4)
    else:
        raise AssertionError(how)


# -------------------------------------------------------------------------- verify_checkpoint, every file kind


@pytest.fixture(scope="module")
def saved_state(tmp_path_factory):
    """A real `accelerator.save_state` of a model, an optimizer and a scheduler, plus a trainer state JSON."""
    from accelerate import Accelerator

    accelerator = Accelerator()
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    path = tmp_path_factory.mktemp("state") / "step_00000001"
    accelerator.save_state(str(path))
    (path / "trainer_state.json").write_text(json.dumps(
        {"epoch": 0, "step_in_epoch": 1, "global_step": 1, "best": None, "best_epoch": None}))
    return accelerator, path


STATE_FILES = ["model.safetensors", "optimizer.bin", "scheduler.bin", "random_states_0.pkl", "trainer_state.json"]


def test_intact_state_verifies(saved_state):
    accelerator, path = saved_state
    assert verify_checkpoint(accelerator, path)["global_step"] == 1


@pytest.mark.parametrize("how", ["missing", "truncated", "garbage"])
@pytest.mark.parametrize("name", STATE_FILES)
def test_each_corrupt_file_is_refused(saved_state, tmp_path, name, how):
    accelerator, source = saved_state
    path = tmp_path / source.name
    shutil.copytree(source, path)
    _corrupt(path / name, how)
    with pytest.raises(CheckpointError, match=rf"checkpoint '{path}'.*{name}"):
        verify_checkpoint(accelerator, path)


def test_random_states_of_every_process_are_required(saved_state, tmp_path):
    accelerator, source = saved_state
    path = tmp_path / source.name
    shutil.copytree(source, path)
    two_processes = SimpleNamespace(_models=accelerator._models, _optimizers=accelerator._optimizers,
                                    _schedulers=accelerator._schedulers, scaler=None, _custom_objects=[],
                                    num_processes=2, device=accelerator.device)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"random_states_1\.pkl is missing"):
        verify_checkpoint(two_processes, path)
    shutil.copyfile(path / "random_states_0.pkl", path / "random_states_1.pkl")
    verify_checkpoint(two_processes, path)


def test_state_of_another_model_or_optimizer_is_refused(saved_state, tmp_path):
    from accelerate.utils import load
    from safetensors.torch import save_file

    accelerator, source = saved_state
    path = tmp_path / source.name
    shutil.copytree(source, path)
    save_file({"weight": torch.zeros(5, 3), "bias": torch.zeros(5)}, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors does not match this run's model"):
        verify_checkpoint(accelerator, path)
    shutil.copyfile(source / "model.safetensors", path / "model.safetensors")
    optimizer = load(path / "optimizer.bin")
    optimizer["param_groups"][0]["params"] = [0]
    torch.save(optimizer, path / "optimizer.bin")
    with pytest.raises(CheckpointError, match=r"optimizer\.bin does not hold this run's optimizer state"):
        verify_checkpoint(accelerator, path)


@pytest.mark.parametrize(
    "state",
    [{"epoch": 0, "global_step": 1}, {"epoch": -1, "step_in_epoch": 0, "global_step": 1, "best": None,
                                       "best_epoch": None}, [1, 2]],
    ids=["keys-missing", "negative-epoch", "not-an-object"],
)  # fmt: skip
def test_trainer_state_contents_are_checked(saved_state, tmp_path, state):
    accelerator, source = saved_state
    path = tmp_path / source.name
    shutil.copytree(source, path)
    (path / "trainer_state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=r"trainer_state\.json"):
        verify_checkpoint(accelerator, path)


# ------------------------------------------------------------------------------ the trainers refuse to resume


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory):
    from eeg2img_hf.training import EncoderTrainingArguments, train_encoder

    data = tmp_path_factory.mktemp("data") / "thoughtviz"
    simulate_dataset("thoughtviz", seed=3, n_subjects=2, images_per_class=2).save_to_disk(str(data))
    out = tmp_path_factory.mktemp("encoder-run") / "run"

    def args(output_dir, **overrides):
        base = dict(dataset=str(data), output_dir=str(output_dir), epochs=2, batch_size=32, learning_rate=1e-3,
                    checkpoint_every_steps=1, keep_checkpoints=5, log_with=["csv"],
                    encoder_config={"lstm_num_layers": 1, "lstm_hidden_size": 8, "embed_dim": 8})  # fmt: skip
        return EncoderTrainingArguments.from_preset("cpu-small-lstm-triplet", **{**base, **overrides})

    train_encoder(args(out, max_steps=2))
    return out, args


@pytest.mark.parametrize(
    ("name", "how"),
    [("model.safetensors", "truncated"), ("optimizer.bin", "garbage"), ("random_states_0.pkl", "missing"),
     ("random_states_0.pkl", "truncated"), ("trainer_state.json", "garbage")],
)  # fmt: skip
def test_train_encoder_refuses_a_corrupt_checkpoint(encoder_run, tmp_path, name, how):
    from eeg2img_hf.training import train_encoder

    source, args = encoder_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    checkpoint = latest_checkpoint(run)
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    _corrupt(checkpoint / name, how)
    with pytest.raises(CheckpointError, match=rf"checkpoint '{checkpoint}'.*{name}"):
        train_encoder(args(run, resume=True))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before  # nothing was trained


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    from eeg2img_hf.training.train_gan import GANTrainingArguments, train_gan

    data = tmp_path_factory.mktemp("gan-data") / "thoughtviz"
    simulate_dataset("thoughtviz", n_subjects=2, images_per_class=2, image_size=16).save_to_disk(str(data))
    out = tmp_path_factory.mktemp("gan-run") / "run"

    def args(output_dir, **overrides):
        base = {"dataset": str(data), "output_dir": str(output_dir), "log_with": ["csv"], "keep_checkpoints": 5,
                "conditioning": "onehot", "max_steps": 2}  # fmt: skip
        return GANTrainingArguments.from_preset("tiny", **{**base, **overrides})

    train_gan(args(out))
    return out, args


def _drop_ada(file: Path) -> None:
    state = json.loads(file.read_text())
    state.pop("ada")
    file.write_text(json.dumps(state))


@pytest.mark.parametrize(
    ("name", "corrupt"),
    [("generator_ema/model.safetensors", lambda f: _corrupt(f, "truncated")),
     ("optimizer_1.bin", lambda f: _corrupt(f, "missing")),
     ("model_1.safetensors", lambda f: _corrupt(f, "garbage")),
     ("trainer_state.json", _drop_ada)],
    ids=["ema-truncated", "d-optimizer-missing", "discriminator-garbage", "ada-state-missing"],
)  # fmt: skip
def test_train_gan_refuses_a_corrupt_checkpoint(gan_run, tmp_path, name, corrupt):
    from eeg2img_hf.training.train_gan import train_gan

    source, args = gan_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    checkpoint = latest_checkpoint(run)
    corrupt(checkpoint / name)
    with pytest.raises(CheckpointError, match=rf"checkpoint '{checkpoint}'.*{name}"):
        train_gan(args(run, resume=True, max_steps=4))
    assert latest_checkpoint(run) == checkpoint  # nothing was trained


# -------------------------------------------------------------------------- one run per folder, same settings


def _trainer_arguments(tmp_path: Path) -> list:
    from eeg2img_hf.training import (
        ClipTrainingArguments,
        EncoderTrainingArguments,
        GANTrainingArguments,
        ImageToEEGTrainingArguments,
    )

    data, encoder = str(tmp_path / "data"), str(tmp_path / "encoder")
    return [
        (EncoderTrainingArguments, "cpu-small", {"dataset": data}),
        (GANTrainingArguments, "tiny", {"dataset": data, "encoder": encoder}),
        (ClipTrainingArguments, "cpu-small", {"dataset": data}),
        (ImageToEEGTrainingArguments, "tiny", {"dataset": data, "encoder": encoder}),
    ]


@pytest.mark.parametrize("index", range(4), ids=["encoder", "gan", "clip", "image_to_eeg"])
def test_resume_keeps_the_recorded_settings_of_every_trainer(index, tmp_path, monkeypatch):
    from eeg2img_hf.training.common import RESUME_MAY_CHANGE, prepare_run_dir
    from eeg2img_hf.utils.errors import RefusedOutputError

    (tmp_path / "data").mkdir()
    args_class, preset, fields = _trainer_arguments(tmp_path)[index]
    run = tmp_path / "run"
    first = args_class.from_preset(preset, output_dir=str(run), **fields)
    prepare_run_dir(first, "train")
    first.save(run / "training_args.json")
    (run / "checkpoints").mkdir()
    with pytest.raises(RefusedOutputError, match="already holds a training run .*\n.*--resume.*--overwrite"):
        prepare_run_dir(first, "train")
    longer = {"epochs": 99} if hasattr(first, "epochs") else {"kimg": 99.0}
    monkeypatch.chdir(tmp_path)  # the dataset given as a relative path is the recorded one
    same = args_class.from_preset(preset, output_dir=str(run), resume=True, **{**fields, "dataset": "data"}, **longer)
    prepare_run_dir(same, "train")
    assert {"epochs", "kimg", "max_steps", "log_with", "keep_checkpoints"} <= RESUME_MAY_CHANGE
    for name, value in (("batch_size", 6), ("learning_rate", 0.05), ("seed", 7), ("mixed_precision", "bf16")):
        other = args_class.from_preset(preset, output_dir=str(run), resume=True, **fields, **{name: value})
        with pytest.raises(ValueError, match=f"other settings \\({name}: run .*, now {value!r}\\)"):
            prepare_run_dir(other, "train")
    (run / "metrics.csv").write_text("step\n")
    prepare_run_dir(args_class.from_preset(preset, output_dir=str(run), overwrite=True, **fields), "train")
    assert sorted(p.name for p in run.iterdir()) == [".eeg2img-output.json"]  # a new run, nothing of the old one


def test_resume_of_a_read_only_run_says_it_is_not_writable(tmp_path):
    from eeg2img_hf.training import EncoderTrainingArguments
    from eeg2img_hf.training.common import prepare_run_dir
    from eeg2img_hf.utils.errors import RefusedOutputError

    run = tmp_path / "run"
    args = EncoderTrainingArguments.from_preset("cpu-small", output_dir=str(run), dataset="thoughtviz")
    prepare_run_dir(args, "train-encoder")
    args.save(run / "training_args.json")
    (run / "checkpoints").mkdir()
    (run / "checkpoints").chmod(0o555)
    args.resume = True
    try:
        with pytest.raises(RefusedOutputError, match="is not writable \\(its folder .*checkpoints' is read-only\\)"):
            prepare_run_dir(args, "train-encoder")
    finally:
        (run / "checkpoints").chmod(0o755)
