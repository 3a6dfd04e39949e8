"""The package's metrics as `evaluate` metric modules: where they are, and the verbatim copies they carry.

Each module is a folder `eeg2img_hf/evaluate_metrics/<name>/` holding `<name>.py` (an `evaluate.Metric`), its
metric card `README.md` and verbatim copies of the library modules it computes with. `evaluate.load(folder)`
copies the script and every module the script imports with a single-dot relative import into its module cache
and imports it there, so the folder works where `eeg2img_hf` is not installed (a Hub Space made by
`eeg2img push-metrics ORG`). With the package installed, a script computes through the package's own function
whenever the package's module is the same code as its copy, so there is one implementation; [`check_copies`]
(run by a test, fixed by `make check-copies`) keeps the copies byte for byte equal to the library modules.

This module reads and writes files only; it imports no metric script (they import `evaluate`, 6-10 s).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EVALUATE_METRICS", "check_copies", "evaluate_metric_dir", "evaluate_metrics_root"]

EVALUATE_METRICS: dict[str, tuple[str, ...]] = {
    # metric module -> library modules (under eeg2img_hf/metrics) copied verbatim into its folder
    "eeg2img_kmeans_accuracy": ("features",),
    "eeg2img_retrieval": ("retrieval", "features"),
    "eeg2img_fid": ("generative",),
    "eeg2img_kid": ("generative",),
    "eeg2img_inception_score": ("generative",),
    "eeg2img_class_accuracy": ("generative",),
}
"""Every `evaluate` metric module of the package and the library modules it carries copies of."""

_METRICS = Path(__file__).resolve().parent


def evaluate_metrics_root() -> Path:
    """The folder holding the metric module folders (`eeg2img_hf/evaluate_metrics`)."""
    return _METRICS.parent / "evaluate_metrics"


def evaluate_metric_dir(name: str) -> Path:
    """The folder of one metric module, for `evaluate.load(str(evaluate_metric_dir(name)))`.

    Raises:
        `ValueError`: for a name not in [`EVALUATE_METRICS`], or when the folder is missing (a broken install).
    """
    if name not in EVALUATE_METRICS:
        raise ValueError(f"unknown metric module {name!r}; choose from {sorted(EVALUATE_METRICS)}")
    folder = evaluate_metrics_root() / name
    if not (folder / f"{name}.py").is_file() or not (folder / "README.md").is_file():
        raise ValueError(f"metric module folder {str(folder)!r} is incomplete; reinstall eeg2img_hf")
    return folder


def check_copies(fix: bool = False) -> list[str]:
    """`<metric>/<module>.py` copies that differ from `eeg2img_hf/metrics/<module>.py` (rewritten first when `fix`)."""
    stale = []
    for name, modules in EVALUATE_METRICS.items():
        for module in modules:
            source = (_METRICS / f"{module}.py").read_bytes()
            target = evaluate_metrics_root() / name / f"{module}.py"
            if not target.is_file() or target.read_bytes() != source:
                stale.append(f"{name}/{module}.py")
                if fix:
                    target.write_bytes(source)
    return stale
