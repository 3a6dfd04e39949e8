"""t-SNE visualisation of EEG features (the paper's feature-space figures)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["plot_tsne"]

_MAX_LEGEND_CLASSES = 40


def _check_inputs(features: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features.detach().cpu().float() if isinstance(features, torch.Tensor) else features)
    y = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {x.shape}")
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"features must be numeric, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {y.shape}")
    if x.shape[0] < 4:
        raise ValueError(f"t-SNE needs at least 4 samples, got {x.shape[0]}")
    return x.astype(np.float64), y


def plot_tsne(
    features: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | Sequence[Any],
    path: str | os.PathLike[str],
    class_names: Sequence[str] | dict[Any, str] | None = None,
    seed: int = 45,
    perplexity: float = 30.0,
) -> str:
    """Embed features in 2-D with t-SNE and save a scatter plot coloured by class as a PNG.

    Uses `sklearn.manifold.TSNE(perplexity=p, init="pca", learning_rate="auto", random_state=seed)`
    with p = min(perplexity, (n_samples - 1) / 3) so small sets remain valid. Drawing goes through
    matplotlib's Agg canvas directly (no pyplot state, no backend switch). A legend is drawn when
    there are at most 40 classes.

    Args:
        features (`np.ndarray` or `torch.Tensor` of shape `(n_samples, n_features)`): Features to embed.
        labels (`array-like` of shape `(n_samples,)`): Class of each sample.
        path (`str` or `os.PathLike`): Output PNG file; missing parent folders are created.
        class_names (`Sequence[str]` or `dict`, *optional*): Legend names, indexed by position in the
            sorted unique labels (sequence) or keyed by label (dict); defaults to the labels.
        seed (`int`, *optional*, defaults to 45): `random_state` of t-SNE.
        perplexity (`float`, *optional*, defaults to 30.0): t-SNE perplexity before clipping.

    Returns:
        `str`: the path written.
    """
    from sklearn.manifold import TSNE

    x, y = _check_inputs(features, labels)
    if perplexity <= 0:
        raise ValueError(f"perplexity must be > 0, got {perplexity}")
    classes = np.unique(y)
    if isinstance(class_names, dict):
        names = [str(class_names.get(c, c)) for c in classes.tolist()]
    elif class_names is not None:
        if len(class_names) != classes.shape[0]:
            raise ValueError(f"class_names has {len(class_names)} entries for {classes.shape[0]} classes")
        names = [str(name) for name in class_names]
    else:
        names = [str(c) for c in classes.tolist()]
    perplexity = min(float(perplexity), (x.shape[0] - 1) / 3.0)
    tsne = TSNE(perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    figure = _draw_scatter(tsne.fit_transform(x), y, classes, names)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", bbox_inches="tight")
    return str(out)


def _draw_scatter(points: np.ndarray, labels: np.ndarray, classes: np.ndarray, names: list[str]) -> Any:
    """One scatter series per class on a pyplot-free Agg figure."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    n_classes = classes.shape[0]
    # tab20 is qualitative up to 20 classes; beyond that sample a continuous map evenly.
    colormap = matplotlib.colormaps["tab20" if n_classes <= 20 else "gist_ncar"]
    for index, (label, name) in enumerate(zip(classes, names)):
        mask = labels == label
        color = colormap(index) if n_classes <= 20 else colormap(index / (n_classes - 1) * 0.95)
        axes.scatter(points[mask, 0], points[mask, 1], s=6, color=color, label=name)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(f"t-SNE of {points.shape[0]} samples, {n_classes} classes")
    if n_classes <= _MAX_LEGEND_CLASSES:
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, markerscale=2, frameon=False)
    return figure
