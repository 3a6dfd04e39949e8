"""Train an EEG encoder (LSTM or CNN) with a triplet or supervised loss through Accelerate.

Follows the shape of accelerate's `nlp_example.py`: `Accelerator`, `set_seed`, data, model, optimizer,
one `prepare`, then the loop. Model selection uses the validation split only (the authors selected
on test for ThoughtViz/Object and for fine-tuning; reference-impl.md s12.2).
"""

from __future__ import annotations

from typing import Any

import torch

from ..metrics import kmeans_accuracy
from ..models import EEGEncoderConfig, EEGEncoderForClassification, EEGEncoderModel
from ..utils.names import TRAINING_RECORD
from .args import EncoderTrainingArguments
from .common import (
    EEGBatchDataset,
    compute_embeddings,
    finish_run,
    load_train_validation,
    make_accelerator,
    prepare_run_dir,
    restore_state,
    run_record,
    shuffled_loader,
    start_run,
    train_epochs,
)
from .losses import get_encoder_loss


def build_encoder(args: EncoderTrainingArguments, info: dict[str, Any], class_names: list[str]):
    """Create the encoder model for `args` and the dataset described by `info`."""
    config = EEGEncoderConfig(
        architecture=args.architecture, n_chans=int(info["n_chans"]), n_times=int(info["n_times"]),
        sfreq=info.get("sfreq"), id2label=dict(enumerate(class_names)),
        label2id={n: i for i, n in enumerate(class_names)}, **args.encoder_config,
    )
    model_class = EEGEncoderForClassification if args.loss == "supervised" else EEGEncoderModel
    return model_class(config)


def encoder_of(model: torch.nn.Module) -> torch.nn.Module:
    """The `EEGEncoderModel` inside a classification model (or the model itself)."""
    return getattr(model, "eeg_encoder", model)


def load_training_data(args: EncoderTrainingArguments):
    """The DatasetDict to train on (classes in `exclude_classes` removed) and its EEG metadata."""
    return load_train_validation(args, exclude=args.exclude_classes)


def validation_metrics(model: torch.nn.Module, dataset, supervised: bool) -> dict[str, float]:
    """k-means accuracy (and accuracy for supervised models) on the validation split."""
    embeds, labels = compute_embeddings(encoder_of(model), dataset)
    metrics = {"val_kmeans": kmeans_accuracy(embeds, labels)}
    if supervised:
        with torch.no_grad():
            head = model.classifier
            logits = head(torch.as_tensor(embeds, device=head.weight.device, dtype=head.weight.dtype))
        metrics["val_accuracy"] = float((logits.argmax(-1).cpu().numpy() == labels).mean())
    return metrics


def training_step(model, batch: dict[str, torch.Tensor], args: EncoderTrainingArguments, loss_fn) -> torch.Tensor:
    """Loss of one batch."""
    if args.loss == "supervised":
        return model(eeg_values=batch["eeg_values"], labels=batch["labels"]).loss
    embeds = model(eeg_values=batch["eeg_values"]).eeg_embeds
    kwargs = {} if args.margin is None else {"margin": args.margin}
    return loss_fn(embeds, batch["labels"], **kwargs)


def train_encoder(args: EncoderTrainingArguments) -> dict[str, Any]:
    """Train, select on validation, save the selected model with `save_pretrained` in `output_dir/model`.

    Returns a summary dict (also written to `output_dir/model/eeg2img_training.json`).
    """
    from accelerate.utils import set_seed

    prepare_run_dir(args, "train-encoder")
    accelerator = make_accelerator(args)
    set_seed(args.seed)
    dataset, info = load_training_data(args)
    class_names = dataset["train"].features["label"].names
    model = build_encoder(args, info, class_names)
    loss_fn = get_encoder_loss(args.loss)
    loader = shuffled_loader(EEGBatchDataset(dataset["train"]), args.batch_size, accelerator.num_processes)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, betas=args.adam_betas,
                                 weight_decay=args.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    out_dir, logger = start_run(accelerator, args, "encoder")
    model_dir = out_dir / "model"
    state = restore_state(accelerator, args)
    selection_key = "val_accuracy" if args.loss == "supervised" else "val_kmeans"
    parts = {
        "model": model, "optimizer": optimizer, "loader": loader, "selection_key": selection_key,
        "loss": lambda net, batch: training_step(net, batch, args, loss_fn),
        "validate": lambda net: validation_metrics(net, dataset["validation"], args.loss == "supervised"),
        "save_best": lambda net, _: net.save_pretrained(model_dir),
    }
    seconds, seen = train_epochs(accelerator, args, parts, state, logger,
                                 desc=f"train-encoder ({args.architecture}, {args.loss})")
    summary = run_record(accelerator, args, state, seconds, seen, selection_key, dataset_info=info,
                         classes=class_names, excluded_classes=args.exclude_classes, training_args=args.to_dict())
    return finish_run(accelerator, summary, TRAINING_RECORD)
