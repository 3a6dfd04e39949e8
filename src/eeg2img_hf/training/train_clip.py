"""Train EEGClip (EEG tower + image tower, symmetric CLIP loss) through Accelerate.

Same shape as `train_encoder`: `Accelerator`, `set_seed`, data, model, optimizer, one `prepare`, the loop.
Images are decoded once per unique `image_id` and pushed through the model's image processor into a cached
float tensor, so an epoch only indexes that cache. The model kept is the one with the best EEG -> image
retrieval MRR on the VALIDATION split (the authors kept fixed-epoch snapshots; the test split is never used).
With several processes the global batch is split and each process computes the CLIP loss over its own share
(negatives are not gathered across processes), so `batch_size / num_processes` is the contrastive batch.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .args import PresetArguments
from .common import EEGBatchDataset, MetricsLogger, latest_checkpoint, save_checkpoint, select_classes, write_json

TRAINING_RECORD = "eeg2img_training.json"
SELECTION_METRIC = "val_exact_mrr"
POSITIVES = ("diagonal", "image", "class")


@dataclass
class ClipTrainingArguments(PresetArguments):
    """Everything `train_clip` needs. Presets in `CLIP_PRESETS` fill these; any field can be overridden.

    Args:
        dataset: a simulated preset (`"eegcvpr40"`, `"thoughtviz"`, `"object"`, `"sim:<preset>"`) or the path of
            a DatasetDict saved with `save_to_disk` in the package schema (splits `train` and `validation`).
        output_dir: where checkpoints, logs and the final model (`output_dir/model`) go.
        model_preset: `EEGClipConfig` preset (`"authors"`, `"cpu-small"`, `"tiny"`).
        model_config: overrides of the model preset (`encoder_config` / `vision_config` dicts update the
            preset's); `n_chans`, `n_times`, `sfreq` always come from the dataset.
        encoder: folder of a trained `EEGEncoderModel` (e.g. `train-encoder`'s `.../model`) whose config and
            weights initialise the EEG tower; `None` trains it from scratch.
        classes: keep only these class names (all splits, labels re-indexed); `None` keeps all.
        epochs / max_steps: training length (`max_steps` stops early when set).
        batch_size: global batch (split across processes).
        learning_rate / adam_betas / weight_decay: Adam settings (authors: 3e-4, (0.9, 0.999), 0).
        class_balanced: draw batches with [`UniqueKeyBatchSampler`]: no two trials of the same image in one batch
            (the authors' shuffled loader let trials of one image, seen by different subjects, act as each
            other's negatives); with `unique_classes` no two trials of the same class either (needs
            `batch_size` <= number of classes).
        unique_classes: see `class_balanced`.
        positives: which pairs the loss treats as positives: `"diagonal"` (the authors': only the paired image),
            `"image"` (every pair in the batch that shares an `image_id`) or `"class"` (shares a label).
        simulate: keyword arguments for `simulate_dataset` when `dataset` is a preset.
        eval_every_epochs: validation frequency.
        checkpoint_every_steps: `accelerator.save_state` frequency (0 = at the end of every epoch).
        keep_checkpoints: how many state checkpoints to keep.
        resume: continue from the latest checkpoint in `output_dir`.
        log_with: trackers: any of `"csv"`, `"tensorboard"`.
        seed: seed for `accelerate.utils.set_seed` and the batch sampler.
    """

    dataset: str = "eegcvpr40"
    output_dir: str = "outputs/clip"
    model_preset: str = "authors"
    model_config: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None
    classes: list[str] | None = None
    epochs: int = 2048
    max_steps: int | None = None
    batch_size: int = 64
    learning_rate: float = 3e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    class_balanced: bool = False
    unique_classes: bool = False
    positives: str = "diagonal"
    simulate: dict[str, Any] = field(default_factory=dict)
    eval_every_epochs: int = 1
    checkpoint_every_steps: int = 0
    keep_checkpoints: int = 2
    resume: bool = False
    log_with: list[str] = field(default_factory=lambda: ["csv", "tensorboard"])
    seed: int = 45

    KIND: ClassVar[str] = "clip"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"epochs must be >= 1 and batch_size >= 2, got {self.epochs} and {self.batch_size}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 when given, got {self.max_steps}")
        if self.positives not in POSITIVES:
            raise ValueError(f"positives must be one of {POSITIVES}, got {self.positives!r}")
        if self.unique_classes and not self.class_balanced:
            raise ValueError("unique_classes needs class_balanced=True")
        if self.eval_every_epochs < 1:
            raise ValueError(f"eval_every_epochs must be >= 1, got {self.eval_every_epochs}")
        unknown = set(self.log_with) - {"csv", "tensorboard"}
        if unknown:
            raise ValueError(f"log_with accepts 'csv' and 'tensorboard', got {sorted(unknown)}")
        self.adam_betas = tuple(self.adam_betas)


CLIP_PRESETS: dict[str, dict[str, Any]] = {
    # The authors' EEGClip run (reference-impl.md s8): batch 64, Adam 3e-4, 2048 epochs (their loop ran 2049 and
    # saved snapshots at fixed epochs), shuffled batches, diagonal targets, frozen ResNet-50 at 224 px.
    # Load `microsoft/resnet-50` weights into `vision_model` for the pretrained tower (not done offline).
    "authors": {"dataset": "eegcvpr40", "model_preset": "authors", "epochs": 2048, "batch_size": 64,
                "learning_rate": 3e-4},
    # About 3 minutes on 2 CPU cores (OMP_NUM_THREADS=1): the simulated EEGCVPR40 restricted to 10 of its 40 classes
    # with 12 trials per block (2,160 trials), the `cpu-small` EEGClip (tiny ResNet at 64 px trained from scratch,
    # learnable logit scale) with a small batch-norm CNN as EEG tower: the small LSTM stayed at chance on
    # validation within this budget (README, results), batches without repeated images.
    "cpu-small": {"dataset": "eegcvpr40", "model_preset": "cpu-small", "epochs": 10, "batch_size": 32,
                  "learning_rate": 1e-3, "class_balanced": True, "positives": "image",
                  "model_config": {"encoder_config": {"architecture": "cnn", "cnn_channels": [16, 32, 64, 64],
                                                      "cnn_norm": "batch", "cnn_dropout": 0.0}},
                  "simulate": {"trials_per_block": 12,
                               "classes": ["German shepherd", "Egyptian cat", "anemone fish", "canoe", "golf ball",
                                           "pool table", "banana", "pizza", "daisy", "airliner"]}},
}

ClipTrainingArguments.PRESETS = CLIP_PRESETS


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
    """

    def __init__(self, dataset, pixel_cache: torch.Tensor, image_index: np.ndarray) -> None:
        super().__init__(dataset)
        self.pixel_cache = pixel_cache
        self.image_index = torch.as_tensor(image_index, dtype=torch.long)

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        batch = super().__getitems__(indices)
        image_index = self.image_index[list(indices)]
        return {**batch, "image_index": image_index, "pixel_values": self.pixel_cache[image_index]}


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
    """The DatasetDict to train on (restricted to `args.classes`) and its EEG metadata."""
    from ..data import get_eeg_info, load_eeg_dataset

    dataset = load_eeg_dataset(args.dataset, **args.simulate)
    info = get_eeg_info(dataset)
    for split in ("train", "validation"):
        if split not in dataset:
            raise ValueError(f"the dataset needs a {split!r} split for training, it has {sorted(dataset)}")
    if args.classes:
        dataset = select_classes(dataset, keep=list(args.classes))
    return dataset, info


def build_clip_model(args: ClipTrainingArguments, info: dict[str, Any], class_names: list[str]):
    """Create the EEGClip model: preset + overrides, EEG shape from the dataset, optional trained EEG tower."""
    from ..models import EEGClipConfig, EEGClipModel, EEGEncoderModel

    overrides = dict(args.model_config)
    shape = {"n_chans": int(info["n_chans"]), "n_times": int(info["n_times"]), "sfreq": info.get("sfreq")}
    encoder = None
    if args.encoder is not None:
        if not Path(args.encoder).is_dir():
            raise ValueError(f"--encoder {args.encoder!r} is not a folder holding a trained EEGEncoderModel")
        encoder = EEGEncoderModel.from_pretrained(args.encoder)
        got = {"n_chans": encoder.config.n_chans, "n_times": encoder.config.n_times}
        if got != {k: shape[k] for k in got}:
            raise ValueError(f"the encoder in {args.encoder!r} expects {got}, the dataset has {shape}")
        overrides["encoder_config"] = encoder.config.to_dict()
    else:
        overrides["encoder_config"] = {**overrides.get("encoder_config", {}), **shape}
    config = EEGClipConfig.from_preset(
        args.model_preset, id2label=dict(enumerate(class_names)), label2id={n: i for i, n in enumerate(class_names)},
        **overrides,
    )
    model = EEGClipModel(config)
    if encoder is not None:
        model.eeg_model.load_state_dict(encoder.state_dict())
    return model


def _loss_targets(batch: dict[str, torch.Tensor], positives: str) -> torch.Tensor | None:
    from ..models.eeg_clip import positives_from_ids

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
    from ..metrics import retrieval_report

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    eeg = []
    for start in range(0, len(dataset), batch_size):
        batch = EEGBatchDataset.__getitems__(dataset, range(start, min(start + batch_size, len(dataset))))
        eeg.append(model.get_eeg_features(batch["eeg_values"].to(device)).float().cpu())
    images = torch.cat([model.get_image_features(dataset.pixel_cache[i:i + batch_size].to(device)).float().cpu()
                        for i in range(0, len(dataset.pixel_cache), batch_size)])
    model.train(was_training)
    labels = np.asarray(dataset.dataset["label"])
    index = dataset.image_index.numpy()
    report = retrieval_report(torch.cat(eeg), images[index], labels, image_ids=index)
    exact, same = report["eeg_to_image"]["exact_image"], report["eeg_to_image"]["same_class"]
    return {"val_exact_mrr": exact["mrr"], "val_exact_top1": exact["top1"], "val_class_map": same["map"],
            "val_class_top1": report["eeg_classification_by_image_prototypes"]["top1"]}


def _make_accelerator(args: ClipTrainingArguments):
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

    return Accelerator(
        log_with=["tensorboard"] if "tensorboard" in args.log_with else None,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=f"{args.output_dir}/logs"),
        dataloader_config=DataLoaderConfiguration(split_batches=True, use_seedable_sampler=True, data_seed=args.seed),
    )


def _check_output_dir(args: ClipTrainingArguments) -> None:
    """Refuse to train over an earlier run's model or checkpoints unless resuming."""
    out_dir = Path(args.output_dir)
    if not args.resume and ((out_dir / "model").exists() or latest_checkpoint(out_dir) is not None):
        raise ValueError(
            f"{str(out_dir)!r} already holds a training run (model/ or checkpoints/); pass resume=True (--resume) "
            "to continue it or choose another output_dir"
        )


def _restore(accelerator, args: ClipTrainingArguments) -> dict[str, Any]:
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": None, "best_epoch": None, "best_metrics": None}
    path = latest_checkpoint(args.output_dir) if args.resume else None
    if path is None:
        if args.resume:
            accelerator.print(f"--resume: no checkpoint in {args.output_dir}, starting from scratch")
        return state
    accelerator.load_state(str(path))
    state.update(json.loads((path / "trainer_state.json").read_text()))
    accelerator.print(f"resumed from {path} (epoch {state['epoch']}, step {state['global_step']})")
    return state


def _build_loader(args: ClipTrainingArguments, train: ClipBatchDataset, num_processes: int):
    """Shuffled batches (authors) or [`UniqueKeyBatchSampler`] batches; returns `(loader, sampler or None)`."""
    from .common import identity_collate

    if args.batch_size % num_processes:
        raise ValueError(f"batch_size {args.batch_size} must be divisible by {num_processes} processes")
    if len(train) < args.batch_size:
        raise ValueError(f"batch_size {args.batch_size} exceeds the {len(train)} training trials")
    if not args.class_balanced:
        loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                             collate_fn=identity_collate)
        return loader, None
    keys = np.asarray(train.dataset["label"]) if args.unique_classes else train.image_index.numpy()
    sampler = UniqueKeyBatchSampler(keys, args.batch_size, seed=args.seed)
    return torch.utils.data.DataLoader(train, batch_sampler=sampler, collate_fn=identity_collate), sampler


def _save_model(model, processor, model_dir: Path) -> None:
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)


def train_clip(args: ClipTrainingArguments) -> dict[str, Any]:
    """Train EEGClip, keep the model with the best validation EEG -> image MRR, save it with its image processor.

    `output_dir/model` receives `save_pretrained` (safetensors, remote-code files), the image processor
    (`AutoImageProcessor.from_pretrained(output_dir/model)` works) and `eeg2img_training.json`. Returns that
    training record as a dict.
    """
    from accelerate.utils import set_seed

    from ..models import make_image_processor

    _check_output_dir(args)
    accelerator = _make_accelerator(args)
    set_seed(args.seed)
    dataset, info = load_clip_data(args)
    class_names = dataset["train"].features["label"].names
    model = build_clip_model(args, info, class_names)
    processor = make_image_processor(model.config)
    splits = {name: ClipBatchDataset(dataset[name], *cache_split_images(dataset[name], processor)[:2])
              for name in ("train", "validation")}
    loader, sampler = _build_loader(args, splits["train"], accelerator.num_processes)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=args.learning_rate, betas=args.adam_betas, weight_decay=args.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    out_dir = Path(args.output_dir)
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        args.save(out_dir / "training_args.json")
    accelerator.init_trackers("clip", config={k: str(v) for k, v in args.to_dict().items()})
    state = _restore(accelerator, args)
    context = {"accelerator": accelerator, "args": args, "model": model, "optimizer": optimizer, "loader": loader,
               "sampler": sampler, "validation": splits["validation"], "processor": processor}
    seconds, seen = _train_loop(context, state)
    record = {
        "model_dir": str(out_dir / "model"), "selection_metric": SELECTION_METRIC, "best_validation": state["best"],
        "best_epoch": state["best_epoch"], "best_validation_metrics": state["best_metrics"],
        "epochs_run": state["epoch"], "global_step": state["global_step"], "train_seconds": round(seconds, 2),
        "train_samples_per_second": round(seen / max(seconds, 1e-9), 1), "num_processes": accelerator.num_processes,
        "dataset": args.dataset, "dataset_info": info, "classes": class_names,
        "n_train_trials": len(splits["train"]), "n_train_images": len(splits["train"].pixel_cache),
        "n_validation_trials": len(splits["validation"]),
        "n_validation_images": len(splits["validation"].pixel_cache), "training_args": args.to_dict(),
    }
    if accelerator.is_main_process:
        write_json(out_dir / "model" / TRAINING_RECORD, record)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return record


def _train_loop(ctx: dict[str, Any], state: dict[str, Any]) -> tuple[float, int]:
    """Epochs of CLIP steps with validation, model selection and checkpoints. Returns `(seconds, samples)`."""
    from tqdm.auto import tqdm

    accelerator, args, model, loader = ctx["accelerator"], ctx["args"], ctx["model"], ctx["loader"]
    out_dir = Path(args.output_dir)
    logger = MetricsLogger(accelerator, out_dir, use_csv="csv" in args.log_with)
    total = args.epochs * len(loader) if args.max_steps is None else min(args.max_steps, args.epochs * len(loader))
    progress = tqdm(total=total, initial=state["global_step"], disable=not accelerator.is_local_main_process,
                    desc=f"train-clip ({args.model_preset})")
    start, seen = time.perf_counter(), 0
    for epoch in range(state["epoch"], args.epochs):
        model.train()
        loader.set_epoch(epoch)
        if ctx["sampler"] is not None:
            ctx["sampler"].set_epoch(epoch)
        skip = state["step_in_epoch"] if epoch == state["epoch"] else 0
        batches = accelerator.skip_first_batches(loader, skip) if skip else loader
        losses = []
        for step_in_epoch, batch in enumerate(batches, start=skip):
            loss = model(eeg_values=batch["eeg_values"], pixel_values=batch["pixel_values"], return_loss=True,
                         targets=_loss_targets(batch, args.positives)).loss
            accelerator.backward(loss)
            ctx["optimizer"].step()
            ctx["optimizer"].zero_grad()
            losses.append(loss.item())
            seen += args.batch_size
            state["global_step"] += 1
            progress.update(1)
            if args.checkpoint_every_steps and state["global_step"] % args.checkpoint_every_steps == 0:
                save_checkpoint(accelerator, out_dir, state["global_step"],
                                {**state, "epoch": epoch, "step_in_epoch": step_in_epoch + 1}, args.keep_checkpoints)
            if state["global_step"] >= total:
                break
        finished = state["global_step"] >= total or epoch == args.epochs - 1
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else math.nan,
               "logit_scale": float(accelerator.unwrap_model(model).logit_scale.exp().clamp(max=100.0))}
        if (epoch + 1) % args.eval_every_epochs == 0 or finished:
            _validate(ctx, state, row, epoch)
        logger.log(row, step=state["global_step"])
        progress.set_postfix({k: round(v, 4) for k, v in row.items() if k != "epoch"})
        state.update(epoch=epoch + 1, step_in_epoch=0)
        if not args.checkpoint_every_steps:
            save_checkpoint(accelerator, out_dir, state["global_step"], state, args.keep_checkpoints)
        if finished:
            break
    progress.close()
    return time.perf_counter() - start, seen


def _validate(ctx: dict[str, Any], state: dict[str, Any], row: dict[str, Any], epoch: int) -> None:
    """Validation metrics into `row`; save the model when `SELECTION_METRIC` improves (main process)."""
    accelerator = ctx["accelerator"]
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(ctx["model"])
        metrics = validation_metrics(model, ctx["validation"])
        row.update(metrics)
        if state["best"] is None or metrics[SELECTION_METRIC] > state["best"]:
            state["best"], state["best_epoch"], state["best_metrics"] = metrics[SELECTION_METRIC], epoch + 1, metrics
            _save_model(model, ctx["processor"], Path(ctx["args"].output_dir) / "model")
    accelerator.wait_for_everyone()
