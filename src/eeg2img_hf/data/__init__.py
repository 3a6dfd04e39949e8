"""EEG-image datasets: one schema, the simulated default dataset, simple splits and a loader."""

from __future__ import annotations

from .converters import (
    CONVERTERS,
    convert_arrays,
    convert_authors_npy,
    convert_eegcvpr40,
    convert_hub_parquet,
    convert_mne_epochs,
    convert_object,
    convert_things_eeg2,
    convert_thoughtviz,
    write_eeg_dataset,
)
from .eeg_io import EEGRecording, read_eeg_file, validate_eeg
from .features import (
    INFO_KEY,
    REQUIRED_COLUMNS,
    dataset_subjects,
    get_eeg_info,
    make_features,
    set_eeg_info,
    validate_eeg_dataset,
)
from .loading import HUB_PREFIX, INFO_FILENAME, load_eeg_dataset, load_eeg_dataset_from_hub
from .preprocessing import (
    apply_steps,
    bandpass,
    crop,
    preprocess_dataset,
    preprocessing_step,
    resample,
    resize_image,
    scale_by_trial_max,
    zscore_channels,
)
from .simulate import SIMULATION_PRESETS, SimulationPreset, simulate_dataset
from .splits import SPLIT_GUARANTEES, SPLIT_STRATEGIES, check_disjoint, split_dataset, split_report, split_trials

__all__ = [
    "CONVERTERS",
    "EEGRecording",
    "HUB_PREFIX",
    "INFO_FILENAME",
    "load_eeg_dataset_from_hub",
    "INFO_KEY",
    "REQUIRED_COLUMNS",
    "SIMULATION_PRESETS",
    "SPLIT_GUARANTEES",
    "SPLIT_STRATEGIES",
    "SimulationPreset",
    "apply_steps",
    "convert_arrays",
    "convert_authors_npy",
    "convert_eegcvpr40",
    "convert_hub_parquet",
    "convert_mne_epochs",
    "convert_object",
    "convert_things_eeg2",
    "convert_thoughtviz",
    "bandpass",
    "crop",
    "preprocess_dataset",
    "preprocessing_step",
    "read_eeg_file",
    "resample",
    "resize_image",
    "scale_by_trial_max",
    "zscore_channels",
    "check_disjoint",
    "dataset_subjects",
    "get_eeg_info",
    "load_eeg_dataset",
    "make_features",
    "set_eeg_info",
    "simulate_dataset",
    "split_dataset",
    "split_report",
    "split_trials",
    "validate_eeg",
    "validate_eeg_dataset",
    "write_eeg_dataset",
]
