"""`eeg2img train-image-to-eeg` and `eeg2img evaluate-reconstruction` (image -> EEG space -> image)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..utils.model_folders import check_model_folder
from ._precision import add_mixed_precision_option, precision_overrides
from ._run_options import add_allow_unfinished_option, add_run_folder_options
from ._vision_options import add_vision_options, vision_overrides


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    """Training-argument overrides from the parsed command line (unset options are left to the preset)."""
    pairs = {
        "encoder": ns.encoder, "dataset": ns.dataset, "output_dir": ns.output_dir, "loss": ns.loss,
        "margin": ns.margin, "model_preset": ns.model_preset, "generator": ns.generator, "epochs": ns.epochs,
        "max_steps": ns.max_steps, "batch_size": ns.batch_size, "learning_rate": ns.lr, "selection": ns.selection,
        "seed": ns.seed,
    }  # fmt: skip
    overrides = {k: v for k, v in pairs.items() if v is not None}
    if ns.subject_conditioning:
        overrides["subject_conditioning"] = True
    if ns.freeze_vision_tower is not None:
        overrides["model_config"] = {"freeze_vision_tower": ns.freeze_vision_tower == "yes"}
    overrides.update(vision_overrides(ns))
    overrides.update(precision_overrides(ns))
    return overrides


def cmd_train_image_to_eeg(ns: argparse.Namespace) -> None:
    """Handler: build `ImageToEEGTrainingArguments` from the preset + options, train, print one JSON line."""
    from ..training.train_image_to_eeg import ImageToEEGTrainingArguments, train_image_to_eeg

    check_model_folder(ns.encoder, "eeg2img_eeg_encoder", what="--encoder", allow_unfinished=True)
    if ns.generator:
        check_model_folder(ns.generator, "eeg2img_stylegan", what="--generator", allow_unfinished=True)
    args = ImageToEEGTrainingArguments.from_preset(ns.preset, resume=ns.resume, overwrite=ns.overwrite,
                                                   **_overrides(ns))
    summary = train_image_to_eeg(args)
    keys = ("model_dir", "selection_metric", "best_validation", "best_epoch", "epochs_run", "train_seconds")
    print(json.dumps({k: summary[k] for k in keys}))


def cmd_evaluate_reconstruction(ns: argparse.Namespace) -> None:
    """Handler: run `evaluate_reconstruction` and print the seen/unseen/all scores as one JSON line."""
    from ..evaluation.evaluate_reconstruction import evaluate_reconstruction

    check_model_folder(ns.model, "eeg2img_image_to_eeg", allow_unfinished=ns.allow_unfinished)
    if ns.generator:
        check_model_folder(ns.generator, "eeg2img_stylegan", what="--generator", allow_unfinished=ns.allow_unfinished)
    report = evaluate_reconstruction(
        ns.model, ns.generator, ns.dataset, ns.judge, splits=tuple(s for s in ns.splits.split(",") if s),
        num_images_per_image=ns.num_images, seed=ns.seed, output_path=ns.output, device=ns.device,
        batch_size=ns.batch_size,
    )  # fmt: skip
    print(json.dumps({k: report[k] for k in ("seen", "unseen", "all", "chance")}))


def register(subparsers) -> None:
    """Add the `train-image-to-eeg` and `evaluate-reconstruction` sub-commands."""
    p = subparsers.add_parser("train-image-to-eeg", help="train an image encoder into a trained EEG encoder's space")
    p.add_argument("--preset", default="cpu-small", help="authors, cpu-small or tiny")
    p.add_argument("--encoder", required=True, help="trained EEGEncoderModel folder (train-encoder's …/model)")
    p.add_argument("--dataset", help="preset name, sim:<preset>, or a saved DatasetDict folder")
    p.add_argument("--output-dir")
    p.add_argument("--loss", choices=["mse", "triplet"], help="mse (authors' code) or triplet (paper text)")
    p.add_argument("--margin", type=float, help="triplet margin (squared distances)")
    p.add_argument("--model-preset", help="ImageToEEGConfig preset (authors, cpu-small, tiny)")
    p.add_argument("--freeze-vision-tower", choices=["yes", "no"])
    add_vision_options(p)
    p.add_argument("--subject-conditioning", action="store_true", help="learn a subject embedding (optional later)")
    p.add_argument("--generator", help="EEGStyleGANModel folder recorded for the reconstruction pipeline")
    p.add_argument("--selection", choices=["kmeans", "cosine"], help="validation criterion for the saved model")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int, help="global batch, split across processes")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    add_run_folder_options(p)
    add_mixed_precision_option(p)
    p.set_defaults(func=cmd_train_image_to_eeg)

    e = subparsers.add_parser("evaluate-reconstruction",
                              help="judge image -> EEG space -> image reconstructions (seen vs unseen images)")
    e.add_argument("model", help="trained ImageToEEGModel folder")
    e.add_argument("--generator", help="EEGStyleGANModel folder (default: the model's generator_name_or_path)")
    e.add_argument("--dataset", required=True, help="preset name, sim:<preset>, or a saved DatasetDict folder")
    e.add_argument("--judge", required=True, help="image classifier folder (metrics.image_classifier)")
    e.add_argument("--splits", default="train,validation,test")
    e.add_argument("--num-images", type=int, default=1, help="reconstructions per image")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--batch-size", type=int, default=16,
                   help="images generated per call (default 16: a 128 px generator stays under the 4 GiB guard)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--output", help="write the JSON report here")
    add_allow_unfinished_option(e)
    e.set_defaults(func=cmd_evaluate_reconstruction)
