"""`eeg2img push-dataset PATH REPO_ID`: publish a saved EEG-image dataset with its card to the Hub."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._hub_options import add_hub_push_arguments

_HELP = "push a saved EEG-image dataset (save_to_disk folder) with its dataset card to a Hub dataset repo"


def register(subparsers: Any) -> None:
    """Adds `push-dataset PATH REPO_ID [--private] [--token TOKEN] [--message MSG] [--card FILE]`."""
    parser = subparsers.add_parser("push-dataset", help=_HELP, description=_HELP)
    parser.add_argument("path", help="folder written by DatasetDict.save_to_disk (e.g. by `eeg2img convert`)")
    add_hub_push_arguments(parser, repo_help="target dataset repo, org/name (created if missing)",
                           message_help="commit message of the data commit",
                           card_help="markdown card to publish instead of the rendered template")
    parser.set_defaults(func=cmd_push_dataset, command="push-dataset")


def cmd_push_dataset(ns: argparse.Namespace) -> None:
    """Pushes the dataset and prints `{"url": ..., "repo_id": ...}` as one JSON line."""
    from ..hub.push import push_dataset

    url = push_dataset(ns.path, ns.repo_id, token=ns.token, private=ns.private, card=ns.card,
                       commit_message=ns.message)
    print(json.dumps({"url": url, "repo_id": ns.repo_id}))
