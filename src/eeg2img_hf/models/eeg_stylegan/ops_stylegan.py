"""Pure-PyTorch StyleGAN2 operations, written from the papers' definitions.

References:
    Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020 (weight
    demodulation, skip/residual architectures, equalised learning rate).
    Karras et al., "Training Generative Adversarial Networks with Limited Data", NeurIPS 2020.

Everything here is differentiable, runs on CPU and CUDA in float32/float16/float64 and has no
compiled extensions or import-time side effects.

Conventions:
    * An FIR filter is a 2-D tensor `(filter_height, filter_width)` or a 1-D tensor `(filter_size,)`
      that is applied separably along both axes. `None` means the identity filter `[[1]]`.
    * `upfirdn2d` performs a *true* convolution with the filter (the filter is flipped), unless
      `flip_filter=True`. All filters built by `setup_filter` from symmetric taps are unaffected.
    * Padding is `(pad_left, pad_right, pad_top, pad_bottom)`; negative values crop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
    "downsample2d",
    "bias_act",
    "normalize_2nd_moment",
    "conv2d_resample",
    "modulated_conv2d",
    "minibatch_std",
    "FullyConnectedLayer",
    "Conv2dLayer",
    "ACTIVATION_DEFAULTS",
]

#: activation name -> (default alpha, default gain). ReLU-like activations get sqrt(2) (He gain).
ACTIVATION_DEFAULTS: dict[str, tuple[float, float]] = {
    "linear": (0.0, 1.0),
    "relu": (0.0, math.sqrt(2.0)),
    "lrelu": (0.2, math.sqrt(2.0)),
    "tanh": (0.0, 1.0),
    "sigmoid": (0.0, 1.0),
}

IntPair = int | Sequence[int]


def _assert_shape(tensor: torch.Tensor, expected: Sequence[int | None], name: str) -> None:
    """Raises `ValueError` unless `tensor.shape` matches `expected` (`None` matches any size)."""
    shape = tuple(tensor.shape)
    ok = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))
    if not ok:
        pretty = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"Expected `{name}` of shape {pretty}, got {shape}.")


def _parse_scaling(scaling: IntPair, name: str) -> tuple[int, int]:
    """Returns `(scale_x, scale_y)` from an int or a pair."""
    sx, sy = (scaling, scaling) if isinstance(scaling, int) else tuple(scaling)
    if sx < 1 or sy < 1:
        raise ValueError(f"`{name}` must be >= 1, got {scaling}.")
    return int(sx), int(sy)


def _parse_padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """Returns `(pad_left, pad_right, pad_top, pad_bottom)` from an int, `(px, py)` or 4 values."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) == 4:
        return padding[0], padding[1], padding[2], padding[3]
    raise ValueError(f"`padding` must be an int, 2 or 4 values, got {padding}.")


def _filter_size(filter: torch.Tensor | None) -> tuple[int, int]:
    """Returns `(filter_width, filter_height)`."""
    if filter is None:
        return 1, 1
    if filter.ndim == 1:
        return filter.shape[0], filter.shape[0]
    if filter.ndim == 2:
        return filter.shape[1], filter.shape[0]
    raise ValueError(f"Expected a 1-D or 2-D FIR filter, got shape {tuple(filter.shape)}.")


def setup_filter(
    taps: Sequence[float] | torch.Tensor | None,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1.0,
    separable: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Builds an FIR filter from taps.

    Args:
        taps (`Sequence[float]` or `torch.Tensor`): 1-D taps (e.g. `[1, 3, 3, 1]`) or a 2-D kernel.
            `None` gives the identity filter.
        normalize (`bool`, *optional*, defaults to `True`): scale so the taps sum to 1 (unit DC gain).
        flip_filter (`bool`, *optional*, defaults to `False`): flip the filter along every axis.
        gain (`float`, *optional*, defaults to 1.0): overall DC gain of the 2-D filter.
        separable (`bool`, *optional*, defaults to `False`): keep 1-D taps 1-D (applied separably);
            otherwise 1-D taps become their 2-D outer product.
        device (`torch.device`, *optional*): device of the result.

    Returns:
        `torch.Tensor` of shape `(filter_size,)` if separable, else `(filter_height, filter_width)`,
        dtype float32.
    """
    # Built on the CPU (works under a meta-device context, as in `from_pretrained`), then moved.
    cpu = torch.device("cpu")
    taps = [1.0] if taps is None else taps
    if torch.is_tensor(taps):
        f = taps.detach().to(cpu, torch.float32)
    else:
        f = torch.tensor(taps, dtype=torch.float32, device=cpu)
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"FIR taps must be 1-D or 2-D and non-empty, got shape {tuple(f.shape)}.")
    if f.ndim == 2 and separable:
        raise ValueError("A 2-D kernel cannot be separable; pass 1-D taps.")
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:  # 1-D taps summing to 1 give a 2-D (outer product) filter summing to 1
        if f.sum() == 0:
            raise ValueError("FIR taps sum to zero and cannot be normalised.")
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(torch.empty(0).device if device is None else device)


def _fir(x: torch.Tensor, filter: torch.Tensor, stride_x: int, stride_y: int) -> torch.Tensor:
    """Depthwise valid cross-correlation of `x` with a 1-D (separable) or 2-D `filter`."""
    channels = x.shape[1]
    if filter.ndim == 2:
        weight = filter[None, None].expand(channels, 1, -1, -1)
        return F.conv2d(x, weight, stride=(stride_y, stride_x), groups=channels)
    weight = filter[None, None, None, :].expand(channels, 1, 1, -1)
    x = F.conv2d(x, weight, stride=(1, stride_x), groups=channels)
    weight = filter[None, None, :, None].expand(channels, 1, -1, 1)
    return F.conv2d(x, weight, stride=(stride_y, 1), groups=channels)


def upfirdn2d(
    x: torch.Tensor,
    filter: torch.Tensor | None,
    up: IntPair = 1,
    down: IntPair = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by zero insertion, pad/crop, FIR-filter, then downsample by striding.

    The upsampled signal has `height * up_y` rows: every input sample is followed by `up - 1`
    zeros (also after the last one). Padding is applied to that signal, then a valid convolution
    with the filter is taken and every `down`-th output sample is kept.

    Args:
        x (`torch.Tensor` of shape `(batch_size, num_channels, height, width)`): input images.
        filter (`torch.Tensor`, *optional*): FIR filter from `setup_filter`, 1-D or 2-D.
        up (`int` or `(int, int)`, *optional*, defaults to 1): upsampling factor (x, y).
        down (`int` or `(int, int)`, *optional*, defaults to 1): downsampling factor (x, y).
        padding (`int`, `(px, py)` or `(px0, px1, py0, py1)`, *optional*, defaults to 0): padding of the
            upsampled image; negative values crop.
        flip_filter (`bool`, *optional*, defaults to `False`): `True` = correlation instead of
            convolution.
        gain (`float`, *optional*, defaults to 1.0): overall scale applied through the filter.

    Returns:
        `torch.Tensor` of shape `(batch_size, num_channels, out_height, out_width)` with
        `out_height = (height * up_y + py0 + py1 - filter_height) // down_y + 1`.
    """
    if x.ndim != 4:
        raise ValueError(f"Expected `x` of shape (batch_size, num_channels, height, width), got {tuple(x.shape)}.")
    up_x, up_y = _parse_scaling(up, "up")
    down_x, down_y = _parse_scaling(down, "down")
    px0, px1, py0, py1 = _parse_padding(padding)
    batch_size, channels, height, width = x.shape
    filter_w, filter_h = _filter_size(filter)
    padded_h, padded_w = height * up_y + py0 + py1, width * up_x + px0 + px1
    if padded_h < filter_h or padded_w < filter_w:
        raise ValueError(
            f"Padded size ({padded_h}, {padded_w}) is smaller than the filter ({filter_h}, {filter_w})."
        )
    if up_x > 1 or up_y > 1:  # zero insertion: (b, c, h, 1, w, 1) -> (b, c, h, up_y, w, up_x)
        x = x.reshape(batch_size, channels, height, 1, width, 1)
        x = F.pad(x, [0, up_x - 1, 0, 0, 0, up_y - 1])
        x = x.reshape(batch_size, channels, height * up_y, width * up_x)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    if filter is None:
        filter = torch.ones(1, 1, device=x.device)
    filter = filter.to(dtype=x.dtype, device=x.device) * (gain ** (filter.ndim / 2))
    if not flip_filter:  # F.conv2d correlates; a true convolution needs the flipped filter
        filter = filter.flip(list(range(filter.ndim)))
    return _fir(x, filter, down_x, down_y)


def upsample2d(
    x: torch.Tensor,
    filter: torch.Tensor | None,
    up: IntPair = 2,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsamples `(batch_size, num_channels, height, width)` to `(..., height * up, width * up)`.

    The FIR filter is centred on the continuous pixel grid and scaled by `up**2` so a constant image
    stays constant. Extra `padding` (same format as `upfirdn2d`) is added on top.
    """
    up_x, up_y = _parse_scaling(up, "up")
    px0, px1, py0, py1 = _parse_padding(padding)
    filter_w, filter_h = _filter_size(filter)
    pads = [
        px0 + (filter_w + up_x - 1) // 2,
        px1 + (filter_w - up_x) // 2,
        py0 + (filter_h + up_y - 1) // 2,
        py1 + (filter_h - up_y) // 2,
    ]
    return upfirdn2d(x, filter, up=(up_x, up_y), padding=pads, flip_filter=flip_filter, gain=gain * up_x * up_y)


def downsample2d(
    x: torch.Tensor,
    filter: torch.Tensor | None,
    down: IntPair = 2,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Downsamples `(batch_size, num_channels, height, width)` to `(..., height // down, width // down)`.

    The FIR filter is centred on each `down x down` cell (for even sizes). Extra `padding` (same
    format as `upfirdn2d`) is added on top.
    """
    down_x, down_y = _parse_scaling(down, "down")
    px0, px1, py0, py1 = _parse_padding(padding)
    filter_w, filter_h = _filter_size(filter)
    pads = [
        px0 + (filter_w - down_x + 1) // 2,
        px1 + (filter_w - down_x) // 2,
        py0 + (filter_h - down_y + 1) // 2,
        py1 + (filter_h - down_y) // 2,
    ]
    return upfirdn2d(x, filter, down=(down_x, down_y), padding=pads, flip_filter=flip_filter, gain=gain)


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Adds a bias, applies an activation, scales by `gain` and optionally clamps.

    Computes `clamp(act(x + b) * gain, -clamp, clamp)`.

    Args:
        x (`torch.Tensor` of any shape): input activations.
        b (`torch.Tensor` of shape `(x.shape[dim],)`, *optional*): bias broadcast along `dim`.
        dim (`int`, *optional*, defaults to 1): axis of `x` the bias runs along.
        act (`str`, *optional*, defaults to `"linear"`): one of `ACTIVATION_DEFAULTS`.
        alpha (`float`, *optional*): leaky-ReLU slope (default 0.2).
        gain (`float`, *optional*): output scale (default sqrt(2) for relu/lrelu, else 1).
        clamp (`float`, *optional*): clamp the output to `[-clamp, clamp]`; `None` or negative disables.

    Returns:
        `torch.Tensor` with the shape of `x`.
    """
    if act not in ACTIVATION_DEFAULTS:
        raise ValueError(f"Unknown activation {act!r}; expected one of {sorted(ACTIVATION_DEFAULTS)}.")
    default_alpha, default_gain = ACTIVATION_DEFAULTS[act]
    alpha = default_alpha if alpha is None else float(alpha)
    gain = default_gain if gain is None else float(gain)
    if b is not None:
        dim = dim % x.ndim
        _assert_shape(b, [x.shape[dim]], "b")
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.to(x.dtype).reshape(shape)
    if act == "relu":
        x = F.relu(x)
    elif act == "lrelu":
        x = F.leaky_relu(x, alpha)
    elif act == "tanh":
        x = torch.tanh(x)
    elif act == "sigmoid":
        x = torch.sigmoid(x)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Divides `x` by its root mean square along `dim`: `x / sqrt(mean(x**2, dim) + eps)`."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def conv2d_resample(
    x: torch.Tensor,
    weight: torch.Tensor,
    resample_filter: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution fused with FIR up- or downsampling.

    * `up > 1`: equals `F.conv2d(upsample2d(x, f, up, padding=padding), weight)`, i.e. upsample
      (without cropping the filter's border) and then a valid convolution. Computed as a
      stride-`up` transposed convolution followed by the FIR filter, which needs `up**2` fewer
      multiply-adds than convolving the upsampled image.
    * `down > 1`: FIR-filter `x` (zero-padded so the filter stays centred, plus `padding`), then a
      stride-`down` valid convolution. 1x1 kernels filter-and-stride first (same result, cheaper).
    * otherwise: `F.conv2d(x, weight, padding=padding)`.

    Args:
        x (`torch.Tensor` of shape `(batch_size, in_channels, height, width)`): input.
        weight (`torch.Tensor` of shape `(out_channels, in_channels // groups, kernel_h, kernel_w)`).
        resample_filter (`torch.Tensor`, *optional*): FIR filter from `setup_filter`.
        up (`int`, *optional*, defaults to 1): integer upsampling factor.
        down (`int`, *optional*, defaults to 1): integer downsampling factor.
        padding (`int`, *optional*, defaults to 0): zero padding of the convolution.
        groups (`int`, *optional*, defaults to 1): convolution groups.

    Returns:
        `torch.Tensor` of shape `(batch_size, out_channels, out_height, out_width)`; with
        `padding = kernel_size // 2` and odd kernels, `out = height * up // down`.
    """
    if up > 1 and down > 1:
        raise ValueError(f"Use either `up` or `down`, got up={up}, down={down}.")
    out_channels, in_per_group, kernel_h, kernel_w = weight.shape
    filter_w, filter_h = _filter_size(resample_filter)
    if up > 1:
        pads = [
            (filter_w + up - 1) // 2 + padding - (kernel_w - 1),
            (filter_w - up) // 2 + padding - (kernel_w - 1) + (up - 1),
            (filter_h + up - 1) // 2 + padding - (kernel_h - 1),
            (filter_h - up) // 2 + padding - (kernel_h - 1) + (up - 1),
        ]
        # transposed conv wants (in_channels, out_channels // groups, kh, kw) and the flipped kernel
        w = weight.reshape(groups, out_channels // groups, in_per_group, kernel_h, kernel_w)
        w = w.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kernel_h, kernel_w)
        x = F.conv_transpose2d(x, w.flip([2, 3]), stride=up, groups=groups)
        return upfirdn2d(x, resample_filter, padding=pads, gain=up * up)
    if down > 1:
        pads = [
            (filter_w - down + 1) // 2 + padding,
            (filter_w - down) // 2 + padding,
            (filter_h - down + 1) // 2 + padding,
            (filter_h - down) // 2 + padding,
        ]
        if kernel_h == 1 and kernel_w == 1:
            x = upfirdn2d(x, resample_filter, down=down, padding=pads)
            return F.conv2d(x, weight, groups=groups)
        x = upfirdn2d(x, resample_filter, padding=pads)
        return F.conv2d(x, weight, stride=down, groups=groups)
    return F.conv2d(x, weight, padding=padding, groups=groups)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    fused_modconv: bool = True,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution (with optional weight demodulation).

    Per sample `n`: `w'[o, i] = weight[o, i] * styles[n, i]`; with demodulation
    `w''[o] = w'[o] / sqrt(sum_{i,kh,kw} w'[o]**2 + 1e-8)`, which keeps unit-variance inputs at unit
    variance. `fused_modconv=True` builds the per-sample kernels and runs one grouped convolution
    (`groups=batch_size`); `fused_modconv=False` scales the activations by `styles` before a shared
    convolution and by the demodulation coefficients after it. Both are the same linear map.

    Args:
        x (`torch.Tensor` of shape `(batch_size, in_channels, height, width)`): input.
        weight (`torch.Tensor` of shape `(out_channels, in_channels, kernel_h, kernel_w)`): kernel.
        styles (`torch.Tensor` of shape `(batch_size, in_channels)`): per-sample input scales.
        noise (`torch.Tensor`, *optional*): added after (de)modulation, broadcastable to the output.
        up, down, padding, resample_filter: see `conv2d_resample`.
        demodulate (`bool`, *optional*, defaults to `True`): apply weight demodulation.
        fused_modconv (`bool`, *optional*, defaults to `True`): grouped-convolution form.

    Returns:
        `torch.Tensor` of shape `(batch_size, out_channels, out_height, out_width)`.
    """
    if x.ndim != 4:
        raise ValueError(f"Expected `x` of shape (batch_size, in_channels, height, width), got {tuple(x.shape)}.")
    batch_size, in_channels = x.shape[:2]
    _assert_shape(weight, [None, in_channels, None, None], "weight")
    _assert_shape(styles, [batch_size, in_channels], "styles")
    out_channels, _, kernel_h, kernel_w = weight.shape
    if demodulate and x.dtype in (torch.float16, torch.bfloat16):
        # Pre-normalise to avoid fp16 overflow; demodulation removes any per-(sample, out) scale.
        weight_max = weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        weight = weight * (1 / math.sqrt(in_channels * kernel_h * kernel_w) / weight_max)
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    dcoefs = None
    if demodulate:  # sum_{i,k} (weight[o,i,k] * s[n,i])^2 = (s^2 @ sum_k weight^2 .T)[n, o]
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # (b, out)
    if fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, in_channels, 1, 1)  # (b, out, in, kh, kw)
        if dcoefs is not None:
            w = w * dcoefs.reshape(batch_size, out_channels, 1, 1, 1)
        w = w.reshape(batch_size * out_channels, in_channels, kernel_h, kernel_w).to(x.dtype)
        x = x.reshape(1, batch_size * in_channels, *x.shape[2:])
        x = conv2d_resample(x, w, resample_filter, up=up, down=down, padding=padding, groups=batch_size)
        x = x.reshape(batch_size, out_channels, *x.shape[2:])
    else:
        x = x * styles.to(x.dtype).reshape(batch_size, in_channels, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, down=down, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(batch_size, out_channels, 1, 1)
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def minibatch_std(x: torch.Tensor, group_size: int, num_channels: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Appends minibatch standard-deviation feature maps (Karras et al. 2018).

    The batch is split into groups of `min(group_size, batch_size)` samples (sample `n` is in group
    `n % (batch_size // group)`). For each group, the per-feature std over the group is averaged over
    each of `num_channels` channel slices and all pixels, and appended as constant maps.

    Args:
        x (`torch.Tensor` of shape `(batch_size, channels, height, width)`): features.
        group_size (`int`): group size (`<= 0` means the whole batch); must divide `batch_size`.
        num_channels (`int`, *optional*, defaults to 1): number of appended maps; must divide `channels`.
        eps (`float`, *optional*, defaults to 1e-8): added to the variance before the square root.

    Returns:
        `torch.Tensor` of shape `(batch_size, channels + num_channels, height, width)`.
    """
    if x.ndim != 4:
        raise ValueError(f"Expected `x` of shape (batch_size, channels, height, width), got {tuple(x.shape)}.")
    batch_size, channels, height, width = x.shape
    group = batch_size if group_size <= 0 else min(group_size, batch_size)
    if batch_size % group != 0:
        raise ValueError(f"Batch size {batch_size} must be divisible by the minibatch-std group size {group}.")
    if num_channels < 1 or channels % num_channels != 0:
        raise ValueError(f"Channels ({channels}) must be divisible by mbstd num_channels ({num_channels}).")
    y = x.reshape(group, batch_size // group, num_channels, channels // num_channels, height, width)
    y = y.to(torch.float32) if x.dtype in (torch.float16, torch.bfloat16) else y
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + eps).sqrt()  # (m, f, c, h, w)
    y = y.mean(dim=[2, 3, 4])  # (m, f)
    y = y.reshape(-1, num_channels, 1, 1).repeat(group, 1, height, width)  # (b, f, h, w)
    return torch.cat([x, y.to(x.dtype)], dim=1)


class FullyConnectedLayer(nn.Module):
    """Fully connected layer with equalised learning rate.

    Stores `weight ~ N(0, 1) / lr_multiplier` and uses `weight * lr_multiplier / sqrt(in_features)`
    at runtime (the bias is stored divided by, and used multiplied by, `lr_multiplier`).

    Args:
        in_features (`int`): input size.
        out_features (`int`): output size.
        bias (`bool`, *optional*, defaults to `True`): add a bias.
        lr_multiplier (`float`, *optional*, defaults to 1.0): learning-rate multiplier.
        activation (`str`, *optional*, defaults to `"linear"`): activation for `bias_act`.
        bias_init (`float`, *optional*, defaults to 0.0): initial effective bias.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        lr_multiplier: float = 1.0,
        activation: str = "linear",
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATION_DEFAULTS:
            raise ValueError(f"Unknown activation {activation!r}; expected one of {sorted(ACTIVATION_DEFAULTS)}.")
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.weight_gain = self.lr_multiplier / math.sqrt(in_features)
        self.bias_gain = self.lr_multiplier
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Sets `weight ~ N(0, 1 / lr_multiplier**2)` and `bias = bias_init / lr_multiplier`."""
        nn.init.normal_(self.weight, 0.0, 1.0 / self.lr_multiplier)
        if self.bias is not None:
            nn.init.constant_(self.bias, self.bias_init / self.lr_multiplier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps `(batch_size, in_features)` to `(batch_size, out_features)`."""
        _assert_shape(x, [None, self.in_features], "x")
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"activation={self.activation}, lr_multiplier={self.lr_multiplier:g}"
        )


class Conv2dLayer(nn.Module):
    """2-D convolution with equalised learning rate, optional FIR resampling, activation and clamp.

    Stores `weight ~ N(0, 1)` and uses `weight / sqrt(in_channels * kernel_size**2)` at runtime.

    Args:
        in_channels (`int`): input channels.
        out_channels (`int`): output channels.
        kernel_size (`int`): odd square kernel size; padding is `kernel_size // 2`.
        bias (`bool`, *optional*, defaults to `True`): add a bias.
        activation (`str`, *optional*, defaults to `"linear"`): activation for `bias_act`.
        up (`int`, *optional*, defaults to 1): upsampling factor (see `conv2d_resample`).
        down (`int`, *optional*, defaults to 1): downsampling factor.
        resample_filter (`Sequence[float]`, *optional*, defaults to `(1, 3, 3, 1)`): FIR taps.
        conv_clamp (`float`, *optional*): clamp the output to `[-conv_clamp, conv_clamp]`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATION_DEFAULTS:
            raise ValueError(f"Unknown activation {activation!r}; expected one of {sorted(ACTIVATION_DEFAULTS)}.")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = ACTIVATION_DEFAULTS[activation][1]
        self.resample_taps = tuple(float(t) for t in resample_filter)
        filt = setup_filter(self.resample_taps) if (up > 1 or down > 1) else None
        self.register_buffer("resample_filter", filt, persistent=True)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Sets `weight ~ N(0, 1)`, `bias = 0` and rebuilds the FIR filter."""
        nn.init.normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        if self.resample_filter is not None:
            self.resample_filter.copy_(setup_filter(self.resample_taps))

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """Maps `(batch_size, in_channels, height, width)` to `(batch_size, out_channels, out_height, out_width)`."""
        _assert_shape(x, [None, self.in_channels, None, None], "x")
        w = self.weight.to(x.dtype) * self.weight_gain
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        b = None if self.bias is None else self.bias.to(x.dtype)
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
            f"activation={self.activation}, up={self.up}, down={self.down}"
        )
