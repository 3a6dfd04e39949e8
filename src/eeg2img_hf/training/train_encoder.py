"""Train an EEG encoder (LSTM or CNN) with a triplet or supervised loss through Accelerate.

Follows the shape of accelerate's `nlp_example.py`: `Accelerator`, `set_seed`, data, model, optimizer,
one `prepare`, then the loop. Model selection uses the validation split only (the authors selected
on test for ThoughtViz/Object and for fine-tuning; reference-impl.md s12.2).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .args import EncoderTrainingArguments
from .common import (
    EEGBatchDataset,
    MetricsLogger,
    compute_embeddings,
    identity_collate,
    latest_checkpoint,
    save_checkpoint,
    select_classes,
    write_json,
)

TRAINING_RECORD = "eeg2img_training.json"


def build_encoder(args: EncoderTrainingArguments, info: dict[str, Any], class_names: list[str]):
    """Create the encoder model for `args` and the dataset described by `info`."""
    from ..models import EEGEncoderConfig, EEGEncoderForClassification, EEGEncoderModel

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
    from ..data import get_eeg_info, load_eeg_dataset

    dataset = load_eeg_dataset(args.dataset, **args.simulate)
    info = get_eeg_info(dataset)
    for split in ("train", "validation"):
        if split not in dataset:
            raise ValueError(f"the dataset needs a {split!r} split for training, it has {sorted(dataset)}")
    if args.exclude_classes:
        dataset = select_classes(dataset, exclude=args.exclude_classes)
    return dataset, info


def validation_metrics(model: torch.nn.Module, dataset, supervised: bool) -> dict[str, float]:
    """k-means accuracy (and accuracy for supervised models) on the validation split."""
    from ..metrics import kmeans_accuracy

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


def _make_accelerator(args: EncoderTrainingArguments):
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

    return Accelerator(
        log_with=["tensorboard"] if "tensorboard" in args.log_with else None,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=f"{args.output_dir}/logs"),
        dataloader_config=DataLoaderConfiguration(split_batches=True, use_seedable_sampler=True, data_seed=args.seed),
    )


def _restore(accelerator, args: EncoderTrainingArguments) -> dict[str, Any]:
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": None, "best_epoch": None}
    if not args.resume:
        return state
    path = latest_checkpoint(args.output_dir)
    if path is None:
        accelerator.print(f"--resume: no checkpoint in {args.output_dir}, starting from scratch")
        return state
    accelerator.load_state(str(path))
    import json

    state.update(json.loads((path / "trainer_state.json").read_text()))
    accelerator.print(f"resumed from {path} (epoch {state['epoch']}, step {state['global_step']})")
    return state


def train_encoder(args: EncoderTrainingArguments) -> dict[str, Any]:
    """Train, select on validation, save the selected model with `save_pretrained` in `output_dir/model`.

    Returns a summary dict (also written to `output_dir/model/eeg2img_training.json`).
    """
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from .losses import get_encoder_loss

    accelerator = _make_accelerator(args)
    set_seed(args.seed)
    dataset, info = load_training_data(args)
    class_names = dataset["train"].features["label"].names
    model = build_encoder(args, info, class_names)
    loss_fn = get_encoder_loss(args.loss)
    if args.batch_size % accelerator.num_processes:
        raise ValueError(f"batch_size {args.batch_size} must be divisible by {accelerator.num_processes} processes")
    if len(dataset["train"]) < args.batch_size:
        raise ValueError(f"batch_size {args.batch_size} exceeds the {len(dataset['train'])} training trials")
    loader = torch.utils.data.DataLoader(EEGBatchDataset(dataset["train"]), batch_size=args.batch_size, shuffle=True,
                                         drop_last=True, collate_fn=identity_collate)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, betas=args.adam_betas,
                                 weight_decay=args.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    out_dir, model_dir = Path(args.output_dir), Path(args.output_dir) / "model"
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        args.save(out_dir / "training_args.json")
    accelerator.init_trackers("encoder", config={k: str(v) for k, v in args.to_dict().items()})
    logger = MetricsLogger(accelerator, out_dir, use_csv="csv" in args.log_with)
    state = _restore(accelerator, args)
    total_steps = args.epochs * len(loader) if args.max_steps is None else min(args.max_steps, args.epochs * len(loader))
    progress = tqdm(total=total_steps, initial=state["global_step"], disable=not accelerator.is_local_main_process,
                    desc=f"train-encoder ({args.architecture}, {args.loss})")
    start, seen = time.perf_counter(), 0
    selection_key = "val_accuracy" if args.loss == "supervised" else "val_kmeans"
    for epoch in range(state["epoch"], args.epochs):
        model.train()
        loader.set_epoch(epoch)
        skip = state["step_in_epoch"] if epoch == state["epoch"] else 0
        batches = accelerator.skip_first_batches(loader, skip) if skip else loader
        losses = []
        for step_in_epoch, batch in enumerate(batches, start=skip):
            loss = training_step(model, batch, args, loss_fn)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            seen += args.batch_size
            state["global_step"] += 1
            progress.update(1)
            if args.checkpoint_every_steps and state["global_step"] % args.checkpoint_every_steps == 0:
                save_checkpoint(accelerator, out_dir, state["global_step"],
                                {**state, "epoch": epoch, "step_in_epoch": step_in_epoch + 1}, args.keep_checkpoints)
            if state["global_step"] >= total_steps:
                break
        finished = state["global_step"] >= total_steps or epoch == args.epochs - 1
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else math.nan}
        if (epoch + 1) % args.eval_every_epochs == 0 or finished:
            if accelerator.is_main_process:
                row.update(validation_metrics(accelerator.unwrap_model(model), dataset["validation"],
                                              args.loss == "supervised"))
                if state["best"] is None or row[selection_key] > state["best"]:
                    state["best"], state["best_epoch"] = row[selection_key], epoch + 1
                    accelerator.unwrap_model(model).save_pretrained(model_dir)
            accelerator.wait_for_everyone()
        logger.log(row, step=state["global_step"])
        progress.set_postfix({k: round(v, 4) for k, v in row.items() if k != "epoch"})
        state.update(epoch=epoch + 1, step_in_epoch=0)
        if not args.checkpoint_every_steps:
            save_checkpoint(accelerator, out_dir, state["global_step"], state, args.keep_checkpoints)
        if finished:
            break
    progress.close()
    seconds = time.perf_counter() - start
    summary = {
        "model_dir": str(model_dir), "selection_metric": selection_key, "best_validation": state["best"],
        "best_epoch": state["best_epoch"], "epochs_run": state["epoch"], "global_step": state["global_step"],
        "train_seconds": round(seconds, 2), "train_samples_per_second": round(seen / max(seconds, 1e-9), 1),
        "num_processes": accelerator.num_processes, "dataset": args.dataset, "dataset_info": info,
        "classes": class_names, "excluded_classes": args.exclude_classes, "training_args": args.to_dict(),
    }
    if accelerator.is_main_process:
        write_json(model_dir / TRAINING_RECORD, summary)
    accelerator.wait_for_everyone()
    accelerator.end_training()  # closes trackers and, when distributed, the process group
    return summary
