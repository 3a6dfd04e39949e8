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

With `--profile`, the line also holds where a step's time goes: the wall seconds and the FLOPs of each phase
(generator main, path-length regularisation, discriminator main, R1 regularisation, ADA augmentation, EMA,
optimizer steps, data loading; each exclusive of the phases inside it: the optimizer steps and the augmentation
are not counted in the phase that calls them) and the rest of the step ("other": Python and the element-wise work
between the phases), as shares of the timed wall time and, per phase, as a fraction of the matmul peak. FLOPs per
phase come from one plain and one regularisation step counted apart (amortised by the lazy intervals). ADA starts
at p = 0 (the pipe then returns its input); `--augment-p P` profiles a run whose augmentation is on.

Prints one JSON line. Example (the figures in docs/benchmarks.md):

    OMP_NUM_THREADS=1 python scripts/bench_train_gan.py --preset cpu-small --threads 1 --steps 32
    OMP_NUM_THREADS=1 python scripts/bench_train_gan.py --preset cpu-small --threads 1 --steps 32 --profile
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
from eeg2img_hf.utils.benchmark import PhaseProfile, count_flops, environment, matmul_flops_per_s

TRAIN_GAN_MODULE = sys.modules[setup_gan_training.__module__]  # its `update_ema` is wrapped as the EMA phase
LOOP_PHASES = {"g_main": "generator_main", "g_reg": "path_length_reg", "d_main": "discriminator_main",
               "d_reg": "r1_reg", "step_optimizer": "optimizer"}
"""`GANLoop` methods wrapped as profile phases, and the phases' names."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu-small", help="train-gan preset (default: cpu-small)")
    parser.add_argument("--steps", type=int, default=32, help="timed steps (rounded up to a multiple of r1_interval)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--stylegan-config", default="{}", help="JSON overrides of the preset's EEGStyleGANConfig")
    parser.add_argument("--batch-size", type=int, help="override the preset's batch size")
    parser.add_argument("--profile", action="store_true", help="add the share of time and FLOPs of each phase")
    parser.add_argument("--augment-p", type=float, help="fixed augmentation probability (ADA off; default: ADA from 0)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    if args.augment_p is not None and not 0.0 <= args.augment_p <= 1.0:
        parser.error(f"--augment-p must be in [0, 1], got {args.augment_p}")
    try:
        args.stylegan_config = json.loads(args.stylegan_config)
    except json.JSONDecodeError as err:
        parser.error(f"--stylegan-config is not JSON: {err}")
    if not isinstance(args.stylegan_config, dict):
        parser.error(f"--stylegan-config must be a JSON object of config fields, got {args.stylegan_config!r}")
    return args


def wrap_phases(loop, profile: PhaseProfile) -> None:
    """Time the loop's phases as `profile` phases (the loop's and the module's functions replaced by wrappers)."""
    for method, phase in LOOP_PHASES.items():
        setattr(loop, method, profile.wrap(phase, getattr(loop, method)))
    if loop.pipe is not None:
        loop.pipe = profile.wrap("ada_augmentation", loop.pipe)
    if loop.ada is not None:
        loop.ada.update = profile.wrap("ada_augmentation", loop.ada.update)
    TRAIN_GAN_MODULE.update_ema = profile.wrap("ema", TRAIN_GAN_MODULE.update_ema)


def phase_table(seconds: dict[str, float], wall: float, steps: int, flops_per_step: dict[str, float],
                peak: float) -> dict:
    """Per phase: share of the timed wall time, milliseconds and GFLOPs per step, fraction of the matmul peak."""
    seconds = dict(seconds)
    seconds["other"] = wall - sum(seconds.values())
    table = {}
    for phase, total in sorted(seconds.items(), key=lambda item: -item[1]):
        flops = flops_per_step.get(phase, 0.0)
        table[phase] = {"share_of_wall": round(total / wall, 3), "ms_per_step": round(1000 * total / steps, 1),
                        "gflops_per_step": round(flops / 1e9, 3),
                        "fraction_of_matmul_peak": round(flops * steps / total / peak, 3) if total > 0 else None}
    return table


def count_phase_flops(loop, profile: PhaseProfile, batch_at, plain_step: int, train_args) -> dict[str, float]:
    """FLOPs per step of each phase: those of a plain step, plus the regularisation phases of a step that runs them
    (step 0) divided by their lazy intervals."""
    profile.flops.clear()
    with profile.counting_flops():
        loop.train_step(batch_at(0), plain_step, 0)
    per_step = dict(profile.flops)
    profile.flops.clear()
    with profile.counting_flops():
        loop.train_step(batch_at(0), 0, 0)  # step 0: R1 and the path-length regulariser (when on) both run
    for phase, interval in (("r1_reg", train_args.r1_interval), ("path_length_reg", train_args.g_reg_interval)):
        if phase in profile.flops:
            per_step[phase] = profile.flops[phase] / max(interval, 1)
    return per_step


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
        if args.augment_p is not None:
            overrides["augment_p"] = args.augment_p
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

        profile, update_ema = PhaseProfile(), TRAIN_GAN_MODULE.update_ema
        if args.profile:
            wrap_phases(loop, profile)
            batch_at = profile.wrap("data_loading", batch_at)
        try:
            plain_step = 1 if interval > 1 else 0  # a step index without R1 (R1 runs at multiples of the interval)
            peak_before = matmul_flops_per_s()
            for i in range(args.warmup):
                loop.train_step(batch_at(i), plain_step, 0)
            profile.seconds.clear()
            times = []
            for i in range(steps):
                start = time.perf_counter()
                loop.train_step(batch_at(i), i, 0)  # step 0, interval, 2 * interval, ...: the R1 steps
                times.append(time.perf_counter() - start)
            phase_seconds = dict(profile.seconds)  # of the timed steps only
            peak = max(peak_before, matmul_flops_per_s())
            flops_plain = count_flops(lambda: loop.train_step(batch_at(0), plain_step, 0))
            flops_r1_step = count_flops(lambda: loop.train_step(batch_at(0), 0, 0)) if train_args.r1_gamma > 0 else 0
            flops_r1 = max(flops_r1_step - flops_plain, 0) if interval > 1 else 0
            if args.profile:
                phase_flops = count_phase_flops(loop, profile, batch_at, plain_step, train_args)
        finally:
            TRAIN_GAN_MODULE.update_ema = update_ema
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
        "augment_p": args.augment_p,
    }
    if args.profile:
        result["profile"] = phase_table(phase_seconds, sum(times), steps, phase_flops, peak)
    result["environment"] = environment()
    print(json.dumps(result))
    sys.stdout.flush()
    return result


if __name__ == "__main__":
    main()
