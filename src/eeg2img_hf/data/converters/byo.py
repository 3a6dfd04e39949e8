"""Bring your own data: numpy arrays or MNE recordings plus an event/label -> image mapping, in the package schema.

[`convert_arrays`] takes trials `(n_trials, n_chans, n_times)` with labels and an image per trial (given
per trial, per label or per event code); [`convert_mne_epochs`] reads an MNE `Epochs` or `Raw` object, or a
file (`.fif` Epochs or Raw, `.edf`, `.bdf`, BrainVision `.vhdr`, EEGLAB `.set`), cuts raw recordings into epochs
around their events (stim channel or annotations), and maps each epoch's event (or its `Epochs.metadata`
image column) to an image and a class. Files are read by [`~eeg2img_hf.data.eeg_io.read_eeg_file`]. MNE data
are stored in volts (MNE's SI unit) as float32; the unit is recorded in the metadata.

Unless the caller gives a per-trial split, trials are split at random (seeded, stratified by class) into
train/validation/test and the metadata says so: such a split lets trials of one image or recording block
land in several splits, so re-split with a leakage-safe strategy for evaluation.

The module also holds the small helpers the other converters of this folder share (image listing and
resizing, the CLI summary line).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers.utils import logging

from ..eeg_io import epochs_from_raw, raw_events, read_eeg_file, read_mne_file
from ..preprocessing import preprocessing_step, resize_image
from .writer import write_eeg_dataset

logger = logging.get_logger(__name__)

__all__ = ["IMAGE_EXTENSIONS", "add_arguments", "convert_arrays", "convert_mne_epochs", "read_event_mapping", "run"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
"""File extensions (case-insensitive) the converters accept as images."""

SPLIT_NAMES = ("train", "validation", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
                  "val": "validation", "dev": "validation", "test": "test", "testing": "test"}


# --------------------------------------------------------------------------------------------------
# Helpers shared by the converters of this folder


def list_image_files(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by file name (the order seeded pairing rules use)."""
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                  key=lambda p: p.name)


def make_image_loader(image_size: int | None) -> Callable[[Path], Any]:
    """Function path -> what the writer stores: the file itself, or (with `image_size`) a resized PNG.

    Resized images are cached per path, since imagery and repeated-exemplar datasets reuse each image
    for many trials.
    """
    if image_size is None:
        return lambda path: str(path)
    from PIL import Image

    cache: dict[Path, bytes] = {}

    def load(path: Path) -> bytes:
        if path not in cache:
            try:
                with Image.open(path) as image:
                    resized = resize_image(image, image_size)
            except (OSError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
                raise ValueError(f"image {str(path)!r} is not a readable image file: {err}") from None
            buffer = io.BytesIO()
            resized.save(buffer, format="PNG")
            cache[path] = buffer.getvalue()
        return cache[path]

    return load


def image_steps(image_size: int | None) -> list[dict[str, Any]]:
    """The preprocessing record of the optional image resize."""
    if image_size is None:
        return []
    return [
        preprocessing_step("resize_image", size=int(image_size), mode="RGB", resample="bicubic", applies_to="image")
    ]


def check_image_size(image_size: Any) -> int | None:
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive int or None, got {image_size!r}")
    return image_size


def check_fractions(val_fraction: float, test_fraction: float) -> tuple[float, float]:
    val_fraction, test_fraction = float(val_fraction), float(test_fraction)
    if not (0.0 <= val_fraction < 1.0 and 0.0 < test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(
            "expected 0 <= val_fraction < 1, 0 < test_fraction < 1 and val_fraction + test_fraction < 1, got "
            f"val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    return val_fraction, test_fraction


def allocate(n: int, fraction: float, keep: int) -> int:
    """How many of `n` items a split of `fraction` gets: rounded, >= 1 when `fraction` > 0, leaving >= `keep`."""
    if fraction <= 0 or n <= keep:
        return 0
    return int(min(max(1, np.floor(fraction * n + 0.5)), n - keep))


def summary(ds: Any, output_dir: str | os.PathLike) -> dict[str, Any]:
    """The JSON summary `eeg2img convert` prints: the written folder and the rows per split."""
    return {"output": os.fspath(output_dir), "rows": {name: len(split) for name, split in ds.items()}}


def parse_subject_list(text: str | None, option: str = "--subjects") -> list[int] | None:
    """`"1,2"` -> `[1, 2]` (`None` or empty -> `None`, all subjects) for a converter's subject option."""
    if not text:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, got {text!r}") from None


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image-size", type=int, help="resize images to this square size (default: keep files)")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per Arrow batch while writing")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output_dir")


# --------------------------------------------------------------------------------------------------
# Arrays


def _check_trials(eeg: Any) -> np.ndarray:
    if not isinstance(eeg, np.ndarray):
        raise ValueError(f"eeg must be a numpy array of shape (n_trials, n_chans, n_times), got {type(eeg).__name__}")
    if eeg.ndim != 3 or min(eeg.shape) < 1:
        raise ValueError(f"eeg must have shape (n_trials, n_chans, n_times), got {eeg.shape}")
    if eeg.dtype.kind != "f":
        raise ValueError(f"eeg must be a floating-point array (float32/float64), got dtype {eeg.dtype}")
    bad = ~np.isfinite(eeg).all(axis=(1, 2))
    if bad.any():
        raise ValueError(f"eeg trial {int(np.flatnonzero(bad)[0])} contains NaN or infinite values")
    return eeg


def _per_trial_ints(values: Any, name: str, n: int, default: int) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=np.int64)
    array = np.asarray(values)
    if array.shape != (n,):
        raise ValueError(f"{name} must have one entry per trial ({n}), got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _labels(labels: Any, class_names: Sequence[str], n: int) -> np.ndarray:
    names = list(class_names)
    array = np.asarray(labels)
    if array.shape != (n,):
        raise ValueError(f"labels must have one entry per trial ({n}), got shape {array.shape}")
    if array.dtype.kind in "US":
        index = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(v) for v in array.tolist()} - set(index))
        if unknown:
            raise ValueError(f"labels {unknown[:5]} are not in class_names {names}")
        return np.array([index[str(v)] for v in array.tolist()], dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise ValueError(f"labels must be ints (0..n_classes-1) or class names, got dtype {array.dtype}")
    out_of_range = (array < 0) | (array >= len(names))
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(f"label {int(array[i])} of trial {i} is outside 0..{len(names) - 1}")
    return array.astype(np.int64)


def _resolve_images(
    images: Any, labels: np.ndarray, class_names: Sequence[str], events: np.ndarray | None, n: int, base: Path | None
) -> list[Path]:
    """One image path per trial from a per-trial sequence, or a mapping keyed by event code or by label."""
    if isinstance(images, Mapping):
        table = {_mapping_key(k): v for k, v in images.items()}
        if events is not None:
            keys, kind = [int(e) for e in events], "event"
        else:
            keys, kind = [int(v) for v in labels], "label"
            table.update({class_names.index(k): v for k, v in list(table.items()) if k in class_names})
        missing = sorted({k for k in keys if k not in table})
        if missing:
            shown = missing if kind == "event" else [f"{k} ({class_names[k]})" for k in missing]
            raise ValueError(f"images has no entry for {kind}s {shown[:10]}")
        paths = [table[k] for k in keys]
    elif isinstance(images, (Sequence, np.ndarray)) and not isinstance(images, (str, bytes)):
        paths = list(images)
        if len(paths) != n:
            raise ValueError(f"images given per trial must have {n} entries, got {len(paths)}")
    else:
        kind = type(images).__name__
        raise ValueError(f"images must be a mapping (event/label -> path) or one path per trial, got {kind}")
    resolved: dict[Any, Path] = {}
    out = []
    for value in paths:
        if value not in resolved:
            path = Path(os.fspath(value))
            path = base / path if base is not None and not path.is_absolute() else path
            if not path.is_file():
                raise ValueError(f"image file {str(path)!r} does not exist")
            resolved[value] = path
        out.append(resolved[value])
    return out


def _mapping_key(key: Any) -> Any:
    """Mapping keys as ints where they spell one (CSV/JSON keys are strings), else as given."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    if isinstance(key, str) and re.fullmatch(r"[+-]?\d+", key.strip()):
        return int(key)
    return key


def _default_image_ids(paths: list[Path]) -> list[str]:
    """File names, or full paths where two different files share a name."""
    by_name: dict[str, set[Path]] = {}
    for path in paths:
        by_name.setdefault(path.name, set()).add(path.resolve())
    return [path.name if len(by_name[path.name]) == 1 else path.resolve().as_posix() for path in paths]


def _assign_splits(
    split: Any, labels: np.ndarray, fractions: tuple[float, float], seed: int
) -> tuple[np.ndarray, dict]:
    n = len(labels)
    if split is not None:
        names = np.asarray(split)
        if names.shape != (n,):
            raise ValueError(f"split must have one entry per trial ({n}), got shape {names.shape}")
        unknown = sorted({str(s) for s in names.tolist()} - set(_SPLIT_ALIASES))
        if unknown:
            raise ValueError(f"split values {unknown[:5]} are not train/validation/test")
        codes = np.array([SPLIT_NAMES.index(_SPLIT_ALIASES[str(s)]) for s in names.tolist()], dtype=np.int64)
        return codes, {"strategy": "official", "source": "split given by the user"}
    rng = np.random.default_rng(seed)
    codes = np.zeros(n, dtype=np.int64)
    for label in np.unique(labels):
        trials = rng.permutation(np.flatnonzero(labels == label))
        n_test = allocate(len(trials), fractions[1], keep=1)
        n_val = allocate(len(trials), fractions[0], keep=1 + n_test)
        codes[trials[:n_test]] = 2
        codes[trials[n_test : n_test + n_val]] = 1
    record = {"strategy": "random-trial", "stratified_by": "label", "seed": seed, "val_fraction": fractions[0],
              "test_fraction": fractions[1],
              "caveat": "random trial split: trials of the same image or recording block can be in several splits; "
                        "re-split with a leakage-safe strategy (exemplar-disjoint, block-held-out) for evaluation"}
    return codes, record


def convert_arrays(
    eeg: np.ndarray,
    labels: Sequence[int] | Sequence[str] | np.ndarray,
    images: Mapping[Any, str | os.PathLike] | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    *,
    sfreq: float,
    ch_names: Sequence[str],
    class_names: Sequence[str],
    subjects: Sequence[int] | np.ndarray | None = None,
    blocks: Sequence[int] | np.ndarray | None = None,
    image_ids: Sequence[str] | None = None,
    events: Sequence[int] | np.ndarray | None = None,
    split: Sequence[str] | np.ndarray | None = None,
    class_ids: Sequence[str] | None = None,
    unit: str | None = None,
    name: str = "custom",
    image_root: str | os.PathLike | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    image_size: int | None = None,
    extra_info: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    batch_size: int = 256,
) -> Any:
    """Write numpy EEG trials and their images as an EEG-image `DatasetDict` (package schema).

    Args:
        eeg (`np.ndarray` of shape `(n_trials, n_chans, n_times)`):
            Floating-point, finite trials (stored as float32).
        labels (`array-like` of shape `(n_trials,)`):
            Class index (`0..len(class_names) - 1`) or class name of each trial.
        images (`Mapping` or `Sequence`):
            One image path per trial, or a mapping to image paths keyed by event code (when `events` is
            given) or by label / class name.
        output_dir (`str` or `os.PathLike`):
            Folder to write (see [`write_eeg_dataset`]).
        sfreq (`float`):
            Sampling rate in Hz.
        ch_names (`Sequence[str]`):
            Channel names, one per channel.
        class_names (`Sequence[str]`):
            Readable class names in label order.
        subjects (`array-like` of int, *optional*):
            Subject of each trial (default 0, "unknown").
        blocks (`array-like` of int, *optional*):
            Recording block / session of each trial, unique across the dataset (default -1, "unknown").
        image_ids (`Sequence[str]`, *optional*):
            Image id of each trial (default: the image file name).
        events (`array-like` of int, *optional*):
            Event code of each trial, the keys of an `images` mapping keyed by event.
        split (`array-like` of str, *optional*):
            `"train"`/`"validation"`/`"test"` per trial, written as the `official_split` column. By default the
            trials are split at random (seeded, stratified by class; recorded with its caveat).
        class_ids (`Sequence[str]`, *optional*):
            Source class ids (e.g. WordNet ids), one per class.
        unit (`str`, *optional*):
            Unit of the EEG values (e.g. `"V"`, `"uV"`), recorded in the metadata.
        name (`str`, *optional*, defaults to `"custom"`):
            Dataset name in the metadata.
        image_root (`str` or `os.PathLike`, *optional*):
            Folder that relative image paths are relative to (default: the working directory).
        val_fraction (`float`, *optional*, defaults to 0.15):
            Validation fraction per class of the default random split.
        test_fraction (`float`, *optional*, defaults to 0.2):
            Test fraction per class of the default random split.
        seed (`int`, *optional*, defaults to 0):
            Seed of the default random split.
        image_size (`int`, *optional*):
            Resize images to `image_size x image_size` RGB (default: store the files unchanged).
        extra_info (`Mapping`, *optional*):
            More JSON metadata (source, license, citation, ...), merged into the info.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace a non-empty `output_dir`.
        batch_size (`int`, *optional*, defaults to 256):
            Rows per Arrow batch while writing.

    Returns:
        `datasets.DatasetDict` with splits `train`, `validation`, `test`, memory-mapped from `output_dir`.
    """
    from datasets import Value

    eeg = _check_trials(eeg)
    n, n_chans, n_times = eeg.shape
    names = list(class_names) if not isinstance(class_names, str) else []
    if not names:
        raise ValueError(f"class_names must be a non-empty sequence of str, got {class_names!r}")
    channels = [str(c) for c in ch_names] if not isinstance(ch_names, str) else []
    if len(channels) != n_chans:
        raise ValueError(f"ch_names lists {len(channels)} channels but eeg has {n_chans}")
    if isinstance(sfreq, bool) or not isinstance(sfreq, (int, float)) or not np.isfinite(sfreq) or sfreq <= 0:
        raise ValueError(f"sfreq must be a positive number, got {sfreq!r}")
    fractions = check_fractions(val_fraction, test_fraction)
    image_size = check_image_size(image_size)
    label_array = _labels(labels, names, n)
    subject_array = _per_trial_ints(subjects, "subjects", n, 0)
    block_array = _per_trial_ints(blocks, "blocks", n, -1)
    event_array = None if events is None else _per_trial_ints(events, "events", n, 0)
    paths = _resolve_images(
        images, label_array, names, event_array, n, None if image_root is None else Path(image_root)
    )
    if image_ids is None:
        ids = _default_image_ids(paths)
    else:
        ids = [str(i) for i in image_ids]
        if len(ids) != n or not all(ids):
            raise ValueError(f"image_ids must hold {n} non-empty strings, got {len(ids)}")
    codes, split_record = _assign_splits(split, label_array, fractions, seed)

    load_image = make_image_loader(image_size)

    def rows(code: int):
        for i in np.flatnonzero(codes == code):
            row = {"eeg": np.ascontiguousarray(eeg[i], dtype=np.float32), "image": load_image(paths[i]),
                   "label": int(label_array[i]), "subject": int(subject_array[i]), "image_id": ids[i],
                   "block": int(block_array[i])}
            if split is not None:
                row["official_split"] = SPLIT_NAMES[code]
            yield row

    split_record["counts"] = {s: int((codes == k).sum()) for k, s in enumerate(SPLIT_NAMES)}
    info = {
        "name": name, "sfreq": float(sfreq), "ch_names": channels, "n_chans": n_chans, "n_times": n_times,
        "class_ids": None if class_ids is None else [str(c) for c in class_ids],
        "preprocessing": [preprocessing_step("from_arrays", source_dtype=str(eeg.dtype), dtype="float32"),
                          *image_steps(image_size)],
        "split": split_record, "simulated": False, "unit": unit, "source": "user-provided arrays",
        **dict(extra_info or {}),
    }
    extra = {"official_split": Value("string")} if split is not None else None
    return write_eeg_dataset(output_dir, {s: rows(k) for k, s in enumerate(SPLIT_NAMES)}, n_chans=n_chans,
                             n_times=n_times, class_names=names, info=info, extra_columns=extra,
                             batch_size=batch_size, overwrite=overwrite)


# --------------------------------------------------------------------------------------------------
# MNE Epochs and Raw recordings

METADATA_IMAGE_COLUMNS = ("image_id", "image")
"""`Epochs.metadata` columns read as each epoch's image when no column is named (first one present)."""


def _load_mne(source: Any) -> Any:
    """An MNE `Epochs` or `Raw` object as is, or read from a file by [`read_mne_file`]."""
    import mne

    if isinstance(source, (mne.BaseEpochs, mne.io.BaseRaw)):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_mne_file(source)
    raise ValueError(f"expected an mne Epochs or Raw object or a file path, got {type(source).__name__}")


def _event_keys(epochs: Any) -> list[tuple[int, list[str]]]:
    """(code, names) of every epoch's event."""
    names_of: dict[int, list[str]] = {}
    for event_name, code in epochs.event_id.items():
        names_of.setdefault(int(code), []).append(event_name)
    return [(int(code), names_of.get(int(code), [])) for code in epochs.events[:, 2]]


def _lookup(table: Mapping[Any, Any], code: int, names: list[str]) -> Any:
    for key in (code, *names):
        if key in table:
            return table[key]
    return None


def _metadata_images(epochs: Any, column: str | None, auto: bool) -> list[str] | None:
    """Each epoch's image id from the `column` of `epochs.metadata` (with `auto`: the first of
    `METADATA_IMAGE_COLUMNS` present), or `None` when not used."""
    metadata = epochs.metadata
    columns = [] if metadata is None else [str(c) for c in metadata.columns]
    if column is None:
        column = next((c for c in METADATA_IMAGE_COLUMNS if c in columns), None) if auto else None
        if column is None:
            return None
    elif column not in columns:
        raise ValueError(f"the epochs metadata has no column {column!r} (columns: {columns or 'no metadata'})")
    values = metadata[column].tolist()
    empty = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and np.isnan(v)) or not str(v)]
    if empty:
        raise ValueError(f"epoch {empty[0]}: metadata column {column!r} is empty")
    return [str(v) for v in values]


def convert_mne_epochs(
    epochs_or_path: Any,
    event_to_image: Mapping[str | int, str | os.PathLike] | None,
    output_dir: str | os.PathLike,
    *,
    class_of_event: Mapping[str | int, str] | None = None,
    class_names: Sequence[str] | None = None,
    picks: str | Sequence[str] = "data",
    tmin: float = -0.2,
    tmax: float = 0.5,
    baseline: tuple[float | None, float | None] | None = (None, 0),
    event_id: Mapping[str, int] | None = None,
    metadata_image_column: str | None = None,
    subject: int = 0,
    block: int = -1,
    image_root: str | os.PathLike | None = None,
    name: str = "custom-mne",
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    image_size: int | None = None,
    overwrite: bool = False,
    batch_size: int = 256,
) -> Any:
    """Write MNE epochs (or a raw recording, epoched here) and their images as an EEG-image `DatasetDict`.

    Sampling rate and channel names come from the recording; data are stored in volts (MNE's unit) as float32.
    A raw recording is cut into epochs (`tmin`, `tmax`, `baseline`) around its events: those of its stim
    channel, else its annotations; only events with an image in `event_to_image` are epoched.

    Args:
        epochs_or_path (`mne.BaseEpochs`, `mne.io.BaseRaw`, `str` or `os.PathLike`):
            The epochs or raw recording, or a file: `.fif` (Epochs or Raw), `.edf`, `.bdf`, `.vhdr`, `.set`.
        event_to_image (`Mapping`, *optional*):
            Event code (int) or event name (str) -> image path (relative paths are taken from `image_root`). With
            a metadata image column, the mapping is keyed by the column's values (image ids) instead. May be
            `None` when `epochs.metadata` names each epoch's image file.
        output_dir (`str` or `os.PathLike`):
            Folder to write.
        class_of_event (`Mapping`, *optional*):
            Event code or name -> class name. By default each event name is its own class.
        class_names (`Sequence[str]`, *optional*):
            Class order (default: order of first appearance in `class_of_event`, else of the event codes).
        picks (`str` or `Sequence[str]`, *optional*, defaults to `"data"`):
            Channels to keep (MNE `picks`: `"data"`, `"eeg"`, or a list of channel names).
        tmin (`float`, *optional*, defaults to -0.2), tmax (`float`, *optional*, defaults to 0.5):
            Epoch window around each event in seconds (raw recordings only).
        baseline (`tuple` or `None`, *optional*, defaults to `(None, 0)`):
            MNE baseline interval of the epoching (raw recordings only; `None`: no baseline correction).
        event_id (`Mapping[str, int]`, *optional*):
            Event name -> code, naming the stim-channel codes of a raw recording (names then work as mapping keys
            and default class names).
        metadata_image_column (`str`, *optional*):
            Column of `epochs.metadata` holding each epoch's image id (default when `event_to_image` is `None`:
            the first of `METADATA_IMAGE_COLUMNS` present). Its values are looked up in `event_to_image` when
            given, else taken as image files relative to `image_root`; they become the rows' `image_id`.
        subject (`int`, *optional*, defaults to 0):
            Subject of all epochs (0 = unknown).
        block (`int`, *optional*, defaults to -1):
            Block / session of all epochs (-1 = unknown).
        image_root (`str` or `os.PathLike`, *optional*):
            Folder relative image paths are relative to.
        name (`str`, *optional*, defaults to `"custom-mne"`):
            Dataset name in the metadata.
        val_fraction, test_fraction, seed:
            The seeded, class-stratified random split (see [`convert_arrays`]).
        image_size (`int`, *optional*):
            Resize images to this square size.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace a non-empty `output_dir`.
        batch_size (`int`, *optional*, defaults to 256):
            Rows per Arrow batch while writing.

    Returns:
        `datasets.DatasetDict` with splits `train`, `validation`, `test`.
    """
    import mne

    recording = _load_mne(epochs_or_path)
    if event_to_image is not None and (not isinstance(event_to_image, Mapping) or not event_to_image):
        raise ValueError("event_to_image must be a non-empty mapping of event code/name -> image path")
    images = None if event_to_image is None else {_mapping_key(k): v for k, v in event_to_image.items()}
    source = os.fspath(epochs_or_path) if isinstance(epochs_or_path, (str, os.PathLike)) else None
    extra: dict[str, Any] = {}
    if isinstance(recording, mne.io.BaseRaw):
        keep = None if images is None else (lambda code, names: _lookup(images, code, names) is not None)
        epochs = epochs_from_raw(recording, tmin=tmin, tmax=tmax, baseline=baseline, picks=picks, event_id=event_id,
                                 keep=keep)
        found, _, origin = raw_events(recording)
        extra["source"] = f"MNE raw recording ({Path(source).name if source else 'mne.io.Raw object'}), epoched"
        extra["epoching"] = {"tmin": float(tmin), "tmax": float(tmax),
                             "baseline": None if baseline is None else list(baseline),
                             "events_from": origin, "events_in_recording": len(found),
                             "epoched": len(epochs.drop_log), "dropped": len(epochs.drop_log) - len(epochs)}
        owned = True
    else:
        epochs, owned = recording, recording is not epochs_or_path  # read from a file here: no copy needed
        window = (tmin, tmax, None if baseline is None else tuple(baseline))
        if window != (-0.2, 0.5, (None, 0)) or event_id is not None:
            logger.warning("tmin, tmax, baseline and event_id apply to raw recordings; the epochs are used as they are")
        extra["source"] = f"MNE epochs ({Path(source).name if source else 'mne.Epochs object'})"
    keys = _event_keys(epochs)
    if not keys:
        raise ValueError("the epochs object holds no epochs")
    image_ids = _metadata_images(epochs, metadata_image_column, auto=images is None)
    if images is None and image_ids is None:
        raise ValueError("no images: give an event -> image mapping, or epochs whose metadata has an image column "
                         f"({' or '.join(METADATA_IMAGE_COLUMNS)}, or metadata_image_column=...)")
    per_trial_images, per_trial_classes = [], []
    classes = None if class_of_event is None else {_mapping_key(k): str(v) for k, v in class_of_event.items()}
    for i, (code, names) in enumerate(keys):
        if image_ids is None:
            image = _lookup(images, code, names)
            if image is None:
                raise ValueError(f"epoch {i}: event {code} {names} has no image in event_to_image")
        elif images is not None:
            image = images.get(_mapping_key(image_ids[i]))
            if image is None:
                raise ValueError(f"epoch {i}: image id {image_ids[i]!r} (epochs metadata) has no image in "
                                 "event_to_image")
        else:
            image = image_ids[i]
        per_trial_images.append(image)
        if classes is None:
            per_trial_classes.append(names[0] if names else str(code))
        else:
            cls = _lookup(classes, code, names)
            if cls is None:
                raise ValueError(f"epoch {i}: event {code} {names} has no class in class_of_event")
            per_trial_classes.append(cls)
    if class_names is None:
        order = list(dict.fromkeys(classes.values())) if classes is not None else []
        class_names = order + [c for c in dict.fromkeys(per_trial_classes) if c not in order]
    try:
        picked = epochs if owned else epochs.copy() if epochs.preload else epochs.copy().load_data()
        picked.pick(picks)
    except ValueError as err:
        raise ValueError(f"could not pick channels {picks!r} from the epochs: {err}") from None
    data = picked.get_data(copy=False, verbose="error").astype(np.float32)
    extra.update({"event_id": {k: int(v) for k, v in epochs.event_id.items()}, "tmin": float(epochs.tmin),
                  "baseline": None if epochs.baseline is None else [float(b) for b in epochs.baseline]})
    ds = convert_arrays(
        data, per_trial_classes, per_trial_images, output_dir, sfreq=float(epochs.info["sfreq"]),
        ch_names=picked.ch_names, class_names=class_names, subjects=np.full(len(keys), subject),
        blocks=np.full(len(keys), block), image_ids=image_ids, events=None, unit="V", name=name,
        image_root=image_root, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
        image_size=image_size, extra_info=extra, overwrite=overwrite, batch_size=batch_size,
    )
    return ds


# --------------------------------------------------------------------------------------------------
# Mapping files and CLI


def read_event_mapping(path: str | os.PathLike) -> tuple[dict[Any, Path], dict[Any, str] | None]:
    """Read an event -> image (and optional event -> class) mapping from a CSV or JSON file.

    CSV: a header with `event` and `image` columns and an optional `class` column. JSON: an object
    `{event: image}` or `{"images": {event: image}, "classes": {event: class}}`. Relative image paths are
    taken relative to the mapping file's folder.

    Returns:
        `(event_to_image, class_of_event)`; `class_of_event` is `None` when the file gives no classes.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mapping file {str(path)!r} does not exist")
    images: dict[Any, Any] = {}
    classes: dict[Any, str] | None = None
    if path.suffix.lower() == ".json":
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path.name} is not a JSON file: {err}") from None
        if isinstance(content, dict) and "images" in content:
            images, classes = content["images"], content.get("classes")
        else:
            images = content
        if not isinstance(images, dict) or (classes is not None and not isinstance(classes, dict)):
            raise ValueError(f"{path.name}: expected {{event: image}} or {{'images': {{...}}, 'classes': {{...}}}}")
    elif path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"event", "image"} <= set(reader.fieldnames):
                raise ValueError(
                    f"{path.name}: the CSV header must name 'event' and 'image' columns, got {reader.fieldnames}"
                )
            has_class = "class" in reader.fieldnames
            classes = {} if has_class else None
            for line, record in enumerate(reader, start=2):
                if not record["event"] or not record["image"]:
                    raise ValueError(f"{path.name} line {line}: empty event or image")
                images[record["event"]] = record["image"]
                if has_class:
                    classes[record["event"]] = record["class"]
    else:
        raise ValueError(f"{path.name}: mapping files must be .csv or .json")
    base = path.parent
    resolved = {_mapping_key(k): base / str(v) for k, v in images.items()}  # an absolute str(v) wins over base
    class_map = None if classes is None else {_mapping_key(k): str(v) for k, v in classes.items()}
    return resolved, class_map


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `eeg2img convert byo`."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--recording", help="an MNE file: .fif (Epochs or Raw), .edf, .bdf, .vhdr, .set (epochs or "
                        "raw); raw recordings are epoched around their events (stim channel, else annotations)")
    source.add_argument("--epochs", help="same as --recording (e.g. sub-01-epo.fif)")
    source.add_argument("--arrays", help=".npz with 'eeg' (n, C, T), 'labels', optional 'subjects', 'blocks', 'events'")
    parser.add_argument("--images",
                        help="CSV (event,image[,class]) or JSON mapping: event code/name (label with --arrays) "
                             "-> image; optional when the epochs metadata names each epoch's image")
    parser.add_argument("output_dir", help="folder to write (DatasetDict.save_to_disk layout)")
    parser.add_argument("--sfreq", type=float, help="sampling rate in Hz (--arrays only)")
    parser.add_argument("--ch-names", help="comma-separated channel names (--arrays only)")
    parser.add_argument("--unit", help="unit of the array values, e.g. uV or V, recorded in the metadata (--arrays "
                        "only; MNE recordings are in V)")
    parser.add_argument("--class-names", help="comma-separated class names in label order")
    parser.add_argument("--picks", help="channels to keep: comma-separated names or an MNE type such as eeg "
                        "(--recording; default: the data channels)")
    parser.add_argument("--tmin", type=float, help="epoch start in s relative to each event (raw recordings; "
                        "default -0.2)")
    parser.add_argument("--tmax", type=float, help="epoch end in s (raw recordings; default 0.5)")
    parser.add_argument("--baseline", help="baseline interval START,END in s, either end may be 'none' (the epoch's "
                        "edge), or 'none' for no correction (raw recordings; default none,0)")
    parser.add_argument("--event-id", help="names of stim-channel codes, e.g. face=10,house=20 (raw recordings)")
    parser.add_argument("--metadata-image-column", help="column of the epochs metadata naming each epoch's image "
                        f"(default without --images: {' or '.join(METADATA_IMAGE_COLUMNS)})")
    parser.add_argument("--image-root", help="folder of the image files the epochs metadata names (without --images; "
                        "default: the recording's folder)")
    parser.add_argument("--subject", type=int, default=0, help="subject of all epochs (--recording; 0 = unknown)")
    parser.add_argument("--name", help="dataset name recorded in the metadata")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random train/validation/test split")
    add_common_arguments(parser)


def _csv_list(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _parse_baseline(text: str) -> tuple[float | None, float | None] | None:
    """`"none"` -> `None`; `"-0.2,0"` / `"none,0"` -> `(start, end)` (`none` or empty: the epoch's edge)."""
    if text.strip().lower() == "none":
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (None if p.lower() in ("", "none") else float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--baseline expects START,END (e.g. none,0 or -0.2,0) or none, got {text!r}") from None
    return start, end


def _parse_event_id(text: str) -> dict[str, int]:
    """`"face=10,house=20"` -> `{"face": 10, "house": 20}`."""
    mapping = {}
    for part in _csv_list(text) or []:
        name, _, code = part.partition("=")
        if not name.strip() or not re.fullmatch(r"\s*[+-]?\d+\s*", code):
            raise ValueError(f"--event-id expects NAME=CODE pairs such as face=10,house=20, got {text!r}")
        mapping[name.strip()] = int(code)
    return mapping


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run `eeg2img convert byo` from parsed CLI arguments; returns the JSON summary."""
    images, classes = read_event_mapping(args.images) if args.images else (None, None)
    common = {"seed": args.seed, "image_size": args.image_size, "overwrite": args.overwrite,
              "batch_size": args.batch_size}
    recording = args.recording or args.epochs
    if recording:
        if args.sfreq is not None or args.ch_names or args.unit:
            raise ValueError("--sfreq, --ch-names and --unit apply to --arrays; MNE recordings carry their own")
        window = {k: v for k, v in (("tmin", args.tmin), ("tmax", args.tmax)) if v is not None}
        if args.baseline is not None:
            window["baseline"] = _parse_baseline(args.baseline)
        picks = args.picks if args.picks in (None, "data", "eeg", "all") else _csv_list(args.picks)
        root = None if images is not None else args.image_root or Path(recording).parent  # mapping paths: resolved
        ds = convert_mne_epochs(recording, images, args.output_dir, class_of_event=classes,
                                class_names=_csv_list(args.class_names), subject=args.subject, picks=picks or "data",
                                event_id=_parse_event_id(args.event_id) if args.event_id else None,
                                metadata_image_column=args.metadata_image_column, image_root=root,
                                name=args.name or "custom-mne", **window, **common)
    else:
        ds = _run_arrays(args, images, common)
    return summary(ds, args.output_dir)


def _run_arrays(args: argparse.Namespace, images: dict[Any, Path] | None, common: dict[str, Any]) -> Any:
    if args.sfreq is None or args.ch_names is None or args.class_names is None:
        raise ValueError("--arrays needs --sfreq, --ch-names and --class-names")
    if images is None:
        raise ValueError("--arrays needs --images (label or event -> image)")
    if Path(args.arrays).suffix.lower() != ".npz":
        raise ValueError(f"--arrays expects an .npz holding 'eeg' and 'labels', got {Path(args.arrays).name!r}")
    recording = read_eeg_file(args.arrays, sfreq=args.sfreq, ch_names=_csv_list(args.ch_names), unit=args.unit)
    arrays = recording.arrays
    missing = [k for k in ("eeg", "labels") if k not in arrays]
    if missing:
        raise ValueError(f"{Path(args.arrays).name} lacks arrays {missing} (has {sorted(arrays)})")
    return convert_arrays(arrays["eeg"], arrays["labels"], images, args.output_dir, sfreq=args.sfreq,
                          ch_names=_csv_list(args.ch_names), class_names=_csv_list(args.class_names),
                          subjects=arrays.get("subjects"), blocks=arrays.get("blocks"), events=arrays.get("events"),
                          unit=args.unit, name=args.name or "custom", **common)
