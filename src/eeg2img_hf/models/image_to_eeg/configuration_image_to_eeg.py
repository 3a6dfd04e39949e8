"""Configuration of the image -> EEG-space encoder (image -> EEG space -> image, WACV 2024 fig. 3d / fig. 7)."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PreTrainedConfig

from .common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_vision_config,
    config_from_preset,
    drop_registered_pipelines,
    vision_feature_dim,
)

__all__ = ["IMAGE_TO_EEG_PRESETS", "SUBJECT_CONDITIONINGS", "VISION_BACKBONES", "ImageToEEGConfig",
           "vision_feature_dim"]

VISION_BACKBONES = ("transformers", "torchvision-googlenet")
SUBJECT_CONDITIONINGS = ("embedding", "planes")
GOOGLENET_FEATURE_DIM = 1024

#: Named presets: overrides of the defaults (the defaults are the `"authors"` layout).
IMAGE_TO_EEG_PRESETS: dict[str, dict[str, Any]] = {
    # Frozen ImageNet-style backbone + Linear(1024) -> LeakyReLU -> Dropout(0.05) -> Linear(128, no bias), L2.
    # Deviation: transformers' ResNet-50 layout replaces the authors' torchvision GoogLeNet (no GoogLeNet in
    # transformers); `ImageToEEGModel.from_vision_pretrained` loads ImageNet weights (e.g. microsoft/resnet-50).
    "authors": {},
    # A small ResNet trained from scratch: minutes on a CPU (the simulated images are 64 px).
    "cpu-small": {
        "vision_config": {"model_type": "resnet", "embedding_size": 16, "hidden_sizes": [16, 32, 64, 128],
                          "depths": [1, 1, 1, 1], "layer_type": "basic"},
        "hidden_dim": 256,
        "freeze_vision_tower": False,
        "image_size": 64,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    },
    # For unit tests only.
    "tiny": {
        "vision_config": {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 12],
                          "depths": [1, 1], "layer_type": "basic"},
        "eeg_embed_dim": 12,
        "hidden_dim": 17,
        "freeze_vision_tower": False,
        "image_size": 16,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    },
}


class ImageToEEGConfig(PreTrainedConfig):
    r"""Configuration of an [`ImageToEEGModel`]: a vision backbone plus a head that maps an image into the
    embedding space of a trained EEG encoder (Singh et al., "Learning Robust Deep Visual Representations from
    EEG and Brain Recordings", WACV 2024, fig. 3d; the authors' `Image2EEG` code).

    The head is the authors': `Linear(feature_dim, hidden_dim) -> LeakyReLU -> Dropout(dropout) ->
    Linear(hidden_dim, eeg_embed_dim, bias=False)`, output L2-normalised. With `n_subjects` set, a learned
    subject embedding (one vector of size `feature_dim` per subject) is added to the pooled image features (the
    authors concatenated one-hot subject planes to the image instead: `subject_conditioning="planes"`). The subject
    is optional at inference: an image without a subject (or with subject `-1`) uses the mean of the subject
    embeddings, or with planes the mean plane value `1 / n_subjects` in every subject plane, which (the input
    convolution being linear) gives the average of the subjects' convolution outputs before the ReLU.

    The authors' exact layout (docs/authors-code.md, 'Image -> EEG encoder'; what
    `eeg2img convert-checkpoint image-to-eeg` builds) is
    `vision_backbone="torchvision-googlenet"` with `subject_conditioning="planes"`: torchvision's GoogLeNet
    architecture (built with `torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)`, its
    `fc` replaced by the identity: 1024 pooled features) behind a `Conv2d(3 + n_subjects -> 3, 3x3) + ReLU` over the
    image and one constant plane per subject (the subject's plane is ones, the others zeros).

    Args:
        vision_config (`PreTrainedConfig` or `dict`, *optional*):
            Any transformers vision backbone config; a dict needs a `model_type` key and is rebuilt with
            `AutoConfig.for_model`. Defaults to transformers' ResNet-50 layout (`ResNetConfig()`). Not used with
            `vision_backbone="torchvision-googlenet"`.
        vision_backbone (`str`, *optional*, defaults to `"transformers"`):
            `"transformers"` (`AutoModel.from_config(vision_config)`) or `"torchvision-googlenet"` (torchvision's
            GoogLeNet architecture, the authors' tower; needs torchvision).
        googlenet_transform_input (`bool`, *optional*, defaults to `True`):
            torchvision GoogLeNet's `transform_input` (re-scales ImageNet-normalised input to the `(x - 0.5) / 0.5`
            input its ImageNet weights were trained on; torchvision turns it on whenever those weights are loaded,
            as in the authors' model).
        subject_conditioning (`str`, *optional*, defaults to `"embedding"`):
            How `n_subjects` conditions the model: `"embedding"` (a learned vector added to the pooled features) or
            `"planes"` (the authors' one-hot planes concatenated to the image, mapped back to the image's channels
            by a trainable 3x3 convolution and a ReLU before the backbone).
        eeg_embed_dim (`int`, *optional*, defaults to 128):
            Size of the EEG embedding to predict (the EEG encoder's `embed_dim`).
        hidden_dim (`int`, *optional*, defaults to 1024):
            Width of the head's hidden layer.
        dropout (`float`, *optional*, defaults to 0.05):
            Dropout of the head.
        negative_slope (`float`, *optional*, defaults to 0.01):
            LeakyReLU slope of the head.
        freeze_vision_tower (`bool`, *optional*, defaults to `True`):
            Keep the backbone's weights fixed; it then also stays in eval mode (fixed BatchNorm statistics, no
            dropout) when the model is put in training mode (the authors' never-eval backbone is a bug).
        n_subjects (`int`, *optional*):
            Number of subjects (ids `1..n_subjects`, as in the datasets' `subject` column); `None` = no subject
            conditioning.
        image_size (`int`, *optional*, defaults to 224):
            Side of the square input of the backbone.
        image_resize_size (`int`, *optional*):
            Shortest edge after resizing, before a centre crop to `image_size`; `None` resizes straight to
            `image_size` x `image_size`.
        image_resample (`int`, *optional*, defaults to 2):
            PIL resampling filter of the resize (2 = bilinear, 3 = bicubic).
        image_mean (`list[float]`, *optional*, defaults to the ImageNet mean):
            Per-channel mean used to normalise `[0, 1]` pixels.
        image_std (`list[float]`, *optional*, defaults to the ImageNet std):
            Per-channel standard deviation used to normalise `[0, 1]` pixels.
        generator_name_or_path (`str`, *optional*):
            The `EEGStyleGANModel` (folder or Hub id) the `"image-to-eeg-to-image"` pipeline uses by default.
        vision_model_name_or_path (`str`, *optional*):
            Hub repo id or folder the backbone's weights were loaded from (set by
            [`ImageToEEGModel.from_vision_pretrained`]; `None` = not loaded: random init, or trained from scratch
            when the backbone is not frozen). A record only: building a model from the config loads nothing.
        vision_model_revision (`str`, *optional*):
            Commit of that Hub repo (`None` for a local folder).
        vision_weights_sha256 (`str`, *optional*):
            sha256 of the weights file the backbone was loaded from.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the subject embedding's normal init.

    Example:
        >>> from eeg2img_hf.models import ImageToEEGConfig
        >>> config = ImageToEEGConfig.from_preset("tiny")
        >>> config.vision_config.model_type, config.eeg_embed_dim
        ('resnet', 12)
    """

    model_type = "eeg2img_image_to_eeg"
    sub_configs = {"vision_config": AutoConfig}

    def __init__(
        self,
        vision_config: PreTrainedConfig | dict[str, Any] | None = None,
        eeg_embed_dim: int = 128,
        hidden_dim: int = 1024,
        dropout: float = 0.05,
        negative_slope: float = 0.01,
        freeze_vision_tower: bool = True,
        n_subjects: int | None = None,
        image_size: int = 224,
        image_mean: list[float] | tuple[float, ...] = tuple(IMAGENET_MEAN),
        image_std: list[float] | tuple[float, ...] = tuple(IMAGENET_STD),
        generator_name_or_path: str | None = None,
        initializer_range: float = 0.02,
        image_resize_size: int | None = None,
        image_resample: int = 2,
        vision_model_name_or_path: str | None = None,
        vision_model_revision: str | None = None,
        vision_weights_sha256: str | None = None,
        vision_backbone: str = "transformers",
        googlenet_transform_input: bool = True,
        subject_conditioning: str = "embedding",
        **kwargs: Any,
    ) -> None:
        if vision_backbone not in VISION_BACKBONES:
            raise ValueError(f"vision_backbone must be one of {VISION_BACKBONES}, got {vision_backbone!r}")
        if subject_conditioning not in SUBJECT_CONDITIONINGS:
            raise ValueError(f"subject_conditioning must be one of {SUBJECT_CONDITIONINGS}, got "
                             f"{subject_conditioning!r}")
        self.vision_backbone = vision_backbone
        self.googlenet_transform_input = bool(googlenet_transform_input)
        self.subject_conditioning = subject_conditioning
        self.vision_config = build_vision_config(vision_config)
        for name, value in (("eeg_embed_dim", eeg_embed_dim), ("hidden_dim", hidden_dim), ("image_size", image_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        bad_subjects = isinstance(n_subjects, bool) or not isinstance(n_subjects, int) or n_subjects < 1
        if n_subjects is not None and bad_subjects:
            raise ValueError(f"n_subjects must be a positive integer or None, got {n_subjects!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        image_mean, image_std = [float(v) for v in image_mean], [float(v) for v in image_std]
        channels = 3 if vision_backbone != "transformers" else getattr(self.vision_config, "num_channels", 3)
        if len(image_mean) != channels or len(image_std) != channels or min(image_std) <= 0:
            raise ValueError(f"image_mean and image_std need {channels} values (std > 0), got {image_mean} and "
                             f"{image_std}")
        vision_feature_dim(self.vision_config)  # raises for a backbone config without a known feature size
        bad_resize = isinstance(image_resize_size, bool) or not isinstance(image_resize_size, int)
        if image_resize_size is not None and (bad_resize or image_resize_size < image_size):
            raise ValueError(f"image_resize_size must be None or an integer >= image_size ({image_size}), got "
                             f"{image_resize_size!r}")
        if isinstance(image_resample, bool) or image_resample not in range(6):
            raise ValueError(f"image_resample must be a PIL resampling code 0..5, got {image_resample!r}")
        self.eeg_embed_dim = eeg_embed_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.negative_slope = negative_slope
        self.freeze_vision_tower = bool(freeze_vision_tower)
        self.n_subjects = n_subjects
        self.image_size = image_size
        self.image_mean = image_mean
        self.image_std = image_std
        self.generator_name_or_path = generator_name_or_path
        self.initializer_range = initializer_range
        self.image_resize_size = image_resize_size
        self.image_resample = image_resample
        self.vision_model_name_or_path = vision_model_name_or_path
        self.vision_model_revision = vision_model_revision
        self.vision_weights_sha256 = vision_weights_sha256
        drop_registered_pipelines(kwargs)
        super().__init__(**kwargs)

    @property
    def feature_dim(self) -> int:
        """Size of the backbone's flattened pooled output (the head's input)."""
        if self.vision_backbone == "torchvision-googlenet":
            return GOOGLENET_FEATURE_DIM
        return vision_feature_dim(self.vision_config)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> ImageToEEGConfig:
        """Builds a config from a named preset (`"authors"`, `"cpu-small"`, `"tiny"`) plus overrides."""
        return config_from_preset(cls, IMAGE_TO_EEG_PRESETS, name, overrides)
