"""`eeg2img generate`: image grids from an EEGStyleGAN-ADA model, one per seed (rows = classes, columns = trials).

The command parses its options; the work is [`eeg2img_hf.evaluation.generate.generate_grids`].
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..utils.allocator import fast_cpu_generation
from ._run_options import add_allow_unfinished_option

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Adds the `generate` sub-command to the `eeg2img` CLI."""
    p = subparsers.add_parser("generate", help="write PNG image grids (rows = classes, columns = trials) per seed")
    p.add_argument("model", help="folder written by save_pretrained (or a Hub id) of an EEGStyleGAN-ADA model")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="preset name, sim:<preset>, or a saved DatasetDict folder")
    source.add_argument("--eeg", help="EEG file: .npy / .npz with one trial (n_chans, n_times) or a batch (n, n_chans, "
                        "n_times), or MNE .fif (Epochs or Raw), .edf, .bdf, .vhdr, .set")
    p.add_argument("--pick-and-resample", action="store_true", help="with --eeg: pick the model's channels by name "
                   "(--ch-names) and resample the file to the model's sampling rate")
    p.add_argument("--ch-names", help="comma-separated channels the model expects, in its order (for "
                   "--pick-and-resample)")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--classes", help="number of classes (the first N) or comma-separated class names (default: all)")
    p.add_argument("--trials-per-class", type=int, default=8, help="grid columns (default: 8)")
    p.add_argument("--num-images", type=int, default=4, help="images per trial with --eeg (default: 4)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds and ranges, e.g. 0,1,2 or 0-10 (default: 0)")
    p.add_argument("--truncation-psi", type=float, default=1.0)
    p.add_argument("--truncation-center", choices=["average", "condition"], default="average",
                   help="with --truncation-psi below 1: towards w_avg (default) or each trial's own mean w")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const")
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default: 16)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="fp32 (default) or bf16: bfloat16 autocast, faster on CPUs with bfloat16 units (AVX512-BF16, "
                        "AMX) and on GPUs; refused elsewhere")
    p.add_argument("--max-memory-gib", type=float, help="refuse a grid whose estimated memory exceeds this many GiB "
                   "(default: 4, the pipeline's MAX_MEMORY_BYTES)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice; 1 can be faster on "
                   "a CPU shared with other busy processes)")
    p.add_argument("--output-dir", default="outputs/generate")
    add_allow_unfinished_option(p)
    p.set_defaults(func=_run)


def _run(ns: argparse.Namespace) -> None:
    from ..evaluation.generate import generate_grids, parse_seeds  # torch and transformers: not for --help

    if ns.threads is not None:
        if ns.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {ns.threads}")
        import torch

        torch.set_num_threads(ns.threads)
    with fast_cpu_generation():  # this process's own allocator policy: large blocks reuse freed heap memory
        summary = generate_grids(
            ns.model, output_dir=ns.output_dir, dataset=ns.dataset, eeg_file=ns.eeg, split=ns.split,
            classes=ns.classes, trials_per_class=ns.trials_per_class, num_images=ns.num_images,
            seeds=parse_seeds(ns.seeds), truncation_psi=ns.truncation_psi, noise_mode=ns.noise_mode,
            truncation_center=ns.truncation_center, precision=ns.precision,
            batch_size=ns.batch_size, device=ns.device,
            max_memory_bytes=None if ns.max_memory_gib is None else _gib_to_bytes(ns.max_memory_gib),
            pick_and_resample=ns.pick_and_resample, allow_unfinished=ns.allow_unfinished,
            ch_names=None if ns.ch_names is None else [c.strip() for c in ns.ch_names.split(",") if c.strip()],
        )
    print(json.dumps(summary))


def _gib_to_bytes(gib: float) -> int:
    import math

    if not math.isfinite(gib) or gib <= 0:
        raise ValueError(f"--max-memory-gib must be a positive number, got {gib}")
    return max(1, int(gib * 2**30))
