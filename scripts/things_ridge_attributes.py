"""What the simulated THINGS-EEG2 data allow from the TRUE concept attributes: a ridge map attributes -> EEG.

The simulator draws each concept's shape family, hue, texture kind and size
(`eeg2img_hf.data.simulate_things.concept_attributes`); its evoked response is a sum of attribute templates plus a
concept component that no attribute predicts, plus noise. This script fits a ridge regression from the true
attributes (one-hot shape, one-hot texture, cos and sin of the hue, size: 15 features) to one subject's EEG averaged
per concept (every image and repetition; channels x samples flattened) on the training concepts, predicts the EEG of
unseen concepts and identifies each one's measured average among the predictions by Pearson correlation: n-way
top-1 / top-5 over the test concepts (chance 1/n). The ridge penalty is chosen from `ALPHAS` by the same top-1 on
the validation concepts (ties: the larger penalty). It is the ceiling an image tower that recovered the attributes
exactly could approach, not a model of the package.

Prints one JSON line and writes it, with the environment, to `--output`.

    python scripts/things_ridge_attributes.py --output docs/results/things-ridge-attributes.json
        [--dataset things-eeg2] [--subject 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge

from eeg2img_hf.data import get_eeg_info, load_eeg_dataset
from eeg2img_hf.data.simulate_things import concept_attributes
from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import run_script
from eeg2img_hf.utils.outputs import prepare_result_json

ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)
"""Ridge penalties tried on the validation concepts."""


def attribute_features(attributes: dict[str, np.ndarray], n_shapes: int, n_textures: int) -> np.ndarray:
    """`(concepts, 15)`: one-hot shape family, one-hot texture kind, cos and sin of the hue angle, size."""
    hue = 2 * np.pi * attributes["hue"]
    return np.concatenate([np.eye(n_shapes)[attributes["shape"]], np.eye(n_textures)[attributes["texture"]],
                           np.cos(hue)[:, None], np.sin(hue)[:, None], attributes["size"][:, None]], axis=1)


def concept_means(split, subject: int) -> tuple[np.ndarray, np.ndarray]:
    """`(concepts, averaged EEG)` of `subject` in `split`: each concept's trials averaged, flattened."""
    view = split.select_columns(["eeg", "label", "subject"]).with_format("numpy")
    eeg, labels, subjects = np.asarray(view["eeg"], dtype=np.float64), np.asarray(view["label"]), \
        np.asarray(view["subject"])
    mine = subjects == subject
    if not mine.any():
        raise ValueError(f"--subject {subject}: no trials of that subject (subjects: {sorted(set(subjects))})")
    concepts = np.unique(labels[mine])
    return concepts, np.stack([eeg[mine & (labels == c)].mean(axis=0).ravel() for c in concepts])


def identification(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """n-way top-1 / top-5: the rank of each concept's own prediction by Pearson correlation with its EEG."""
    def z(m: np.ndarray) -> np.ndarray:
        return (m - m.mean(axis=1, keepdims=True)) / m.std(axis=1, keepdims=True)

    similarity = z(measured) @ z(predicted).T
    rank = (similarity > np.diag(similarity)[:, None]).sum(axis=1)
    return {"top1": round(float(np.mean(rank < 1)), 4), "top5": round(float(np.mean(rank < 5)), 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="things-eeg2", help="simulated things-eeg2 preset or saved folder")
    parser.add_argument("--subject", type=int, default=1, help="subject whose averaged EEG is predicted")
    parser.add_argument("--output", required=True, type=Path, help="results JSON to write")
    ns = parser.parse_args(argv)
    output = prepare_result_json(ns.output, what="--output")
    started = time.perf_counter()
    data = load_eeg_dataset(ns.dataset)
    info = get_eeg_info(data)
    simulator = info.get("simulator") or {}
    if simulator.get("preset") != "things-eeg2" or "validation" not in data:
        raise ValueError(f"--dataset {ns.dataset}: needs the simulated things-eeg2 data with a validation split "
                         "(the true attributes are known only for it)")
    n_concepts = simulator["n_train_concepts"] + simulator["n_test_concepts"]
    shapes, textures = info["concept_attributes"]["shapes"], info["concept_attributes"]["textures"]
    features = attribute_features(concept_attributes(n_concepts, simulator["seed"]), len(shapes), len(textures))
    (c_train, y_train), (c_val, y_val), (c_test, y_test) = (concept_means(data[s], ns.subject)
                                                            for s in ("train", "validation", "test"))

    def fit(alpha: float) -> Ridge:
        return Ridge(alpha=alpha).fit(features[c_train], y_train)

    validation = {alpha: identification(y_val, fit(alpha).predict(features[c_val])) for alpha in ALPHAS}
    alpha = max(ALPHAS, key=lambda a: (validation[a]["top1"], a))
    result = {
        "benchmark": "things_ridge_attributes", "dataset": ns.dataset, "subject": ns.subject,
        "simulator": simulator, "n_concepts": {"train": len(c_train), "validation": len(c_val), "test": len(c_test)},
        "protocol": "ridge from the true concept attributes (15 features) to the subject's per-concept averaged EEG, "
                    "fitted on the training concepts; each test concept's measured average identified among the "
                    "predictions of all test concepts by Pearson correlation; alpha chosen on validation top-1",
        "validation_by_alpha": {str(a): v for a, v in validation.items()}, "alpha_chosen_on_validation": alpha,
        "test": {f"{len(c_test)}-way": identification(y_test, fit(alpha).predict(features[c_test]))},
        "chance_top1": round(1 / len(c_test), 4), "seconds": round(time.perf_counter() - started, 1),
        "environment": environment({"simulator": simulator["seed"]}),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run_script(main, "things_ridge_attributes.py", "interrupted; nothing was written")
