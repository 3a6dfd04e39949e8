"""Helpers shared by the model folders: vision sub-configs, pixel checks, presets, pipeline declarations.

This is the canonical source. Each model folder that needs it holds a verbatim copy (`eeg_clip/common.py`,
`eeg_stylegan/common.py`, `image_to_eeg/common.py`) so that a saved folder is self-contained for
`trust_remote_code=True`; inside the package those copies are aliases of this module (see
`eeg2img_hf.models.copies`), and a test checks that every copy is identical to this file. Edit this file, then
run `python scripts/check_copies.py --fix`.
"""

from __future__ import annotations

import copy
import hashlib
import json
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
    "image_settings_from_processor",
    "load_vision_tower",
    "pretrained_tower_config",
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


VISION_SOURCE_FIELDS = ("vision_model_name_or_path", "vision_model_revision", "vision_weights_sha256")
"""Config fields (of `EEGClipConfig` and `ImageToEEGConfig`) recording where the vision tower's weights came from."""

_CONFIG_KEYS_NOT_KEPT = ("architectures", "id2label", "label2id", "_name_or_path", "transformers_version")


def _entry(value: Any, key: str) -> Any:
    """`value[key]` for a dict, `value.key` for an object (transformers' `SizeDict`), `None` when absent."""
    if value is None:
        return None
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


def _channels(values: Any, what: str, name: str) -> list[float]:
    values = [float(values)] * 3 if isinstance(values, (int, float)) else [float(v) for v in values]
    if not values:
        raise ValueError(f"the image processor {name} has no {what}")
    return values


def image_settings_from_processor(processor: Any) -> dict[str, Any]:
    """The square input a transformers image processor produces, as the settings of this package's processors.

    Returns a dict with `image_size` (side of the square input), `image_resize_size` (shortest edge after the
    resize, before the centre crop; `None` when the processor resizes straight to `image_size` x `image_size`),
    `image_mean`, `image_std` (after rescaling to [0, 1]) and `image_resample` (PIL resampling code). Understood
    layouts: shortest-edge resize + centre crop (CLIP, BiT/DINOv2), ConvNeXt's `crop_pct` (`microsoft/resnet-50`:
    shortest edge 224 / 0.875 = 256, crop 224; from 384 up a straight square resize) and a square resize (ViT,
    SigLIP).

    Raises:
        `ValueError`: for a processor whose output is not a square crop, or that rescales by another factor than
            1/255.
    """
    name = type(processor).__name__
    size = getattr(processor, "size", None)
    shortest, height, width = (_entry(size, k) for k in ("shortest_edge", "height", "width"))
    crop = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    crop_height, crop_width = _entry(crop, "height"), _entry(crop, "width")
    crop_pct = getattr(processor, "crop_pct", None)
    if getattr(processor, "do_resize", True) is False:
        raise ValueError(f"the image processor {name} does not resize (do_resize=False); a fixed input size is needed")
    if shortest and crop_pct is not None and not crop_height:  # ConvNeXt-style
        image_size, resize = int(shortest), (int(shortest / crop_pct) if shortest < 384 else None)
    elif shortest and crop_height and crop_height == crop_width:
        image_size, resize = int(crop_height), int(shortest)
    elif height and height == width and not crop_height:
        image_size, resize = int(height), None
    else:
        raise ValueError(f"the image processor {name} (size={size}, crop_size={crop}) does not produce a square "
                         "centre crop or a square resize; only those can be reproduced")
    if resize is not None and resize < image_size:
        raise ValueError(f"the image processor {name} resizes to {resize} before a {image_size} crop")
    if getattr(processor, "do_rescale", True) and abs(float(processor.rescale_factor) - 1 / 255) > 1e-9:
        raise ValueError(f"the image processor {name} rescales pixels by {processor.rescale_factor}, not 1/255")
    if getattr(processor, "do_normalize", True):
        mean = _channels(processor.image_mean, "image_mean", name)
        std = _channels(processor.image_std, "image_std", name)
    else:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    resample = getattr(processor, "resample", None)
    return {"image_size": image_size, "image_resize_size": resize, "image_mean": mean, "image_std": std,
            "image_resample": 2 if resample is None else int(resample)}


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights_sha256(name_or_path: str, revision: str | None, hub_kwargs: Mapping[str, Any]) -> str | None:
    """sha256 of the checkpoint's weights file (of `"<shard> <sha256>"` lines for a sharded one), or `None`."""
    from transformers.utils import cached_file

    options = {"revision": revision, "_raise_exceptions_for_missing_entries": False,
               "_raise_exceptions_for_connection_errors": False, **hub_kwargs}
    for single, index in (("model.safetensors", "model.safetensors.index.json"),
                          ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        path = cached_file(name_or_path, single, **options)
        if path:
            return _file_sha256(path)
        path = cached_file(name_or_path, index, **options)
        if path:
            with open(path, encoding="utf-8") as handle:
                shards = sorted(set(json.load(handle)["weight_map"].values()))
            lines = "".join(f"{s} {_file_sha256(cached_file(name_or_path, s, **options))}\n" for s in shards)
            return hashlib.sha256(lines.encode()).hexdigest()
    return None


def load_vision_tower(name_or_path: str, revision: str | None = None,
                      **hub_kwargs: Any) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """The vision backbone of a transformers checkpoint WITH its weights, its image settings and its provenance.

    `name_or_path` is a Hub repo id or a local folder holding a transformers vision backbone whose `AutoModel`
    gives a pooled output (`microsoft/resnet-50`, ConvNeXt, DINOv2, ...) or a vision-language model with a
    `vision_config` (CLIP, SigLIP: only the vision tower, e.g. `CLIPVisionModel`, is loaded). A Hub repo is pinned
    to the commit its `config.json` resolved to, so weights, config and processor come from one revision.

    Args:
        name_or_path (`str`): Hub repo id or local folder.
        revision (`str`, *optional*): branch, tag or commit of a Hub repo.
        hub_kwargs: passed to `from_pretrained` (`cache_dir`, `token`, `local_files_only`, ...).

    Returns:
        `(tower, values, image_settings)`: the loaded backbone (float32); `values` = `vision_config` (the tower's
        config without its labels and architectures) plus the [`VISION_SOURCE_FIELDS`] (`vision_model_revision`
        is the commit for a Hub repo, `None` for a local folder; `vision_weights_sha256` the weights file's
        sha256); `image_settings` from the checkpoint's `preprocessor_config.json` ([`image_settings_from_processor`])
        or `None` when it has none.

    Raises:
        `ValueError` naming the checkpoint: no usable name, a config that is no vision backbone (a text model),
            weights that do not cover the tower (tensors would stay random), weights of other shapes than the config,
            or a corrupt weights file; `OSError`: the checkpoint cannot be found or downloaded.
    """
    from transformers import AutoImageProcessor
    from transformers.models.auto.modeling_auto import MODEL_MAPPING
    from transformers.utils import cached_file
    from transformers.utils.hub import extract_commit_hash

    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError(f"the vision model must be a Hub repo id or a local folder, got {name_or_path!r}")
    commit = extract_commit_hash(cached_file(name_or_path, "config.json", revision=revision, **hub_kwargs), None)
    pinned = commit or revision
    config = AutoConfig.from_pretrained(name_or_path, revision=pinned, **hub_kwargs)
    vision = getattr(config, "vision_config", None)
    tower_config = vision if isinstance(vision, PreTrainedConfig) else config
    try:
        model_class = MODEL_MAPPING[type(tower_config)]
    except KeyError:
        raise ValueError(f"{name_or_path!r} holds a {type(tower_config).__name__}, which has no transformers "
                         "AutoModel backbone; use a vision backbone (ResNet, ConvNeXt, DINOv2, ViT) or a CLIP / "
                         "SigLIP checkpoint") from None
    if getattr(model_class, "main_input_name", "pixel_values") != "pixel_values":
        raise ValueError(f"{name_or_path!r} is not a vision model: it holds a {type(tower_config).__name__}, whose "
                         f"{model_class.__name__} reads {model_class.main_input_name}, not images; use a vision "
                         "backbone (ResNet, ConvNeXt, DINOv2, ViT) or a CLIP / SigLIP checkpoint")
    vision_feature_dim(tower_config)  # raises for a backbone without a known pooled size
    try:
        tower, info = model_class.from_pretrained(name_or_path, revision=pinned, dtype=torch.float32,
                                                  output_loading_info=True, **hub_kwargs)
    except RuntimeError as err:  # transformers' "size mismatch" report: weights of other shapes than the config
        raise ValueError(f"the vision model {name_or_path!r} holds weights of other shapes than its config.json "
                         f"describes ({' '.join(str(err).split())[:300]})") from None
    except Exception as err:
        if "SafetensorError" not in [cls.__name__ for cls in type(err).__mro__]:
            raise
        raise ValueError(f"the vision model {name_or_path!r}: its weights file is corrupt or truncated "
                         f"({' '.join(str(err).split())[:200]})") from None
    missing = sorted(info.get("missing_keys") or ()) + sorted(str(k) for k in info.get("mismatched_keys") or ())
    if missing:
        raise ValueError(f"the checkpoint {name_or_path!r} has no weights (or weights of another shape) for "
                         f"{len(missing)} tensors of its {type(tower).__name__}, e.g. {missing[:3]}; they would be "
                         "random: use a checkpoint that holds the whole backbone")
    values = {k: v for k, v in tower_config.to_dict().items() if k not in _CONFIG_KEYS_NOT_KEPT}
    image = None
    found = cached_file(name_or_path, "preprocessor_config.json", revision=pinned,
                        _raise_exceptions_for_missing_entries=False, _raise_exceptions_for_connection_errors=False,
                        **hub_kwargs)
    if found:
        processor = AutoImageProcessor.from_pretrained(name_or_path, revision=pinned, **hub_kwargs)
        image = image_settings_from_processor(processor)
    source = {"vision_config": build_vision_config(values), "vision_model_name_or_path": name_or_path,
              "vision_model_revision": commit,
              "vision_weights_sha256": _weights_sha256(name_or_path, pinned, hub_kwargs)}
    return tower, source, image


def pretrained_tower_config(config: PreTrainedConfig, values: Mapping[str, Any], image: Mapping[str, Any] | None,
                            square_resize: bool) -> PreTrainedConfig:
    """`config` (an EEGClip / image -> EEG config) rebuilt with a loaded tower's `values` and `image` settings.

    From [`load_vision_tower`]: the tower's config and provenance replace the config's; its processor's settings
    replace the image settings. `square_resize` says whether the config can resize straight to a square
    (`image_resize_size=None`); if not, such a processor becomes a shortest-edge resize to `image_size` (same
    output for square images). Without a processor, a fixed-size tower (`vision_config.image_size`, ViT-like)
    sets `image_size` and the other image settings stay.
    """
    updates = dict(values)
    if image is not None:
        updates.update(image)
        if updates["image_resize_size"] is None and not square_resize:
            updates["image_resize_size"] = updates["image_size"]
    else:
        size = getattr(values["vision_config"], "image_size", None)
        if isinstance(size, int) and not isinstance(size, bool):
            updates.update(image_size=size, image_resize_size=None if square_resize else round(size * 232 / 224))
    return type(config).from_dict({**config.to_dict(), **updates})


def check_pixel_values(pixel_values: Any, num_channels: int, image_size: int,
                       max_abs: float | None = MAX_NORMALISED_PIXEL) -> None:
    """Raises a `ValueError` naming the problem unless `pixel_values` is a finite, non-empty float tensor of
    shape `(batch_size, num_channels, image_size, image_size)` whose values look normalised (`|x| <= max_abs`;
    `None` skips that check)."""
    expected = f"(batch_size, {num_channels}, {image_size}, {image_size})"
    if not isinstance(pixel_values, torch.Tensor):
        raise ValueError(f"pixel_values must be a torch.Tensor of shape {expected}, got {type(pixel_values).__name__}")
    if not pixel_values.is_floating_point():
        raise ValueError(f"pixel_values must be a floating-point tensor (normalised pixels), got dtype "
                         f"{pixel_values.dtype}; use the model's image processor")
    shape = tuple(pixel_values.shape)
    if pixel_values.ndim != 4 or shape[1:] != (num_channels, image_size, image_size) or not shape[0]:
        raise ValueError(f"pixel_values must have shape {expected}, got {shape}; resize with the model's image "
                         "processor")
    if not bool(torch.isfinite(pixel_values).all()):
        raise ValueError("pixel_values contains NaN or inf values")
    if max_abs is not None and float(pixel_values.abs().max()) > max_abs:
        raise ValueError(f"pixel_values reach {float(pixel_values.abs().max()):.1f}: they look like unnormalised "
                         "0..255 pixels; rescale and normalise them with the model's image processor")


def config_from_preset(config_class: type, presets: Mapping[str, Mapping[str, Any]], name: str,
                       overrides: Mapping[str, Any]) -> Any:
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
                and value.get("model_type", base.get("model_type")) == base.get("model_type"):
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
