"""`eeg2img convert <source> ...`: convert a real EEG-image source to the package's dataset format.

The sources are the entries of `eeg2img_hf.data.converters.CONVERTERS` (CLI name -> module); each module
defines `add_arguments(parser)` and `run(args)`, which returns a JSON-serialisable summary (rows per
split, dropped counts, output) that this command prints on one line. The converter module (and
`datasets`) is imported only when the command runs, so `eeg2img --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from ..utils.outputs import check_inputs
from ._parser import ArgumentParser

_HELP = "convert a real EEG-image source (eegcvpr40, authors-npy, ...) to a saved DatasetDict"
_EPILOG = "run 'eeg2img convert SOURCE --help' for the options of one source"


def register(subparsers: Any) -> None:
    """Adds `convert SOURCE ...` to the `eeg2img` CLI; the source's own options are parsed when it runs."""
    parser = subparsers.add_parser("convert", help=_HELP, description=_HELP, epilog=_EPILOG)
    parser.add_argument("source", metavar="SOURCE", help="converter name (e.g. eegcvpr40, authors-npy)")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="options of that converter")
    parser.set_defaults(func=cmd_convert, command="convert")


def build_source_parser(source: str) -> tuple[argparse.ArgumentParser, Any]:
    """The argument parser of `eeg2img convert <source>` and the converter module behind it."""
    from ..data.converters import CONVERTERS

    if source not in CONVERTERS:
        raise ValueError(f"unknown source {source!r}; expected one of {sorted(CONVERTERS)}")
    module = importlib.import_module(CONVERTERS[source])
    doc = (module.__doc__ or "").strip().splitlines()
    parser = ArgumentParser(prog=f"eeg2img convert {source}", description=doc[0] if doc else None)
    module.add_arguments(parser)
    return parser, module


def cmd_convert(ns: argparse.Namespace) -> None:
    """Parses the source's options, refuses an output that overlaps an input, runs the converter and prints the
    JSON summary."""
    parser, module = build_source_parser(ns.source)
    args = parser.parse_args(ns.arguments)
    check_converter_output(args)
    summary = module.run(args)
    if summary is not None:
        print(json.dumps(summary, default=str))


def check_converter_output(args: argparse.Namespace) -> None:
    """Refuse an output folder (`output_dir` / `--output`) that equals, contains or lies inside any path given as
    another option (the EEG files, image folders, mapping files); the writer checks ownership of the folder."""
    values = vars(args)
    key = "output_dir" if values.get("output_dir") is not None else "output"
    if values.get(key) is None:
        return
    inputs = {f"--{name.replace('_', '-')}": value for name, value in values.items()
              if name != key and isinstance(value, str)}
    check_inputs(values[key], inputs, what=key if key == "output_dir" else "--output")
