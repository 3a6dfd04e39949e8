"""`eeg2img` command line. Each subcommand parses arguments and calls a library function; heavy imports
happen inside the handlers so `eeg2img --help` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import warnings
from typing import Any

from .commands import COMMAND_MODULES
from .commands._eeg_tower_options import add_eeg_tower_options
from .commands._parser import ArgumentParser
from .commands._run_options import add_allow_unfinished_option, add_run_folder_options
from .utils.errors import user_error_message
from .utils.model_folders import check_model_folder
from .utils.names import SPLIT_STRATEGIES  # imports nothing: keeps --help free of `datasets`
from .utils.outputs import prepare_output_dir


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _add_simulation_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("simulated data (when the dataset is a preset name)")
    group.add_argument("--seed-data", type=int, dest="sim_seed", help="simulation seed")
    group.add_argument("--snr", type=float, help="evoked-to-background RMS ratio")
    group.add_argument("--block-drift", type=float, help="slow per-block drift amplitude (0 = off)")
    group.add_argument("--split", choices=SPLIT_STRATEGIES, help="split strategy")


def _simulation_kwargs(ns: argparse.Namespace) -> dict[str, Any]:
    pairs = {"seed": ns.sim_seed, "snr": ns.snr, "block_drift": ns.block_drift, "split": ns.split}
    return {k: v for k, v in pairs.items() if v is not None}


def cmd_simulate(ns: argparse.Namespace) -> None:
    from .data import simulate_dataset
    from .data.preprocessing import save_dataset_dict

    prepare_output_dir(ns.output, command="simulate", kind="dataset", overwrite=True, what="--output")
    ds = simulate_dataset(ns.preset, **_simulation_kwargs(ns))
    save_dataset_dict(ds, ns.output, overwrite=True, command="simulate")  # replaces only a dataset it wrote
    print(json.dumps({"saved": ns.output, "splits": {k: len(v) for k, v in ds.items()}}))


def cmd_train_encoder(ns: argparse.Namespace) -> None:
    from .training import EncoderTrainingArguments, train_encoder

    overrides = {
        "dataset": ns.dataset, "output_dir": ns.output_dir, "architecture": ns.architecture, "loss": ns.loss,
        "braindecode_model": ns.braindecode_model, "braindecode_kwargs": ns.braindecode_kwargs,
        "init_from_braindecode": ns.init_from_braindecode,
        "margin": ns.margin, "triplet_weight": ns.triplet_weight, "augment_time_shift": ns.augment_time_shift,
        "augment_channel_dropout": ns.augment_channel_dropout, "augment_noise_std": ns.augment_noise_std,
        "epochs": ns.epochs, "max_steps": ns.max_steps, "batch_size": ns.batch_size,
        "learning_rate": ns.lr, "seed": ns.seed, "checkpoint_every_steps": ns.checkpoint_every,
        "exclude_classes": _csv(ns.exclude_classes) if ns.exclude_classes else None,
        "log_with": _csv(ns.log_with) if ns.log_with is not None else None, "mixed_precision": ns.mixed_precision,
        "gradient_checkpointing": ns.gradient_checkpointing or None,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    simulate = _simulation_kwargs(ns)
    if simulate:
        overrides["simulate"] = simulate
    args = EncoderTrainingArguments.from_preset(ns.preset, resume=ns.resume, overwrite=ns.overwrite, **overrides)
    summary = train_encoder(args)
    print(json.dumps({k: summary[k] for k in ("model_dir", "selection_metric", "best_validation", "best_epoch",
                                              "train_seconds")}))


def cmd_evaluate_encoder(ns: argparse.Namespace) -> None:
    from .evaluation import evaluate_encoder

    check_model_folder(ns.model, "eeg2img_eeg_encoder", allow_unfinished=ns.allow_unfinished)
    result = evaluate_encoder(ns.model, dataset=ns.dataset, output_json=ns.output,
                              unseen_classes=_csv(ns.unseen_classes) if ns.unseen_classes else None,
                              tsne_path="" if ns.no_tsne else None)
    figures = {k: v for k, v in result["seen_classes"].items() if isinstance(v, (int, float))}
    print(json.dumps({"model": result["model"], "seen_classes": figures}))


def cmd_quickstart(ns: argparse.Namespace) -> None:
    from .quickstart import run_quickstart

    run_quickstart(ns.output_dir, fast=ns.fast, stages=ns.stages, gan_kimg=ns.gan_kimg, threads=ns.threads)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = ArgumentParser(prog="eeg2img", description="EEG -> visual representations and images.",
                                     epilog=_ERRORS_EPILOG)  # fmt: skip
    parser.add_argument("--version", action="version", version=f"eeg2img_hf {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (also EEG2IMG_DEBUG=1; allowed anywhere)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("quickstart", help="simulate data, train and evaluate, save HF-format models")
    p.add_argument("--output-dir", default="outputs/quickstart")
    p.add_argument("--fast", action="store_true", help="tiny run for CI (seconds, not minutes)")
    p.add_argument("--stages", help="comma-separated subset of simulate,encoder,gan,clip,image_to_eeg,report "
                   "(default: all; finished stages are always reused)")
    p.add_argument("--gan-kimg", type=float, help="EEGStyleGAN-ADA training length in kimg (default: 36)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for every stage (default: 1, the GAN stage 2 where 2 cores are free; "
                        "0 = torch's choice)")
    p.set_defaults(func=cmd_quickstart)

    p = sub.add_parser("simulate", help="write a simulated EEG-image DatasetDict to disk")
    p.add_argument("preset", choices=["thoughtviz", "eegcvpr40", "object", "things-eeg2"])
    p.add_argument("--output", required=True)
    _add_simulation_args(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("train-encoder", help="train an EEG encoder (triplet or supervised) with Accelerate")
    p.add_argument("--preset", default="cpu-small", help="training preset (see ENCODER_PRESETS)")
    p.add_argument("--dataset", help="preset name, sim:<preset>, or a saved DatasetDict folder")
    p.add_argument("--output-dir")
    add_eeg_tower_options(p)
    p.add_argument("--init-from-braindecode", metavar="REPO_OR_FOLDER", help="start from a braindecode model "
                   "published in braindecode's Hub layout (config.json + model.safetensors), its head replaced")
    p.add_argument("--loss", choices=["triplet-semihard", "triplet-ms", "supervised", "supervised+triplet-ms"])
    p.add_argument("--margin", type=float)
    p.add_argument("--triplet-weight", type=float, help="weight of the triplet term of supervised+triplet-ms")
    p.add_argument("--augment-time-shift", type=int, help="random shifts of up to N samples (0 = off)")
    p.add_argument("--augment-channel-dropout", type=float, help="probability of zeroing each channel (0 = off)")
    p.add_argument("--augment-noise-std", type=float, help="white noise std relative to each trial's std (0 = off)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--checkpoint-every", type=int, help="save_state every N steps (default: every epoch)")
    p.add_argument("--exclude-classes", help="comma-separated class names left out (unseen-class experiment)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="CNN encoder: recompute its feature maps "
                   "in the backward pass instead of keeping them (same results, a fraction of the memory, slower)")
    p.add_argument("--log-with", help="comma-separated trackers: csv,tensorboard ('' for none)")
    add_run_folder_options(p)
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"],
                   help="Accelerate mixed precision (bf16 also on CPU); default: accelerate launch's setting")
    _add_simulation_args(p)
    p.set_defaults(func=cmd_train_encoder)

    p = sub.add_parser("evaluate-encoder", help="k-means/SVM/kNN/unseen-class evaluation of a saved encoder")
    p.add_argument("model", help="folder written by train-encoder (…/model)")
    p.add_argument("--dataset", help="default: the dataset recorded at training time")
    p.add_argument("--output", help="result JSON (default <model>/eval_results.json)")
    p.add_argument("--unseen-classes", help="comma-separated held-out class names")
    p.add_argument("--no-tsne", action="store_true")
    add_allow_unfinished_option(p)
    p.set_defaults(func=cmd_evaluate_encoder)
    _register_command_modules(sub)
    return parser


def _register_command_modules(sub) -> None:
    """Add the sub-commands defined in `eeg2img_hf.commands.<name>.register`."""
    import importlib
    import importlib.util

    for name in COMMAND_MODULES:
        module_name = f"eeg2img_hf.commands.{name}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(sub)


_ERRORS_EPILOG = ("A user error (a bad file, folder or argument) is reported in one or two lines with exit status 2; "
                  "--debug or EEG2IMG_DEBUG=1 shows its traceback.")

DEBUG_ENV = "EEG2IMG_DEBUG"
"""Environment variable that, set to anything but `""`/`0`, makes the CLI show tracebacks of user errors."""

# PIL warns (DecompressionBombWarning) above Image.MAX_IMAGE_PIXELS and raises above twice that; the CLI refuses
# both. Matched by message so that `eeg2img --help` does not import PIL.
_BOMB_WARNING = r"Image size \(\d+ pixels\) exceeds limit"


def main(argv: list[str] | None = None) -> int:
    """Run the `eeg2img` command line; returns the exit status (0, 2 for a user error, 130 for an interrupt).

    A user error (see `eeg2img_hf.utils.errors.user_error_message`) is printed as one or two lines on stderr,
    `eeg2img <command>: error: <what is wrong>` and possibly what to do, without a traceback; `--debug` (anywhere
    on the command line) or `EEG2IMG_DEBUG=1` re-raises it instead. An interrupt (Ctrl-C; SIGTERM in a trainer)
    prints one line saying what was kept and how to continue. Other exceptions are bugs and keep their traceback.
    """
    # Before anything loads torch (OpenMP reads it once): idle OpenMP threads sleep instead of spinning. On a CPU
    # that other programs use, spinning threads wait for a descheduled peer at every parallel region: two of them
    # ran the quickstart's GAN stage 16-56x slower than two passive ones (scripts/bench_threads.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    ns = None
    try:
        ns = build_parser().parse_args(args)
        return _run_command(ns, debug)
    except KeyboardInterrupt as err:
        if debug:
            raise
        print(interrupt_message(ns, args, err), file=sys.stderr)
        return 130


def _run_command(ns: argparse.Namespace, debug: bool) -> int:
    """Runs the parsed command; user errors become two lines and status 2 (see [`main`])."""
    from .utils.progress import configure_cli_logging, quiet_library_progress  # after --help: no transformers

    configure_cli_logging()  # progress lines and notes on stderr
    # the trainers report their own progress: no "Loading weights" / "Saving the dataset" bars in their logs
    quiet = quiet_library_progress() if ns.command.startswith("train-") else contextlib.nullcontext()
    try:
        with warnings.catch_warnings(), quiet:
            warnings.filterwarnings("error", message=_BOMB_WARNING)
            ns.func(ns)
    except Exception as err:  # noqa: BLE001 - sorted into user errors and bugs just below
        message = None if debug else user_error_message(err)
        if message is None:
            raise
        first, _, hint = message.partition("\n")
        print(f"eeg2img {ns.command}: error: {first}", file=sys.stderr)
        if hint:
            print(f"eeg2img {ns.command}: {hint}", file=sys.stderr)
        return 2
    return 0


def interrupt_message(ns: argparse.Namespace | None, args: list[str], err: BaseException) -> str:
    """The one line printed for an interrupt: what was kept and the command that continues (as typed, plus
    `--resume` for the trainers; the quickstart continues by itself)."""
    if ns is None:
        return "eeg2img: interrupted"
    again = ["eeg2img", *args]
    if hasattr(ns, "resume") and "--resume" not in args:
        again.append("--resume")
    again = shlex.join(again)
    checkpoint = getattr(err, "checkpoint", None)
    if checkpoint is not None:
        return (f"eeg2img {ns.command}: interrupted after step {err.step}; checkpoint saved in {checkpoint}. "
                f"Continue with: {again}")
    if hasattr(ns, "resume") or ns.command == "quickstart":
        return (f"eeg2img {ns.command}: interrupted; finished work and checkpoints written so far are kept. "
                f"Continue with: {again}")
    return f"eeg2img {ns.command}: interrupted"


if __name__ == "__main__":
    sys.exit(main())
