"""Evaluate a trained EEG encoder: k-means, SVM and kNN probes, unseen classes, t-SNE; one JSON out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data import get_eeg_info, load_eeg_dataset
from ..metrics import evaluate_features, plot_tsne, unseen_class_evaluation
from ..models import EEGEncoderModel
from ..training.common import compute_embeddings, select_classes, write_json
from ..utils.model_folders import load_model_folder
from ..utils.names import TRAINING_RECORD
from ..utils.outputs import prepare_result_json


def _unseen_report(model, dataset, unseen: list[str]) -> dict[str, Any]:
    subset = select_classes(dataset, keep=unseen)
    train_f, train_y = compute_embeddings(model, subset["train"])
    test_f, test_y = compute_embeddings(model, subset["test"])
    report = unseen_class_evaluation(train_f, train_y, test_f, test_y)
    report["unseen_classes"] = subset["train"].features["label"].names
    return report


def evaluate_encoder(
    model_path: str | Path,
    dataset: str | None = None,
    output_json: str | Path | None = None,
    unseen_classes: list[str] | None = None,
    tsne_path: str | Path | None = None,
    simulate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score a saved encoder's frozen embeddings.

    Args:
        model_path: a folder written by `save_pretrained` (an `EEGEncoderModel` or `...ForClassification`).
        dataset: dataset source; defaults to the one recorded at training time.
        output_json: where to write the result (default `<model_path>/eval_results.json`).
        unseen_classes: classes held out at training time; adds the unseen-class evaluation, whose
            k-means figure is the zero-shot number (probes that see unseen labels are labelled so).
        tsne_path: PNG of the test embeddings (default `<model_path>/tsne_test.png`; `""` to skip).
        simulate: `simulate_dataset` keyword arguments; default: the ones recorded at training time.

    Returns:
        The result dict (also written as JSON): every figure plus split, preprocessing, loss and checkpoint.
    """
    model_path = Path(model_path)
    output_json = prepare_result_json(output_json or model_path / "eval_results.json")
    record_path = model_path / TRAINING_RECORD
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    train_args = record.get("training_args", {})
    source = dataset or record.get("dataset")
    if source is None:
        raise ValueError(f"no dataset given and none recorded in {record_path}")
    if simulate is None:  # reuse the simulation settings only when evaluating on the training dataset
        simulate = train_args.get("simulate", {}) if source == record.get("dataset") else {}
    data = load_eeg_dataset(source, **simulate)
    if unseen_classes is None:
        unseen_classes = record.get("excluded_classes") or None
    model = load_model_folder(EEGEncoderModel, model_path)
    seen = select_classes(data, exclude=unseen_classes) if unseen_classes else data
    train_f, train_y = compute_embeddings(model, seen["train"])
    test_f, test_y = compute_embeddings(model, seen["test"])
    result: dict[str, Any] = {
        "model": str(model_path), "dataset": source, "dataset_info": get_eeg_info(data),
        "split": get_eeg_info(data).get("split"), "preprocessing": get_eeg_info(data).get("preprocessing"),
        "input_normalization": model.config.input_normalization, "architecture": model.config.architecture,
        "loss": train_args.get("loss"), "checkpoint": {k: record.get(k) for k in
                                                       ("selection_metric", "best_validation", "best_epoch")},
        "classes": seen["train"].features["label"].names,
        "seen_classes": evaluate_features(train_f, train_y, test_f, test_y),
    }
    if unseen_classes:
        result["unseen_classes"] = _unseen_report(model, data, list(unseen_classes))
    if tsne_path != "":
        tsne_path = Path(tsne_path or model_path / "tsne_test.png")
        result["tsne_png"] = plot_tsne(test_f, test_y, tsne_path, class_names=result["classes"])
    write_json(output_json, result)
    return result
