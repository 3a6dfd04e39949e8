"""Thread settings of the quickstart's GAN stage on a busy CPU: steps per second with 1 or 2 torch threads, with
OpenMP's default (spinning) or passive wait policy, while 0, 1 or 2 busy processes share the machine.

Each measurement runs in a fresh worker process (the wait policy is read when OpenMP starts), which builds exactly
what the quickstart's GAN stage trains (`train-gan --preset cpu-small`, batch 16, with a randomly initialised
`cpu-small` EEG encoder: the step's cost does not depend on its weights) and times `GANLoop.train_step` for at
most `--steps` steps or `--seconds` seconds after `--warmup` untimed ones. The background load is `--load`
processes spinning a Python loop, started before the worker and stopped after it. Configurations run in rounds
(every setting once per load level, `--rounds` times, interleaved), so drift on a shared machine hits them alike;
the median of the rounds is kept.

Prints one JSON line: the steps per second per load level and setting, each setting's slowdown against the best
one at that load, and the environment (CPU model and ISA flags, torch version). Example (docs/benchmarks.md):

    python scripts/bench_threads.py --rounds 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel
from eeg2img_hf.quickstart import QUICKSTART_SETTINGS
from eeg2img_hf.training import EncoderTrainingArguments, GANTrainingArguments
from eeg2img_hf.training.train_gan import setup_gan_training
from eeg2img_hf.utils.benchmark import environment

SETTINGS = {"1 thread": (1, None), "2 threads": (2, None), "2 threads, passive wait": (2, "PASSIVE")}
"""Setting name -> (torch threads, OMP_WAIT_POLICY or None for OpenMP's default)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", default="0,1,2", help="numbers of busy background processes (default: 0,1,2)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per setting and load (median kept)")
    parser.add_argument("--steps", type=int, default=24, help="most timed steps per measurement")
    parser.add_argument("--seconds", type=float, default=25.0, help="most timed seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--worker", nargs=2, metavar=("DATA", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.loads = [int(v) for v in args.loads.split(",")]
    except ValueError:
        parser.error(f"--loads must be comma-separated integers, got {args.loads!r}")
    if any(n < 0 for n in args.loads) or args.rounds < 1 or args.steps < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--loads must be >= 0, --rounds and --steps >= 1, --seconds > 0, --warmup >= 0")
    return args


def worker(data_dir: str, threads: int, steps: int, seconds: float, warmup: int) -> dict[str, float]:
    """Times the quickstart GAN stage's training step; returns steps per second and the steps timed."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        encoder_config = EncoderTrainingArguments.PRESETS["cpu-small"]["encoder_config"]
        EEGEncoderModel(EEGEncoderConfig(architecture="tsconv", n_chans=14, n_times=32, **encoder_config)
                        ).save_pretrained(Path(tmp) / "encoder")
        gan = QUICKSTART_SETTINGS["default"]["gan"]
        args = GANTrainingArguments.from_preset(gan["preset"], dataset=data_dir, encoder=str(Path(tmp) / "encoder"),
                                                output_dir=str(Path(tmp) / "run"), log_with=["csv"],
                                                **gan["overrides"])
        _, _, _, data, loop, _ = setup_gan_training(args)
        source, batch = data["train"], args.batch_size

        def batch_at(i: int) -> dict[str, torch.Tensor]:
            return source.__getitems__((torch.arange(i * batch, (i + 1) * batch) % len(source)).tolist())

        for i in range(warmup):
            loop.train_step(batch_at(i), i + 1, 0)
        done, start = 0, time.perf_counter()
        while done < steps and time.perf_counter() - start < seconds:
            loop.train_step(batch_at(done), done, 0)  # step 0 runs R1, as every r1_interval-th step does
            done += 1
        elapsed = time.perf_counter() - start
    return {"steps_per_s": done / elapsed, "steps": done, "threads": torch.get_num_threads(), "batch_size": batch}


def measure(data_dir: str, threads: int, policy: str | None, load: int, args: argparse.Namespace) -> dict:
    """One worker run with `load` busy processes beside it."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    try:
        proc = subprocess.run([sys.executable, __file__, "--worker", data_dir, str(threads), "--steps",
                               str(args.steps), "--seconds", str(args.seconds), "--warmup", str(args.warmup)],
                              env=env, capture_output=True, text=True, timeout=1800)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        result = worker(args.worker[0], int(args.worker[1]), args.steps, args.seconds, args.warmup)
        print(json.dumps(result))
        return result
    runs: dict[tuple[int, str], list[float]] = {}
    batch_size = None
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = str(Path(tmp) / "thoughtviz")
        simulate_dataset("thoughtviz", **QUICKSTART_SETTINGS["default"]["simulate"]).save_to_disk(data_dir)
        for _, load, (name, (threads, policy)) in itertools.product(range(args.rounds), args.loads,
                                                                    SETTINGS.items()):
            run = measure(data_dir, threads, policy, load, args)
            runs.setdefault((load, name), []).append(run["steps_per_s"])
            batch_size = run["batch_size"]
    table = {}
    for load in args.loads:
        speeds = {name: statistics.median(runs[(load, name)]) for name in SETTINGS}
        best = max(speeds.values())
        table[f"load {load}"] = {name: {"steps_per_s": round(v, 3), "slowdown_vs_best": round(best / v, 2),
                                        "runs": [round(r, 3) for r in runs[(load, name)]]}
                                 for name, v in speeds.items()}
    result = {"benchmark": "quickstart GAN stage threads under background load", "preset": "cpu-small",
              "batch_size": batch_size,
              "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
              "rounds": args.rounds, "max_steps": args.steps, "max_seconds": args.seconds, "results": table,
              "environment": environment()}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
