"""Evaluation of learned EEG features: k-means clustering, linear SVM and kNN probes.

The protocols follow the paper (Singh et al., "Learning Robust Deep Visual Representations from
EEG and Brain Recordings", WACV 2024, Tables 1 and 2) and the authors' evaluation scripts. Where
the authors' protocol leaks information between folds, it is kept under a name that says so,
next to a cleaner train -> test variant, so both can be reported side by side.

Features are used as given: the package's encoders already return L2-normalised embeddings,
which is what the authors evaluate.

This module imports nothing else of the package: `eeg2img build-metrics` copies it into the `evaluate` metric modules
that compute with it, which then work without the package (`metrics.evaluate_modules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

__all__ = [
    "FEATURE_PROTOCOLS",
    "UNSEEN_PROTOCOLS",
    "cluster_accuracy",
    "evaluate_features",
    "kmeans_accuracy",
    "knn_accuracy",
    "knn_test_cv_accuracy",
    "linear_svm_accuracy",
    "unseen_class_evaluation",
]

ArrayLike = np.ndarray | torch.Tensor | Sequence[Any]

FEATURE_PROTOCOLS: dict[str, str] = {
    "kmeans_test": (
        "k-means (k-means++, n_init=10, k = number of test classes) fitted on the test features "
        "only; clusters matched one-to-one to classes by the Hungarian algorithm; accuracy = "
        "matched trials / n_test. Unsupervised: labels are used only for the matching."
    ),
    "svm_train_to_test": (
        "LinearSVC (one-vs-rest, squared hinge, C=1) fitted on the train features, accuracy on "
        "the test features (the authors' linear probe)."
    ),
    "svm_train_to_test_f1_weighted": "Support-weighted F1 of the same linear SVM on the test features.",
    "knn3_train_to_test": (
        "3-nearest-neighbour classifier (Euclidean) fitted on the train features, accuracy on "
        "the test features."
    ),
    "knn3_test_5fold_cv_authors": (
        "AUTHORS' protocol, leaky, for comparison only: 3-NN scored by 5-fold stratified CV "
        "(no shuffle) inside the test set; the train split is unused. Folds share images (one "
        "trial per subject) and recording blocks, so this is optimistic."
    ),
    "chance_level": "Accuracy of always predicting the most frequent test class.",
}

UNSEEN_PROTOCOLS: dict[str, str] = {
    "kmeans_zero_shot": (
        "True zero-shot figure: k-means (k = number of unseen classes) on the unseen-class TEST "
        "trials only, Hungarian matching; no unseen label is used for fitting."
    ),
    "kmeans_all_unseen_authors": (
        "AUTHORS' k-means variant: the same clustering on the pooled probe-train + test "
        "unseen-class trials (the authors pooled all splits)."
    ),
    "svm_sees_unseen_labels": (
        "LinearSVC fitted on LABELLED unseen-class probe-train trials, accuracy on unseen-class "
        "test trials: the encoder is zero-shot, the probe is not (paper Table 1 'SVM')."
    ),
    "svm_sees_unseen_labels_f1_weighted": "Support-weighted F1 of the same SVM.",
    "knn_sees_unseen_labels": (
        "kNN (k = knn_k) fitted on LABELLED unseen-class probe-train trials, accuracy on "
        "unseen-class test trials."
    ),
    "knn_5fold_cv_all_unseen_authors": (
        "AUTHORS' kNN protocol (paper Table 1 'kNN'), leaky, for comparison only: kNN (k = knn_k) "
        "scored by 5-fold stratified CV (no shuffle) on the pooled probe-train + test unseen "
        "trials; folds share images and recording blocks."
    ),
    "chance_level": "Accuracy of always predicting the most frequent unseen test class.",
}


def _to_numpy(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        if values.is_floating_point() and values.dtype not in (torch.float32, torch.float64):
            values = values.float()
        return values.numpy()
    return np.asarray(values)


def _check_features(features: ArrayLike, name: str, min_samples: int = 1) -> np.ndarray:
    array = _to_numpy(features)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.result_type(array.dtype, np.float32), copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if array.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples, got {array.shape[0]}")
    return array


def _check_labels(labels: ArrayLike, name: str, n_samples: int | None = None) -> np.ndarray:
    array = _to_numpy(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {array.shape}")
    if n_samples is not None and array.shape[0] != n_samples:
        raise ValueError(f"{name} has {array.shape[0]} entries but the features have {n_samples} rows")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _chance_level(labels: np.ndarray) -> float:
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / labels.shape[0])


def cluster_accuracy(pred_clusters: ArrayLike, labels: ArrayLike) -> float:
    """Clustering accuracy under the best one-to-one matching of clusters to classes.

    Builds the contingency matrix `w[cluster, class]` (trial counts), finds the one-to-one
    assignment maximising the matched count with the Hungarian algorithm
    (`scipy.optimize.linear_sum_assignment`), and returns matched count / N. With more clusters
    than classes (or the reverse) the surplus clusters (classes) stay unmatched and count as errors.

    Args:
        pred_clusters (`array-like` of shape `(n_samples,)`): Cluster id of each sample (any hashable ids).
        labels (`array-like` of shape `(n_samples,)`): True class of each sample.

    Returns:
        `float` in [0, 1].
    """
    pred = _check_labels(pred_clusters, "pred_clusters")
    true = _check_labels(labels, "labels", pred.shape[0])
    if pred.shape[0] == 0:
        raise ValueError("pred_clusters is empty")
    _, pred_index = np.unique(pred, return_inverse=True)
    _, true_index = np.unique(true, return_inverse=True)
    contingency = np.zeros((pred_index.max() + 1, true_index.max() + 1), dtype=np.int64)
    np.add.at(contingency, (pred_index, true_index), 1)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return float(contingency[rows, cols].sum() / pred.shape[0])


def kmeans_accuracy(
    features: ArrayLike,
    labels: ArrayLike,
    n_clusters: int | None = None,
    n_init: int = 10,
    seed: int = 45,
) -> float:
    """k-means accuracy: cluster the features, then score with [`cluster_accuracy`].

    `sklearn.cluster.KMeans(init="k-means++", n_init=n_init, random_state=seed)` is fitted and
    evaluated on the same features (the paper's protocol). `n_init=10` is set explicitly because
    scikit-learn >= 1.4 changed its default to a single run, while the authors' results used 10.

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): Feature vectors.
        labels (`array-like` of shape `(n_samples,)`): True classes (used only for the matching).
        n_clusters (`int`, *optional*): Number of clusters; defaults to the number of distinct labels.
        n_init (`int`, *optional*, defaults to 10): Number of k-means restarts (best inertia kept).
        seed (`int`, *optional*, defaults to 45): `random_state` of k-means (the authors' value).

    Returns:
        `float` in [0, 1].
    """
    x = _check_features(features, "features")
    y = _check_labels(labels, "labels", x.shape[0])
    if n_clusters is None:
        n_clusters = int(np.unique(y).shape[0])
    if n_clusters < 1 or n_clusters > x.shape[0]:
        raise ValueError(f"n_clusters must be in [1, n_samples={x.shape[0]}], got {n_clusters}")
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    kmeans = KMeans(n_clusters=n_clusters, init="k-means++", n_init=n_init, random_state=seed)
    return cluster_accuracy(kmeans.fit_predict(x), y)


def _check_train_test(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    min_train: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_train = _check_features(train_features, "train_features", min_train)
    y_train = _check_labels(train_labels, "train_labels", x_train.shape[0])
    x_test = _check_features(test_features, "test_features")
    y_test = _check_labels(test_labels, "test_labels", x_test.shape[0])
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"train_features have {x_train.shape[1]} dimensions but test_features have {x_test.shape[1]}"
        )
    if np.unique(y_train).shape[0] < 2:
        raise ValueError("train_labels must contain at least 2 classes")
    return x_train, y_train, x_test, y_test


def linear_svm_accuracy(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    C: float = 1.0,
    seed: int = 45,
    max_iter: int = 1000,
) -> dict[str, float]:
    """Linear SVM probe: fit `LinearSVC` on train features, score on test features.

    One-vs-rest `sklearn.svm.LinearSVC(C=C, max_iter=max_iter, random_state=seed)` (squared
    hinge, L2 penalty), as in the authors' linear probe.

    Args:
        train_features (`array-like` of shape `(n_train, n_features)`): Features to fit on.
        train_labels (`array-like` of shape `(n_train,)`): Their classes.
        test_features (`array-like` of shape `(n_test, n_features)`): Features to score on.
        test_labels (`array-like` of shape `(n_test,)`): Their classes.
        C (`float`, *optional*, defaults to 1.0): Inverse regularisation strength.
        seed (`int`, *optional*, defaults to 45): `random_state` of the solver.
        max_iter (`int`, *optional*, defaults to 1000): Solver iterations (the authors' value).

    Returns:
        `dict` with `"accuracy"` (fraction of correct test predictions) and `"f1_weighted"`
        (per-class F1 averaged with weights = class support in the test set).
    """
    x_train, y_train, x_test, y_test = _check_train_test(
        train_features, train_labels, test_features, test_labels
    )
    if C <= 0:
        raise ValueError(f"C must be > 0, got {C}")
    svm = LinearSVC(C=C, max_iter=max_iter, random_state=seed).fit(x_train, y_train)
    pred = svm.predict(x_test)
    return {
        "accuracy": float(accuracy_score(y_test, pred)),
        "f1_weighted": float(f1_score(y_test, pred, average="weighted", zero_division=0)),
    }


def knn_accuracy(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    k: int = 3,
) -> float:
    """kNN probe: fit a k-nearest-neighbour classifier on train features, accuracy on test features.

    `sklearn.neighbors.KNeighborsClassifier(n_neighbors=k)`: Euclidean distance, uniform
    majority vote (scikit-learn breaks vote ties towards the smallest class label).

    Args:
        train_features (`array-like` of shape `(n_train, n_features)`): Reference features.
        train_labels (`array-like` of shape `(n_train,)`): Their classes.
        test_features (`array-like` of shape `(n_test, n_features)`): Features to classify.
        test_labels (`array-like` of shape `(n_test,)`): Their classes.
        k (`int`, *optional*, defaults to 3): Number of neighbours.

    Returns:
        `float` in [0, 1].
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    x_train, y_train, x_test, y_test = _check_train_test(
        train_features, train_labels, test_features, test_labels, min_train=k
    )
    knn = KNeighborsClassifier(n_neighbors=k).fit(x_train, y_train)
    return float(accuracy_score(y_test, knn.predict(x_test)))


def knn_test_cv_accuracy(features: ArrayLike, labels: ArrayLike, k: int = 3, folds: int = 5) -> float:
    """The AUTHORS' kNN protocol: k-fold stratified cross-validation inside ONE feature set.

    Splits the samples with `StratifiedKFold(n_splits=folds, shuffle=False)`, fits a k-NN on
    `folds - 1` folds, scores the held-out fold and returns the mean of the fold accuracies
    (equal to `cross_val_score(KNeighborsClassifier(k), features, labels, cv=folds).mean()`).
    The authors apply it to the TEST set only. It is leaky: in EEG image datasets every image is
    seen by several subjects and all trials of a class share a recording block, so train and
    held-out folds share images and blocks. Without shuffling each fold is a contiguous run of
    every class in the given sample order, so how much leaks also depends on that order
    (subject-major order leaks the most). Keep it for comparison with the paper only and prefer
    [`knn_accuracy`] (train -> test).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): Features (the test set).
        labels (`array-like` of shape `(n_samples,)`): Their classes; every class needs at least `folds` samples.
        k (`int`, *optional*, defaults to 3): Number of neighbours.
        folds (`int`, *optional*, defaults to 5): Number of CV folds.

    Returns:
        `float` in [0, 1]: mean of the per-fold accuracies.
    """
    x = _check_features(features, "features")
    y = _check_labels(labels, "labels", x.shape[0])
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < folds:
        raise ValueError(
            f"every class needs at least folds={folds} samples; class {classes[counts.argmin()]!r} has {counts.min()}"
        )
    splits = list(StratifiedKFold(n_splits=folds, shuffle=False).split(x, y))
    smallest_train = min(train_index.shape[0] for train_index, _ in splits)
    if smallest_train < k:
        raise ValueError(f"too few samples ({x.shape[0]}) for k={k} neighbours with {folds} folds")
    scores = cross_val_score(KNeighborsClassifier(n_neighbors=k), x, y, cv=splits)
    return float(np.mean(scores))


def evaluate_features(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    *,
    seed: int = 45,
) -> dict[str, Any]:
    """Every feature-quality figure of the paper's Table 2, each under a key that names its protocol.

    Keys (definitions are repeated in the returned `"protocols"` dict, see `FEATURE_PROTOCOLS`):
    `"kmeans_test"`, `"svm_train_to_test"`, `"svm_train_to_test_f1_weighted"`,
    `"knn3_train_to_test"`, `"knn3_test_5fold_cv_authors"` (leaky authors' protocol),
    `"chance_level"`, plus `"n_train"`, `"n_test"`, `"n_classes"` (distinct test classes).

    Args:
        train_features (`array-like` of shape `(n_train, n_features)`): Frozen-encoder features of the train split.
        train_labels (`array-like` of shape `(n_train,)`): Their classes.
        test_features (`array-like` of shape `(n_test, n_features)`): Features of the test split.
        test_labels (`array-like` of shape `(n_test,)`): Their classes; must all occur in `train_labels`.
        seed (`int`, *optional*, defaults to 45): Seed of k-means and of the SVM solver.

    Returns:
        `dict` of floats/ints plus `"protocols"` (`dict[str, str]`).
    """
    x_train, y_train, x_test, y_test = _check_train_test(
        train_features, train_labels, test_features, test_labels, min_train=3
    )
    missing = np.setdiff1d(np.unique(y_test), np.unique(y_train))
    if missing.size:
        raise ValueError(
            f"test_labels contain classes absent from train_labels: {missing.tolist()}; "
            "use unseen_class_evaluation for held-out classes"
        )
    svm = linear_svm_accuracy(x_train, y_train, x_test, y_test, seed=seed)
    return {
        "kmeans_test": kmeans_accuracy(x_test, y_test, seed=seed),
        "svm_train_to_test": svm["accuracy"],
        "svm_train_to_test_f1_weighted": svm["f1_weighted"],
        "knn3_train_to_test": knn_accuracy(x_train, y_train, x_test, y_test, k=3),
        "knn3_test_5fold_cv_authors": knn_test_cv_accuracy(x_test, y_test, k=3, folds=5),
        "chance_level": _chance_level(y_test),
        "n_train": int(x_train.shape[0]),
        "n_test": int(x_test.shape[0]),
        "n_classes": int(np.unique(y_test).shape[0]),
        "protocols": dict(FEATURE_PROTOCOLS),
    }


def unseen_class_evaluation(
    unseen_train_features: ArrayLike,
    unseen_train_labels: ArrayLike,
    unseen_test_features: ArrayLike,
    unseen_test_labels: ArrayLike,
    *,
    seen_labels: ArrayLike | None = None,
    knn_k: int = 6,
    seed: int = 45,
) -> dict[str, Any]:
    """Evaluation of classes the encoder never saw (paper Table 1: train on 34 EEGCVPR40 classes, test on 6).

    All inputs are features of UNSEEN-class trials from an encoder trained without those
    classes, split into a probe-train part and a test part. Only `"kmeans_zero_shot"` is a true
    zero-shot number; the SVM/kNN probes are fitted on labelled unseen-class trials (the encoder
    is zero-shot, the probe is not), which is how the paper's 0.93 (SVM) was obtained. The
    authors' kNN (k=6, 0.86 in the paper) and k-means (0.625) pooled all splits; those variants are
    reported under `*_authors` keys. See `UNSEEN_PROTOCOLS` (copied into `"protocols"`).

    Args:
        unseen_train_features (`array-like` of shape `(n_train, n_features)`): Unseen-class trials for fitting probes.
        unseen_train_labels (`array-like` of shape `(n_train,)`): Their classes.
        unseen_test_features (`array-like` of shape `(n_test, n_features)`): Unseen-class test trials.
        unseen_test_labels (`array-like` of shape `(n_test,)`): Their classes; must all occur in `unseen_train_labels`.
        seen_labels (`array-like`, *optional*): Classes used to train the encoder; if given, any
            overlap with the unseen labels raises `ValueError`.
        knn_k (`int`, *optional*, defaults to 6): Neighbours of both kNN figures (the authors' value).
        seed (`int`, *optional*, defaults to 45): Seed of k-means and of the SVM solver.

    Returns:
        `dict` with `"kmeans_zero_shot"`, `"kmeans_all_unseen_authors"`, `"svm_sees_unseen_labels"`,
        `"svm_sees_unseen_labels_f1_weighted"`, `"knn_sees_unseen_labels"`,
        `"knn_5fold_cv_all_unseen_authors"`, `"chance_level"`, `"knn_k"`, `"n_train"`, `"n_test"`,
        `"n_classes"` and `"protocols"`.
    """
    x_train, y_train, x_test, y_test = _check_train_test(
        unseen_train_features, unseen_train_labels, unseen_test_features, unseen_test_labels
    )
    missing = np.setdiff1d(np.unique(y_test), np.unique(y_train))
    if missing.size:
        raise ValueError(f"unseen_test_labels contain classes absent from unseen_train_labels: {missing.tolist()}")
    if seen_labels is not None:
        overlap = np.intersect1d(_check_labels(seen_labels, "seen_labels"), np.union1d(y_train, y_test))
        if overlap.size:
            raise ValueError(f"unseen labels overlap seen_labels: {overlap.tolist()}")
    x_all, y_all = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
    svm = linear_svm_accuracy(x_train, y_train, x_test, y_test, seed=seed)
    return {
        "kmeans_zero_shot": kmeans_accuracy(x_test, y_test, seed=seed),
        "kmeans_all_unseen_authors": kmeans_accuracy(x_all, y_all, seed=seed),
        "svm_sees_unseen_labels": svm["accuracy"],
        "svm_sees_unseen_labels_f1_weighted": svm["f1_weighted"],
        "knn_sees_unseen_labels": knn_accuracy(x_train, y_train, x_test, y_test, k=knn_k),
        "knn_5fold_cv_all_unseen_authors": knn_test_cv_accuracy(x_all, y_all, k=knn_k, folds=5),
        "chance_level": _chance_level(y_test),
        "knn_k": int(knn_k),
        "n_train": int(x_train.shape[0]),
        "n_test": int(x_test.shape[0]),
        "n_classes": int(np.unique(y_test).shape[0]),
        "protocols": dict(UNSEEN_PROTOCOLS),
    }
