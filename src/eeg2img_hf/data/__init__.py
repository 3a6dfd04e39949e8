"""EEG-image datasets: one schema, the simulated default dataset, simple splits and a loader."""

from __future__ import annotations

from .features import INFO_KEY, REQUIRED_COLUMNS, get_eeg_info, make_features, set_eeg_info, validate_eeg_dataset
from .loading import load_eeg_dataset
from .simulate import SIMULATION_PRESETS, SimulationPreset, simulate_dataset
from .splits import SPLIT_STRATEGIES, check_disjoint, split_trials

__all__ = [
    "INFO_KEY",
    "REQUIRED_COLUMNS",
    "SIMULATION_PRESETS",
    "SPLIT_STRATEGIES",
    "SimulationPreset",
    "check_disjoint",
    "get_eeg_info",
    "load_eeg_dataset",
    "make_features",
    "set_eeg_info",
    "simulate_dataset",
    "split_trials",
    "validate_eeg_dataset",
]
