"""Measure the block-design confound on simulated data.

Trains the same encoder recipe on one simulated preset for each block-drift setting crossed with each
split strategy, by default block drift off / on x the `within-block` split (test trials come from blocks
also seen in training) and the `block-held-out` split (test blocks never seen in training); `--splits
paper,block-held-out` compares the paper's by-image split instead. Prints one JSON line with test
k-means / SVM / kNN for each cell and, per drift setting, the gap between the first and the last split, with the
environment (CPU, instruction sets, torch, threads, seeds); `--output FILE` also writes it there.

    python scripts/experiment_block_drift.py [--preset thoughtviz] [--drifts 0,1] [--epochs 25] [--seeds 0,1,2]
        [--splits within-block,block-held-out] [--n-subjects N] [--trials-per-block K] [--n-blocks-per-class B]
        [--training-preset cpu-small] [--set 'encoder_config={"input_normalization": "channel_zscore"}' ...]
        [--threads 1] [--output FILE]

`--set FIELD=VALUE` overrides an encoder training argument (VALUE parsed as JSON when it can be; a JSON object
for a dict field such as `encoder_config` updates the preset's dict instead of replacing it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from eeg2img_hf.evaluation import evaluate_encoder
from eeg2img_hf.training import EncoderTrainingArguments, train_encoder
from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import run_script
from eeg2img_hf.utils.outputs import prepare_result_json

KEYS = ("kmeans_test", "svm_train_to_test", "knn3_train_to_test")


def parse_overrides(items: list[str], training_preset: str) -> dict:
    """`FIELD=VALUE` pairs (VALUE as JSON when it parses); a dict merges into the preset's dict of that field."""
    preset = EncoderTrainingArguments.PRESETS.get(training_preset, {})
    overrides = {}
    for item in items:
        field, sep, text = item.partition("=")
        if not sep or not field.strip():
            raise SystemExit(f"error: --set takes FIELD=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        field = field.strip()
        if isinstance(value, dict) and isinstance(preset.get(field), dict):
            value = {**preset[field], **value}
        overrides[field] = value
    return overrides


def run_cell(preset: str, drift: float, split: str, epochs: int, training_preset: str, simulate: dict,
             overrides: dict) -> dict:
    with tempfile.TemporaryDirectory() as out:
        args = EncoderTrainingArguments.from_preset(
            training_preset, dataset=preset, output_dir=out, epochs=epochs, log_with=[], seed=simulate["seed"],
            simulate={**simulate, "block_drift": drift, "split": split}, **overrides,
        )
        start = time.perf_counter()
        summary = train_encoder(args)
        result = evaluate_encoder(summary["model_dir"], tsne_path="")
        figures = {k: round(result["seen_classes"][k], 4) for k in KEYS}
        return {**figures, "best_val_kmeans": round(summary["best_validation"], 4),
                "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="thoughtviz", help="simulated dataset preset")
    parser.add_argument("--drifts", default="0,1", help="comma-separated block_drift amplitudes (0 = off)")
    parser.add_argument("--splits", default="within-block,block-held-out", help="comma-separated split strategies")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--training-preset", default="cpu-small-lstm-triplet",
                        help="encoder training preset (default: the triplet LSTM of the published figures)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; cells report the mean over seeds")
    parser.add_argument("--n-subjects", type=int, help="simulated subjects (default: the preset's)")
    parser.add_argument("--trials-per-block", type=int, help="trials per recording block (default: the preset's)")
    parser.add_argument("--n-blocks-per-class", type=int, help="blocks per class and subject (default: the preset's)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an encoder training argument (see the module docstring)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--output", type=Path, help="also write the JSON line to this file")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.epochs < 1:
        parser.error("--threads and --epochs must be >= 1")
    output = None if args.output is None else prepare_result_json(args.output, what="--output")  # before training
    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set, args.training_preset)
    seeds = [int(v) for v in args.seeds.split(",")]
    drifts = [float(v) for v in args.drifts.split(",")]
    splits = [v.strip() for v in args.splits.split(",") if v.strip()]
    simulate = {"n_subjects": args.n_subjects, "trials_per_block": args.trials_per_block,
                "n_blocks_per_class": args.n_blocks_per_class}
    simulate = {k: v for k, v in simulate.items() if v is not None}
    runs: dict[str, list[dict]] = {}
    for seed in seeds:
        for drift in drifts:
            for split in splits:
                cell = run_cell(
                    args.preset, drift, split, args.epochs, args.training_preset, {**simulate, "seed": seed}, overrides
                )
                runs.setdefault(f"drift={drift:g}/{split}", []).append(cell)
    cells = {name: {key: round(sum(r[key] for r in rs) / len(rs), 4) for key in rs[0]} for name, rs in runs.items()}
    for name, rs in runs.items():
        cells[name]["kmeans_test_per_seed"] = [r["kmeans_test"] for r in rs]
    gaps = {f"drift={d:g}": round(cells[f"drift={d:g}/{splits[0]}"]["kmeans_test"]
                                  - cells[f"drift={d:g}/{splits[-1]}"]["kmeans_test"], 4)
            for d in drifts}
    result = {"experiment": "block_drift", "preset": args.preset, "training_preset": args.training_preset,
              "overrides": overrides, "epochs": args.epochs, "seeds": seeds, "simulate": simulate,
              "drifts": drifts, "splits": splits,
              "protocol": "test split: k-means on the test embeddings (Hungarian matching), LinearSVC (C=1) and 3-NN "
                          "fitted on the train embeddings; the model kept by validation k-means; cells are means "
                          "over seeds (simulator and training seed alike)",
              "cells": cells, f"kmeans_gap_{splits[0]}_minus_{splits[-1]}": gaps,
              "environment": environment({f"simulator_and_training_{i}": seed for i, seed in enumerate(seeds)})}
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run_script(main, "experiment_block_drift.py")
