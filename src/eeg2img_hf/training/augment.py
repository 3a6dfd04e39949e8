"""Adaptive discriminator augmentation (ADA) for the EEG-conditioned StyleGAN2 discriminator.

Written from the maths of Karras et al., "Training Generative Adversarial Networks with Limited
Data", NeurIPS 2020 (appendix B), in plain PyTorch. The pipeline applies, in order:

1. pixel blitting: `xflip`, `rotate90`, `xint` (integer translation);
2. general geometric transforms: `scale` (isotropic), `rotate` (pre-rotation), `aniso`
   (anisotropic scale), `rotate` again (post-rotation), `xfrac` (fractional translation);
3. colour transforms: `brightness`, `contrast`, `lumaflip`, `hue`, `saturation`;
4. image-space filtering: `imgfilter` (4 frequency bands);
5. corruptions: `noise` (additive Gaussian), `cutout`.

Groups 1 and 2 are composed into one 3x3 matrix per sample and the image is resampled once.
Group 3 is composed into one 4x4 colour matrix per sample. Each augmentation is applied to each
sample independently with probability `p * multiplier`; the two rotations each use
`1 - sqrt(1 - p)` so that the probability of *any* rotation is `p`.

Geometric matrices map *output* pixel coordinates to *input* coordinates. Every parameter
distribution is symmetric under inversion (flip, rotation angle, log-normal scale, translation),
so the inverse matrices are sampled directly, as in the paper.

Simplifications with respect to the paper:

* Resampling of non-integer transforms uses bilinear `grid_sample` on a reflect-padded image,
  evaluated on a `supersample` x `supersample` finer output grid and box-averaged, instead of
  the paper's wavelet (sym6) 2x up-/down-sampling. Samples whose matrix is a pure integer
  transform (only blitting ops applied) are copied pixel by pixel, without any interpolation.
* The padding is shared by the batch and capped at the image size on each side; beyond it,
  `grid_sample`'s own (edge-symmetric) reflection is used, so no zeros ever leak in.
* `imgfilter` uses our own filter bank: Kaiser-windowed (beta 4) sinc low-pass filters with 25
  taps and cut-offs pi/8, pi/4, pi/2 (normalised to unit DC gain); the bands are their
  successive differences plus `delta - lowpass(pi/2)`, so the four bands sum exactly to the
  identity. The combined per-sample 1-D filter is applied separably along both axes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AUGMENT_PRESETS", "AdaController", "AugmentPipe"]

_BLIT = ("xflip", "rotate90", "xint")
_GEOM = ("scale", "rotate", "aniso", "xfrac")
_COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
_OTHER = ("imgfilter", "noise", "cutout")
_AUGMENTS = _BLIT + _GEOM + _COLOR + _OTHER


def _preset(*groups: tuple[str, ...]) -> dict[str, float]:
    return {name: 1.0 for group in groups for name in group}


AUGMENT_PRESETS: dict[str, dict[str, float]] = {
    "noaug": {},
    "b": _preset(_BLIT),
    "bg": _preset(_BLIT, _GEOM),
    "bgc": _preset(_BLIT, _GEOM, _COLOR),
    "bgcf": _preset(_BLIT, _GEOM, _COLOR, ("imgfilter",)),
    "bgcfn": _preset(_BLIT, _GEOM, _COLOR, ("imgfilter", "noise")),
    "bgcfnc": _preset(_BLIT, _GEOM, _COLOR, _OTHER),
}
"""Named multiplier sets (all strengths 1); the EEGStyleGAN-ADA runs use `"bgcfnc"`."""

# Expected relative power of the 4 imgfilter bands in natural images (paper, appendix B).
_BAND_POWER = (10.0 / 13.0, 1.0 / 13.0, 1.0 / 13.0, 1.0 / 13.0)
_FILTER_RADIUS = 12  # 25 taps
_FILTER_BETA = 4.0


# ---------------------------------------------------------------------------------------------
# Matrix builders (batched). 2-D: (batch, 3, 3) on (x, y, 1); colour: (batch, 4, 4) on (r, g, b, 1).


def _affine2d(
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    d: torch.Tensor,
    tx: torch.Tensor | None = None,
    ty: torch.Tensor | None = None,
) -> torch.Tensor:
    """Batched `[[a, b, tx], [c, d, ty], [0, 0, 1]]`, `(batch, 3, 3)`."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    tx = zero if tx is None else tx
    ty = zero if ty is None else ty
    rows = [torch.stack([a, b, tx], -1), torch.stack([c, d, ty], -1)]
    rows.append(torch.stack([zero, zero, one], -1))
    return torch.stack(rows, -2)


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    zero, one = torch.zeros_like(tx), torch.ones_like(tx)
    return _affine2d(one, zero, zero, one, tx, ty)


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(sx)
    return _affine2d(sx, zero, zero, sy)


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    cos, sin = torch.cos(theta), torch.sin(theta)
    return _affine2d(cos, -sin, sin, cos)


def _luma_axis(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Unit luma axis `(1, 1, 1) / sqrt(3)` in homogeneous colour space, `(4,)`."""
    return torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=dtype, device=device) / math.sqrt(3.0)


def _translate3d(t: torch.Tensor) -> torch.Tensor:
    """Adds `t` (batch,) to all three colour channels."""
    m = torch.eye(4, dtype=t.dtype, device=t.device).repeat(t.shape[0], 1, 1)
    shift = torch.stack([t, t, t, torch.zeros_like(t)], -1)
    return m + F.pad(shift[:, :, None], (3, 0))


def _scale3d(s: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(4, dtype=s.dtype, device=s.device)
    diag = torch.stack([s, s, s, torch.ones_like(s)], -1)
    return eye * diag[:, None, :]


def _luma_flip_matrix(flip: torch.Tensor) -> torch.Tensor:
    """Householder reflection `I - 2 v v^T` about the plane orthogonal to the luma axis where
    `flip` is 1, identity where it is 0."""
    v = _luma_axis(flip.dtype, flip.device)
    eye = torch.eye(4, dtype=flip.dtype, device=flip.device)
    return eye - 2.0 * torch.outer(v, v) * flip[:, None, None]


def _hue_rotation_matrix(theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues rotation by `theta` (batch,) around the luma axis."""
    v = _luma_axis(theta.dtype, theta.device)[:3]
    cross = torch.zeros(3, 3, dtype=theta.dtype, device=theta.device)
    cross[0, 1], cross[0, 2], cross[1, 2] = -v[2], v[1], -v[0]
    cross = cross - cross.T
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    eye3 = torch.eye(3, dtype=theta.dtype, device=theta.device)
    rot = cos * eye3 + sin * cross + (1.0 - cos) * torch.outer(v, v)
    return F.pad(rot, (0, 1, 0, 1)) + F.pad(torch.ones_like(theta)[:, None, None], (3, 0, 3, 0))


def _saturation_matrix(s: torch.Tensor) -> torch.Tensor:
    """`v v^T + (I - v v^T) s`: keeps the luma, scales the chroma by `s` (batch,)."""
    v = _luma_axis(s.dtype, s.device)
    eye = torch.eye(4, dtype=s.dtype, device=s.device)
    chroma = eye - torch.outer(v, v)
    chroma[3, 3] = 0.0  # the homogeneous coordinate is not scaled
    return eye + (s - 1.0)[:, None, None] * chroma  # written so that s == 1 is exactly I


# ---------------------------------------------------------------------------------------------
# Pixel-level helpers.


def _reflect_index(index: torch.Tensor, size: int) -> torch.Tensor:
    """Maps any integer index into `[0, size)` by mirror reflection about the edge pixel centres
    (`numpy.pad(mode="reflect")`), repeated as often as needed."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = torch.remainder(index, period)
    return torch.where(index >= size, period - index, index)


def _reflect_pad(images: torch.Tensor, pad_x: int, pad_y: int) -> torch.Tensor:
    """Reflect-pads the last two dims by any amount, also larger than the image.

    Mirror extension is periodic, so padding more than `size - 1` is done by reflecting the
    already padded image again (`F.pad` is much faster than an index gather on CPU).
    """
    if images.shape[-1] == 1:  # a single column: reflection degenerates to replication
        images, pad_x = F.pad(images, (pad_x, pad_x, 0, 0), mode="replicate"), 0
    if images.shape[-2] == 1:
        images, pad_y = F.pad(images, (0, 0, pad_y, pad_y), mode="replicate"), 0
    while pad_x > 0 or pad_y > 0:
        step_x, step_y = min(pad_x, images.shape[-1] - 1), min(pad_y, images.shape[-2] - 1)
        images = F.pad(images, (step_x, step_x, step_y, step_y), mode="reflect")
        pad_x, pad_y = pad_x - step_x, pad_y - step_y
    return images


def _lowpass(cutoff: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    taps = torch.arange(-_FILTER_RADIUS, _FILTER_RADIUS + 1, dtype=torch.float64)
    sinc = torch.sinc(cutoff / math.pi * taps)
    window = torch.kaiser_window(
        2 * _FILTER_RADIUS + 1, periodic=False, beta=_FILTER_BETA, dtype=torch.float64
    )
    h = sinc * window
    return (h / h.sum()).to(dtype=dtype, device=device)


def _filter_bank(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Four 1-D band filters for `[0, pi/8], [pi/8, pi/4], [pi/4, pi/2], [pi/2, pi]`, `(4, 25)`.

    The bands sum to the unit impulse, so unit gains give the identity filter.
    """
    lows = [_lowpass(math.pi / 2**k, dtype, device) for k in (3, 2, 1)]
    delta = torch.zeros_like(lows[0])
    delta[_FILTER_RADIUS] = 1.0
    return torch.stack([lows[0], lows[1] - lows[0], lows[2] - lows[1], delta - lows[2]])


def _filter_separable(images: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Filters each sample of `images` (n, C, H, W) with its own symmetric 1-D filter `taps`
    (n, L) along both axes, with reflection padding."""
    n, c, height, width = images.shape
    radius = (taps.shape[1] - 1) // 2
    x = _reflect_pad(images, radius, radius).reshape(1, n * c, height + 2 * radius, -1)
    weight = taps.repeat_interleave(c, dim=0)[:, None, None, :]  # (n*C, 1, 1, L)
    x = F.conv2d(x, weight, groups=n * c)
    x = F.conv2d(x, weight.transpose(2, 3), groups=n * c)
    return x.reshape(n, c, height, width)


def _blit(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Exact pixel copy for integer matrices (n, 3, 3) given in pixel-index coordinates."""
    n, c, height, width = images.shape
    m = matrix.round().long()
    ys, xs = torch.meshgrid(
        torch.arange(height, device=images.device),
        torch.arange(width, device=images.device),
        indexing="ij",
    )
    src_x = m[:, 0, 0, None, None] * xs + m[:, 0, 1, None, None] * ys + m[:, 0, 2, None, None]
    src_y = m[:, 1, 0, None, None] * xs + m[:, 1, 1, None, None] * ys + m[:, 1, 2, None, None]
    flat = _reflect_index(src_y, height) * width + _reflect_index(src_x, width)  # (n, H, W)
    flat = flat.reshape(n, 1, height * width).expand(n, c, height * width)
    return images.reshape(n, c, height * width).gather(2, flat).reshape(n, c, height, width)


def _resample(images: torch.Tensor, matrix: torch.Tensor, supersample: int) -> torch.Tensor:
    """Bilinear warp with matrices (n, 3, 3) in centred pixel coordinates (output -> input)."""
    n, c, height, width = images.shape
    half = torch.tensor([width / 2, height / 2], dtype=matrix.dtype, device=matrix.device)
    signs = torch.tensor([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=matrix.dtype)
    corners = signs.to(matrix.device) * half  # (4, 2)
    mapped = corners @ matrix[:, :2, :2].transpose(1, 2) + matrix[:, None, :2, 2]  # (n, 4, 2)
    excess = (mapped.abs() - half).amax(dim=(0, 1)).clamp(min=0.0).tolist()
    pad_x = min(math.ceil(excess[0]) + 1, width)  # +1: bilinear footprint
    pad_y = min(math.ceil(excess[1]) + 1, height)
    padded = _reflect_pad(images, pad_x, pad_y)
    to_out = torch.diag(torch.tensor([width / 2, height / 2, 1.0], dtype=matrix.dtype))
    to_in = torch.diag(
        torch.tensor([2 / (width + 2 * pad_x), 2 / (height + 2 * pad_y), 1.0], dtype=matrix.dtype)
    )
    theta = to_in.to(matrix.device) @ matrix @ to_out.to(matrix.device)
    size = [n, c, height * supersample, width * supersample]
    grid = F.affine_grid(theta[:, :2, :].to(images.dtype), size, align_corners=False)
    out = F.grid_sample(
        padded, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    return F.avg_pool2d(out, supersample) if supersample > 1 else out


def _warp(images: torch.Tensor, matrix: torch.Tensor, supersample: int) -> torch.Tensor:
    """Applies centred output->input matrices (batch, 3, 3): exact blit where possible."""
    _, _, height, width = images.shape
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=matrix.dtype)
    to_index = torch.eye(3, dtype=matrix.dtype).repeat(2, 1, 1)
    to_index[0, :2, 2], to_index[1, :2, 2] = centre, -centre
    index_matrix = to_index[0].to(matrix.device) @ matrix @ to_index[1].to(matrix.device)
    eye = torch.eye(3, dtype=matrix.dtype, device=matrix.device)
    is_int = ((index_matrix - index_matrix.round()).abs() < 1e-4).flatten(1).all(1)
    is_eye = (matrix == eye).flatten(1).all(1)  # untouched samples need no copy
    blit_idx = torch.nonzero(is_int & ~is_eye).flatten()
    warp_idx = torch.nonzero(~is_int).flatten()
    out = images  # out-of-place index_put keeps autograd intact
    if blit_idx.numel() > 0:
        out = out.index_put((blit_idx,), _blit(images[blit_idx], index_matrix[blit_idx]))
    if warp_idx.numel() > 0:
        warped = _resample(images[warp_idx], matrix[warp_idx], supersample)
        out = out.index_put((warp_idx,), warped)
    return out


def _apply_color(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Applies colour matrices (n, 4, 4) to RGB images (n, 3, H, W)."""
    linear = torch.einsum("nij,njhw->nihw", matrix[:, :3, :3], images)
    return linear + matrix[:, :3, 3, None, None]


def _non_identity(matrix: torch.Tensor) -> torch.Tensor:
    """Indices of the matrices (batch, k, k) that differ from the identity."""
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    return torch.nonzero((matrix != eye).flatten(1).any(1)).flatten()


# ---------------------------------------------------------------------------------------------


class AugmentPipe(nn.Module):
    """Differentiable ADA augmentation pipeline (Karras et al., NeurIPS 2020, appendix B).

    Each augmentation has a multiplier: it is applied to each sample independently with
    probability `p * multiplier` (clipped to 1); a multiplier of 0 disables it. `p` is a
    persistent buffer, normally driven by `AdaController`. Images are `(batch_size,
    num_channels, height, width)` floats in `[-1, 1]`; colour augmentations need 3 channels.
    The pipeline follows the global RNG of the input's device (`torch.manual_seed`).

    Args:
        p (`float`, *optional*, defaults to 0.0): initial augmentation probability.
        xflip, rotate90, xint, scale, rotate, aniso, xfrac, brightness, contrast, lumaflip, hue,
        saturation, imgfilter, noise, cutout (`float`, *optional*, defaults to 0.0):
            per-augmentation probability multipliers, see the module docstring for the order.
        xint_max (`float`, *optional*, defaults to 0.125): integer translation range, as a
            fraction of the image size (uniform).
        scale_std (`float`, *optional*, defaults to 0.2): log2 std of the isotropic scale.
        rotate_max (`float`, *optional*, defaults to 1.0): rotation range in units of pi.
        aniso_std (`float`, *optional*, defaults to 0.2): log2 std of the anisotropic scale.
        xfrac_std (`float`, *optional*, defaults to 0.125): std of the fractional translation,
            as a fraction of the image size.
        brightness_std (`float`, *optional*, defaults to 0.2): std of the additive brightness.
        contrast_std (`float`, *optional*, defaults to 0.5): log2 std of the contrast factor.
        hue_max (`float`, *optional*, defaults to 1.0): hue rotation range in units of pi.
        saturation_std (`float`, *optional*, defaults to 1.0): log2 std of the saturation.
        imgfilter_std (`float`, *optional*, defaults to 1.0): log2 std of each band's gain.
        noise_std (`float`, *optional*, defaults to 0.1): the noise std is `|N(0, noise_std^2)|`.
        cutout_size (`float`, *optional*, defaults to 0.5): cutout side, as a fraction of the image.
        supersample (`int`, *optional*, defaults to 2): output supersampling of the bilinear warp.

    Example:
        >>> pipe = AugmentPipe.from_preset("bgcfnc", p=0.2)
        >>> augmented = pipe(torch.rand(4, 3, 32, 32) * 2 - 1)
    """

    def __init__(
        self,
        *,
        p: float = 0.0,
        xflip: float = 0.0,
        rotate90: float = 0.0,
        xint: float = 0.0,
        scale: float = 0.0,
        rotate: float = 0.0,
        aniso: float = 0.0,
        xfrac: float = 0.0,
        brightness: float = 0.0,
        contrast: float = 0.0,
        lumaflip: float = 0.0,
        hue: float = 0.0,
        saturation: float = 0.0,
        imgfilter: float = 0.0,
        noise: float = 0.0,
        cutout: float = 0.0,
        xint_max: float = 0.125,
        scale_std: float = 0.2,
        rotate_max: float = 1.0,
        aniso_std: float = 0.2,
        xfrac_std: float = 0.125,
        brightness_std: float = 0.2,
        contrast_std: float = 0.5,
        hue_max: float = 1.0,
        saturation_std: float = 1.0,
        imgfilter_std: float = 1.0,
        noise_std: float = 0.1,
        cutout_size: float = 0.5,
        supersample: int = 2,
    ) -> None:
        super().__init__()
        values = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        bad = [k for k, v in values.items() if not math.isfinite(v) or v < 0]
        if bad:
            raise ValueError(f"AugmentPipe arguments must be finite and >= 0, got bad {bad}.")
        if not 0.0 <= cutout_size <= 1.0:
            raise ValueError(f"`cutout_size` must be in [0, 1], got {cutout_size}.")
        if int(supersample) != supersample or supersample < 1:
            raise ValueError(f"`supersample` must be a positive integer, got {supersample}.")
        for name, value in values.items():
            if name != "p":
                setattr(self, name, int(value) if name == "supersample" else float(value))
        self.register_buffer("p", torch.tensor(float(p)))

    @classmethod
    def from_preset(cls, name: str, **kwargs: Any) -> AugmentPipe:
        """Builds a pipe from a named preset (`"bgcfnc"`, `"bgc"`, `"bg"`, `"b"`, `"noaug"`, ...);
        keyword arguments override the preset's multipliers and the default strengths."""
        if name not in AUGMENT_PRESETS:
            known = list(AUGMENT_PRESETS)
            raise ValueError(f"Unknown augment preset {name!r}; expected one of {known}.")
        return cls(**{**AUGMENT_PRESETS[name], **kwargs})

    def extra_repr(self) -> str:
        enabled = ", ".join(f"{n}={getattr(self, n):g}" for n in _AUGMENTS if getattr(self, n) > 0)
        return f"p={float(self.p):.4f}, {enabled or 'no augmentations'}"

    def _enabled(self, names: tuple[str, ...]) -> bool:
        return any(getattr(self, name) > 0 for name in names)

    def _probability(self, multiplier: float, device: torch.device) -> torch.Tensor:
        return (self.p.to(device=device, dtype=torch.float32) * multiplier).clamp(0.0, 1.0)

    def _mask(self, probability: torch.Tensor, batch: int) -> torch.Tensor:
        return torch.rand(batch, device=probability.device) < probability

    @staticmethod
    def _lognormal(mask: torch.Tensor, std: float, ref: torch.Tensor) -> torch.Tensor:
        """`2 ** N(0, std^2)` where `mask`, else 1."""
        value = torch.exp2(torch.randn(mask.shape[0], dtype=ref.dtype, device=ref.device) * std)
        return torch.where(mask, value, torch.ones_like(value))

    @staticmethod
    def _uniform(mask: torch.Tensor, bound: float, ref: torch.Tensor) -> torch.Tensor:
        """`U(-bound, bound)` where `mask`, else 0."""
        value = torch.rand(mask.shape[0], dtype=ref.dtype, device=ref.device) * 2.0 - 1.0
        return torch.where(mask, value * bound, torch.zeros_like(value))

    def _check_images(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
            raise ValueError(f"`images` must be a 4-D tensor (batch, C, H, W), got {got}.")
        if not images.is_floating_point():
            raise ValueError(f"`images` must be floating point, got dtype {images.dtype}.")
        if self._enabled(_COLOR) and images.shape[1] != 3:
            raise ValueError(
                f"Colour augmentations ({', '.join(n for n in _COLOR if getattr(self, n) > 0)}) "
                f"need 3-channel RGB images, got {images.shape[1]} channels."
            )

    def _sample_geometric(self, ref: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """Output->input matrices in centred pixel coordinates, `(batch, 3, 3)`."""
        batch, device = ref.shape[0], ref.device
        matrix = torch.eye(3, dtype=ref.dtype, device=device).repeat(batch, 1, 1)
        ones = torch.ones(batch, dtype=ref.dtype, device=device)
        if self.xflip > 0:
            mask = self._mask(self._probability(self.xflip, device), batch)
            flip = torch.randint(2, (batch,), device=device).to(ref.dtype) * mask
            matrix = matrix @ _scale2d(1.0 - 2.0 * flip, ones)
        if self.rotate90 > 0:
            mask = self._mask(self._probability(self.rotate90, device), batch)
            quarter = torch.randint(4, (batch,), device=device) * mask  # exact cos/sin tables
            cos = torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=ref.dtype, device=device)[quarter]
            sin = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=ref.dtype, device=device)[quarter]
            matrix = matrix @ _affine2d(cos, -sin, sin, cos)
        if self.xint > 0:
            mask = self._mask(self._probability(self.xint, device), batch)
            tx = self._uniform(mask, self.xint_max, ref)
            ty = self._uniform(mask, self.xint_max, ref)
            matrix = matrix @ _translate2d(torch.round(tx * width), torch.round(ty * height))
        if self.scale > 0:
            mask = self._mask(self._probability(self.scale, device), batch)
            s = self._lognormal(mask, self.scale_std, ref)
            matrix = matrix @ _scale2d(s, s)
        # Pre- and post-rotation each with 1 - sqrt(1 - p): any rotation happens with prob p.
        p_rot = 1.0 - torch.sqrt(1.0 - self._probability(self.rotate, device))
        if self.rotate > 0:
            theta = self._uniform(self._mask(p_rot, batch), math.pi * self.rotate_max, ref)
            matrix = matrix @ _rotate2d(theta)
        if self.aniso > 0:
            mask = self._mask(self._probability(self.aniso, device), batch)
            s = self._lognormal(mask, self.aniso_std, ref)
            matrix = matrix @ _scale2d(s, 1.0 / s)
        if self.rotate > 0:
            theta = self._uniform(self._mask(p_rot, batch), math.pi * self.rotate_max, ref)
            matrix = matrix @ _rotate2d(theta)
        if self.xfrac > 0:
            mask = self._mask(self._probability(self.xfrac, device), batch)
            tx = torch.randn(batch, dtype=ref.dtype, device=device) * self.xfrac_std * mask
            ty = torch.randn(batch, dtype=ref.dtype, device=device) * self.xfrac_std * mask
            matrix = matrix @ _translate2d(tx * width, ty * height)
        return matrix

    def _sample_color(self, ref: torch.Tensor) -> torch.Tensor:
        """Colour matrices acting on homogeneous `(r, g, b, 1)`, `(batch, 4, 4)`."""
        batch, device = ref.shape[0], ref.device
        matrix = torch.eye(4, dtype=ref.dtype, device=device).repeat(batch, 1, 1)
        if self.brightness > 0:
            mask = self._mask(self._probability(self.brightness, device), batch)
            shift = torch.randn(batch, dtype=ref.dtype, device=device) * self.brightness_std
            matrix = _translate3d(shift * mask) @ matrix
        if self.contrast > 0:
            mask = self._mask(self._probability(self.contrast, device), batch)
            matrix = _scale3d(self._lognormal(mask, self.contrast_std, ref)) @ matrix
        if self.lumaflip > 0:
            mask = self._mask(self._probability(self.lumaflip, device), batch)
            flip = torch.randint(2, (batch,), device=device).to(ref.dtype) * mask
            matrix = _luma_flip_matrix(flip) @ matrix
        if self.hue > 0:
            mask = self._mask(self._probability(self.hue, device), batch)
            theta = self._uniform(mask, math.pi * self.hue_max, ref)
            matrix = _hue_rotation_matrix(theta) @ matrix
        if self.saturation > 0:
            mask = self._mask(self._probability(self.saturation, device), batch)
            s = self._lognormal(mask, self.saturation_std, ref)
            matrix = _saturation_matrix(s) @ matrix
        return matrix

    def _sample_filter_gains(self, ref: torch.Tensor) -> torch.Tensor:
        """Per-band amplifications `(batch, 4)`, each band boosted with probability p and the
        gains renormalised so that the expected image power is unchanged."""
        batch, device = ref.shape[0], ref.device
        power = torch.tensor(_BAND_POWER, dtype=ref.dtype, device=device)
        probability = self._probability(self.imgfilter, device)
        gains = torch.ones(batch, 4, dtype=ref.dtype, device=device)
        for band in range(4):
            mask = self._mask(probability, batch)
            t = torch.ones(batch, 4, dtype=ref.dtype, device=device)
            t[:, band] = self._lognormal(torch.ones_like(mask), self.imgfilter_std, ref)
            t = t / (t.square() @ power).sqrt()[:, None]
            gains = gains * torch.where(mask[:, None], t, torch.ones_like(t))
        return gains

    def _apply_imgfilter(self, images: torch.Tensor) -> torch.Tensor:
        gains = self._sample_filter_gains(images)
        index = torch.nonzero((gains != 1.0).any(1)).flatten()
        if index.numel() == 0:
            return images
        bank = _filter_bank(images.dtype, images.device)
        delta = torch.zeros_like(bank[0])
        delta[_FILTER_RADIUS] = 1.0
        taps = delta + (gains[index] - 1.0) @ bank  # unit gains give the exact identity
        return images.index_put((index,), _filter_separable(images[index], taps))

    def _apply_noise(self, images: torch.Tensor) -> torch.Tensor:
        batch = images.shape[0]
        mask = self._mask(self._probability(self.noise, images.device), batch)
        sigma = torch.randn(batch, dtype=images.dtype, device=images.device).abs() * self.noise_std
        return images + torch.randn_like(images) * (sigma * mask)[:, None, None, None]

    def _apply_cutout(self, images: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = images.shape
        mask = self._mask(self._probability(self.cutout, images.device), batch)
        centre = torch.rand(batch, 2, dtype=images.dtype, device=images.device)
        xs = (torch.arange(width, dtype=images.dtype, device=images.device) + 0.5) / width
        ys = (torch.arange(height, dtype=images.dtype, device=images.device) + 0.5) / height
        inside_x = (xs[None, :] - centre[:, :1]).abs() < self.cutout_size / 2  # (batch, W)
        inside_y = (ys[None, :] - centre[:, 1:]).abs() < self.cutout_size / 2  # (batch, H)
        hole = inside_y[:, :, None] & inside_x[:, None, :] & mask[:, None, None]
        return images * (~hole)[:, None].to(images.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Augments `images` `(batch_size, num_channels, height, width)`; returns the same shape.

        With `p == 0` (or no augmentation enabled) the input is returned unchanged.
        """
        self._check_images(images)
        if not self._enabled(_AUGMENTS) or float(self.p) <= 0.0:
            return images
        x = images if images.dtype in (torch.float32, torch.float64) else images.float()
        height, width = x.shape[-2:]
        if self._enabled(_BLIT + _GEOM):
            x = _warp(x, self._sample_geometric(x, width, height), self.supersample)
        if self._enabled(_COLOR):
            matrix = self._sample_color(x)
            index = _non_identity(matrix)
            if index.numel() > 0:
                x = x.index_put((index,), _apply_color(x[index], matrix[index]))
        if self.imgfilter > 0:
            x = self._apply_imgfilter(x)
        if self.noise > 0:
            x = self._apply_noise(x)
        if self.cutout > 0:
            x = self._apply_cutout(x)
        return x.to(images.dtype)


class AdaController:
    """Adaptive control of `AugmentPipe.p` from the discriminator's overfitting heuristic.

    `r_t = E[sign(D(real))]` is accumulated over `interval` minibatches; then
    `p <- max(0, p + sign(r_t - target) * N / (speed_kimg * 1000))`, where `N` is the number of
    real images seen in the interval (batch size x interval). With a batch of 64 the paper's
    settings move `p` by 0.000512 every 4 minibatches, i.e. from 0 to 1 in 500k images.

    Args:
        pipe (`AugmentPipe`): the pipeline whose `p` buffer is adjusted in place.
        target (`float`, *optional*, defaults to 0.6): target value of `r_t`.
        interval (`int`, *optional*, defaults to 4): minibatches between adjustments.
        speed_kimg (`float`, *optional*, defaults to 500.0): thousands of images for `p` to move
            by 1.

    Example:
        >>> pipe = AugmentPipe.from_preset("bgcfnc")
        >>> ada = AdaController(pipe)
        >>> logits = torch.ones(64)  # D(real) on one minibatch
        >>> for _ in range(4):
        ...     adjusted = ada.update(torch.sign(logits).sum(), logits.numel())
        >>> round(float(pipe.p), 6), ada.r_t
        (0.000512, 1.0)
    """

    def __init__(
        self,
        pipe: AugmentPipe,
        *,
        target: float = 0.6,
        interval: int = 4,
        speed_kimg: float = 500.0,
    ) -> None:
        if not isinstance(pipe, AugmentPipe):
            raise ValueError(f"`pipe` must be an AugmentPipe, got {type(pipe).__name__}.")
        if not -1.0 <= target <= 1.0:
            raise ValueError(f"`target` must be in [-1, 1], got {target}.")
        if int(interval) != interval or interval < 1:
            raise ValueError(f"`interval` must be a positive integer, got {interval}.")
        if not speed_kimg > 0:
            raise ValueError(f"`speed_kimg` must be > 0, got {speed_kimg}.")
        self.pipe = pipe
        self.target = float(target)
        self.interval = int(interval)
        self.speed_kimg = float(speed_kimg)
        self._sign_sum: float | torch.Tensor = 0.0
        self._count = 0
        self._num_batches = 0
        self._r_t: float | None = None

    @property
    def r_t(self) -> float | None:
        """`E[sign(D(real))]` over the last completed interval (`None` before the first)."""
        return self._r_t

    def update(self, real_logits_sign_sum: float | torch.Tensor, count: int) -> bool:
        """Records one minibatch: the sum of `sign(D(real))` over its `count` real images
        (gather and sum across processes first). Returns `True` when `p` was adjusted."""
        if int(count) != count or count < 1:
            raise ValueError(f"`count` must be a positive integer, got {count}.")
        if isinstance(real_logits_sign_sum, torch.Tensor):
            real_logits_sign_sum = real_logits_sign_sum.detach().sum()  # summed lazily, no sync
        self._sign_sum = self._sign_sum + real_logits_sign_sum
        self._count += int(count)
        self._num_batches += 1
        if self._num_batches < self.interval:
            return False
        r_t = float(self._sign_sum) / self._count
        if not -1.0 - 1e-6 <= r_t <= 1.0 + 1e-6:
            raise ValueError(
                f"Mean sign of D(real) is {r_t:.4f}, outside [-1, 1]: `real_logits_sign_sum` must "
                "be the sum of sign(logits) over `count` images."
            )
        sign = float(r_t > self.target) - float(r_t < self.target)
        step = sign * self._count / (self.speed_kimg * 1000.0)
        with torch.no_grad():
            self.pipe.p.copy_((self.pipe.p.double() + step).clamp(min=0.0))
        self._r_t = r_t
        self._sign_sum, self._count, self._num_batches = 0.0, 0, 0
        return True

    def state_dict(self) -> dict[str, Any]:
        """Checkpointable state (accumulators, last `r_t` and the current `p`)."""
        return {
            "p": float(self.pipe.p),
            "sign_sum": float(self._sign_sum),
            "count": self._count,
            "num_batches": self._num_batches,
            "r_t": self._r_t,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a `state_dict()`, including `pipe.p`."""
        missing = {"p", "sign_sum", "count", "num_batches", "r_t"} - set(state)
        if missing:
            raise ValueError(f"AdaController state is missing keys {sorted(missing)}.")
        if state["p"] < 0 or state["count"] < 0 or not 0 <= state["num_batches"] < self.interval:
            raise ValueError(f"Invalid AdaController state {state}.")
        with torch.no_grad():
            self.pipe.p.fill_(float(state["p"]))
        self._sign_sum = float(state["sign_sum"])
        self._count = int(state["count"])
        self._num_batches = int(state["num_batches"])
        self._r_t = None if state["r_t"] is None else float(state["r_t"])
