"""Train EEGClip (EEG tower + image tower, symmetric CLIP loss) through Accelerate.

Same shape as `train_encoder`: `Accelerator`, `set_seed`, data, model, optimizer, one `prepare`, the loop.
Images are decoded once per unique `image_id` and pushed through the model's image processor into a cached
float tensor, so an epoch only indexes that cache. The model kept is the one with the best EEG -> image
retrieval MRR on the VALIDATION split (the authors kept fixed-epoch snapshots; the test split is never used).
With several processes the global batch is split and each process computes the CLIP loss over its own share
(negatives are not gathered across processes), so `batch_size / num_processes` is the contrastive batch.
With `blur_sigmas` set, the uncertainty-aware blur prior (`training.blur_prior`) blurs every training image at its
trial's uncertainty level before the image tower, and the tracked levels are checkpointed with the trainer state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import dataset_subjects
from ..metrics import retrieval_report
from ..models import EEGClipConfig, EEGClipModel, EEGEncoderModel, make_image_processor
from ..models.eeg_clip import CLIP_MODEL_PRESETS, positives_from_ids
from ..utils.interrupts import interruptible
from ..utils.model_folders import load_model_folder
from ..utils.names import TRAINING_RECORD
from ..utils.vision_towers import vision_tower_record
from .args import CLIP_PRESETS, SELECTION_METRIC, ClipTrainingArguments
from .blur_prior import UncertaintyTracker, blur_prior
from .clip_losses import clip_mse_loss
from .common import (
    EEGBatchDataset,
    check_batch_size,
    finish_run,
    identity_collate,
    load_train_validation,
    loader_generator,
    make_accelerator,
    prepare_run_dir,
    restore_state,
    run_record,
    shuffled_loader,
    start_run,
    train_epochs,
)
from .image_features import features_for_split, load_blurred_features, load_image_features
from .vision_towers import build_with_vision_tower, check_vision_tower_plan

# The argument classes and presets live in `training.args`; re-exported here, where they are used.
__all__ = ["CLIP_PRESETS", "ClipTrainingArguments", "UniqueKeyBatchSampler",
           "build_clip_model", "record_training_subjects", "train_clip"]


class UniqueKeyBatchSampler:
    """Batch sampler whose batches never hold two items with the same key (an image id, or a class).

    Each epoch shuffles the items of every key, then fills batch after batch with one item from each of the
    `batch_size` keys that have the most items left (ties broken at random), and finally shuffles the batch
    order. Picking the fullest keys first yields the largest possible number of full batches,
    `max b such that sum_k min(count_k, b) >= b * batch_size`; the leftover items (fewer than `batch_size`
    distinct keys) are dropped for that epoch. The same `seed` and epoch give the same batches.

    Args:
        keys (`Sequence`): one key per dataset item (e.g. the `image_id` column, or labels).
        batch_size (`int`): items per batch; at most the number of distinct keys.
        seed (`int`, *optional*, defaults to 0): base seed; the epoch is mixed in via `set_epoch`.
    """

    def __init__(self, keys: Sequence, batch_size: int, seed: int = 0) -> None:
        _, inverse = np.unique(np.asarray(keys), return_inverse=True)
        self.groups = [np.flatnonzero(inverse == k) for k in range(int(inverse.max()) + 1)] if len(inverse) else []
        if batch_size < 1 or batch_size > len(self.groups):
            raise ValueError(
                f"batch_size {batch_size} must be between 1 and the number of distinct keys ({len(self.groups)}): "
                "a batch holds each key at most once"
            )
        self.batch_size = batch_size
        self.drop_last = True
        self.seed = seed
        self.epoch = 0
        counts = np.array([len(g) for g in self.groups])
        fits = [b for b in range(len(keys) // batch_size + 1) if np.minimum(counts, b).sum() >= b * batch_size]
        self._length = max(fits)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches `__iter__` yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        pools = [list(rng.permutation(g)) for g in self.groups]
        remaining = np.array([len(p) for p in pools])
        batches = []
        for _ in range(self._length):
            order = np.lexsort((rng.random(len(pools)), -remaining))  # most items left first, random ties
            chosen = order[: self.batch_size]
            if remaining[chosen[-1]] == 0:
                break
            batches.append([int(pools[k].pop()) for k in chosen])
            remaining[chosen] -= 1
        for i in rng.permutation(len(batches)):
            yield batches[i]


class ClipBatchDataset(EEGBatchDataset):
    """[`EEGBatchDataset`] of a split plus each trial's processed image from a cache of unique images.

    Args:
        dataset: a split in the package schema.
        pixel_cache (`torch.Tensor` of shape `(n_images, 3, image_size, image_size)`): processed unique images.
        image_index (`np.ndarray` of shape `(n_trials,)`): row of `pixel_cache` of every trial.
        image_key (`str`, *optional*, defaults to `"pixel_values"`): the model input the cache holds:
            `"pixel_values"`, or `"vision_features"` for precomputed pooled features of a frozen tower.
    """

    def __init__(self, dataset, pixel_cache: torch.Tensor, image_index: np.ndarray,
                 image_key: str = "pixel_values") -> None:
        super().__init__(dataset)
        self.pixel_cache = pixel_cache
        self.image_index = torch.as_tensor(image_index, dtype=torch.long)
        self.image_key = image_key

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        batch = super().__getitems__(indices)
        image_index = self.image_index[list(indices)]
        return {**batch, "trial_index": torch.as_tensor(list(indices), dtype=torch.long), "image_index": image_index,
                self.image_key: self.pixel_cache[image_index]}


def cache_split_images(split, processor, batch_size: int = 64) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Decode each unique image of a split once and run it through `processor`.

    Returns:
        `(pixel_cache, image_index, image_ids)`: processed images `(n_unique, C, H, W)` float32, the cache row of
        every trial, and the `image_id` of every cache row.
    """
    trial_ids = np.asarray(split["image_id"])
    unique_ids, first, inverse = np.unique(trial_ids, return_index=True, return_inverse=True)
    view = split.select_columns(["image"]).select(first.tolist())
    chunks = []
    for start in range(0, len(view), batch_size):
        images = [image.convert("RGB") for image in view[start:start + batch_size]["image"]]
        chunks.append(processor(images=images, return_tensors="pt")["pixel_values"].float())
    if not chunks:
        raise ValueError("cannot cache the images of an empty split")
    return torch.cat(chunks), inverse.astype(np.int64), unique_ids.tolist()


def load_clip_data(args: ClipTrainingArguments):
    """The DatasetDict to train on (restricted to `args.classes` and, in `train` / `validation`, to the subjects of
    `args.subjects` / `args.exclude_subjects`) and its EEG metadata."""
    dataset, info = load_train_validation(args, keep=args.classes)
    if args.subjects or args.exclude_subjects:
        keep, drop = set(args.subjects or []), set(args.exclude_subjects or [])
        present = set()
        for name in ("train", "validation"):
            present |= set(np.unique(dataset[name]["subject"]).tolist())
        unknown = sorted((keep | drop) - present)
        if unknown:
            raise ValueError(f"subjects {unknown} are not in the dataset's train / validation splits (subjects: "
                             f"{sorted(present)})")
        for name in ("train", "validation"):
            subjects = np.asarray(dataset[name]["subject"])
            mask = ~np.isin(subjects, list(drop)) & (np.isin(subjects, list(keep)) if keep else True)
            dataset[name] = dataset[name].select(np.flatnonzero(mask).tolist())
            if len(dataset[name]) == 0:
                raise ValueError(f"no {name} trials left after choosing subjects (subjects={args.subjects}, "
                                 f"exclude_subjects={args.exclude_subjects})")
    return dataset, info


def build_clip_model(args: ClipTrainingArguments, info: dict[str, Any], class_names: list[str]):
    """Create the EEGClip model: preset + overrides, EEG shape from the dataset, optional trained EEG tower,
    pretrained vision tower from `args.vision_model` (a frozen tower that stays random is refused)."""
    overrides = dict(args.model_config)
    shape = {"n_chans": int(info["n_chans"]), "n_times": int(info["n_times"]), "sfreq": info.get("sfreq")}
    encoder = None
    if args.encoder is not None:
        if not Path(args.encoder).is_dir():
            raise ValueError(f"--encoder {args.encoder!r} is not a folder holding a trained EEGEncoderModel")

        encoder = load_model_folder(EEGEncoderModel, args.encoder, what="encoder")
        got = {"n_chans": encoder.config.n_chans, "n_times": encoder.config.n_times}
        if got != {k: shape[k] for k in got}:
            raise ValueError(f"the encoder in {args.encoder!r} expects {got}, the dataset has {shape}")
        overrides["encoder_config"] = encoder.config.to_dict()
    else:
        overrides["encoder_config"] = {**overrides.get("encoder_config", {}), **shape}
    overrides.update(id2label=dict(enumerate(class_names)), label2id={n: i for i, n in enumerate(class_names)})
    model = build_with_vision_tower(EEGClipModel, EEGClipConfig, args, overrides)
    if encoder is not None:
        model.eeg_model.load_state_dict(encoder.state_dict())
    return model


def record_training_subjects(config: Any, dataset: Any) -> None:
    """Write into the model's config the subjects it is trained on (`train_subjects`: those of the `train` split)
    and the subjects of its dataset (`dataset_subjects`: every split's, with those the dataset metadata lists), so
    that an evaluation can tell subject-dependent, leave-one-subject-out, cross-subject and joint training apart."""
    config.train_subjects = sorted(int(s) for s in dataset["train"].unique("subject"))
    config.dataset_subjects = dataset_subjects(dataset)


def _loss_targets(batch: dict[str, torch.Tensor], positives: str) -> torch.Tensor | None:
    if positives == "diagonal":
        return None
    return positives_from_ids(batch["image_index"] if positives == "image" else batch["labels"])


@torch.no_grad()
def validation_metrics(model, dataset: ClipBatchDataset, batch_size: int = 256) -> dict[str, float]:
    """EEG -> image retrieval over the unique validation images and zero-shot class top-1 (validation split).

    `val_exact_mrr` / `val_exact_top1`: rank of each trial's own image among the unique images;
    `val_class_top1`: nearest image-class prototype; `val_class_map`: mAP with relevant = same class
    (definitions in `eeg2img_hf.metrics.RETRIEVAL_DEFINITIONS`).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    eeg = []
    for start in range(0, len(dataset), batch_size):
        batch = EEGBatchDataset.__getitems__(dataset, range(start, min(start + batch_size, len(dataset))))
        eeg.append(model.get_eeg_features(batch["eeg_values"].to(device)).float().cpu())
    key = getattr(dataset, "image_key", "pixel_values")
    images = torch.cat([
        model.get_image_features(**{key: dataset.pixel_cache[i:i + batch_size].to(device)}).float().cpu()
        for i in range(0, len(dataset.pixel_cache), batch_size)
    ])
    model.train(was_training)
    labels = np.asarray(dataset.dataset["label"])
    index = dataset.image_index.numpy()
    report = retrieval_report(torch.cat(eeg), images[index], labels, image_ids=index)
    exact, same = report["eeg_to_image"]["exact_image"], report["eeg_to_image"]["same_class"]
    return {"val_exact_mrr": exact["mrr"], "val_exact_top1": exact["top1"], "val_class_map": same["map"],
            "val_class_top1": report["eeg_classification_by_image_prototypes"]["top1"]}


def _build_loader(args: ClipTrainingArguments, train: ClipBatchDataset, num_processes: int):
    """Shuffled batches (authors) or [`UniqueKeyBatchSampler`] batches; returns `(loader, sampler or None)`."""
    if not args.class_balanced:
        return shuffled_loader(train, args.batch_size, num_processes), None
    check_batch_size(args.batch_size, len(train), num_processes)
    keys = np.asarray(train.dataset["label"]) if args.unique_classes else train.image_index.numpy()
    sampler = UniqueKeyBatchSampler(keys, args.batch_size, seed=args.seed)
    loader = torch.utils.data.DataLoader(train, batch_sampler=sampler, collate_fn=identity_collate,
                                         generator=loader_generator())
    return loader, sampler


def build_image_splits(args: ClipTrainingArguments, dataset, config, processor) -> tuple[dict, torch.Tensor | None]:
    """The `train` / `validation` [`ClipBatchDataset`]s (processed images, or a frozen tower's features read from
    `args.image_features`) and, for a blur prior served by that file, the training images' blurred features
    `(3, n_train_images, dim)` (else `None`)."""
    if args.image_features is None:
        return {name: ClipBatchDataset(dataset[name], *cache_split_images(dataset[name], processor)[:2])
                for name in ("train", "validation")}, None
    features, rows, _ = load_image_features(args.image_features, config)
    splits = {name: ClipBatchDataset(dataset[name], *features_for_split(dataset[name], features, rows,
                                                                        args.image_features), "vision_features")
              for name in ("train", "validation")}
    if args.blur_sigmas is None:
        return splits, None
    blurred = load_blurred_features(args.image_features, args.blur_sigmas, args.blur_center_weight, args.blur_falloff)
    return splits, torch.stack([features_for_split(dataset["train"], level, rows, args.image_features)[0]
                                for level in blurred])


def make_loss(args: ClipTrainingArguments, accelerator, image_key: str, tracker: UncertaintyTracker | None = None,
              blurred_bank: torch.Tensor | None = None):
    """The step loss `(model, batch) -> loss`: the model's CLIP loss (`args.loss="clip"`), or ATM's CLIP + MSE on the
    same embeddings ([`clip_mse_loss`], `"clip+mse"`); with the blur prior ([`UncertaintyTracker`]) each
    image is first blurred at its trial's level (or, with precomputed features, its features at that level are taken
    from `blurred_bank`, `(3, n_train_images, dim)`), and the step's pair similarities (the diagonal of
    `logits_per_eeg`, gathered from every process) update the levels used the next time the trials are drawn."""

    def loss(net, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        images = batch[image_key]
        if tracker is not None and blurred_bank is not None:
            images = blurred_bank[tracker.levels(batch["trial_index"]).to(images.device), batch["image_index"]]
        elif tracker is not None:
            sigma = tracker.sigmas(batch["trial_index"]).to(images.device)
            images = blur_prior(images, sigma, args.blur_center_weight, args.blur_falloff)
        output = net(eeg_values=batch["eeg_values"], **{image_key: images}, return_loss=True,
                     targets=_loss_targets(batch, args.positives))
        if tracker is not None:
            similarity = torch.diagonal(output.logits_per_eeg).detach()
            tracker.update(accelerator.gather(batch["trial_index"]).cpu(), accelerator.gather(similarity).cpu())
        if args.loss == "clip":
            return output.loss
        return clip_mse_loss(output.loss, output.eeg_embeds, output.image_embeds, args.mse_weight)

    return loss


def _save_model(model, processor, model_dir: Path) -> None:
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)


@interruptible
def train_clip(args: ClipTrainingArguments) -> dict[str, Any]:
    """Train EEGClip, keep the model with the best validation EEG -> image MRR, save it with its image processor.

    `output_dir/model` receives `save_pretrained` (safetensors, remote-code files), the image processor
    (`AutoImageProcessor.from_pretrained(output_dir/model)` works) and `eeg2img_training.json`. Returns that
    training record as a dict.
    """
    from accelerate.utils import set_seed

    check_vision_tower_plan(args, CLIP_MODEL_PRESETS)  # before any data is read
    prepare_run_dir(args, "train-clip")
    accelerator = make_accelerator(args)
    set_seed(args.seed)
    dataset, info = load_clip_data(args)
    class_names = dataset["train"].features["label"].names
    with accelerator.main_process_first():  # one process downloads a pretrained tower, the others use the cache
        model = build_clip_model(args, info, class_names)
    record_training_subjects(model.config, dataset)
    processor = make_image_processor(model.config)
    splits, blurred_bank = build_image_splits(args, dataset, model.config, processor)
    blurred_bank = blurred_bank.to(accelerator.device) if blurred_bank is not None else None
    image_key = splits["train"].image_key
    loader, sampler = _build_loader(args, splits["train"], accelerator.num_processes)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=args.learning_rate, betas=args.adam_betas, weight_decay=args.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    out_dir, logger = start_run(accelerator, args, "clip")
    state = restore_state(accelerator, args, best_metrics=None, blur_prior=None)
    tracker = None
    if args.blur_sigmas is not None:
        tracker = UncertaintyTracker(state["blur_prior"], len(splits["train"]), args.blur_sigmas, args.blur_momentum,
                                     args.blur_alpha)
        state["blur_prior"] = tracker.state  # checkpointed with the trainer state

    def save_best(net, metrics: dict[str, float]) -> None:
        state["best_metrics"] = metrics
        _save_model(net, processor, out_dir / "model")

    parts = {
        "model": model, "optimizer": optimizer, "loader": loader, "sampler": sampler,
        "loss": make_loss(args, accelerator, image_key, tracker, blurred_bank),
        "epoch_metrics": lambda net: {
            "logit_scale": float(accelerator.unwrap_model(net).logit_scale.detach().exp().clamp(max=100.0)),
            **(tracker.counts() if tracker is not None else {})},
        "validate": lambda net: validation_metrics(net, splits["validation"]),
        "selection_key": SELECTION_METRIC, "save_best": save_best,
    }
    model_config = accelerator.unwrap_model(model).config
    seconds, seen = train_epochs(accelerator, args, parts, state, logger, desc=f"train-clip ({args.model_preset})")
    record = run_record(
        accelerator, args, state, seconds, seen, SELECTION_METRIC, best_validation_metrics=state["best_metrics"],
        dataset_info=info, classes=class_names, n_train_trials=len(splits["train"]),
        n_train_images=len(splits["train"].pixel_cache), n_validation_trials=len(splits["validation"]),
        n_validation_images=len(splits["validation"].pixel_cache),
        train_subjects=model_config.train_subjects, dataset_subjects=model_config.dataset_subjects,
        image_features=args.image_features,
        blur_prior_levels=tracker.counts() if tracker is not None else None,
        vision_tower=vision_tower_record(accelerator.unwrap_model(model).config), training_args=args.to_dict(),
    )
    return finish_run(accelerator, record, TRAINING_RECORD)
