"""Evaluation: every protocol that scores a trained model and writes a result file, and the generation grids.

`evaluate_encoder` (k-means / SVM / kNN, unseen classes), `evaluate_gan` (FID / KID / IS, generated-image class
accuracy, the paper-protocol check), `evaluate_clip` (retrieval, zero-shot classification, trained heads, the
THINGS-EEG2 zero-shot protocol), `evaluate_reconstruction` (image -> EEG -> image), `generate_grids`.
"""

from __future__ import annotations

from .evaluate_clip import PAPER_EEGCLIP_RESULTS, evaluate_clip, train_probe_head
from .evaluate_encoder import evaluate_encoder
from .evaluate_gan import evaluate_gan
from .evaluate_reconstruction import RECONSTRUCTION_DEFINITIONS, evaluate_reconstruction
from .generate import MAX_SEEDS, generate_grids, load_eeg_file, parse_seeds, select_trials

__all__ = [
    "MAX_SEEDS",
    "PAPER_EEGCLIP_RESULTS",
    "RECONSTRUCTION_DEFINITIONS",
    "evaluate_clip",
    "evaluate_encoder",
    "evaluate_gan",
    "evaluate_reconstruction",
    "generate_grids",
    "load_eeg_file",
    "parse_seeds",
    "select_trials",
    "train_probe_head",
]
