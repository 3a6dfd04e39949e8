"""What a loaded model says about itself: its headline metrics, from a local folder or a Hub repo.

The metrics come from the model's `eval_results.json` (what the package's evaluations write and `push_model`
uploads), else from the `model-index` of its README card. Nothing is raised when neither can be read (a Hub repo
that cannot be reached included): a demo or a report shows what is there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, hf_hub_download

from .model_cards import EVALUATION_FILENAME, GAN_EXTRACTOR_LABELS, MODEL_FAMILIES, evaluation_metrics

__all__ = ["model_headline_metrics"]


def _model_file(source: str | os.PathLike, name: str) -> Path | None:
    """`name` of a local model folder, or downloaded from Hub repo `source` (from the cache when offline)."""
    folder = Path(source)
    if folder.is_dir():
        return folder / name if (folder / name).is_file() else None
    try:
        return Path(hf_hub_download(str(source), name))
    except (OSError, ValueError):  # not found, offline, no access, not a repo id: nothing to show
        return None


def _read_json(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return content if isinstance(content, dict) else None


def _metric_name(name: str, metric_type: str | None) -> str:
    """`name`, plus the feature extractor when the metric type says a GAN metric is not on Inception features
    (type `fid-judge-features` -> `"fid (judge features)"`), so that it is never read as the paper's FID."""
    for suffix, _ in GAN_EXTRACTOR_LABELS.values():
        if suffix and (metric_type or "").endswith(suffix):
            return f"{name} ({suffix.strip('-').replace('-', ' ')})"
    return name


def model_headline_metrics(source: str | os.PathLike, limit: int = 4) -> list[dict[str, Any]]:
    """The first `limit` headline metrics of a model folder or Hub repo id, as `{"name", "value"}` dicts.

    From `eval_results.json` (read as the model card does, by the model family of `config.json`), else from the
    `model-index` results of the README card; `[]` when neither can be read.
    """
    evaluation = _read_json(_model_file(source, EVALUATION_FILENAME))
    config = _read_json(_model_file(source, "config.json")) or {}
    family = MODEL_FAMILIES.get(config.get("model_type"))
    if evaluation is not None and family is not None:
        metrics = evaluation_metrics(evaluation, family)
        if metrics:
            return [{"name": _metric_name(m["name"], m["type"]), "value": m["value"]} for m in metrics[:limit]]
    readme = _model_file(source, "README.md")
    if readme is None:
        return []
    try:
        results = ModelCard.load(readme).data.eval_results or []
    except (OSError, ValueError, TypeError):
        return []
    return [{"name": _metric_name(r.metric_name or r.metric_type, r.metric_type), "value": r.metric_value}
            for r in results[:limit]]
