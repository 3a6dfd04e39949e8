"""Hugging Face Hub publishing: dataset and model cards, pushes of models, datasets, metric modules and the demo
Space."""

from __future__ import annotations

from .dataset_cards import (
    SIZE_CATEGORIES,
    TEMPLATE_NAMES,
    card_context,
    check_card_metadata,
    render_dataset_card,
    size_category,
    template_for,
    templates_dir,
)
from .model_cards import (
    MODEL_FAMILIES,
    check_model_card_metadata,
    evaluation_metrics,
    model_card_context,
    model_family,
    render_model_card,
)
from .push import (
    HUB_PREFIX,
    INFO_FILENAME,
    PICKLE_WEIGHT_SUFFIXES,
    commit_files,
    load_eeg_dataset_from_hub,
    prepare_model_folder,
    push_dataset,
    push_model,
)
from .push_metrics import prepare_metric_space, push_metrics
from .space import build_space, push_space

__all__ = [
    "HUB_PREFIX",
    "INFO_FILENAME",
    "MODEL_FAMILIES",
    "PICKLE_WEIGHT_SUFFIXES",
    "build_space",
    "check_model_card_metadata",
    "evaluation_metrics",
    "model_card_context",
    "model_family",
    "prepare_metric_space",
    "prepare_model_folder",
    "push_metrics",
    "push_model",
    "push_space",
    "render_model_card",
    "SIZE_CATEGORIES",
    "TEMPLATE_NAMES",
    "card_context",
    "check_card_metadata",
    "commit_files",
    "load_eeg_dataset_from_hub",
    "push_dataset",
    "render_dataset_card",
    "size_category",
    "template_for",
    "templates_dir",
]
