"""Where the class information of the simulated ThoughtViz trials sits: a linear SVM on the per-channel trial means.

Three linear SVMs (LinearSVC, C = 1, fitted on the train split, scored on the test split; every feature z-scored
with the train split's statistics), each on other features of the same trials:

- `channel_means`: the mean of each channel over the trial (one feature per channel);
- `raw_trials`: the flattened trials (channels x samples features), the reference of `bench_encoder_quality.py`;
- `raw_trials_z_scored_per_trial`: the flattened trials after z-scoring each channel of each trial over time,
  which removes the per-channel means (and scales).

Prints one JSON line and writes it, with the environment, to `--output`.

    python scripts/bench_channel_means.py --output docs/results/channel-means-svm.json [--dataset thoughtviz]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

from eeg2img_hf.data import get_eeg_info, load_eeg_dataset
from eeg2img_hf.metrics import linear_svm_accuracy
from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import run_script
from eeg2img_hf.utils.outputs import prepare_result_json

FEATURES = {
    "channel_means": lambda eeg: eeg.mean(axis=2),
    "raw_trials": lambda eeg: eeg.reshape(len(eeg), -1),
    "raw_trials_z_scored_per_trial": lambda eeg: ((eeg - eeg.mean(axis=2, keepdims=True))
                                                  / (eeg.std(axis=2, keepdims=True) + 1e-8)).reshape(len(eeg), -1),
}
"""Features of `(trials, channels, samples)` EEG, by name."""


def split_arrays(dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    view = dataset[split].select_columns(["eeg", "label"]).with_format("numpy")
    return np.asarray(view["eeg"], dtype=np.float32), np.asarray(view["label"])


def svm_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """LinearSVC (C = 1) test accuracy, each feature z-scored with the train split's statistics."""
    scaler = StandardScaler().fit(x_train)
    return linear_svm_accuracy(scaler.transform(x_train), y_train, scaler.transform(x_test), y_test)["accuracy"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="thoughtviz", help="simulated preset or saved DatasetDict folder")
    parser.add_argument("--output", required=True, type=Path, help="results JSON to write")
    ns = parser.parse_args(argv)
    output = prepare_result_json(ns.output, what="--output")
    started = time.perf_counter()
    dataset = load_eeg_dataset(ns.dataset)
    (eeg_train, y_train), (eeg_test, y_test) = (split_arrays(dataset, s) for s in ("train", "test"))
    info = get_eeg_info(dataset)
    result = {
        "benchmark": "channel_means_svm", "dataset": ns.dataset, "split": info.get("split"),
        "simulator_seed": info.get("simulator", {}).get("seed"),
        "n_train": len(y_train), "n_test": len(y_test), "n_classes": len(np.unique(y_train)),
        "protocol": "LinearSVC C=1 fitted on train, scored on test; features z-scored with train-split statistics",
        "test_accuracy": {name: round(svm_accuracy(f(eeg_train), y_train, f(eeg_test), y_test), 4)
                          for name, f in FEATURES.items()},
        "n_features": {name: int(f(eeg_train[:1]).shape[1]) for name, f in FEATURES.items()},
        "seconds": round(time.perf_counter() - started, 1),
        "environment": environment({"simulator": info.get("simulator", {}).get("seed"), "svm": 45}),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run_script(main, "bench_channel_means.py", "interrupted; nothing was written")
