"""Cross-modal retrieval and zero-shot classification metrics for EEG/image embeddings (EEGClip).

The authors published no code for EEG top-k, MRR or mAP (paper Tables 4-5), so the definitions
here are this package's own and are stated in every docstring and in `RETRIEVAL_DEFINITIONS`.

Ranking and ties: queries rank gallery items by score, highest first. Ties are broken
deterministically and conservatively: within a group of equal scores every non-relevant item is
placed before every relevant one. For one correct item `t` this gives
`rank = 1 + #{j != t : score[j] >= score[t]}`, so a tie with the correct item counts against it.
With several relevant items, the m-th relevant item (by score) sits at position
`m + #{non-relevant j : score[j] >= its score}`.

All functions take a `(n_queries, n_candidates)` score matrix (higher = more similar) or
embeddings, and are vectorised (chunked numpy/torch) so that 10k x 10k runs in seconds on a CPU.

This module imports only `.features` of the package: `eeg2img build-metrics` copies both into the `evaluate` metric
module `eeg2img_retrieval` (`metrics.evaluate_modules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from .features import _to_numpy

__all__ = [
    "RETRIEVAL_DEFINITIONS",
    "class_topk_retrieval",
    "mean_average_precision",
    "mean_reciprocal_rank",
    "prototype_classification",
    "retrieval_report",
    "similarity_matrix",
    "topk_accuracy",
]

ArrayLike = np.ndarray | torch.Tensor | Sequence[Any]

# Rows per chunk are chosen so that one chunk holds about this many scores.
_CHUNK_ELEMENTS = 1 << 23

RETRIEVAL_DEFINITIONS: dict[str, str] = {
    "source": "Definitions chosen by eeg2img_hf; the paper's authors published no code for EEG top-k, MRR or mAP.",
    "similarity": "Cosine similarity: dot product of L2-normalised EEG and image embeddings.",
    "gallery": "Unique images (repeated image_ids merged: mean of normalised embeddings, re-normalised), "
    "or one image per trial when image_ids is not given.",
    "rank": "Position of a gallery item for a query; ties count against the query: rank of the correct item = "
    "1 + number of other items scoring >= it.",
    "exact_image.topk": "Fraction of EEG queries whose own paired image has rank <= k.",
    "exact_image.mrr": "Mean over EEG queries of 1 / rank of the query's own paired image.",
    "same_class.topk": "Fraction of EEG queries with at least one image of their class among the top k.",
    "same_class.mrr": "Mean over EEG queries of 1 / rank of the first image of the query's class.",
    "same_class.map": "Mean over EEG queries of average precision over the full ranking, relevant = same class.",
    "eeg_classification_by_image_prototypes": "Zero-shot EEG classification: top-k accuracy of ranking class "
    "prototypes (mean normalised image embedding per class, re-normalised) by similarity to each EEG embedding.",
    "image_classification_by_eeg_prototypes": "Zero-shot image classification: the same with gallery images as "
    "queries and EEG class prototypes (mean normalised EEG embedding per class, re-normalised).",
}


def _check_matrix(values: ArrayLike, name: str) -> np.ndarray:
    array = _to_numpy(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    array = array.astype(np.result_type(array.dtype, np.float32), copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _check_labels(labels: ArrayLike, name: str, n: int) -> np.ndarray:
    array = _to_numpy(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} entries, expected {n}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f"ks must be a non-empty sequence of positive integers, got {ks}")
    return tuple(int(k) for k in ks)


def _chunk_rows(n_columns: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(n_columns, 1))


def _normalise(embeds: ArrayLike, name: str) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(_check_matrix(embeds, name)))
    norms = tensor.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError(f"{name} has {int((norms == 0).sum())} all-zero rows; cosine similarity is undefined")
    return tensor / norms


def similarity_matrix(query_embeds: ArrayLike, gallery_embeds: ArrayLike) -> np.ndarray:
    """Cosine similarity of every query with every gallery item.

    Both sets are L2-normalised row-wise, then `S = Q @ G.T`. Identical gallery rows get
    bit-identical scores (each distinct row is scored once and the column copied), so repeated
    items really tie instead of differing by matmul rounding. The result is float64 when both
    inputs are float64, else float32.

    Args:
        query_embeds (`array-like` of shape `(n_queries, dim)`): Query embeddings (e.g. EEG).
        gallery_embeds (`array-like` of shape `(n_gallery, dim)`): Gallery embeddings (e.g. images).

    Returns:
        `np.ndarray` of shape `(n_queries, n_gallery)` with values in [-1, 1].
    """
    query = _normalise(query_embeds, "query_embeds")
    gallery = _normalise(gallery_embeds, "gallery_embeds")
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(f"query_embeds have dim {query.shape[1]} but gallery_embeds have dim {gallery.shape[1]}")
    dtype = torch.float64 if query.dtype == gallery.dtype == torch.float64 else torch.float32
    query, gallery = query.to(dtype), gallery.to(dtype)
    distinct, inverse = torch.unique(gallery, dim=0, return_inverse=True)
    if distinct.shape[0] == gallery.shape[0]:
        return (query @ gallery.T).numpy()
    return (query @ distinct.T)[:, inverse].numpy()


def _target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Conservative rank of one correct column per row: 1 + #{j != t : s[j] >= s[t]}."""
    correct = scores[np.arange(scores.shape[0]), targets]
    ranks = np.empty(scores.shape[0], dtype=np.int64)
    step = _chunk_rows(scores.shape[1])
    for start in range(0, scores.shape[0], step):
        rows = slice(start, start + step)
        # The correct item itself satisfies >=, which supplies the "1 +".
        ranks[rows] = (scores[rows] >= correct[rows, None]).sum(axis=1)
    return ranks


def _check_targets(scores: ArrayLike, targets: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    scores = _check_matrix(scores, "scores")
    targets = _check_labels(targets, "targets", scores.shape[0])
    if targets.dtype.kind not in "iu":
        raise ValueError(f"targets must be integer column indices, got dtype {targets.dtype}")
    if targets.min() < 0 or targets.max() >= scores.shape[1]:
        raise ValueError(f"targets must lie in [0, {scores.shape[1] - 1}]")
    return scores, targets.astype(np.int64)


def topk_accuracy(scores: ArrayLike, targets: ArrayLike, ks: Iterable[int] = (1, 5, 10)) -> dict[str, float]:
    """Top-k accuracy with exactly one correct candidate per query.

    A query is a hit at k when the conservative rank of its correct column is <= k, where
    rank = 1 + number of other candidates scoring >= the correct one (ties count against it).
    Used both for exact-item retrieval (candidates = gallery items) and for classification
    (candidates = classes). For k >= n_candidates the value is trivially 1.

    Args:
        scores (`array-like` of shape `(n_queries, n_candidates)`): Higher = more similar.
        targets (`array-like` of int, shape `(n_queries,)`): Column of the correct candidate.
        ks (`Iterable[int]`, *optional*, defaults to `(1, 5, 10)`): Cut-offs.

    Returns:
        `dict` mapping `"top{k}"` to the fraction of hits.
    """
    scores, targets = _check_targets(scores, targets)
    ks = _check_ks(ks)
    ranks = _target_ranks(scores, targets)
    return {f"top{k}": float(np.mean(ranks <= k)) for k in ks}


def _class_ranks(
    scores: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per query: conservative rank of the first same-class item, and average precision."""
    first = np.empty(scores.shape[0], dtype=np.int64)
    average_precision = np.empty(scores.shape[0], dtype=np.float64)
    missing = np.setdiff1d(np.unique(query_labels), np.unique(gallery_labels))
    if missing.size:
        raise ValueError(f"query classes without any gallery item of that class: {missing.tolist()[:10]}")
    step = _chunk_rows(scores.shape[1])
    for label in np.unique(query_labels):
        relevant = gallery_labels == label
        n_relevant, n_irrelevant = int(relevant.sum()), int((~relevant).sum())
        position = np.arange(1, n_relevant + 1)
        query_index = np.flatnonzero(query_labels == label)
        for start in range(0, query_index.shape[0], step):
            block = scores[query_index[start : start + step]]  # (b, n_gallery)
            # np.compress keeps C order (boolean indexing would return Fortran order here).
            rel_desc = -np.sort(-np.compress(relevant, block, axis=1), axis=1)  # (b, n_relevant)
            # n_ge[q, m] = number of non-relevant items scoring >= the m-th best relevant score.
            n_ge = np.zeros(rel_desc.shape, dtype=np.int64)
            if n_irrelevant:
                irr_asc = torch.from_numpy(np.sort(np.compress(~relevant, block, axis=1), axis=1)).contiguous()
                below = torch.searchsorted(irr_asc, torch.from_numpy(rel_desc).contiguous(), side="left")
                n_ge = n_irrelevant - below.numpy()
            rows = query_index[start : start + step]
            first[rows] = 1 + n_ge[:, 0]
            average_precision[rows] = (position / (position + n_ge)).mean(axis=1)
    return first, average_precision


def _check_class_inputs(
    scores: ArrayLike, query_labels: ArrayLike, gallery_labels: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = _check_matrix(scores, "scores")
    query_labels = _check_labels(query_labels, "query_labels", scores.shape[0])
    gallery_labels = _check_labels(gallery_labels, "gallery_labels", scores.shape[1])
    return scores, query_labels, gallery_labels


def class_topk_retrieval(
    scores: ArrayLike, query_labels: ArrayLike, gallery_labels: ArrayLike, ks: Iterable[int] = (1, 5, 10)
) -> dict[str, float]:
    """Class-level top-k retrieval: fraction of queries with at least one same-class item in their top k.

    A query is a hit at k when the conservative rank of its best same-class gallery item is <= k;
    that rank is 1 + number of other-class items scoring >= the best same-class score.

    Args:
        scores (`array-like` of shape `(n_queries, n_gallery)`): Higher = more similar.
        query_labels (`array-like` of shape `(n_queries,)`): Class of each query.
        gallery_labels (`array-like` of shape `(n_gallery,)`): Class of each gallery item; every
            query class must occur.
        ks (`Iterable[int]`, *optional*, defaults to `(1, 5, 10)`): Cut-offs.

    Returns:
        `dict` mapping `"top{k}"` to the fraction of hits.
    """
    ks = _check_ks(ks)
    first, _ = _class_ranks(*_check_class_inputs(scores, query_labels, gallery_labels))
    return {f"top{k}": float(np.mean(first <= k)) for k in ks}


def mean_reciprocal_rank(
    scores: ArrayLike,
    query_labels: ArrayLike | None = None,
    gallery_labels: ArrayLike | None = None,
    *,
    targets: ArrayLike | None = None,
) -> float:
    """Mean reciprocal rank (MRR): mean over queries of 1 / rank of the first relevant item.

    Class variant (pass `query_labels` and `gallery_labels`): relevant = same class, rank of the
    best same-class item = 1 + number of other-class items scoring >= it. Exact-item variant (pass
    `targets` instead): one relevant column per query, rank = 1 + number of other columns scoring
    >= it. Ties count against the query in both.

    Args:
        scores (`array-like` of shape `(n_queries, n_gallery)`): Higher = more similar.
        query_labels (`array-like` of shape `(n_queries,)`, *optional*): Class of each query.
        gallery_labels (`array-like` of shape `(n_gallery,)`, *optional*): Class of each gallery item.
        targets (`array-like` of int, shape `(n_queries,)`, *optional*): Correct column per query.

    Returns:
        `float` in (0, 1].
    """
    with_labels = query_labels is not None or gallery_labels is not None
    if with_labels == (targets is not None):
        raise ValueError("pass either query_labels and gallery_labels, or targets (not both)")
    if targets is not None:
        ranks = _target_ranks(*_check_targets(scores, targets))
    else:
        if query_labels is None or gallery_labels is None:
            raise ValueError("the class variant needs both query_labels and gallery_labels")
        ranks, _ = _class_ranks(*_check_class_inputs(scores, query_labels, gallery_labels))
    return float(np.mean(1.0 / ranks))


def mean_average_precision(scores: ArrayLike, query_labels: ArrayLike, gallery_labels: ArrayLike) -> float:
    """Mean average precision (mAP) over the full ranking, relevant = same class.

    For a query with R same-class gallery items, AP = (1/R) * sum over m = 1..R of
    precision at the m-th relevant item = m / position_m, where position_m = m + number of
    other-class items scoring >= the m-th best same-class score (ties count against the query).
    mAP is the mean of AP over queries.

    Args:
        scores (`array-like` of shape `(n_queries, n_gallery)`): Higher = more similar.
        query_labels (`array-like` of shape `(n_queries,)`): Class of each query.
        gallery_labels (`array-like` of shape `(n_gallery,)`): Class of each gallery item; every
            query class must occur.

    Returns:
        `float` in (0, 1].
    """
    _, average_precision = _class_ranks(*_check_class_inputs(scores, query_labels, gallery_labels))
    return float(np.mean(average_precision))


def _class_prototypes(embeds: torch.Tensor, labels: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Mean of L2-normalised embeddings per class, re-normalised; classes in sorted order."""
    classes, inverse = np.unique(labels, return_inverse=True)
    sums = torch.zeros(classes.shape[0], embeds.shape[1], dtype=embeds.dtype)
    sums.index_add_(0, torch.from_numpy(inverse.astype(np.int64)), embeds)
    norms = sums.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("a class prototype has zero norm (its normalised embeddings cancel out)")
    return sums / norms, classes


def prototype_classification(
    query_embeds: ArrayLike,
    query_labels: ArrayLike,
    gallery_embeds: ArrayLike,
    gallery_labels: ArrayLike,
    ks: Iterable[int] = (1, 5, 10),
) -> dict[str, Any]:
    """Zero-shot classification by nearest class prototype.

    Each class prototype is the mean of the L2-normalised gallery embeddings of that class,
    re-normalised. Queries rank the prototypes by cosine similarity; top-k accuracy and MRR use the
    conservative rank of the query's own class (ties count against it). No classifier is trained.

    Args:
        query_embeds (`array-like` of shape `(n_queries, dim)`): Embeddings to classify (e.g. EEG).
        query_labels (`array-like` of shape `(n_queries,)`): Their true classes.
        gallery_embeds (`array-like` of shape `(n_gallery, dim)`): Embeddings that define the prototypes.
        gallery_labels (`array-like` of shape `(n_gallery,)`): Their classes; every query class must occur.
        ks (`Iterable[int]`, *optional*, defaults to `(1, 5, 10)`): Cut-offs (k >= n_classes gives 1).

    Returns:
        `dict` with `"top{k}"` accuracies, `"mrr"` and `"n_classes"` (number of prototypes).
    """
    ks = _check_ks(ks)
    query = _normalise(query_embeds, "query_embeds")
    gallery = _normalise(gallery_embeds, "gallery_embeds")
    query_labels = _check_labels(query_labels, "query_labels", query.shape[0])
    gallery_labels = _check_labels(gallery_labels, "gallery_labels", gallery.shape[0])
    prototypes, classes = _class_prototypes(gallery, gallery_labels)
    missing = np.setdiff1d(np.unique(query_labels), classes)
    if missing.size:
        raise ValueError(f"query classes without any gallery item of that class: {missing.tolist()[:10]}")
    scores = similarity_matrix(query, prototypes)
    ranks = _target_ranks(scores, np.searchsorted(classes, query_labels))
    result: dict[str, Any] = {f"top{k}": float(np.mean(ranks <= k)) for k in ks}
    result["mrr"] = float(np.mean(1.0 / ranks))
    result["n_classes"] = int(classes.shape[0])
    return result


def _build_gallery(
    image: torch.Tensor, labels: np.ndarray, image_ids: ArrayLike | None
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Gallery embeddings, gallery labels and the paired gallery column of every trial."""
    if image_ids is None:
        return image, labels, np.arange(image.shape[0])
    ids = _check_labels(image_ids, "image_ids", image.shape[0])
    _, first_index, inverse = np.unique(ids, return_index=True, return_inverse=True)
    gallery_labels = labels[first_index]
    if not np.array_equal(gallery_labels[inverse], labels):
        raise ValueError("image_ids map the same image to different labels")
    gallery, _ = _class_prototypes(image, inverse)
    return gallery, gallery_labels, inverse


def retrieval_report(
    eeg_embeds: ArrayLike,
    image_embeds: ArrayLike,
    labels: ArrayLike,
    image_ids: ArrayLike | None = None,
    ks: Iterable[int] = (1, 5, 10),
) -> dict[str, Any]:
    """All EEG/image retrieval and zero-shot classification metrics, with their definitions.

    Row i of `eeg_embeds` and `image_embeds` is one trial (an EEG recording and the image shown).
    EEG queries are ranked against a gallery of images by cosine similarity. With `image_ids`,
    repeated images (one per subject) are merged into one gallery item (mean normalised
    embedding, re-normalised); without them each trial's image is its own gallery item, and
    duplicate images then tie with the correct one and count against it.

    Args:
        eeg_embeds (`array-like` of shape `(n_trials, dim)`): EEG embeddings.
        image_embeds (`array-like` of shape `(n_trials, dim)`): Image embeddings of the paired images.
        labels (`array-like` of shape `(n_trials,)`): Class of each trial.
        image_ids (`array-like` of shape `(n_trials,)`, *optional*): Identity of each trial's image.
        ks (`Iterable[int]`, *optional*, defaults to `(1, 5, 10)`): Cut-offs.

    Returns:
        `dict` with `"eeg_to_image"` (`"exact_image"`: top-k, mrr; `"same_class"`: top-k, mrr, map),
        `"eeg_classification_by_image_prototypes"`, `"image_classification_by_eeg_prototypes"`,
        `"n_queries"`, `"n_gallery"`, `"n_classes"` and `"definitions"` (`RETRIEVAL_DEFINITIONS`).
    """
    ks = _check_ks(ks)
    eeg = _normalise(eeg_embeds, "eeg_embeds")
    image = _normalise(image_embeds, "image_embeds")
    if eeg.shape != image.shape:
        raise ValueError(
            f"eeg_embeds {tuple(eeg.shape)} and image_embeds {tuple(image.shape)} must have the same shape"
        )
    labels = _check_labels(labels, "labels", eeg.shape[0])
    gallery, gallery_labels, targets = _build_gallery(image, labels, image_ids)
    scores = similarity_matrix(eeg, gallery)
    exact_ranks = _target_ranks(scores, targets)
    first, average_precision = _class_ranks(scores, labels, gallery_labels)
    exact = {f"top{k}": float(np.mean(exact_ranks <= k)) for k in ks}
    same_class = {f"top{k}": float(np.mean(first <= k)) for k in ks}
    return {
        "eeg_to_image": {
            "exact_image": {**exact, "mrr": float(np.mean(1.0 / exact_ranks))},
            "same_class": {
                **same_class,
                "mrr": float(np.mean(1.0 / first)),
                "map": float(np.mean(average_precision)),
            },
        },
        "eeg_classification_by_image_prototypes": prototype_classification(eeg, labels, gallery, gallery_labels, ks),
        "image_classification_by_eeg_prototypes": prototype_classification(gallery, gallery_labels, eeg, labels, ks),
        "n_queries": int(eeg.shape[0]),
        "n_gallery": int(gallery.shape[0]),
        "n_classes": int(np.unique(labels).shape[0]),
        "definitions": dict(RETRIEVAL_DEFINITIONS),
    }
