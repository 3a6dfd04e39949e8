"""`--mixed-precision` of the training sub-commands (no heavy imports)."""

from __future__ import annotations

import argparse
from typing import Any


def add_mixed_precision_option(parser: argparse.ArgumentParser) -> None:
    """Adds `--mixed-precision {no,fp16,bf16}` (Accelerate autocast; default: what `accelerate launch` says)."""
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"],
                        help="Accelerate mixed precision (bf16 also on CPU; fp16 needs a GPU); default: "
                             "accelerate launch's --mixed_precision or the Accelerate config")


def precision_overrides(ns: argparse.Namespace) -> dict[str, Any]:
    """`{"mixed_precision": ...}` when the option was given, else `{}`."""
    value = getattr(ns, "mixed_precision", None)
    return {} if value is None else {"mixed_precision": value}
