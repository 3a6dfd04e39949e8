"""Train/validation/test splits of EEG trials that respect the recording blocks.

Two strategies:

- `"within-block"`: every block gives trials to all three splits (the split style of the paper, where
  train and test trials of a class share a recording block, and therefore its slow drift);
- `"block-held-out"`: whole blocks go to validation/test, so no block (and none of its drift) is in
  two splits (Li et al. 2020, "The perils and pitfalls of block design for EEG classification
  experiments").

Both strategies ignore image identity: the same image may appear in several splits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLIT_STRATEGIES = ("within-block", "block-held-out")
"""Names accepted by [`split_trials`]."""

SPLIT_NAMES = ("train", "validation", "test")


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


def _block_held_out(labels: np.ndarray, blocks: np.ndarray, fractions: tuple, rng: np.random.Generator) -> np.ndarray:
    """Split code per trial (0 train, 1 validation, 2 test), whole blocks drawn class by class."""
    val_fraction, test_fraction = fractions
    assignment = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        class_blocks = rng.permutation(np.unique(blocks[labels == label]))
        if len(class_blocks) < 2:
            raise ValueError(
                f"the block-held-out split needs at least 2 blocks per class (one for train, one for test), "
                f"class {label} has {len(class_blocks)}"
            )
        n_val, n_test = _allocate(len(class_blocks), val_fraction, test_fraction)
        assignment[np.isin(blocks, class_blocks[:n_test])] = 2
        assignment[np.isin(blocks, class_blocks[n_test : n_test + n_val])] = 1
    return assignment


def split_trials(
    labels: Sequence[int] | np.ndarray,
    blocks: Sequence[int] | np.ndarray,
    images: Sequence[str] | np.ndarray | None = None,
    strategy: str = "within-block",
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Split trials into train/validation/test index arrays, respecting recording blocks.

    Args:
        labels (`array-like` of int):
            Class label of each trial.
        blocks (`array-like` of int):
            Recording block of each trial; a block must hold a single class.
        images (`array-like` of str, *optional*):
            Image id of each trial (only its length is checked: both strategies let an image appear
            in several splits).
        strategy (`str`, *optional*, defaults to `"within-block"`):
            `"within-block"`: each block is shuffled and cut into train/validation/test (at least one
            trial of each block per split, so every split has every class); `"block-held-out"`: for
            each class, whole blocks are drawn for test and validation (at least one test and one
            train block per class, a validation block when the class has 3 or more).
        val_fraction (`float`, *optional*, defaults to 0.15):
            Target fraction of trials (within-block) or blocks (block-held-out) for validation; 0 gives
            an empty validation split.
        test_fraction (`float`, *optional*, defaults to 0.2):
            Target fraction for test. Fractions are rounded per block / per class.
        seed (`int`, *optional*, defaults to 0):
            Seed of the shuffles.

    Returns:
        `dict[str, np.ndarray]`: sorted int64 trial indices under `"train"`, `"validation"`, `"test"`.
    """
    labels = np.asarray(labels)
    blocks = np.asarray(blocks)
    fractions = (float(val_fraction), float(test_fraction))
    _check_inputs(labels, blocks, images, strategy, fractions)
    rng = np.random.default_rng(seed)
    split_fn = _within_block if strategy == "within-block" else _block_held_out
    assignment = split_fn(labels, blocks, fractions, rng)
    return {name: np.flatnonzero(assignment == code) for code, name in enumerate(SPLIT_NAMES)}


def check_disjoint(splits: dict[str, np.ndarray], blocks: Sequence[int] | np.ndarray | None = None) -> None:
    """Check that no trial index (and, when `blocks` is given, no block) is in two splits.

    Args:
        splits (`dict[str, np.ndarray]`):
            Index arrays per split, e.g. from [`split_trials`].
        blocks (`array-like` of int, *optional*):
            Block of each trial; pass it for block-held-out splits to also check block disjointness.

    Raises:
        `ValueError`: naming the two splits that overlap and a few shared indices or blocks.
    """
    names = list(splits)
    blocks = None if blocks is None else np.asarray(blocks)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = np.intersect1d(splits[first], splits[second])
            if shared.size:
                raise ValueError(f"splits {first!r} and {second!r} share trial indices {shared[:5].tolist()}")
            if blocks is not None:
                shared = np.intersect1d(blocks[splits[first]], blocks[splits[second]])
                if shared.size:
                    raise ValueError(f"splits {first!r} and {second!r} share blocks {shared[:5].tolist()}")
