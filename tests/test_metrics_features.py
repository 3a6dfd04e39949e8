"""Tests for eeg2img_hf.metrics.features and plots, on constructed inputs with known answers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from eeg2img_hf.metrics import (
    FEATURE_PROTOCOLS,
    UNSEEN_PROTOCOLS,
    cluster_accuracy,
    evaluate_features,
    kmeans_accuracy,
    knn_accuracy,
    knn_test_cv_accuracy,
    linear_svm_accuracy,
    plot_tsne,
    unseen_class_evaluation,
)

METRICS_DIR = Path(__file__).resolve().parents[1] / "src" / "eeg2img_hf" / "metrics"


def make_blobs(n_classes: int, per_class: int, dim: int = 8, seed: int = 0, spread: float = 0.05):
    """Tight, far-apart Gaussian blobs: every reasonable method should be perfect on them."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)) * 10.0
    labels = np.repeat(np.arange(n_classes), per_class)
    features = centers[labels] + rng.normal(size=(labels.shape[0], dim)) * spread
    return features.astype(np.float32), labels, centers


# ----------------------------------------------------------------------------- cluster_accuracy


def test_cluster_accuracy_permuted_labels_is_one():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    clusters = np.array([2, 2, 0, 0, 1, 1, 1])
    assert cluster_accuracy(clusters, labels) == 1.0
    assert cluster_accuracy(["x", "x", "y", "y", "z", "z", "z"], labels) == 1.0


def test_cluster_accuracy_partial_hand_computed():
    # Contingency: cluster 0 -> {class 0: 2}; cluster 1 -> {class 0: 1, class 1: 3}.
    # Best one-to-one matching: 0->0, 1->1 gives 2 + 3 = 5 of 6.
    labels = np.array([0, 0, 0, 1, 1, 1])
    clusters = np.array([0, 0, 1, 1, 1, 1])
    assert cluster_accuracy(clusters, labels) == pytest.approx(5 / 6)


def test_cluster_accuracy_more_clusters_than_classes():
    # Only one cluster may take class 0, so one of its two trials stays unmatched: 3 of 4.
    assert cluster_accuracy([0, 1, 2, 2], [0, 0, 1, 1]) == pytest.approx(0.75)


def test_cluster_accuracy_bad_inputs():
    with pytest.raises(ValueError, match="entries"):
        cluster_accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="1-D"):
        cluster_accuracy(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="empty"):
        cluster_accuracy([], [])
    with pytest.raises(ValueError, match="NaN"):
        cluster_accuracy([0.0, np.nan], [0, 1])


# ----------------------------------------------------------------------------- k-means


def test_kmeans_accuracy_separated_blobs_is_one():
    features, labels, _ = make_blobs(n_classes=6, per_class=15)
    assert kmeans_accuracy(features, labels) == 1.0
    assert kmeans_accuracy(torch.from_numpy(features), torch.from_numpy(labels)) == 1.0


def test_kmeans_accuracy_bad_inputs():
    features, labels, _ = make_blobs(n_classes=3, per_class=2)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_accuracy(features, labels, n_clusters=7)
    with pytest.raises(ValueError, match="2-D"):
        kmeans_accuracy(features[:, 0], labels)
    with pytest.raises(ValueError, match="entries"):
        kmeans_accuracy(features, labels[:-1])
    bad = features.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kmeans_accuracy(bad, labels)


# ----------------------------------------------------------------------------- probes


def test_svm_and_knn_on_separable_data():
    train, train_labels, centers = make_blobs(n_classes=4, per_class=10, seed=1)
    rng = np.random.default_rng(2)
    test_labels = np.repeat(np.arange(4), 5)
    test = (centers[test_labels] + rng.normal(size=(20, centers.shape[1])) * 0.05).astype(np.float32)
    assert linear_svm_accuracy(train, train_labels, test, test_labels) == {"accuracy": 1.0, "f1_weighted": 1.0}
    assert knn_accuracy(train, train_labels, test, test_labels, k=3) == 1.0


def test_knn_accuracy_hand_computed():
    # 1-D: train class 0 at {0, 1, 2}, class 1 at {10, 11, 12}; the test point 7 has neighbours
    # 10, 11 and 2 -> class 1, so labelling it 0 is one error out of 2.
    train = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    train_labels = np.array([0, 0, 0, 1, 1, 1])
    assert knn_accuracy(train, train_labels, [[0.5], [7.0]], [0, 0], k=3) == 0.5


def test_probe_bad_inputs():
    train, train_labels, _ = make_blobs(n_classes=2, per_class=2)
    with pytest.raises(ValueError, match="dimensions"):
        knn_accuracy(train, train_labels, train[:, :3], train_labels)
    with pytest.raises(ValueError, match="at least 5 samples"):
        knn_accuracy(train, train_labels, train, train_labels, k=5)
    with pytest.raises(ValueError, match="2 classes"):
        linear_svm_accuracy(train, np.zeros(4), train, train_labels)
    with pytest.raises(ValueError, match="C must"):
        linear_svm_accuracy(train, train_labels, train, train_labels, C=0.0)


# ----------------------------------------------------------------------------- authors' kNN CV


def _traitor_case():
    """Class 0: nine points at 0 and one at 10.5; class 1: ten points at 10 (1-D)."""
    features = np.concatenate([np.zeros(9), [10.5], np.full(10, 10.0)])[:, None]
    labels = np.array([0] * 10 + [1] * 10)
    return features, labels


def test_knn_test_cv_constructed_case():
    # Stratified 5 folds of 2 + 2. The point at 10.5 is always outvoted by the class-1 points at
    # 10; every other point has >= 3 same-class neighbours at distance 0. So one fold scores 3/4
    # and four score 4/4: mean 0.95.
    features, labels = _traitor_case()
    assert knn_test_cv_accuracy(features, labels, k=3, folds=5) == pytest.approx(0.95)
    expected = cross_val_score(KNeighborsClassifier(n_neighbors=3), features, labels, cv=5).mean()
    assert knn_test_cv_accuracy(features, labels) == pytest.approx(expected)


def test_knn_test_cv_is_optimistic_with_repeated_images():
    # 20 "images" with random features and classes, each seen by 6 "subjects" (trials stored
    # subject by subject): nothing generalises from train to test, but CV inside the test set
    # finds the other subjects' trials of the same image.
    rng = np.random.default_rng(0)
    image_features = rng.normal(size=(20, 16))
    image_labels = np.tile(np.arange(4), 5)
    test = np.tile(image_features, (6, 1)) + rng.normal(size=(120, 16)) * 0.01
    test_labels = np.tile(image_labels, 6)
    train = rng.normal(size=(80, 16))
    train_labels = np.tile(np.arange(4), 20)
    assert knn_test_cv_accuracy(test, test_labels) > 0.9
    assert knn_accuracy(train, train_labels, test, test_labels) < 0.6


def test_knn_test_cv_bad_inputs():
    features, labels = _traitor_case()
    with pytest.raises(ValueError, match="at least folds=5"):
        knn_test_cv_accuracy(features[:14], labels[:14], folds=5)
    with pytest.raises(ValueError, match="folds must"):
        knn_test_cv_accuracy(features, labels, folds=1)
    with pytest.raises(ValueError, match="too few samples"):
        knn_test_cv_accuracy(features, labels, k=17, folds=5)


# ----------------------------------------------------------------------------- bundles


def test_evaluate_features_keys_and_values():
    train, train_labels, centers = make_blobs(n_classes=4, per_class=10, seed=3)
    rng = np.random.default_rng(4)
    test_labels = np.repeat(np.arange(4), 6)
    test = centers[test_labels] + rng.normal(size=(24, centers.shape[1])) * 0.05
    result = evaluate_features(train, train_labels, test, test_labels)
    keys = ("kmeans_test", "svm_train_to_test", "svm_train_to_test_f1_weighted", "knn3_train_to_test",
            "knn3_test_5fold_cv_authors")
    for key in keys:
        assert result[key] == 1.0, key
        assert key in result["protocols"]
    assert result["chance_level"] == pytest.approx(0.25)
    assert (result["n_train"], result["n_test"], result["n_classes"]) == (40, 24, 4)
    assert result["protocols"] == FEATURE_PROTOCOLS
    assert "leaky" in result["protocols"]["knn3_test_5fold_cv_authors"]


def test_evaluate_features_rejects_unseen_test_classes():
    train, train_labels, _ = make_blobs(n_classes=3, per_class=5)
    with pytest.raises(ValueError, match="absent from train_labels"):
        evaluate_features(train, train_labels, train, train_labels + 1)


def test_unseen_class_evaluation():
    features, labels, _ = make_blobs(n_classes=6, per_class=20, seed=5)
    labels = labels + 34  # unseen classes 34..39
    is_test = np.tile(np.arange(20) % 2 == 0, 6)
    result = unseen_class_evaluation(
        features[~is_test], labels[~is_test], features[is_test], labels[is_test], seen_labels=np.arange(34)
    )
    keys = ("kmeans_zero_shot", "kmeans_all_unseen_authors", "svm_sees_unseen_labels", "knn_sees_unseen_labels",
            "knn_5fold_cv_all_unseen_authors")
    for key in keys:
        assert result[key] == 1.0, key
        assert key in result["protocols"]
    assert result["protocols"] == UNSEEN_PROTOCOLS
    assert (result["n_train"], result["n_test"], result["n_classes"], result["knn_k"]) == (60, 60, 6, 6)
    with pytest.raises(ValueError, match="overlap seen_labels"):
        unseen_class_evaluation(features, labels, features, labels, seen_labels=[0, 35])


# ----------------------------------------------------------------------------- t-SNE plot


def test_plot_tsne_writes_png(tmp_path):
    features, labels, _ = make_blobs(n_classes=3, per_class=4, seed=6)
    path = plot_tsne(features, labels, tmp_path / "sub" / "tsne.png", class_names=["dog", "cat", "fish"])
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"  # 12 samples: perplexity 30 was clipped to 11/3
    from PIL import Image

    with Image.open(path) as image:
        image.verify()
    with pytest.raises(ValueError, match="class_names"):
        plot_tsne(features, labels, tmp_path / "x.png", class_names=["dog"])
    with pytest.raises(ValueError, match="at least 4"):
        plot_tsne(features[:3], labels[:3], tmp_path / "x.png")


# ----------------------------------------------------------------------------- import hygiene


def test_metrics_do_not_import_models():
    for source in METRICS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any("models" in name.split(".") for name in names), (source.name, names)


def test_package_import_does_not_import_metrics():
    code = "import sys, eeg2img_hf; assert 'eeg2img_hf.metrics' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
