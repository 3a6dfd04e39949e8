"""A run stopped mid-epoch and resumed equals the uninterrupted run, bit for bit, whatever the batches.

Each `iter()` of a `DataLoader` draws one number for its workers, from the global torch generator unless the loader
has its own. The resumed run restores the checkpoint's random states and then starts a new iterator over the rest
of the epoch, so with the global generator its dropout masks (and any other draw) were one number off the
uninterrupted run's. The trainers' loaders carry their own generator ([`loader_generator`]); here each epoch-loop
trainer whose step draws random numbers (dropout in the towers) is stopped after a mid-epoch step and after the last
step of an epoch, resumed, and compared with the uninterrupted run: weights, optimizer state, log rows.
"""

from __future__ import annotations

import importlib
import shutil

import numpy as np
import pytest
import torch
from accelerate.utils import load as accelerate_load

from eeg2img_hf.data import load_eeg_dataset, simulate_dataset
from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel
from eeg2img_hf.training import (
    ClipTrainingArguments,
    EncoderTrainingArguments,
    GANTrainingArguments,
    ImageToEEGTrainingArguments,
    train_clip,
    train_encoder,
    train_gan,
    train_image_to_eeg,
)
from eeg2img_hf.training import common as training_common
from eeg2img_hf.training.common import make_accelerator, shuffled_loader
from eeg2img_hf.utils.errors import Eeg2ImgError
from eeg2img_hf.utils.interrupts import TrainingInterrupted

from testing_utils import assert_same_weights, csv_rows, stop_after_step

train_clip_module = importlib.import_module("eeg2img_hf.training.train_clip")  # the package re-exports the function
CLASSES = ["Apple", "Car", "Dog", "Gold"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    simulate_dataset("thoughtviz", seed=3, n_subjects=2, images_per_class=2, image_size=16,
                     classes=CLASSES).save_to_disk(str(root / "data"))
    torch.manual_seed(0)
    EEGEncoderModel(EEGEncoderConfig(n_chans=14, n_times=32, lstm_num_layers=1, lstm_hidden_size=8,
                                     embed_dim=12)).save_pretrained(root / "encoder")
    return root


def clip_args(root, out, **overrides):
    # an MLP EEG tower with dropout: every step draws random numbers
    values = dict(dataset=str(root / "data"), output_dir=str(out), model_preset="tiny", batch_size=8,
                  learning_rate=1e-3, simulate={}, log_with=["csv"], allow_random_vision_tower=True,
                  model_config={"encoder_config": {"architecture": "mlp", "mlp_dropout": 0.3}}, keep_checkpoints=10)
    return ClipTrainingArguments.from_preset("cpu-small", **{**values, **overrides})


def image_to_eeg_args(root, out, **overrides):
    # the tiny model's head has dropout (0.05)
    values = dict(dataset=str(root / "data"), encoder=str(root / "encoder"), output_dir=str(out),
                  keep_checkpoints=10)
    return ImageToEEGTrainingArguments.from_preset("tiny", **{**values, **overrides})


def encoder_args(root, out, **overrides):
    values = dict(dataset=str(root / "data"), output_dir=str(out), batch_size=8, learning_rate=1e-3,
                  log_with=["csv"], keep_checkpoints=10, augment_channel_dropout=0.2, augment_noise_std=0.3,
                  encoder_config={"tsconv_filters": 4, "tsconv_kernel_size": 5, "tsconv_pool_size": 32,
                                  "tsconv_pool_stride": 32, "tsconv_dropout": 0.5, "embed_dim": 16})
    return EncoderTrainingArguments.from_preset("cpu-small", **{**values, **overrides})


TRAINERS = {
    "clip-shuffled": (train_clip, lambda root, out, **o: clip_args(root, out, class_balanced=False, **o)),
    "clip-class-balanced": (train_clip, lambda root, out, **o: clip_args(root, out, class_balanced=True, **o)),
    "image-to-eeg": (train_image_to_eeg, image_to_eeg_args),
    "encoder": (train_encoder, encoder_args),
}


def assert_same_optimizer_state(a, b):
    sa, sb = accelerate_load(a / "optimizer.bin"), accelerate_load(b / "optimizer.bin")
    assert sa["param_groups"] == sb["param_groups"] and sa["state"].keys() == sb["state"].keys()
    for index, values in sa["state"].items():
        assert values.keys() == sb["state"][index].keys()
        for name, value in values.items():
            torch.testing.assert_close(value, sb["state"][index][name], rtol=0, atol=0)


@pytest.mark.parametrize("name", list(TRAINERS))
def test_stop_mid_epoch_and_resume_equals_the_uninterrupted_run(root, tmp_path, monkeypatch, name):
    check_stop_and_resume(root, tmp_path, monkeypatch, name, epochs=1, stop_at=lambda steps_per_epoch: 3)


@pytest.mark.integration  # two epochs of three runs per trainer (about 10-20 s each on 2 shared cores)
@pytest.mark.parametrize("name", list(TRAINERS))
def test_stop_after_an_epoch_and_resume_equals_the_uninterrupted_run(root, tmp_path, monkeypatch, name):
    # the checkpoint of the epoch's last step: the resumed run skips the whole epoch, then starts the next one
    check_stop_and_resume(root, tmp_path, monkeypatch, name, epochs=2, stop_at=lambda steps_per_epoch: steps_per_epoch)


def check_stop_and_resume(root, tmp_path, monkeypatch, name: str, epochs: int, stop_at) -> None:
    """Run `name` straight through, then stopped after step `stop_at(steps_per_epoch)` and resumed; the runs must
    end with the same weights (last checkpoint and selected model), optimizer state and log rows."""
    train, make_args = TRAINERS[name]
    straight = train(make_args(root, tmp_path / "a", epochs=epochs))
    steps_per_epoch = straight["global_step"] // epochs
    stop_at = stop_at(steps_per_epoch)
    assert 3 < steps_per_epoch  # step 3 is inside the first epoch
    stop_after_step(monkeypatch, training_common, stop_at)
    with pytest.raises(TrainingInterrupted) as info:
        train(make_args(root, tmp_path / "b", epochs=epochs))
    monkeypatch.undo()
    assert info.value.step == stop_at
    resumed = train(make_args(root, tmp_path / "b", epochs=epochs, resume=True))
    assert resumed["global_step"] == straight["global_step"]
    last = f"checkpoints/step_{straight['global_step']:08d}"
    assert_same_weights(tmp_path / "a" / last / "model.safetensors", tmp_path / "b" / last / "model.safetensors")
    assert_same_weights(tmp_path / "a" / "model" / "model.safetensors", tmp_path / "b" / "model" / "model.safetensors")
    assert_same_optimizer_state(tmp_path / "a" / last, tmp_path / "b" / last)
    assert csv_rows(tmp_path / "a" / "metrics.csv") == csv_rows(tmp_path / "b" / "metrics.csv")


@pytest.mark.parametrize("class_balanced", [False, True])
def test_iterating_a_training_loader_leaves_the_global_generator_alone(root, tmp_path, class_balanced):
    """The cause itself: the resumed run's new iterator must not draw from the generator its dropout uses."""
    args = clip_args(root, tmp_path / "run", class_balanced=class_balanced)
    accelerator = make_accelerator(args)
    split = load_eeg_dataset(str(root / "data"))["train"]
    image_index = np.unique(np.asarray(split["image_id"]), return_inverse=True)[1]
    dataset = train_clip_module.ClipBatchDataset(split, torch.zeros(int(image_index.max()) + 1, 3, 4, 4), image_index)
    loader = accelerator.prepare(train_clip_module._build_loader(args, dataset, 1)[0])
    loader.set_epoch(0)
    before = torch.get_rng_state()
    order = [batch["trial_index"].tolist() for batch in loader]
    assert torch.equal(before, torch.get_rng_state())
    loader.set_epoch(0)  # what the resumed run's epoch loop does before skipping the batches it has seen
    skipped = accelerator.skip_first_batches(loader, 2)
    assert [batch["trial_index"].tolist() for batch in skipped] == order[2:]  # the same batches, same order
    assert torch.equal(before, torch.get_rng_state())
    assert shuffled_loader(dataset, 8, 1).generator is not None


# ------------------------------------------------------------------------------------------ a finished run


def test_resuming_a_finished_run_trains_no_further_step(root, tmp_path):
    first = train_encoder(encoder_args(root, tmp_path / "run", epochs=2, max_steps=3))
    rows = csv_rows(tmp_path / "run" / "metrics.csv")
    last = tmp_path / "run" / "checkpoints" / "step_00000003" / "model.safetensors"
    shutil.copy(last, tmp_path / "before.safetensors")
    again = train_encoder(encoder_args(root, tmp_path / "run", epochs=2, max_steps=3, resume=True))
    assert first["global_step"] == again["global_step"] == 3
    assert csv_rows(tmp_path / "run" / "metrics.csv") == rows
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step_00000003"]
    assert_same_weights(tmp_path / "before.safetensors", last)


@pytest.mark.parametrize("first, why", [
    ({"max_steps": 3}, "ended at step 3 inside epoch 1 \\(max_steps\\)"),
    ({"epochs": 1, "checkpoint_every_steps": 1}, "before the last epoch's row and validation"),
    ({"epochs": 1, "eval_every_epochs": 2}, "validated as its last although eval_every_epochs is 2"),
])
def test_a_longer_run_from_a_finished_run_that_ended_early_is_refused(root, tmp_path, first, why):
    train_encoder(encoder_args(root, tmp_path, **{"epochs": 2, **first}))
    if "max_steps" in first:  # as a run killed after its last checkpoint, before its record: refused all the same
        (tmp_path / "model" / "eeg2img_training.json").unlink()
    rows = csv_rows(tmp_path / "metrics.csv")
    longer = {**first, "epochs": 2, "max_steps": None}
    with pytest.raises(Eeg2ImgError, match=f"--resume of the finished run in .* for a longer run .*{why}"):
        train_encoder(encoder_args(root, tmp_path, resume=True, **longer))
    assert csv_rows(tmp_path / "metrics.csv") == rows  # nothing written


def test_a_longer_run_from_a_run_that_ended_on_schedule_equals_the_longer_run(root, tmp_path):
    train_encoder(encoder_args(root, tmp_path / "a", epochs=2))
    train_encoder(encoder_args(root, tmp_path / "b", epochs=1))
    train_encoder(encoder_args(root, tmp_path / "b", epochs=2, resume=True))
    assert_same_weights(tmp_path / "a" / "model" / "model.safetensors", tmp_path / "b" / "model" / "model.safetensors")
    assert csv_rows(tmp_path / "a" / "metrics.csv") == csv_rows(tmp_path / "b" / "metrics.csv")


def test_a_longer_gan_run_from_a_finished_one_that_ended_inside_a_tick_is_refused(root, tmp_path):
    def gan_args(**overrides):
        values = dict(dataset=str(root / "data"), output_dir=str(tmp_path), log_with=["csv"], conditioning="onehot",
                      tick_kimg=0.032, keep_checkpoints=10)  # batch 8: 4 steps per tick
        return GANTrainingArguments.from_preset("tiny", **{**values, **overrides})

    train_gan(gan_args(max_steps=6))
    rows = csv_rows(tmp_path / "metrics.csv")
    assert [row["kimg"] for row in rows] == ["0.032", "0.048"]  # the last tick row covers half a tick
    with pytest.raises(Eeg2ImgError, match=r"finished run .* ended at step 6 inside tick 2 \(after 2 of its 4 steps"):
        train_gan(gan_args(max_steps=12, resume=True))
    assert csv_rows(tmp_path / "metrics.csv") == rows
    assert train_gan(gan_args(max_steps=6, resume=True))["steps"] == 6  # the same length: nothing to do
