"""The uncertainty-aware blur prior (UBP): blur maths, uncertainty levels, argument checks and train-clip runs."""

from __future__ import annotations

import importlib
import json
import math

import pytest
import torch

from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.training import ClipTrainingArguments, train_clip
from eeg2img_hf.training.blur_prior import (
    UBP_BLUR_SIGMAS_224,
    UncertaintyTracker,
    blur_prior,
    foveal_weights,
    gaussian_blur,
    sigma_from_kernel_size,
    uncertainty_levels,
)
from eeg2img_hf.utils.errors import Eeg2ImgError

# A small simulated THINGS-EEG2: 1 subject, 20 + 5 concepts (validation: 3 of the 20).
SIM = {"n_subjects": 1, "n_train_concepts": 20, "n_test_concepts": 5, "train_images_per_concept": 2,
       "train_repetitions": 1, "test_repetitions": 2}


def _images(batch: int = 2, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _high_frequency_energy(images: torch.Tensor) -> torch.Tensor:
    """Energy of the neighbour differences along both axes, per image."""
    dx, dy = images.diff(dim=-1), images.diff(dim=-2)
    return dx.pow(2).flatten(1).sum(1) + dy.pow(2).flatten(1).sum(1)


# ------------------------------------------------------------------------------------------------------------
# The blur


def test_sigma_zero_is_the_identity():
    images = _images()
    assert torch.equal(gaussian_blur(images, 0.0), images)
    assert torch.equal(blur_prior(images, torch.zeros(2)), images)


def test_blur_of_an_impulse_is_the_normalised_gaussian():
    image = torch.zeros(1, 1, 21, 21)
    image[0, 0, 10, 10] = 1.0
    sigma = 1.5
    radius = math.ceil(3 * sigma)
    taps = torch.tensor([math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)])
    taps = taps / taps.sum()
    expected = torch.zeros(21, 21)
    expected[10 - radius:11 + radius, 10 - radius:11 + radius] = taps[:, None] * taps[None, :]
    torch.testing.assert_close(gaussian_blur(image, sigma)[0, 0], expected)


def test_blur_is_low_pass_and_keeps_the_mean():
    images = _images(batch=1, size=24)
    energies = [float(_high_frequency_energy(gaussian_blur(images, s))) for s in (0.0, 0.7, 1.5, 3.0)]
    assert energies == sorted(energies, reverse=True) and energies[-1] < 0.1 * energies[0]
    blurred = gaussian_blur(images, 2.0)
    assert float(blurred.pow(2).sum()) < float(images.pow(2).sum())  # a contraction: no energy is created
    constant = torch.full((1, 3, 12, 12), 0.37)
    torch.testing.assert_close(gaussian_blur(constant, 2.5), constant)


def test_each_image_gets_its_own_sigma():
    images = _images(batch=3)
    out = gaussian_blur(images, torch.tensor([0.0, 1.0, 2.0]))
    assert torch.equal(out[0], images[0])
    torch.testing.assert_close(out[1:2], gaussian_blur(images[1:2], 1.0))
    torch.testing.assert_close(out[2:3], gaussian_blur(images[2:3], 2.0))


def test_foveated_blend_follows_its_formula():
    weights = foveal_weights(9, 9, center_weight=0.5, falloff=3.0)
    assert float(weights[4, 4]) == pytest.approx(0.5)
    assert float(weights[8, 8]) == pytest.approx(0.5 * math.exp(-3.0))
    assert float(weights[4, 8]) == pytest.approx(0.5 * math.exp(-3.0 / math.sqrt(2)))
    images = _images(size=9)
    blurred = gaussian_blur(images, 1.2)
    torch.testing.assert_close(blur_prior(images, 1.2), weights * images + (1 - weights) * blurred)
    torch.testing.assert_close(blur_prior(images, 1.2, center_weight=1.0, falloff=0.0), images)
    torch.testing.assert_close(blur_prior(images, 1.2, center_weight=0.0), blurred)


def test_paper_sigmas_from_its_kernel_sizes():
    assert sigma_from_kernel_size(51) == pytest.approx(8.0)
    assert UBP_BLUR_SIGMAS_224 == pytest.approx((7.1, 8.0, 8.9))


def test_bad_blur_inputs_are_refused():
    with pytest.raises(ValueError, match="one value per image"):
        gaussian_blur(_images(), torch.ones(3))
    with pytest.raises(ValueError, match=">= 0"):
        gaussian_blur(_images(), -1.0)
    with pytest.raises(ValueError, match="batch, channels, height, width"):
        gaussian_blur(torch.ones(3, 8, 8), 1.0)


# ------------------------------------------------------------------------------------------------------------
# Uncertainty -> blur level -> sigma


def test_uncertainty_levels_match_a_hand_computation():
    similarity = torch.tensor([10.0, 1, 1, 1, 1, 1, 1, -10])
    # smoothed = 0.3 s + 0.7 * 1 = [3.7, 1 x 6, -2.3]; mean 0.925; sample std sqrt(18.135 / 7) = 1.60957;
    # interval 0.925 +- 1.95996 * 1.60957 = [-2.2297, 4.0797]: 10 is above (certain), -10 below (uncertain).
    smoothed, levels = uncertainty_levels(similarity, torch.ones(8), momentum=0.3, alpha=0.05)
    torch.testing.assert_close(smoothed, torch.tensor([3.7, 1, 1, 1, 1, 1, 1, -2.3]))
    assert levels.tolist() == [0, 1, 1, 1, 1, 1, 1, 2]
    _, single = uncertainty_levels(torch.tensor([5.0]), torch.ones(1))
    assert single.tolist() == [1]

    tracker = UncertaintyTracker(None, n_trials=10, blur_sigmas=[1.0, 2.0, 3.0])
    trials = torch.tensor([9, 0, 1, 2, 3, 4, 5, 7])
    assert tracker.sigmas(trials).tolist() == [2.0] * 8  # every trial starts at the medium level
    tracker.update(trials, similarity)
    assert tracker.sigmas(trials).tolist() == [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0]
    assert tracker.state["similarity"][9] == pytest.approx(3.7) and tracker.state["similarity"][8] == 1.0
    assert tracker.counts() == {"blur_certain": 1, "blur_medium": 8, "blur_uncertain": 1}
    with pytest.raises(ValueError, match="holds 10 trials"):
        UncertaintyTracker(tracker.state, n_trials=11, blur_sigmas=[1.0, 2.0, 3.0])


@pytest.mark.parametrize("field, value, match", [
    ("blur_sigmas", [1.0, 2.0], "three sigmas"),
    ("blur_sigmas", "1,2,3", "three sigmas"),
    ("blur_sigmas", [2.0, 1.0, 3.0], "must not decrease"),
    ("blur_sigmas", [-1.0, 1.0, 2.0], r"blur_sigmas\[0\]"),
    ("blur_sigmas", [1.0, float("nan"), 2.0], r"blur_sigmas\[1\]"),
    ("blur_center_weight", 1.5, "blur_center_weight"),
    ("blur_falloff", -1.0, "blur_falloff"),
    ("blur_momentum", 0.0, "blur_momentum"),
    ("blur_alpha", 1.0, "blur_alpha"),
])
def test_bad_blur_arguments_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        ClipTrainingArguments.from_preset("things-eeg2-ubp-sim", **{field: value})


def test_blur_prior_with_precomputed_features_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="image_features .* sharp images"):
        ClipTrainingArguments.from_preset("things-eeg2-ubp-sim", image_features=str(tmp_path / "f.safetensors"))
    code = main(["train-clip", "--preset", "things-eeg2-ubp-sim", "--image-features", str(tmp_path / "f.safetensors"),
                 "--output-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "blur_sigmas" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_presets_carry_the_paper_settings():
    real = ClipTrainingArguments.from_preset("things-eeg2-ubp")
    assert real.blur_sigmas == pytest.approx([7.1, 8.0, 8.9]) and real.model_preset == "things-eeg2-ubp"
    assert (real.epochs, real.batch_size, real.learning_rate) == (50, 1024, 1e-4)
    sim = ClipTrainingArguments.from_preset("things-eeg2-ubp-sim")
    assert sim.blur_sigmas == pytest.approx([s * 64 / 224 for s in (7.1, 8.0, 8.9)], abs=1e-3)


# ------------------------------------------------------------------------------------------------------------
# Training


@pytest.fixture(scope="module")
def things_dir(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("things") / "things-eeg2"
    simulate_dataset("things-eeg2", **SIM).save_to_disk(str(path))
    return str(path)


def _ubp_args(things_dir: str, output_dir, **overrides) -> ClipTrainingArguments:
    base = dict(dataset=things_dir, output_dir=str(output_dir), epochs=2, batch_size=8, log_with=["csv"],
                checkpoint_minutes=0.0, model_config={
                    "freeze_vision_tower": False, "image_size": 32, "image_resize_size": 32, "projection_dim": 16,
                    "vision_config": {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 12],
                                      "depths": [1, 1], "layer_type": "basic"},
                    "encoder_config": {"embed_dim": 16}})
    return ClipTrainingArguments.from_preset("things-eeg2-ubp-sim", **{**base, **overrides})


def test_train_clip_blurs_each_trial_at_its_level(things_dir, tmp_path, monkeypatch):
    seen = []

    def spy(images, sigma, center_weight, falloff):
        seen.append(sigma.tolist())
        return blur_prior(images, sigma, center_weight, falloff)

    # the module, not the function `eeg2img_hf.training.train_clip` that shadows it as a package attribute
    monkeypatch.setattr(importlib.import_module("eeg2img_hf.training.train_clip"), "blur_prior", spy)
    args = _ubp_args(things_dir, tmp_path / "run")
    record = train_clip(args)
    low, medium, high = torch.tensor(args.blur_sigmas).tolist()  # as the float32 sigmas the blur receives
    steps_per_epoch = record["global_step"] // 2
    assert len(seen) == record["global_step"] and all(set(step) <= {low, medium, high} for step in seen)
    assert all(s == medium for step in seen[:steps_per_epoch] for s in step)  # epoch 1: all medium
    assert any(s != medium for step in seen[steps_per_epoch:] for s in step)  # then each trial's level
    counts = record["blur_prior_levels"]
    assert sum(counts.values()) == record["n_train_trials"] and counts["blur_medium"] < record["n_train_trials"]
    model = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert model["encoder_config"]["architecture"] == "mlp"
    state = json.loads(sorted((tmp_path / "run" / "checkpoints").glob("step_*"))[-1].joinpath(
        "trainer_state.json").read_text())
    assert state["blur_prior"]["level"].count(1) == counts["blur_medium"]


def test_resume_keeps_the_levels_and_refuses_another_blur(things_dir, tmp_path):
    common = dict(checkpoint_every_steps=1, keep_checkpoints=50)
    train_clip(_ubp_args(things_dir, tmp_path, max_steps=3, **common))
    with pytest.raises(Eeg2ImgError, match="blur_sigmas"):
        train_clip(_ubp_args(things_dir, tmp_path, resume=True, blur_sigmas=[0.0, 1.0, 2.0]))
    train_clip(_ubp_args(things_dir, tmp_path, resume=True, max_steps=4, **common))
    before, after = (json.loads((tmp_path / "checkpoints" / f"step_{n:08d}" / "trainer_state.json").read_text())
                     ["blur_prior"] for n in (3, 4))
    # step 4 changed only its own batch of 8 trials and kept the 3 x 8 trials the first run had updated
    changed = [i for i, (a, b) in enumerate(zip(before["similarity"], after["similarity"])) if a != b]
    assert 0 < len(changed) <= 8
    assert sum(value != 1.0 for value in after["similarity"]) >= 3 * 8
    unchanged = [i for i in range(len(before["level"])) if i not in changed]
    assert [after["level"][i] for i in unchanged] == [before["level"][i] for i in unchanged]


def test_blur_prior_path_with_a_tiny_pretrained_clip_tower(things_dir, tmp_path):
    """The real preset's path: a frozen pretrained CLIP vision tower (a tiny one in the same layout) run on the
    blurred pixels every step."""
    from testing_utils import save_tiny_clip

    clip_dir = save_tiny_clip(tmp_path / "clip")
    args = ClipTrainingArguments.from_preset(
        "things-eeg2-ubp", dataset=things_dir, output_dir=str(tmp_path / "run"), vision_model=str(clip_dir),
        epochs=1, batch_size=8, log_with=["csv"], model_config={"encoder_config": {"embed_dim": 16},
                                                                 "projection_dim": 16})
    record = train_clip(args)
    assert record["vision_tower"]["frozen"] and record["vision_tower"]["weights"] == "pretrained"
    assert sum(record["blur_prior_levels"].values()) == record["n_train_trials"]
