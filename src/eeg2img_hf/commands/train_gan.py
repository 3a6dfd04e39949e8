"""`eeg2img train-gan`: train EEGStyleGAN-ADA with Accelerate (see `eeg2img_hf.training.train_gan`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._run_options import add_run_folder_options
from .train_clip import _csv


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    """Training-argument overrides from the parsed command line (unset options are left to the preset)."""
    pairs = {
        "dataset": ns.dataset, "encoder": ns.encoder, "output_dir": ns.output_dir, "conditioning": ns.conditioning,
        "batch_size": ns.batch_size, "kimg": ns.kimg, "max_steps": ns.max_steps, "learning_rate": ns.lr,
        "r1_gamma": ns.gamma, "r1_interval": ns.r1_interval, "pl_weight": ns.pl_weight,
        "style_mixing_prob": ns.style_mixing_prob, "class_loss_weight": ns.class_loss_weight,
        "ema_kimg": ns.ema_kimg, "augment": ns.augment,
        "augment_p": ns.augment_p, "ada_target": ns.ada_target, "ada_kimg": ns.ada_kimg, "tick_kimg": ns.tick_kimg,
        "snapshot_ticks": ns.snapshot_ticks, "checkpoint_ticks": ns.checkpoint_ticks, "seed": ns.seed,
        "stylegan_preset": ns.stylegan_preset, "mixed_precision": ns.mixed_precision,
        "log_with": _csv(ns.log_with) if ns.log_with is not None else None, "init_from": ns.init_from,
    }
    overrides = {k: v for k, v in pairs.items() if v is not None}
    if ns.ema_rampup is not None:  # "off" = no ramp-up (None), which the filter above would drop
        overrides["ema_rampup"] = None if ns.ema_rampup == "off" else ns.ema_rampup
    if ns.standardize_conditioning is not None:
        overrides["standardize_conditioning"] = ns.standardize_conditioning
    if ns.num_fp16_res is not None:
        overrides["stylegan_config"] = {"num_fp16_res": ns.num_fp16_res}
    return overrides


def _ema_rampup(text: str) -> float | str:
    """`--ema-rampup` value: a finite number >= 0, or `off`."""
    if text.strip().lower() in ("off", "none"):
        return "off"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'off', got {text!r}")
    return value


def cmd_train_gan(ns: argparse.Namespace) -> None:
    """Handler: build `GANTrainingArguments` from the preset + options, train, print one JSON line."""
    from ..training.train_gan import GANTrainingArguments, train_gan

    args = GANTrainingArguments.from_preset(ns.preset, resume=ns.resume, overwrite=ns.overwrite, **_overrides(ns))
    summary = train_gan(args)
    if summary["num_processes"] == 1 or _is_main_process():
        keys = ("model_dir", "steps", "kimg", "ticks", "train_seconds", "sec_per_kimg", "augment_p", "num_processes")
        print(json.dumps({k: summary[k] for k in keys}))


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def register(subparsers) -> None:
    """Add the `train-gan` sub-command."""
    p = subparsers.add_parser("train-gan", help="train EEGStyleGAN-ADA (StyleGAN2-ADA on EEG embeddings)")
    p.add_argument("--preset", default="cpu-small", help="paper-eegcvpr40, paper-thoughtviz, cpu-small or tiny")
    p.add_argument("--encoder", help="trained EEGEncoderModel folder (train-encoder's …/model); needed for eeg")
    p.add_argument("--dataset", help="preset name, sim:<preset>, or a saved DatasetDict folder")
    p.add_argument("--output-dir")
    p.add_argument("--conditioning", choices=["eeg", "onehot"])
    p.add_argument("--standardize-conditioning", action=argparse.BooleanOptionalAction,
                   help="centre the EEG embeddings and scale them to unit RMS inside the mapping networks (default: "
                        "off in the paper-* presets, as the authors' code, on in the others; docs/deviations.md)")
    p.add_argument("--stylegan-preset", help="EEGStyleGANConfig preset (cifar-128, cpu-small, tiny)")
    p.add_argument("--kimg", type=float, help="training length in thousands of real images")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int, help="global batch, split across processes")
    p.add_argument("--lr", type=float)
    p.add_argument("--gamma", type=float, help="R1 weight")
    p.add_argument("--r1-interval", type=int)
    p.add_argument("--pl-weight", type=float)
    p.add_argument("--style-mixing-prob", type=float)
    p.add_argument("--class-loss-weight", type=float,
                   help="AC-GAN auxiliary classification loss weight (0 = off, as in the paper): D learns the real "
                        "images' classes, G is pushed to draw its condition trial's class")
    p.add_argument("--ema-kimg", type=float)
    p.add_argument("--ema-rampup", type=_ema_rampup, metavar="RATIO|off",
                   help="cap the EMA half-life at RATIO x the images this run has seen, or off (default: 0.05, "
                        "StyleGAN2-ADA's, for a run from random weights; off with --init-from, so that G_ema "
                        "continues from the starting point's, as StyleGAN2-ADA on resume)")
    p.add_argument("--augment", help="AugmentPipe preset (bgcfnc, bgc, ...) or noaug")
    p.add_argument("--augment-p", type=float, help="fixed augmentation probability (disables ADA)")
    p.add_argument("--ada-target", type=float)
    p.add_argument("--ada-kimg", type=float)
    p.add_argument("--tick-kimg", type=float)
    p.add_argument("--snapshot-ticks", type=int)
    p.add_argument("--checkpoint-ticks", type=int)
    p.add_argument("--num-fp16-res", type=int, help="float16 in the N highest resolutions (GPU: 4)")
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"])
    p.add_argument("--seed", type=int)
    p.add_argument("--log-with", help="comma-separated trackers: csv,tensorboard ('' for none)")
    add_run_folder_options(p)
    p.add_argument("--init-from", metavar="FOLDER_OR_REPO",
                   help="start from the G, G_ema, D and ADA p of a `convert-checkpoint stylegan-snapshot` folder or "
                        "a train-gan model folder, or of the Hub repo it was pushed to with --include-training-state "
                        "(fine-tune / continue on new data; architecture and augment pipe from the folder: an "
                        "--augment naming another pipe is refused unless --augment-p is set)")
    p.set_defaults(func=cmd_train_gan)
