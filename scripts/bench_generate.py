"""Benchmark EEGStyleGAN-ADA image generation (preset "cifar-128", random init) on CPU.

Prints one JSON line: images/s of the generator (mapping + synthesis, noise const, inference_mode, after
warm-up) per batch size, the FLOPs per image counted two ways, the machine's measured fp32 matmul
throughput (best of several 2048 x 2048 `torch.mm`) and the achieved fraction of it:
`flops_per_image * images_per_s / matmul_flops_per_s`.

FLOPs (1 multiply-add = 2 FLOPs):
    * `flops_per_image_analytic`: the model's dense arithmetic: every modulated 3x3 convolution (for the
      upsampling ones, at the input resolution, as a stride-2 transposed convolution computes them), the 1x1
      ToRGB convolutions, the style affines and the mapping MLP. Filters, demodulation and element-wise work
      are left out: this is the work a perfect implementation cannot avoid.
    * `flops_per_image_counted`: what `torch.utils.flop_counter.FlopCounterMode` sees the implementation
      execute (convolutions, transposed convolutions, depthwise FIR convolutions, matmuls) per batch size.

Memory: every forward pass allocates large activations (268 MB per tensor at batch 16); glibc serves blocks
above its mmap threshold (at most 32 MB) with fresh mmaps, so the kernel zero-fills every page again on each op
(about a quarter of the wall time at batch 16 here). The CLI's `generate` avoids this with the explicit context
`eeg2img_hf.fast_cpu_generation()` (heap only, freed memory reused); this script times the generator inside it, as
the CLI runs it. `EEG2IMG_MALLOC_TUNING=0` turns the context off, and `--compare-allocator` times both, interleaved.

Precision: `--precision fp32` (default), `bf16` (the generator under bfloat16 autocast, as `generate --precision
bf16` runs it, each batch paired with a bfloat16 matmul) or `both` (each precision against its own paired peak,
plus the pixel difference between the two on the same inputs). bfloat16 needs a CPU with bfloat16 units: where it
has none, `both` reports float32 and the reason bfloat16 was skipped, `bf16` exits 2;
`--allow-emulated-bf16` measures anyway (speed then says nothing about a CPU with the units; numerics do).
`--retain-freed-memory` re-runs the script with `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=64 GiB` for the whole
process (the former workaround); the JSON says which settings were in effect.

    python scripts/bench_generate.py [--batch-sizes 1,16] [--repeats 3] [--threads N] [--profile]
        [--fused-modconv auto|true|false] [--retain-freed-memory] [--compare-allocator]
        [--precision fp32|bf16|both] [--allow-emulated-bf16]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from eeg2img_hf.models import EEGStyleGANConfig, EEGStyleGANGenerator
from eeg2img_hf.pipelines.precision import ALLOW_EMULATED_VAR, bf16_support, generation_autocast
from eeg2img_hf.utils.allocator import fast_cpu_generation
from eeg2img_hf.utils.benchmark import environment, matmul_flops_per_s

MATMUL_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cifar-128", help="EEGStyleGANConfig preset (default: cifar-128)")
    parser.add_argument("--batch-sizes", default="1,16", help="comma-separated batch sizes (default: 1,16)")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward passes per batch size (default: 3)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--mm-size", type=int, default=2048, help="matrix size of the peak measurement")
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table per batch size to stderr")
    parser.add_argument("--fused-modconv", choices=["auto", "true", "false"], default="auto",
                        help="auto = the model's choice (fused for batch 1); true/false force it (mapping + synthesis)")
    parser.add_argument("--retain-freed-memory", action="store_true",
                        help="re-run with glibc malloc set to keep freed memory (no per-op page faults)")
    parser.add_argument("--compare-allocator", action="store_true",
                        help="per batch size, alternate forward passes with the fast_cpu_generation() memory policy "
                             "on and off (EEG2IMG_MALLOC_TUNING), each paired with a matmul measurement")
    parser.add_argument("--precision", choices=["fp32", "bf16", "both"], default="fp32",
                        help="generator precision(s) to time, each against its own paired matmul peak")
    parser.add_argument("--allow-emulated-bf16", action="store_true",
                        help="time bfloat16 also on a CPU without bfloat16 units (numerics only)")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    if not args.batch_sizes or min(args.batch_sizes) < 1 or args.repeats < 1:
        parser.error("--batch-sizes and --repeats must be positive")
    return args


def build_generator(preset: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return EEGStyleGANGenerator(EEGStyleGANConfig.from_preset(preset)).eval()


def make_inputs(generator: torch.nn.Module, batch_size: int) -> dict[str, torch.Tensor]:
    config = generator.config
    rng = torch.Generator().manual_seed(batch_size)
    embeds = torch.nn.functional.normalize(torch.randn(batch_size, config.embed_dim, generator=rng), dim=1)
    return {"latents": torch.randn(batch_size, config.z_dim, generator=rng), "eeg_embeds": embeds}


def analytic_flops_per_image(config) -> int:
    """Dense FLOPs of one image: mapping MLP, style affines, modulated 3x3 convs and 1x1 ToRGB convs."""
    w, flops = config.w_dim, 0
    flops += 2 * config.conditioning_dim * w  # conditioning embed
    features = [config.z_dim + w] + [w] * config.mapping_num_layers
    flops += sum(2 * a * b for a, b in zip(features[:-1], features[1:]))
    resolutions = [2**i for i in range(2, config.img_resolution.bit_length())]
    channels = {r: min(config.synthesis_channel_base // r, config.synthesis_channel_max) for r in resolutions}
    for res in resolutions:
        out = channels[res]
        convs = [(out, out, res)]  # conv1 at the block's resolution
        if res > 4:  # conv0: 2x upsampling conv, computed at the input resolution (transposed conv)
            convs.insert(0, (channels[res // 2], out, res // 2))
        for cin, cout, pixels_side in convs:
            flops += 2 * w * cin + 2 * cin * cout * 9 * pixels_side**2
        if config.architecture == "skip" or res == config.img_resolution:
            flops += 2 * w * out + 2 * out * config.img_channels * res * res
    return flops


def counted_flops_per_image(generator: torch.nn.Module, batch_size: int) -> int:
    """FLOPs `FlopCounterMode` records for one forward pass, per image. Runs on the meta device (shapes only,
    no arithmetic), falling back to a real CPU pass if some op has no meta implementation."""

    inputs = make_inputs(generator, batch_size)
    for device in ("meta", "cpu"):
        model = copy.deepcopy(generator).to(device) if device == "meta" else generator
        counter = FlopCounterMode(display=False)
        try:
            with torch.inference_mode(), counter:
                model(**{k: v.to(device) for k, v in inputs.items()}, noise_mode="const")
        except (NotImplementedError, RuntimeError):
            continue
        return counter.get_total_flops() // batch_size
    raise RuntimeError("FlopCounterMode could not count the generator")


def make_runner(generator: torch.nn.Module, batch_size: int, fused_modconv: str = "auto", precision: str = "fp32"):
    """A no-argument callable generating one batch in `precision`: `generator(...)`, or mapping + synthesis with a
    forced `fused_modconv` (same arithmetic, other kernel layout)."""
    inputs = make_inputs(generator, batch_size)
    fused = None if fused_modconv == "auto" else fused_modconv == "true"

    def run() -> torch.Tensor:
        with generation_autocast(precision, "cpu"):
            if fused is None:
                return generator(**inputs, noise_mode="const").images.float()
            ws = generator.mapping(inputs["latents"], inputs["eeg_embeds"])
            return generator.synthesis(ws, noise_mode="const", fused_modconv=fused).float()

    return run


def time_generation(
    generator: torch.nn.Module, batch_size: int, repeats: int, fused_modconv: str = "auto", mm_size: int = 2048,
    precision: str = "fp32",
) -> dict:
    """Median/best images/s over `repeats` timed batches after one warm-up, inside [`fast_cpu_generation`] as the
    CLI generates. Each batch is paired with a matmul measurement of the same precision taken just before it, so
    `paired_ratio` (batch FLOP/s over that matmul FLOP/s, median over the repeats) tolerates load from other
    processes better than a ratio of separately timed numbers."""
    run = make_runner(generator, batch_size, fused_modconv, precision)
    analytic = analytic_flops_per_image(generator.config)
    with torch.inference_mode(), fast_cpu_generation():
        run()  # warm-up (oneDNN primitive creation, allocator)
        times, ratios = [], []
        for _ in range(repeats):
            peak = matmul_flops_per_s(mm_size, repeats=3, dtype=MATMUL_DTYPES[precision])
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
            ratios.append(analytic * batch_size / times[-1] / peak)
    best, median = min(times), sorted(times)[len(times) // 2]
    return {"images_per_s": batch_size / median, "images_per_s_best": batch_size / best, "seconds_median": median,
            "paired_ratio": sorted(ratios)[len(ratios) // 2]}


def compare_allocator(generator: torch.nn.Module, batch_size: int, repeats: int, mm_size: int = 2048) -> dict:
    """Alternates timed forward passes with the CPU memory policy ([`fast_cpu_generation`]) on and off, each paired
    with a matmul measurement just before it, so both settings see the same machine load."""
    run = make_runner(generator, batch_size)
    analytic = analytic_flops_per_image(generator.config)
    ratios: dict[str, list[float]] = {"on": [], "off": []}
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    saved = os.environ.get("EEG2IMG_MALLOC_TUNING")
    try:
        with torch.inference_mode():
            run()  # warm-up
            for _ in range(repeats):
                for mode in ("on", "off"):
                    os.environ["EEG2IMG_MALLOC_TUNING"] = "1" if mode == "on" else "0"
                    peak = matmul_flops_per_s(mm_size, repeats=3)
                    with fast_cpu_generation():
                        start = time.perf_counter()
                        run()
                        seconds[mode].append(time.perf_counter() - start)
                    ratios[mode].append(analytic * batch_size / seconds[mode][-1] / peak)
    finally:
        if saved is None:
            os.environ.pop("EEG2IMG_MALLOC_TUNING", None)
        else:
            os.environ["EEG2IMG_MALLOC_TUNING"] = saved
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    return {mode: {"images_per_s": round(batch_size / median(seconds[mode]), 3),
                   "fraction_of_matmul_peak_paired": round(median(ratios[mode]), 3)} for mode in ("on", "off")}


def profile_table(generator: torch.nn.Module, batch_size: int) -> str:
    run = make_runner(generator, batch_size)
    with torch.inference_mode():
        run()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            run()
    return prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25)


RETAIN_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(64 * 2**30)}


def reexec_with_retained_memory() -> None:
    """Replaces this process with the same command under `RETAIN_ENV` (glibc reads it only at start-up)."""
    env = {**os.environ, **RETAIN_ENV}
    argv = [a for a in sys.argv if a != "--retain-freed-memory"]
    os.execve(sys.executable, [sys.executable, *argv], env)


def precision_runs(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The precisions to time and, for each left out, why (bfloat16 on a CPU without bfloat16 units)."""
    wanted = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    if args.allow_emulated_bf16:
        os.environ[ALLOW_EMULATED_VAR] = "1"
    supported, reason = bf16_support("cpu")
    if "bf16" not in wanted or supported:
        return wanted, {}
    if args.precision == "bf16":
        raise SystemExit(f"bench_generate.py: --precision bf16: {reason}; pass --allow-emulated-bf16 to time it "
                         "anyway (numerics only)")
    return ["fp32"], {"bf16": reason}


def time_precision(generator: torch.nn.Module, args: argparse.Namespace, precision: str) -> dict:
    """Every batch size in one precision, against that precision's matmul peak (best of before and after)."""
    dtype = MATMUL_DTYPES[precision]
    peak_before = matmul_flops_per_s(args.mm_size, dtype=dtype)
    analytic = analytic_flops_per_image(generator.config)
    batches = {}
    for batch_size in args.batch_sizes:
        timing = time_generation(generator, batch_size, args.repeats, args.fused_modconv, args.mm_size, precision)
        batches[str(batch_size)] = {
            "images_per_s": round(timing["images_per_s"], 3),
            "images_per_s_best": round(timing["images_per_s_best"], 3),
            "flops_per_image_counted_g": round(counted_flops_per_image(generator, batch_size) / 1e9, 3),
            "achieved_gflops_per_s": round(analytic * timing["images_per_s"] / 1e9, 1),
            "fraction_of_matmul_peak_paired": round(timing["paired_ratio"], 3),
        }
        if args.compare_allocator and precision == "fp32":
            batches[str(batch_size)]["memory_policy"] = compare_allocator(generator, batch_size, args.repeats,
                                                                          args.mm_size)
        if args.profile:
            print(f"--- {precision}, batch {batch_size} ---\n{profile_table(generator, batch_size)}", file=sys.stderr)
    peak_after = matmul_flops_per_s(args.mm_size, dtype=dtype)  # the machine is shared: measure again, keep the best
    peak = max(peak_before, peak_after)
    for entry in batches.values():
        entry["fraction_of_matmul_peak"] = round(entry["achieved_gflops_per_s"] * 1e9 / peak, 3)
    return {"matmul_gflops_per_s": round(peak / 1e9, 1),
            "matmul_gflops_per_s_before_after": [round(peak_before / 1e9, 1), round(peak_after / 1e9, 1)],
            "batches": batches}


def pixel_difference(generator: torch.nn.Module, batch_size: int) -> dict:
    """Mean and max absolute difference ([-1, 1] scale) between float32 and bfloat16 images of the same inputs."""
    with torch.inference_mode(), fast_cpu_generation():
        reference = make_runner(generator, batch_size, precision="fp32")()
        low = make_runner(generator, batch_size, precision="bf16")()
    difference = (reference - low).abs()
    return {"batch_size": batch_size, "mean_abs": round(float(difference.mean()), 4),
            "max_abs": round(float(difference.max()), 4)}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.retain_freed_memory and any(os.environ.get(k) != v for k, v in RETAIN_ENV.items()):
        reexec_with_retained_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    precisions, skipped = precision_runs(args)
    generator = build_generator(args.preset)
    result = {
        "preset": args.preset, "device": "cpu", "threads": torch.get_num_threads(), "torch": torch.__version__,
        "fused_modconv": args.fused_modconv, "repeats": args.repeats,
        "malloc_env": {k: os.environ[k] for k in sorted(RETAIN_ENV) if k in os.environ},
        "memory_policy": "off" if os.environ.get("EEG2IMG_MALLOC_TUNING") == "0" else "on (fast_cpu_generation)",
        "flops_per_image_analytic_g": round(analytic_flops_per_image(generator.config) / 1e9, 3),
        "bf16_support": bf16_support("cpu")[1], "environment": environment(),
    }
    timed = {precision: time_precision(generator, args, precision) for precision in precisions}
    if precisions == ["fp32"] or precisions == ["bf16"]:  # one precision: the figures at the top level, as before
        result.update(precision=precisions[0], **timed[precisions[0]])
    else:
        result["precisions"] = timed
        result["bf16_vs_fp32_pixels"] = pixel_difference(generator, max(args.batch_sizes))
    if skipped:
        result["skipped"] = skipped
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
