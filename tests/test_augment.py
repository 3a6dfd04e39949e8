"""Tests for the ADA augmentation pipeline and its probability controller."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from eeg2img_hf.training.augment import (
    _AUGMENTS,
    AUGMENT_PRESETS,
    AdaController,
    AugmentPipe,
    _apply_color,
    _filter_bank,
    _hue_rotation_matrix,
    _luma_flip_matrix,
    _saturation_matrix,
    _warp,
)


def _images(batch: int = 8, channels: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, size, size, generator=generator) * 2 - 1


def _run(pipe: AugmentPipe, images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return pipe(images)


# ----------------------------------------------------------------------------- identity & checks


def test_p_zero_is_exact_identity() -> None:
    images = _images()
    pipe = AugmentPipe.from_preset("bgcfnc")
    assert torch.equal(pipe(images), images)
    assert torch.equal(AugmentPipe.from_preset("noaug", p=1.0)(images), images)


def test_unselected_samples_are_untouched() -> None:
    images = _images()
    out = _run(AugmentPipe.from_preset("bgcfnc", p=1e-9), images)  # nothing is drawn
    assert torch.equal(out, images)


def test_presets_and_p_buffer() -> None:
    pipe = AugmentPipe.from_preset("bgcfnc", p=0.25)
    assert all(getattr(pipe, name) == 1.0 for name in _AUGMENTS)
    assert AugmentPipe.from_preset("bgc").imgfilter == 0.0
    assert AugmentPipe.from_preset("bg").brightness == 0.0
    assert AugmentPipe.from_preset("b").scale == 0.0 and AugmentPipe.from_preset("b").xint == 1.0
    assert set(AUGMENT_PRESETS) >= {"bgcfnc", "bgc", "bg", "b", "noaug"}
    state = pipe.state_dict()
    assert state["p"].dtype == torch.float32 and float(state["p"]) == 0.25
    restored = AugmentPipe.from_preset("bgcfnc")
    restored.load_state_dict(state)
    assert float(restored.p) == 0.25


@pytest.mark.parametrize(
    ("kwargs", "images"),
    [
        ({"brightness": 1.0}, torch.zeros(2, 1, 8, 8)),  # colour op on 1 channel
        ({"xflip": 1.0}, torch.zeros(2, 8, 8)),  # not 4-D
        ({"xflip": 1.0}, torch.zeros(2, 3, 8, 8, dtype=torch.long)),  # not float
    ],
)
def test_bad_images_raise(kwargs: dict[str, float], images: torch.Tensor) -> None:
    with pytest.raises(ValueError):
        AugmentPipe(**kwargs)(images)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="xflip"):
        AugmentPipe(xflip=-1.0)
    with pytest.raises(ValueError, match="cutout_size"):
        AugmentPipe(cutout_size=2.0)
    with pytest.raises(ValueError, match="preset"):
        AugmentPipe.from_preset("bgcx")


def test_geometric_and_noise_work_on_any_channel_count() -> None:
    pipe = AugmentPipe.from_preset("bg", p=1.0, imgfilter=1.0, noise=1.0, cutout=1.0)
    out = _run(pipe, _images(channels=1))
    assert out.shape == (8, 1, 16, 16) and torch.isfinite(out).all()


# ----------------------------------------------------------------------------- each augmentation


@pytest.mark.parametrize("name", _AUGMENTS)
def test_single_augmentation_changes_image(name: str) -> None:
    images = _images()
    out = _run(AugmentPipe(p=1.0, **{name: 1.0}), images)
    assert out.shape == images.shape and torch.isfinite(out).all()
    assert not torch.equal(out, images)


def test_xflip_is_exact_flip_or_identity() -> None:
    images = _images(batch=16)
    out = _run(AugmentPipe(p=1.0, xflip=1.0), images)
    flipped = [torch.equal(o, torch.flip(x, dims=[-1])) for o, x in zip(out, images)]
    kept = [torch.equal(o, x) for o, x in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


def test_rotate90_is_exact_quarter_turn() -> None:
    images = _images(batch=16)
    out = _run(AugmentPipe(p=1.0, rotate90=1.0), images)
    turns = []
    for o, x in zip(out, images):
        matches = [k for k in range(4) if torch.equal(o, torch.rot90(x, k, dims=(-2, -1)))]
        assert len(matches) == 1
        turns.append(matches[0])
    assert len(set(turns)) >= 3


def test_integer_translation_matches_reflect_pad_and_crop() -> None:
    images = _images(batch=16)
    out = _run(AugmentPipe(p=1.0, xint=1.0), images)
    pad = 3  # round(0.125 * 16) = 2 at most
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    shifts = []
    for i in range(images.shape[0]):
        found = [
            (dx, dy)
            for dx in range(-pad, pad + 1)
            for dy in range(-pad, pad + 1)
            if torch.equal(out[i], padded[i, :, pad + dy : pad + dy + 16, pad + dx : pad + dx + 16])
        ]
        assert len(found) == 1 and max(map(abs, found[0])) <= 2
        shifts.append(found[0])
    assert any(shift != (0, 0) for shift in shifts)


def test_geometric_warp_of_constant_image_stays_constant() -> None:
    images = torch.full((32, 3, 16, 16), 0.37)
    out = _run(AugmentPipe.from_preset("bg", p=1.0), images)
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


@pytest.mark.parametrize("supersample", [1, 2])
def test_general_warp_matches_analytic_resampling(supersample: int) -> None:
    size = 32
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2  # centred pixel coordinates
    v, u = torch.meshgrid(coords, coords, indexing="ij")

    def smooth(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.sin(0.15 * u + 0.1 * v) + torch.cos(0.12 * v)

    angle, zoom = 0.4, 0.7  # output -> input: corners stay inside the image
    matrix = torch.tensor(
        [
            [zoom * math.cos(angle), -zoom * math.sin(angle), 1.3],
            [zoom * math.sin(angle), zoom * math.cos(angle), -0.8],
            [0.0, 0.0, 1.0],
        ],
        dtype=torch.float64,
    )[None]
    out = _warp(smooth(u, v)[None, None], matrix, supersample)[0, 0]
    mapped = matrix[0, :2, :2] @ torch.stack([u.flatten(), v.flatten()]) + matrix[0, :2, 2:]
    expected = smooth(mapped[0], mapped[1]).reshape(size, size)
    torch.testing.assert_close(out, expected, atol=2e-2, rtol=0)


def test_brightness_only_shifts_and_contrast_only_scales() -> None:
    images = _images()
    diff = _run(AugmentPipe(p=1.0, brightness=1.0), images) - images
    torch.testing.assert_close(diff, diff[:, :1, :1, :1].expand_as(diff), atol=1e-6, rtol=0)
    assert diff.abs().amax() > 0
    ratio = _run(AugmentPipe(p=1.0, contrast=1.0), images) / images
    torch.testing.assert_close(ratio, ratio[:, :1, :1, :1].expand_as(ratio), atol=1e-4, rtol=1e-4)


def test_color_matrices() -> None:
    images = _images(batch=2)
    grey = _apply_color(images, _saturation_matrix(torch.zeros(2)))
    torch.testing.assert_close(grey, images.mean(1, keepdim=True).expand_as(images))
    assert torch.equal(_saturation_matrix(torch.ones(1))[0], torch.eye(4))
    flip = _luma_flip_matrix(torch.ones(1))[0]
    torch.testing.assert_close(flip @ flip, torch.eye(4))
    white = torch.tensor([1.0, 1.0, 1.0, 1.0])
    torch.testing.assert_close(flip @ white, torch.tensor([-1.0, -1.0, -1.0, 1.0]))
    hue = _hue_rotation_matrix(torch.tensor([0.7]))[0]
    torch.testing.assert_close(hue @ hue.T, torch.eye(4))
    grey = torch.tensor([0.3, 0.3, 0.3, 1.0])
    torch.testing.assert_close(hue @ grey, grey)  # the luma axis is the rotation axis


def test_hue_and_saturation_keep_luma() -> None:
    images = _images()
    for name in ("hue", "saturation"):
        out = _run(AugmentPipe(p=1.0, **{name: 1.0}), images)
        torch.testing.assert_close(out.mean(1), images.mean(1), atol=1e-5, rtol=0)


def test_noise_std_matches_half_normal() -> None:
    images = torch.zeros(512, 3, 8, 8)
    out = _run(AugmentPipe(p=1.0, noise=1.0), images)
    std = out.flatten(1).std(1)
    assert abs(float(std.square().mean()) - 0.1**2) < 0.15 * 0.1**2  # E[sigma^2] = 0.01
    assert abs(float(std.mean()) - 0.1 * math.sqrt(2 / math.pi)) < 0.1 * 0.08  # E|N(0, 0.1)|


def test_cutout_zeros_one_square_of_quarter_area() -> None:
    images = torch.ones(64, 1, 16, 16)
    out = _run(AugmentPipe(p=1.0, cutout=1.0), images)
    interior = 0
    for sample in out[:, 0]:
        rows, cols = torch.nonzero(sample == 0, as_tuple=True)
        assert rows.numel() > 0
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
        assert (sample[top : bottom + 1, left : right + 1] == 0).all()  # one rectangle
        assert rows.numel() == (bottom - top + 1) * (right - left + 1)
        assert bottom - top + 1 <= 8 and right - left + 1 <= 8
        if top > 0 and left > 0 and bottom < 15 and right < 15:
            interior += 1
            assert rows.numel() == 8 * 8  # 0.5 x 0.5 of the image
    assert interior > 0


def test_imgfilter_bank() -> None:
    bank = _filter_bank(torch.float64, torch.device("cpu"))
    delta = torch.zeros(bank.shape[1], dtype=torch.float64)
    delta[bank.shape[1] // 2] = 1.0
    torch.testing.assert_close(bank.sum(0), delta)
    taps = torch.arange(bank.shape[1], dtype=torch.float64) - bank.shape[1] // 2
    centres = torch.tensor([0.0, 3 / 16, 3 / 8, 3 / 4], dtype=torch.float64) * math.pi
    response = bank @ torch.cos(centres[None, :] * taps[:, None])  # (band, centre frequency)
    assert torch.all(response.diagonal() > 0.75)
    assert torch.all((response - torch.diag(response.diagonal())).abs() < 0.15)


# ----------------------------------------------------------------------------- whole pipeline


def test_gradcheck_float64() -> None:
    images = _images(batch=2, size=8).double().requires_grad_(True)
    pipe = AugmentPipe.from_preset("bgcfnc", p=0.7)
    assert torch.autograd.gradcheck(lambda x: _run(pipe, x, seed=3), (images,), fast_mode=True)


def test_gradients_flow_to_images() -> None:
    images = _images().requires_grad_(True)
    out = _run(AugmentPipe.from_preset("bgcfnc", p=0.8), images)
    out.square().sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_determinism_under_manual_seed() -> None:
    pipe = AugmentPipe.from_preset("bgcfnc", p=0.5)
    images = _images()
    assert torch.equal(_run(pipe, images, seed=7), _run(pipe, images, seed=7))
    assert not torch.equal(_run(pipe, images, seed=7), _run(pipe, images, seed=8))


@pytest.mark.parametrize(("name", "p"), [("brightness", 0.3), ("rotate", 0.5), ("scale", 0.2)])
def test_fraction_of_augmented_samples_is_p(name: str, p: float) -> None:
    images = _images(batch=2000, size=4)
    out = _run(AugmentPipe(p=p, **{name: 1.0}), images)
    changed = (out - images).flatten(1).abs().amax(1) > 1e-6
    assert abs(float(changed.float().mean()) - p) < 0.05


def test_multiplier_scales_probability() -> None:
    images = _images(batch=2000, size=4)
    out = _run(AugmentPipe(p=0.2, brightness=2.0), images)
    changed = (out - images).flatten(1).abs().amax(1) > 1e-6
    assert abs(float(changed.float().mean()) - 0.4) < 0.05


def test_bgcfnc_output_finite_and_roughly_in_range() -> None:
    images = _images(batch=32, size=32)
    for p in (0.2, 1.0):
        out = _run(AugmentPipe.from_preset("bgcfnc", p=p), images)
        assert out.shape == images.shape and torch.isfinite(out).all()
        assert float(out.abs().quantile(0.5)) < 1.5 and float(out.abs().amax()) < 20.0


def test_non_square_and_low_precision_inputs() -> None:
    images = torch.rand(4, 3, 12, 20) * 2 - 1
    out = _run(AugmentPipe.from_preset("bgcfnc", p=0.8), images)
    assert out.shape == images.shape and torch.isfinite(out).all()
    out = _run(AugmentPipe.from_preset("bgcfnc", p=0.8), images.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


# ----------------------------------------------------------------------------- controller


def test_controller_moves_p_with_exact_step() -> None:
    pipe = AugmentPipe.from_preset("bgcfnc")
    ada = AdaController(pipe, target=0.6, interval=4, speed_kimg=500)
    step = 64 * 4 / (500 * 1000)
    for _ in range(3):
        assert not ada.update(torch.tensor(64.0), 64)  # no change inside the interval
    assert float(pipe.p) == 0.0 and ada.r_t is None
    assert ada.update(64.0, 64)
    assert ada.r_t == 1.0
    assert float(pipe.p) == pytest.approx(step, rel=1e-6)
    for _ in range(4):
        ada.update(torch.tensor(64.0), 64)
    assert float(pipe.p) == pytest.approx(2 * step, rel=1e-6)
    for _ in range(4):  # r_t = 0.5 < 0.6: down
        ada.update(torch.tensor(32.0), 64)
    assert ada.r_t == 0.5 and float(pipe.p) == pytest.approx(step, rel=1e-5)
    for _ in range(8):  # all negative: clamped at 0
        ada.update(-64.0, 64)
    assert ada.r_t == -1.0 and float(pipe.p) == 0.0


def test_controller_state_dict_round_trip() -> None:
    pipe = AugmentPipe.from_preset("bgc", p=0.1)
    ada = AdaController(pipe, interval=4)
    ada.update(10.0, 16)
    ada.update(12.0, 16)
    state = ada.state_dict()
    other = AdaController(AugmentPipe.from_preset("bgc"), interval=4)
    other.load_state_dict(state)
    assert float(other.pipe.p) == pytest.approx(0.1)
    for controller in (ada, other):
        controller.update(16.0, 16)
        assert controller.update(16.0, 16)
    assert ada.r_t == other.r_t == pytest.approx(54 / 64)
    assert float(ada.pipe.p) == pytest.approx(float(other.pipe.p))


def test_controller_rejects_bad_input() -> None:
    ada = AdaController(AugmentPipe(), interval=1)
    with pytest.raises(ValueError, match="count"):
        ada.update(1.0, 0)
    with pytest.raises(ValueError, match="sign"):
        ada.update(10.0, 4)
    with pytest.raises(ValueError, match="interval"):
        AdaController(AugmentPipe(), interval=0)
    with pytest.raises(ValueError, match="missing"):
        ada.load_state_dict({"p": 0.0})
