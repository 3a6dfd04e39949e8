"""t-SNE visualisation of EEG features (the paper's feature-space figures) and stacked-trace plots of EEG trials."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["eeg_display_unit", "plot_eeg_trial", "plot_tsne"]

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


_MICRO = "\u00b5"
_UNIT_SCALES = {"v": (1e6, f"{_MICRO}V"), "mv": (1e3, f"{_MICRO}V"), "uv": (1.0, f"{_MICRO}V"),
                f"{_MICRO}v": (1.0, f"{_MICRO}V"), "\u03bcv": (1.0, f"{_MICRO}V"),
                "nv": (1e-3, f"{_MICRO}V")}


def eeg_display_unit(unit: str | None) -> tuple[float, str]:
    """`(factor, label)` to show EEG in `unit`: volts and their multiples become microvolts; an unknown unit is
    shown as is, a missing one as arbitrary units (`"a.u."`)."""
    if not unit:
        return 1.0, "a.u."
    return _UNIT_SCALES.get(unit.strip().lower(), (1.0, unit))


def _scale_bar_length(span: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above `span`."""
    if not span > 0 or not np.isfinite(span):
        return 1.0
    power = 10.0 ** np.floor(np.log10(span))
    return float(max(m * power for m in (1.0, 2.0, 5.0) if m * power <= span))


def plot_eeg_trial(
    eeg: np.ndarray,
    sfreq: float | None = None,
    ch_names: Sequence[str] | None = None,
    unit: str | None = None,
    title: str = "",
    max_channels: int = 32,
) -> Any:
    """Stacked-trace plot of one `(n_chans, n_times)` trial as a PIL image, with an amplitude scale bar.

    Each channel is drawn around its own mean, one row per channel (at most `max_channels`, evenly chosen), all at
    the same amplitude scale; the bar on the right gives that scale in the data's unit (volts are shown in
    microvolts, data of unknown unit in arbitrary units). Time is in ms when `sfreq` is known, else in samples.

    Args:
        eeg (`np.ndarray`): float `(n_chans, n_times)`.
        sfreq (`float`, *optional*): Sampling rate in Hz.
        ch_names (`Sequence[str]`, *optional*): Channel names (row labels; channel numbers otherwise).
        unit (`str`, *optional*): Unit of `eeg` (`"V"` for MNE data, `"uV"`, ...); `None` = unknown.
        title (`str`, *optional*): Plot title.
        max_channels (`int`, *optional*, defaults to 32): Most channels drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    eeg = np.asarray(eeg, dtype=np.float64)
    if eeg.ndim != 2 or min(eeg.shape) < 1:
        raise ValueError(f"expected one trial (n_chans, n_times), got shape {eeg.shape}")
    factor, label = eeg_display_unit(unit)
    n_chans, n_times = eeg.shape
    shown = np.unique(np.linspace(0, n_chans - 1, min(n_chans, max_channels)).round().astype(int))
    times = np.arange(n_times) / sfreq * 1000 if sfreq else np.arange(n_times, dtype=np.float64)
    data = (eeg[shown] - eeg[shown].mean(axis=1, keepdims=True)) * factor
    step = float(np.abs(data).max()) * 1.2 or 1.0
    figure = Figure(figsize=(6, 0.18 * len(shown) + 1.3), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for row in range(len(shown)):
        axes.plot(times, data[row] - row * step, linewidth=0.8)
    axes.set_yticks([-row * step for row in range(len(shown))])
    names = [str(ch_names[c]) if ch_names is not None and c < len(ch_names) else str(c) for c in shown]
    axes.set_yticklabels(names, fontsize=6)
    axes.set_xlabel("time (ms)" if sfreq else "time (samples; sampling rate unknown)")
    span = times[-1] - times[0] if n_times > 1 else 1.0
    axes.set_xlim(times[0], times[-1] + 0.2 * span)
    axes.spines[["top", "right"]].set_visible(False)
    bar = _scale_bar_length(step * 0.9)
    x_bar, top = times[-1] + 0.05 * span, 0.5 * step
    axes.plot([x_bar, x_bar], [top - bar, top], color="black", linewidth=2.5, solid_capstyle="butt")
    axes.text(x_bar + 0.02 * span, top - bar / 2, f"{bar:g} {label}", fontsize=7, va="center", ha="left")
    axes.set_ylim(-(len(shown) - 1) * step - 0.6 * step, 0.6 * step)
    note = f" ({len(shown)} of {n_chans} channels)" if len(shown) < n_chans else ""
    axes.set_title((title + note).strip(), fontsize=9)
    axes.set_ylabel(f"channel (rows share one scale; bar = {bar:g} {label})", fontsize=7)
    figure.tight_layout()
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
