"""The package's metrics as `evaluate` metric modules, assembled from the library's own sources when built.

The package keeps, per module, only what is the module's own: `eeg2img_hf/evaluate_metrics/<name>/` holds
`<name>.py` (an `evaluate.Metric`) and its metric card `README.md`. [`build_metric_module`] (`eeg2img
build-metrics OUT`, and `eeg2img push-metrics ORG` into a temporary folder) writes a complete module folder: those
two files, the library modules the script computes with, copied from `eeg2img_hf/metrics/` at build time
([`EVALUATE_METRICS`] names them), and the `requirements.txt` the module declares. `evaluate.load(folder)` copies
the script and every module it imports with a single-dot relative import into its module cache and imports it
there, so a built folder works where `eeg2img_hf` is not installed. With the package installed, a script computes
through the package's own function whenever the package's module is the same code as the copy beside the script.

This module reads and writes files only; it imports no metric script (they import `evaluate`, 6-10 s).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..utils.outputs import make_staging_dir, prepare_output_dir, remove_staging_dir, replace_folder, write_marker

__all__ = ["EVALUATE_METRICS", "METRIC_REQUIREMENTS", "build_metric_module", "build_metric_modules",
           "evaluate_metric_dir", "evaluate_metrics_root", "parse_metric_names"]

EVALUATE_METRICS: dict[str, tuple[str, ...]] = {
    # metric module -> library modules (under eeg2img_hf/metrics) copied into its folder when it is built
    "eeg2img_kmeans_accuracy": ("features",),
    "eeg2img_retrieval": ("retrieval", "features"),
    "eeg2img_fid": ("generative",),
    "eeg2img_kid": ("generative",),
    "eeg2img_inception_score": ("generative",),
    "eeg2img_class_accuracy": ("generative",),
}
"""Every `evaluate` metric module of the package and the library modules it is built with."""

METRIC_REQUIREMENTS = ("evaluate>=0.4", "numpy>=1.26", "scipy>=1.11", "scikit-learn>=1.4", "torch")
"""What a built module imports (its script: evaluate, numpy; the library modules: numpy, scipy, scikit-learn,
torch); written into each built folder's `requirements.txt`."""

_METRICS = Path(__file__).resolve().parent


def evaluate_metrics_root() -> Path:
    """The folder holding each metric module's own files (`eeg2img_hf/evaluate_metrics`)."""
    return _METRICS.parent / "evaluate_metrics"


def evaluate_metric_dir(name: str) -> Path:
    """The folder of one metric module's own files (script and card; not loadable before it is built).

    Raises:
        `ValueError`: for a name not in [`EVALUATE_METRICS`], or when the folder is missing (a broken install).
    """
    if name not in EVALUATE_METRICS:
        raise ValueError(f"unknown metric module {name!r}; choose from {sorted(EVALUATE_METRICS)}")
    folder = evaluate_metrics_root() / name
    if not (folder / f"{name}.py").is_file() or not (folder / "README.md").is_file():
        raise ValueError(f"metric module folder {str(folder)!r} is incomplete; reinstall eeg2img_hf")
    return folder


def parse_metric_names(names: list[str] | None) -> list[str]:
    """`names` checked against [`EVALUATE_METRICS`] (all of them for `None`).

    Raises:
        `ValueError`: naming the unknown modules, or for an empty list.
    """
    names = list(EVALUATE_METRICS) if names is None else list(names)
    unknown = sorted(set(names) - set(EVALUATE_METRICS))
    if unknown or not names:
        raise ValueError(f"unknown metric modules {unknown}; choose from {sorted(EVALUATE_METRICS)}")
    return names


def build_metric_module(name: str, folder: str | Path) -> list[str]:
    """Write the complete module `name` into the empty or new folder `folder`; returns the file names.

    The files: the module's script and metric card, a copy of each library module of [`EVALUATE_METRICS`] (from this
    installed package) and `requirements.txt` ([`METRIC_REQUIREMENTS`]). `evaluate.load(str(folder))` then loads it.

    Raises:
        `ValueError`: for an unknown metric, or a `folder` that exists and is not empty.
    """
    source = evaluate_metric_dir(name)
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"{str(folder)!r} exists and is not an empty folder; a metric module is built into a new "
                         "or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    for path in (source / f"{name}.py", source / "README.md", *(_METRICS / f"{m}.py" for m in EVALUATE_METRICS[name])):
        shutil.copyfile(path, folder / path.name)
    (folder / "requirements.txt").write_text("\n".join(METRIC_REQUIREMENTS) + "\n")
    return sorted(p.name for p in folder.iterdir())


def build_metric_modules(output_dir: str | Path, names: list[str] | None = None, *,
                         overwrite: bool = False) -> dict[str, Path]:
    """`eeg2img build-metrics OUT`: one built module folder `OUT/<name>` per metric; returns `{name: folder}`.

    The modules are built in a temporary folder beside `OUT`, which then takes the place of `OUT`: an interrupted
    build leaves `OUT` as it was. `OUT` must be new or empty, or (with `overwrite`) an earlier `build-metrics` output.

    Raises:
        `ValueError`: for unknown metric names.
        [`~eeg2img_hf.utils.errors.RefusedOutputError`]: for an `OUT` that is a file, or a non-empty folder that is
            not this command's output (or is, without `overwrite`).
    """
    names = parse_metric_names(names)
    out = prepare_output_dir(output_dir, command="build-metrics", kind="metrics", overwrite=overwrite, what="OUT")
    staging = make_staging_dir(out)
    try:
        for name in names:
            build_metric_module(name, staging / name)
        write_marker(staging, command="build-metrics", kind="metrics")
        replace_folder(staging, out, kind="metrics")
    finally:
        remove_staging_dir(staging)  # nothing left when it was moved into place
    return {name: out / name for name in names}
