"""The uncertainty-aware blur prior (UBP): blur maths, uncertainty levels, argument checks and train-clip runs."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest
import torch

from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.training import ClipTrainingArguments, train_clip
from eeg2img_hf.training import common as training_common
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
from eeg2img_hf.utils.interrupts import TrainingInterrupted

from testing_utils import stop_after_step

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


def test_cli_blur_sigmas_option(tmp_path, capsys):
    from eeg2img_hf.commands._blur_options import parse_blur_sigmas

    assert parse_blur_sigmas("none") is None and parse_blur_sigmas("1,2.5,3") == [1.0, 2.5, 3.0]
    for bad, message in (("1,x,3", "--blur-sigmas must be three"), ("3,2,1", "must not decrease"),
                         ("1,2", "three sigmas")):
        assert main(["train-clip", "--preset", "things-eeg2-ubp-sim", "--blur-sigmas", bad,
                     "--output-dir", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
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


def test_blur_settings_are_checked_on_resume():
    from eeg2img_hf.training.common import RESUME_MAY_CHANGE

    blur_fields = {name for name in ClipTrainingArguments.__dataclass_fields__ if name.startswith("blur_")}
    assert blur_fields == {"blur_sigmas", "blur_center_weight", "blur_falloff", "blur_momentum", "blur_alpha"}
    assert not blur_fields & RESUME_MAY_CHANGE


@pytest.mark.integration
def test_resume_keeps_the_levels_and_refuses_another_blur(things_dir, tmp_path, monkeypatch):
    common = dict(checkpoint_every_steps=1, keep_checkpoints=50)
    stop_after_step(monkeypatch, training_common, 3)  # a run stopped after step 3 (a finished run is not extended)
    with pytest.raises(TrainingInterrupted):
        train_clip(_ubp_args(things_dir, tmp_path, **common))
    monkeypatch.undo()
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


def test_blurred_features_file_is_checked(tmp_path):
    from safetensors.torch import save_file

    from eeg2img_hf.training.image_features import load_blurred_features
    from eeg2img_hf.utils.errors import BadInputFileError

    def write(name: str, blur, blurred_shape=None) -> Path:
        tensors = {"features": torch.zeros(2, 4)}
        if blurred_shape is not None:
            tensors["blurred_features"] = torch.ones(blurred_shape)
        save_file(tensors, str(tmp_path / name), metadata={"blur_prior": json.dumps(blur)})
        return tmp_path / name

    settings = {"sigmas": [0.5, 1.0, 2.0], "center_weight": 0.5, "falloff": 3.0}
    with pytest.raises(BadInputFileError, match="sharp.safetensors holds the features of sharp images only"):
        load_blurred_features(write("sharp.safetensors", None), [0.5, 1.0, 2.0], 0.5, 3.0)
    other = write("other.safetensors", {**settings, "falloff": 2.0}, (3, 2, 4))
    with pytest.raises(BadInputFileError, match="other.safetensors was blurred with"):
        load_blurred_features(other, [0.5, 1.0, 2.0], 0.5, 3.0)
    with pytest.raises(BadInputFileError, match="blurred_features of shape"):
        load_blurred_features(write("short.safetensors", settings, (2, 2, 4)), [0.5, 1.0, 2.0], 0.5, 3.0)
    good = load_blurred_features(write("good.safetensors", settings, (3, 2, 4)), [0.5, 1, 2], 0.5, 3)
    assert good.shape == (3, 2, 4)
    with pytest.raises(ValueError, match="blur_sigmas must not decrease"):
        load_blurred_features(other, [2.0, 1.0, 0.5], 0.5, 3.0)


@pytest.mark.integration
def test_precomputed_blurred_features_serve_the_blur_prior(things_dir, tmp_path, capsys, monkeypatch):
    """`image-features --blur-sigmas` writes the tower's features at the three blur levels; train-clip's blur prior
    then takes each trial's features at its level from the file (no pixel is blurred), and refuses a file of sharp
    features or of another blur, naming it."""
    from safetensors import safe_open

    from eeg2img_hf.models import EEGClipModel, make_image_processor

    from testing_utils import save_tiny_clip

    clip_dir = save_tiny_clip(tmp_path / "clip")
    sigmas = "0.5,1,2"
    sharp, blurred = tmp_path / "sharp.safetensors", tmp_path / "blurred.safetensors"
    common = ["image-features", "--dataset", things_dir, "--vision-model", str(clip_dir), "--model-preset",
              "things-eeg2-ubp", "--batch-size", "16"]
    assert main([*common, "--output", str(sharp)]) == 0
    assert main([*common, "--output", str(blurred), "--blur-sigmas", sigmas]) == 0
    capsys.readouterr()
    model = EEGClipModel.from_vision_pretrained("things-eeg2-ubp", vision_model=str(clip_dir)).eval()
    with safe_open(str(blurred), framework="pt") as handle:
        first_id = json.loads(handle.metadata()["image_ids"])[0]
        bank = handle.get_tensor("blurred_features")
    split = simulate_dataset("things-eeg2", **SIM)["train"]
    row = [i for i, image_id in enumerate(split["image_id"]) if image_id == first_id][0]
    pixels = make_image_processor(model.config)(images=[split[row]["image"].convert("RGB")],
                                                return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = model.get_vision_features(blur_prior(pixels, 2.0))
    torch.testing.assert_close(bank[2, 0:1], expected, rtol=1e-4, atol=1e-5)

    def run(features: Path, blur: str, out: str) -> int:
        return main(["train-clip", "--preset", "things-eeg2-ubp", "--dataset", things_dir, "--vision-model",
                     str(clip_dir), "--image-features", str(features), "--blur-sigmas", blur, "--epochs", "2",
                     "--batch-size", "8", "--log-with", "", "--output-dir", str(tmp_path / out)])

    assert run(sharp, sigmas, "a") == 2 and "sharp images only" in capsys.readouterr().err
    assert run(blurred, "0.5,1,3", "b") == 2 and "was blurred with" in capsys.readouterr().err
    monkeypatch.setattr(importlib.import_module("eeg2img_hf.training.train_clip"), "blur_prior",
                        lambda *a, **k: pytest.fail("the features file serves the blur"))
    assert run(blurred, sigmas, "c") == 0
    record = json.loads((tmp_path / "c" / "model" / "eeg2img_training.json").read_text())
    assert record["blur_prior_levels"]["blur_medium"] < record["n_train_trials"]
