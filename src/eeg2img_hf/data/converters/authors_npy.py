"""EEGCVPR40 as the EEGStyleGAN-ADA authors distribute it: one pickled `.npy` object array per trial.

Layout: `<root>/{train,val,test}/*.npy` or `<root>/{train,val,test}/<class>/*.npy`; each file is an
object array `[image (H, W, 3) uint8 RGB, eeg (128, 440) float, label int, image_id str, subject int]`
(docs/authors-code.md, 'Data formats'). The folder gives the official split (`val` -> `validation`). The
authors cropped and additionally min-max normalised every signal when they made the files (the exact procedure is
unpublished), which the metadata records.

Object `.npy` files are pickles, and a pickle can run arbitrary code when loaded. [`convert_authors_npy`]
refuses them unless `trust_pickle=True`, and even then reads them with a restricted unpickler that
only rebuilds numpy arrays, numpy scalars and plain Python values (any other global is refused).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict, Value
from PIL import Image

from ...utils.safe_pickle import _NUMPY_ALLOWED, UnsafePickleError, _codecs_encode
from ..preprocessing import preprocessing_step
from ..simulate import EEGCVPR40_CLASSES
from .eegcvpr40 import CITATION, SFREQ
from .writer import encode_image, write_eeg_dataset

__all__ = ["add_arguments", "convert_authors_npy", "load_object_npy", "run"]

_SPLIT_FOLDERS = {"train": "train", "val": "validation", "test": "test"}
_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
_MAX_FILE_BYTES = 256 * 1024**2
TRUST_PICKLE_HELP = (
    "The authors' .npy files are Python pickles (numpy object arrays), and loading a pickle can execute "
    "arbitrary code hidden in the file. Pass trust_pickle=True (CLI: --trust-pickle) only for files from a "
    "source you trust; they are then read with a restricted unpickler that rebuilds numpy arrays, numpy "
    "scalars and plain Python values only, and refuses anything else."
)


def _object_or_plain_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """`numpy.dtype` for the object container itself (`"O8"`) or a plain numeric/string dtype."""
    if isinstance(spec, (str, bytes)) and (spec.decode("latin1") if isinstance(spec, bytes) else spec) in ("O", "O8"):
        return np.dtype("O")
    return _NUMPY_ALLOWED["dtype"](spec, align, copy)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays (object containers included), numpy scalars and builtins; refuses any other global.

    Reuses the checked numpy constructors of `eeg2img_hf.utils.safe_pickle`. Elements of an object array
    are unpickled by this same unpickler, so they obey the same allow-list.
    """

    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_MODULES and name == "dtype":
            return _object_or_plain_dtype
        if module in _NUMPY_MODULES and name in _NUMPY_ALLOWED:
            return _NUMPY_ALLOWED[name]
        if (module, name) == ("_codecs", "encode"):
            return _codecs_encode
        raise UnsafePickleError(f"refused global {module}.{name}: only numpy data is accepted in an authors' .npy file")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refused persistent id {pid!r:.100}")


def load_object_npy(path: str | os.PathLike, *, trust_pickle: bool = False) -> np.ndarray:
    """Read an object-array `.npy` file with the numpy-only restricted unpickler.

    Args:
        path (`str` or `os.PathLike`):
            The `.npy` file (written by `np.save(..., allow_pickle=True)`).
        trust_pickle (`bool`, *optional*, defaults to `False`):
            Must be `True`: the file is a pickle (see `TRUST_PICKLE_HELP`).

    Returns:
        `np.ndarray` of dtype object.
    """
    path = Path(path)
    if not trust_pickle:
        raise ValueError(f"{path.name}: refused without trust_pickle. {TRUST_PICKLE_HELP}")
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise ValueError(f"{path.name} is larger than {_MAX_FILE_BYTES} bytes; one trial is a few MB at most")
    with path.open("rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        except ValueError as err:
            raise ValueError(f"{path.name} is not a .npy file ({err})") from None
        if not dtype.hasobject:
            raise ValueError(f"{path.name} holds a plain {dtype} array {shape}, not the authors' object array")
        try:
            array = _NumpyOnlyUnpickler(handle).load()
        except UnsafePickleError as err:
            raise ValueError(f"{path.name} was refused: {err}") from None
        except Exception as err:  # noqa: BLE001 - malformed pickles of any kind become one clear error
            kind = type(err).__name__
            raise ValueError(f"{path.name} could not be read as a pickled object array ({kind})") from None
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise ValueError(f"{path.name}: the pickle does not match its .npy header (shape {shape})")
    return array


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _parse_trial(array: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, int, str, int]:
    """Check `[image, eeg, label, image_id, subject]`; returns them (eeg as float32)."""
    if array.ndim != 1 or len(array) != 5:
        raise ValueError(f"{name}: expected [image, eeg, label, image_id, subject], got shape {array.shape}")
    image, eeg, label, image_id, subject = list(array)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name}: the image must be an (H, W, 3) uint8 RGB array, got {desc}")
    if not isinstance(eeg, np.ndarray) or eeg.ndim != 2 or eeg.dtype.kind != "f":
        desc = f"{eeg.shape} {eeg.dtype}" if isinstance(eeg, np.ndarray) else type(eeg).__name__
        raise ValueError(f"{name}: the EEG must be a 2-D float array (n_chans, n_times), got {desc}")
    if not np.isfinite(eeg).all():
        raise ValueError(f"{name}: the EEG contains NaN or infinite values")
    if not _is_int(label) or not _is_int(subject):
        raise ValueError(f"{name}: label and subject must be ints, got {label!r:.30} and {subject!r:.30}")
    if not isinstance(image_id, str) or not image_id:
        raise ValueError(f"{name}: image_id must be a non-empty str, got {image_id!r:.40}")
    return image, eeg, int(label), str(image_id), int(subject)


def _find_files(root: Path) -> dict[str, list[Path]]:
    if not root.is_dir():
        raise ValueError(f"root {str(root)!r} is not a folder")
    found = {}
    for folder, split in _SPLIT_FOLDERS.items():
        if (root / folder).is_dir():
            found[split] = sorted((root / folder).glob("*.npy")) + sorted((root / folder).glob("*/*.npy"))
    if not any(found.values()):
        raise ValueError(f"{str(root)!r} has no .npy files in train/, val/ or test/ (or in their class subfolders)")
    return found


def _file_name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _rows(files: list[Path], split: str, first: np.ndarray, class_ids: Sequence[str],
          digests: dict[str, str]) -> Iterator[dict]:
    for path in files:
        name = _file_name(path)
        image, eeg, label, image_id, subject = _parse_trial(load_object_npy(path, trust_pickle=True), name)
        if eeg.shape != first.shape or eeg.dtype != first.dtype:
            raise ValueError(f"{name}: EEG {eeg.shape} {eeg.dtype} differs from the first file's {first.shape} "
                             f"{first.dtype}")
        prefix = image_id.split("_")[0]
        if 0 <= label < len(class_ids) and prefix.startswith("n") and prefix != class_ids[label]:
            raise ValueError(f"{name}: image {image_id!r} has label {label} = {class_ids[label]!r} in the class order "
                             "used; pass class_ids in the authors' label order")
        if subject < 1:
            raise ValueError(f"{name}: subject {subject}; EEGCVPR40 subjects are numbered from 1")
        digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).hexdigest()
        if digests.setdefault(image_id, digest) != digest:
            raise ValueError(f"{name}: image_id {image_id!r} appears with different pixels in another file")
        png = encode_image(Image.fromarray(np.ascontiguousarray(image)))  # (H, W, 3) uint8 -> RGB
        yield {"eeg": eeg.astype(np.float32, copy=False), "image": png, "label": label,
               "subject": subject, "image_id": image_id, "block": (subject - 1) * len(class_ids) + label,
               "official_split": split}


def convert_authors_npy(
    root: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    trust_pickle: bool = False,
    class_ids: Sequence[str] | None = None,
    variant: str | None = None,
    overwrite: bool = False,
) -> DatasetDict:
    """Convert the authors' per-trial `.npy` folders of EEGCVPR40 to the package schema.

    Args:
        root (`str` or `os.PathLike`):
            Folder with `train/`, `val/`, `test/` (e.g. `eeg_imagenet40_cvpr_2017_raw`).
        output_dir (`str` or `os.PathLike`):
            Folder to write (the `DatasetDict.save_to_disk` layout).
        trust_pickle (`bool`, *optional*, defaults to `False`):
            The files are pickles; without `True` they are refused (see `TRUST_PICKLE_HELP`). With it, they
            are still read by a numpy-only restricted unpickler.
        class_ids (`Sequence[str]`, *optional*):
            WordNet ids in the authors' label order; defaults to the 40 EEGCVPR40 ids in sorted order. Every
            image id `"<wnid>_<n>"` is checked against it.
        variant (`str`, *optional*):
            Recorded in the metadata (defaults to the root folder name).
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace an existing non-empty `output_dir`.

    Returns:
        `datasets.DatasetDict` with the splits found (`train`, `validation`, `test`) and an `official_split` column.
    """
    root = Path(root)
    if not trust_pickle:
        raise ValueError(f"refused to read the .npy files under {str(root)!r}. {TRUST_PICKLE_HELP}")
    files = _find_files(root)
    class_ids = list(class_ids) if class_ids is not None else [wnid for wnid, _ in EEGCVPR40_CLASSES]
    names = dict(EEGCVPR40_CLASSES)
    first_file = next(f for split_files in files.values() for f in split_files)
    first = _parse_trial(load_object_npy(first_file, trust_pickle=True), _file_name(first_file))[1]
    eeg_shape = first.shape
    info = {
        "name": "eegcvpr40",
        "variant": variant or root.name,
        "source_file": root.name,
        "sfreq": SFREQ,
        "ch_names": [f"EEG{k:03d}" for k in range(1, eeg_shape[0] + 1)],
        "ch_names_note": "channel names are not in the source files: EEG001.. are placeholders in file order",
        "n_chans": eeg_shape[0],
        "n_times": eeg_shape[1],
        "class_ids": class_ids,
        "preprocessing": [
            preprocessing_step("crop", start=20, stop=460, sfreq=SFREQ, applied_by="authors (assumed from the "
                               "128 x 440 shape; the conversion script is unpublished)"),
            preprocessing_step("min_max_normalise", applied_by="authors", per="signal",
                               note="the authors normalised each signal when making the .npy files (the first "
                               "author's note); the exact procedure is unknown and the values differ from the "
                               "official .pth"),
        ],
        "split": {"strategy": "paper", "source": "authors' train/val/test folders",
                  "counts": {split: len(split_files) for split, split_files in files.items()}},
        "simulated": False,
        "source": "EEGStyleGAN-ADA authors' per-trial .npy export of EEGCVPR40",
        "license": None,
        "license_note": "no licence is stated by the distributors; ImageNet images follow the ImageNet terms",
        "citation": CITATION,
        "image_pairing": "shown",
    }
    if first.dtype != np.float32:
        info["preprocessing"].append(preprocessing_step("cast", dtype="float32", source_dtype=str(first.dtype)))
    digests: dict[str, str] = {}
    rows = {split: _rows(split_files, split, first, class_ids, digests)
            for split, split_files in files.items()}
    return write_eeg_dataset(output_dir, rows, n_chans=eeg_shape[0], n_times=eeg_shape[1],
                             class_names=[names.get(c, c) for c in class_ids], info=info,
                             extra_columns={"official_split": Value("string")}, overwrite=overwrite)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `eeg2img convert authors-npy`."""
    parser.add_argument("root", help="folder with train/, val/, test/ of per-trial .npy files")
    parser.add_argument("--output", required=True, help="output folder (DatasetDict.save_to_disk layout)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="read the pickled .npy files (with a numpy-only restricted unpickler)")
    parser.add_argument("--variant", help="variant recorded in the metadata (default: the root folder name)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the conversion from parsed CLI arguments; returns the JSON summary."""
    ds = convert_authors_npy(args.root, args.output, trust_pickle=args.trust_pickle, variant=args.variant,
                             overwrite=args.overwrite)
    return {"output": str(args.output), "rows": {k: len(v) for k, v in ds.items()}, "dropped": {}}
