"""Resolve a dataset source: simulation preset, saved directory, Hub dataset repo or in-memory DatasetDict.

Hub repos pushed with [`eeg2img_hf.hub.push_dataset`] keep their EEG metadata in `eeg2img_info.json` beside the
parquet shards (`push_to_hub` drops `DatasetInfo.description`); [`load_eeg_dataset_from_hub`] restores it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from datasets import DatasetDict, load_dataset, load_from_disk
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError

from .features import INFO_KEY, set_eeg_info, validate_eeg_dataset
from .simulate import SIMULATION_PRESETS, simulate_dataset

SIM_PREFIX = "sim:"

INFO_FILENAME = "eeg2img_info.json"
"""File next to the data in a pushed dataset repo holding the EEG metadata as `{"eeg2img": info}`."""

HUB_PREFIX = "hf://datasets/"
"""Prefix of a Hub dataset source (`hf://datasets/<org>/<name>`, as in `HfFileSystem`)."""


def check_repo_id(repo_id: Any) -> None:
    """Refuses a Hub repo id that is not of the form `org/name`."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")


def _read_info_file(path: str, repo_id: str) -> dict[str, Any]:
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{INFO_FILENAME} of {repo_id} is not valid JSON: {err}") from err
    info = content.get(INFO_KEY) if isinstance(content, dict) else None
    if not isinstance(info, dict):
        raise ValueError(f"{INFO_FILENAME} of {repo_id} must be a JSON object with an {INFO_KEY!r} object")
    return info


def load_eeg_dataset_from_hub(repo_id: str, *, revision: str | None = None, token: str | None = None) -> DatasetDict:
    """Load a dataset pushed with [`eeg2img_hf.hub.push_dataset`] and restore its EEG metadata.

    Works offline (`HF_HUB_OFFLINE=1`) once the repo is in the local cache.

    Args:
        repo_id (`str`): the dataset repo, `"org/name"` (an `hf://datasets/` prefix is accepted).
        revision (`str`, *optional*): branch or commit (default: `main`).
        token (`str`, *optional*): Hub token for private repos.

    Returns:
        `datasets.DatasetDict` in the package schema, with [`get_eeg_info`] metadata.
    """
    repo_id = repo_id[len(HUB_PREFIX) :] if repo_id.startswith(HUB_PREFIX) else repo_id
    check_repo_id(repo_id)
    try:
        path = hf_hub_download(repo_id, INFO_FILENAME, repo_type="dataset", revision=revision, token=token)
    except EntryNotFoundError as err:
        raise ValueError(
            f"{repo_id} has no {INFO_FILENAME}: it was not pushed with eeg2img_hf (load it with "
            "datasets.load_dataset and set its metadata with set_eeg_info)"
        ) from err
    info = _read_info_file(path, repo_id)
    loaded = load_dataset(repo_id, revision=revision, token=token)
    if not isinstance(loaded, DatasetDict):
        raise ValueError(f"{repo_id} did not load as a DatasetDict (got {type(loaded).__name__})")
    set_eeg_info(loaded, info)
    validate_eeg_dataset(loaded)
    return loaded


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
        if name.startswith(HUB_PREFIX):  # a Hub repo pushed with eeg2img_hf.hub.push_dataset
            dataset = load_eeg_dataset_from_hub(name)
        elif not os.path.isdir(name):
            raise ValueError(f"dataset source {name!r} is neither a preset nor an existing directory; expected "
                             f"{_describe_sources()}")
        else:
            dataset = _load_directory(name)
    else:
        raise ValueError(f"expected {_describe_sources()}, got {type(source).__name__}")
    if simulate_kwargs:
        raise ValueError(f"simulation arguments {sorted(simulate_kwargs)} only apply to simulated sources")
    validate_eeg_dataset(dataset)
    return dataset
