"""Resolve a dataset source (simulation preset, saved directory or in-memory DatasetDict)."""

from __future__ import annotations

import os
from typing import Any

from datasets import DatasetDict, load_from_disk

from .features import validate_eeg_dataset
from .simulate import SIMULATION_PRESETS, simulate_dataset

SIM_PREFIX = "sim:"


def _describe_sources() -> str:
    presets = sorted(SIMULATION_PRESETS)
    return (
        f"a simulation preset {presets} (optionally prefixed with {SIM_PREFIX!r}), "
        "a directory written by DatasetDict.save_to_disk, or a datasets.DatasetDict"
    )


def _load_directory(path: str) -> DatasetDict:
    try:
        loaded = load_from_disk(path)
    except (FileNotFoundError, ValueError, OSError) as err:
        raise ValueError(f"{path!r} is not a directory written by DatasetDict.save_to_disk: {err}") from err
    if not isinstance(loaded, DatasetDict):
        raise ValueError(
            f"{path!r} holds a single {type(loaded).__name__}, expected a DatasetDict (splits train/validation/test)"
        )
    return loaded


def load_eeg_dataset(source: str | os.PathLike | DatasetDict, **simulate_kwargs: Any) -> DatasetDict:
    """Load an EEG-image dataset in the package schema.

    Args:
        source (`str`, `os.PathLike` or `DatasetDict`):
            - a preset name (`"thoughtviz"`, `"eegcvpr40"`, `"object"`) or `"sim:<preset>"`: simulate it
              with [`simulate_dataset`] (a bare preset name wins over a directory of the same name;
              write `"./thoughtviz"` to load such a directory);
            - a directory written by `DatasetDict.save_to_disk`: load it and validate its schema;
            - a `DatasetDict`: validate it and return it unchanged.
        simulate_kwargs:
            Keyword arguments of [`simulate_dataset`] (`seed`, `snr`, `block_drift`, `split`, ...);
            only allowed for simulated sources.

    Returns:
        `datasets.DatasetDict` following [`make_features`].
    """
    if isinstance(source, DatasetDict):
        dataset = source
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        preset = name[len(SIM_PREFIX) :] if name.startswith(SIM_PREFIX) else name
        if preset in SIMULATION_PRESETS:
            return simulate_dataset(preset, **simulate_kwargs)
        if name.startswith(SIM_PREFIX):
            raise ValueError(f"unknown simulation preset {preset!r}; expected one of {sorted(SIMULATION_PRESETS)}")
        if name.startswith("hf://datasets/"):  # a Hub repo pushed with eeg2img_hf.hub.push_dataset
            from ..hub.push import load_eeg_dataset_from_hub

            dataset = load_eeg_dataset_from_hub(name)
        elif not os.path.isdir(name):
            raise ValueError(f"dataset source {name!r} is neither a preset nor an existing directory; expected "
                             f"{_describe_sources()}")  # fmt: skip
        else:
            dataset = _load_directory(name)
    else:
        raise ValueError(f"expected {_describe_sources()}, got {type(source).__name__}")
    if simulate_kwargs:
        raise ValueError(f"simulation arguments {sorted(simulate_kwargs)} only apply to simulated sources")
    validate_eeg_dataset(dataset)
    return dataset
