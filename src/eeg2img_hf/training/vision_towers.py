"""Where the image tower of `train_clip` / `train_image_to_eeg` gets its weights: loaded, trained, or refused.

A training run's vision tower is either loaded from a pretrained transformers checkpoint (`vision_model`, a Hub
repo id or a folder: `microsoft/resnet-50` for the `authors` presets), or trained with the rest of the model
(`freeze_vision_tower=False`: the `cpu-small` / `tiny` presets). A frozen tower whose weights were never loaded is
random features that no training changes; it is refused unless `allow_random_vision_tower=True` (tests, timing
runs), naming the option that fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..utils.errors import BadModelFolderError, Eeg2ImgError, HubAccessError, one_line
from ..utils.names import DEFAULT_VISION_MODEL

__all__ = ["RandomFrozenTowerError", "build_with_vision_tower", "check_vision_arguments", "check_vision_tower_plan",
           "planned_frozen", "refuse_random_frozen_tower"]


class RandomFrozenTowerError(Eeg2ImgError):
    """A frozen vision tower whose weights were neither loaded nor trained."""


def check_vision_arguments(args: Any) -> None:
    """`ValueError` naming the field unless `vision_model` / `vision_revision` are `None` or non-empty strings,
    `vision_revision` comes with a `vision_model`, and `allow_random_vision_tower` is a bool."""
    for name in ("vision_model", "vision_revision"):
        value = getattr(args, name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{name} must be a Hub repo id / folder (a non-empty string) or None, got {value!r}")
    if args.vision_revision is not None and args.vision_model is None:
        raise ValueError("vision_revision needs vision_model (the Hub repo the revision belongs to)")
    if not isinstance(args.allow_random_vision_tower, bool):
        raise ValueError(f"allow_random_vision_tower must be True or False, got {args.allow_random_vision_tower!r}")


def refuse_random_frozen_tower(frozen: bool, args: Any) -> None:
    """Raise [`RandomFrozenTowerError`] for a frozen tower without `vision_model`, unless the run opted in."""
    if frozen and not args.vision_model and not args.allow_random_vision_tower:
        raise RandomFrozenTowerError(
            f"model preset {args.model_preset!r} keeps the vision tower frozen, but no pretrained weights are loaded "
            "into it: it would stay random",
            hint=f"pass --vision-model REPO_OR_PATH (e.g. {DEFAULT_VISION_MODEL}; vision_model=...), train the tower "
                 "(freeze_vision_tower=False), or opt in with --allow-random-vision-tower "
                 "(allow_random_vision_tower=True)",
        )


def planned_frozen(args: Any, model_presets: Mapping[str, Mapping[str, Any]], default: bool = True) -> bool:
    """Whether the run's tower will be frozen, from the model preset and `args.model_config` (no model built)."""
    preset = model_presets.get(args.model_preset, {})
    return bool(args.model_config.get("freeze_vision_tower", preset.get("freeze_vision_tower", default)))


def check_vision_tower_plan(args: Any, model_presets: Mapping[str, Mapping[str, Any]]) -> None:
    """Before a run reads any data: refuse a frozen tower that would stay random, and make sure `vision_model`
    can be found (its `config.json` is fetched into the cache, or an `OSError` says why not)."""
    refuse_random_frozen_tower(planned_frozen(args, model_presets), args)
    name = args.vision_model
    if not name:
        return
    if os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise BadModelFolderError(f"vision_model {name!r} has no config.json: not a transformers model folder")
        return
    if os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1:
        raise BadModelFolderError(f"vision_model {name!r}: no such folder (nor a Hub repo id 'org/name')")
    from transformers.utils import cached_file

    try:
        cached_file(name, "config.json", revision=args.vision_revision)
    except OSError as err:
        raise HubAccessError(
            f"cannot fetch the vision model {name!r} (--vision-model / vision_model): {one_line(err, 300)}",
            hint="connect to the Hub (unset HF_HUB_OFFLINE) or fill its cache, or pass a local folder",
        ) from err


def build_with_vision_tower(model_class: Any, config_class: Any, args: Any, overrides: dict[str, Any]) -> Any:
    """`model_class` built from `args.model_preset` + `overrides`, with its tower loaded from `args.vision_model`
    (`model_class.from_vision_pretrained`) when set; a frozen tower that stays random is refused."""
    if args.vision_model:
        if "vision_config" in overrides:
            raise ValueError("model_config['vision_config'] and vision_model both set the vision tower: the "
                             "pretrained checkpoint brings its own config, drop one of them")
        return model_class.from_vision_pretrained(args.model_preset, vision_model=args.vision_model,
                                                  revision=args.vision_revision, **overrides)
    config = config_class.from_preset(args.model_preset, **overrides)
    refuse_random_frozen_tower(config.freeze_vision_tower, args)
    return model_class(config)
