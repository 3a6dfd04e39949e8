"""The THINGS-EEG2 zero-shot protocol: N-way EEG -> image identification of test concepts never seen in training.

For each evaluated subject, queries are that subject's test EEG, either averaged over the repetitions of each test
image (the figure papers report) or single trials; candidates are the test images (one per test concept in
THINGS-EEG2). In a k-way test the true image competes with k - 1 distractor images of OTHER test concepts drawn
uniformly without replacement; top-1 counts the true image strictly above every distractor (ties count against),
top-5 the true image among the 5 highest (reported only for k > 5). With `n_draws=0` (default) the accuracy is the
exact mean over ALL possible distractor sets (hypergeometric: no sampling, no seed); with `n_draws > 0`, each query
gets `n_draws` random sets from `numpy.random.default_rng([seed, k, subject])`, each drawn as the number of
distractors in it that score at or above the true image (hypergeometric; the same distribution as drawing the set
itself, which is all top-1 and top-5 depend on). k = number of test images uses every
image (no draw). Chance: top-1 = 1 / k, top-5 = 5 / k. Subject figures are averaged with equal weight per subject.

The regime of each evaluated subject follows from the training subjects the model records (`train_subjects` in its
config, written by `train-clip`; older models: the training record beside the weights) and from the dataset's
subjects (those the model records as `dataset_subjects` plus the evaluated dataset's): see `REGIME_DEFINITIONS`.
A model without the record gets the regime "unknown", never a guessed label.

Preconditions, refused with the reason before any scoring ([`check_zero_shot_split`], [`single_trial_scoring`]):
the dataset is marked as a concept-disjoint (THINGS-style zero-shot) split and its test concepts are absent from its
train and validation splits; single-trial figures need more than one row per subject and test image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import hypergeom

from ..data import get_eeg_info
from ..utils.checks import check_seed
from ..utils.errors import Eeg2ImgError
from ..utils.names import TRAINING_RECORD

__all__ = ["PUBLISHED_THINGS_EEG2", "REGIME_DEFINITIONS", "THINGS_DEFINITIONS", "check_zero_shot_split",
           "single_trial_scoring", "subject_regime", "subject_summary", "things_zero_shot", "training_subjects",
           "way_accuracy"]

DEFAULT_WAYS = (2, 4, 10, 200)

PUBLISHED_THINGS_EEG2: dict[str, Any] = {
    "protocol": "200-way zero-shot EEG -> image identification on the THINGS-EEG2 test set (200 concepts unseen in "
                "training), subject-dependent training, test repetitions averaged (80), mean over the 10 subjects",
    "chance": {"top1": 0.005, "top5": 0.025},
    "results": [
        {"method": "NICE", "source": "Song et al., Decoding natural images from EEG for object recognition, ICLR "
                                     "2024 (arXiv 2023)", "top1": 0.156, "top5": 0.428},
        {"method": "UBP", "source": "Wu et al., Bridging the vision-brain gap with an uncertainty-aware blur prior, "
                                    "CVPR 2025", "top1": 0.509, "top5": 0.797},
    ],
    "note": "published figures on the real recordings; figures on simulated data are not comparable to them",
}

THINGS_DEFINITIONS = {
    "queries.averaged": "per subject and test image: the mean of the raw EEG of all its repetitions (rows of the "
                        "evaluated split with that subject and image_id), then embedded",
    "queries.single_trial": "every test trial of the subject, embedded on its own",
    "candidates": "the unique images of the evaluated split (its test concepts, unseen in training)",
    "k_way": "the true image against k - 1 distractors: images of other concepts, drawn uniformly without "
             "replacement; similarity = cosine of the joint-space embeddings",
    "top1": "1 when the true image's similarity is strictly above every distractor's (ties count against)",
    "top5": "1 when fewer than 5 distractors reach the true image's similarity; reported only for k > 5",
    "draws.exact": "n_draws = 0: the exact mean over all C(M, k - 1) distractor sets (M = candidates of other "
                   "concepts), from the hypergeometric distribution of the distractors at or above the true image",
    "draws.sampled": "n_draws > 0: per query n_draws random sets from numpy.random.default_rng([seed, k, subject]), "
                     "each drawn as its hypergeometric count of distractors at or above the true image",
    "chance": "top1 = 1 / k, top5 = 5 / k (k > 5)",
    "subjects": "per-subject accuracy, then the unweighted mean (and standard deviation) over subjects",
    "regime": "per evaluated subject, from the training subjects the model records (see regime_definitions)",
}

REGIME_DEFINITIONS = {
    "subject-dependent": "trained on the evaluated subject only (the 'intra-subject' / subject-dependent setting of "
                         "NICE, ATM and UBP)",
    "leave-one-subject-out": "trained on every other subject of the dataset and not on the evaluated one (the "
                             "'inter-subject' / leave-one-subject-out setting of NICE, ATM and UBP)",
    "cross-subject": "trained on some of the other subjects (a named subset, not all of them), not on the evaluated "
                     "one: no published THINGS-EEG2 table uses this setting",
    "joint": "trained on several subjects including the evaluated one (joint or multi-subject training): neither of "
             "the two settings the THINGS-EEG2 papers report, not comparable with their tables",
    "unknown": "the model records no training subjects (trained outside this package or before the record existed)",
    "dataset_subjects": "the subjects of the dataset: those recorded in the model (dataset_subjects, its training "
                        "data) and those of the evaluated dataset",
}
"""What each regime label means; written into every result JSON under `"regime_definitions"`."""


def way_accuracy(scores: np.ndarray, target: np.ndarray, concept: np.ndarray, k: int, *, n_draws: int = 0,
                 seed: int = 0, subject: int = 0) -> dict[str, float | None]:
    """Top-1 / top-5 of k-way identification (see the module docstring).

    Args:
        scores (`np.ndarray` of shape `(n_queries, n_candidates)`): similarities.
        target (`np.ndarray` of shape `(n_queries,)`): column of each query's true image.
        concept (`np.ndarray` of shape `(n_candidates,)`): concept of each candidate (distractors are other concepts).
        k (`int`): candidates per test, 2 .. 1 + the fewest other-concept candidates of any query.
        n_draws (`int`, *optional*, defaults to 0): 0 = exact mean over all sets; else sets drawn per query.
        seed, subject (`int`): seed of the draws.
    """
    scores = np.asarray(scores, dtype=np.float64)
    true = scores[np.arange(len(target)), target]
    others = concept[None, :] != concept[target][:, None]  # (Q, G) distractor pool of each query
    pool = others.sum(axis=1)
    if k < 2 or k - 1 > pool.min():
        raise ValueError(f"{k}-way needs 2 <= k <= {int(pool.min()) + 1} (candidates of other concepts + 1)")
    at_or_above = ((scores >= true[:, None]) & others).sum(axis=1)
    m = k - 1
    if n_draws == 0 or m == pool.min() == pool.max():
        top1 = hypergeom.pmf(0, pool, at_or_above, m)
        top5 = hypergeom.cdf(4, pool, at_or_above, m) if k > 5 else None
        return {"top1": float(np.mean(top1)), "top5": None if top5 is None else float(np.mean(top5))}
    # A uniform m-subset of a query's distractor pool holds a hypergeometric number of the distractors scoring at or
    # above the true image: drawing that number is drawing the subset, as far as top-1 / top-5 can tell.
    rng = np.random.default_rng([seed, k, subject])
    beaten = rng.hypergeometric(at_or_above, pool - at_or_above, m, size=(n_draws, len(true)))  # (draws, queries)
    hits1, hits5 = (beaten == 0).mean(axis=0), (beaten <= 4).mean(axis=0)
    return {"top1": float(hits1.mean()), "top5": float(hits5.mean()) if k > 5 else None}


def training_subjects(model: Any) -> tuple[list[int] | None, list[int]]:
    """`(train_subjects, dataset_subjects)` that a model records: its config's `train_subjects` /
    `dataset_subjects` (written by `train-clip`), else `train_subjects` of the training record in its folder;
    `(None, [])` when neither exists."""
    config = getattr(model, "config", None)
    recorded = getattr(config, "train_subjects", None)
    if isinstance(recorded, list):
        return sorted(int(s) for s in recorded), sorted(int(s) for s in getattr(config, "dataset_subjects", []) or [])
    folder = getattr(model, "name_or_path", "") or ""
    record = Path(folder) / TRAINING_RECORD if folder else None
    if record is None or not record.is_file():
        return None, []
    try:
        subjects = json.loads(record.read_text()).get("train_subjects")
    except (OSError, json.JSONDecodeError):
        return None, []
    return (sorted(int(s) for s in subjects), []) if isinstance(subjects, list) else (None, [])


def subject_regime(train_subjects: list[int] | None, dataset_subjects: list[int], subject: int) -> str:
    """The regime label of a model evaluated on `subject` (see `REGIME_DEFINITIONS`).

    Args:
        train_subjects (`list[int]` or `None`): the subjects the model was trained on (`None`: not recorded).
        dataset_subjects (`list[int]`): every subject of the dataset (the evaluated subject included or not).
        subject (`int`): the evaluated subject.
    """
    if not train_subjects:
        return "unknown"
    trained = set(train_subjects)
    if subject in trained:
        return "subject-dependent" if trained == {subject} else "joint"
    others = (set(dataset_subjects) | trained) - {subject}
    return "leave-one-subject-out" if trained == others else "cross-subject"


def _split_record(info: dict[str, Any]) -> dict[str, Any]:
    split = info.get("split")
    return split if isinstance(split, dict) else {"strategy": split}


def check_zero_shot_split(data: Any, split: str, source: str) -> int | None:
    """Refuse a dataset on which the zero-shot protocol would not be zero-shot; returns the number of test concepts
    also in training (0), or `None` when the dataset has no train / validation split to compare with.

    No concept of `split` may appear in the dataset's `train` or `validation` split, and the dataset must be marked
    as a concept-disjoint split (`split.strategy` "things-zero-shot" or "concepts" in `split.disjoint` of its EEG
    metadata, as the THINGS-EEG2 converter and simulator write).
    """
    if split in ("train", "validation"):
        raise Eeg2ImgError(f"{source}: split {split!r} is a training split; the zero-shot protocol scores the test "
                           "split (--split test)")
    record = _split_record(get_eeg_info(data))
    marked = record.get("strategy") == "things-zero-shot" or "concepts" in (record.get("disjoint") or [])
    unmarked = (f"the dataset's split ({record.get('strategy')!r}) is not marked as a THINGS-style zero-shot split "
                "(concept-disjoint)")
    hint = ("use --protocol default for this dataset, or a dataset written by `eeg2img convert things-eeg2` or "
            "`eeg2img simulate things-eeg2`")
    training = [s for s in ("train", "validation") if s in data]
    names = data[split].features["label"].names
    tested = set(data[split].unique("label"))
    seen = set().union(*(data[s].unique("label") for s in training))
    overlap = sorted(names[i] for i in tested & seen)
    if overlap:
        raise Eeg2ImgError(
            f"{source}: {len(overlap)} of the {len(tested)} concepts of split {split!r} also appear in "
            f"{' / '.join(training)} (e.g. {', '.join(overlap[:5])}), so a result on them would not be zero-shot"
            + ("" if marked else f"; {unmarked}"), hint=hint)
    if not marked:
        raise Eeg2ImgError(f"{source}: the things-zero-shot protocol needs test concepts never seen in training, "
                           f"but {unmarked}", hint=hint)
    return 0 if training else None


def single_trial_scoring(split: Any, single_trial: bool | None, where: str) -> bool:
    """Whether single trials are scored: `single_trial` (`None`: when the split has them); single-trial figures asked
    for on a split with one row per subject and image (repetitions averaged) are refused, since they would repeat
    the averaged figures. `where` names the split in the message."""
    small = split.select_columns(["subject", "image_id"]).to_dict()
    keys = [f"{s}/{i}" for s, i in zip(small["subject"], small["image_id"])]
    has_trials = len(set(keys)) < len(keys)
    if single_trial and not has_trials:
        raise Eeg2ImgError(
            f"{where} holds one row per subject and image (its repetitions were averaged), so single-trial figures "
            "would repeat the averaged ones: refused",
            hint="for single-trial figures convert the release again with `eeg2img convert things-eeg2` and "
                 "--average train (or --average none): the test repetitions stay rows and the averaged figures are "
                 "computed from them; or pass --no-single-trial (single_trial=False) for the averaged figures only")
    return has_trials if single_trial is None else bool(single_trial)


def subject_summary(values: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Mean over subjects of per-subject `{"top1", "top5"}` figures, equal weight per subject, with the population
    standard deviation (`numpy.std`, ddof 0) as `top1_std_over_subjects` / `top5_std_over_subjects` (`None` for one
    subject); `None` entries (top-5 of k <= 5) are left out."""
    out: dict[str, float | None] = {}
    for key in ("top1", "top5"):
        numbers = [v[key] for v in values if v[key] is not None]
        out[key] = float(np.mean(numbers)) if numbers else None
        out[f"{key}_std_over_subjects"] = float(np.std(numbers)) if len(numbers) > 1 else None
    return out


@torch.no_grad()
def things_zero_shot(
    model: Any,
    split: Any,
    image_embeds: torch.Tensor,
    image_ids: list[str],
    image_labels: np.ndarray,
    embed_eeg: Any,
    *,
    ways: tuple[int, ...] = DEFAULT_WAYS,
    n_draws: int = 0,
    seed: int = 0,
    subjects: list[int] | None = None,
    single_trial: bool | None = None,
    dataset_subjects: list[int] | None = None,
    where: str = "the evaluated split",
) -> dict[str, Any]:
    """Run the protocol on one split (see the module docstring).

    Args:
        model: the EEGClip model (the training subjects it records give the regime, see [`training_subjects`]).
        split: the evaluated split (package schema; `subject`, `image_id`, `label`, `eeg`).
        image_embeds (`torch.Tensor` of shape `(n_images, dim)`): L2-normalised embeddings of the split's images.
        image_ids (`list[str]`): their ids; image_labels (`np.ndarray`): their concepts.
        embed_eeg (`Callable[[torch.Tensor], torch.Tensor]`): raw EEG `(n, C, T)` -> normalised embeddings.
        ways (`tuple[int, ...]`, *optional*): k values; those above the number of images are replaced by it.
        n_draws (`int`, *optional*, defaults to 0): see [`way_accuracy`].
        seed (`int`, *optional*, defaults to 0): seed of sampled draws.
        subjects (`list[int]`, *optional*): evaluated subjects (default: all in the split).
        single_trial (`bool`, *optional*): also score single trials (`None`: when the split has more than one row
            per subject and image; `True` on a split without is refused, see [`single_trial_scoring`]).
        dataset_subjects (`list[int]`, *optional*): every subject of the evaluated dataset (default: the split's),
            with those the model records, to tell leave-one-subject-out from cross-subject.
        where (`str`, *optional*): names the dataset and split in error messages.
    """
    check_seed(seed, "seed")
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 0:
        raise ValueError(f"n_draws must be an int >= 0, got {n_draws!r}")
    n_images = len(image_ids)
    if n_images < 2:
        raise ValueError(f"the zero-shot protocol needs at least 2 test images, the split has {n_images}")
    requested = sorted({int(k) for k in ways})
    if not requested or requested[0] < 2:
        raise ValueError(f"ways must be integers >= 2, got {list(ways)}")
    column = {image_id: i for i, image_id in enumerate(image_ids)}
    n_concepts = len(np.unique(image_labels))
    max_k = 1 + n_images - int(np.max(np.unique(image_labels, return_counts=True)[1]))
    effective = sorted({min(k, max_k) for k in requested})
    small = split.select_columns(["subject", "image_id"]).to_dict()
    all_subjects = np.asarray(small["subject"])
    trial_image = np.asarray([column[str(i)] for i in small["image_id"]])
    present = sorted(set(all_subjects.tolist()))
    chosen = present if subjects is None else [int(s) for s in subjects]
    missing = sorted(set(chosen) - set(present))
    if missing:
        raise ValueError(f"subjects {missing} have no trials in the evaluated split (subjects: {present})")
    single_trial = single_trial_scoring(split, single_trial, where)
    eeg_view = split.select_columns(["eeg"]).with_format("numpy")
    train_subjects, recorded_subjects = training_subjects(model)
    all_subjects_known = sorted(set(recorded_subjects) | set(dataset_subjects or present))
    gallery = image_embeds.float().numpy()
    per_subject: dict[str, Any] = {}
    for subject in chosen:
        rows = np.flatnonzero(all_subjects == subject)
        eeg = np.asarray(eeg_view[rows.tolist()]["eeg"], dtype=np.float32)
        images = np.unique(trial_image[rows])
        averaged = np.stack([eeg[trial_image[rows] == i].mean(axis=0) for i in images])
        modes = {"averaged": (averaged, images)}
        if single_trial:
            modes["single_trial"] = (eeg, trial_image[rows])
        result: dict[str, Any] = {"regime": subject_regime(train_subjects, all_subjects_known, subject),
                                  "n_queries": {}}
        for mode, (values, target) in modes.items():
            embeds = torch.cat([embed_eeg(torch.as_tensor(values[i:i + 256])) for i in range(0, len(values), 256)])
            scores = embeds.float().numpy() @ gallery.T
            result["n_queries"][mode] = int(len(values))
            result[mode] = {f"{k}-way": way_accuracy(scores, target, image_labels, k, n_draws=n_draws, seed=seed,
                                                     subject=subject) for k in effective}
        per_subject[str(subject)] = result
    modes = ["averaged", "single_trial"] if single_trial else ["averaged"]
    mean = {mode: {f"{k}-way": subject_summary([per_subject[str(s)][mode][f"{k}-way"] for s in chosen])
                   for k in effective} for mode in modes}
    regimes = sorted({per_subject[str(s)]["regime"] for s in chosen})
    return {
        "protocol": "things-zero-shot",
        "ways": effective, "ways_requested": requested,
        "chance": {f"{k}-way": {"top1": 1.0 / k, "top5": 5.0 / k if k > 5 else None} for k in effective},
        "draws": {"n_draws": n_draws, "seed": seed if n_draws else None,
                  "method": "sampled" if n_draws else "exact mean over all distractor sets"},
        "regime": regimes[0] if len(regimes) == 1 else regimes,
        "train_subjects": train_subjects, "dataset_subjects": all_subjects_known, "evaluated_subjects": chosen,
        "single_trial": single_trial,
        "counts": {"test_images": n_images, "test_concepts": int(n_concepts)},
        "mean_over_subjects": mean,
        "per_subject": per_subject,
        "definitions": THINGS_DEFINITIONS, "regime_definitions": REGIME_DEFINITIONS,
        "published_reference": PUBLISHED_THINGS_EEG2,
    }
