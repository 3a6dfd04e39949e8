"""Benchmark `convert_eegcvpr40` on a synthetic file of the official EEGCVPR40 size and format.

Writes (in a temporary folder under --workdir, deleted afterwards) a `torch.save` zip-format dict like
the official `.pth` (11,964 trials x 128 x 500 float32 by default, subjects 1..6, 40 labels, 2,000 image
names; 0.5 % of trials 440 samples long, which the length rule drops), a splits file (80/10/10 by
image) and 2,000 tiny JPEGs. Then, each in its own process so that generating the data does not count:

- conversion: wall seconds and peak RSS (`VmHWM`, or `ru_maxrss` off Linux) against the data size
  (the `.pth` file), and the RSS after importing torch and datasets (the fixed part);
- iteration: trials/s reading the converted train split in batches of 256 as training does
  (`with_format("torch")[i:i + 256]["eeg"]`, and `EEGBatchDataset.__getitems__`), the zero-copy
  Arrow lower bound (slice, flatten, copy into a tensor), versus batching the in-memory tensors of the
  `.pth` the way the reference loader reads them (crop, stack).

Prints one JSON line. Targets: conversion <= 120 s, peak RSS <= 2 x data, iteration >= 5,000 trials/s.

    python scripts/bench_convert.py [--trials 11964] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from datasets import load_from_disk
from PIL import Image

from eeg2img_hf.data import get_eeg_info
from eeg2img_hf.data.converters.eegcvpr40 import convert_eegcvpr40
from eeg2img_hf.data.simulate import EEGCVPR40_CLASSES
from eeg2img_hf.training.common import EEGBatchDataset
from eeg2img_hf.utils.benchmark import environment

N_CHANS, N_TIMES, N_CLASSES, N_IMAGES, N_SUBJECTS = 128, 500, 40, 2000, 6
BATCH = 256


def generate(folder: Path, n_trials: int, seed: int = 0) -> dict:
    """Write `eeg_signals_raw_with_mean_std.pth`, `block_splits_by_image_all.pth` and `images/`."""

    rng = np.random.default_rng(seed)
    wnids = [wnid for wnid, _ in EEGCVPR40_CLASSES]
    per_class = N_IMAGES // N_CLASSES
    images = [f"{wnids[c]}_{k}" for c in range(N_CLASSES) for k in range(per_class)]
    image_index = rng.integers(0, N_IMAGES, size=n_trials)
    lengths = np.where(rng.random(n_trials) < 0.005, 440, N_TIMES)
    dataset = []
    for i in range(n_trials):
        eeg = torch.from_numpy(rng.standard_normal((N_CHANS, int(lengths[i])), dtype=np.float32))
        dataset.append({"eeg": eeg, "label": int(image_index[i] // per_class), "image": int(image_index[i]),
                        "subject": int(1 + i % N_SUBJECTS)})
    torch.save({"dataset": dataset, "labels": wnids, "images": images}, folder / "eeg_signals_raw_with_mean_std.pth")
    del dataset
    # split by image, as the official file does: all trials of one image land in one split
    image_split = rng.choice(3, size=N_IMAGES, p=[0.8, 0.1, 0.1])
    names = ("train", "val", "test")
    split = {name: np.flatnonzero(image_split[image_index] == k).tolist() for k, name in enumerate(names)}
    torch.save({"splits": [split]}, folder / "block_splits_by_image_all.pth")
    (folder / "images").mkdir()
    for k, name in enumerate(images):
        Image.new("RGB", (16, 12), (k % 256, k // 256 * 30, 90)).save(folder / "images" / f"{name}.JPEG", quality=90)
    return {"trials": n_trials, "pth_bytes": (folder / "eeg_signals_raw_with_mean_std.pth").stat().st_size}


def peak_rss_bytes() -> int:
    """Peak resident memory of this process.

    `VmHWM` of `/proc/self/status` on Linux: `getrusage(...).ru_maxrss` keeps, across `fork` + `exec`,
    the parent's resident size at spawn time, which here would count the generated data.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_convert(folder: Path) -> dict:
    baseline = peak_rss_bytes()
    start = time.perf_counter()
    ds = convert_eegcvpr40(
        folder / "eeg_signals_raw_with_mean_std.pth",
        folder / "converted",
        splits_file=folder / "block_splits_by_image_all.pth",
        images_dir=folder / "images",
    )
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_bytes": peak_rss_bytes(),
            "import_rss_bytes": baseline,
            "rows": {k: len(v) for k, v in ds.items()}, "dropped": get_eeg_info(ds)["split"]["dropped"]}


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def child_iterate(folder: Path) -> dict:
    train = load_from_disk(str(folder / "converted"))["train"]
    n = len(train)
    torch_view = train.select_columns(["eeg"]).with_format("torch")
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        batch = torch_view[i : i + BATCH]["eeg"]
    arrow_torch = time.perf_counter() - start
    assert batch.dtype == torch.float32 and batch.shape[1:] == (N_CHANS, 440)
    view = EEGBatchDataset(train)
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        view.__getitems__(list(range(i, min(i + BATCH, n))))
    arrow_getitems = time.perf_counter() - start
    table = train.data.table  # lower bound: zero-copy views of the Arrow buffers, no formatting layer
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        column = table.slice(i, BATCH).column("eeg").combine_chunks().storage
        values = column.flatten().flatten().to_numpy(zero_copy_only=True)
        torch.from_numpy(values.reshape(-1, N_CHANS, 440).copy())
    arrow_zero_copy = time.perf_counter() - start

    data = torch.load(folder / "eeg_signals_raw_with_mean_std.pth", weights_only=True, mmap=True)["dataset"]
    split = torch.load(folder / "block_splits_by_image_all.pth", weights_only=True)["splits"][0]["train"]
    kept = [i for i in split if 450 <= data[i]["eeg"].shape[1] <= 600]
    torch.stack([data[i]["eeg"][:, 20:460] for i in kept])  # warm the page cache like the Arrow runs had
    start = time.perf_counter()
    for i in range(0, len(kept), BATCH):
        torch.stack([data[j]["eeg"][:, 20:460] for j in kept[i : i + BATCH]])
    in_memory = time.perf_counter() - start
    return {"train_trials": n, "arrow_torch_format_trials_per_s": _rate(n, arrow_torch),
            "arrow_eeg_batch_dataset_trials_per_s": _rate(n, arrow_getitems),
            "arrow_zero_copy_trials_per_s": _rate(n, arrow_zero_copy),
            "in_memory_tensors_trials_per_s": _rate(len(kept), in_memory)}


def _run_child(mode: str, folder: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", mode, "--workdir", str(folder)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=11964, help="number of trials (official: 11,964)")
    parser.add_argument("--workdir", help="parent folder of the temporary data (default: the system temp dir)")
    parser.add_argument("--child", choices=["convert", "iterate"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        work = Path(args.workdir)
        print(json.dumps(child_convert(work) if args.child == "convert" else child_iterate(work)))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-convert-", dir=args.workdir))
    try:
        start = time.perf_counter()
        generated = generate(folder, args.trials)
        generate_seconds = time.perf_counter() - start
        converted = _run_child("convert", folder)
        iterated = _run_child("iterate", folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    data_bytes = generated["pth_bytes"]
    print(json.dumps({
        "trials": args.trials, "data_bytes": data_bytes, "generate_seconds": round(generate_seconds, 1),
        "convert_seconds": round(converted["seconds"], 2), "peak_rss_bytes": converted["peak_rss_bytes"],
        "peak_rss_over_data": round(converted["peak_rss_bytes"] / data_bytes, 3),
        "import_rss_bytes": converted["import_rss_bytes"],
        "conversion_rss_over_data": round((converted["peak_rss_bytes"] - converted["import_rss_bytes"]) / data_bytes,
                                          3),
        "rows": converted["rows"], "dropped": converted["dropped"], **iterated,
        "targets": {"convert_seconds": 120, "peak_rss_over_data": 2.0, "trials_per_s": 5000},
        "cpu_count": os.cpu_count(), "environment": environment(),
    }))


if __name__ == "__main__":
    main()
