"""Helpers shared by the model folders: vision sub-configs, pixel checks, presets, pipeline declarations.

This is the canonical source. Each model folder that needs it holds a verbatim copy (`eeg_clip/common.py`,
`eeg_stylegan/common.py`, `image_to_eeg/common.py`) so that a saved folder is self-contained for
`trust_remote_code=True`; inside the package those copies are aliases of this module (see
`eeg2img_hf.models.copies`), and a test checks that every copy is identical to this file. Edit this file, then
run `python scripts/check_copies.py --fix`.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from typing import Any

import torch
from transformers import AutoConfig, PreTrainedConfig

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_NORMALISED_PIXEL",
    "build_vision_config",
    "check_pixel_values",
    "config_from_preset",
    "drop_registered_pipelines",
    "vision_feature_dim",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MAX_NORMALISED_PIXEL = 20.0
"""Normalised pixels lie in about [-2.2, 2.7] (ImageNet statistics) or [-1, 1]; larger values are 0..255 input."""


def build_vision_config(vision_config: PreTrainedConfig | Mapping[str, Any] | None) -> PreTrainedConfig:
    """A transformers vision backbone config from a config, a dict with its `model_type`, or `None`.

    `None` gives transformers' defaults for `"resnet"` (the ResNet-50 layout of `microsoft/resnet-50`).
    """
    if vision_config is None:
        return AutoConfig.for_model("resnet")
    if isinstance(vision_config, PreTrainedConfig):
        return vision_config
    if not isinstance(vision_config, Mapping) or not vision_config.get("model_type"):
        raise ValueError(
            "vision_config must be a transformers config or a dict with its 'model_type' "
            f"(e.g. {{'model_type': 'resnet', ...}}), got {vision_config!r:.200}"
        )
    values = dict(vision_config)
    return AutoConfig.for_model(values.pop("model_type"), **values)


def vision_feature_dim(vision_config: PreTrainedConfig) -> int:
    """Size of the pooled output of `AutoModel.from_config(vision_config)`.

    Convolutional backbones (ResNet, ConvNeXt, RegNet, ...) report it as `hidden_sizes[-1]`, transformers
    (ViT, CLIP vision, DINOv2, ...) as `hidden_size`.
    """
    sizes = getattr(vision_config, "hidden_sizes", None)
    if sizes:
        return int(sizes[-1])
    size = getattr(vision_config, "hidden_size", None)
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return size
    raise ValueError(
        f"cannot tell the pooled feature size of a {type(vision_config).__name__} (model_type "
        f"{getattr(vision_config, 'model_type', None)!r}): it has neither `hidden_sizes` nor `hidden_size`"
    )


def check_pixel_values(pixel_values: Any, num_channels: int, image_size: int,
                       max_abs: float | None = MAX_NORMALISED_PIXEL) -> None:  # fmt: skip
    """Raises a `ValueError` naming the problem unless `pixel_values` is a finite, non-empty float tensor of
    shape `(batch_size, num_channels, image_size, image_size)` whose values look normalised (`|x| <= max_abs`;
    `None` skips that check)."""
    expected = f"(batch_size, {num_channels}, {image_size}, {image_size})"
    if not isinstance(pixel_values, torch.Tensor):
        raise ValueError(f"pixel_values must be a torch.Tensor of shape {expected}, got {type(pixel_values).__name__}")
    if not pixel_values.is_floating_point():
        raise ValueError(f"pixel_values must be a floating-point tensor (normalised pixels), got dtype "
                         f"{pixel_values.dtype}; use the model's image processor")  # fmt: skip
    shape = tuple(pixel_values.shape)
    if pixel_values.ndim != 4 or shape[1:] != (num_channels, image_size, image_size) or not shape[0]:
        raise ValueError(f"pixel_values must have shape {expected}, got {shape}; resize with the model's image "
                         "processor")  # fmt: skip
    if not bool(torch.isfinite(pixel_values).all()):
        raise ValueError("pixel_values contains NaN or inf values")
    if max_abs is not None and float(pixel_values.abs().max()) > max_abs:
        raise ValueError(f"pixel_values reach {float(pixel_values.abs().max()):.1f}: they look like unnormalised "
                         "0..255 pixels; rescale and normalise them with the model's image processor")  # fmt: skip


def config_from_preset(config_class: type, presets: Mapping[str, Mapping[str, Any]], name: str,
                       overrides: Mapping[str, Any]) -> Any:  # fmt: skip
    """`config_class` built from `presets[name]` updated with `overrides`, the one rule of every `from_preset`.

    A dict given for a sub-config (a key of `config_class.sub_configs`) updates the preset's dict for it, so
    `encoder_config={"n_chans": 14}` keeps the preset's other encoder values, unless it names another
    `model_type` (a ViT in place of the preset's ResNet starts from the ViT defaults); any other value (a config
    object included) replaces the preset's.
    """
    if name not in presets:
        raise ValueError(f"unknown {config_class.__name__} preset {name!r}; expected one of {sorted(presets)}")
    values = copy.deepcopy(dict(presets[name]))
    sub_configs = getattr(config_class, "sub_configs", {})
    for key, value in overrides.items():
        base = values.get(key)
        if key in sub_configs and isinstance(value, Mapping) and isinstance(base, Mapping) \
                and value.get("model_type", base.get("model_type")) == base.get("model_type"):  # fmt: skip
            values[key] = {**base, **value}
        else:
            values[key] = value
    return config_class(**values)


def drop_registered_pipelines(kwargs: dict[str, Any]) -> None:
    """Drops the `custom_pipelines` entries of `kwargs` whose task has a locally registered pipeline.

    A pushed folder declares its pipeline as remote code, which transformers' `pipeline()` would only run with
    `trust_remote_code=True`. Where the task is registered in this interpreter (the package that wrote the
    folder is installed and registered), the local pipeline serves it, so the entry is dropped; elsewhere it is
    kept and the remote pipeline code runs.
    """
    custom = kwargs.get("custom_pipelines")
    registry = getattr(sys.modules.get("transformers.pipelines"), "PIPELINE_REGISTRY", None)
    if not custom or registry is None:
        return
    local = set(registry.get_supported_tasks())
    kept = {task: spec for task, spec in custom.items() if task not in local}
    if kept:
        kwargs["custom_pipelines"] = kept
    else:
        del kwargs["custom_pipelines"]
