"""Benchmark the EEG encoders at the EEGCVPR40 shape (128 x 440, batch 256) on CPU.

Prints one JSON line: training samples/s (forward + semi-hard triplet loss + backward + Adam step),
peak RSS per architecture (each measured in its own process), inference trials/s, and, as the
comparison, the seconds one epoch of the EEGCVPR40 training split (7,970 trials) takes at that speed
and the hours the authors' epoch count would take on this machine.

    python scripts/bench_encoder.py [--steps 3] [--batch-size 256] [--archs lstm,cnn,tsconv]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel
from eeg2img_hf.training.losses import semihard_triplet_loss

EEGCVPR40_TRAIN_TRIALS = 7970
PAPER_EPOCHS = {"lstm": 8192, "cnn": 4096}


def worker(arch: str, steps: int, batch_size: int) -> dict:
    torch.manual_seed(0)
    model = EEGEncoderModel(EEGEncoderConfig(architecture=arch, n_chans=128, n_times=440))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    eeg = torch.randn(batch_size, 128, 440) + 1.0
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
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "eegcvpr40_epoch_s": round(epoch_s, 1),
        "paper_epochs": PAPER_EPOCHS.get(arch),  # None for tsconv: not one of the paper's encoders
        "paper_schedule_hours_here": round(epoch_s * PAPER_EPOCHS[arch] / 3600, 1) if arch in PAPER_EPOCHS else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--archs", default="lstm,cnn")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.batch_size)))
        return

    result = {"benchmark": "encoder", "device": "cpu", "threads": torch.get_num_threads(),
              "shape": [128, 440], "batch_size": args.batch_size, "timed_steps": args.steps}
    for arch in args.archs.split(","):
        proc = subprocess.run([sys.executable, __file__, "--worker", arch, "--steps", str(args.steps),
                               "--batch-size", str(args.batch_size)], capture_output=True, text=True,
                              env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
        if proc.returncode:
            raise SystemExit(f"{arch} worker failed:\n{proc.stderr[-2000:]}")
        result[arch] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
