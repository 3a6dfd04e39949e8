"""`eeg2img split`: re-split a saved EEG-image dataset with a leakage-safe strategy and print its report."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..utils.names import SPLIT_STRATEGIES
from ..utils.outputs import prepare_output_dir

__all__ = ["register", "parse_subjects", "run_split"]


def register(subparsers: Any) -> None:
    """Adds the `split` sub-command to the `eeg2img` CLI."""
    p = subparsers.add_parser(
        "split", help="re-split a dataset (paper, within-block, subject-held-out, exemplar-disjoint, block-held-out)"
    )
    p.add_argument("dataset", help="a saved DatasetDict folder (or a simulation preset name)")
    p.add_argument("--strategy", required=True, choices=SPLIT_STRATEGIES)
    p.add_argument("--output", required=True, help="folder to write (never the input folder)")
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-subjects", help="comma-separated test subjects for subject-held-out, e.g. 1,2")
    p.add_argument("--n-test-subjects", type=int, help="number of test subjects drawn for subject-held-out")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    p.set_defaults(func=_run)


def parse_subjects(text: str) -> list[int]:
    """`"1,2"` -> `[1, 2]`; raises a `ValueError` for anything but comma-separated positive integers."""
    try:
        subjects = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--test-subjects expects comma-separated subject numbers like 1,2, got {text!r}") from None
    if not subjects or min(subjects) < 1:
        raise ValueError(f"--test-subjects expects positive subject numbers, got {text!r}")
    return subjects


def run_split(
    dataset: str,
    strategy: str,
    output: str,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    test_subjects: list[int] | None = None,
    n_test_subjects: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Load `dataset`, re-split it with [`split_dataset`], save it to `output` and return its split report."""
    from ..data import get_eeg_info, load_eeg_dataset
    from ..data.preprocessing import save_dataset_dict
    from ..data.splits import split_dataset

    prepare_output_dir(output, command="split", kind="dataset", inputs={"dataset": dataset}, overwrite=overwrite,
                       what="--output")  # fails before the split
    source = load_eeg_dataset(dataset)
    result = split_dataset(source, strategy, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                           test_subjects=test_subjects, n_test_subjects=n_test_subjects)
    save_dataset_dict(result, output, source=source, overwrite=overwrite, inputs={"dataset": dataset},
                      command="split")
    split = get_eeg_info(result)["split"]
    return {"saved": output, "strategy": strategy, "counts": split["counts"], "overlaps": split["overlaps"],
            "disjoint": split["disjoint"]}


def _run(ns: argparse.Namespace) -> None:
    report = run_split(
        ns.dataset, ns.strategy, ns.output, val_fraction=ns.val_fraction, test_fraction=ns.test_fraction,
        seed=ns.seed, test_subjects=parse_subjects(ns.test_subjects) if ns.test_subjects else None,
        n_test_subjects=ns.n_test_subjects, overwrite=ns.overwrite,
    )
    print(json.dumps(report))
