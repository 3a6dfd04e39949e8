"""Evaluation and generation jobs that read models and datasets and write result files (layer of `training`)."""

from __future__ import annotations

from .generate import MAX_SEEDS, generate_grids, load_eeg_file, parse_seeds, select_trials

__all__ = ["MAX_SEEDS", "generate_grids", "load_eeg_file", "parse_seeds", "select_trials"]
