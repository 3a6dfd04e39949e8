"""The community Hub copy of EEGCVPR40 (`luigi-s/EEG_Image_CVPR_ALL_subj`, parquet) -> package schema.

Its columns (dataset viewer and the code of its users): the EEG trial as a 2-D array in
`conditioning_image` (128 channels x 440 samples; some copies store it time-major, 440 x 128, and some
call the column `eeg`), the stimulus `image`, a text `caption`, the class as a WordNet id in
`label_folder` and as an int in `label`, the `subject` (1..6), and the split as parquet file names
(`data/train-*.parquet`, `validation-*`, `test-*`) or a `split` column.

Mapping: `label` follows the WordNet id (the EEGCVPR40 class order, sorted WordNet ids) when
`label_folder` is present, else the int `label`; `block = (subject - 1) * 40 + label` as for EEGCVPR40
(every subject saw each class in one block); `official_split` is the source split; `caption` is kept
as an extra column; `image_id` is the image's file name stem when the parquet keeps it (e.g.
`n02106662_10232`), else the first 16 hex digits of the SHA-256 of the image bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..preprocessing import preprocessing_step, resize_image
from ..simulate import EEGCVPR40_CLASSES
from .byo import _SPLIT_ALIASES, SPLIT_NAMES, add_common_arguments, check_image_size, image_steps, summary
from .writer import write_eeg_dataset

__all__ = ["HUB_REPO_ID", "add_arguments", "convert_hub_parquet", "run"]

HUB_REPO_ID = "luigi-s/EEG_Image_CVPR_ALL_subj"
"""The community copy this converter maps."""

_N_CHANS = 128
_SFREQ = 1000.0
_EEG_COLUMNS = ("conditioning_image", "eeg")
_WNID = re.compile(r"n\d{8}")
_LAYOUTS = ("auto", "channels-first", "time-first")


def _class_table() -> tuple[list[str], list[str]]:
    return [wnid for wnid, _ in EEGCVPR40_CLASSES], [name for _, name in EEGCVPR40_CLASSES]


def _open_source(source: str | os.PathLike, revision: str | None) -> Any:
    """An `IterableDatasetDict` streaming the parquet files (local folder or file, or Hub id)."""
    import datasets

    path = Path(os.fspath(source))
    try:
        if path.is_file():
            if path.suffix.lower() != ".parquet":
                raise ValueError(f"{path.name} is not a .parquet file")
            split = _split_from_name(path.name) or "train"
            return datasets.load_dataset("parquet", data_files={split: str(path)}, streaming=True)
        if path.is_dir():
            if not any(path.rglob("*.parquet")):
                raise ValueError(f"no .parquet files under {str(path)!r}")
            return datasets.load_dataset(str(path), streaming=True)
        return datasets.load_dataset(os.fspath(source), revision=revision, streaming=True)
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - offline Hub, unknown repo, unreadable parquet: one clear error
        raise ValueError(f"could not open {os.fspath(source)!r} as parquet files or a Hub dataset "
                         f"({type(err).__name__}: {err})") from None


def _split_from_name(name: str) -> str | None:
    match = re.match(r"^([a-z]+)", name.lower())
    return _SPLIT_ALIASES.get(match.group(1)) if match else None


def _undecoded(split: Any) -> Any:
    """The split with images as `{"bytes", "path"}` dicts (never decoded to PIL)."""
    from datasets import Image

    features = split.features
    if features is not None and isinstance(features.get("image"), Image):
        return split.cast_column("image", Image(decode=False))
    return split


def _eeg_array(value: Any, layout: str, where: str) -> tuple[np.ndarray, str]:
    array = np.asarray(value.get("array") if isinstance(value, dict) else value)
    if array.ndim != 2 or array.dtype.kind not in "iuf":
        raise ValueError(f"{where}: EEG must be a 2-D numeric array, got shape {array.shape} dtype {array.dtype}")
    if layout == "auto":
        if array.shape[0] == _N_CHANS and array.shape[1] != _N_CHANS:
            layout = "channels-first"
        elif array.shape[1] == _N_CHANS and array.shape[0] != _N_CHANS:
            layout = "time-first"
        else:
            raise ValueError(f"{where}: cannot tell channels from samples in an EEG of shape {array.shape}; "
                             "pass eeg_layout='channels-first' or 'time-first'")
    eeg = array.T if layout == "time-first" else array
    if eeg.shape[0] != _N_CHANS:
        raise ValueError(f"{where}: expected {_N_CHANS} channels with eeg_layout={layout!r}, got shape {array.shape}")
    return np.ascontiguousarray(eeg, dtype=np.float32), layout


def _image(value: Any, where: str) -> tuple[bytes, str | None]:
    if isinstance(value, dict) and isinstance(value.get("bytes"), (bytes, bytearray)):
        return bytes(value["bytes"]), value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), None
    raise ValueError(f"{where}: 'image' must hold encoded image bytes, got {type(value).__name__}")


class _RowMapper:
    """Maps source rows to package rows, checking each one (the messages name the source split and row)."""

    def __init__(self, columns: list[str], eeg_column: str, layout: str, image_size: int | None) -> None:
        self.wnids, _ = _class_table()
        self.index = {wnid: i for i, wnid in enumerate(self.wnids)}
        self.columns, self.eeg_column, self.layout = columns, eeg_column, layout
        self.image_size = image_size
        self.has_caption = "caption" in columns

    def label(self, row: dict[str, Any], where: str) -> int:
        if "label_folder" in self.columns:
            wnid = str(row["label_folder"])
            if wnid not in self.index:
                raise ValueError(f"{where}: label_folder {wnid!r} is not one of the 40 EEGCVPR40 WordNet ids")
            return self.index[wnid]
        label = row.get("label")
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(self.wnids):
            raise ValueError(f"{where}: 'label' must be an int in 0..39, got {label!r}")
        return int(label)

    def __call__(self, row: dict[str, Any], official: str, where: str) -> dict[str, Any]:
        eeg, self.layout = _eeg_array(row[self.eeg_column], self.layout, where)
        label = self.label(row, where)
        subject = row.get("subject")
        if isinstance(subject, bool) or not isinstance(subject, (int, np.integer)) or subject < 0:
            raise ValueError(f"{where}: 'subject' must be a non-negative int, got {subject!r}")
        data, path = _image(row["image"], where)
        stem = Path(path).stem if path else ""
        image_id = stem if stem else hashlib.sha256(data).hexdigest()[:16]
        if self.image_size is not None:
            data = _resized(data, self.image_size, where)
        out = {"eeg": eeg, "image": data, "label": label, "subject": int(subject), "image_id": image_id,
               "block": (int(subject) - 1) * len(self.wnids) + label if subject > 0 else -1,
               "official_split": official}
        if self.has_caption:
            out["caption"] = "" if row.get("caption") is None else str(row["caption"])
        return out


def _resized(data: bytes, size: int, where: str) -> bytes:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            resized = resize_image(image, size)
    except (OSError, SyntaxError) as err:
        raise ValueError(f"{where}: image is not readable: {err}") from None
    buffer = io.BytesIO()
    resized.save(buffer, format="PNG")
    return buffer.getvalue()


def _source_rows(source: Any, has_split_column: bool) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(row, official split, where) over every source split, in the source's order."""
    for split_name, split in source.items():
        for i, row in enumerate(_undecoded(split)):
            where = f"source split {split_name!r} row {i}"
            official = str(row["split"]) if has_split_column else split_name
            normalised = _SPLIT_ALIASES.get(official.lower())
            if normalised is None:
                raise ValueError(f"{where}: split {official!r} is not train/validation/test")
            yield row, normalised, where


def convert_hub_parquet(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    revision: str | None = None,
    eeg_column: str | None = None,
    eeg_layout: str = "auto",
    image_size: int | None = None,
    overwrite: bool = False,
    batch_size: int = 256,
) -> Any:
    """Convert the parquet copy of EEGCVPR40 (`luigi-s/EEG_Image_CVPR_ALL_subj`) to the package schema.

    Args:
        source (`str` or `os.PathLike`):
            A local folder of its parquet files (e.g. a `huggingface-cli download` of the repo), one parquet
            file, or the Hub id (read with `datasets.load_dataset(..., streaming=True)`).
        output_dir (`str` or `os.PathLike`):
            Folder to write (see [`write_eeg_dataset`]).
        revision (`str`, *optional*):
            Hub revision (commit, branch or tag) when `source` is a Hub id.
        eeg_column (`str`, *optional*):
            Column with the EEG (default: `conditioning_image`, else `eeg`).
        eeg_layout (`str`, *optional*, defaults to `"auto"`):
            `"channels-first"` (128 x T), `"time-first"` (T x 128) or `"auto"` (the axis of length 128 is
            the channel axis).
        image_size (`int`, *optional*):
            Resize images to `image_size x image_size` RGB (default: store them unchanged).
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace a non-empty `output_dir`.
        batch_size (`int`, *optional*, defaults to 256):
            Rows per Arrow batch while writing.

    Returns:
        `datasets.DatasetDict` with splits `train`, `validation`, `test` (the source's official split,
        also in the `official_split` column).
    """
    from datasets import Value

    if eeg_layout not in _LAYOUTS:
        raise ValueError(f"eeg_layout must be one of {_LAYOUTS}, got {eeg_layout!r}")
    image_size = check_image_size(image_size)
    ds = _open_source(source, revision)
    first_split = next(iter(ds.values()))
    try:
        first = next(iter(_undecoded(first_split)))
    except StopIteration:
        raise ValueError(f"{os.fspath(source)!r} holds no rows") from None
    columns = list(first)
    eeg_column = eeg_column or next((c for c in _EEG_COLUMNS if c in columns), None)
    missing = [c for c in (eeg_column, "image", "subject") if c is None or c not in columns]
    if "label_folder" not in columns and "label" not in columns:
        missing.append("label_folder or label")
    if missing:
        raise ValueError(f"the source lacks columns {missing} (has {columns}); EEG is read from one of "
                         f"{list(_EEG_COLUMNS)} or eeg_column")
    eeg, layout = _eeg_array(first[eeg_column], eeg_layout, "first row")
    n_times = eeg.shape[1]
    mapper = _RowMapper(columns, eeg_column, layout, image_size)
    has_split_column = "split" in columns

    def rows(split: str):
        for row, official, where in _source_rows(ds, has_split_column):
            if official == split:
                yield mapper(row, official, where)

    wnids, names = _class_table()
    info = {
        "name": "eegcvpr40", "sfreq": _SFREQ, "ch_names": [f"E{i}" for i in range(1, _N_CHANS + 1)],
        "n_chans": _N_CHANS, "n_times": int(n_times), "class_ids": wnids,
        "preprocessing": [
            preprocessing_step("from_hub_parquet", repo_id=HUB_REPO_ID, eeg_column=eeg_column, eeg_layout=layout,
                               dtype="float32",
                               note="as distributed in the parquet copy (crop/filtering done by its author, "
                                    "not documented)"),
            *image_steps(image_size),
        ],
        "split": {"strategy": "paper", "source": "the split column" if has_split_column else "parquet split names",
                  "note": "the official EEGCVPR40 split by image (all subjects' trials of an image in one split); "
                          "class blocks are shared by all splits (block-design confound)"},
        "simulated": False,
        "source": f"{os.fspath(source)} (the Hub copy {HUB_REPO_ID} of EEGCVPR40, Spampinato et al. 2017)",
        "license": "none stated by the EEGCVPR40 authors; images from ImageNet (research use)",
        "citation": "Spampinato, Palazzo, Kavasidis, Giordano, Souly, Shah (2017). Deep Learning Human Mind for "
                    "Automated Visual Classification. CVPR 2017.",
        "block_rule": "(subject - 1) * 40 + label",
    }
    extra = {"official_split": Value("string")}
    if mapper.has_caption:
        extra["caption"] = Value("string")
    written = write_eeg_dataset(output_dir, {s: rows(s) for s in SPLIT_NAMES}, n_chans=_N_CHANS, n_times=int(n_times),
                                class_names=names, info=info, extra_columns=extra, batch_size=batch_size,
                                overwrite=overwrite)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `eeg2img convert hub-parquet`."""
    parser.add_argument("source", help=f"local folder (or file) of the parquet files, or the Hub id {HUB_REPO_ID}")
    parser.add_argument("output_dir", help="folder to write (DatasetDict.save_to_disk layout)")
    parser.add_argument("--revision", help="Hub revision when source is a Hub id")
    parser.add_argument("--eeg-column", help="column holding the EEG (default: conditioning_image or eeg)")
    parser.add_argument("--eeg-layout", choices=_LAYOUTS, default="auto", help="orientation of the stored EEG")
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run `eeg2img convert hub-parquet` from parsed CLI arguments; returns the JSON summary."""
    ds = convert_hub_parquet(args.source, args.output_dir, revision=args.revision, eeg_column=args.eeg_column,
                             eeg_layout=args.eeg_layout, image_size=args.image_size, overwrite=args.overwrite,
                             batch_size=args.batch_size)
    return summary(ds, args.output_dir)
