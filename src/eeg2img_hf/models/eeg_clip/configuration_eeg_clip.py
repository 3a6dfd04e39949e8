"""Configuration of EEGClip: an EEG tower and an image tower trained with a CLIP loss (WACV 2024, sec. 3.3)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from transformers import AutoConfig, PreTrainedConfig

from .common import IMAGENET_MEAN, IMAGENET_STD, build_vision_config, config_from_preset, vision_feature_dim
from .configuration_eeg_encoder import EEGEncoderConfig

__all__ = ["CLIP_MODEL_PRESETS", "EEGClipConfig"]

#: Named presets: keyword overrides of the defaults. Sub-configs are given as dicts (copied on use).
CLIP_MODEL_PRESETS: dict[str, dict[str, Any]] = {
    # The authors' EEGClip (docs/authors-code.md, 'EEGClip'): 1-layer LSTM (128 units), ResNet-50 frozen, 256-D joint
    # space, fixed logit scale e^0.5. These are the defaults.
    "authors": {"encoder_config": {"lstm_num_layers": 1, "lstm_hidden_size": 128, "normalize_embeds": False}},
    # Trains from scratch on 2 CPU cores: a small LSTM and a 4-stage basic-block ResNet at 64 px, both trained,
    # with a learnable logit scale starting at CLIP's 1/0.07 (the fixed e^0.5 learns very slowly from scratch).
    "cpu-small": {
        "encoder_config": {"lstm_num_layers": 1, "lstm_hidden_size": 64, "embed_dim": 64, "normalize_embeds": False},
        "vision_config": {"model_type": "resnet", "embedding_size": 16, "hidden_sizes": [16, 32, 64, 128],
                          "depths": [1, 1, 1, 1], "layer_type": "basic"},
        "projection_dim": 64,
        "logit_scale_init_value": math.log(1 / 0.07),
        "learnable_logit_scale": True,
        "freeze_vision_tower": False,
        "image_size": 64,
    },
    # THINGS-EEG2 (17 channels x 100 samples at 100 Hz): an EEG tower suited to that input, a frozen pretrained image
    # tower loaded with `vision_model` (e.g. a CLIP vision model; its image settings replace these), a 256-D joint
    # space and CLIP's learnable logit scale. The compact temporal-spatial convolution tower ...
    "things-eeg2-tsconv": {
        "encoder_config": {"architecture": "tsconv", "tsconv_filters": 40, "tsconv_kernel_size": 13,
                           "tsconv_depth_multiplier": 1, "tsconv_pool_size": 20, "tsconv_pool_stride": 5,
                           "tsconv_dropout": 0.5, "embed_dim": 256, "input_normalization": "none",
                           "normalize_embeds": False},
        "projection_dim": 256, "logit_scale_init_value": math.log(1 / 0.07), "learnable_logit_scale": True,
    },
    # ... the paper's LSTM (1 layer of 128 units over the 100 time steps) ...
    "things-eeg2-lstm": {
        "encoder_config": {"architecture": "lstm", "lstm_num_layers": 1, "lstm_hidden_size": 128, "embed_dim": 128,
                           "input_normalization": "none", "normalize_embeds": False},
        "projection_dim": 256, "logit_scale_init_value": math.log(1 / 0.07), "learnable_logit_scale": True,
    },
    # ... and the paper's CNN (four stride-2 blocks of 128/256/512/1024 filters reduce 100 x 17 to 7 x 2; batch norm).
    "things-eeg2-cnn": {
        "encoder_config": {"architecture": "cnn", "cnn_channels": [128, 256, 512, 1024], "cnn_norm": "batch",
                           "cnn_dropout": 0.05, "embed_dim": 128, "input_normalization": "none",
                           "normalize_embeds": False},
        "projection_dim": 256, "logit_scale_init_value": math.log(1 / 0.07), "learnable_logit_scale": True,
    },
    # ATM's EEG encoder (Li et al., NeurIPS 2024; `EEGEncoderConfig(architecture="atm")`) for 17 x 100 input at
    # 100 Hz: token size n_times = 100, 4 heads, 1 layer, feed-forward 256, dropout 0.25; the convolution's kernel,
    # pool and stride scaled from ATM's 25 / 51 / 5 samples at 250 Hz to 10 / 20 / 2 at 100 Hz (the same 0.1 s,
    # 0.2 s and 20 ms; 40 filters x 36 pooled steps = ATM's 1,440 features); a 1024-D output and joint space
    # (ATM's CLIP embedding size).
    "things-eeg2-atm": {
        "encoder_config": {"architecture": "atm", "atm_conv_kernel_size": 10, "atm_pool_size": 20,
                           "atm_pool_stride": 2, "embed_dim": 1024, "input_normalization": "none",
                           "normalize_embeds": False},
        "projection_dim": 1024, "logit_scale_init_value": math.log(1 / 0.07), "learnable_logit_scale": True,
    },
    # UBP (Wu et al., CVPR 2025): the projection tower (flattened trial -> linear -> GELU residual block with
    # dropout 0.3 -> layer norm) into a 768-D space, a frozen pretrained image tower, CLIP's learnable logit scale.
    "things-eeg2-ubp": {
        "encoder_config": {"architecture": "mlp", "embed_dim": 768, "mlp_dropout": 0.3, "input_normalization": "none",
                           "normalize_embeds": False},
        "projection_dim": 768, "logit_scale_init_value": math.log(1 / 0.07), "learnable_logit_scale": True,
    },
    # For unit tests only (odd sizes expose transposed dimensions).
    "tiny": {
        "encoder_config": {"n_chans": 4, "n_times": 32, "lstm_num_layers": 1, "lstm_hidden_size": 10, "embed_dim": 12,
                           "normalize_embeds": False},
        "vision_config": {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 14],
                          "depths": [1, 1], "layer_type": "basic"},
        "projection_dim": 6,
        "image_size": 32,
    },
}


class EEGClipConfig(PreTrainedConfig):
    r"""
    Configuration of an [`EEGClipModel`]: an EEG encoder and an image backbone projected into one joint space
    and trained with a symmetric CLIP loss ("EEGClip", Singh et al., WACV 2024, sec. 3.3). The defaults are the
    authors' settings (preset `"authors"`): a 1-layer LSTM with 128 units, transformers' ResNet-50 layout
    (`ResNetConfig()`) kept frozen, a 256-D joint space and a fixed logit scale `exp(0.5)`. A config holds no
    weights: build the model with [`EEGClipModel.from_vision_pretrained`] to load a pretrained tower (e.g.
    `microsoft/resnet-50`, the paper's).

    Args:
        encoder_config (`EEGEncoderConfig` or `dict`, *optional*):
            The EEG tower. Defaults to `EEGEncoderConfig(lstm_num_layers=1, normalize_embeds=False)`.
        vision_config (`PreTrainedConfig` or `dict`, *optional*):
            Any transformers vision backbone config (`ResNetConfig`, `ConvNextConfig`, `CLIPVisionConfig`, ...)
            whose `AutoModel` returns a `pooler_output`. A dict needs its `model_type`. Defaults to `ResNetConfig()`.
        projection_dim (`int`, *optional*, defaults to 256):
            Size of the joint embedding space.
        logit_scale_init_value (`float`, *optional*, defaults to 0.5):
            Initial value of the log logit scale: logits are `exp(logit_scale) * cos(eeg, image)` (authors: 0.5,
            i.e. a scale of about 1.65, which they call "temperature 0.5").
        learnable_logit_scale (`bool`, *optional*, defaults to `False`):
            Train `logit_scale` (CLIP) instead of keeping it fixed (the authors).
        freeze_vision_tower (`bool`, *optional*, defaults to `True`):
            Keep the image backbone frozen and in eval mode (only the image projection trains).
        image_size (`int`, *optional*, defaults to 224):
            Side of the square centre crop fed to the image backbone.
        image_resize_size (`int`, *optional*):
            Shortest edge after resizing, before the crop. Defaults to `round(image_size * 232 / 224)` (the
            torchvision ResNet-50 V2 transform the authors used: resize 232, crop 224).
        image_mean (`list[float]`, *optional*, defaults to the ImageNet mean):
            Per-channel mean for normalisation (after rescaling to [0, 1]).
        image_std (`list[float]`, *optional*, defaults to the ImageNet std):
            Per-channel standard deviation for normalisation.
        image_resample (`int`, *optional*, defaults to 2):
            PIL resampling filter of the resize (2 = bilinear, as torchvision's ResNet-50 transforms; 3 = bicubic).
        vision_model_name_or_path (`str`, *optional*):
            Hub repo id or folder the vision tower's weights were loaded from (set by
            [`EEGClipModel.from_vision_pretrained`]; `None` = not loaded: random init, or trained from scratch when
            the tower is not frozen). A record only: building a model from the config loads nothing.
        vision_model_revision (`str`, *optional*):
            Commit of that Hub repo (`None` for a local folder).
        vision_weights_sha256 (`str`, *optional*):
            sha256 of the weights file the tower was loaded from.

    Example:

    ```python
    >>> config = EEGClipConfig.from_preset("tiny")
    >>> config.projection_dim, config.vision_config.model_type
    (6, 'resnet')
    ```
    """

    model_type = "eeg2img_eeg_clip"
    sub_configs = {"encoder_config": EEGEncoderConfig, "vision_config": AutoConfig}

    def __init__(
        self,
        encoder_config: EEGEncoderConfig | dict[str, Any] | None = None,
        vision_config: PreTrainedConfig | dict[str, Any] | None = None,
        projection_dim: int = 256,
        logit_scale_init_value: float = 0.5,
        learnable_logit_scale: bool = False,
        freeze_vision_tower: bool = True,
        image_size: int = 224,
        image_resize_size: int | None = None,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        image_resample: int = 2,
        vision_model_name_or_path: str | None = None,
        vision_model_revision: str | None = None,
        vision_weights_sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        if encoder_config is None:
            encoder_config = EEGEncoderConfig(lstm_num_layers=1, normalize_embeds=False)
        elif isinstance(encoder_config, dict):
            encoder_config = EEGEncoderConfig(**encoder_config)
        elif not isinstance(encoder_config, EEGEncoderConfig):
            raise ValueError(
                f"encoder_config must be an EEGEncoderConfig or a dict, got {type(encoder_config).__name__}"
            )
        self.encoder_config = encoder_config
        self.vision_config = build_vision_config(vision_config)
        self.projection_dim = projection_dim
        self.logit_scale_init_value = float(logit_scale_init_value)
        self.learnable_logit_scale = bool(learnable_logit_scale)
        self.freeze_vision_tower = bool(freeze_vision_tower)
        self.image_size = image_size
        self.image_resize_size = round(image_size * 232 / 224) if image_resize_size is None else image_resize_size
        self.image_mean = [float(v) for v in image_mean]
        self.image_std = [float(v) for v in image_std]
        self.image_resample = image_resample
        self.vision_model_name_or_path = vision_model_name_or_path
        self.vision_model_revision = vision_model_revision
        self.vision_weights_sha256 = vision_weights_sha256
        self._validate()
        super().__init__(**kwargs)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> EEGClipConfig:
        """Builds a config from a named preset (`"authors"`, `"cpu-small"`, `"things-eeg2-tsconv"`,
        `"things-eeg2-lstm"`, `"things-eeg2-cnn"`, `"things-eeg2-atm"`, `"things-eeg2-ubp"`, `"tiny"`) plus
        overrides.

        A dict given for `encoder_config` or `vision_config` updates the preset's dict (so
        `encoder_config={"n_chans": 14}` keeps the preset's LSTM size); a config object replaces it.
        """
        return config_from_preset(cls, CLIP_MODEL_PRESETS, name, overrides)

    @property
    def vision_embed_dim(self) -> int:
        """Size of the image backbone's pooled features (input of `image_projection`)."""
        return vision_feature_dim(self.vision_config)

    @property
    def num_channels(self) -> int:
        """Channels of `pixel_values` expected by the image backbone."""
        return int(getattr(self.vision_config, "num_channels", 3))

    def _validate(self) -> None:
        """Raises `ValueError` naming the first invalid field."""
        for name, value in (("projection_dim", self.projection_dim), ("image_size", self.image_size),
                            ("image_resize_size", self.image_resize_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.image_resize_size < self.image_size:
            raise ValueError(
                f"`image_resize_size` ({self.image_resize_size}) must be >= `image_size` ({self.image_size}) "
                "so the centre crop fits."
            )
        if not math.isfinite(self.logit_scale_init_value):
            raise ValueError(f"`logit_scale_init_value` must be finite, got {self.logit_scale_init_value}.")
        channels = self.num_channels
        for name, values in (("image_mean", self.image_mean), ("image_std", self.image_std)):
            if len(values) != channels:
                raise ValueError(f"`{name}` needs {channels} values (one per channel), got {values}.")
        if min(self.image_std) <= 0:
            raise ValueError(f"`image_std` values must be > 0, got {self.image_std}.")
        if isinstance(self.image_resample, bool) or self.image_resample not in range(6):
            raise ValueError(f"`image_resample` must be a PIL resampling code 0..5, got {self.image_resample!r}.")
        self.vision_embed_dim  # noqa: B018  (raises for a backbone without a pooled size)
