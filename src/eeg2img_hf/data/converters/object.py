"""Object / Kaneshiro et al. 2015 (`S1.mat`..`S10.mat` + the 72 stimulus images) -> package schema.

Each subject file holds `X_3D` (`124 x 32 x 5184`: channels x samples at 62.5 Hz x trials),
`categoryLabels` (1..6) and `exemplarLabels` (1..72) (dataset description, Stanford Digital Repository
`purl.stanford.edu/bq914sc3730`). Files are read with `scipy.io.loadmat` (only those three variables);
MATLAB v7.3 (HDF5) files need `h5py` and are refused with a clear message when it is missing.

Images: `image_pattern` (e.g. `"stim{exemplar:02d}.png"`) names the file of each exemplar; without it,
each image file in `images_dir` is matched to the last integer in its name (`3.jpg`, `im03.png`,
`stimulus_3.tif`), which must give exactly one file per exemplar. The stimulus file naming of the
official archive could not be verified here, hence the pattern option.

Splits: the paper's 90/10 split was a random trial split, so the same 72 exemplars were in train and
test (exemplar leakage, Kilgallen et al. 2024). This converter writes no `official_split` and splits
exemplar-disjointly instead, with the package's `"exemplar-disjoint"` rule ([`split_trials`]) applied to
the exemplars: whole exemplars are drawn category by category for test and validation (seeded).
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..preprocessing import preprocessing_step
from ..splits import split_trials
from .byo import (
    IMAGE_EXTENSIONS,
    add_common_arguments,
    check_fractions,
    check_image_size,
    image_steps,
    make_image_loader,
    parse_subject_list,
    summary,
)
from .writer import write_eeg_dataset

__all__ = ["OBJECT_CLASS_NAMES", "OBJECT_SFREQ", "add_arguments", "convert_object", "read_object_mat", "run"]

OBJECT_CLASS_NAMES = ("human body", "human face", "animal body", "animal face", "fruit vegetable", "inanimate")
"""Category names in label order (`categoryLabels` 1..6 -> labels 0..5)."""

OBJECT_SFREQ = 62.5
_VARIABLES = ("X_3D", "categoryLabels", "exemplarLabels")
_SUBJECT_FILE = re.compile(r"^S(\d+)\.mat$", re.IGNORECASE)
_CITATION = (
    "Kaneshiro, Perreau Guimaraes, Kim, Norcia, Suppes (2015). A Representational Similarity Analysis of the "
    "Dynamics of Object Processing Using Single-Trial EEG Classification. PLoS ONE 10(8): e0135697. "
    "Data: Stanford Digital Repository, https://purl.stanford.edu/bq914sc3730"
)


def _read_hdf5_mat(path: Path) -> dict[str, np.ndarray]:
    try:
        import h5py
    except ImportError:
        raise ValueError(
            f"{path.name} is a MATLAB v7.3 (HDF5) file; reading it needs h5py (pip install h5py), which is not "
            "installed. Alternatively re-save it in MATLAB with save(..., '-v7')."
        ) from None
    out = {}
    try:
        with h5py.File(path, "r") as handle:
            for name in _VARIABLES:
                if name in handle:
                    out[name] = np.asarray(handle[name]).T  # HDF5 stores MATLAB arrays with reversed axes
    except (OSError, TypeError, ValueError) as err:
        raise ValueError(f"{path.name} is a MATLAB v7.3 (HDF5) file but could not be read: {err}") from None
    return out


def read_object_mat(path: str | os.PathLike, labels_only: bool = False) -> dict[str, np.ndarray]:
    """Read and check one Kaneshiro subject file.

    Args:
        path (`str` or `os.PathLike`):
            `S<n>.mat`.
        labels_only (`bool`, *optional*, defaults to `False`):
            Skip `X_3D` (fast first pass over the labels).

    Returns:
        `dict` with `categoryLabels` and `exemplarLabels` (int64, shape `(n_trials,)`) and, unless
        `labels_only`, `X_3D` (`(n_chans, n_times, n_trials)`).
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path.name}: no such file")
    names = list(_VARIABLES[1:] if labels_only else _VARIABLES)
    with path.open("rb") as handle:
        header = handle.read(128)
    if header.startswith(b"MATLAB 7.3 MAT-file"):
        content = _read_hdf5_mat(path)
    else:
        try:
            content = scipy.io.loadmat(str(path), variable_names=names)
        except NotImplementedError:  # scipy's answer to v7.3 files without the usual header text
            content = _read_hdf5_mat(path)
        except Exception as err:  # noqa: BLE001 - any reader failure means "not a MATLAB file"
            raise ValueError(
                f"{path.name} could not be read as a MATLAB .mat file ({type(err).__name__}: {err})"
            ) from None
    missing = [n for n in names if n not in content]
    if missing:
        raise ValueError(f"{path.name}: missing variables {missing} (expected {list(_VARIABLES)})")
    out = {}
    for name, high in (("categoryLabels", len(OBJECT_CLASS_NAMES)), ("exemplarLabels", None)):
        values = np.asarray(content[name])
        if values.ndim > 2 or (values.ndim == 2 and min(values.shape) != 1) or values.dtype.kind not in "iuf":
            raise ValueError(f"{path.name}: {name} must be a numeric vector, got shape {values.shape} {values.dtype}")
        values = values.reshape(-1)
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)) or values.min(initial=1) < 1:
            raise ValueError(f"{path.name}: {name} must hold integers >= 1")
        if high is not None and values.max(initial=1) > high:
            raise ValueError(f"{path.name}: {name} must be in 1..{high}, found {int(values.max())}")
        out[name] = values.astype(np.int64)
    if len(out["categoryLabels"]) != len(out["exemplarLabels"]):
        raise ValueError(f"{path.name}: categoryLabels and exemplarLabels differ in length "
                         f"({len(out['categoryLabels'])} vs {len(out['exemplarLabels'])})")
    if not labels_only:
        x = np.asarray(content["X_3D"])
        if x.ndim != 3 or x.shape[2] != len(out["categoryLabels"]) or x.dtype.kind != "f":
            raise ValueError(f"{path.name}: X_3D must be a float array "
                             f"(n_chans, n_times, {len(out['categoryLabels'])}), got shape {x.shape} {x.dtype}")
        out["X_3D"] = x
    return out


def _subject_files(mat_dir: Path, subjects: list[int] | None) -> dict[int, Path]:
    if not mat_dir.is_dir():
        raise ValueError(f"mat_dir {str(mat_dir)!r} is not a folder")
    found = {int(m.group(1)): p for p in mat_dir.iterdir() if p.is_file() and (m := _SUBJECT_FILE.match(p.name))}
    if subjects is not None:
        missing = sorted(set(subjects) - set(found))
        if missing:
            raise ValueError(f"no S<n>.mat file for subjects {missing} in {str(mat_dir)!r} (found {sorted(found)})")
        found = {s: found[s] for s in subjects}
    if not found:
        raise ValueError(f"no S<n>.mat subject files (S1.mat..S10.mat) in {str(mat_dir)!r}")
    return dict(sorted(found.items()))


def _find_images(images_dir: Path, exemplars: list[int], pattern: str | None) -> dict[int, Path]:
    if not images_dir.is_dir():
        raise ValueError(f"images_dir {str(images_dir)!r} is not a folder")
    if pattern is not None:
        try:
            paths = {e: images_dir / pattern.format(exemplar=e) for e in exemplars}
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"image_pattern {pattern!r} must use the field {{exemplar}} only: {err}") from None
        missing = [e for e, p in paths.items() if not p.is_file()]
        if missing:
            raise ValueError(f"no image for exemplars {missing[:10]} with image_pattern {pattern!r} "
                             f"(e.g. {paths[missing[0]].name!r})")
        return paths
    by_number: dict[int, list[Path]] = {}
    for path in images_dir.iterdir():
        numbers = re.findall(r"\d+", path.stem)
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and numbers:
            by_number.setdefault(int(numbers[-1]), []).append(path)
    clashes = {e: sorted(p.name for p in by_number[e]) for e in exemplars if len(by_number.get(e, [])) > 1}
    if clashes:
        raise ValueError(f"several image files match one exemplar number {clashes}; pass image_pattern")
    missing = [e for e in exemplars if e not in by_number]
    if missing:
        raise ValueError(f"no image file numbered {missing[:10]} in {str(images_dir)!r}; pass image_pattern")
    return {e: by_number[e][0] for e in exemplars}


def _data_shape(path: Path) -> tuple[int, int]:
    """(n_chans, n_times) of `X_3D`, from the file's table of contents when scipy can read it."""
    import scipy.io

    try:
        for name, shape, _ in scipy.io.whosmat(str(path)):
            if name == "X_3D" and len(shape) == 3:
                return int(shape[0]), int(shape[1])
    except Exception:  # noqa: BLE001 - fall back to reading (and checking) the file
        pass
    return read_object_mat(path)["X_3D"].shape[:2]


def _exemplar_split(category_of: dict[int, int], fractions: tuple[float, float], seed: int) -> dict[int, int]:
    """Exemplar -> split code (0 train, 1 validation, 2 test) by the package's exemplar-disjoint rule.

    [`split_trials`] runs on the list of exemplars (one entry per exemplar, labelled with its category), so
    whole exemplars are drawn category by category.
    """
    exemplars = sorted(category_of)
    labels = np.array([category_of[e] for e in exemplars])
    parts = split_trials(labels, np.full(len(exemplars), -1), [str(e) for e in exemplars],
                         strategy="exemplar-disjoint", val_fraction=fractions[0], test_fraction=fractions[1],
                         seed=seed)
    return {exemplars[i]: code for code, name in enumerate(("train", "validation", "test")) for i in parts[name]}


def convert_object(
    mat_dir: str | os.PathLike,
    images_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    subjects: list[int] | None = None,
    image_pattern: str | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    image_size: int | None = None,
    overwrite: bool = False,
    batch_size: int = 256,
) -> Any:
    """Convert the Kaneshiro et al. 2015 object-category EEG (`S<n>.mat`) and its 72 stimulus images.

    Args:
        mat_dir (`str` or `os.PathLike`):
            Folder with `S1.mat` .. `S10.mat`.
        images_dir (`str` or `os.PathLike`):
            Folder with the stimulus images (see `image_pattern`).
        output_dir (`str` or `os.PathLike`):
            Folder to write (see [`write_eeg_dataset`]).
        subjects (`list[int]`, *optional*):
            Subject numbers to convert (default: every `S<n>.mat` found).
        image_pattern (`str`, *optional*):
            File name of exemplar `e` as a format string with the field `exemplar`, e.g. `"{exemplar}.jpg"`
            (default: match the last number in each image file name).
        val_fraction (`float`, *optional*, defaults to 0.15):
            Fraction of each category's exemplars for validation.
        test_fraction (`float`, *optional*, defaults to 0.2):
            Fraction of each category's exemplars for test.
        seed (`int`, *optional*, defaults to 0):
            Seed of the exemplar shuffle.
        image_size (`int`, *optional*):
            Resize images to `image_size x image_size` RGB (default: store the files unchanged).
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace a non-empty `output_dir`.
        batch_size (`int`, *optional*, defaults to 256):
            Rows per Arrow batch while writing.

    Returns:
        `datasets.DatasetDict` with exemplar-disjoint splits `train`, `validation`, `test`; `image_id` is the
        exemplar number, `subject` the file's number, `block` -1 (the files carry no session information).
    """

    fractions = check_fractions(val_fraction, test_fraction)
    image_size = check_image_size(image_size)
    files = _subject_files(Path(mat_dir), None if subjects is None else [int(s) for s in subjects])
    category_of: dict[int, int] = {}
    n_trials = {}
    for subject, path in files.items():  # first pass: labels only, to fix the split before writing
        labels = read_object_mat(path, labels_only=True)
        n_trials[subject] = len(labels["exemplarLabels"])
        for exemplar, category in set(zip(labels["exemplarLabels"].tolist(), labels["categoryLabels"].tolist())):
            if category_of.setdefault(exemplar, category) != category:
                raise ValueError(f"{path.name}: exemplar {exemplar} is labelled with categories "
                                 f"{category_of[exemplar]} and {category}")
    exemplars = sorted(category_of)
    images = _find_images(Path(images_dir), exemplars, image_pattern)
    split_of = _exemplar_split(category_of, fractions, seed)
    n_chans, n_times = _data_shape(next(iter(files.values())))
    load_image = make_image_loader(image_size)

    def rows(code: int):
        for subject, path in files.items():
            content = read_object_mat(path)
            if content["X_3D"].shape[:2] != (n_chans, n_times):
                raise ValueError(f"{path.name}: X_3D has {content['X_3D'].shape[:2]} channels x samples, the first "
                                 f"file has {(n_chans, n_times)}")
            trials = content["X_3D"].transpose(2, 0, 1).astype(np.float32)  # (n_trials, n_chans, n_times)
            for i, (category, exemplar) in enumerate(zip(content["categoryLabels"], content["exemplarLabels"])):
                if split_of[int(exemplar)] == code:
                    yield {"eeg": trials[i], "image": load_image(images[int(exemplar)]), "label": int(category) - 1,
                           "subject": subject, "image_id": str(int(exemplar)), "block": -1}

    split_names = ("train", "validation", "test")
    by_split = {s: sorted(e for e in exemplars if split_of[e] == k) for k, s in enumerate(split_names)}
    info = {
        "name": "object", "sfreq": OBJECT_SFREQ, "ch_names": [f"EEG{i:03d}" for i in range(1, n_chans + 1)],
        "n_chans": int(n_chans), "n_times": int(n_times), "class_ids": None,
        "preprocessing": [
            preprocessing_step("from_kaneshiro_mat", variable="X_3D", dtype="float32",
                               note="as distributed: already downsampled to 62.5 Hz by the dataset authors"),
            *image_steps(image_size),
        ],
        "split": {"strategy": "exemplar-disjoint", "seed": seed, "val_fraction": fractions[0],
                  "test_fraction": fractions[1], "stratified_by": "category",
                  "rule": "eeg2img_hf.data.splits.split_trials(strategy='exemplar-disjoint', seed, val_fraction, "
                          "test_fraction) over the list of exemplars labelled with their category",
                  "exemplars": by_split,
                  "paper_split": "the paper's 90/10 split was a random trial split (the same exemplars in train and "
                                 "test: exemplar leakage, Kilgallen et al. 2024); it is not reproduced and no "
                                 "official_split column is written"},
        "simulated": False,
        "subjects": sorted(files), "trials_per_subject": {str(s): n for s, n in n_trials.items()},
        "exemplar_category": {str(e): OBJECT_CLASS_NAMES[c - 1] for e, c in sorted(category_of.items())},
        "image_files": {str(e): p.name for e, p in sorted(images.items())},
        "source": "Kaneshiro et al. 2015, Stanford Digital Repository https://purl.stanford.edu/bq914sc3730 "
                  "(S<n>.mat: X_3D, categoryLabels, exemplarLabels)",
        "license": "CC-BY-3.0", "citation": _CITATION,
        "caveats": ["each of the 72 exemplars is repeated many times per subject: split by exemplar for evaluation",
                    "block is -1: the .mat files carry no block/session information"],
    }
    return write_eeg_dataset(output_dir, {s: rows(k) for k, s in enumerate(split_names)}, n_chans=int(n_chans),
                             n_times=int(n_times), class_names=OBJECT_CLASS_NAMES, info=info, batch_size=batch_size,
                             overwrite=overwrite)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `eeg2img convert object`."""
    parser.add_argument("mat_dir", help="folder with S1.mat .. S10.mat")
    parser.add_argument("images_dir", help="folder with the 72 stimulus images")
    parser.add_argument("output_dir", help="folder to write (DatasetDict.save_to_disk layout)")
    parser.add_argument("--subjects", help="comma-separated subject numbers (default: all files found)")
    parser.add_argument("--image-pattern", help="file name of exemplar e, e.g. 'stim{exemplar:02d}.png'")
    parser.add_argument("--val-fraction", type=float, default=0.15, help="fraction of exemplars per category")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="fraction of exemplars per category")
    parser.add_argument("--seed", type=int, default=0, help="seed of the exemplar-disjoint split")
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run `eeg2img convert object` from parsed CLI arguments; returns the JSON summary."""
    subjects = parse_subject_list(args.subjects)
    ds = convert_object(args.mat_dir, args.images_dir, args.output_dir, subjects=subjects,
                        image_pattern=args.image_pattern, val_fraction=args.val_fraction,
                        test_fraction=args.test_fraction, seed=args.seed, image_size=args.image_size,
                        overwrite=args.overwrite, batch_size=args.batch_size)
    return summary(ds, args.output_dir)
