"""Train the image -> EEG-space encoder and evaluate image -> EEG space -> image reconstructions.

Training (`train_image_to_eeg`) regresses, for every training trial, the frozen EEG encoder's embedding of that
trial from the trial's image (and, optionally, its subject), as the authors' `Image2EEG/train.py` does
(docs/authors-code.md, 'Image -> EEG encoder'), through Accelerate. Model selection uses the VALIDATION split
only (k-means accuracy of the predicted embeddings, the authors' criterion, or their mean cosine to the targets).
The selected model is saved with `save_pretrained` (safetensors) together with its image processor, so training and
inference see the same preprocessing (the authors' 0..1 vs 0..255 mismatch, docs/authors-code.md, 'Bugs and quirks',
cannot happen).

Evaluation (`evaluate_reconstruction`) runs the `"image-to-eeg-to-image"` pipeline on a dataset's images and
asks the generated-image classifier (`metrics.image_classifier`, the "judge") whether each reconstruction shows
the class of its input image, separately for images seen in training and unseen ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import get_eeg_info, load_eeg_dataset
from ..metrics import kmeans_accuracy
from ..models import ImageToEEGConfig, ImageToEEGModel
from ..models.image_to_eeg import IMAGE_TO_EEG_PRESETS
from ..utils.interrupts import interruptible
from ..utils.names import TRAINING_RECORD
from ..utils.vision_towers import vision_tower_record
from .args import IMAGE_TO_EEG_TRAINING_PRESETS, ImageToEEGTrainingArguments
from .common import (
    finish_run,
    make_accelerator,
    prepare_run_dir,
    restore_state,
    run_record,
    shuffled_loader,
    start_run,
    train_epochs,
)
from .embeddings import EMBEDS_COLUMN, add_eeg_embeddings
from .train_gan import load_frozen_encoder
from .vision_towers import build_with_vision_tower, check_vision_tower_plan

__all__ = [
    "IMAGE_TO_EEG_TRAINING_PRESETS",
    "ImageToEEGTrainingArguments",
    "train_image_to_eeg",
]


class _TrialImages(torch.utils.data.Dataset):
    """Trials as (index into unique processed images, target embedding, label, subject); fetched a batch at a time."""

    def __init__(self, pixels: torch.Tensor, image_index: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
                 subjects: torch.Tensor) -> None:
        self.pixels, self.image_index, self.targets, self.labels, self.subjects = (
            pixels, image_index, targets, labels, subjects)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return {"pixel_values": self.pixels[self.image_index[index]], "target_embeds": self.targets[index],
                "labels": self.labels[index], "subject": self.subjects[index]}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


def unique_images(split) -> tuple[list[str], list[int], np.ndarray]:
    """`(image_ids, first_rows, trial_to_image)`: each distinct `image_id` once, in order of first appearance."""
    ids = list(split["image_id"])
    first: dict[str, int] = {}
    for row, image_id in enumerate(ids):
        first.setdefault(image_id, row)
    position = {image_id: k for k, image_id in enumerate(first)}
    return list(first), list(first.values()), np.asarray([position[i] for i in ids], dtype=np.int64)


def process_split(split, image_processor, batch_size: int = 256) -> _TrialImages:
    """Decode every distinct image of a split once, run the image processor, and pair trials with targets."""
    _, rows, trial_to_image = unique_images(split)
    chunks = []
    for start in range(0, len(rows), batch_size):
        pictures = [p.convert("RGB") for p in split.select(rows[start : start + batch_size])["image"]]
        chunks.append(image_processor(pictures, return_tensors="pt")["pixel_values"])
    targets = torch.as_tensor(np.asarray(split.with_format("numpy")[EMBEDS_COLUMN]), dtype=torch.float32)
    return _TrialImages(torch.cat(chunks), torch.from_numpy(trial_to_image), targets,
                        torch.as_tensor(np.asarray(split["label"]), dtype=torch.long),
                        torch.as_tensor(np.asarray(split["subject"]), dtype=torch.long))


def build_image_to_eeg_model(args: ImageToEEGTrainingArguments, encoder, n_subjects: int):
    """`ImageToEEGModel` from the preset + overrides, sized to the encoder's embedding, with its backbone loaded
    from `args.vision_model` when set (a frozen backbone that stays random is refused)."""
    overrides = {"eeg_embed_dim": int(encoder.config.embed_dim),
                 "n_subjects": n_subjects if args.subject_conditioning else None,
                 "generator_name_or_path": args.generator, **args.model_config}
    return build_with_vision_tower(ImageToEEGModel, ImageToEEGConfig, args, overrides)


def load_image_to_eeg_data(args: ImageToEEGTrainingArguments, encoder, accelerator) -> dict[str, Any]:
    """The `train` and `validation` splits with the frozen encoder's (cached) embeddings of every trial."""

    dataset = load_eeg_dataset(args.dataset, **args.simulate)
    for split in ("train", "validation"):
        if split not in dataset:
            raise ValueError(f"the dataset needs a {split!r} split, it has {sorted(dataset)}")
    dataset = type(dataset)({s: dataset[s] for s in ("train", "validation")})
    info = get_eeg_info(dataset)
    for key in ("n_chans", "n_times"):
        if key in info and int(info[key]) != int(getattr(encoder.config, key)):
            raise ValueError(f"the encoder expects {key}={getattr(encoder.config, key)}, the dataset has {info[key]}")
    with accelerator.main_process_first():  # rank 0 computes the cache, the others read it
        dataset, cache = add_eeg_embeddings(dataset, encoder, Path(args.output_dir) / "embeddings")
    n_subjects = max(int(max(dataset[s]["subject"])) for s in dataset)
    return {"dataset": dataset, "info": info, "class_names": dataset["train"].features["label"].names,
            "n_subjects": n_subjects, "embeddings_cache": cache}


@torch.no_grad()
def validation_metrics(model, view: _TrialImages, loss: str, margin: float, batch_size: int = 256) -> dict[str, float]:
    """Validation loss, k-means accuracy of the predicted embeddings and their mean cosine to the targets."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    subject_on = model.config.n_subjects is not None
    embeds, losses = [], []
    for start in range(0, len(view), batch_size):
        rows = range(start, min(start + batch_size, len(view)))
        batch = {k: v.to(device) for k, v in view.__getitems__(rows).items()}
        out = model(pixel_values=batch["pixel_values"], subject=batch["subject"] if subject_on else None,
                    target_embeds=batch["target_embeds"], labels=batch["labels"], loss=loss, margin=margin)
        embeds.append(out.eeg_embeds.float().cpu())
        losses.append(float(out.loss) * len(batch["labels"]))
    model.train(was_training)
    predicted = torch.cat(embeds)
    cosine = torch.nn.functional.cosine_similarity(predicted, view.targets, dim=-1)
    return {"val_loss": sum(losses) / len(view), "val_kmeans": kmeans_accuracy(predicted.numpy(), view.labels.numpy()),
            "val_cosine": float(cosine.mean())}


def _save_model(model, image_processor, model_dir: Path) -> None:
    model.save_pretrained(model_dir)
    image_processor.save_pretrained(model_dir)


@interruptible
def train_image_to_eeg(args: ImageToEEGTrainingArguments) -> dict[str, Any]:
    """Train, select on validation, save the selected model and its image processor in `output_dir/model`.

    Returns a summary dict (also written to `output_dir/model/eeg2img_training.json`).
    """
    from accelerate.utils import set_seed

    check_vision_tower_plan(args, IMAGE_TO_EEG_PRESETS)  # before any data is read
    prepare_run_dir(args, "train-image-to-eeg")
    accelerator = make_accelerator(args)
    set_seed(args.seed)
    encoder = load_frozen_encoder(args.encoder, accelerator.device)
    data = load_image_to_eeg_data(args, encoder, accelerator)
    set_seed(args.seed)
    with accelerator.main_process_first():  # one process downloads a pretrained tower, the others use the cache
        model = build_image_to_eeg_model(args, encoder, data["n_subjects"])
    image_processor = model.build_image_processor()  # saved with the model: training and inference agree
    data.update({s: process_split(data["dataset"][s], image_processor) for s in ("train", "validation")})
    loader = shuffled_loader(data["train"], args.batch_size, accelerator.num_processes)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=args.learning_rate, betas=args.adam_betas)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    out_dir, logger = start_run(accelerator, args, "image_to_eeg")
    state = restore_state(accelerator, args)
    selection_key = f"val_{args.selection}"
    subject_on = accelerator.unwrap_model(model).config.n_subjects is not None

    def loss(net, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return net(pixel_values=batch["pixel_values"], subject=batch["subject"] if subject_on else None,
                   target_embeds=batch["target_embeds"], labels=batch["labels"], loss=args.loss,
                   margin=args.margin).loss

    parts = {
        "model": model, "optimizer": optimizer, "loader": loader, "loss": loss, "selection_key": selection_key,
        "validate": lambda net: validation_metrics(net, data["validation"], args.loss, args.margin),
        "save_best": lambda net, _: _save_model(net, image_processor, out_dir / "model"),
    }
    seconds, seen = train_epochs(accelerator, args, parts, state, logger, desc=f"train-image-to-eeg ({args.loss})")
    summary = run_record(
        accelerator, args, state, seconds, seen, selection_key, dataset_info=data["info"],
        classes=data["class_names"], n_train_trials=len(data["train"]), n_train_images=len(data["train"].pixels),
        embeddings_cache=data["embeddings_cache"],
        vision_tower=vision_tower_record(accelerator.unwrap_model(model).config), training_args=args.to_dict(),
    )
    return finish_run(accelerator, summary, TRAINING_RECORD)


# ----------------------------------------------------------------------------------------------------------
# Reconstruction evaluation
