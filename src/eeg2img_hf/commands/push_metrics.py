"""`eeg2img push-metrics ORG`: publish the package's `evaluate` metric modules as Hub Spaces `ORG/<name>`."""

from __future__ import annotations

import argparse
import json
from typing import Any

_HELP = ("push the package's evaluate metric modules (k-means accuracy, retrieval top-k/MRR/mAP, FID, KID, IS, "
         "generated-image class accuracy) with their metric cards as Spaces ORG/<name>, loadable with "
         "evaluate.load('ORG/<name>')")


def register(subparsers: Any) -> None:
    """Adds `push-metrics ORG [--metrics NAME,...] [--private] [--token TOKEN] [--message MSG]`."""
    parser = subparsers.add_parser("push-metrics", help=_HELP, description=_HELP)
    parser.add_argument("organization", metavar="ORG", help="Hub user or organisation that receives the Spaces")
    parser.add_argument("--metrics", help="comma-separated subset (default: all; see eeg2img_hf.metrics."
                                          "evaluate_modules.EVALUATE_METRICS)")
    parser.add_argument("--private", action="store_true", help="create the Spaces as private")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--message", help="commit message")
    parser.set_defaults(func=cmd_push_metrics, command="push-metrics")


def cmd_push_metrics(ns: argparse.Namespace) -> None:
    """Pushes the metric modules and prints `{"spaces": {name: url}}` as one JSON line."""
    from ..hub.push_metrics import push_metrics

    names = [n.strip() for n in ns.metrics.split(",") if n.strip()] if ns.metrics else None
    urls = push_metrics(ns.organization, names, token=ns.token, private=ns.private, commit_message=ns.message)
    print(json.dumps({"spaces": urls}))
