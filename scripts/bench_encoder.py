"""Benchmark the EEG encoders at the EEGCVPR40 shape (128 x 440, batch 256) on CPU.

Prints one JSON line: per architecture, training samples/s (forward + semi-hard triplet loss + backward + Adam
step), inference trials/s and the peak resident memory of the process, after the training steps and at the end
(each architecture runs in its own process, so its peak is its own; imports included), and, as the comparison,
the seconds one epoch of the EEGCVPR40 training split (7,970 trials) takes at that speed and the hours the
authors' epoch count would take on this machine. The line also records the options and the environment (CPU
model, instruction-set flags, torch).

`--gradient-checkpointing` adds, for the CNN, a run with activation checkpointing (`cnn+checkpointing`) after each
plain one; `--native-lstm` adds, for the LSTM, a run with oneDNN switched off (`torch.backends.mkldnn.enabled =
False`: PyTorch's own LSTM kernel instead of oneDNN's, `lstm+native`) after each default one. `--repeats N` runs
the whole list N times in turn (A, B, A, B, ...), so that a shared machine's load falls on both alike: each entry
then gives its median and every run.

    python scripts/bench_encoder.py [--steps 3] [--batch-size 256] [--archs lstm,cnn,tsconv]
    python scripts/bench_encoder.py --archs cnn --gradient-checkpointing --repeats 3 --steps 2
    python scripts/bench_encoder.py --archs lstm --native-lstm --repeats 3 --steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel
from eeg2img_hf.models.eeg_encoder.modeling_eeg_encoder import EEGCNNTower
from eeg2img_hf.training.losses import semihard_triplet_loss
from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import run_script

EEGCVPR40_TRAIN_TRIALS = 7970
PAPER_EPOCHS = {"lstm": 8192, "cnn": 4096}
CHECKPOINTED = "+checkpointing"
NATIVE = "+native"
ARCHS = ("lstm", "cnn", "tsconv")


def worker(arch: str, steps: int, batch_size: int, shape: tuple[int, int], checkpointing: bool = False,
           native: bool = False) -> dict:
    torch.backends.mkldnn.enabled = not native
    torch.manual_seed(0)
    n_chans, n_times = shape
    model = EEGEncoderModel(EEGEncoderConfig(architecture=arch, n_chans=n_chans, n_times=n_times))
    if checkpointing:
        model.activation_checkpointing_enable()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    eeg = torch.randn(batch_size, n_chans, n_times) + 1.0
    labels = torch.randint(0, 40, (batch_size,))

    def train_step() -> None:
        loss = semihard_triplet_loss(model(eeg_values=eeg).eeg_embeds, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    train_step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        train_step()
    train_sps = steps * batch_size / (time.perf_counter() - start)
    train_peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # before inference adds its own
    model.eval()
    with torch.inference_mode():
        model(eeg_values=eeg)
        start = time.perf_counter()
        for _ in range(steps):
            model(eeg_values=eeg)
        infer_tps = steps * batch_size / (time.perf_counter() - start)
    epoch_s = EEGCVPR40_TRAIN_TRIALS / train_sps
    return {
        "train_samples_per_s": round(train_sps, 1),
        "inference_trials_per_s": round(infer_tps, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "peak_rss_training_gb": round(train_peak_gb, 2),
        "parameters": sum(p.numel() for p in model.parameters()),
        "eegcvpr40_epoch_s": round(epoch_s, 1),
        "paper_epochs": PAPER_EPOCHS.get(arch),  # None for tsconv: not one of the paper's encoders
        "paper_schedule_hours_here": round(epoch_s * PAPER_EPOCHS[arch] / 3600, 1) if arch in PAPER_EPOCHS else None,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per run (default: 3)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--archs", default="lstm,cnn", help=f"comma-separated, of {', '.join(ARCHS)}")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="also run the CNN with activation checkpointing, after each plain CNN run")
    parser.add_argument("--native-lstm", action="store_true",
                        help="also run the LSTM with oneDNN off (PyTorch's own kernel), after each default LSTM run")
    parser.add_argument("--repeats", type=int, default=1, help="run the list this many times in turn (default: 1)")
    parser.add_argument("--threads", type=int, help="torch threads of each run (default: torch's choice)")
    parser.add_argument("--shape", default="128,440", help="n_chans,n_times of the trials (default: 128,440)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 2 or args.repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--steps, --repeats and --threads must be >= 1 and --batch-size >= 2")
    archs = args.archs.split(",")
    unknown = sorted(set(archs) - set(ARCHS))
    if unknown:
        parser.error(f"--archs: unknown architecture(s) {', '.join(unknown)}; choose from {', '.join(ARCHS)}")
    if args.gradient_checkpointing and "cnn" not in archs:
        parser.error("--gradient-checkpointing applies to the CNN only: add cnn to --archs")
    if args.native_lstm and "lstm" not in archs:
        parser.error("--native-lstm applies to the LSTM only: add lstm to --archs")
    try:
        args.shape = tuple(int(size) for size in args.shape.split(","))
    except ValueError:
        args.shape = ()
    if len(args.shape) != 2 or min(args.shape) < 1:
        parser.error(f"--shape must be two positive integers n_chans,n_times, got {args.shape!r}")
    variants = {"cnn": CHECKPOINTED if args.gradient_checkpointing else None,
                "lstm": NATIVE if args.native_lstm else None}
    args.runs = [run for arch in archs for run in ([arch, arch + variants[arch]] if variants.get(arch) else [arch])]
    return args


def run_worker(run: str, args: argparse.Namespace) -> dict:
    """One run in its own process (its own peak memory), `torch`'s threads as asked."""
    command = [sys.executable, __file__, "--worker", run, "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--shape", ",".join(map(str, args.shape))]
    if args.threads:
        command += ["--threads", str(args.threads)]
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    if proc.returncode:
        raise RuntimeError(f"the {run} run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(runs: list[dict]) -> dict:
    """One run as it is; several: the median of each figure, with every run's speeds and peaks beside it."""
    if len(runs) == 1:
        return runs[0]
    keys = ("train_samples_per_s", "inference_trials_per_s", "peak_rss_gb", "peak_rss_training_gb",
            "eegcvpr40_epoch_s", "paper_schedule_hours_here")
    medians = {key: statistics.median(run[key] for run in runs) for key in keys if runs[0][key] is not None}
    summary = {**runs[0], **medians}
    summary["runs"] = [{key: run[key] for key in keys[:4]} for run in runs]
    return summary


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        if args.threads:
            torch.set_num_threads(args.threads)
        arch = args.worker.removesuffix(CHECKPOINTED).removesuffix(NATIVE)
        print(json.dumps(worker(arch, args.steps, args.batch_size, args.shape, checkpointing=args.worker.endswith(
            CHECKPOINTED), native=args.worker.endswith(NATIVE))))
        return {}
    measured = {run: [] for run in args.runs}
    for _ in range(args.repeats):
        for run in args.runs:
            measured[run].append(run_worker(run, args))
    result = {"benchmark": "encoder", "device": "cpu", "shape": list(args.shape), "batch_size": args.batch_size,
              "options": {"timed_steps": args.steps, "repeats": args.repeats, "threads": args.threads,
                          "gradient_checkpointing": args.gradient_checkpointing, "native_lstm": args.native_lstm,
                          "checkpoint_chunk_size": EEGCNNTower.checkpoint_chunk_size},
              **{run: summarize(runs) for run, runs in measured.items()}}
    if args.threads:
        torch.set_num_threads(args.threads)  # so that the environment records the workers' thread count
    result["environment"] = environment()
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run_script(main, "bench_encoder.py")
