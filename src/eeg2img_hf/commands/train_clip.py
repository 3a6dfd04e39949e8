"""`eeg2img train-clip`: train EEGClip with Accelerate (see `eeg2img_hf.training.train_clip`)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ._blur_options import parse_blur_sigmas
from ._eeg_tower_options import add_eeg_tower_options, eeg_tower_config
from ._precision import add_mixed_precision_option, precision_overrides
from ._run_options import add_run_folder_options
from ._vision_options import add_vision_options, vision_overrides


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _subjects(value: str | None, option: str) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in _csv(value)]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated subject numbers, got {value!r}") from None


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    """Training-argument overrides from the parsed command line (unset options are left to the preset)."""
    pairs = {
        "dataset": ns.dataset, "output_dir": ns.output_dir, "model_preset": ns.model_preset, "encoder": ns.encoder,
        "epochs": ns.epochs, "max_steps": ns.max_steps, "batch_size": ns.batch_size, "learning_rate": ns.lr,
        "positives": ns.positives, "loss": ns.loss, "mse_weight": ns.mse_weight,
        "eval_every_epochs": ns.eval_every_epochs,
        "checkpoint_every_steps": ns.checkpoint_every_steps, "seed": ns.seed,
        "classes": _csv(ns.classes) if ns.classes is not None else None,
        "subjects": _subjects(ns.subjects, "--subjects"), "exclude_subjects": _subjects(ns.exclude_subjects,
                                                                                         "--exclude-subjects"),
        "image_features": ns.image_features,
        "log_with": _csv(ns.log_with) if ns.log_with is not None else None,
    }
    overrides = {k: v for k, v in pairs.items() if v is not None}
    if ns.blur_sigmas is not None:
        overrides["blur_sigmas"] = parse_blur_sigmas(ns.blur_sigmas)
    if ns.class_balanced:
        overrides["class_balanced"] = True
    if ns.unique_classes:
        overrides.update(class_balanced=True, unique_classes=True)
    overrides.update(vision_overrides(ns))
    overrides.update(precision_overrides(ns))
    return overrides


def cmd_train_clip(ns: argparse.Namespace) -> None:
    """Handler: build `ClipTrainingArguments` from the preset + options, train, print one JSON line.

    The preset's `simulate` arguments belong to the preset's dataset: another `--dataset` drops them.
    """
    from ..training.train_clip import CLIP_PRESETS, ClipTrainingArguments, train_clip

    overrides = _overrides(ns)
    tower = eeg_tower_config(ns)
    if tower:  # the EEG tower's fields update the preset's encoder_config (its other towers' fields stay unused)
        model_config = dict(CLIP_PRESETS.get(ns.preset, {}).get("model_config", {}))
        model_config["encoder_config"] = {**model_config.get("encoder_config", {}), **tower}
        overrides["model_config"] = model_config
    preset_dataset = CLIP_PRESETS.get(ns.preset, {}).get("dataset")
    if "dataset" in overrides and overrides["dataset"] != preset_dataset:
        overrides["simulate"] = {}
    args = ClipTrainingArguments.from_preset(ns.preset, resume=ns.resume, overwrite=ns.overwrite, **overrides)
    summary = train_clip(args)
    if os.environ.get("RANK", "0") == "0":
        keys = ("model_dir", "selection_metric", "best_validation", "best_epoch", "global_step", "train_seconds",
                "num_processes")
        print(json.dumps({k: summary[k] for k in keys}))


def register(subparsers) -> None:
    """Add the `train-clip` sub-command."""
    p = subparsers.add_parser("train-clip", help="train EEGClip (EEG + image towers, symmetric CLIP loss)")
    p.add_argument("--preset", default="cpu-small", help="authors, cpu-small, things-eeg2, things-eeg2-sim, "
                   "things-eeg2-atm, things-eeg2-atm-sim, things-eeg2-ubp or things-eeg2-ubp-sim")
    p.add_argument("--dataset", help="preset name, sim:<preset>, or a saved DatasetDict folder")
    p.add_argument("--output-dir")
    p.add_argument("--model-preset", help="EEGClipConfig preset (authors, cpu-small, things-eeg2-tsconv, "
                   "things-eeg2-lstm, things-eeg2-cnn, things-eeg2-atm, things-eeg2-ubp, tiny)")
    p.add_argument("--encoder", help="trained EEGEncoderModel folder (train-encoder's .../model) for the EEG tower")
    add_eeg_tower_options(p)
    add_vision_options(p)
    p.add_argument("--classes", help="comma-separated class names to keep")
    p.add_argument("--subjects", help="train on these subjects only, e.g. 1 (subject-dependent; THINGS-EEG2)")
    p.add_argument("--exclude-subjects", help="leave these subjects out of training, e.g. 1 (leave-one-subject-out)")
    p.add_argument("--image-features", metavar="FILE.safetensors",
                   help="precomputed pooled features of the frozen image tower ('eeg2img image-features')")
    p.add_argument("--blur-sigmas", metavar="LOW,MEDIUM,HIGH",
                   help="uncertainty-aware blur prior: Gaussian sigmas in pixels of the tower's input for certain, "
                        "medium and uncertain pairs ('none': sharp images; the things-eeg2-ubp presets set it)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int, help="global batch, split across processes")
    p.add_argument("--lr", type=float)
    p.add_argument("--class-balanced", action="store_true", help="no two trials of the same image in a batch")
    p.add_argument("--unique-classes", action="store_true", help="no two trials of the same class in a batch")
    p.add_argument("--positives", choices=["diagonal", "image", "class"], help="which batch pairs are positives")
    p.add_argument("--loss", choices=["clip", "clip+mse"],
                   help="clip (symmetric CLIP loss) or clip+mse (ATM's: CLIP plus MSE between the embeddings)")
    p.add_argument("--mse-weight", type=float, help="weight of the MSE term of --loss clip+mse, in [0, 1] "
                   "(default 0.99, ATM's)")
    p.add_argument("--eval-every-epochs", type=int)
    p.add_argument("--checkpoint-every-steps", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--log-with", help="comma-separated trackers: csv,tensorboard ('' for none)")
    add_run_folder_options(p)
    add_mixed_precision_option(p)
    p.set_defaults(func=cmd_train_clip)
