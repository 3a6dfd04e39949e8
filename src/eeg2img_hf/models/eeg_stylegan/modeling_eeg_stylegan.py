"""EEGStyleGAN-ADA: a StyleGAN2 generator and projection discriminator conditioned on EEG embeddings.

Written from the StyleGAN2 / StyleGAN2-ADA papers (Karras et al. 2020) and the EEGStyleGAN-ADA
paper (Singh et al., "Learning Robust Deep Visual Representations from EEG and Brain Recordings",
WACV 2024), in which the class vector of StyleGAN2-ADA is a 128-D EEG embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_eeg_stylegan import EEGStyleGANConfig
from .modeling_eeg_encoder import EEGEncoderModel
from .ops_stylegan import (
    Conv2dLayer,
    FullyConnectedLayer,
    _assert_shape,
    bias_act,
    minibatch_std,
    modulated_conv2d,
    normalize_2nd_moment,
    setup_filter,
    upsample2d,
)

__all__ = [
    "EEGStyleGANPreTrainedModel",
    "EEGStyleGANGenerator",
    "EEGStyleGANDiscriminator",
    "EEGStyleGANGeneratorOutput",
    "EEGStyleGANDiscriminatorOutput",
    "EEGStyleGANModel",
    "EEGStyleGANModelOutput",
    "MappingNetwork",
    "SynthesisNetwork",
]

NOISE_MODES = ("random", "const", "none")
TRUNCATION_PSI_RANGE = (-1.0, 2.0)
"""Accepted `truncation_psi` values (inclusive): 1 = no truncation, 0 = `w_avg`, 0..1 the usual range, slightly
above 1 exaggerates. Values beyond this only give broken images; NaN/inf would give all-NaN images."""
TRUNCATION_CENTERS = ("average", "condition")
"""Where truncation pulls `w`: `"average"` = the tracked `w_avg` over all conditions (StyleGAN2-ADA's truncation
trick), `"condition"` = the mean `w` of the sample's own condition (conditional truncation)."""
CONDITION_CENTER_SAMPLES = 64
"""Latents (fixed: `torch.randn` with seed 0 on the CPU) averaged for a conditional truncation centre."""


def _check_truncation(
    truncation_psi: float, truncation_cutoff: int | None, num_ws: int | None, truncation_center: str = "average"
) -> None:
    """Raises `ValueError` unless `truncation_psi` is a finite number in `TRUNCATION_PSI_RANGE`,
    `truncation_cutoff` is `None` or an integer in `[0, num_ws]` and `truncation_center` one of
    `TRUNCATION_CENTERS`."""
    if truncation_center not in TRUNCATION_CENTERS:
        raise ValueError(f"`truncation_center` must be one of {TRUNCATION_CENTERS}, got {truncation_center!r}.")
    low, high = TRUNCATION_PSI_RANGE
    try:  # ints, floats, numpy scalars and one-element tensors; never bools or strings
        psi = None if isinstance(truncation_psi, (bool, str, bytes)) else float(truncation_psi)
    except (TypeError, ValueError, RuntimeError):
        psi = None
    if psi is None or not (math.isfinite(psi) and low <= psi <= high):
        raise ValueError(f"`truncation_psi` must be a finite number in [{low}, {high}] (1 = no truncation, 0 = the "
                         f"average latent), got {truncation_psi!r}.")
    if truncation_cutoff is not None and (
        isinstance(truncation_cutoff, bool) or not hasattr(type(truncation_cutoff), "__index__")
        or truncation_cutoff < 0
        or (num_ws is not None and truncation_cutoff > num_ws)
    ):
        raise ValueError(f"`truncation_cutoff` must be None or an integer in [0, {num_ws}] (num_ws), got "
                         f"{truncation_cutoff!r}.")


def _check_tensor(value: object, name: str, dim: int, batch_size: int | None = None) -> None:
    """Raises `ValueError` unless `value` is a finite floating-point tensor of shape `(batch_size, dim)`."""
    expected = f"({'batch_size' if batch_size is None else batch_size}, {dim})"
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        what = f"dtype {value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"`{name}` must be a floating-point torch.Tensor of shape {expected}, got {what}.")
    if value.ndim != 2 or value.shape[1] != dim or value.shape[0] == 0 or (
        batch_size is not None and value.shape[0] != batch_size
    ):
        raise ValueError(f"Expected `{name}` of shape {expected}, got {tuple(value.shape)}.")
    _check_finite(value, name)


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raises `ValueError` when a floating-point `tensor` holds NaN or inf values (naming the rows)."""
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        rows = (~torch.isfinite(tensor)).reshape(tensor.shape[0], -1).any(dim=1).nonzero().flatten()[:10].tolist()
        raise ValueError(f"`{name}` contains NaN or inf values (rows {rows}).")


@dataclass
class EEGStyleGANGeneratorOutput(ModelOutput):
    """
    Output of [`EEGStyleGANGenerator`].

    Args:
        images (`torch.Tensor` of shape `(batch_size, img_channels, img_resolution, img_resolution)`):
            generated images, roughly in `[-1, 1]` (not clamped).
        ws (`torch.Tensor` of shape `(batch_size, num_ws, w_dim)`): the (truncated) intermediate latents.
    """

    images: torch.Tensor | None = None
    ws: torch.Tensor | None = None


@dataclass
class EEGStyleGANDiscriminatorOutput(ModelOutput):
    """
    Output of [`EEGStyleGANDiscriminator`].

    Args:
        logits (`torch.Tensor` of shape `(batch_size, 1)`): real/fake logits.
        class_logits (`torch.Tensor` of shape `(batch_size, num_classes)`, *optional*): the auxiliary class
            head's logits (only with `config.discriminator_class_head`).
    """

    logits: torch.Tensor | None = None
    class_logits: torch.Tensor | None = None


def _channels_per_resolution(channel_base: int, channel_max: int, img_resolution: int) -> dict[int, int]:
    """Returns `{resolution: min(channel_base // resolution, channel_max)}` for 4 .. img_resolution."""
    resolutions = [2**i for i in range(2, img_resolution.bit_length())]
    return {res: min(channel_base // res, channel_max) for res in resolutions}


def _fp16_resolution(img_resolution: int, num_fp16_res: int) -> int:
    """Lowest resolution computed in float16 (the `num_fp16_res` highest ones, never 4x4)."""
    return max(2 ** (img_resolution.bit_length() - num_fp16_res), 8)


class MappingNetwork(nn.Module):
    """Maps `(z, conditioning)` to `w`: embed + normalise conditioning, concat with normalised `z`, lrelu MLP.

    With `z_dim=0` it maps the conditioning alone (the discriminator's projection embedding).

    Args:
        z_dim (`int`): latent size (0 = no latent).
        c_dim (`int`): conditioning size (EEG embedding or one-hot).
        w_dim (`int`): output size.
        num_ws (`int`, *optional*): broadcast the output to `(batch_size, num_ws, w_dim)`; `None` keeps
            `(batch_size, w_dim)`.
        num_layers (`int`, *optional*, defaults to 8): MLP depth.
        lr_multiplier (`float`, *optional*, defaults to 0.01): learning-rate multiplier of the MLP.
        w_avg_beta (`float`, *optional*, defaults to 0.995): EMA decay of `w_avg`; `None` disables
            tracking and truncation.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        self.embed = FullyConnectedLayer(c_dim, w_dim)
        features = [z_dim + w_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            FullyConnectedLayer(features[i], features[i + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            for i in range(num_layers)
        )
        self.register_buffer("w_avg", torch.zeros(w_dim) if w_avg_beta is not None else None, persistent=True)
        # Affine standardisation of the conditioning, `(c - conditioning_shift) * conditioning_scale`; identity
        # unless a trainer sets it from the training embeddings (see `set_conditioning_standardization`).
        self.register_buffer("conditioning_shift", torch.zeros(c_dim), persistent=True)
        self.register_buffer("conditioning_scale", torch.ones(c_dim), persistent=True)

    def set_conditioning_standardization(self, shift: torch.Tensor, scale: torch.Tensor) -> None:
        """Sets the conditioning standardisation `(c - shift) * scale` (vectors of size `c_dim`).

        A trained EEG encoder's embeddings can all lie in a narrow cone (unit vectors whose class differences are
        small next to their common mean direction); centring and rescaling them lets the embedding layer see the
        class differences at unit scale from the first step. The values are stored with the weights.
        """
        for name, value in (("shift", shift), ("scale", scale)):
            if value.shape != (self.c_dim,) or not torch.isfinite(value).all():
                raise ValueError(f"conditioning {name} must be a finite vector of size {self.c_dim}, got "
                                 f"shape {tuple(value.shape)}")
        if (scale <= 0).any():
            raise ValueError("conditioning scale must be positive")
        self.conditioning_shift.copy_(shift)
        self.conditioning_scale.copy_(scale)

    def forward(
        self,
        latents: torch.Tensor | None,
        conditioning: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_w_avg: bool | None = None,
        truncation_center: str = "average",
    ) -> torch.Tensor:
        """
        Args:
            latents (`torch.Tensor` of shape `(batch_size, z_dim)`): `z`; `None` when `z_dim == 0`.
            conditioning (`torch.Tensor` of shape `(batch_size, c_dim)`): EEG embeddings or one-hot vectors.
            truncation_psi (`float`, *optional*, defaults to 1.0): `w <- center + psi * (w - center)`, a finite
                number in `TRUNCATION_PSI_RANGE` = [-1, 2].
            truncation_cutoff (`int`, *optional*): truncate only the first `truncation_cutoff` ws (0..num_ws).
            update_w_avg (`bool`, *optional*): update the `w_avg` EMA; defaults to `self.training`.
            truncation_center (`str`, *optional*, defaults to `"average"`): `center` = `w_avg` (`"average"`) or,
                per sample, the mean `w` of its own condition over `CONDITION_CENTER_SAMPLES` fixed latents
                (`"condition"`: pulls each image towards its condition's typical image rather than towards the
                average over all conditions, so the condition is kept while the variety shrinks).

        Returns:
            `torch.Tensor` of shape `(batch_size, num_ws, w_dim)` (or `(batch_size, w_dim)` if `num_ws` is None).
        """
        _check_truncation(truncation_psi, truncation_cutoff, self.num_ws, truncation_center)
        batch_size = conditioning.shape[0]
        _assert_shape(conditioning, [batch_size, self.c_dim], "conditioning")
        if self.z_dim > 0:
            if latents is None:
                raise ValueError(f"Expected `latents` of shape ({batch_size}, {self.z_dim}), got None.")
            _assert_shape(latents, [batch_size, self.z_dim], "latents")
        x = self._map(latents, conditioning)
        if self.w_avg is not None and (self.training if update_w_avg is None else update_w_avg):
            self.w_avg.copy_(x.detach().mean(dim=0).to(self.w_avg.dtype).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)  # (b, num_ws, w_dim)
        if truncation_psi != 1:
            if self.w_avg is None or self.num_ws is None:
                raise ValueError("Truncation needs `w_avg` tracking and `num_ws`.")
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            center = self.w_avg if truncation_center == "average" else self.condition_center(conditioning)[:, None]
            x = torch.cat([center.to(x.dtype).lerp(x[:, :cutoff], truncation_psi), x[:, cutoff:]], dim=1)
        return x

    def _map(self, latents: torch.Tensor | None, conditioning: torch.Tensor) -> torch.Tensor:
        """Standardise + embed + normalise the conditioning, concatenate the normalised `z`, run the MLP."""
        conditioning = (conditioning - self.conditioning_shift) * self.conditioning_scale
        x = normalize_2nd_moment(self.embed(conditioning.to(self.embed.weight.dtype)))
        if self.z_dim > 0:
            x = torch.cat([normalize_2nd_moment(latents.to(x.dtype)), x], dim=1)
        for layer in self.layers:
            x = layer(x)
        return x

    def condition_center(self, conditioning: torch.Tensor) -> torch.Tensor:
        """The mean `w` of each sample's condition, `(batch_size, w_dim)`: the mapping of `CONDITION_CENTER_SAMPLES`
        fixed latents (seed 0, so the centre of a condition is the same in every call) averaged per sample."""
        if self.z_dim == 0:
            return self._map(None, conditioning)
        samples = CONDITION_CENTER_SAMPLES
        fixed = torch.randn(samples, self.z_dim, generator=torch.Generator().manual_seed(0))
        latents = fixed.to(conditioning.device).repeat(conditioning.shape[0], 1)  # z_0..z_K-1 for every sample
        ws = self._map(latents, conditioning.repeat_interleave(samples, dim=0))
        return ws.view(conditioning.shape[0], samples, -1).mean(dim=1)


class SynthesisLayer(nn.Module):
    """Modulated, demodulated 3x3 convolution + per-pixel noise + bias + lrelu (optionally upsampling)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        resample_filter: tuple[float, ...] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution, self.up = in_channels, out_channels, resolution, up
        self.padding, self.conv_clamp = kernel_size // 2, conv_clamp
        self.act_gain = math.sqrt(2.0)
        self.resample_taps = tuple(resample_filter)
        self.register_buffer("resample_filter", setup_filter(self.resample_taps) if up > 1 else None)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool = True,
        gain: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Maps `x` `(batch_size, in_channels, r / up, r / up)` and `w` `(batch_size, w_dim)` to
        `(batch_size, out_channels, r, r)`."""
        styles = self.affine(w)  # (b, in)
        noise = None
        if noise_mode == "random":
            shape = (x.shape[0], 1, self.resolution, self.resolution)
            noise = torch.randn(shape, device=x.device, dtype=torch.float32, generator=generator)
            noise = noise * self.noise_strength
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(
            x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
            resample_filter=self.resample_filter, fused_modconv=fused_modconv,
        )
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, act="lrelu", gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution (no demodulation) from features to image channels."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        """Maps `(batch_size, in_channels, r, r)` to `(batch_size, img_channels, r, r)`."""
        styles = self.affine(w) * self.weight_gain  # equalised lr folded into the styles
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (const input or 2x-upsampling conv) + conv (+ ToRGB)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: tuple[float, ...] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        use_fp16: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.resample_taps = tuple(resample_filter)
        # filter for upsampling the skip image; the first block has no image to upsample
        self.register_buffer("resample_filter", setup_filter(self.resample_taps) if in_channels else None)
        layer_kwargs = {"w_dim": w_dim, "resolution": resolution, "conv_clamp": conv_clamp}
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, up=2, resample_filter=self.resample_taps, **layer_kwargs
            )
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer_kwargs)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1 if (is_last or architecture == "skip") else 0
        if self.num_torgb:
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, 1, bias=False, up=2, resample_filter=self.resample_taps)

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "const",
        fused_modconv: bool = True,
        force_fp32: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Takes features `(batch_size, in_channels, r/2, r/2)`, image `(batch_size, img_channels, r/2, r/2)` and
        `ws` `(batch_size, num_conv + num_torgb, w_dim)`; returns features and image at resolution `r`."""
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        kwargs = {"noise_mode": noise_mode, "fused_modconv": fused_modconv, "generator": generator}
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w_iter), **kwargs)
        elif self.architecture == "resnet":
            x = x.to(dtype)
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), **kwargs)
            x = y + self.conv1(x, next(w_iter), gain=math.sqrt(0.5), **kwargs)
        else:
            x = self.conv0(x.to(dtype), next(w_iter), **kwargs)
            x = self.conv1(x, next(w_iter), **kwargs)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """Maps `ws` `(batch_size, num_ws, w_dim)` to images `(batch_size, img_channels, img_resolution, img_resolution)`.

    A learned 4x4 constant followed by one block per resolution; channels at resolution `r` are
    `min(channel_base // r, channel_max)`.
    """

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        architecture: str = "skip",
        resample_filter: tuple[float, ...] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        num_fp16_res: int = 0,
    ) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        channels = _channels_per_resolution(channel_base, channel_max, img_resolution)
        fp16_resolution = _fp16_resolution(img_resolution, num_fp16_res)
        self.blocks = nn.ModuleList()
        self.num_ws = 0
        for res, out_channels in channels.items():
            block = SynthesisBlock(
                channels.get(res // 2, 0) if res > 4 else 0, out_channels, w_dim=w_dim, resolution=res,
                img_channels=img_channels, is_last=res == img_resolution, architecture=architecture,
                resample_filter=tuple(resample_filter), conv_clamp=conv_clamp,
                use_fp16=num_fp16_res > 0 and res >= fp16_resolution,
            )
            self.blocks.append(block)
            self.num_ws += block.num_conv + (block.num_torgb if res == img_resolution else 0)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        fused_modconv: bool | None = None,
        force_fp32: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """
        Args:
            ws (`torch.Tensor` of shape `(batch_size, num_ws, w_dim)`): per-layer intermediate latents.
            noise_mode (`str`, *optional*, defaults to `"const"`): `"random"`, `"const"` (stored noise) or `"none"`.
            fused_modconv (`bool`, *optional*): grouped-conv modulation (`modulated_conv2d`); defaults to
                `True` for a batch of one (a plain conv) and `False` otherwise (faster for batches on CPU).
            force_fp32 (`bool`, *optional*, defaults to `False`): ignore `num_fp16_res`.
            generator (`torch.Generator`, *optional*): RNG for `noise_mode="random"`.

        Returns:
            `torch.Tensor` of shape `(batch_size, img_channels, img_resolution, img_resolution)`, float32.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"`noise_mode` must be one of {NOISE_MODES}, got {noise_mode!r}.")
        _assert_shape(ws, [None, self.num_ws, self.w_dim], "ws")
        fused_modconv = ws.shape[0] == 1 if fused_modconv is None else fused_modconv
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for block in self.blocks:
            block_ws = ws[:, w_idx : w_idx + block.num_conv + block.num_torgb]
            x, img = block(x, img, block_ws, noise_mode, fused_modconv, force_fp32, generator)
            w_idx += block.num_conv
        return img


class DiscriminatorBlock(nn.Module):
    """One resolution of the discriminator: (FromRGB) + conv + 2x-downsampling conv (+ residual skip)."""

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        img_channels: int,
        architecture: str = "orig",
        resample_filter: tuple[float, ...] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        use_fp16: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.architecture, self.use_fp16 = in_channels, architecture, use_fp16
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            tmp_channels, out_channels, 3, activation="lrelu", down=2, resample_filter=resample_filter,
            conv_clamp=conv_clamp,
        )
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor, force_fp32: bool = False) -> torch.Tensor:
        """Maps features `(batch_size, in_channels, r, r)` (the image `(batch_size, img_channels, r, r)` for the
        first block) to `(batch_size, out_channels, r/2, r/2)`."""
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        x = self.fromrgb(img.to(dtype)) if self.in_channels == 0 else x.to(dtype)
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            return y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch-std, conv, FC, FC to `cmap_dim`, then projection onto `cmap`."""

    def __init__(
        self,
        in_channels: int,
        cmap_dim: int,
        mbstd_group_size: int = 32,
        mbstd_num_channels: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.cmap_dim, self.mbstd_group_size, self.mbstd_num_channels = cmap_dim, mbstd_group_size, mbstd_num_channels
        extra = mbstd_num_channels if mbstd_group_size > 0 else 0
        self.conv = Conv2dLayer(in_channels + extra, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * 16, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, cmap_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Maps `(batch_size, in_channels, 4, 4)` to the penultimate features `(batch_size, in_channels)`
        (minibatch-std, conv, FC; float32)."""
        x = x.to(torch.float32)
        if self.mbstd_group_size > 0:
            x = minibatch_std(x, self.mbstd_group_size, self.mbstd_num_channels)
        return self.fc(self.conv(x).flatten(1))

    def project(self, features: torch.Tensor, cmap: torch.Tensor) -> torch.Tensor:
        """Logits `<out(features), cmap> / sqrt(cmap_dim)` of shape `(batch_size, 1)`."""
        return (self.out(features) * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor) -> torch.Tensor:
        """Maps `(batch_size, in_channels, 4, 4)` and `cmap` `(batch_size, cmap_dim)` to logits `(batch_size, 1)`."""
        return self.project(self.features(x), cmap)


class EEGStyleGANPreTrainedModel(PreTrainedModel):
    """Shared base of the generator and the discriminator: config class and weight initialisation."""

    config_class = EEGStyleGANConfig
    config: EEGStyleGANConfig
    base_model_prefix = "eeg_stylegan"
    input_modalities = "image"
    _no_split_modules = ["SynthesisBlock", "DiscriminatorBlock"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Equalised-lr init: weights N(0, 1) (/ lr multiplier), biases to their init, noise strengths 0,
        constants and stored noise N(0, 1), `w_avg` 0 and the FIR filters rebuilt from their taps."""
        if isinstance(module, FullyConnectedLayer):
            init.normal_(module.weight, mean=0.0, std=1.0 / module.lr_multiplier)
            if module.bias is not None:
                init.constant_(module.bias, module.bias_init / module.lr_multiplier)
        elif isinstance(module, (Conv2dLayer, SynthesisLayer, ToRGBLayer)):
            init.normal_(module.weight, mean=0.0, std=1.0)
            if module.bias is not None:
                init.zeros_(module.bias)
        if isinstance(module, SynthesisLayer):
            init.zeros_(module.noise_strength)
            init.normal_(module.noise_const, mean=0.0, std=1.0)
        elif isinstance(module, SynthesisBlock) and module.in_channels == 0:
            init.normal_(module.const, mean=0.0, std=1.0)
        elif isinstance(module, MappingNetwork):
            if module.w_avg is not None:
                init.zeros_(module.w_avg)
            init.zeros_(module.conditioning_shift)
            init.ones_(module.conditioning_scale)
        if getattr(module, "resample_filter", None) is not None:
            init.copy_(module.resample_filter, setup_filter(module.resample_taps))

    def prepare_conditioning(
        self, batch_size: int, eeg_embeds: torch.Tensor | None = None, class_labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Returns the conditioning vector `(batch_size, conditioning_dim)` for the configured conditioning.

        Args:
            batch_size (`int`): expected batch size.
            eeg_embeds (`torch.Tensor` of shape `(batch_size, embed_dim)`, *optional*): for `conditioning="eeg"`.
            class_labels (`torch.Tensor`, *optional*): for `conditioning="onehot"`: integer labels
                `(batch_size,)` or one-hot vectors `(batch_size, num_classes)`.
        """
        config = self.config
        if config.conditioning == "eeg":
            if eeg_embeds is None or class_labels is not None:
                raise ValueError("conditioning='eeg' needs `eeg_embeds` (and no `class_labels`).")
            _assert_shape(eeg_embeds, [batch_size, config.embed_dim], "eeg_embeds")
            return eeg_embeds
        if class_labels is None or eeg_embeds is not None:
            raise ValueError("conditioning='onehot' needs `class_labels` (and no `eeg_embeds`).")
        if class_labels.ndim == 1 and not class_labels.is_floating_point():
            _assert_shape(class_labels, [batch_size], "class_labels")
            if class_labels.min() < 0 or class_labels.max() >= config.num_classes:
                raise ValueError(f"`class_labels` must be in [0, {config.num_classes}), got {class_labels.tolist()}.")
            return nn.functional.one_hot(class_labels, config.num_classes).to(torch.float32)
        _assert_shape(class_labels, [batch_size, config.num_classes], "class_labels")
        return class_labels


class EEGStyleGANGenerator(EEGStyleGANPreTrainedModel):
    """
    StyleGAN2 generator conditioned on EEG embeddings (EEGStyleGAN-ADA, Singh et al., WACV 2024).

    `mapping` turns `(latents, conditioning)` into `ws` `(batch_size, num_ws, w_dim)` and `synthesis` turns `ws`
    into images; both can be called separately (style mixing, w-space editing). The EEG embedding is
    StyleGAN2-ADA's class vector: embedded by an FC layer, normalised and concatenated with the normalised `z`.

    Args:
        config ([`EEGStyleGANConfig`]): model configuration.
    """

    main_input_name = "latents"

    def __init__(self, config: EEGStyleGANConfig) -> None:
        super().__init__(config)
        synthesis = SynthesisNetwork(
            w_dim=config.w_dim, img_resolution=config.img_resolution, img_channels=config.img_channels,
            channel_base=config.synthesis_channel_base, channel_max=config.synthesis_channel_max,
            architecture=config.architecture, resample_filter=tuple(config.resample_filter),
            conv_clamp=config.conv_clamp, num_fp16_res=config.num_fp16_res,
        )
        self.num_ws = synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=config.z_dim, c_dim=config.conditioning_dim, w_dim=config.w_dim, num_ws=self.num_ws,
            num_layers=config.mapping_num_layers, lr_multiplier=config.mapping_lr_multiplier,
            w_avg_beta=config.mapping_w_avg_beta,
        )
        self.synthesis = synthesis
        self.post_init()

    def forward(
        self,
        latents: torch.Tensor,
        eeg_embeds: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        truncation_center: str = "average",
    ) -> EEGStyleGANGeneratorOutput | tuple[torch.Tensor, ...]:
        """
        Args:
            latents (`torch.Tensor` of shape `(batch_size, z_dim)`): `z ~ N(0, I)`.
            eeg_embeds (`torch.Tensor` of shape `(batch_size, embed_dim)`, *optional*): EEG embeddings
                (`conditioning="eeg"`).
            class_labels (`torch.Tensor` of shape `(batch_size,)` or `(batch_size, num_classes)`, *optional*):
                labels or one-hot vectors (`conditioning="onehot"`).
            truncation_psi (`float`, *optional*, defaults to 1.0): truncation strength (1 = none, 0 = `w_avg`), a
                finite number in `TRUNCATION_PSI_RANGE` = [-1, 2] (0..1 is the usual range).
            truncation_cutoff (`int`, *optional*): truncate only the first `truncation_cutoff` ws (0..num_ws).
            noise_mode (`str`, *optional*, defaults to `"const"`): `"random"`, `"const"` or `"none"`.
            generator (`torch.Generator`, *optional*): RNG for `noise_mode="random"`.
            return_dict (`bool`, *optional*): return a tuple when `False` (default: `config.return_dict`).
            truncation_center (`str`, *optional*, defaults to `"average"`): `"average"` (`w_avg`, StyleGAN2-ADA) or
                `"condition"` (each condition's own mean `w`; see [`MappingNetwork.forward`]).

        Outside training (`self.training` False), NaN/inf in `latents` or the conditioning are refused with a
        `ValueError` (during training the check is skipped: it would synchronise the device every phase). The pass
        changes no process-wide state; for faster CPU generation wrap calls in `eeg2img_hf.fast_cpu_generation()`.

        Returns:
            [`EEGStyleGANGeneratorOutput`] with `images` `(batch_size, img_channels, img_resolution,
            img_resolution)` and `ws` `(batch_size, num_ws, w_dim)`.
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if latents.ndim != 2:
            expected = f"(batch_size, {self.config.z_dim})"
            raise ValueError(f"Expected `latents` of shape {expected}, got {tuple(latents.shape)}.")
        conditioning = self.prepare_conditioning(latents.shape[0], eeg_embeds, class_labels)
        if not self.training:
            _check_finite(latents, "latents")
            _check_finite(conditioning, "eeg_embeds" if eeg_embeds is not None else "class_labels")
        ws = self.mapping(latents, conditioning, truncation_psi=truncation_psi,
                          truncation_cutoff=truncation_cutoff, truncation_center=truncation_center)
        images = self.synthesis(ws, noise_mode=noise_mode, generator=generator)
        output = EEGStyleGANGeneratorOutput(images=images, ws=ws)
        return output if return_dict else output.to_tuple()


class EEGStyleGANDiscriminator(EEGStyleGANPreTrainedModel):
    """
    StyleGAN2 projection discriminator conditioned on EEG embeddings (training only).

    Image path: FromRGB and 2x-downsampling conv blocks (`"orig"` or `"resnet"`) down to 4x4, minibatch-std,
    conv, FC, FC to `cmap_dim` (the 4x4 channel count). Conditioning path: a mapping MLP maps the
    conditioning vector to `cmap`; `logits = <features, cmap> / sqrt(cmap_dim)`. With
    `config.discriminator_class_head` an FC head maps the same penultimate features to `num_classes` logits
    (the auxiliary classifier of AC-GAN, Odena et al. 2017; `train-gan --class-loss-weight`).

    Args:
        config ([`EEGStyleGANConfig`]): model configuration.
    """

    main_input_name = "images"

    def __init__(self, config: EEGStyleGANConfig) -> None:
        super().__init__(config)
        channels = _channels_per_resolution(
            config.discriminator_channel_base, config.discriminator_channel_max, config.img_resolution
        )
        fp16_resolution = _fp16_resolution(config.img_resolution, config.num_fp16_res)
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(
                channels[res] if res < config.img_resolution else 0, channels[res], channels[res // 2],
                img_channels=config.img_channels, architecture=config.discriminator_architecture,
                resample_filter=tuple(config.resample_filter), conv_clamp=config.conv_clamp,
                use_fp16=config.num_fp16_res > 0 and res >= fp16_resolution,
            )
            for res in sorted(channels, reverse=True)
            if res > 4
        )
        if config.img_resolution == 4:  # no downsampling block: FromRGB straight into the epilogue
            self.fromrgb = Conv2dLayer(
                config.img_channels, channels[4], 1, activation="lrelu", conv_clamp=config.conv_clamp
            )
        self.mapping = MappingNetwork(
            z_dim=0, c_dim=config.conditioning_dim, w_dim=channels[4], num_ws=None,
            num_layers=config.discriminator_mapping_num_layers, lr_multiplier=config.mapping_lr_multiplier,
            w_avg_beta=None,
        )
        self.epilogue = DiscriminatorEpilogue(
            channels[4], cmap_dim=channels[4], mbstd_group_size=config.mbstd_group_size,
            mbstd_num_channels=config.mbstd_num_channels, conv_clamp=config.conv_clamp,
        )
        self.class_head = (  # AC-GAN's auxiliary classifier (train-gan --class-loss-weight)
            FullyConnectedLayer(channels[4], config.num_classes) if config.discriminator_class_head else None
        )
        self.post_init()

    def forward(
        self,
        images: torch.Tensor,
        eeg_embeds: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> EEGStyleGANDiscriminatorOutput | tuple[torch.Tensor, ...]:
        """
        Args:
            images (`torch.Tensor` of shape `(batch_size, img_channels, img_resolution, img_resolution)`):
                real or generated images in `[-1, 1]`.
            eeg_embeds (`torch.Tensor` of shape `(batch_size, embed_dim)`, *optional*): EEG embeddings.
            class_labels (`torch.Tensor`, *optional*): labels or one-hot vectors (`conditioning="onehot"`).
            return_dict (`bool`, *optional*): return a tuple when `False` (default: `config.return_dict`).

        Returns:
            [`EEGStyleGANDiscriminatorOutput`] with `logits` of shape `(batch_size, 1)` and, with a class head,
            `class_logits` of shape `(batch_size, num_classes)`.
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        res, channels = self.config.img_resolution, self.config.img_channels
        _assert_shape(images, [None, channels, res, res], "images")
        conditioning = self.prepare_conditioning(images.shape[0], eeg_embeds, class_labels)
        x = None
        for block in self.blocks:
            x = block(x, images)
        if x is None:
            x = self.fromrgb(images)
        features = self.epilogue.features(x)
        logits = self.epilogue.project(features, self.mapping(None, conditioning))
        class_logits = None if self.class_head is None else self.class_head(features)
        output = EEGStyleGANDiscriminatorOutput(logits=logits, class_logits=class_logits)
        return output if return_dict else output.to_tuple()


@dataclass
class EEGStyleGANModelOutput(ModelOutput):
    """Output of [`EEGStyleGANModel`].

    Args:
        images (`torch.Tensor` of shape `(batch_size, img_channels, img_resolution, img_resolution)`):
            generated images, roughly in [-1, 1] (not clamped).
        eeg_embeds (`torch.Tensor` of shape `(batch_size, embed_dim)`, *optional*): the conditioning embeddings.
        ws (`torch.Tensor` of shape `(batch_size, num_ws, w_dim)`): the intermediate latents.
    """

    images: torch.Tensor | None = None
    eeg_embeds: torch.Tensor | None = None
    ws: torch.Tensor | None = None


_HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")
"""`from_pretrained` options that locate a saved config (passed on when [`EEGStyleGANModel.from_pretrained`] reads
the config to see which class was saved)."""


class EEGStyleGANModel(EEGStyleGANPreTrainedModel):
    """EEG trial -> image: a frozen EEG encoder followed by the EEG-conditioned generator (its EMA weights).

    One repository id is one working model: `EEGStyleGANModel.from_pretrained("org/eegstylegan-cvpr40")`.
    With `conditioning="onehot"` (the paper's ablation) there is no encoder and `class_labels` condition.

    Args:
        config ([`EEGStyleGANConfig`]): generator configuration with `encoder_config` as a sub-config.
    """

    main_input_name = "eeg_values"

    def __init__(self, config: EEGStyleGANConfig) -> None:
        super().__init__(config)
        use_encoder = config.conditioning == "eeg" and config.encoder_config is not None
        self.eeg_encoder = EEGEncoderModel(config.encoder_config) if use_encoder else None
        self.generator = EEGStyleGANGenerator(config)
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs) -> EEGStyleGANPreTrainedModel:
        """`PreTrainedModel.from_pretrained`, except that a folder saved from the generator or the discriminator
        alone (its config's `architectures`) loads as that class: its weights do not fit the full model, and
        `AutoModel.from_pretrained(folder)` returns exactly the class that was saved."""
        config = kwargs.get("config")
        if not isinstance(config, EEGStyleGANConfig):
            hub = {k: kwargs[k] for k in _HUB_KWARGS if k in kwargs}
            config = EEGStyleGANConfig.from_pretrained(pretrained_model_name_or_path, **hub)
        parts = {part.__name__: part for part in (EEGStyleGANGenerator, EEGStyleGANDiscriminator)}
        saved = parts.get((config.architectures or [None])[0]) if len(config.architectures or []) == 1 else None
        if cls is EEGStyleGANModel and saved is not None:
            return saved.from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    def _conditioning(self, eeg_values, eeg_embeds, class_labels) -> tuple[torch.Tensor | None, int]:
        if eeg_values is not None:
            if self.eeg_encoder is None:
                raise ValueError("this model has no EEG encoder (encoder_config is None): pass `eeg_embeds`")
            if eeg_embeds is not None:
                raise ValueError("pass either `eeg_values` or `eeg_embeds`, not both")
            eeg_embeds = self.eeg_encoder(eeg_values=eeg_values, return_dict=True).eeg_embeds
        elif eeg_embeds is not None and self.config.conditioning == "eeg":
            _check_tensor(eeg_embeds, "eeg_embeds", self.config.embed_dim)
        source = eeg_embeds if eeg_embeds is not None else class_labels
        if source is None:
            raise ValueError("pass `eeg_values` or `eeg_embeds` (conditioning='eeg') or `class_labels` ('onehot')")
        if not isinstance(source, torch.Tensor):
            raise ValueError(f"`class_labels` must be a torch.Tensor, got {type(source).__name__}")
        return eeg_embeds, source.shape[0]

    def forward(
        self,
        eeg_values: torch.Tensor | None = None,
        eeg_embeds: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        latents: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        truncation_center: str = "average",
    ) -> EEGStyleGANModelOutput | tuple[torch.Tensor, ...]:
        """
        Args:
            eeg_values (`torch.Tensor` of shape `(batch_size, n_chans, n_times)`, *optional*): raw EEG trials.
            eeg_embeds (`torch.Tensor` of shape `(batch_size, embed_dim)`, *optional*): precomputed embeddings
                (floating point and finite: shape, NaN and inf are checked).
            class_labels (`torch.Tensor`, *optional*): labels or one-hot vectors for `conditioning="onehot"`.
            latents (`torch.Tensor` of shape `(batch_size, z_dim)`, *optional*): `z` (finite); drawn from
                `generator` when omitted.
            truncation_psi, truncation_cutoff, noise_mode, truncation_center: as in [`EEGStyleGANGenerator`]
                (`truncation_psi` a finite number in [-1, 2]; `truncation_center` `"average"` or `"condition"`).
            generator (`torch.Generator`, *optional*): RNG for `latents` and random noise.
            return_dict (`bool`, *optional*): return a tuple when `False` (default: `config.return_dict`).
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        _check_truncation(truncation_psi, truncation_cutoff, self.generator.num_ws, truncation_center)
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"`noise_mode` must be one of {NOISE_MODES}, got {noise_mode!r}.")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"`generator` must be a torch.Generator, got {type(generator).__name__}.")
        eeg_embeds, batch_size = self._conditioning(eeg_values, eeg_embeds, class_labels)
        if latents is not None:
            _check_tensor(latents, "latents", self.config.z_dim, batch_size)
        else:
            device = next(self.generator.parameters()).device
            latents = torch.randn(batch_size, self.config.z_dim, generator=generator, device=device)
        out = self.generator(
            latents, eeg_embeds=eeg_embeds, class_labels=class_labels, truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff, noise_mode=noise_mode, generator=generator, return_dict=True,
            truncation_center=truncation_center,
        )
        output = EEGStyleGANModelOutput(images=out.images, eeg_embeds=eeg_embeds, ws=out.ws)
        return output if return_dict else output.to_tuple()
