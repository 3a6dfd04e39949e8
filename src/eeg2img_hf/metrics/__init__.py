"""Metrics for eeg2img_hf: EEG feature quality, EEG/image retrieval, image synthesis, t-SNE plots.

All metrics are plain functions over numpy arrays or torch tensors. Feature extractors are passed
in, never loaded here, and this package imports no `eeg2img_hf.models` code. `import eeg2img_hf`
does not import this subpackage; import it explicitly (`from eeg2img_hf import metrics`).
"""

from __future__ import annotations

from .features import (
    FEATURE_PROTOCOLS,
    UNSEEN_PROTOCOLS,
    cluster_accuracy,
    evaluate_features,
    kmeans_accuracy,
    knn_accuracy,
    knn_test_cv_accuracy,
    linear_svm_accuracy,
    unseen_class_evaluation,
)
from .generative import (
    FeatureExtractor,
    class_accuracy,
    compute_fid,
    compute_inception_score,
    compute_kid,
    extract_features,
    frechet_distance,
)
from .plots import plot_tsne
from .retrieval import (
    RETRIEVAL_DEFINITIONS,
    class_topk_retrieval,
    mean_average_precision,
    mean_reciprocal_rank,
    prototype_classification,
    retrieval_report,
    similarity_matrix,
    topk_accuracy,
)

__all__ = [
    "FEATURE_PROTOCOLS",
    "RETRIEVAL_DEFINITIONS",
    "UNSEEN_PROTOCOLS",
    "FeatureExtractor",
    "class_accuracy",
    "class_topk_retrieval",
    "cluster_accuracy",
    "compute_fid",
    "compute_inception_score",
    "compute_kid",
    "evaluate_features",
    "extract_features",
    "frechet_distance",
    "kmeans_accuracy",
    "knn_accuracy",
    "knn_test_cv_accuracy",
    "linear_svm_accuracy",
    "mean_average_precision",
    "mean_reciprocal_rank",
    "plot_tsne",
    "prototype_classification",
    "retrieval_report",
    "similarity_matrix",
    "topk_accuracy",
    "unseen_class_evaluation",
]
