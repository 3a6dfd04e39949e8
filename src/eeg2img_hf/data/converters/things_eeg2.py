"""THINGS-EEG2 (Gifford et al. 2022), the preprocessed release + its image set -> package schema, zero-shot split.

The official files (OSF project of "A large and rich EEG dataset for modeling human visual object recognition"):

- per subject `sub-XX/preprocessed_eeg_training.npy` and `sub-XX/preprocessed_eeg_test.npy`: each an `np.save`
  of a dict with `preprocessed_eeg_data` (images x repetitions x channels x times: 16,540 x 4 x 17 x 100 for
  training, 200 x 80 x 17 x 100 for test), `ch_names` (the 17 occipital and parietal channels) and `times`
  (100 samples from -0.2 s at 100 Hz);
- `image_metadata.npy`: an `np.save` of a dict with `train_img_concepts`, `train_img_files`, `test_img_concepts`,
  `test_img_files` (one entry per image, in the order of the EEG arrays) and, in the release,
  `train_img_concepts_THINGS` / `test_img_concepts_THINGS`: the same concepts numbered in the THINGS concept table
  (`00004_aircraft_carrier`: row 4 of 1,854);
- `training_images/<concept>/<file>` and `test_images/<concept>/<file>`, concept folders such as
  `00001_aardvark` (`aardvark_01b.jpg`). The five-digit prefix numbers the concepts within their split (training
  00001..01654, test 00001..00200); the rest is the THINGS `uniqueID` of the concept (`aardvark`).

`np.save` pickles a dict, so each `.npy` file is a pickle of a 0-d object array. The files are read without
`allow_pickle`: the `.npy` header is parsed by numpy's header reader, then the pickle by a restricted unpickler
that resolves only numpy's array, dtype and scalar reconstructors (and `_codecs.encode`); every other global is
refused naming the file, nothing in a file is executed. Python builtins (dict, list, str, numbers) need no global.

Splits: `test` = the official test concepts (200 concepts, one image each; never seen in training: zero-shot);
`validation` = a seeded, concept-disjoint share of the training concepts; `train` = the other training concepts.
`label` is the concept (a `ClassLabel` over the concepts present, named by their THINGS `uniqueID`, sorted);
the column `things_index` holds the concept's row (1..1854) in the THINGS concept table: from the `*_THINGS` entries
of `image_metadata.npy`, or from the table itself when given (`things_concepts`, the THINGS `things_concepts.tsv`
with a `uniqueID` column; both given: they must agree), else -1. The release stores the EEG as float64; the `eeg`
column is float32 by default (a relative rounding error of at most 6e-8, about 2e-7 absolute on the release's
values) or float64 (`eeg_dtype`, `--eeg-dtype`), recorded under `eeg_dtype` in the dataset info. Repetitions are rows
(column `repetition`, 0-based along the file's repetition axis) or are averaged (`repetition` = -1). The
preprocessed release does not say which session a repetition came from: `session` is -1, `block` -1.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...utils.errors import BadInputFileError
from ...utils.safe_pickle import RestrictedUnpickler, UnsafePickleError
from ..preprocessing import preprocessing_step
from .byo import (
    add_common_arguments,
    allocate,
    check_image_size,
    image_steps,
    make_image_loader,
    parse_subject_list,
    summary,
)
from .writer import write_eeg_dataset

__all__ = ["THINGS_EEG2_CHANNELS", "THINGS_EEG2_SFREQ", "add_arguments", "convert_things_eeg2", "load_things_npy",
           "read_things_concepts", "run"]

THINGS_EEG2_CHANNELS = ("Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz", "PO4",
                        "PO8", "P6", "P2")
"""The 17 occipital and parietal channels of the preprocessed release, in its order."""

THINGS_EEG2_SFREQ = 100.0
AVERAGE_CHOICES = ("none", "train", "test", "both")
EEG_KEYS = ("preprocessed_eeg_data", "ch_names", "times")
METADATA_KEYS = ("train_img_concepts", "train_img_files", "test_img_concepts", "test_img_files")
THINGS_NUMBER_KEYS = ("train_img_concepts_THINGS", "test_img_concepts_THINGS")
"""Optional keys of `image_metadata.npy`: each image's concept as `<THINGS row>_<uniqueID>`."""
EEG_DTYPE_CHOICES = ("float32", "float64")
_N_THINGS_CONCEPTS = 1854
_PARTS = {"training": ("train", "training_images", "preprocessed_eeg_training.npy"),
          "test": ("test", "test_images", "preprocessed_eeg_test.npy")}
_SUBJECT_FOLDER = re.compile(r"^sub-(\d+)$")
_CONCEPT = re.compile(r"^(\d+)_(.+)$")
_DEFAULT_MAX_BYTES = 8 * 1024**3
_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
_NUMPY_NAMES = ("_reconstruct", "scalar", "ndarray")
_CITATION = (
    "Gifford, Dwivedi, Roig, Cichy (2022). A large and rich EEG dataset for modeling human visual object "
    "recognition. NeuroImage 264, 119754. THINGS images: Hebart et al. (2019), THINGS: A database of 1,854 object "
    "concepts and more than 26,000 naturalistic object images. PLoS ONE 14(10): e0223792."
)


# --------------------------------------------------------------------------------------------------
# Reading the np.save'd dicts without running anything from them


def _object_or_plain_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """`numpy.dtype` for the pickle: numeric, boolean, string dtypes and the object dtype of the `np.save`
    container (its items are themselves built by this unpickler); structured dtypes are refused."""
    if not isinstance(spec, (str, bytes)):
        raise UnsafePickleError(f"refused numpy.dtype of {type(spec).__name__}")
    dtype = np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec)
    if dtype.kind not in "biufcSUO" or dtype.fields is not None or dtype.subdtype is not None:
        raise UnsafePickleError(f"refused numpy dtype {dtype!r} (structured or unsupported)")
    return np.dtype(dtype, align=bool(align), copy=bool(copy))


class _ThingsUnpickler(RestrictedUnpickler):
    """The package's `RestrictedUnpickler` narrowed to numpy arrays and plain builtins (no torch, no other globals)."""

    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_MODULES and name == "dtype":
            return _object_or_plain_dtype
        if (module in _NUMPY_MODULES and name in _NUMPY_NAMES) or (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        raise UnsafePickleError(f"refused global {module}.{name}: THINGS-EEG2 files hold only numpy arrays, "
                                "lists, dicts and strings")


def _read_npy_header(handle: Any, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(handle)
        readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, _, dtype = readers[version](handle)
    except ValueError as err:
        raise BadInputFileError(f"{path}: not a .npy file written by np.save ({err})") from None
    return shape, dtype


def load_things_npy(path: str | os.PathLike, keys: Sequence[str], max_bytes: int = _DEFAULT_MAX_BYTES,
                    optional: Sequence[str] = ()) -> dict:
    """Read one THINGS-EEG2 `.npy` file (an `np.save` of a dict) without executing anything from it.

    Args:
        path (`str` or `os.PathLike`): the file.
        keys (`Sequence[str]`): keys the dict must hold (others are dropped).
        max_bytes (`int`, *optional*, defaults to 8 GiB): refuse larger files.
        optional (`Sequence[str]`, *optional*): keys also returned when the dict holds them.

    Returns:
        `dict` with `keys` and those of `optional` present.

    Raises:
        `UnsafePickleError`: the pickle asks for anything but numpy arrays and plain builtins (the message names
        the file); `BadInputFileError` (a `ValueError`): missing, too large, not an `np.save` of a dict, keys missing.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputFileError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise BadInputFileError(f"{path} is {size} bytes, more than the limit of {max_bytes} bytes (max_bytes)")
    with path.open("rb") as handle:
        shape, dtype = _read_npy_header(handle, path)
        if shape != () or not dtype.hasobject:
            raise BadInputFileError(f"{path}: expected an np.save of a dict (a 0-d object array), got an array of "
                                    f"shape {shape} and dtype {dtype}")
        try:
            content = _ThingsUnpickler(handle).load()
        except UnsafePickleError as err:
            raise UnsafePickleError(f"{path}: {err}") from None
        except Exception as err:  # noqa: BLE001 - malformed streams of any kind become one clear error
            raise BadInputFileError(f"{path}: the pickled dict could not be read ({type(err).__name__}: "
                                    f"{str(err)[:200]})") from None
    if isinstance(content, np.ndarray) and content.shape == () and content.dtype.hasobject:
        content = content.item()
    if not isinstance(content, dict):
        raise BadInputFileError(f"{path}: expected a pickled dict, got {type(content).__name__}")
    missing = [k for k in keys if k not in content]
    if missing:
        raise BadInputFileError(f"{path}: missing keys {missing} (has {sorted(map(str, content))})")
    return {k: content[k] for k in (*keys, *optional) if k in content}


def _strings(value: Any, name: str, path: Path) -> list[str]:
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "US":
        value = value.tolist()
    elif isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.hasobject:
        value = list(value)
    if isinstance(value, (list, tuple)):
        out = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
        if all(isinstance(v, str) and v for v in out):
            return [str(v) for v in out]
    raise BadInputFileError(f"{path}: {name!r} must be a list of non-empty strings, got {type(value).__name__}")


def _check_eeg(content: dict, path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    data = content["preprocessed_eeg_data"]
    if not isinstance(data, np.ndarray) or data.ndim != 4 or data.dtype.kind != "f" or min(data.shape) < 1:
        kind = f"shape {getattr(data, 'shape', None)} dtype {getattr(data, 'dtype', type(data).__name__)}"
        raise BadInputFileError(f"{path}: 'preprocessed_eeg_data' must be a float array (images, repetitions, "
                                f"channels, times), got {kind}")
    ch_names = _strings(content["ch_names"], "ch_names", path)
    times = content["times"]
    if not isinstance(times, np.ndarray) or times.ndim != 1 or times.dtype.kind not in "iuf":
        raise BadInputFileError(f"{path}: 'times' must be a 1-D numeric array")
    if len(ch_names) != data.shape[2] or len(times) != data.shape[3]:
        raise BadInputFileError(f"{path}: 'preprocessed_eeg_data' has {data.shape[2]} channels x {data.shape[3]} "
                                f"times but ch_names lists {len(ch_names)} and times {len(times)}")
    return data, ch_names, times.astype(np.float64)


def _sfreq(times: np.ndarray, path: Path) -> float:
    if len(times) < 2:
        raise BadInputFileError(f"{path}: 'times' needs at least 2 samples to give a sampling rate")
    steps = np.diff(times)
    if steps.min() <= 0 or not np.allclose(steps, steps.mean(), rtol=1e-3, atol=1e-9):
        raise BadInputFileError(f"{path}: 'times' must be evenly spaced and increasing")
    return float(round(1.0 / float(steps.mean()), 6))


def read_things_concepts(path: str | os.PathLike) -> dict[str, int]:
    """THINGS `uniqueID` -> index (1-based row) from the THINGS concept table (`things_concepts.tsv`)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputFileError(f"{path}: no such file (the THINGS concept table, things_concepts.tsv)")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        if not reader.fieldnames or "uniqueID" not in reader.fieldnames:
            raise BadInputFileError(f"{path}: expected a tab-separated table with a 'uniqueID' column, got columns "
                                    f"{reader.fieldnames}")
        ids = [row["uniqueID"].strip() for row in reader]
    if not ids or len(set(ids)) != len(ids) or not all(ids):
        raise BadInputFileError(f"{path}: the 'uniqueID' column must hold distinct non-empty ids")
    return {uid: i for i, uid in enumerate(ids, start=1)}


def _concept_name(folder: str) -> str:
    """THINGS `uniqueID` of a concept folder name (`00001_aardvark` -> `aardvark`)."""
    match = _CONCEPT.match(folder)
    return match.group(2) if match else folder


def _things_numbers(meta: dict, path: Path, tables: dict[str, dict[str, Any]]) -> dict[str, int]:
    """THINGS `uniqueID` -> row (1..1854) from the `*_THINGS` entries of `image_metadata.npy` (`{}` without them)."""
    present = [k for k in THINGS_NUMBER_KEYS if k in meta]
    if not present:
        return {}
    if len(present) != len(THINGS_NUMBER_KEYS):
        raise BadInputFileError(f"{path}: has {present[0]!r} but not {sorted(set(THINGS_NUMBER_KEYS) - set(present))}")
    numbers: dict[str, int] = {}
    for part, key in zip(_PARTS, THINGS_NUMBER_KEYS):
        entries = _strings(meta[key], key, path)
        concepts = tables[part]["concepts"]
        if len(entries) != len(concepts):
            raise BadInputFileError(f"{path}: {key} has {len(entries)} entries, {key[:-7]} {len(concepts)}")
        for concept, entry in zip(concepts, entries):
            match = _CONCEPT.match(entry)
            number = int(match.group(1)) if match else 0
            if not 1 <= number <= _N_THINGS_CONCEPTS:
                raise BadInputFileError(f"{path}: {key} entry {entry!r} is not '<THINGS row 1..1854>_<uniqueID>'")
            name = _concept_name(concept)
            if numbers.setdefault(name, number) != number:
                raise BadInputFileError(f"{path}: {key} gives concept {name!r} two THINGS rows "
                                        f"({numbers[name]} and {number})")
    return numbers


def _things_index(meta: dict, meta_path: Path, tables: dict[str, dict[str, Any]],
                  things_concepts: str | os.PathLike | None) -> tuple[dict[str, int], str]:
    """`things_index` of every concept and where it came from: the concept table when given (checked against the
    metadata's `*_THINGS` numbers when both exist), else those numbers, else nothing (-1)."""
    from_meta = _things_numbers(meta, meta_path, tables)
    if things_concepts is None:
        source = f"from {meta_path.name} ({', '.join(THINGS_NUMBER_KEYS)})" if from_meta else "not given (-1)"
        return from_meta, source
    table = read_things_concepts(things_concepts)
    differ = sorted(n for n, number in from_meta.items() if table.get(n, number) != number)
    if differ:
        raise BadInputFileError(f"{things_concepts}: the rows of concepts {differ[:5]} ({len(differ)} in all) differ "
                                f"from their THINGS numbers in {meta_path}")
    return table, "from " + os.fspath(things_concepts)


# --------------------------------------------------------------------------------------------------
# Locating the files


def _subject_folders(eeg_dir: Path, subjects: list[int] | None) -> dict[int, Path]:
    if not eeg_dir.is_dir():
        raise BadInputFileError(f"eeg_dir {str(eeg_dir)!r} is not a folder (expected sub-01/ .. sub-10/ inside)")
    found = {int(m.group(1)): p for p in eeg_dir.iterdir() if p.is_dir() and (m := _SUBJECT_FOLDER.match(p.name))}
    if subjects is not None:
        missing = sorted(set(subjects) - set(found))
        if missing:
            raise BadInputFileError(f"no sub-XX folder for subjects {missing} in {str(eeg_dir)!r} (found "
                                    f"{sorted(found)})")
        found = {s: found[s] for s in subjects}
    if not found:
        raise BadInputFileError(f"no subject folders (sub-01 .. sub-10) in {str(eeg_dir)!r}")
    for _subject, folder in found.items():
        for _, _, name in _PARTS.values():
            if not (folder / name).is_file():
                raise BadInputFileError(f"{folder / name}: no such file")
    return dict(sorted(found.items()))


def _metadata_file(metadata: str | os.PathLike | None, images_dir: Path, eeg_dir: Path) -> Path:
    if metadata is not None:
        return Path(metadata)
    for folder in (images_dir, eeg_dir):
        if (folder / "image_metadata.npy").is_file():
            return folder / "image_metadata.npy"
    raise BadInputFileError(f"no image_metadata.npy in {str(images_dir)!r} nor {str(eeg_dir)!r}; pass --metadata FILE")


def _image_table(meta: dict, path: Path, images_dir: Path) -> dict[str, dict[str, Any]]:
    """Per part: concept folder and file of every image (EEG order), and the image paths (checked to exist)."""
    tables = {}
    for part, (prefix, folder, _) in _PARTS.items():
        concepts = _strings(meta[f"{prefix}_img_concepts"], f"{prefix}_img_concepts", path)
        files = _strings(meta[f"{prefix}_img_files"], f"{prefix}_img_files", path)
        if len(concepts) != len(files):
            raise BadInputFileError(f"{path}: {prefix}_img_concepts has {len(concepts)} entries, {prefix}_img_files "
                                    f"{len(files)}")
        root = images_dir / folder
        if not root.is_dir():
            raise BadInputFileError(f"images_dir {str(images_dir)!r} has no {folder}/ folder")
        paths = [root / c / f for c, f in zip(concepts, files)]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise BadInputFileError(f"{len(missing)} image files listed in {path.name} are missing, e.g. "
                                    f"{str(missing[0])!r}")
        tables[part] = {"concepts": concepts, "files": files, "paths": paths, "folder": folder}
    names = {part: {_concept_name(c) for c in t["concepts"]} for part, t in tables.items()}
    shared = sorted(names["training"] & names["test"])
    if shared:
        raise BadInputFileError(f"{path}: test concepts {shared[:5]} also appear in training; the zero-shot split "
                                "needs disjoint concepts")
    return tables


def _carve_validation(train_concepts: list[str], fraction: float, seed: int) -> set[str]:
    """Training concepts moved to validation: the first `allocate(n, fraction)` of a seeded permutation of the
    sorted concept names."""
    ordered = sorted(train_concepts)
    n_val = allocate(len(ordered), fraction, keep=1)
    order = np.random.default_rng(seed).permutation(len(ordered))
    return {ordered[i] for i in order[:n_val]}


# --------------------------------------------------------------------------------------------------
# Conversion


def convert_things_eeg2(
    eeg_dir: str | os.PathLike,
    images_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    subjects: list[int] | None = None,
    average: str = "none",
    val_fraction: float = 0.1,
    seed: int = 0,
    metadata: str | os.PathLike | None = None,
    things_concepts: str | os.PathLike | None = None,
    image_size: int | None = None,
    overwrite: bool = False,
    batch_size: int = 256,
    eeg_dtype: str = "float32",
) -> Any:
    """Convert the preprocessed THINGS-EEG2 release and its images, with the zero-shot split (module docstring).

    Args:
        eeg_dir (`str` or `os.PathLike`):
            Folder with the subject folders `sub-01` .. `sub-10` of the preprocessed EEG.
        images_dir (`str` or `os.PathLike`):
            Folder with `training_images/` and `test_images/` (and usually `image_metadata.npy`).
        output_dir (`str` or `os.PathLike`):
            Folder to write (see [`write_eeg_dataset`]).
        subjects (`list[int]`, *optional*):
            Subject numbers to convert (default: every `sub-XX` folder found).
        average (`str`, *optional*, defaults to `"none"`):
            Average the repetitions of each image: `"none"` (every repetition is a row), `"train"` (training images
            only: the `train` and `validation` splits), `"test"` or `"both"`.
        val_fraction (`float`, *optional*, defaults to 0.1):
            Share of the training concepts moved to `validation` (concept-disjoint; 0 for none).
        seed (`int`, *optional*, defaults to 0):
            Seed of the validation concepts.
        metadata (`str` or `os.PathLike`, *optional*):
            `image_metadata.npy` (default: looked for in `images_dir`, then `eeg_dir`).
        things_concepts (`str` or `os.PathLike`, *optional*):
            The THINGS concept table (`things_concepts.tsv`, column `uniqueID`) giving `things_index` (default: the
            `*_THINGS` entries of `image_metadata.npy` when it has them).
        image_size (`int`, *optional*):
            Resize images to `image_size x image_size` RGB (default: store the files unchanged).
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace a non-empty `output_dir` this package wrote.
        batch_size (`int`, *optional*, defaults to 256):
            Rows per Arrow batch while writing.
        eeg_dtype (`str`, *optional*, defaults to `"float32"`):
            Storage dtype of the `eeg` column: `"float32"` (half the size; the release's float64 values rounded) or
            `"float64"` (the release's values exactly).

    Returns:
        `datasets.DatasetDict` with splits `train`, `validation` (when `val_fraction` > 0) and `test`, EEG of shape
        `(17, 100)` at 100 Hz, extra columns `repetition`, `session`, `things_index`, `official_split`.
    """
    from datasets import Value

    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if average not in AVERAGE_CHOICES:
        raise ValueError(f"average must be one of {AVERAGE_CHOICES}, got {average!r}")
    if eeg_dtype not in EEG_DTYPE_CHOICES:
        raise ValueError(f"eeg_dtype must be one of {EEG_DTYPE_CHOICES}, got {eeg_dtype!r}")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    image_size = check_image_size(image_size)
    eeg_dir, images_dir = Path(eeg_dir), Path(images_dir)
    if not images_dir.is_dir():
        raise BadInputFileError(f"images_dir {str(images_dir)!r} is not a folder")
    folders = _subject_folders(eeg_dir, None if subjects is None else [int(s) for s in subjects])
    meta_path = _metadata_file(metadata, images_dir, eeg_dir)
    meta = load_things_npy(meta_path, METADATA_KEYS, optional=THINGS_NUMBER_KEYS)
    tables = _image_table(meta, meta_path, images_dir)
    things_index, things_index_source = _things_index(meta, meta_path, tables, things_concepts)

    train_names = sorted({_concept_name(c) for c in tables["training"]["concepts"]})
    test_names = sorted({_concept_name(c) for c in tables["test"]["concepts"]})
    val_names = _carve_validation(train_names, float(val_fraction), seed)
    class_names = sorted(train_names + test_names)
    label_of = {name: i for i, name in enumerate(class_names)}
    split_of_image = {
        "training": [
            "validation" if _concept_name(c) in val_names else "train" for c in tables["training"]["concepts"]
        ],
        "test": ["test"] * len(tables["test"]["concepts"]),
    }

    # first subject: shapes, channels and times every other file must match
    first = folders[next(iter(folders))]
    reference: dict[str, Any] = {}
    for part, (_, _, name) in _PARTS.items():
        data, ch_names, times = _check_eeg(load_things_npy(first / name, EEG_KEYS), first / name)
        reference[part] = {"n_reps": data.shape[1], "dtype": str(data.dtype)}
        reference.setdefault("shape", (data.shape[2], data.shape[3]))
        reference.setdefault("ch_names", ch_names)
        reference.setdefault("times", times)
        reference.setdefault("sfreq", _sfreq(times, first / name))
        del data
    n_chans, n_times = reference["shape"]
    load_image = make_image_loader(image_size)
    averaged = {"training": average in ("train", "both"), "test": average in ("test", "both")}
    cache: dict[str, Any] = {}

    def subject_data(subject: int, part: str) -> np.ndarray:
        path = folders[subject] / _PARTS[part][2]
        if cache.get("path") != path:
            cache.clear()
            data, ch_names, times = _check_eeg(load_things_npy(path, EEG_KEYS), path)
            n_images = len(tables[part]["concepts"])
            if data.shape[0] != n_images:
                raise BadInputFileError(f"{path}: {data.shape[0]} images, but {meta_path.name} lists {n_images}")
            if (data.shape[2], data.shape[3]) != (n_chans, n_times) or ch_names != reference["ch_names"] \
                    or not np.allclose(times, reference["times"]):
                raise BadInputFileError(f"{path}: channels or times differ from those of {first / _PARTS[part][2]}")
            cache.update(path=path, data=data)
        return cache["data"]

    def rows(split: str) -> Iterator[dict[str, Any]]:
        for part in ("training", "test"):
            chosen = [i for i, s in enumerate(split_of_image[part]) if s == split]
            if not chosen:
                continue
            table = tables[part]
            for subject in folders:
                data = subject_data(subject, part)
                for i in chosen:
                    name = _concept_name(table["concepts"][i])
                    trials = data[i].mean(axis=0, keepdims=True) if averaged[part] else data[i]
                    image = load_image(table["paths"][i])
                    for rep, trial in enumerate(trials):
                        if not np.isfinite(trial).all():
                            raise BadInputFileError(f"{folders[subject] / _PARTS[part][2]}: image {i} repetition "
                                                    f"{rep} contains NaN or infinite values")
                        yield {"eeg": np.ascontiguousarray(trial, dtype=eeg_dtype), "image": image,
                               "label": label_of[name], "subject": subject,
                               "image_id": f"{table['folder']}/{table['concepts'][i]}/{table['files'][i]}",
                               "block": -1, "repetition": -1 if averaged[part] else rep, "session": -1,
                               "things_index": things_index.get(name, -1), "official_split": _PARTS[part][0]}

    split_names = ["train", "validation", "test"] if val_names else ["train", "test"]
    n_subjects = len(folders)
    reps = {part: 1 if averaged[part] else reference[part]["n_reps"] for part in _PARTS}
    concepts_in = {"train": [n for n in train_names if n not in val_names], "validation": sorted(val_names),
                   "test": test_names}
    counts = {}
    for s in split_names:
        n_images = sum(v == s for p in _PARTS for v in split_of_image[p])
        per_image = reps["test"] if s == "test" else reps["training"]
        counts[s] = {"trials": n_images * n_subjects * per_image, "images": n_images, "subjects": n_subjects,
                     "blocks": 0, "classes": len(concepts_in[s])}
    missing_index = [n for n in class_names if things_index and n not in things_index]
    if missing_index:
        raise BadInputFileError(f"{things_concepts}: no uniqueID for concepts {missing_index[:5]}")
    steps = [preprocessing_step("from_things_eeg2_preprocessed", dtype=eeg_dtype,
                                source_dtype=reference["training"]["dtype"],
                                note="as released by the authors (epoched -0.2..0.8 s, 100 Hz, 17 occipital and "
                                     "parietal channels, their preprocessing)")]
    if any(averaged.values()):
        steps.append(preprocessing_step("average_repetitions", parts=[p for p, a in averaged.items() if a],
                                        repetitions={p: reference[p]["n_reps"] for p, a in averaged.items() if a}))
    info = {
        "name": "things-eeg2", "sfreq": reference["sfreq"], "ch_names": reference["ch_names"],
        "n_chans": int(n_chans), "n_times": int(n_times), "class_ids": None,
        "times_s": [round(float(t), 6) for t in (reference["times"][0], reference["times"][-1])],
        "preprocessing": [*steps, *image_steps(image_size)],
        "split": {"strategy": "things-zero-shot", "disjoint": ["concepts"],
                  "official": {"train": "training images (preprocessed_eeg_training.npy)",
                               "test": "test images (preprocessed_eeg_test.npy)"},
                  "validation": {"from": "training concepts", "fraction": float(val_fraction), "seed": seed,
                                 "concepts": sorted(val_names),
                                 "rule": "sorted training concept names; the first round(fraction * n) (at least 1 "
                                         "when fraction > 0, leaving 1) of numpy.random.default_rng(seed)"
                                         ".permutation(n)"},
                  "test_concepts": test_names, "counts": counts},
        "simulated": False,
        "subjects": sorted(folders),
        "repetitions": {"train": reps["training"], "test": reps["test"], "averaged": averaged,
                        "in_files": {p: reference[p]["n_reps"] for p in _PARTS}},
        "things_index": things_index_source,
        "eeg_dtype": {"stored": eeg_dtype, "source": reference["training"]["dtype"],
                      "note": "float32 rounds each value to 24 significant bits (relative error <= 6e-8); "
                              "--eeg-dtype float64 keeps a float64 release exactly"},
        "source": "THINGS-EEG2 preprocessed release (OSF 3jk45): sub-XX/preprocessed_eeg_{training,test}.npy, "
                  "image_metadata.npy, training_images/, test_images/",
        "license": "EEG: CC-BY-4.0 (as released); images: THINGS licence terms (research use, see the THINGS "
                   "database), not CC-BY",
        "citation": _CITATION,
        "converter": "eeg2img_hf.data.converters.things_eeg2",
        "unit": "as stored in the preprocessed release",
    }
    extra = {"repetition": Value("int32"), "session": Value("int32"), "things_index": Value("int32"),
             "official_split": Value("string")}
    inputs = {"eeg_dir": eeg_dir, "images_dir": images_dir, "metadata": meta_path}
    return write_eeg_dataset(output_dir, {s: rows(s) for s in split_names}, n_chans=int(n_chans), n_times=int(n_times),
                             class_names=class_names, info=info, extra_columns=extra, batch_size=batch_size,
                             overwrite=overwrite, inputs=inputs, eeg_dtype=eeg_dtype)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `eeg2img convert things-eeg2`."""
    parser.add_argument("eeg_dir", help="folder with the preprocessed subject folders sub-01 .. sub-10")
    parser.add_argument("images_dir", help="folder with training_images/ and test_images/ (and image_metadata.npy)")
    parser.add_argument("output_dir", help="folder to write (DatasetDict.save_to_disk layout)")
    parser.add_argument("--subjects", help="comma-separated subject numbers (default: every sub-XX folder)")
    parser.add_argument("--average", choices=AVERAGE_CHOICES, default="none",
                        help="average the repetitions of each image: none (one row per repetition), train, test, both")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="share of the training concepts moved to validation (concept-disjoint; default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation concepts")
    parser.add_argument("--metadata", help="image_metadata.npy (default: in images_dir, then eeg_dir)")
    parser.add_argument("--things-concepts", help="THINGS things_concepts.tsv (uniqueID column) for things_index "
                                                  "(default: the *_THINGS entries of image_metadata.npy)")
    parser.add_argument("--eeg-dtype", choices=EEG_DTYPE_CHOICES, default="float32",
                        help="storage dtype of the eeg column (default float32; float64 keeps the release's values "
                             "exactly, at twice the size)")
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run `eeg2img convert things-eeg2` from parsed CLI arguments; returns the JSON summary."""
    subjects = parse_subject_list(args.subjects)
    ds = convert_things_eeg2(args.eeg_dir, args.images_dir, args.output_dir, subjects=subjects, average=args.average,
                             val_fraction=args.val_fraction, seed=args.seed, metadata=args.metadata,
                             things_concepts=args.things_concepts, image_size=args.image_size,
                             overwrite=args.overwrite, batch_size=args.batch_size, eeg_dtype=args.eeg_dtype)
    return summary(ds, args.output_dir)
