"""`eeg2img push-space ORG/NAME --model ORG/NAME ...`: build the demo Space and upload it to the Hub."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .build_space import add_space_sources, space_sources

_HELP = ("build the demo Space (as build-space does) in a temporary folder and upload it as the Gradio Space "
         "ORG/NAME; the model and dataset repos it names must already be on the Hub")


def register(subparsers: Any) -> None:
    """Adds `push-space ORG/NAME --model ID [...] [--private] [--token TOKEN] [--message MSG]`."""
    parser = subparsers.add_parser("push-space", help=_HELP, description=_HELP)
    parser.add_argument("repo_id", metavar="ORG/NAME", help="the Space repo (created if missing)")
    add_space_sources(parser)
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--message", help="commit message")
    parser.set_defaults(func=cmd_push_space, command="push-space")


def cmd_push_space(ns: argparse.Namespace) -> None:
    """Pushes the Space and prints `{"space": url}` as one JSON line."""
    from ..hub.space import push_space

    url = push_space(ns.repo_id, token=ns.token, private=ns.private, commit_message=ns.message, **space_sources(ns))
    print(json.dumps({"space": url}))
