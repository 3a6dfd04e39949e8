"""Tests for eeg2img_hf.metrics.retrieval on hand-built score matrices with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eeg2img_hf.metrics import (
    RETRIEVAL_DEFINITIONS,
    class_topk_retrieval,
    mean_average_precision,
    mean_reciprocal_rank,
    prototype_classification,
    retrieval_report,
    similarity_matrix,
    topk_accuracy,
)
from eeg2img_hf.metrics import retrieval as retrieval_module

# Exact-item case. Ranks (1 + other columns scoring >= the target):
#   q0: target 0.9 is the maximum                          -> rank 1
#   q1: 0.5, 0.8 and 0.6 all beat the target 0.4           -> rank 4
#   q2: target 0.7 ties with column 0 (tie counts against) -> rank 2
#   q3: all four scores tie                                -> rank 4
EXACT_SCORES = np.array(
    [
        [0.9, 0.1, 0.2, 0.3],
        [0.5, 0.4, 0.8, 0.6],
        [0.7, 0.7, 0.1, 0.2],
        [0.5, 0.5, 0.5, 0.5],
    ]
)
EXACT_TARGETS = np.array([0, 1, 1, 2])

# Class case: gallery classes a, a, b, b, c.
#   q0 (a): order g0(a) g2 g4 g1(a) g3 -> first relevant rank 1, AP = (1/1 + 2/4) / 2 = 3/4
#   q1 (b): g0, g1, g2 tie at 0.6; non-relevant first -> g2(b) at 3, g3(b) at 4:
#           first rank 3, AP = (1/3 + 2/4) / 2 = 5/12
#   q2 (c): g4(c) ties with g3(b) at 0.4 -> rank 2, AP = 1/2
CLASS_SCORES = np.array(
    [
        [0.9, 0.2, 0.8, 0.1, 0.5],
        [0.6, 0.6, 0.6, 0.3, 0.1],
        [0.1, 0.2, 0.3, 0.4, 0.4],
    ]
)
QUERY_LABELS = np.array(["a", "b", "c"])
GALLERY_LABELS = np.array(["a", "a", "b", "b", "c"])


def naive_class_metrics(scores: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray):
    """Reference: explicit pessimistic sort (score desc, non-relevant before relevant on ties)."""
    first_ranks, average_precisions = [], []
    for row, label in zip(scores, query_labels):
        relevant = gallery_labels == label
        order = sorted(range(len(row)), key=lambda j: (-row[j], relevant[j]))
        flags = relevant[order]
        positions = np.flatnonzero(flags) + 1
        first_ranks.append(positions[0])
        average_precisions.append(np.mean(np.arange(1, len(positions) + 1) / positions))
    return np.array(first_ranks), np.array(average_precisions)


def test_similarity_matrix_values():
    query = np.array([[1.0, 0.0], [0.0, 2.0]])
    gallery = np.array([[3.0, 0.0], [1.0, 1.0]])
    expected = np.array([[1.0, 1 / np.sqrt(2)], [0.0, 1 / np.sqrt(2)]])
    np.testing.assert_allclose(similarity_matrix(query, gallery), expected, atol=1e-12)
    assert similarity_matrix(query, gallery).dtype == np.float64
    result = similarity_matrix(torch.tensor(query, dtype=torch.float32), gallery.astype(np.float32))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_similarity_matrix_bad_inputs():
    with pytest.raises(ValueError, match="all-zero"):
        similarity_matrix(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="dim"):
        similarity_matrix(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        similarity_matrix(np.ones(3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        similarity_matrix(np.array([[np.nan, 1.0]]), np.ones((2, 2)))


def test_topk_accuracy_with_ties():
    result = topk_accuracy(EXACT_SCORES, EXACT_TARGETS, ks=(1, 2, 3, 4))
    assert result == {"top1": 0.25, "top2": 0.5, "top3": 0.5, "top4": 1.0}


def test_exact_mean_reciprocal_rank():
    expected = (1 + 1 / 4 + 1 / 2 + 1 / 4) / 4
    assert mean_reciprocal_rank(EXACT_SCORES, targets=EXACT_TARGETS) == pytest.approx(expected)


def test_class_metrics_hand_computed():
    assert class_topk_retrieval(CLASS_SCORES, QUERY_LABELS, GALLERY_LABELS, ks=(1, 2, 3)) == {
        "top1": pytest.approx(1 / 3),
        "top2": pytest.approx(2 / 3),
        "top3": 1.0,
    }
    mrr = mean_reciprocal_rank(CLASS_SCORES, QUERY_LABELS, GALLERY_LABELS)
    assert mrr == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    mean_ap = mean_average_precision(CLASS_SCORES, QUERY_LABELS, GALLERY_LABELS)
    assert mean_ap == pytest.approx((3 / 4 + 5 / 12 + 1 / 2) / 3)


def test_class_metrics_match_naive_reference_with_many_ties(monkeypatch):
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(37, 23)).astype(np.float32)  # heavy ties
    gallery_labels = rng.integers(0, 5, size=23)
    gallery_labels[:5] = np.arange(5)
    query_labels = rng.integers(0, 5, size=37)
    first, average_precision = naive_class_metrics(scores, query_labels, gallery_labels)
    monkeypatch.setattr(retrieval_module, "_CHUNK_ELEMENTS", 50)  # force several chunks per class
    assert mean_average_precision(scores, query_labels, gallery_labels) == pytest.approx(average_precision.mean())
    assert mean_reciprocal_rank(scores, query_labels, gallery_labels) == pytest.approx(np.mean(1 / first))
    topk = class_topk_retrieval(scores, query_labels, gallery_labels, ks=(1, 3))
    assert topk == {"top1": pytest.approx(np.mean(first <= 1)), "top3": pytest.approx(np.mean(first <= 3))}


def test_single_relevant_class_metrics_equal_exact_metrics():
    # With one gallery item per class, class retrieval is exact-item retrieval.
    assert mean_reciprocal_rank(EXACT_SCORES, EXACT_TARGETS, np.arange(4)) == pytest.approx(
        mean_reciprocal_rank(EXACT_SCORES, targets=EXACT_TARGETS)
    )


def test_retrieval_bad_inputs():
    with pytest.raises(ValueError, match="targets must lie"):
        topk_accuracy(EXACT_SCORES, [0, 1, 2, 4])
    with pytest.raises(ValueError, match="integer"):
        topk_accuracy(EXACT_SCORES, [0.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="entries"):
        topk_accuracy(EXACT_SCORES, [0, 1])
    with pytest.raises(ValueError, match="ks"):
        topk_accuracy(EXACT_SCORES, EXACT_TARGETS, ks=(0,))
    with pytest.raises(ValueError, match="without any gallery item"):
        mean_average_precision(CLASS_SCORES, ["a", "b", "z"], GALLERY_LABELS)
    with pytest.raises(ValueError, match="either"):
        mean_reciprocal_rank(EXACT_SCORES, QUERY_LABELS, GALLERY_LABELS, targets=EXACT_TARGETS)
    with pytest.raises(ValueError, match="either"):
        mean_reciprocal_rank(EXACT_SCORES)
    with pytest.raises(ValueError, match="NaN"):
        mean_average_precision(np.full((3, 5), np.nan), QUERY_LABELS, GALLERY_LABELS)


def test_prototype_classification_constructed():
    # Prototypes: A = normalise(mean([1, 0], [0, 1])) = [1, 1]/sqrt 2 (the 10x scale of one row is
    # removed by normalising first), B = [-1, 0], C = [0, -1].
    gallery = np.array([[10.0, 0.0], [0.0, 1.0], [-5.0, 0.0], [0.0, -1.0]])
    gallery_labels = np.array(["A", "A", "B", "C"])
    # Query A: nearest A -> rank 1. Query B = [0, -1]: C (1.0) beats B (0.0) -> rank 2.
    # Query C = [-1, -1]: B and C tie at 1/sqrt 2 -> the tie counts against -> rank 2.
    queries = np.array([[1.0, 1.0], [0.0, -1.0], [-1.0, -1.0]])
    result = prototype_classification(queries, ["A", "B", "C"], gallery, gallery_labels, ks=(1, 2, 3))
    assert result["top1"] == pytest.approx(1 / 3)
    assert result["top2"] == 1.0 and result["top3"] == 1.0
    assert result["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 2) / 3)
    assert result["n_classes"] == 3
    with pytest.raises(ValueError, match="without any gallery item"):
        prototype_classification(queries, ["A", "B", "D"], gallery, gallery_labels)


def _paired_embeddings(n_images: int = 6, n_subjects: int = 3, dim: int = 16, noise: float = 0.01):
    # Images of a class sit around a class centre, so same-class images outrank other classes.
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, dim))
    image_features = centres[np.arange(n_images) % 3] + rng.normal(size=(n_images, dim)) * 0.3
    image_ids = np.repeat(np.arange(n_images), n_subjects)
    labels = image_ids % 3
    image_embeds = image_features[image_ids]
    eeg_embeds = image_embeds + rng.normal(size=image_embeds.shape) * noise
    return eeg_embeds, image_embeds, labels, image_ids


def test_retrieval_report_with_and_without_image_ids():
    eeg, image, labels, image_ids = _paired_embeddings()
    report = retrieval_report(eeg, image, labels, image_ids=image_ids, ks=(1, 2))
    assert report["eeg_to_image"]["exact_image"] == {"top1": 1.0, "top2": 1.0, "mrr": 1.0}
    assert report["eeg_to_image"]["same_class"]["top1"] == 1.0
    assert report["eeg_to_image"]["same_class"]["map"] == 1.0  # 2 images per class, both ranked first
    assert (report["n_queries"], report["n_gallery"], report["n_classes"]) == (18, 6, 3)
    assert report["definitions"] == RETRIEVAL_DEFINITIONS
    assert set(report["eeg_classification_by_image_prototypes"]) == {"top1", "top2", "mrr", "n_classes"}
    # Without ids, each image appears 3 times with identical embeddings: the two copies that are not
    # the trial's own tie with it and count against it, so the paired image has rank 3.
    report = retrieval_report(eeg, image, labels, ks=(1, 3))
    assert report["eeg_to_image"]["exact_image"] == {"top1": 0.0, "top3": 1.0, "mrr": pytest.approx(1 / 3)}
    assert report["n_gallery"] == 18


def test_retrieval_report_bad_inputs():
    eeg, image, labels, image_ids = _paired_embeddings()
    with pytest.raises(ValueError, match="same shape"):
        retrieval_report(eeg, image[:-1], labels)
    with pytest.raises(ValueError, match="different labels"):
        retrieval_report(eeg, image, labels, image_ids=np.zeros_like(image_ids))
    with pytest.raises(ValueError, match="labels has"):
        retrieval_report(eeg, image, labels[:-1])


@pytest.mark.slow
def test_retrieval_report_10k_by_10k_runs_in_seconds():
    import time

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 40, 10_000)
    image = (rng.normal(size=(40, 256))[labels] + rng.normal(size=(10_000, 256))).astype(np.float32)
    eeg = image + rng.normal(size=image.shape).astype(np.float32)
    start = time.perf_counter()
    report = retrieval_report(eeg, image, labels)
    assert time.perf_counter() - start < 30.0
    assert report["n_gallery"] == 10_000
