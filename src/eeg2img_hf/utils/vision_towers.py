"""Which image tower a saved EEGClip / image -> EEG model has and where its weights came from (this module imports
nothing else of the package, nor torch or transformers, so model cards read it from `config.json` cheaply)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["describe_vision_tower", "vision_tower_record"]


def _get(source: Any, key: str) -> Any:
    return source.get(key) if isinstance(source, Mapping) else getattr(source, key, None)


def vision_tower_record(config: Any) -> dict[str, Any]:
    """How the vision tower of an EEGClip / image -> EEG config (a config object or its `config.json` dict) got
    its weights, from the config's `vision_model_name_or_path` / `vision_model_revision` / `vision_weights_sha256`
    (set by `from_vision_pretrained`) and `freeze_vision_tower`.

    Returns:
        `dict` with `model_type` (of the tower; the config's `vision_backbone` when that is not `"transformers"`),
        `weights` (`"pretrained"`, `"pretrained, fine-tuned"`, `"trained from scratch"`, or `"random init"`: frozen
        and never loaded), `frozen`, `name_or_path` (Hub repo id, folder, or the converted checkpoint file; `None`
        when not loaded), `revision` (Hub commit) and `weights_sha256`.
    """
    source, frozen = _get(config, "vision_model_name_or_path"), _get(config, "freeze_vision_tower")
    frozen = True if frozen is None else bool(frozen)
    if source:
        weights = "pretrained" if frozen else "pretrained, fine-tuned"
    else:
        weights = "random init" if frozen else "trained from scratch"
    backbone = _get(config, "vision_backbone")  # image -> EEG models may use torchvision's GoogLeNet instead
    kind = backbone if backbone not in (None, "transformers") else _get(_get(config, "vision_config"), "model_type")
    return {"model_type": kind, "weights": weights, "frozen": frozen,
            "name_or_path": source or None, "revision": _get(config, "vision_model_revision"),
            "weights_sha256": _get(config, "vision_weights_sha256")}


def describe_vision_tower(record: Mapping[str, Any]) -> str:
    """One Markdown sentence for a [`vision_tower_record`], e.g. for a model card."""
    kind = f"`{record.get('model_type')}`" if record.get("model_type") else "vision backbone"
    if record.get("name_or_path"):
        details = [f"revision `{record['revision']}`"] if record.get("revision") else []
        if record.get("weights_sha256"):
            details.append(f"weights sha256 `{record['weights_sha256']}`")
        where = f" ({', '.join(details)})" if details else ""
        state = "kept frozen" if record.get("frozen") else "fine-tuned with the rest of the model"
        return f"{kind}, pretrained weights from `{record['name_or_path']}`{where}, {state}."
    if record.get("frozen"):
        return (f"{kind}, **random init** (frozen, no pretrained weights loaded): its features are random and "
                "were never trained.")
    return f"{kind}, trained from scratch with the rest of the model (no pretrained weights)."
