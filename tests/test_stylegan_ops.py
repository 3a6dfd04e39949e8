"""Tests of the pure-PyTorch StyleGAN2 ops against naive definitions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from eeg2img_hf.models.eeg_stylegan.ops_stylegan import (
    Conv2dLayer,
    FullyConnectedLayer,
    bias_act,
    conv2d_resample,
    downsample2d,
    minibatch_std,
    modulated_conv2d,
    normalize_2nd_moment,
    setup_filter,
    upfirdn2d,
    upsample2d,
)

DOUBLE = torch.float64


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread avoids oversubscription slow-downs (10x for gradcheck on a busy box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int = 0, dtype: torch.dtype = DOUBLE) -> torch.Tensor:
    return torch.randn(*shape, generator=_generator(seed), dtype=dtype)


def naive_upfirdn2d(x, filt, up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """Output pixel by output pixel from the definition: zero-insert, pad, convolve, decimate."""
    if filt.ndim == 1:
        filt = torch.outer(filt, filt)
    (up_x, up_y), (down_x, down_y), (px0, px1, py0, py1) = up, down, pad
    _, _, height, width = x.shape
    filt_h, filt_w = filt.shape
    kernel = filt if flip_filter else filt.flip([0, 1])  # correlation kernel of a true convolution
    out_h = (height * up_y + py0 + py1 - filt_h) // down_y + 1
    out_w = (width * up_x + px0 + px1 - filt_w) // down_x + 1
    out = torch.zeros(x.shape[0], x.shape[1], out_h, out_w, dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(filt_h):
                for b in range(filt_w):
                    u, v = i * down_y + a - py0, j * down_x + b - px0  # index in the zero-inserted image
                    if 0 <= u < height * up_y and 0 <= v < width * up_x and u % up_y == 0 and v % up_x == 0:
                        out[:, :, i, j] += x[:, :, u // up_y, v // up_x] * kernel[a, b]
    return out * gain


UPFIRDN_CASES = [
    # (input hw, filter, up, down, padding)
    ((5, 6), "1331", (1, 1), (1, 1), (0, 0, 0, 0)),
    ((5, 6), "1331", (2, 2), (1, 1), (2, 1, 2, 1)),
    ((6, 8), "1331", (1, 1), (2, 2), (1, 1, 1, 1)),
    ((4, 5), "rand3x5", (2, 1), (1, 2), (3, -1, 0, 2)),
    ((5, 4), "rand4x3", (3, 3), (2, 2), (-2, 1, 0, -1)),
    ((6, 6), "sep", (2, 2), (3, 3), (1, 2, 2, 1)),
    ((7, 5), None, (1, 1), (2, 1), (-1, -1, 0, 0)),
]


def _case_filter(name):
    if name is None:
        return None
    if name == "1331":
        return setup_filter([1, 3, 3, 1]).to(DOUBLE)
    if name == "sep":
        return setup_filter([1, 2, 5], separable=True).to(DOUBLE)
    h, w = int(name[4]), int(name[6])
    return _randn(h, w, seed=h * 10 + w)


@pytest.mark.parametrize("size, filt_name, up, down, pad", UPFIRDN_CASES)
@pytest.mark.parametrize("flip_filter, gain", [(False, 1.0), (True, 2.5)])
def test_upfirdn2d_matches_naive(size, filt_name, up, down, pad, flip_filter, gain):
    x = _randn(2, 3, *size, seed=1)
    filt = _case_filter(filt_name)
    out = upfirdn2d(x, filt, up=up, down=down, padding=pad, flip_filter=flip_filter, gain=gain)
    ref_filt = torch.ones(1, 1, dtype=DOUBLE) if filt is None else filt
    ref = naive_upfirdn2d(x, ref_filt, up, down, pad, flip_filter, gain)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref)


def test_setup_filter():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    torch.testing.assert_close(f.sum(), torch.tensor(1.0))
    torch.testing.assert_close(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    sep = setup_filter([1, 3, 3, 1], separable=True)
    torch.testing.assert_close(torch.outer(sep, sep), f)
    torch.testing.assert_close(setup_filter([1, 3, 3, 1], gain=4).sum(), torch.tensor(4.0))
    torch.testing.assert_close(setup_filter([1, 2], flip_filter=True), setup_filter([2, 1]))
    torch.testing.assert_close(setup_filter([2.0], normalize=False), torch.tensor([[4.0]]))
    with pytest.raises(ValueError, match="sum to zero"):
        setup_filter([1, -1])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        setup_filter(torch.ones(2, 2, 2))


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 2, 1], [1, 1]])
def test_resampling_shapes_constants_and_centering(factor, taps):
    f = setup_filter(taps)
    x = _randn(1, 2, 8, 12, seed=3, dtype=torch.float32)
    up, down = upsample2d(x, f, up=factor), downsample2d(x, f, down=factor)
    assert up.shape == (1, 2, 8 * factor, 12 * factor)
    assert down.shape == (1, 2, 8 // factor, 12 // factor)
    # a constant image stays constant away from the zero-padded border (upsampling: when every
    # polyphase component of the taps has the same sum, true for all these taps at factor 2)
    ones = torch.ones(1, 1, 16, 16)
    border = len(taps)
    if factor == 2:
        assert torch.allclose(upsample2d(ones, f, up=factor)[..., border:-border, border:-border], torch.tensor(1.0))
    assert torch.allclose(downsample2d(ones, f, down=factor)[..., 1:-1, 1:-1], torch.tensor(1.0))
    if len(taps) % 2 == 0 or factor % 2 == 1:  # centred: resampling commutes with mirroring
        torch.testing.assert_close(upsample2d(x.flip(-1), f, up=factor), up.flip(-1))
        torch.testing.assert_close(downsample2d(x.flip(-2), f, down=factor), down.flip(-2))


def test_upfirdn2d_rejects_bad_input():
    with pytest.raises(ValueError, match="batch_size, num_channels"):
        upfirdn2d(torch.zeros(3, 4, 4), None)
    with pytest.raises(ValueError, match="smaller than the filter"):
        upfirdn2d(torch.zeros(1, 1, 2, 2), setup_filter([1, 3, 3, 1]))
    with pytest.raises(ValueError, match="padding"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), None, padding=(1, 2, 3))


def naive_bias_act(x, b, dim, act, alpha, gain, clamp):
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)
    alpha = 0.2 if alpha is None else alpha
    formulas = {
        "linear": lambda t: t,
        "relu": lambda t: torch.where(t > 0, t, torch.zeros_like(t)),
        "lrelu": lambda t: torch.where(t > 0, t, alpha * t),
        "tanh": lambda t: (t.exp() - (-t).exp()) / (t.exp() + (-t).exp()),
        "sigmoid": lambda t: 1 / (1 + (-t).exp()),
    }
    default_gain = math.sqrt(2) if act in ("relu", "lrelu") else 1.0
    y = formulas[act](x) * (default_gain if gain is None else gain)
    if clamp is None:
        return y
    return torch.where(y > clamp, torch.full_like(y, clamp), torch.where(y < -clamp, torch.full_like(y, -clamp), y))


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu", "tanh", "sigmoid"])
@pytest.mark.parametrize("alpha, gain, clamp, dim", [(None, None, None, 1), (0.1, 3.0, 0.7, 2), (None, 0.5, 2.0, -1)])
def test_bias_act_matches_formula(act, alpha, gain, clamp, dim):
    x = _randn(3, 4, 5, seed=4) * 2
    b = _randn(x.shape[dim], seed=5)
    out = bias_act(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    torch.testing.assert_close(out, naive_bias_act(x, b, dim % x.ndim, act, alpha, gain, clamp))


def test_bias_act_errors_and_no_bias():
    x = _randn(2, 3)
    torch.testing.assert_close(bias_act(x), x)
    with pytest.raises(ValueError, match="Unknown activation"):
        bias_act(x, act="gelu")
    with pytest.raises(ValueError, match=r"Expected `b` of shape \(3\), got \(4,\)"):
        bias_act(x, torch.zeros(4))


def test_normalize_2nd_moment():
    x = _randn(4, 7, seed=6) * 5
    y = normalize_2nd_moment(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(4, dtype=DOUBLE))
    torch.testing.assert_close(y, x / x.square().mean(dim=1, keepdim=True).sqrt())


def naive_modulated_conv2d(x, weight, styles, up, down, padding, filt, demodulate):
    """Per-sample loop: build the modulated kernel and run the spec'd resampling convolution."""
    outs = []
    filt_h, filt_w = (1, 1) if filt is None else filt.shape
    for n in range(x.shape[0]):
        w = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        xn = x[n : n + 1]
        if up > 1:  # upsample (filter border kept) then valid conv
            pad = [(filt_w + up - 1) // 2 + padding, (filt_w - up) // 2 + padding]
            pad += [(filt_h + up - 1) // 2 + padding, (filt_h - up) // 2 + padding]
            outs.append(F.conv2d(naive_upfirdn2d(xn, filt * up * up, (up, up), (1, 1), pad), w))
        elif down > 1:  # centred blur then strided valid conv
            pad = [(filt_w - down + 1) // 2 + padding, (filt_w - down) // 2 + padding]
            pad += [(filt_h - down + 1) // 2 + padding, (filt_h - down) // 2 + padding]
            outs.append(F.conv2d(naive_upfirdn2d(xn, filt, (1, 1), (1, 1), pad), w, stride=down))
        else:
            outs.append(F.conv2d(xn, w, padding=padding))
    return torch.cat(outs)


@pytest.mark.parametrize("kernel, up, down", [(3, 1, 1), (3, 2, 1), (3, 1, 2), (1, 2, 1), (1, 1, 2), (5, 2, 1)])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv2d_fused_equals_nonfused_equals_naive(kernel, up, down, demodulate):
    x = _randn(3, 4, 6, 6, seed=7)
    weight = _randn(5, 4, kernel, kernel, seed=8)
    styles = _randn(3, 4, seed=9) + 1
    filt = setup_filter([1, 3, 3, 1]).to(DOUBLE)
    kwargs = {"up": up, "down": down, "padding": kernel // 2, "resample_filter": filt, "demodulate": demodulate}
    fused = modulated_conv2d(x, weight, styles, fused_modconv=True, **kwargs)
    nonfused = modulated_conv2d(x, weight, styles, fused_modconv=False, **kwargs)
    ref = naive_modulated_conv2d(x, weight, styles, up, down, kernel // 2, filt, demodulate)
    assert fused.shape == (3, 5, 6 * up // down, 6 * up // down)
    torch.testing.assert_close(fused, ref)
    torch.testing.assert_close(nonfused, ref)


def test_modulated_conv2d_noise_and_validation():
    x, weight, styles = _randn(2, 3, 4, 4), _randn(2, 3, 3, 3, seed=1), _randn(2, 3, seed=2)
    noise = _randn(1, 1, 4, 4, seed=3)
    with_noise = modulated_conv2d(x, weight, styles, noise=noise, padding=1)
    torch.testing.assert_close(with_noise - modulated_conv2d(x, weight, styles, padding=1), noise.expand(2, 2, 4, 4))
    with pytest.raises(ValueError, match=r"Expected `styles` of shape \(2, 3\), got \(2, 4\)"):
        modulated_conv2d(x, weight, _randn(2, 4))
    with pytest.raises(ValueError, match=r"Expected `weight` of shape \(\*, 3, \*, \*\)"):
        modulated_conv2d(x, _randn(2, 5, 3, 3), styles)


def test_demodulation_keeps_unit_variance():
    x = torch.randn(8, 64, 16, 16, generator=_generator(10))
    weight = torch.randn(32, 64, 3, 3, generator=_generator(11))
    styles = torch.randn(8, 64, generator=_generator(12)) * 3
    y = modulated_conv2d(x, weight, styles, padding=1)[..., 1:-1, 1:-1]  # interior: no zero padding
    assert 0.9 < y.std().item() < 1.1
    assert abs(y.mean().item()) < 0.1


def test_modulated_conv2d_float16_no_overflow():
    x = torch.randn(2, 16, 8, 8, generator=_generator(13))
    weight = torch.randn(8, 16, 3, 3, generator=_generator(14))
    styles = torch.randn(2, 16, generator=_generator(15)) * 300  # squared sums overflow fp16 without pre-normalising
    ref = modulated_conv2d(x, weight, styles, padding=1)
    for fused in (True, False):
        out = modulated_conv2d(x.half(), weight, styles, padding=1, fused_modconv=fused)
        assert out.dtype == torch.float16 and torch.isfinite(out).all()
        torch.testing.assert_close(out.float(), ref, atol=2e-2, rtol=2e-2)


def test_conv2d_resample_groups_and_errors():
    x, filt = _randn(2, 4, 5, 5), setup_filter([1, 3, 3, 1]).to(DOUBLE)
    weight = _randn(6, 2, 3, 3, seed=1)
    out = conv2d_resample(x, weight, filt, up=2, padding=1, groups=2)
    ref = torch.cat(
        [conv2d_resample(x[:, 2 * g : 2 * g + 2], weight[3 * g : 3 * g + 3], filt, up=2, padding=1) for g in range(2)],
        dim=1,
    )
    torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match="either `up` or `down`"):
        conv2d_resample(x, weight, filt, up=2, down=2)


def naive_minibatch_std(x, group_size, num_channels):
    batch, channels = x.shape[:2]
    group = min(group_size, batch)
    num_groups = batch // group
    maps = []
    for n in range(batch):
        members = x[[m for m in range(batch) if m % num_groups == n % num_groups]]  # (group, c, h, w)
        std = (members.var(dim=0, unbiased=False) + 1e-8).sqrt()
        per_slice = std.reshape(num_channels, channels // num_channels, -1).mean(dim=[1, 2])
        maps.append(per_slice.reshape(num_channels, 1, 1).expand(num_channels, *x.shape[2:]))
    return torch.cat([x, torch.stack(maps)], dim=1)


@pytest.mark.parametrize("batch, group_size, num_channels", [(4, 2, 1), (6, 3, 2), (4, 32, 1), (3, 0, 1)])
def test_minibatch_std_matches_naive(batch, group_size, num_channels):
    x = _randn(batch, 4, 3, 3, seed=16)
    ref = naive_minibatch_std(x, group_size or batch, num_channels)
    torch.testing.assert_close(minibatch_std(x, group_size, num_channels), ref)


def test_minibatch_std_errors():
    with pytest.raises(ValueError, match="divisible by the minibatch-std group size"):
        minibatch_std(torch.zeros(6, 4, 2, 2), 4)
    with pytest.raises(ValueError, match="must be divisible by mbstd num_channels"):
        minibatch_std(torch.zeros(4, 5, 2, 2), 2, num_channels=2)


def test_gradcheck_ops():
    filt = _randn(3, 4, seed=20)  # non-symmetric, exercises the flip
    x = _randn(1, 2, 4, 5, seed=21).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: upfirdn2d(t, filt, up=2, down=1, padding=(2, 1, 1, 0)), (x,))
    assert torch.autograd.gradcheck(lambda t: upfirdn2d(t, filt, down=2, padding=(1, -1, 2, 1)), (x,))
    b = _randn(2, seed=22).requires_grad_()
    assert torch.autograd.gradcheck(lambda t, bb: bias_act(t, bb, act="lrelu", gain=1.3), (x, b))
    assert torch.autograd.gradcheck(lambda t, bb: bias_act(t, bb, act="tanh", clamp=10.0), (x, b))
    y = _randn(4, 3, 2, 2, seed=23).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: minibatch_std(t, 2, 1), (y,))


@pytest.mark.parametrize("fused, up, down", [(True, 1, 1), (False, 2, 1), (True, 2, 1), (False, 1, 2)])
def test_gradcheck_modulated_conv2d(fused, up, down):
    x = _randn(2, 2, 4, 4, seed=24).requires_grad_()
    weight = _randn(2, 2, 3, 3, seed=25).requires_grad_()
    styles = (_randn(2, 2, seed=26) + 1.5).requires_grad_()
    filt = setup_filter([1, 3, 3, 1]).to(DOUBLE)

    def fn(a, w, s):
        return modulated_conv2d(a, w, s, up=up, down=down, padding=1, resample_filter=filt, fused_modconv=fused)

    assert torch.autograd.gradcheck(fn, (x, weight, styles))


def test_fully_connected_layer_equalised_lr():
    torch.manual_seed(0)
    layer = FullyConnectedLayer(256, 128, lr_multiplier=0.01, bias_init=1.0, activation="linear")
    assert 95 < layer.weight.std().item() < 105  # stored N(0, 1) / lr_multiplier
    torch.testing.assert_close(layer.bias * layer.bias_gain, torch.ones(128))
    x = torch.randn(8, 256)
    effective = layer.weight * 0.01 / math.sqrt(256)
    assert abs(effective.std().item() - 1 / math.sqrt(256)) < 3e-3
    torch.testing.assert_close(layer(x), x @ effective.t() + 1.0)
    act = FullyConnectedLayer(256, 128, activation="lrelu")
    torch.testing.assert_close(act(x), F.leaky_relu(x @ (act.weight / 16).t() + act.bias, 0.2) * math.sqrt(2))
    # the stored weight's gradient is the effective weight's gradient scaled by weight_gain
    layer(x).sum().backward()
    torch.testing.assert_close(layer.weight.grad, x.sum(0).expand(128, -1) * layer.weight_gain)
    with pytest.raises(ValueError, match=r"Expected `x` of shape \(\*, 256\), got \(8, 3\)"):
        layer(torch.zeros(8, 3))


def test_conv2d_layer_equalised_lr_and_resampling():
    torch.manual_seed(0)
    layer = Conv2dLayer(16, 8, 3, activation="lrelu", conv_clamp=0.5)
    assert 0.9 < layer.weight.std().item() < 1.1
    x = torch.randn(2, 16, 6, 6)
    ref = F.leaky_relu(F.conv2d(x, layer.weight / math.sqrt(16 * 9), layer.bias, padding=1), 0.2) * math.sqrt(2)
    torch.testing.assert_close(layer(x), ref.clamp(-0.5, 0.5))
    torch.testing.assert_close(layer(x, gain=0.5), (ref * 0.5).clamp(-0.25, 0.25))
    down = Conv2dLayer(16, 8, 3, down=2)
    assert down(x).shape == (2, 8, 3, 3) and down.resample_filter.shape == (4, 4)
    assert Conv2dLayer(16, 8, 1, bias=False, up=2)(x).shape == (2, 8, 12, 12)
    assert layer.resample_filter is None and "resample_filter" not in layer.state_dict()
