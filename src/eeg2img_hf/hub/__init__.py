"""Hugging Face Hub publishing: dataset cards and pushes (models follow the same helpers)."""

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
from .push import HUB_PREFIX, INFO_FILENAME, commit_files, load_eeg_dataset_from_hub, push_dataset

__all__ = [
    "HUB_PREFIX",
    "INFO_FILENAME",
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
