"""`eeg2img build-space OUT --model ORG/NAME ...`: assemble the demo as a self-contained Gradio Space folder."""

from __future__ import annotations

import argparse
import json
from typing import Any

_HELP = ("assemble the demo as a self-contained Gradio Space folder OUT (app, card with its front matter, the "
         "package's source, requirements.txt, the repo ids the app loads), ready to upload as a Hub Space")


def add_space_sources(parser: argparse.ArgumentParser) -> None:
    """Adds `--model` (required), `--clip`, `--image-to-eeg`, `--judge` and `--dataset` (Hub repo ids)."""
    parser.add_argument("--model", required=True, help="Hub repo id (org/name) of the EEGStyleGAN-ADA model")
    parser.add_argument("--clip", help="Hub repo id of the EEGClip model (retrieval tab)")
    parser.add_argument("--image-to-eeg", help="Hub repo id of the ImageToEEG model (image -> EEG -> image tab)")
    parser.add_argument("--judge", help="Hub repo id of an image-classifier judge (the quickstart's judge folder)")
    parser.add_argument("--dataset", help="hf://datasets/ORG/NAME (pushed with eeg2img push-dataset) or a simulation "
                                          "preset: the trials the app offers")


def space_sources(ns: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `build_space` / `push_space` given by [`add_space_sources`]'s options."""
    return {"model": ns.model, "clip": ns.clip, "image_to_eeg": ns.image_to_eeg, "judge": ns.judge,
            "dataset": ns.dataset}


def register(subparsers: Any) -> None:
    """Adds `build-space OUT --model ID [--clip ID] [--image-to-eeg ID] [--judge ID] [--dataset SRC] [--overwrite]`."""
    parser = subparsers.add_parser("build-space", help=_HELP, description=_HELP)
    parser.add_argument("output_dir", metavar="OUT", help="new or empty folder (or, with --overwrite, an earlier "
                                                          "build-space output)")
    add_space_sources(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier build-space output in OUT")
    parser.set_defaults(func=cmd_build_space, command="build-space")


def cmd_build_space(ns: argparse.Namespace) -> None:
    """Builds the Space folder and prints `{"space": folder}` as one JSON line."""
    from ..hub.space import build_space

    folder = build_space(ns.output_dir, overwrite=ns.overwrite, **space_sources(ns))
    print(json.dumps({"space": str(folder)}))
