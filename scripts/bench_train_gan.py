"""Benchmark one `train-gan` run's arithmetic on CPU: seconds per kimg, FLOPs per kimg, fraction of the matmul peak.

Builds exactly what `train-gan --preset PRESET` trains (`setup_gan_training`: the simulated `thoughtviz` data,
the preset's networks, optimisers, augmentation) with a randomly initialised `cpu-small` (tsconv) EEG encoder
(the step's cost does not depend on the encoder's weights; its embeddings are computed once before training), then:

* times `--steps` minibatches (`GANLoop.train_step`: Gmain, Dmain, lazy R1 every `r1_interval` steps, EMA, ADA)
  after `--warmup` untimed ones; `--steps` is rounded up to a multiple of `r1_interval` so the regularisation
  steps count in proportion; `sec_per_kimg` is the mean step time times `1000 / batch_size`;
* counts the FLOPs of one plain step and of one R1 step with `FlopCounterMode` (convolutions and their backward
  passes, matmuls; element-wise work and the FIR filters' depthwise convolutions are included where torch counts
  them): `flops_per_kimg = (plain + r1 / r1_interval) * 1000 / batch_size`;
* measures the fp32 matmul peak (best 2048 x 2048 `torch.mm`, before and after, best kept) and prints
  `fraction_of_matmul_peak = flops_per_kimg / sec_per_kimg / peak`.

Prints one JSON line. Example (the figures in docs/benchmarks.md):

    OMP_NUM_THREADS=1 python scripts/bench_train_gan.py --preset cpu-small --threads 1 --steps 32
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel
from eeg2img_hf.training import EncoderTrainingArguments, GANTrainingArguments
from eeg2img_hf.training.train_gan import setup_gan_training
from eeg2img_hf.utils.benchmark import count_flops, matmul_flops_per_s


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu-small", help="train-gan preset (default: cpu-small)")
    parser.add_argument("--steps", type=int, default=32, help="timed steps (rounded up to a multiple of r1_interval)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--stylegan-config", default="{}", help="JSON overrides of the preset's EEGStyleGANConfig")
    parser.add_argument("--batch-size", type=int, help="override the preset's batch size")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    try:
        args.stylegan_config = json.loads(args.stylegan_config)
    except json.JSONDecodeError as err:
        parser.error(f"--stylegan-config is not JSON: {err}")
    if not isinstance(args.stylegan_config, dict):
        parser.error(f"--stylegan-config must be a JSON object of config fields, got {args.stylegan_config!r}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        encoder_dir = Path(tmp) / "encoder"
        torch.manual_seed(0)
        encoder_config = EncoderTrainingArguments.PRESETS["cpu-small"]["encoder_config"]  # the quickstart's encoder
        EEGEncoderModel(EEGEncoderConfig(architecture="tsconv", n_chans=14, n_times=32, **encoder_config)
                        ).save_pretrained(encoder_dir)
        overrides = {"batch_size": args.batch_size} if args.batch_size else {}
        train_args = GANTrainingArguments.from_preset(
            args.preset, encoder=str(encoder_dir), output_dir=str(Path(tmp) / "run"), log_with=["csv"],
            stylegan_config=args.stylegan_config, **overrides)
        _, _, config, data, loop, _ = setup_gan_training(train_args)
        batch, interval = train_args.batch_size, max(train_args.r1_interval, 1)
        steps = math.ceil(args.steps / interval) * interval
        source = data["train"]

        def batch_at(i: int) -> dict[str, torch.Tensor]:
            index = torch.arange(i * batch, (i + 1) * batch) % len(source)
            return source.__getitems__(index.tolist())

        plain_step = 1 if interval > 1 else 0  # a step index without R1 (R1 runs at multiples of the interval)
        peak_before = matmul_flops_per_s()
        for i in range(args.warmup):
            loop.train_step(batch_at(i), plain_step, 0)
        times = []
        for i in range(steps):
            start = time.perf_counter()
            loop.train_step(batch_at(i), i, 0)  # step 0, interval, 2 * interval, ...: the R1 steps
            times.append(time.perf_counter() - start)
        peak = max(peak_before, matmul_flops_per_s())
        flops_plain = count_flops(lambda: loop.train_step(batch_at(0), plain_step, 0))
        flops_r1_step = count_flops(lambda: loop.train_step(batch_at(0), 0, 0)) if train_args.r1_gamma > 0 else 0
        flops_r1 = max(flops_r1_step - flops_plain, 0) if interval > 1 else 0
    sec_per_step = sum(times) / len(times)
    sec_per_kimg = sec_per_step * 1000 / batch
    flops_per_step = flops_plain + flops_r1 / interval
    flops_per_kimg = flops_per_step * 1000 / batch
    result = {
        "preset": args.preset, "device": "cpu", "threads": torch.get_num_threads(), "torch": torch.__version__,
        "img_resolution": config.img_resolution, "batch_size": batch, "r1_interval": interval,
        "stylegan_config": args.stylegan_config, "timed_steps": steps,
        "sec_per_step": round(sec_per_step, 4), "sec_per_kimg": round(sec_per_kimg, 2),
        "gflops_per_step_plain": round(flops_plain / 1e9, 2), "gflops_r1_extra": round(flops_r1 / 1e9, 2),
        "tflops_per_kimg": round(flops_per_kimg / 1e12, 3),
        "achieved_gflops_per_s": round(flops_per_kimg / sec_per_kimg / 1e9, 1),
        "matmul_gflops_per_s": round(peak / 1e9, 1),
        "fraction_of_matmul_peak": round(flops_per_kimg / sec_per_kimg / peak, 3),
        "generator_params": sum(p.numel() for p in loop.G_net.parameters()),
        "discriminator_params": sum(p.numel() for p in loop.D_net.parameters()),
    }
    print(json.dumps(result))
    sys.stdout.flush()
    return result


if __name__ == "__main__":
    main()
