"""Options about training run folders shared by the sub-commands (no heavy imports)."""

from __future__ import annotations

import argparse


def add_allow_unfinished_option(parser: argparse.ArgumentParser) -> None:
    """Adds `--allow-unfinished`: accept the `model` folder of a training run that has not finished."""
    parser.add_argument("--allow-unfinished", action="store_true",
                        help="accept the model folder of a training run that has not finished (interrupted or still "
                             "running; it has no training record); refused by default")


def add_run_folder_options(parser: argparse.ArgumentParser) -> None:
    """Adds `--resume` and `--overwrite` of the trainers (one run per output folder)."""
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --output-dir from its latest checkpoint (with the same settings; "
                             "only the run length, checkpointing and logging may change)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start a new run in --output-dir, deleting the run there (only a run eeg2img wrote, "
                             "and only when the folder holds no other files)")
