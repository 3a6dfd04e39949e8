"""Options shared by `eeg2img train-clip` and `eeg2img train-image-to-eeg`: where the image tower's weights come
from (no heavy imports)."""

from __future__ import annotations

import argparse
from typing import Any

VISION_MODEL_HELP = (
    "pretrained transformers vision backbone (Hub repo id or folder) loaded WITH its weights and image "
    "preprocessing into the image tower: microsoft/resnet-50 (the paper's; default of --preset authors), ConvNeXt, "
    "DINOv2, or a CLIP / SigLIP checkpoint (its vision tower); 'none' loads no weights"
)


def add_vision_options(parser: argparse.ArgumentParser) -> None:
    """`--vision-model`, `--vision-revision` and `--allow-random-vision-tower` (train-clip, train-image-to-eeg)."""
    parser.add_argument("--vision-model", metavar="REPO_OR_PATH", help=VISION_MODEL_HELP)
    parser.add_argument("--vision-revision", help="branch, tag or commit of the --vision-model Hub repo")
    parser.add_argument("--allow-random-vision-tower", action="store_true",
                        help="accept a frozen image tower that no --vision-model loads (random features; for tests)")


def vision_overrides(ns: argparse.Namespace) -> dict[str, Any]:
    """Training-argument overrides of the vision options (`--vision-model none` clears the preset's tower)."""
    overrides: dict[str, Any] = {}
    if ns.vision_model is not None:
        overrides["vision_model"] = None if ns.vision_model.strip().lower() == "none" else ns.vision_model
    if ns.vision_revision is not None:
        overrides["vision_revision"] = ns.vision_revision
    if ns.allow_random_vision_tower:
        overrides["allow_random_vision_tower"] = True
    return overrides
