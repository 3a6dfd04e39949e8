"""`eeg2img image-features`: the frozen image tower's pooled features of every image of a dataset, computed once
into a safetensors file for `train-clip --image-features` (see `eeg2img_hf.training.image_features`)."""

from __future__ import annotations

import argparse
import json

from ..utils.model_folders import check_model_folder, load_model_folder
from ._blur_options import parse_blur_sigmas
from ._run_options import add_allow_unfinished_option
from ._vision_options import VISION_MODEL_HELP


def cmd_image_features(ns: argparse.Namespace) -> None:
    """Build the EEGClip model of `--model-preset` with the `--vision-model` tower (or read `--model`), compute the
    features and print one JSON line."""
    from ..models import EEGClipModel
    from ..training.image_features import compute_image_features

    if (ns.model is None) == (ns.vision_model is None):
        raise ValueError("pass --vision-model REPO_OR_PATH (with --model-preset) or --model FOLDER (a trained EEGClip)")
    if ns.model is not None:
        check_model_folder(ns.model, "eeg2img_eeg_clip", allow_unfinished=ns.allow_unfinished)
        model = load_model_folder(EEGClipModel, ns.model)
    else:
        model = EEGClipModel.from_vision_pretrained(ns.model_preset, vision_model=ns.vision_model,
                                                    revision=ns.vision_revision)
    summary = compute_image_features(model, ns.dataset, ns.output, splits=ns.splits.split(",") if ns.splits else None,
                                     batch_size=ns.batch_size, device=ns.device, overwrite=ns.overwrite,
                                     blur_sigmas=parse_blur_sigmas(ns.blur_sigmas))
    print(json.dumps(summary))


def register(subparsers) -> None:
    """Add `image-features` to the `eeg2img` sub-commands."""
    p = subparsers.add_parser("image-features", help="precompute a frozen image tower's features for train-clip")
    p.add_argument("--dataset", required=True, help="saved DatasetDict folder, preset name or sim:<preset>")
    p.add_argument("--output", required=True, metavar="FILE.safetensors", help="features file to write")
    p.add_argument("--vision-model", metavar="REPO_OR_PATH", help=VISION_MODEL_HELP)
    p.add_argument("--vision-revision", help="branch, tag or commit of the --vision-model Hub repo")
    p.add_argument("--model-preset", default="things-eeg2-tsconv",
                   help="EEGClipConfig preset whose image preprocessing the training run uses "
                        "(default things-eeg2-tsconv)")
    p.add_argument("--model", help="or: a trained EEGClip folder whose frozen tower and preprocessing to use")
    p.add_argument("--splits", help="comma-separated splits (default: all)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", help="e.g. cuda (default: cpu)")
    p.add_argument("--blur-sigmas", metavar="LOW,MEDIUM,HIGH",
                   help="also write the features of the images blurred by the uncertainty-aware blur prior at these "
                        "three sigmas (pixels of the processed image), for train-clip's blur prior (e.g. 7.1,8,8.9)")
    p.add_argument("--overwrite", action="store_true", help="replace a features file written earlier")
    add_allow_unfinished_option(p)
    p.set_defaults(func=cmd_image_features, command="image-features")
