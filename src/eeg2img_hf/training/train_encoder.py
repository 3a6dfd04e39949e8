"""Train an EEG encoder (LSTM, CNN, tsconv or a braindecode model) with a triplet, supervised or combined loss
through Accelerate.

Follows the shape of accelerate's `nlp_example.py`: `Accelerator`, `set_seed`, data, model, optimizer,
one `prepare`, then the loop. Model selection uses the validation split only (the authors selected
on test for ThoughtViz/Object and for fine-tuning; docs/authors-code.md, 'Bugs and quirks').
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..metrics import kmeans_accuracy
from ..models import EEGEncoderConfig, EEGEncoderForClassification, EEGEncoderModel
from ..utils.interrupts import interruptible
from ..utils.names import TRAINING_RECORD
from .args import EncoderTrainingArguments
from .braindecode_init import braindecode_published_kwargs, load_braindecode_weights
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
from .eeg_augment import augment_eeg
from .losses import get_encoder_loss

HEAD_LOSSES = ("supervised", "supervised+triplet-ms")
"""Losses trained through `EEGEncoderForClassification` (a linear class head over the embedding)."""


def braindecode_fields(args: EncoderTrainingArguments) -> dict[str, Any]:
    """The `EEGEncoderConfig` fields of a braindecode tower: the class and its arguments (those recorded by the model
    of `init_from_braindecode` first, then `braindecode_kwargs`)."""
    if args.architecture != "braindecode":
        return {}
    published = braindecode_published_kwargs(args.init_from_braindecode) if args.init_from_braindecode else {}
    return {"braindecode_model": args.braindecode_model,
            "braindecode_kwargs": {**published, **args.braindecode_kwargs}}


def build_encoder(args: EncoderTrainingArguments, info: dict[str, Any], class_names: list[str]):
    """Create the encoder model for `args` and the dataset described by `info` (a braindecode tower starts from the
    weights of `args.init_from_braindecode` when set)."""
    config = EEGEncoderConfig(
        architecture=args.architecture, n_chans=int(info["n_chans"]), n_times=int(info["n_times"]),
        sfreq=info.get("sfreq"), id2label=dict(enumerate(class_names)),
        label2id={n: i for i, n in enumerate(class_names)}, **{**args.encoder_config, **braindecode_fields(args)},
    )
    model_class = EEGEncoderForClassification if args.loss in HEAD_LOSSES else EEGEncoderModel
    model = model_class(config)
    if args.gradient_checkpointing:  # transformers' current name, else the older one (same switch)
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
    if args.init_from_braindecode:
        load_braindecode_weights(encoder_of(model), args.init_from_braindecode)
    return model


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
    """Loss of one batch (augmented first when any `augment_*` option is on)."""
    eeg = augment_eeg(batch["eeg_values"], time_shift=args.augment_time_shift,
                      channel_dropout=args.augment_channel_dropout, noise_std=args.augment_noise_std)
    if args.loss == "supervised":
        return model(eeg_values=eeg, labels=batch["labels"]).loss
    kwargs = {} if args.margin is None else {"margin": args.margin}
    if args.loss == "supervised+triplet-ms":
        out = model(eeg_values=eeg)
        return loss_fn(out.logits, batch["labels"], embeds=out.eeg_embeds, triplet_weight=args.triplet_weight,
                       **kwargs)
    embeds = model(eeg_values=eeg).eeg_embeds
    return loss_fn(embeds, batch["labels"], **kwargs)


def step_seed(seed: int, process_index: int, step: int) -> int:
    """Seed of the random draws (augmentation, dropout) of one training step of one process: a function of the run's
    seed, the process and the step only, so that a resumed run draws what the uninterrupted run drew."""
    return int(np.random.SeedSequence([seed, process_index, step]).generate_state(1)[0])


def seeded_training_step(model, batch: dict[str, torch.Tensor], args: EncoderTrainingArguments, loss_fn,
                         seed: int) -> torch.Tensor:
    """[`training_step`] with the global random generators seeded with `seed` (and restored afterwards)."""
    eeg = batch["eeg_values"]
    devices = [eeg.device.index if eeg.device.index is not None else torch.cuda.current_device()] if eeg.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return training_step(model, batch, args, loss_fn)


@interruptible
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
        # state["global_step"] is the index of the step being taken (restored on resume)
        "loss": lambda net, batch: seeded_training_step(
            net, batch, args, loss_fn, step_seed(args.seed, accelerator.process_index, state["global_step"])),
        "validate": lambda net: validation_metrics(net, dataset["validation"], args.loss in HEAD_LOSSES),
        # the combined loss's class head only shapes the embedding: its model folder holds the encoder alone
        "save_best": lambda net, _: (encoder_of(net) if args.loss == "supervised+triplet-ms" else net)
        .save_pretrained(model_dir),
    }
    seconds, seen = train_epochs(accelerator, args, parts, state, logger,
                                 desc=f"train-encoder ({args.architecture}, {args.loss})")
    summary = run_record(accelerator, args, state, seconds, seen, selection_key, dataset_info=info,
                         classes=class_names, excluded_classes=args.exclude_classes, training_args=args.to_dict())
    return finish_run(accelerator, summary, TRAINING_RECORD)
