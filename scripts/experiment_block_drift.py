"""Measure the block-design confound on simulated data.

Trains the same encoder recipe four times on one simulated preset: block drift off / on, crossed with
the `within-block` split (test trials come from blocks also seen in training, like the by-image split
of EEGCVPR40) and the `block-held-out` split (test blocks never seen in training). Prints one JSON line
with test k-means / SVM / kNN for each cell and the within-minus-held-out gap per drift setting.

    python scripts/experiment_block_drift.py [--preset thoughtviz] [--drift 1.0] [--epochs 25] [--seeds 0,1,2]
        [--n-subjects N] [--trials-per-block K] [--n-blocks-per-class B]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from eeg2img_hf.training import EncoderTrainingArguments, evaluate_encoder, train_encoder

SPLITS = ("within-block", "block-held-out")
KEYS = ("kmeans_test", "svm_train_to_test", "knn3_train_to_test")


def run_cell(preset: str, drift: float, split: str, epochs: int, training_preset: str, simulate: dict) -> dict:
    with tempfile.TemporaryDirectory() as out:
        args = EncoderTrainingArguments.from_preset(
            training_preset, dataset=preset, output_dir=out, epochs=epochs, log_with=[], seed=simulate["seed"],
            simulate={**simulate, "block_drift": drift, "split": split},
        )
        start = time.perf_counter()
        summary = train_encoder(args)
        result = evaluate_encoder(summary["model_dir"], tsne_path="")
        figures = {k: round(result["seen_classes"][k], 4) for k in KEYS}
        return {**figures, "best_val_kmeans": round(summary["best_validation"], 4),
                "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="thoughtviz", help="simulated dataset preset")
    parser.add_argument("--drift", type=float, default=1.0, help="block_drift amplitude for the 'on' setting")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--training-preset", default="cpu-small")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; cells report the mean over seeds")
    parser.add_argument("--n-subjects", type=int, help="simulated subjects (default: the preset's)")
    parser.add_argument("--trials-per-block", type=int, help="trials per recording block (default: the preset's)")
    parser.add_argument("--n-blocks-per-class", type=int, help="blocks per class and subject (default: the preset's)")
    args = parser.parse_args()
    seeds = [int(v) for v in args.seeds.split(",")]
    simulate = {"n_subjects": args.n_subjects, "trials_per_block": args.trials_per_block,
                "n_blocks_per_class": args.n_blocks_per_class}
    simulate = {k: v for k, v in simulate.items() if v is not None}
    runs: dict[str, list[dict]] = {}
    for seed in seeds:
        for drift in (0.0, args.drift):
            for split in SPLITS:
                cell = run_cell(args.preset, drift, split, args.epochs, args.training_preset, {**simulate, "seed": seed})
                runs.setdefault(f"drift={drift:g}/{split}", []).append(cell)
    cells = {name: {key: round(sum(r[key] for r in rs) / len(rs), 4) for key in rs[0]} for name, rs in runs.items()}
    for name, rs in runs.items():
        cells[name]["kmeans_test_per_seed"] = [r["kmeans_test"] for r in rs]
    gaps = {f"drift={d:g}": round(cells[f"drift={d:g}/within-block"]["kmeans_test"]
                                  - cells[f"drift={d:g}/block-held-out"]["kmeans_test"], 4)
            for d in (0.0, args.drift)}
    print(json.dumps({"experiment": "block_drift", "preset": args.preset, "training_preset": args.training_preset,
                      "epochs": args.epochs, "seeds": seeds, "simulate": simulate, "drift": args.drift,
                      "cells": cells, "kmeans_gap_within_minus_heldout": gaps}))


if __name__ == "__main__":
    main()
