"""How much bfloat16 generation changes the images of a trained EEGStyleGAN-ADA (default: the quickstart's).

The same generator, the same trials, latents and noise, once in float32 and once under bfloat16 autocast (the
`precision="bf16"` path of the pipelines, `generate` and `evaluate-gan`):

* pixels: mean and max absolute difference on the [-1, 1] scale, and the share of uint8 pixels that differ by more
  than 8 levels, over `--pixel-images` images of the test split (`eeg-to-image` pipeline, seed 0, psi 1, const noise);
* the judge: generated-image class accuracy and FID on judge features from `evaluate_gan` (test split, `--num-fakes`
  fakes, seed 0, random noise, psi 1) in each precision, and how many fakes the judge classes differently.

On a CPU without bfloat16 units the bfloat16 runs need `--allow-emulated-bf16`: PyTorch then emulates bfloat16 with
the same rounding (the figures hold for a CPU with the units), but the seconds say nothing about such a CPU. Prints
one JSON line with the environment (and writes it to `--output` when given).

    python scripts/bench_bf16_quality.py [--quickstart outputs/quickstart] [--num-fakes 1000] [--pixel-images 64]
        [--allow-emulated-bf16] [--threads 2] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import pipeline

from eeg2img_hf.data import load_eeg_dataset
from eeg2img_hf.evaluation.evaluate_gan import evaluate_gan
from eeg2img_hf.models import EEGStyleGANModel
from eeg2img_hf.pipelines.precision import ALLOW_EMULATED_VAR, bf16_support
from eeg2img_hf.quickstart import find_quickstart_outputs
from eeg2img_hf.utils.allocator import fast_cpu_generation
from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import run_script

PRECISIONS = ("fp32", "bf16")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quickstart", default="outputs/quickstart", help="a finished quickstart output folder")
    parser.add_argument("--num-fakes", type=int, default=1000, help="fakes per precision for the judge figures")
    parser.add_argument("--pixel-images", type=int, default=64, help="images compared pixel by pixel")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--allow-emulated-bf16", action="store_true",
                        help="run bfloat16 on a CPU without bfloat16 units (emulated: numerics hold, speed does not)")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.num_fakes < 2 or args.pixel_images < 1 or args.batch_size < 1:
        parser.error("--num-fakes must be >= 2, --pixel-images and --batch-size >= 1")
    return args


def quickstart_parts(folder: str) -> dict[str, str]:
    """The GAN, judge and dataset folders of a finished quickstart run; names what is missing otherwise."""
    found = find_quickstart_outputs(folder)
    missing = [name for name in ("gan", "judge", "dataset") if name not in found]
    if missing:
        raise ValueError(f"--quickstart {folder}: no finished {', '.join(missing)} (run `eeg2img quickstart` first)")
    return found


def pixel_difference(model: EEGStyleGANModel, eeg: np.ndarray, batch_size: int) -> dict[str, Any]:
    """float32 vs bfloat16 images of the same trials and latents (seed 0, const noise)."""
    pipe = pipeline("eeg-to-image", model=model, device="cpu")
    images, seconds = {}, {}
    for precision in PRECISIONS:
        start = time.perf_counter()
        with fast_cpu_generation():
            results = pipe(eeg, seed=0, output_type="pt", batch_size=batch_size, precision=precision)
        seconds[precision] = round(time.perf_counter() - start, 2)
        images[precision] = torch.stack([r["images"][0] for r in results])
    difference = (images["fp32"] - images["bf16"]).abs()
    levels = (difference * 127.5).round()
    return {"images": len(eeg), "mean_abs": round(float(difference.mean()), 4),
            "max_abs": round(float(difference.max()), 4),
            "share_of_uint8_values_off_by_more_than_8": round(float((levels > 8).float().mean()), 5),
            "seconds": seconds}


def judge_figures(parts: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """evaluate_gan in each precision (same seed: same trials, latents and noise)."""
    results = {}
    for precision in PRECISIONS:
        start = time.perf_counter()
        result = evaluate_gan(parts["gan"], dataset=parts["dataset"], split="test", num_fakes=args.num_fakes,
                              classifier_dir=parts["judge"], seed=0, batch_size=args.batch_size, device="cpu",
                              precision=precision)
        results[precision] = {"class_accuracy": round(result["class_accuracy"]["generated"], 4),
                              "fid_judge_features": round(result["fid"], 3),
                              "seconds": round(time.perf_counter() - start, 1)}
    return {**results, "chance": round(result["class_accuracy"]["chance"], 4),
            "judge_real_accuracy": round(result["class_accuracy"]["judge_real_accuracy"], 4),
            "difference": {"class_accuracy": round(results["bf16"]["class_accuracy"]
                                                   - results["fp32"]["class_accuracy"], 4),
                           "fid_judge_features": round(results["bf16"]["fid_judge_features"]
                                                       - results["fp32"]["fid_judge_features"], 3)}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.allow_emulated_bf16:
        os.environ[ALLOW_EMULATED_VAR] = "1"
    supported, reason = bf16_support("cpu")
    if not supported:
        raise ValueError(f"{reason}; pass --allow-emulated-bf16 to measure the numerics anyway")
    parts = quickstart_parts(args.quickstart)
    model = EEGStyleGANModel.from_pretrained(parts["gan"]).eval()
    test = load_eeg_dataset(parts["dataset"])["test"]
    eeg = np.asarray(test.select(range(min(args.pixel_images, len(test)))).with_format("numpy")["eeg"])
    result = {
        "what": "float32 vs bfloat16 autocast generation of one trained generator (same trials, latents, noise)",
        "model": "quickstart GAN", "dataset": "the quickstart's simulated dataset, test split",
        "bf16": reason, "emulated": ALLOW_EMULATED_VAR in os.environ and "emulated" in reason,
        "pixels": pixel_difference(model, eeg, args.batch_size),
        "judge": judge_figures(parts, args), "num_fakes": args.num_fakes,
        "protocol": "evaluate_gan: test split, seed 0, random noise, psi 1, FID on judge features",
        "environment": environment({"latents": 0, "evaluate_gan": 0}),
    }
    print(json.dumps(result))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    run_script(main, "bench_bf16_quality.py")
