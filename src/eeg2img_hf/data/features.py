"""The single dataset schema of eeg2img_hf: column types and per-dataset EEG metadata.

Every EEG-image dataset of the package (simulated or real) is a `datasets.DatasetDict` whose splits
share these columns:

- `eeg`: `Array2D((n_chans, n_times), "float32")`, one trial, channel-major (`"float64"` where a converter was asked
  to keep a float64 release exactly; readers hand the models float32);
- `image`: `Image()`, the stimulus (or, for imagery data, a same-class exemplar) shown with the trial;
- `label`: `ClassLabel(names=class_names)`;
- `subject`: `Value("int32")`, subject number;
- `image_id`: `Value("string")`, identifies the image; equal ids mean identical pixels;
- `block`: `Value("int32")`, recording block / session index, unique across the whole dataset.

Per-dataset metadata (sampling rate, channel names, class ids, preprocessing, split strategy, ...) is
stored as JSON under the `"eeg2img"` key of `DatasetInfo.description`, so it survives
`save_to_disk` / `load_from_disk` and Hub uploads.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
from datasets import Array2D, ClassLabel, Dataset, DatasetDict, Features, Image, Value

INFO_KEY = "eeg2img"
"""Key of the EEG metadata inside the JSON stored in `DatasetInfo.description`."""

REQUIRED_COLUMNS = ("eeg", "image", "label", "subject", "image_id", "block")
"""Columns every EEG-image dataset must have."""

INFO_FIELDS = ("name", "sfreq", "ch_names", "n_chans", "n_times", "class_ids", "preprocessing", "split", "simulated")
"""Metadata fields every dataset of the package records (see [`get_eeg_info`])."""

EEG_DTYPES = ("float32", "float64")
"""Storage dtypes of the `eeg` column: float32 (default) or float64 (a float64 source kept exactly)."""

DatasetT = TypeVar("DatasetT", Dataset, DatasetDict)


def make_features(n_chans: int, n_times: int, class_names: list[str] | tuple[str, ...],
                  eeg_dtype: str = "float32") -> Features:
    """Build the `datasets.Features` of an EEG-image dataset.

    Args:
        n_chans (`int`):
            Number of EEG channels of a trial.
        n_times (`int`):
            Number of time samples of a trial.
        class_names (`list[str]`):
            Readable class names, in label order (label `i` is `class_names[i]`).
        eeg_dtype (`str`, *optional*, defaults to `"float32"`):
            Storage dtype of the `eeg` column, one of `EEG_DTYPES`.

    Returns:
        `datasets.Features` with the columns `eeg`, `image`, `label`, `subject`, `image_id`, `block`.
    """
    for name, value in (("n_chans", n_chans), ("n_times", n_times)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    names = list(class_names) if isinstance(class_names, (list, tuple)) else None
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"class_names must be a non-empty list of non-empty strings, got {class_names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be unique, got duplicates in {names}")
    if eeg_dtype not in EEG_DTYPES:
        raise ValueError(f"eeg_dtype must be one of {EEG_DTYPES}, got {eeg_dtype!r}")
    return Features(
        {
            "eeg": Array2D((n_chans, n_times), eeg_dtype),
            "image": Image(),
            "label": ClassLabel(names=names),
            "subject": Value("int32"),
            "image_id": Value("string"),
            "block": Value("int32"),
        }
    )


def eeg_arrow(eeg: np.ndarray, eeg_type: pa.DataType) -> pa.Array:
    """Zero-copy Arrow storage of the `eeg` column from a C-contiguous `(n, n_chans, n_times)` array of the column's
    dtype (float32, or float64 for a float64 column).

    `eeg_type` is the column's Arrow type, `features.arrow_schema.field("eeg").type` (an `Array2D` extension type).
    Shared by the simulator and the converters' writer.
    """
    n, n_chans, n_times = eeg.shape
    values = pa.array(np.ascontiguousarray(eeg).reshape(-1))
    inner = pa.ListArray.from_arrays(pa.array(np.arange(n * n_chans + 1, dtype=np.int32) * n_times), values)
    outer = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * n_chans), inner)
    return pa.ExtensionArray.from_storage(eeg_type, outer)


def _first_split(ds: Dataset | DatasetDict) -> Dataset:
    if isinstance(ds, DatasetDict):
        if len(ds) == 0:
            raise ValueError("expected a DatasetDict with at least one split, got an empty DatasetDict")
        return next(iter(ds.values()))
    if isinstance(ds, Dataset):
        return ds
    raise ValueError(f"expected a datasets.Dataset or datasets.DatasetDict, got {type(ds).__name__}")


def _parse_description(description: str) -> dict[str, Any]:
    """Parse a description into a JSON object; plain text is kept under `"description"`."""
    if not description:
        return {}
    try:
        parsed = json.loads(description)
    except json.JSONDecodeError:
        return {"description": description}
    return parsed if isinstance(parsed, dict) else {"description": description}


def get_eeg_info(ds: Dataset | DatasetDict) -> dict[str, Any]:
    """Return the EEG metadata of a dataset (the `"eeg2img"` entry of its `info.description`).

    Args:
        ds (`Dataset` or `DatasetDict`):
            The dataset; for a `DatasetDict` the metadata of its first split is returned
            ([`set_eeg_info`] writes the same metadata to every split).

    Returns:
        `dict`: the metadata (`name`, `sfreq`, `ch_names`, `n_chans`, `n_times`, `class_ids`,
        `preprocessing`, `split`, `simulated`, ...), or an empty dict when none is stored.
    """
    info = _parse_description(_first_split(ds).info.description).get(INFO_KEY, {})
    if not isinstance(info, dict):
        raise ValueError(f"the {INFO_KEY!r} entry of the dataset description must be a JSON object, got {info!r}")
    return info


def dataset_subjects(ds: DatasetDict) -> list[int]:
    """Every subject of a dataset: those its metadata lists (`subjects`) and those of every split's `subject` column.

    A training run records them beside the subjects it trained on, so that an evaluation can tell training on
    every other subject (leave-one-subject-out) from training on some of them.
    """
    subjects = {int(s) for s in get_eeg_info(ds).get("subjects") or []}
    for split in ds.values():
        subjects.update(int(s) for s in split.unique("subject"))
    return sorted(subjects)


def set_eeg_info(ds: DatasetT, info: dict[str, Any]) -> DatasetT:
    """Store EEG metadata in `info.description` of a dataset (every split of a `DatasetDict`).

    The dataset is modified in place (only its `DatasetInfo`, never its data) and returned. Other
    JSON keys of the description are kept; a plain-text description is kept under `"description"`.

    Args:
        ds (`Dataset` or `DatasetDict`):
            The dataset to annotate.
        info (`dict`):
            JSON-serialisable metadata, e.g. from [`get_eeg_info`].

    Returns:
        The same object as `ds`.
    """
    if not isinstance(info, dict):
        raise ValueError(f"info must be a dict, got {type(info).__name__}")
    try:
        json.dumps(info)
    except (TypeError, ValueError) as err:
        raise ValueError(f"info must be JSON-serialisable (str, numbers, bools, None, lists, dicts): {err}") from err
    if isinstance(ds, DatasetDict):
        splits = list(ds.values())
    elif isinstance(ds, Dataset):
        splits = [ds]
    else:
        raise ValueError(f"expected a datasets.Dataset or datasets.DatasetDict, got {type(ds).__name__}")
    for split in splits:
        content = _parse_description(split.info.description)
        content[INFO_KEY] = info
        split.info.description = json.dumps(content)
    return ds


def _check_features(features: Features, where: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in features]
    if missing:
        raise ValueError(
            f"{where}: expected columns {list(REQUIRED_COLUMNS)}, missing {missing} (has {list(features)})"
        )
    eeg = features["eeg"]
    if not isinstance(eeg, Array2D) or eeg.dtype not in EEG_DTYPES:
        raise ValueError(f"{where}: column 'eeg' must be Array2D(shape=(n_chans, n_times), dtype='float32' or "
                         f"'float64'), got {eeg}")
    if any(not isinstance(d, int) or d < 1 for d in eeg.shape):
        raise ValueError(f"{where}: column 'eeg' must have a fixed (n_chans, n_times) shape, got {eeg.shape}")
    expected = {"image": "Image()", "label": "ClassLabel(names=...)"}
    for column, feature_type in (("image", Image), ("label", ClassLabel)):
        if not isinstance(features[column], feature_type):
            raise ValueError(f"{where}: column {column!r} must be {expected[column]}, got {features[column]}")
    for column in ("subject", "block"):
        feature = features[column]
        if not isinstance(feature, Value) or not feature.dtype.startswith(("int", "uint")):
            raise ValueError(f"{where}: column {column!r} must be an integer Value (e.g. int32), got {feature}")
    image_id = features["image_id"]
    if not isinstance(image_id, Value) or image_id.dtype not in ("string", "large_string"):
        raise ValueError(f"{where}: column 'image_id' must be Value('string'), got {image_id}")


def _check_info(info: dict[str, Any], features: Features) -> None:
    n_chans, n_times = features["eeg"].shape
    if "n_chans" in info and info["n_chans"] != n_chans or "n_times" in info and info["n_times"] != n_times:
        raise ValueError(
            f"metadata says n_chans={info.get('n_chans')}, n_times={info.get('n_times')} but column 'eeg' has shape "
            f"{(n_chans, n_times)}"
        )
    ch_names = info.get("ch_names")
    if ch_names is not None and len(ch_names) != n_chans:
        raise ValueError(f"metadata lists {len(ch_names)} ch_names but column 'eeg' has {n_chans} channels")
    class_ids = info.get("class_ids")
    n_classes = features["label"].num_classes
    if class_ids is not None and len(class_ids) != n_classes:
        raise ValueError(f"metadata lists {len(class_ids)} class_ids but column 'label' has {n_classes} classes")


def validate_eeg_dataset(ds: Dataset | DatasetDict) -> None:
    """Check that a dataset follows the package schema (see [`make_features`]).

    Checks the required columns and their types, that all splits of a `DatasetDict` share the same
    features, and that stored metadata (if any) agrees with the `eeg` shape and the classes.

    Args:
        ds (`Dataset` or `DatasetDict`):
            The dataset to check.

    Raises:
        `ValueError`: naming the first problem found.
    """
    first = _first_split(ds)
    splits = dict(ds) if isinstance(ds, DatasetDict) else {"dataset": ds}
    for name, split in splits.items():
        where = f"split {name!r}" if isinstance(ds, DatasetDict) else "dataset"
        if not isinstance(split, Dataset):
            raise ValueError(f"{where}: expected a datasets.Dataset, got {type(split).__name__}")
        _check_features(split.features, where)
        if split.features != first.features:
            raise ValueError(f"{where}: features differ from those of the first split ({first.features})")
    _check_info(get_eeg_info(ds), first.features)
