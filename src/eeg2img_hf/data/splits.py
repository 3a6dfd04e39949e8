"""Train/validation/test splits of EEG trials, with the leakage each strategy rules out checked.

Strategies (`SPLIT_STRATEGIES`):

- `"paper"`: the source's official split (the `official_split` column converters write) when there is
  one, otherwise the EEGCVPR40 "split by image" rule: all trials of an image (every subject) land in one
  split, drawn class by class. Train and test share recording blocks, and therefore their slow drift;
- `"within-block"`: every block gives trials to all three splits (the same block confound, without
  keeping images apart);
- `"block-held-out"`: whole blocks go to validation/test, so no block (and none of its drift) is in
  two splits (Li et al. 2020, "The perils and pitfalls of block design for EEG classification
  experiments");
- `"subject-held-out"`: whole subjects go to test (and validation): leave-N-subjects-out;
- `"exemplar-disjoint"`: no image is in two splits, drawn class by class.

Validation is always carved the same way as test. [`check_disjoint`] proves what a strategy promises
(`SPLIT_GUARANTEES`), [`split_dataset`] applies a strategy to a whole dataset and records it, and
[`split_report`] counts trials/images/subjects/blocks/classes per split and their overlaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..utils.checks import check_number, check_seed
from ..utils.names import SPLIT_STRATEGIES
from .features import get_eeg_info, set_eeg_info, validate_eeg_dataset

SPLIT_NAMES = ("train", "validation", "test")

SPLIT_GUARANTEES = {
    "paper": ("trials", "images"),
    "within-block": ("trials",),
    "block-held-out": ("trials", "blocks"),
    "subject-held-out": ("trials", "subjects"),
    "exemplar-disjoint": ("trials", "images"),
}
"""What no two splits share, per strategy (`"paper"` with an official split promises `("trials",)` only)."""

UNKNOWN_SUBJECT = 0
UNKNOWN_BLOCK = -1


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def _allocate(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Numbers of validation and test items out of `n` (>= 1 test, >= 1 val if asked, >= 1 train)."""
    n_test = max(1, _round_half_up(test_fraction * n))
    n_val = max(1, _round_half_up(val_fraction * n)) if val_fraction > 0 else 0
    while n - n_test - n_val < 1 and n_val > (1 if n >= 3 and val_fraction > 0 else 0):
        n_val -= 1
    while n - n_test - n_val < 1 and n_test > 1:
        n_test -= 1
    return n_val, n_test


def _check_inputs(
    labels: np.ndarray, blocks: np.ndarray, images: Sequence | np.ndarray | None, strategy: str, fractions: tuple
) -> None:
    if strategy not in SPLIT_STRATEGIES:
        raise ValueError(f"strategy must be one of {SPLIT_STRATEGIES}, got {strategy!r}")
    val_fraction, test_fraction = fractions
    if not (0.0 <= val_fraction < 1.0 and 0.0 < test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(
            "expected 0 <= val_fraction < 1, 0 < test_fraction < 1 and val_fraction + test_fraction < 1, got "
            f"val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    if labels.ndim != 1 or blocks.shape != labels.shape or labels.size == 0:
        raise ValueError(
            "labels and blocks must be non-empty 1-D arrays of equal length, "
            f"got shapes {labels.shape} and {blocks.shape}"
        )
    if images is not None and len(images) != len(labels):
        raise ValueError(f"images must have one entry per trial ({len(labels)}), got {len(images)}")


def _check_blocks(labels: np.ndarray, blocks: np.ndarray, strategy: str) -> None:
    """Blocks must be known and hold a single class (block strategies only)."""
    unknown = int((blocks == UNKNOWN_BLOCK).sum())
    if unknown:
        raise ValueError(
            f"the {strategy} split needs recording blocks, but {unknown} trials have block = -1 (unknown); "
            "use 'paper', 'exemplar-disjoint' or 'subject-held-out' instead"
        )
    block_label_pairs = np.unique(np.stack([blocks, labels]), axis=1)
    pair_blocks, counts = np.unique(block_label_pairs[0], return_counts=True)
    mixed = pair_blocks[counts > 1]
    if mixed.size:
        raise ValueError(f"every block must hold trials of a single class; blocks {mixed[:5].tolist()} hold several")


def _within_block(labels: np.ndarray, blocks: np.ndarray, fractions: tuple, rng: np.random.Generator) -> np.ndarray:
    """Split code per trial (0 train, 1 validation, 2 test), drawn block by block."""
    val_fraction, test_fraction = fractions
    assignment = np.zeros(len(labels), dtype=np.int64)
    min_trials = 3 if val_fraction > 0 else 2
    for block in np.unique(blocks):
        trials = rng.permutation(np.flatnonzero(blocks == block))
        if len(trials) < min_trials:
            raise ValueError(
                f"the within-block split needs at least {min_trials} trials per block, block {block} has {len(trials)}"
            )
        n_val, n_test = _allocate(len(trials), val_fraction, test_fraction)
        assignment[trials[:n_test]] = 2
        assignment[trials[n_test : n_test + n_val]] = 1
    return assignment


def _by_unit(
    labels: np.ndarray, units: np.ndarray, unit: str, fractions: tuple, rng: np.random.Generator, strategy: str
) -> np.ndarray:
    """Split code per trial (0 train, 1 validation, 2 test), whole `units` (blocks or image codes) drawn class by
    class, with >= 1 train and >= 1 test unit per class."""
    val_fraction, test_fraction = fractions
    assignment = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        class_units = rng.permutation(np.unique(units[labels == label]))
        if len(class_units) < 2:
            raise ValueError(
                f"the {strategy} split needs at least 2 {unit} per class (one for train, one for test), "
                f"class {label} has {len(class_units)}"
            )
        n_val, n_test = _allocate(len(class_units), val_fraction, test_fraction)
        assignment[np.isin(units, class_units[:n_test])] = 2
        assignment[np.isin(units, class_units[n_test : n_test + n_val])] = 1
    return assignment


def _image_codes(labels: np.ndarray, images: Sequence | np.ndarray | None, strategy: str) -> np.ndarray:
    """Integer code per trial for its image id; every image must belong to a single class."""
    if images is None:
        raise ValueError(f"the {strategy} split keeps images apart and needs the image id of every trial (images=)")
    names, codes = np.unique(np.asarray(images, dtype=str), return_inverse=True)
    pairs = np.unique(np.stack([codes, labels]), axis=1)
    shared, counts = np.unique(pairs[0], return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"the {strategy} split needs every image in a single class; images "
            f"{names[shared[counts > 1][:5]].tolist()} appear with several labels"
        )
    return codes


def _from_official(
    labels: np.ndarray, official: Sequence[str] | np.ndarray, images: Any, val_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Split code per trial from official split names; validation carved from train by image if absent."""
    official = np.asarray(official, dtype=str)
    if official.shape != labels.shape:
        raise ValueError(f"official must have one split name per trial ({len(labels)}), got shape {official.shape}")
    bad = sorted(set(np.unique(official).tolist()) - set(SPLIT_NAMES))
    if bad:
        raise ValueError(f"official split names must be one of {SPLIT_NAMES}, got {bad[:5]}")
    assignment = np.select([official == "validation", official == "test"], [1, 2], default=0).astype(np.int64)
    if not (assignment == 2).any() or not (assignment == 0).any():
        raise ValueError("the official split must have both train and test trials")
    if (assignment == 1).any() or val_fraction == 0:
        return assignment
    codes = _image_codes(labels, images, "paper (carving validation from the official train split)")
    train = np.flatnonzero(assignment == 0)
    for label in np.unique(labels[train]):
        class_images = rng.permutation(np.unique(codes[train][labels[train] == label]))
        n_val = min(max(1, _round_half_up(val_fraction * len(class_images))), len(class_images) - 1)
        assignment[train[np.isin(codes[train], class_images[:n_val])]] = 1
    return assignment


def _subject_held_out(
    subjects: Any, n_trials: int, fractions: tuple, rng: np.random.Generator, test_subjects: Any, n_test_subjects: Any
) -> np.ndarray:
    """Split code per trial, whole subjects held out for test (given or drawn) and validation (drawn)."""
    if subjects is None:
        raise ValueError("the subject-held-out split needs the subject of every trial (subjects=)")
    subjects = np.asarray(subjects)
    if subjects.shape != (n_trials,):
        raise ValueError(f"subjects must have one entry per trial ({n_trials}), got shape {subjects.shape}")
    unknown = int((subjects == UNKNOWN_SUBJECT).sum())
    if unknown:
        raise ValueError(f"the subject-held-out split needs known subjects, but {unknown} trials have subject = 0 "
                         "(unknown)")
    present = np.unique(subjects)
    val_fraction, test_fraction = fractions
    if test_subjects is not None and n_test_subjects is not None:
        raise ValueError("pass either test_subjects or n_test_subjects, not both")
    if test_subjects is not None:
        test = np.unique(np.asarray(list(test_subjects), dtype=np.int64))
        missing = np.setdiff1d(test, present)
        if test.size == 0 or missing.size:
            raise ValueError(f"test_subjects must be a non-empty list of subjects in the data {present.tolist()}, "
                             f"got {list(test_subjects)}")
    else:
        n_test = max(1, _round_half_up(test_fraction * len(present))) if n_test_subjects is None else n_test_subjects
        if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or not 1 <= n_test < len(present):
            raise ValueError(f"n_test_subjects must be an int in [1, {len(present) - 1}] for {len(present)} subjects, "
                             f"got {n_test!r}")
        test = np.sort(rng.choice(present, size=int(n_test), replace=False))
    rest = rng.permutation(np.setdiff1d(present, test))
    n_val = 0
    if val_fraction > 0:
        if len(rest) < 2:
            raise ValueError(
                f"the subject-held-out split with a validation split needs >= 3 subjects (train, validation, test); "
                f"{len(present)} subjects with test subjects {test.tolist()} leave {len(rest)} for train and "
                "validation; pass val_fraction=0 for no validation split"
            )
        n_val = min(max(1, _round_half_up(val_fraction * len(present))), len(rest) - 1)
    if len(rest) < 1:
        raise ValueError(f"no subject left for train: all subjects {present.tolist()} are test subjects")
    assignment = np.zeros(n_trials, dtype=np.int64)
    assignment[np.isin(subjects, test)] = 2
    assignment[np.isin(subjects, rest[:n_val])] = 1
    return assignment


def split_trials(
    labels: Sequence[int] | np.ndarray,
    blocks: Sequence[int] | np.ndarray,
    images: Sequence[str] | np.ndarray | None = None,
    strategy: str = "within-block",
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    *,
    subjects: Sequence[int] | np.ndarray | None = None,
    official: Sequence[str] | np.ndarray | None = None,
    test_subjects: Sequence[int] | None = None,
    n_test_subjects: int | None = None,
) -> dict[str, np.ndarray]:
    """Split trials into train/validation/test index arrays with one of `SPLIT_STRATEGIES`.

    Args:
        labels (`array-like` of int):
            Class label of each trial.
        blocks (`array-like` of int):
            Recording block of each trial (-1 = unknown). The block strategies need known blocks that
            each hold a single class; the others ignore blocks.
        images (`array-like` of str, *optional*):
            Image id of each trial; needed by `"exemplar-disjoint"` and `"paper"` (by-image rule or
            carving validation from an official split). Each image must belong to a single class there.
        strategy (`str`, *optional*, defaults to `"within-block"`):
            - `"paper"`: `official` if given (validation carved from its train split by image when it has
              none), else whole images drawn class by class (the EEGCVPR40 "split by image" rule);
            - `"within-block"`: each block is shuffled and cut into train/validation/test;
            - `"block-held-out"`: whole blocks drawn class by class (>= 1 train and test block per class);
            - `"subject-held-out"`: whole subjects to test (`test_subjects`, or `n_test_subjects` drawn)
              and to validation (drawn from the rest; needs >= 3 subjects unless `val_fraction=0`);
            - `"exemplar-disjoint"`: whole images drawn class by class (each class needs >= 2 images and
              keeps >= 1 in train and in test; validation images when it has >= 3).
        val_fraction (`float`, *optional*, defaults to 0.15):
            Target fraction of the drawn units (trials per block, blocks, images per class, subjects) for
            validation; 0 gives an empty validation split. With an official split, the fraction of each
            class's official train images carved out when the official split has no validation.
        test_fraction (`float`, *optional*, defaults to 0.2):
            Target fraction for test (ignored with an official split or explicit test subjects).
        seed (`int`, *optional*, defaults to 0):
            Seed of the draws, an integer in `[0, 2**32 - 1]`.
        subjects (`array-like` of int, *optional*):
            Subject of each trial (0 = unknown); needed by `"subject-held-out"`.
        official (`array-like` of str, *optional*):
            Official split name (`"train"`, `"validation"`, `"test"`) of each trial, for `"paper"`.
        test_subjects (`list[int]`, *optional*):
            Subjects held out for test (`"subject-held-out"`).
        n_test_subjects (`int`, *optional*):
            Number of test subjects to draw (`"subject-held-out"`; default `round(test_fraction * n_subjects)`,
            at least 1).

    Returns:
        `dict[str, np.ndarray]`: sorted int64 trial indices under `"train"`, `"validation"`, `"test"`.
    """
    labels = np.asarray(labels)
    blocks = np.asarray(blocks)
    fractions = (check_number("val_fraction", val_fraction, 0.0, 1.0, high_open=True),
                 check_number("test_fraction", test_fraction, 0.0, 1.0, low_open=True, high_open=True))
    seed = check_seed(seed, "seed")
    _check_inputs(labels, blocks, images, strategy, fractions)
    if official is not None and strategy != "paper":
        raise ValueError(f"official splits only apply to the 'paper' strategy, got strategy {strategy!r}")
    if (test_subjects is not None or n_test_subjects is not None) and strategy != "subject-held-out":
        raise ValueError(f"test_subjects / n_test_subjects only apply to 'subject-held-out', got {strategy!r}")
    rng = np.random.default_rng(seed)
    if strategy in ("within-block", "block-held-out"):
        _check_blocks(labels, blocks, strategy)
        if strategy == "within-block":
            assignment = _within_block(labels, blocks, fractions, rng)
        else:
            assignment = _by_unit(labels, blocks, "blocks", fractions, rng, strategy)
    elif strategy == "subject-held-out":
        assignment = _subject_held_out(subjects, len(labels), fractions, rng, test_subjects, n_test_subjects)
    elif strategy == "paper" and official is not None:
        assignment = _from_official(labels, official, images, fractions[0], rng)
    else:
        assignment = _by_unit(labels, _image_codes(labels, images, strategy), "images", fractions, rng, strategy)
    return {name: np.flatnonzero(assignment == code) for code, name in enumerate(SPLIT_NAMES)}


def _shared(first: np.ndarray, second: np.ndarray, unknown: Any = None) -> np.ndarray:
    shared = np.intersect1d(first, second)
    return shared if unknown is None else shared[shared != unknown]


def check_disjoint(
    splits: dict[str, np.ndarray],
    blocks: Sequence[int] | np.ndarray | None = None,
    *,
    images: Sequence[str] | np.ndarray | None = None,
    subjects: Sequence[int] | np.ndarray | None = None,
) -> None:
    """Check that no trial index (and, for each array given, no block / image / subject) is in two splits.

    Args:
        splits (`dict[str, np.ndarray]`):
            Index arrays per split, e.g. from [`split_trials`].
        blocks (`array-like` of int, *optional*):
            Block of each trial; pass it for block-held-out splits to also check block disjointness.
        images (`array-like` of str, *optional*):
            Image id of each trial; pass it to check image disjointness (paper, exemplar-disjoint).
        subjects (`array-like` of int, *optional*):
            Subject of each trial; pass it to check subject disjointness (subject-held-out).

    Raises:
        `ValueError`: naming the two splits that overlap and a few shared indices, blocks, images or subjects.
    """
    names = list(splits)
    columns = {
        name: None if values is None else np.asarray(values)
        for name, values in (("blocks", blocks), ("images", images), ("subjects", subjects))
    }
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = np.intersect1d(splits[first], splits[second])
            if shared.size:
                raise ValueError(f"splits {first!r} and {second!r} share trial indices {shared[:5].tolist()}")
            for column, values in columns.items():
                if values is None:
                    continue
                shared = _shared(values[splits[first]], values[splits[second]])
                if shared.size:
                    raise ValueError(f"splits {first!r} and {second!r} share {column} {shared[:5].tolist()}")


# --------------------------------------------------------------------------------------------------
# Datasets


def _small_columns(ds: Any, extra: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Read `label`, `subject`, `block`, `image_id` (+ `extra`) as arrays, never decoding EEG or images."""
    names = ["label", "subject", "block", "image_id", *[c for c in extra if c in ds.column_names]]
    table = ds.select_columns(names).with_format("arrow")[:]
    columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in names}
    columns["image_id"] = columns["image_id"].astype(str)
    return columns


def _counts(columns: dict[str, np.ndarray], index: np.ndarray) -> dict[str, int]:
    subjects, blocks = columns["subject"][index], columns["block"][index]
    return {
        "trials": int(len(index)),
        "images": int(len(np.unique(columns["image_id"][index]))),
        "subjects": int(len(np.unique(subjects[subjects != UNKNOWN_SUBJECT]))),
        "blocks": int(len(np.unique(blocks[blocks != UNKNOWN_BLOCK]))),
        "classes": int(len(np.unique(columns["label"][index]))),
    }


def _report(columns: dict[str, np.ndarray], splits: dict[str, np.ndarray]) -> dict[str, Any]:
    names = list(splits)
    overlaps = {}
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = splits[first], splits[second]
            overlaps[f"{first}/{second}"] = {
                "images": int(_shared(columns["image_id"][a], columns["image_id"][b]).size),
                "subjects": int(_shared(columns["subject"][a], columns["subject"][b], UNKNOWN_SUBJECT).size),
                "blocks": int(_shared(columns["block"][a], columns["block"][b], UNKNOWN_BLOCK).size),
            }
    return {"counts": {name: _counts(columns, index) for name, index in splits.items()}, "overlaps": overlaps}


def split_report(ds: Any) -> dict[str, Any]:
    """Count trials, images, subjects, blocks and classes per split, and what every pair of splits shares.

    Unknown subjects (0) and blocks (-1) are neither counted nor reported as shared.

    Args:
        ds (`Dataset` or `DatasetDict`):
            Any dataset in the package schema (a `Dataset` is reported as the single split `"dataset"`).

    Returns:
        `dict`: `{"counts": {split: {"trials", "images", "subjects", "blocks", "classes"}},
        "overlaps": {"train/test": {"images", "subjects", "blocks"}, ...}}` (numbers of shared values).
    """
    from datasets import Dataset, DatasetDict

    if isinstance(ds, Dataset):
        ds = DatasetDict({"dataset": ds})
    if not isinstance(ds, DatasetDict) or len(ds) == 0:
        raise ValueError(f"expected a non-empty datasets.Dataset or DatasetDict, got {type(ds).__name__}")
    per_split = {name: _small_columns(split) for name, split in ds.items()}
    offsets = np.cumsum([0] + [len(split) for split in ds.values()])
    columns = {key: np.concatenate([c[key] for c in per_split.values()]) for key in next(iter(per_split.values()))}
    splits = {name: np.arange(offsets[i], offsets[i + 1]) for i, name in enumerate(ds)}
    return _report(columns, splits)


def split_dataset(
    ds: Any,
    strategy: str,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    test_subjects: Sequence[int] | None = None,
    n_test_subjects: int | None = None,
) -> Any:
    """Re-split a dataset with one of `SPLIT_STRATEGIES` and record the split in its metadata.

    All splits of `ds` are pooled, the small columns (`label`, `subject`, `block`, `image_id`,
    `official_split`) are split with [`split_trials`], what the strategy promises is proven with
    [`check_disjoint`], and the rows are picked with `Dataset.select` (EEG and images are never decoded
    or copied). `info["split"]` becomes `{"strategy", "val_fraction", "test_fraction", "seed",
    "test_subjects", "n_test_subjects", "official": bool, "counts", "overlaps", "disjoint"}`.

    Args:
        ds (`Dataset` or `DatasetDict`):
            A dataset in the package schema.
        strategy (`str`):
            One of `SPLIT_STRATEGIES`; `"paper"` uses the `official_split` column when the dataset has one.
        val_fraction (`float`, *optional*, defaults to 0.15):
            See [`split_trials`].
        test_fraction (`float`, *optional*, defaults to 0.2):
            See [`split_trials`].
        seed (`int`, *optional*, defaults to 0):
            Seed of the draws.
        test_subjects (`list[int]`, *optional*):
            Test subjects for `"subject-held-out"`.
        n_test_subjects (`int`, *optional*):
            Number of test subjects drawn for `"subject-held-out"`.

    Returns:
        `DatasetDict` with splits `train`, `validation`, `test` (the input is not modified).
    """
    from datasets import Dataset, DatasetDict, concatenate_datasets

    validate_eeg_dataset(ds)
    parts = list(ds.values()) if isinstance(ds, DatasetDict) else [ds]
    if any(("official_split" in p.column_names) != ("official_split" in parts[0].column_names) for p in parts):
        raise ValueError("either every split or none must have the 'official_split' column")
    pooled = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    if not isinstance(pooled, Dataset) or len(pooled) == 0:
        raise ValueError("the dataset has no rows to split")
    columns = _small_columns(pooled, extra=("official_split",))
    official = columns.get("official_split") if strategy == "paper" else None
    splits = split_trials(
        columns["label"], columns["block"], columns["image_id"], strategy, val_fraction, test_fraction, seed,
        subjects=columns["subject"], official=official, test_subjects=test_subjects, n_test_subjects=n_test_subjects,
    )
    empty = [name for name, index in splits.items() if len(index) == 0]
    if empty:
        sizes = ", ".join(f"{name} {len(index)}" for name, index in splits.items())
        raise ValueError(f"the {strategy!r} split leaves {' and '.join(empty)} empty ({sizes} trials): the dataset has "
                         "too few recording blocks, images or subjects per class for this strategy and these "
                         "fractions; use another strategy or larger fractions")
    guaranteed = ("trials",) if official is not None else SPLIT_GUARANTEES[strategy]
    arrays = {"blocks": columns["block"], "images": columns["image_id"], "subjects": columns["subject"]}
    check_disjoint(splits, **{k: v for k, v in arrays.items() if k in guaranteed})
    result = DatasetDict({name: pooled.select(index) for name, index in splits.items()})
    info = dict(get_eeg_info(ds))
    info["split"] = {
        "strategy": strategy,
        "val_fraction": float(val_fraction),
        "test_fraction": float(test_fraction),
        "seed": int(seed),
        "test_subjects": None if test_subjects is None else [int(s) for s in test_subjects],
        "n_test_subjects": None if n_test_subjects is None else int(n_test_subjects),
        "official": official is not None,
        **_report(columns, splits),
        "disjoint": list(guaranteed),
    }
    return set_eeg_info(result, info)
