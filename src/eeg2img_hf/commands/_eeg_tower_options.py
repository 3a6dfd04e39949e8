"""The EEG tower options shared by `train-encoder` and `train-clip` (`--architecture`, `--braindecode-model`,
`--braindecode-kwargs`; no heavy imports)."""

from __future__ import annotations

import argparse
import json
from typing import Any

ARCHITECTURES = ("lstm", "cnn", "tsconv", "braindecode")


def json_object(value: str) -> dict[str, Any]:
    """argparse type: a JSON object (`'{"drop_prob": 0.25}'`)."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {value!r} ({err.msg})") from err
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {value!r}")
    return parsed


def add_eeg_tower_options(parser: argparse.ArgumentParser, architectures: tuple[str, ...] = ARCHITECTURES) -> None:
    """Adds `--architecture`, `--braindecode-model` and `--braindecode-kwargs`."""
    parser.add_argument("--architecture", choices=architectures, help="EEG tower (default: the preset's)")
    parser.add_argument("--braindecode-model", help="class name in braindecode.models for --architecture braindecode "
                        "(e.g. EEGNet, ShallowFBCSPNet, EEGConformer; needs pip install braindecode)")
    parser.add_argument("--braindecode-kwargs", type=json_object, help="further arguments of that class as a JSON "
                        "object, e.g. '{\"drop_prob\": 0.25}'")


def eeg_tower_config(ns: argparse.Namespace) -> dict[str, Any]:
    """The `EEGEncoderConfig` fields the options set (`{}` when none is given); `--braindecode-model` or
    `--braindecode-kwargs` without `--architecture braindecode` is refused."""
    if ns.architecture != "braindecode" and (ns.braindecode_model or ns.braindecode_kwargs):
        raise ValueError("--braindecode-model and --braindecode-kwargs need --architecture braindecode")
    if ns.architecture == "braindecode" and not ns.braindecode_model:
        raise ValueError("--architecture braindecode needs --braindecode-model, the class name of a braindecode "
                         "model, e.g. EEGNet")
    fields = {"architecture": ns.architecture, "braindecode_model": ns.braindecode_model,
              "braindecode_kwargs": ns.braindecode_kwargs}
    return {k: v for k, v in fields.items() if v is not None}
