"""Benchmark the quality of an encoder preset against a linear SVM on the raw z-scored trials.

Trains the preset once per seed (on the simulated dataset's train split, selecting on validation), embeds the
train and test splits with the selected model and prints one JSON line: the test k-means / linear SVM / 3-NN
of every seed with their mean and spread (population std), training wall and CPU seconds, and, as the
reference, the same linear SVM (LinearSVC fitted on train, scored on test; C=1, and C chosen on validation) on
the raw trials, flattened, each feature z-scored with the train split's statistics. Dataset, split strategy,
data seed and thread count are recorded.

    python scripts/bench_encoder_quality.py [--preset cpu-small] [--seeds 0,1,2] [--threads 1]
        [--dataset thoughtviz] [--set epochs=10 --set loss=supervised ...] [--output FILE]

The JSON records the environment (CPU model and instruction-set flags, torch, threads, seeds); `--output` also
writes it to a file (the committed results files under docs/results/ come from there).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from eeg2img_hf.data import get_eeg_info, load_eeg_dataset
from eeg2img_hf.evaluation import evaluate_encoder
from eeg2img_hf.metrics import linear_svm_accuracy
from eeg2img_hf.training import EncoderTrainingArguments, train_encoder
from eeg2img_hf.utils.benchmark import environment

C_GRID = (1.0, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003)
KEYS = {"kmeans": "kmeans_test", "linear_svm": "svm_train_to_test", "knn3": "knn3_train_to_test"}


def raw_trial_baseline(dataset) -> dict:
    """Linear SVM on the raw trials: flattened, each feature z-scored with the train split's mean and std.

    `linear_svm_c1` is the probe the encoder is scored with (C=1); `linear_svm_c_on_validation` picks C from
    `C_GRID` by validation accuracy (fitted on train), then scores test.
    """
    def features(split):
        view = dataset[split].select_columns(["eeg", "label"]).with_format("numpy")
        eeg = np.asarray(view["eeg"], dtype=np.float32)
        return eeg.reshape(len(eeg), -1), np.asarray(view["label"])

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (features(s) for s in ("train", "validation", "test"))
    scaler = StandardScaler().fit(x_train)
    x_train, x_val, x_test = (scaler.transform(x) for x in (x_train, x_val, x_test))
    val = {c: linear_svm_accuracy(x_train, y_train, x_val, y_val, C=c)["accuracy"] for c in C_GRID}
    best_c = max(C_GRID, key=lambda c: (val[c], c))
    return {"linear_svm_c1": round(linear_svm_accuracy(x_train, y_train, x_test, y_test)["accuracy"], 4),
            "linear_svm_c_on_validation": round(linear_svm_accuracy(x_train, y_train, x_test, y_test,
                                                                    C=best_c)["accuracy"], 4),
            "c_selected": best_c, "n_features": int(x_train.shape[1]),
            "features": "flattened trials, each feature z-scored with train-split statistics"}


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run_seed(preset: str, seed: int, dataset: str, overrides: dict) -> dict:
    with tempfile.TemporaryDirectory() as out:
        args = EncoderTrainingArguments.from_preset(preset, dataset=dataset, output_dir=out, log_with=[], seed=seed,
                                                    **overrides)
        cpu = time.process_time()
        summary = train_encoder(args)
        cpu = time.process_time() - cpu
        result = evaluate_encoder(summary["model_dir"], tsne_path="")
    figures = {name: round(result["seen_classes"][key], 4) for name, key in KEYS.items()}
    return {"seed": seed, **figures, "train_seconds": summary["train_seconds"], "train_cpu_seconds": round(cpu, 1),
            "best_epoch": summary["best_epoch"], "best_val_kmeans_or_accuracy": round(summary["best_validation"], 4),
            "epochs_run": summary["epochs_run"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-small", help="encoder training preset")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--dataset", default="thoughtviz", help="dataset (a simulated preset or a saved folder)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a training argument (VALUE parsed as JSON when it can be)")
    parser.add_argument("--output", help="also write the JSON line to this file")
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)

    overrides = {}
    for item in ns.set:
        field, _, value = item.partition("=")
        overrides[field.strip()] = parse_value(value)
    seeds = [int(s) for s in ns.seeds.split(",")]
    args = EncoderTrainingArguments.from_preset(ns.preset, dataset=ns.dataset, **overrides)
    data = load_eeg_dataset(ns.dataset, **args.simulate)
    info = get_eeg_info(data)
    runs = [run_seed(ns.preset, seed, ns.dataset, overrides) for seed in seeds]
    summary = {}
    for name in (*KEYS, "train_seconds", "train_cpu_seconds"):
        values = [r[name] for r in runs]
        summary[name] = {"mean": round(statistics.fmean(values), 4), "std": round(statistics.pstdev(values), 4),
                         "min": min(values), "max": max(values)}
    result = {
        "benchmark": "encoder_quality", "preset": ns.preset, "overrides": overrides, "dataset": ns.dataset,
        "simulate": args.simulate, "data_seed": info.get("simulator", {}).get("seed"), "split": info.get("split"),
        "splits": {s: len(data[s]) for s in data}, "threads": torch.get_num_threads(), "seeds": seeds,
        "architecture": args.architecture, "loss": args.loss, "epochs": args.epochs,
        "protocol": "test split; k-means on test embeddings (Hungarian); LinearSVC C=1 and 3-NN fitted on train "
                    "embeddings; model selected on validation",
        "raw_zscore_trials": raw_trial_baseline(data), "encoder": summary, "per_seed": runs,
        "environment": environment({"training": seeds, "data": info.get("simulator", {}).get("seed")}),
    }
    print(json.dumps(result))
    if ns.output:
        Path(ns.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
