"""Configuration of EEGStyleGAN-ADA (StyleGAN2-ADA conditioned on EEG embeddings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedConfig

from .common import config_from_preset, drop_registered_pipelines
from .configuration_eeg_encoder import EEGEncoderConfig

__all__ = ["EEGStyleGANConfig", "STYLEGAN_PRESETS"]

GENERATOR_ARCHITECTURES = ("orig", "skip", "resnet")
DISCRIMINATOR_ARCHITECTURES = ("orig", "resnet")
CONDITIONINGS = ("eeg", "onehot")

#: Named presets: overrides of the defaults (the defaults are the paper's "cifar-128" values).
STYLEGAN_PRESETS: dict[str, dict[str, Any]] = {
    # StyleGAN2-ADA 'cifar' spec at 128 px with c = 128-D EEG embedding (WACV 2024 setting).
    "cifar-128": {},
    # A small model that trains on a CPU: 128 channels at 4 and 8 px, 64 at 16 px, 32 at 32 px (G and D), and
    # mapping networks at the full learning rate (StyleGAN2 uses 0.01) so that the EEG condition is picked up within
    # minutes (docs/benchmarks.md: 2.3x fewer FLOPs per kimg than `cpu-small-wide` and higher validation accuracy
    # of the generated images at equal kimg).
    "cpu-small": {
        "img_resolution": 32,
        "z_dim": 64,
        "w_dim": 64,
        "synthesis_channel_base": 1024,
        "synthesis_channel_max": 128,
        "mapping_lr_multiplier": 1.0,
        "mbstd_group_size": 4,
        "discriminator_mapping_num_layers": 2,
    },
    # The former `cpu-small` (twice the channels at 16 and 32 px, StyleGAN2's mapping learning rate 0.01).
    "cpu-small-wide": {
        "img_resolution": 32,
        "z_dim": 64,
        "w_dim": 64,
        "synthesis_channel_base": 2048,
        "synthesis_channel_max": 128,
        "mbstd_group_size": 4,
        "discriminator_mapping_num_layers": 2,
    },
    # For unit tests only.
    "tiny": {
        "img_resolution": 16,
        "z_dim": 8,
        "w_dim": 8,
        "embed_dim": 12,
        "synthesis_channel_base": 128,
        "synthesis_channel_max": 16,
        "mapping_num_layers": 2,
        "discriminator_mapping_num_layers": 2,
        "mbstd_group_size": 2,
        "num_classes": 5,
    },
}

class EEGStyleGANConfig(PreTrainedConfig):
    r"""
    Configuration of [`EEGStyleGANGenerator`] and [`EEGStyleGANDiscriminator`]: StyleGAN2-ADA whose class
    vector is a 128-D EEG embedding ("EEGStyleGAN-ADA", Singh et al., WACV 2024). Defaults reproduce the
    paper's StyleGAN2-ADA 'cifar' configuration at 128 x 128 (preset `"cifar-128"`).

    Args:
        z_dim (`int`, *optional*, defaults to 512): size of the latent `z`.
        w_dim (`int`, *optional*, defaults to 512): size of the intermediate latent `w`.
        embed_dim (`int`, *optional*, defaults to 128): size of the EEG embedding (`conditioning="eeg"`).
        conditioning (`str`, *optional*, defaults to `"eeg"`): `"eeg"` (EEG embeddings) or `"onehot"`
            (class one-hot vectors through the same networks; the paper's ablation).
        num_classes (`int`, *optional*, defaults to 40): number of classes for `conditioning="onehot"`.
        img_resolution (`int`, *optional*, defaults to 128): output resolution, a power of 2 >= 4.
        img_channels (`int`, *optional*, defaults to 3): image channels.
        mapping_num_layers (`int`, *optional*, defaults to 2): FC layers of the generator's mapping network.
        mapping_lr_multiplier (`float`, *optional*, defaults to 0.01): learning-rate multiplier of the
            mapping MLPs (generator and discriminator).
        mapping_w_avg_beta (`float`, *optional*, defaults to 0.995): EMA decay of the tracked `w_avg`.
        synthesis_channel_base (`int`, *optional*, defaults to 32768): channels at resolution `r` are
            `min(synthesis_channel_base // r, synthesis_channel_max)`.
        synthesis_channel_max (`int`, *optional*, defaults to 512): maximum number of channels.
        architecture (`str`, *optional*, defaults to `"skip"`): generator architecture, `"orig"`, `"skip"`
            or `"resnet"`.
        conv_clamp (`float`, *optional*, defaults to 256): clamp of convolution outputs (`None` disables).
        num_fp16_res (`int`, *optional*, defaults to 0): number of highest resolutions computed in float16
            (the paper used 4 on GPU; keep 0 on CPU).
        resample_filter (`list[float]`, *optional*, defaults to `[1, 3, 3, 1]`): 1-D FIR taps for up- and
            downsampling.
        discriminator_architecture (`str`, *optional*, defaults to `"orig"`): `"orig"` or `"resnet"`.
        discriminator_channel_base (`int`, *optional*): defaults to `synthesis_channel_base`.
        discriminator_channel_max (`int`, *optional*): defaults to `synthesis_channel_max`.
        discriminator_mapping_num_layers (`int`, *optional*, defaults to 8): FC layers of the
            discriminator's conditioning mapping (projection discriminator).
        discriminator_class_head (`bool`, *optional*, defaults to `False`): give the discriminator an auxiliary
            `num_classes`-way class head on its penultimate features (AC-GAN; used by
            `train-gan --class-loss-weight`, not by the paper).
        mbstd_group_size (`int`, *optional*, defaults to 32): minibatch-std group size (0 disables).
        mbstd_num_channels (`int`, *optional*, defaults to 1): minibatch-std feature maps.
        encoder_config (`EEGEncoderConfig` or `dict`, *optional*): the EEG encoder that
            [`EEGStyleGANModel`] runs before the generator (`None`: the model takes `eeg_embeds` only).

    Example:

    ```python
    >>> config = EEGStyleGANConfig.from_preset("tiny")
    >>> config.img_resolution, config.conditioning_dim
    (16, 12)
    ```
    """

    model_type = "eeg2img_stylegan"
    sub_configs = {"encoder_config": EEGEncoderConfig}

    def __init__(
        self,
        z_dim: int = 512,
        w_dim: int = 512,
        embed_dim: int = 128,
        conditioning: str = "eeg",
        num_classes: int = 40,
        img_resolution: int = 128,
        img_channels: int = 3,
        mapping_num_layers: int = 2,
        mapping_lr_multiplier: float = 0.01,
        mapping_w_avg_beta: float = 0.995,
        synthesis_channel_base: int = 32768,
        synthesis_channel_max: int = 512,
        architecture: str = "skip",
        conv_clamp: float | None = 256,
        num_fp16_res: int = 0,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        discriminator_architecture: str = "orig",
        discriminator_channel_base: int | None = None,
        discriminator_channel_max: int | None = None,
        discriminator_mapping_num_layers: int = 8,
        discriminator_class_head: bool = False,
        mbstd_group_size: int = 32,
        mbstd_num_channels: int = 1,
        encoder_config: EEGEncoderConfig | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(encoder_config, dict):
            encoder_config = EEGEncoderConfig(**encoder_config)
        if encoder_config is not None and conditioning == "eeg" and encoder_config.embed_dim != embed_dim:
            raise ValueError(
                f"encoder_config.embed_dim ({encoder_config.embed_dim}) must equal embed_dim ({embed_dim})"
            )
        self.encoder_config = encoder_config
        self.z_dim = z_dim
        self.w_dim = w_dim
        self.embed_dim = embed_dim
        self.conditioning = conditioning
        self.num_classes = num_classes
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.mapping_num_layers = mapping_num_layers
        self.mapping_lr_multiplier = float(mapping_lr_multiplier)
        self.mapping_w_avg_beta = float(mapping_w_avg_beta)
        self.synthesis_channel_base = synthesis_channel_base
        self.synthesis_channel_max = synthesis_channel_max
        self.architecture = architecture
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.num_fp16_res = num_fp16_res
        self.resample_filter = [float(t) for t in resample_filter]
        self.discriminator_architecture = discriminator_architecture
        self.discriminator_channel_base = (
            synthesis_channel_base if discriminator_channel_base is None else discriminator_channel_base
        )
        self.discriminator_channel_max = (
            synthesis_channel_max if discriminator_channel_max is None else discriminator_channel_max
        )
        self.discriminator_mapping_num_layers = discriminator_mapping_num_layers
        self.discriminator_class_head = discriminator_class_head
        self.mbstd_group_size = mbstd_group_size
        self.mbstd_num_channels = mbstd_num_channels
        self._validate()
        drop_registered_pipelines(kwargs)
        super().__init__(**kwargs)

    @property
    def conditioning_dim(self) -> int:
        """Size of the conditioning vector fed to the mapping networks."""
        return self.embed_dim if self.conditioning == "eeg" else self.num_classes

    @property
    def num_ws(self) -> int:
        """Number of per-layer `w` vectors the synthesis network consumes."""
        return 2 * (self.img_resolution.bit_length() - 1) - 2

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> EEGStyleGANConfig:
        """Builds a config from a named preset (`"cifar-128"`, `"cpu-small"`, `"cpu-small-wide"`, `"tiny"`) plus
        overrides."""
        return config_from_preset(cls, STYLEGAN_PRESETS, name, overrides)

    def _validate(self) -> None:
        """Raises `ValueError` naming the first invalid field."""
        res = self.img_resolution
        if not isinstance(res, int) or res < 4 or res & (res - 1) != 0:
            raise ValueError(f"`img_resolution` must be a power of 2 >= 4, got {res!r}.")
        positive = {
            "z_dim": self.z_dim,
            "w_dim": self.w_dim,
            "embed_dim": self.embed_dim,
            "num_classes": self.num_classes,
            "img_channels": self.img_channels,
            "mapping_num_layers": self.mapping_num_layers,
            "synthesis_channel_base": self.synthesis_channel_base,
            "synthesis_channel_max": self.synthesis_channel_max,
            "discriminator_channel_base": self.discriminator_channel_base,
            "discriminator_channel_max": self.discriminator_channel_max,
            "discriminator_mapping_num_layers": self.discriminator_mapping_num_layers,
            "mbstd_num_channels": self.mbstd_num_channels,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        choices = {
            "conditioning": (self.conditioning, CONDITIONINGS),
            "architecture": (self.architecture, GENERATOR_ARCHITECTURES),
            "discriminator_architecture": (self.discriminator_architecture, DISCRIMINATOR_ARCHITECTURES),
        }
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, got {value!r}.")
        if not isinstance(self.discriminator_class_head, bool):
            value = self.discriminator_class_head
            raise ValueError(f"`discriminator_class_head` must be True or False, got {value!r}.")
        self._validate_numbers()

    def _validate_numbers(self) -> None:
        """Range checks of the numeric fields."""
        if min(self.synthesis_channel_base, self.discriminator_channel_base) < self.img_resolution:
            raise ValueError(
                f"Channel bases ({self.synthesis_channel_base}, {self.discriminator_channel_base}) must be >= "
                f"img_resolution ({self.img_resolution}) so every resolution has at least one channel."
            )
        if self.mapping_lr_multiplier <= 0:
            raise ValueError(f"`mapping_lr_multiplier` must be > 0, got {self.mapping_lr_multiplier}.")
        if not 0.0 <= self.mapping_w_avg_beta < 1.0:
            raise ValueError(f"`mapping_w_avg_beta` must be in [0, 1), got {self.mapping_w_avg_beta}.")
        if self.conv_clamp is not None and self.conv_clamp <= 0:
            raise ValueError(f"`conv_clamp` must be > 0 or None, got {self.conv_clamp}.")
        if not isinstance(self.num_fp16_res, int) or self.num_fp16_res < 0:
            raise ValueError(f"`num_fp16_res` must be a non-negative integer, got {self.num_fp16_res!r}.")
        if not isinstance(self.mbstd_group_size, int) or self.mbstd_group_size < 0:
            raise ValueError(f"`mbstd_group_size` must be a non-negative integer, got {self.mbstd_group_size!r}.")
        d_channels_4 = min(self.discriminator_channel_base // 4, self.discriminator_channel_max)
        if d_channels_4 % self.mbstd_num_channels != 0:
            raise ValueError(
                f"`mbstd_num_channels` ({self.mbstd_num_channels}) must divide the discriminator's 4x4 "
                f"channels ({d_channels_4})."
            )
        if len(self.resample_filter) == 0 or sum(self.resample_filter) == 0:
            raise ValueError(f"`resample_filter` must be non-empty with a non-zero sum, got {self.resample_filter}.")
