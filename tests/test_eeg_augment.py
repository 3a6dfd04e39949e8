"""EEG training augmentation (`eeg2img_hf.training.eeg_augment`) and its training arguments."""

from __future__ import annotations

import pytest
import torch

from eeg2img_hf.training import EncoderTrainingArguments
from eeg2img_hf.training.eeg_augment import augment_eeg

OPTIONS = {"time_shift": 3, "channel_dropout": 0.3, "noise_std": 0.5}


def _trials(seed: int = 0, shape=(16, 5, 12)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_every_option_off_is_the_identity_and_draws_nothing():
    eeg = _trials()
    state = torch.get_rng_state()
    assert augment_eeg(eeg) is eeg
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("option", [{"time_shift": 3}, {"channel_dropout": 0.3}, {"noise_std": 0.5}, OPTIONS])
def test_deterministic_under_a_seed(option):
    eeg = _trials()
    first = augment_eeg(eeg, **option, generator=torch.Generator().manual_seed(7))
    again = augment_eeg(eeg, **option, generator=torch.Generator().manual_seed(7))
    other = augment_eeg(eeg, **option, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == eeg.shape and first.dtype == eeg.dtype
    torch.manual_seed(7)
    global_first = augment_eeg(eeg, **option)
    torch.manual_seed(7)
    assert torch.equal(global_first, augment_eeg(eeg, **option))  # the global generator when none is given


def test_time_shift_moves_whole_trials_and_repeats_the_edges():
    n_times, shift = 10, 3
    ramp = torch.arange(n_times, dtype=torch.float32)
    eeg = (ramp[None, None, :] + 100 * torch.arange(4.0)[None, :, None]).repeat(64, 1, 1)  # (64, 4, 10)
    out = augment_eeg(eeg, time_shift=shift, generator=torch.Generator().manual_seed(0))
    seen = set()
    for trial in out:
        k = int(ramp[0] - trial[0, shift]) + shift  # out[t] = in[clamp(t - k)]
        expected = (ramp - k).clamp(0, n_times - 1)
        torch.testing.assert_close(trial, expected[None, :] + 100 * torch.arange(4.0)[:, None])  # same k per channel
        seen.add(k)
    assert seen == set(range(-shift, shift + 1))


def test_channel_dropout_zeroes_whole_channels():
    eeg = _trials(shape=(200, 8, 6)) + 5.0  # no zero samples
    out = augment_eeg(eeg, channel_dropout=0.25, generator=torch.Generator().manual_seed(1))
    dropped = (out == 0).all(dim=2)
    kept = (out == eeg).all(dim=2)
    assert bool((dropped | kept).all())
    assert 0.2 < dropped.float().mean().item() < 0.3


def test_noise_is_relative_to_each_trial():
    eeg = _trials(shape=(4, 16, 400))
    eeg[0] *= 10.0
    out = augment_eeg(eeg, noise_std=0.5, generator=torch.Generator().manual_seed(2))
    for trial_in, trial_out in zip(eeg, out):
        assert (trial_out - trial_in).std().item() == pytest.approx(0.5 * trial_in.std().item(), rel=0.05)


@pytest.mark.parametrize(("option", "match"), [
    ({"time_shift": -1}, "augment_time_shift"), ({"time_shift": 1.5}, "augment_time_shift"),
    ({"channel_dropout": 1.0}, "augment_channel_dropout"), ({"channel_dropout": -0.1}, "augment_channel_dropout"),
    ({"noise_std": float("nan")}, "augment_noise_std"), ({"noise_std": -1.0}, "augment_noise_std"),
])
def test_bad_options(option, match):
    with pytest.raises(ValueError, match=match):
        augment_eeg(_trials(), **option)
    field = {"time_shift": "augment_time_shift", "channel_dropout": "augment_channel_dropout",
             "noise_std": "augment_noise_std"}[next(iter(option))]
    with pytest.raises(ValueError, match=match):
        EncoderTrainingArguments.from_preset("cpu-small", **{field: next(iter(option.values()))})


def test_bad_training_arguments():
    with pytest.raises(ValueError, match="triplet_weight"):
        EncoderTrainingArguments.from_preset("cpu-small", triplet_weight=-0.5)
    with pytest.raises(ValueError, match="architecture"):
        EncoderTrainingArguments.from_preset("cpu-small", architecture="transformer")
    with pytest.raises(ValueError, match="eeg_values"):
        augment_eeg(torch.zeros(3, 4), time_shift=1)
