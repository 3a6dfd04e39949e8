"""Options shared by the `eeg2img push` and `eeg2img push-dataset` sub-commands (no heavy imports)."""

from __future__ import annotations

import argparse


def add_hub_push_arguments(
    parser: argparse.ArgumentParser, *, repo_help: str, message_help: str, card_help: str
) -> None:
    """Adds `REPO_ID`, `--private`, `--token`, `--message` and `--card` (after the command's source argument)."""
    parser.add_argument("repo_id", help=repo_help)
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--message", help=message_help)
    parser.add_argument("--card", help=card_help)
