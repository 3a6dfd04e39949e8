"""ThoughtViz (Kumar et al. 2018 EEG, Tirupattur et al. 2018) `data.pkl` + class image folders -> package schema.

The official files (`ptirupat/ThoughtViz` README): the EEG archive holds `data/eeg/image/data.pkl`, a
Python-2 pickle of a dict with `x_train`, `y_train`, `x_test`, `y_test` (x: `N x 14 x 32 x 1` float, 14
Emotiv EPOC channels x 32 samples at 128 Hz; y: one-hot `N x 10`); the image archive holds
`training/images/ImageNet-Filtered/<Class>/*` with one folder per class (Apple, Car, Dog, Gold, Mobile,
Rose, Scooter, Tiger, Wallet, Watch).

The pickle is read with a numpy-only restricted unpickler (`_codecs.encode` and numpy's array, dtype
and scalar reconstructors; every other global is refused, nothing from the file is executed); Python-2
strings are decoded as latin-1 as numpy expects.

The trials are imagery: subjects thought of a class, no image was shown. Each trial is therefore paired
with a same-class image by a seeded rule, recorded in `info["image_pairing"]`: for split `s` (train,
validation, test = 0, 1, 2) `rng = numpy.random.default_rng([seed, s])`, and the trials of the split, in
order, get `files[rng.integers(len(files))]` from the class's image files sorted by name.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...utils.safe_pickle import RestrictedUnpickler, UnsafePickleError, read_pickle_file
from ..preprocessing import preprocessing_step
from .byo import (
    IMAGE_EXTENSIONS,
    add_common_arguments,
    allocate,
    check_image_size,
    image_steps,
    list_image_files,
    make_image_loader,
    summary,
)
from .writer import write_eeg_dataset

__all__ = ["THOUGHTVIZ_CHANNELS", "THOUGHTVIZ_CLASS_NAMES", "add_arguments", "convert_thoughtviz",
           "load_thoughtviz_pickle", "run"]

THOUGHTVIZ_CLASS_NAMES = ("Apple", "Car", "Dog", "Gold", "Mobile", "Rose", "Scooter", "Tiger", "Wallet", "Watch")
"""Class names in label order (index of the one-hot `y`)."""

THOUGHTVIZ_CHANNELS = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")
"""The 14 Emotiv EPOC channels, in the order of the data."""

THOUGHTVIZ_SFREQ = 128.0
_KEYS = ("x_train", "y_train", "x_test", "y_test")
_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
_NUMPY_NAMES = ("_reconstruct", "scalar", "dtype", "ndarray")
_DEFAULT_MAX_BYTES = 4 * 1024**3
_CITATION = (
    "Kumar, Saini, Roy, Sahu, Dogra (2018). Envisioned speech recognition using EEG sensors. Personal and "
    "Ubiquitous Computing 22, 185-199. Tirupattur, Rawat, Spampinato, Shah (2018). ThoughtViz: Visualizing "
    "Human Thoughts Using Generative Adversarial Network. ACM Multimedia 2018."
)


class _NumpyOnlyUnpickler(RestrictedUnpickler):
    """The package's `RestrictedUnpickler` narrowed to plain numpy arrays (no torch, no other globals)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module in _NUMPY_MODULES and name in _NUMPY_NAMES) or (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        raise UnsafePickleError(f"refused global {module}.{name}: ThoughtViz data.pkl holds only numpy arrays")


def _numpy_only_unpickler(handle: Any) -> Any:
    return _NumpyOnlyUnpickler(handle, encoding="latin1")  # Python-2 str -> latin-1, as numpy expects


def load_thoughtviz_pickle(path: str | os.PathLike, max_bytes: int = _DEFAULT_MAX_BYTES) -> dict[str, np.ndarray]:
    """Read a ThoughtViz `data.pkl` (Python-2 or 3 pickle) without executing anything from it.

    Args:
        path (`str` or `os.PathLike`):
            The pickle file.
        max_bytes (`int`, *optional*, defaults to 4 GiB):
            Refuse larger files.

    Returns:
        `dict[str, np.ndarray]` with keys `x_train`, `y_train`, `x_test`, `y_test` (other keys are dropped).

    Raises:
        `UnsafePickleError` (a `ValueError`): the pickle asks for anything but numpy arrays;
        `ValueError`: missing/unreadable file, wrong structure.
    """
    path = Path(path)
    content = read_pickle_file(path, max_bytes, _numpy_only_unpickler, expected="the ThoughtViz data.pkl pickle")
    if not isinstance(content, dict):
        raise ValueError(f"{path.name}: expected a pickled dict with keys {list(_KEYS)}, got {type(content).__name__}")
    content = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}
    missing = [k for k in _KEYS if k not in content]
    if missing:
        raise ValueError(f"{path.name}: missing keys {missing} (has {sorted(map(str, content))})")
    for key in _KEYS:
        if not isinstance(content[key], np.ndarray) or content[key].dtype.kind not in "biuf":
            kind = getattr(content[key], "dtype", type(content[key]).__name__)
            raise ValueError(f"{path.name}: {key!r} must be a numeric numpy array, got {kind}")
    return {key: content[key] for key in _KEYS}


def _check_part(x: np.ndarray, y: np.ndarray, part: str) -> np.ndarray:
    """Validate one (x, y) pair; returns the integer labels."""
    n_classes = len(THOUGHTVIZ_CLASS_NAMES)
    if x.ndim != 4 or x.shape[1:] != (len(THOUGHTVIZ_CHANNELS), 32, 1):
        raise ValueError(f"x_{part} must have shape (N, 14, 32, 1), got {x.shape}")
    if x.dtype.kind != "f":
        raise ValueError(f"x_{part} must be a float array, got dtype {x.dtype}")
    if y.shape != (x.shape[0], n_classes):
        raise ValueError(f"y_{part} must be one-hot of shape ({x.shape[0]}, {n_classes}), got {y.shape}")
    bad = ~(((y == 0) | (y == 1)).all(axis=1) & (y.sum(axis=1) == 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"y_{part} must be one-hot (one 1 per row, zeros elsewhere); row {i} is {y[i].tolist()}")
    not_finite = ~np.isfinite(x).reshape(len(x), -1).all(axis=1)
    if not_finite.any():
        raise ValueError(f"x_{part} row {int(np.flatnonzero(not_finite)[0])} contains NaN or infinite values")
    return y.argmax(axis=1).astype(np.int64)


def _find_class_folders(images_dir: Path) -> dict[int, Path]:
    """Class index -> folder, matching class names case-insensitively (also under `ImageNet-Filtered/`)."""
    if not images_dir.is_dir():
        raise ValueError(f"images_dir {str(images_dir)!r} is not a folder")
    candidates = [images_dir] + [
        p for p in images_dir.iterdir() if p.is_dir() and p.name.lower() == "imagenet-filtered"
    ]
    wanted = {name.lower(): i for i, name in enumerate(THOUGHTVIZ_CLASS_NAMES)}
    for root in reversed(candidates):
        found: dict[int, list[Path]] = {}
        for folder in root.iterdir():
            if folder.is_dir() and folder.name.lower() in wanted:
                found.setdefault(wanted[folder.name.lower()], []).append(folder)
        if found:
            break
    clashes = [sorted(p.name for p in v) for v in found.values() if len(v) > 1]
    if clashes:
        raise ValueError(f"class folders differ only by case, cannot choose: {clashes}")
    missing = [THOUGHTVIZ_CLASS_NAMES[i] for i in range(len(THOUGHTVIZ_CLASS_NAMES)) if i not in found]
    if missing:
        raise ValueError(f"{str(root)!r} lacks class folders {missing} (expected one folder per class: "
                         f"{list(THOUGHTVIZ_CLASS_NAMES)}, case-insensitive)")
    return {i: folders[0] for i, folders in found.items()}


def _carve_validation(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the official-train trials moved to validation (seeded, stratified by class)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in range(len(THOUGHTVIZ_CLASS_NAMES)):
        trials = rng.permutation(np.flatnonzero(labels == label))
        mask[trials[: allocate(len(trials), fraction, keep=1)]] = True
    return mask


def convert_thoughtviz(
    pkl_file: str | os.PathLike,
    images_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    image_size: int | None = None,
    overwrite: bool = False,
    batch_size: int = 256,
) -> Any:
    """Convert the ThoughtViz image-imagery EEG (`data.pkl`) and its class image folders.

    The official split is kept (`x_train` -> train, `x_test` -> test, column `official_split`); the source
    has no validation split, so `val_fraction` of each class of `x_train` is moved to validation (seeded).
    Subject and block are unknown (0 and -1). Each trial gets a same-class image by the seeded rule of the
    module docstring.

    Args:
        pkl_file (`str` or `os.PathLike`):
            `data/eeg/image/data.pkl` of the ThoughtViz EEG archive.
        images_dir (`str` or `os.PathLike`):
            The folder with one sub-folder per class (`training/images/ImageNet-Filtered`, or its parent).
        output_dir (`str` or `os.PathLike`):
            Folder to write (see [`write_eeg_dataset`]).
        seed (`int`, *optional*, defaults to 0):
            Seed of the validation carve-out and of the image pairing.
        val_fraction (`float`, *optional*, defaults to 0.1):
            Fraction of each class of the official train split moved to validation (0 for none).
        image_size (`int`, *optional*):
            Resize images to `image_size x image_size` RGB (default: store the files unchanged).
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace a non-empty `output_dir`.
        batch_size (`int`, *optional*, defaults to 256):
            Rows per Arrow batch while writing.

    Returns:
        `datasets.DatasetDict` with splits `train`, `validation`, `test` (shape `(14, 32)` EEG at 128 Hz).
    """
    from datasets import Value

    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    image_size = check_image_size(image_size)
    data = load_thoughtviz_pickle(pkl_file)
    train_labels = _check_part(data["x_train"], data["y_train"], "train")
    test_labels = _check_part(data["x_test"], data["y_test"], "test")
    folders = _find_class_folders(Path(images_dir))
    files = {i: list_image_files(folder) for i, folder in folders.items()}
    empty = [THOUGHTVIZ_CLASS_NAMES[i] for i, f in files.items() if not f]
    if empty:
        raise ValueError(f"class folders without image files ({', '.join(IMAGE_EXTENSIONS)}): {empty}")
    to_val = _carve_validation(train_labels, float(val_fraction), seed)
    parts = {
        "train": ("x_train", np.flatnonzero(~to_val), train_labels, "train"),
        "validation": ("x_train", np.flatnonzero(to_val), train_labels, "train"),
        "test": ("x_test", np.arange(len(test_labels)), test_labels, "test"),
    }
    load_image = make_image_loader(image_size)

    def rows(split_code: int, key: str, indices: np.ndarray, labels: np.ndarray, official: str):
        rng = np.random.default_rng([seed, split_code])
        x = data[key]
        for i in indices:
            label = int(labels[i])
            image = files[label][int(rng.integers(len(files[label])))]
            yield {"eeg": np.ascontiguousarray(x[i, :, :, 0], dtype=np.float32), "image": load_image(image),
                   "label": label, "subject": 0, "image_id": f"{folders[label].name}/{image.name}", "block": -1,
                   "official_split": official}

    counts = {name: len(part[1]) for name, part in parts.items()}
    info = {
        "name": "thoughtviz", "sfreq": THOUGHTVIZ_SFREQ, "ch_names": list(THOUGHTVIZ_CHANNELS),
        "n_chans": len(THOUGHTVIZ_CHANNELS), "n_times": 32, "class_ids": None,
        "preprocessing": [
            preprocessing_step("from_thoughtviz_pickle", squeeze_axis=3, source_dtype=str(data["x_train"].dtype),
                               dtype="float32", note="values as distributed in data.pkl (scaling unknown)"),
            *image_steps(image_size),
        ],
        "split": {"strategy": "paper", "official": {"train": "x_train", "test": "x_test"},
                  "validation": {"from": "train", "fraction": float(val_fraction), "stratified_by": "label",
                                 "seed": seed, "rule": "numpy.random.default_rng(seed).permutation per class"},
                  "counts": counts},
        "simulated": False,
        "paradigm": "imagery",
        "image_pairing": {
            "rule": "for split code s (train=0, validation=1, test=2): rng = numpy.random.default_rng([seed, s]); "
                    "each trial of the split, in order, gets files[rng.integers(len(files))] where files are the "
                    "image files of its class folder sorted by name",
            "seed": seed, "images_per_class": {THOUGHTVIZ_CLASS_NAMES[i]: len(f) for i, f in sorted(files.items())},
            "caveat": "imagery trials have no shown stimulus; the image is a random same-class exemplar",
        },
        "source": "ThoughtViz (github.com/ptirupat/ThoughtViz): data/eeg/image/data.pkl and "
                  "training/images/ImageNet-Filtered",
        "license": "as published by the ThoughtViz authors (no license stated with the data)",
        "citation": _CITATION,
        "unit": "as stored in data.pkl",
    }
    splits = {name: rows(code, *parts[name]) for code, name in enumerate(("train", "validation", "test"))}
    return write_eeg_dataset(output_dir, splits, n_chans=len(THOUGHTVIZ_CHANNELS), n_times=32,
                             class_names=THOUGHTVIZ_CLASS_NAMES, info=info,
                             extra_columns={"official_split": Value("string")}, batch_size=batch_size,
                             overwrite=overwrite)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `eeg2img convert thoughtviz`."""
    parser.add_argument("pkl_file", help="data/eeg/image/data.pkl of the ThoughtViz EEG archive")
    parser.add_argument("images_dir", help="training/images/ImageNet-Filtered (one folder per class) or its parent")
    parser.add_argument("output_dir", help="folder to write (DatasetDict.save_to_disk layout)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation carve-out and image pairing")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="fraction of train moved to validation")
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run `eeg2img convert thoughtviz` from parsed CLI arguments; returns the JSON summary."""
    ds = convert_thoughtviz(args.pkl_file, args.images_dir, args.output_dir, seed=args.seed,
                            val_fraction=args.val_fraction, image_size=args.image_size, overwrite=args.overwrite,
                            batch_size=args.batch_size)
    return summary(ds, args.output_dir)
