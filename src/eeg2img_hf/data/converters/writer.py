"""Stream rows of a real EEG-image dataset to disk in the `DatasetDict.save_to_disk` layout.

Converters of real sources produce rows one at a time (a trial and its image); [`write_eeg_dataset`]
validates each row, packs them in batches straight into Arrow arrays (the `eeg` column is stored
zero-copy from one block per batch, as the simulator does; float32, or float64 when asked) and writes one Arrow IPC
stream per split, so memory stays at one batch whatever the dataset size. The folder is built in a
temporary sibling and moved into place only once every split is written and reloads cleanly, so a
failed conversion never leaves a half-written dataset nor touches an existing one.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from datasets import Dataset, DatasetDict, DatasetInfo, Features, NamedSplit, load_from_disk
from datasets.arrow_writer import ArrowWriter
from datasets.features.features import FeatureType
from datasets.fingerprint import generate_random_fingerprint
from datasets.utils.py_utils import asdict
from PIL import Image as PILImage

from ...utils.outputs import make_staging_dir, prepare_output_dir, remove_staging_dir, replace_folder, write_marker
from ...utils.progress import progress_bar
from ..features import REQUIRED_COLUMNS, eeg_arrow, make_features, set_eeg_info, validate_eeg_dataset

__all__ = ["encode_image", "write_eeg_dataset"]

_SPLIT_NAME = re.compile(r"^\w+$")
_DATA_FILE = "data-00000-of-00001.arrow"


def encode_image(image: bytes | str | os.PathLike | PILImage.Image, *, where: str = "image") -> bytes:
    """Encoded bytes of an image given as encoded bytes, a file path or a `PIL.Image.Image`.

    Bytes and files are kept as they are (a JPEG stays the same JPEG); a PIL image is encoded as PNG.
    The header is checked so that a corrupt or non-image payload is refused here, not at training time.

    Args:
        image (`bytes`, `str`, `os.PathLike` or `PIL.Image.Image`):
            The image.
        where (`str`, *optional*, defaults to `"image"`):
            Names the image in error messages (e.g. `"split 'train' row 3"`).

    Returns:
        `bytes`: the encoded image (JPEG, PNG, ...).
    """
    if isinstance(image, PILImage.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise ValueError(f"{where}: image file {str(path)!r} does not exist")
        data = path.read_bytes()
        where = f"{where}: image file {str(path)!r}"
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    else:
        kind = type(image).__name__
        raise ValueError(f"{where}: image must be encoded bytes, a file path or a PIL.Image, got {kind}")
    try:
        with PILImage.open(io.BytesIO(data)) as opened:  # reads the header only
            opened.size  # noqa: B018
    except Exception as err:  # noqa: BLE001 - any decoder failure means "not an image"
        raise ValueError(f"{where}: image is not a readable image file ({type(err).__name__}: {err})") from None
    return data


def _check_int(value: Any, name: str, where: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{where}: {name!r} must be an int, got {type(value).__name__} {value!r:.50}")
    return int(value)


class _SplitBuffer:
    """Rows of one batch of one split, validated and ready to become an Arrow table."""

    def __init__(self, features: Features, extra: Sequence[str], batch_size: int) -> None:
        self.features, self.extra, self.batch_size = features, list(extra), batch_size
        self.n_chans, self.n_times = features["eeg"].shape
        self.n_classes = features["label"].num_classes
        self.reset()

    def reset(self) -> None:
        self.eeg = np.empty((self.batch_size, self.n_chans, self.n_times), dtype=self.features["eeg"].dtype)
        self.columns: dict[str, list] = {name: [] for name in ("image", "label", "subject", "image_id", "block")}
        self.columns.update({name: [] for name in self.extra})
        self.first_row = 0
        self.size = 0

    def add(self, row: Any, where: str) -> None:
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}: a row must be a dict, got {type(row).__name__}")
        expected = set(REQUIRED_COLUMNS) | set(self.extra)
        if set(row) != expected:
            missing, unknown = sorted(expected - set(row)), sorted(set(row) - expected)
            raise ValueError(f"{where}: row keys differ from the columns: missing {missing}, unexpected {unknown}")
        eeg = row["eeg"]
        if not isinstance(eeg, np.ndarray) or eeg.dtype != self.eeg.dtype:
            kind = f"{type(eeg).__name__} of dtype {getattr(eeg, 'dtype', None)}"
            raise ValueError(f"{where}: 'eeg' must be a {self.eeg.dtype} numpy array, got {kind}")
        if eeg.shape != (self.n_chans, self.n_times):
            raise ValueError(f"{where}: 'eeg' has shape {eeg.shape}, expected {(self.n_chans, self.n_times)}")
        label = _check_int(row["label"], "label", where)
        if not 0 <= label < self.n_classes:
            raise ValueError(f"{where}: label {label} is outside 0..{self.n_classes - 1}")
        image_id = row["image_id"]
        if not isinstance(image_id, str) or not image_id:
            raise ValueError(f"{where}: 'image_id' must be a non-empty str, got {image_id!r:.50}")
        self.eeg[self.size] = eeg
        self.columns["image"].append(encode_image(row["image"], where=where))
        self.columns["label"].append(label)
        self.columns["subject"].append(_check_int(row["subject"], "subject", where))
        self.columns["image_id"].append(image_id)
        self.columns["block"].append(_check_int(row["block"], "block", where))
        for name in self.extra:
            self.columns[name].append(row[name])
        self.size += 1

    def table(self, split: str) -> pa.Table:
        eeg = self.eeg[: self.size]
        finite = np.isfinite(eeg).all(axis=(1, 2))
        if not finite.all():
            bad = self.first_row + int(np.flatnonzero(~finite)[0])
            raise ValueError(f"split {split!r} row {bad}: 'eeg' contains NaN or infinite values")
        schema = self.features.arrow_schema
        image_type = schema.field("image").type
        images = self.columns["image"]
        arrays = {
            "eeg": eeg_arrow(eeg, schema.field("eeg").type),
            "image": pa.StructArray.from_arrays(
                [pa.array(images, type=pa.binary()), pa.nulls(len(images), type=pa.string())], fields=list(image_type)
            ),
        }
        for name in ("label", "subject", "image_id", "block", *self.extra):
            try:
                arrays[name] = pa.array(self.columns[name], type=schema.field(name).type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as err:
                rows = f"rows {self.first_row}..{self.first_row + self.size - 1}"
                raise ValueError(f"split {split!r} {rows}: column {name!r} does not fit its type: {err}") from None
        return pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema)


def _write_split(directory: Path, split: str, rows: Iterable[dict], features: Features, extra: list[str],
                 batch_size: int) -> int:
    """Write one split as `<directory>/<split>/data-00000-of-00001.arrow`; returns the number of rows."""
    (directory / split).mkdir()
    buffer = _SplitBuffer(features, extra, batch_size)
    writer = ArrowWriter(features=features, path=str(directory / split / _DATA_FILE))
    progress = progress_bar(len(rows) if isinstance(rows, Sized) else None, desc=f"writing split {split!r} (rows)")
    n_rows = 0
    try:
        for row in rows:
            buffer.add(row, f"split {split!r} row {n_rows}")
            n_rows += 1
            if buffer.size == batch_size:
                writer.write_table(buffer.table(split))
                progress.update(buffer.size)
                buffer.reset()
                buffer.first_row = n_rows
        if buffer.size:
            writer.write_table(buffer.table(split))
            progress.update(buffer.size)
        writer.finalize()
    finally:
        writer.close()
    progress.close()  # the final line only for a split written whole (a refusal stays one or two lines)
    return n_rows


def _write_split_metadata(directory: Path, split: str, features: Features, info: dict[str, Any]) -> None:
    """The `state.json` and `dataset_info.json` that `Dataset.save_to_disk` writes beside its shards."""
    dataset = Dataset.from_file(str(directory / split / _DATA_FILE), info=DatasetInfo(features=features),
                                split=NamedSplit(split))
    set_eeg_info(dataset, info)
    state = {
        "_data_files": [{"filename": _DATA_FILE}],
        "_fingerprint": generate_random_fingerprint(),
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": split,
    }
    (directory / split / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    as_dict = asdict(dataset.info)
    sorted_info = {key: as_dict[key] for key in sorted(as_dict)}
    (directory / split / "dataset_info.json").write_text(json.dumps(sorted_info, indent=2), encoding="utf-8")


def _check_output_dir(output_dir: Path, overwrite: bool, inputs: Any = None) -> Path:
    """Refuse an output that overlaps an input, is a file, or is a non-empty folder this package did not write
    as a dataset (see [`eeg2img_hf.utils.outputs`]); an own dataset folder is replaced only with `overwrite`."""
    return prepare_output_dir(output_dir, command="convert", kind="dataset", inputs=inputs, overwrite=overwrite,
                              what="output_dir")


def _build_features(n_chans: int, n_times: int, class_names: Sequence[str],
                    extra_columns: Mapping[str, FeatureType] | None, eeg_dtype: str) -> tuple[Features, list[str]]:
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise ValueError(f"class_names must be a sequence of str, got {type(class_names).__name__}")
    features = make_features(n_chans, n_times, list(class_names), eeg_dtype=eeg_dtype)
    extra = dict(extra_columns or {})
    for name, feature in extra.items():
        if not isinstance(name, str) or not name.isidentifier() or name in features:
            raise ValueError(f"extra column name {name!r} must be a new identifier (not one of {list(features)})")
        try:
            features[name] = feature
            features.arrow_schema  # noqa: B018 - fails for objects that are not datasets features
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"extra column {name!r}: {feature!r} is not a datasets feature type ({err})") from None
    return features, list(extra)


def write_eeg_dataset(
    output_dir: str | os.PathLike,
    splits: Mapping[str, Iterable[dict]],
    *,
    n_chans: int,
    n_times: int,
    class_names: Sequence[str],
    info: dict[str, Any],
    extra_columns: Mapping[str, FeatureType] | None = None,
    batch_size: int = 256,
    overwrite: bool = False,
    inputs: Any = None,
    command: str = "convert",
    eeg_dtype: str = "float32",
) -> DatasetDict:
    """Write an EEG-image `DatasetDict` to disk from streams of rows, validating every row.

    Rows are packed `batch_size` at a time into Arrow arrays and appended to one Arrow file per split, so
    the whole dataset is never held in memory. The result is the `DatasetDict.save_to_disk` layout (load
    it with `datasets.load_from_disk` or [`load_eeg_dataset`]) with `info` stored by [`set_eeg_info`].

    Args:
        output_dir (`str` or `os.PathLike`):
            Folder to write. An existing non-empty folder is refused unless `overwrite=True`; even then
            the new dataset is built in a temporary sibling folder and replaces the old one only on success.
        splits (`Mapping[str, Iterable[dict]]`):
            Split name (`"train"`, `"validation"`, `"test"`, ...) -> rows. A row is a dict with `"eeg"`
            (`np.ndarray` of `eeg_dtype` and shape `(n_chans, n_times)`, finite), `"image"` (encoded image bytes,
            an image file path or a `PIL.Image.Image`), `"label"` (`int` in `0..len(class_names) - 1`),
            `"subject"` (`int`), `"image_id"` (non-empty `str`), `"block"` (`int`), plus one value per extra column.
        n_chans (`int`):
            Number of EEG channels.
        n_times (`int`):
            Number of time samples per trial.
        class_names (`Sequence[str]`):
            Readable class names in label order.
        info (`dict`):
            JSON-serialisable EEG metadata (see [`get_eeg_info`]).
        extra_columns (`Mapping[str, FeatureType]`, *optional*):
            Additional columns and their `datasets` feature types, e.g. `{"official_split": Value("string")}`.
        batch_size (`int`, *optional*, defaults to 256):
            Rows per Arrow batch (memory holds one batch of EEG at a time).
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace an existing non-empty `output_dir`, which must be a dataset folder this package wrote.
        inputs (*optional*):
            Input paths (or `{argument name: path}`): an `output_dir` equal to, inside or containing one is refused.
        command (`str`, *optional*, defaults to `"convert"`):
            Recorded in the folder's ownership marker (see [`eeg2img_hf.utils.outputs`]).
        eeg_dtype (`str`, *optional*, defaults to `"float32"`):
            Storage dtype of the `eeg` column (`"float32"` or `"float64"`); every row's `eeg` must have it.

    Returns:
        `datasets.DatasetDict`: the written dataset, memory-mapped from `output_dir`.

    Raises:
        `ValueError`: bad arguments, an existing output folder without `overwrite`, or an invalid row
        (the message names the split and the row number).
    """
    output_dir = _check_output_dir(Path(output_dir), overwrite, inputs)
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError(f"splits must be a non-empty mapping of split name -> rows, got {type(splits).__name__}")
    bad_names = [name for name in splits if not isinstance(name, str) or not _SPLIT_NAME.match(name)]
    if bad_names:
        raise ValueError(f"split names must be non-empty words like 'train', got {bad_names}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(info, dict):
        raise ValueError(f"info must be a dict, got {type(info).__name__}")
    try:
        json.dumps(info, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"info must be JSON-serialisable: {err}") from None
    features, extra = _build_features(n_chans, n_times, class_names, extra_columns, eeg_dtype)

    staging = make_staging_dir(output_dir)
    try:
        for split, rows in splits.items():
            _write_split(staging, split, rows, features, extra, batch_size)
            _write_split_metadata(staging, split, features, info)
        (staging / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}), encoding="utf-8")
        validate_eeg_dataset(load_from_disk(str(staging)))
        write_marker(staging, command=command, kind="dataset")
        _replace_folder(staging, output_dir)
    except BaseException:
        remove_staging_dir(staging)
        raise
    return load_from_disk(str(output_dir))


def _replace_folder(new: Path, target: Path) -> None:
    """Move `new` to `target`; an existing `target` is replaced only if it is a dataset this package wrote (moved
    aside first and deleted only afterwards)."""
    replace_folder(new, target, kind="dataset")
