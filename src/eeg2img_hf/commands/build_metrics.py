"""`eeg2img build-metrics OUT`: assemble the package's `evaluate` metric modules, one loadable folder each."""

from __future__ import annotations

import argparse
import json
from typing import Any

_HELP = ("build the package's evaluate metric modules (k-means accuracy, retrieval top-k/MRR/mAP, FID, KID, IS, "
         "generated-image class accuracy) into OUT/<name>, each loadable with evaluate.load('OUT/<name>') where "
         "eeg2img_hf is not installed")


def register(subparsers: Any) -> None:
    """Adds `build-metrics OUT [--metrics NAME,...] [--overwrite]`."""
    parser = subparsers.add_parser("build-metrics", help=_HELP, description=_HELP)
    parser.add_argument("output_dir", metavar="OUT", help="new or empty folder (or, with --overwrite, an earlier "
                                                          "build-metrics output) that receives one folder per module")
    parser.add_argument("--metrics", help="comma-separated subset (default: all; see eeg2img_hf.metrics."
                                          "evaluate_modules.EVALUATE_METRICS)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier build-metrics output in OUT")
    parser.set_defaults(func=cmd_build_metrics, command="build-metrics")


def cmd_build_metrics(ns: argparse.Namespace) -> None:
    """Builds the metric modules and prints `{"metrics": {name: folder}}` as one JSON line."""
    from ..metrics.evaluate_modules import build_metric_modules

    names = [n.strip() for n in ns.metrics.split(",") if n.strip()] if ns.metrics else None
    built = build_metric_modules(ns.output_dir, names, overwrite=ns.overwrite)
    print(json.dumps({"metrics": {name: str(folder) for name, folder in built.items()}}))
