"""Train EEGStyleGAN-ADA (StyleGAN2-ADA conditioned on frozen EEG embeddings) through Accelerate.

Written from the StyleGAN2 (CVPR 2020) and StyleGAN2-ADA (NeurIPS 2020) papers and the settings in
docs/authors-code.md, 'EEGStyleGAN-ADA': phases Gmain, Greg (path length, only when `pl_weight > 0`), Dmain,
Dreg (lazy R1), generator EMA with ramp-up, adaptive discriminator augmentation. The fake batches are conditioned on the
embeddings (or one-hot labels) of uniformly random training trials; real batches on their own trial's.

Distributed data parallel: G, D, both optimizers and the loader go through one `accelerator.prepare` (DDP
broadcasts rank 0's weights), but the phases call the unwrapped networks and gradients are averaged across
processes by hand before each optimizer step, as in StyleGAN2-ADA. This keeps R1's double backward and the
several D forwards per step outside DDP's reducer (so `find_unused_parameters` is never needed).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
from transformers.utils import logging

from ..data import get_eeg_info, load_eeg_dataset
from ..models import (
    EEGEncoderModel,
    EEGStyleGANConfig,
    EEGStyleGANDiscriminator,
    EEGStyleGANGenerator,
    EEGStyleGANModel,
)
from ..models.eeg_stylegan import EEGStyleGANDiscriminatorOutput
from ..utils.checks import MAX_SEED
from ..utils.errors import BadModelFolderError, HubAccessError
from ..utils.images import save_grid
from ..utils.interrupts import CheckpointClock, TrainingInterrupted, interruptible
from ..utils.model_folders import load_model_folder
from ..utils.names import GAN_DISCRIMINATOR_FOLDER, GAN_GENERATOR_FOLDER, GAN_INIT_STATE, TRAINING_RECORD
from ..utils.progress import progress_bar
from .args import GAN_PRESETS, GANTrainingArguments
from .augment import AdaController, AugmentPipe
from .common import (
    check_weights_file,
    checkpoint_error,
    ends_finished_run,
    latest_checkpoint,
    load_checkpoint,
    longer_run_error,
    make_accelerator,
    poll_stop_and_clock,
    prepare_run_dir,
    shuffled_loader,
    start_run,
    write_json,
)
from .ema import ema_beta, update_ema
from .embeddings import EMBEDS_COLUMN, add_eeg_embeddings
from .gan_losses import classification_loss, discriminator_loss, generator_loss, path_length_penalty, r1_loss

# The argument classes and presets live in `training.args`; re-exported here, where they are used.
__all__ = ["GAN_PRESETS", "GANLoop", "GANTrainingArguments", "setup_gan_training", "train_gan"]

logger = logging.get_logger(__name__)

TRAINER_STATE = "trainer_state.json"
EMA_FOLDER = "generator_ema"
GAN_STATE_KEYS = ("step", "images_seen", "tick", "epoch", "step_in_epoch", "train_seconds", "pl_mean")
"""Keys every GAN `trainer_state.json` holds (plus `ada` / `augment_p` when augmentation is on)."""


@dataclass
class GANTrainState:
    """The loop counters: everything of the loop that `trainer_state.json` saves for an exact resume (the loop
    object adds `pl_mean` and the augmentation state)."""

    step: int = 0
    images_seen: int = 0
    tick: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    train_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def kimg(self) -> float:
        return self.images_seen / 1000


@dataclass
class TickContext:
    """What the loop carries between ticks: run objects and the running tick's accumulators (the accumulators go
    into every checkpoint, so a resume from a checkpoint written mid-tick logs the same tick rows)."""

    out_dir: Path
    encoder: Any
    metrics: Any  # MetricsLogger of the run
    grid: dict[str, Any]
    snapshot: Any  # EEGStyleGANModel written at snapshots (main process) or None
    sums: dict[str, list[float]] = field(default_factory=dict)
    tick_start: float = field(default_factory=time.perf_counter)
    tick_images_start: int = 0

    def start_tick(self, images_seen: int) -> None:
        """Empties the accumulators and restarts the tick clock."""
        self.sums, self.tick_start, self.tick_images_start = {}, time.perf_counter(), images_seen

    def tick_state(self) -> dict[str, Any]:
        """The running tick's accumulators, for `trainer_state.json`."""
        return {"tick_sums": self.sums, "tick_images_start": self.tick_images_start,
                "tick_seconds": time.perf_counter() - self.tick_start}

    def restore_tick(self, saved: dict[str, Any], images_seen: int) -> None:
        """Continue the tick a checkpoint was written in (checkpoints without tick state start a new tick)."""
        self.start_tick(saved.get("tick_images_start", images_seen))
        self.sums = {k: list(v) for k, v in saved.get("tick_sums", {}).items()}
        self.tick_start -= float(saved.get("tick_seconds", 0.0))


# ----------------------------------------------------------------------------------------------------------
# Data


class _TrialTensors(torch.utils.data.Dataset):
    """In-memory training trials: uint8 images `(N, C, R, R)`, conditioning `(N, D)` or None, labels `(N,)`."""

    def __init__(self, images: torch.Tensor, embeds: torch.Tensor | None, labels: torch.Tensor) -> None:
        self.images, self.embeds, self.labels = images, embeds, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        batch = {"images": self.images[index], "labels": self.labels[index]}
        if self.embeds is not None:
            batch["eeg_embeds"] = self.embeds[index]
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


def resize_images(split, resolution: int, batch_size: int = 256) -> torch.Tensor:
    """Decode a split's `image` column, convert to RGB and resize (PIL bilinear) to uint8 `(N, 3, R, R)`."""
    from PIL import Image

    view = split.select_columns(["image"])
    out = np.empty((len(view), resolution, resolution, 3), dtype=np.uint8)
    for start in range(0, len(view), batch_size):
        for offset, image in enumerate(view[start:start + batch_size]["image"]):
            image = image.convert("RGB")
            if image.size != (resolution, resolution):
                image = image.resize((resolution, resolution), Image.BILINEAR)
            out[start + offset] = np.asarray(image)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _split_tensors(split, resolution: int, with_embeds: bool) -> _TrialTensors:
    labels = torch.as_tensor(np.asarray(split["label"]), dtype=torch.long)
    embeds = None
    if with_embeds:
        embeds = torch.as_tensor(np.asarray(split.with_format("numpy")[EMBEDS_COLUMN]), dtype=torch.float32)
    return _TrialTensors(resize_images(split, resolution), embeds, labels)


def load_gan_data(args: GANTrainingArguments, resolution: int, encoder, accelerator) -> dict[str, Any]:
    """Load the dataset, add cached encoder embeddings ('eeg'), resize images; returns tensors and metadata."""

    dataset = load_eeg_dataset(args.dataset, **args.simulate)
    for split in ("train", "validation"):
        if split not in dataset:
            raise ValueError(f"the dataset needs a {split!r} split for GAN training, it has {sorted(dataset)}")
    dataset = type(dataset)({s: dataset[s] for s in ("train", "validation")})
    info, cache = get_eeg_info(dataset), None
    if encoder is not None:
        for key in ("n_chans", "n_times"):
            if key in info and int(info[key]) != int(getattr(encoder.config, key)):
                raise ValueError(f"the encoder expects {key}={getattr(encoder.config, key)}, "
                                 f"the dataset has {info[key]}")
        with accelerator.main_process_first():  # rank 0 computes the cache, the others read it
            dataset, cache = add_eeg_embeddings(dataset, encoder, Path(args.output_dir) / "embeddings")
    return {"train": _split_tensors(dataset["train"], resolution, encoder is not None),
            "validation": _split_tensors(dataset["validation"], resolution, encoder is not None),
            "class_names": dataset["train"].features["label"].names, "info": info, "embeddings_cache": cache}


# ----------------------------------------------------------------------------------------------------------
# Networks, optimisers, augmentation


def load_frozen_encoder(path: str | None, device: torch.device):
    """`EEGEncoderModel.from_pretrained(path)` in eval mode with gradients off (or `None` without a path)."""
    if not path:
        return None

    if not Path(path).is_dir():
        raise ValueError(f"encoder folder {path!r} does not exist (train one with `eeg2img train-encoder`)")

    encoder = load_model_folder(EEGEncoderModel, path, what="encoder").to(device).eval()
    encoder.requires_grad_(False)
    return encoder


def build_gan_config(args: GANTrainingArguments, encoder, num_classes: int, start: GANStartingPoint | None = None):
    """`EEGStyleGANConfig` of the run: preset + overrides, embedding size/classes from the data and encoder; with a
    starting point, its architecture (checked against the run's conditioning, encoder and classes) + overrides."""
    extra: dict[str, Any] = {"conditioning": args.conditioning, "num_classes": num_classes,
                             "discriminator_class_head": args.class_loss_weight > 0}
    if args.conditioning == "eeg":
        extra.update(embed_dim=int(encoder.config.embed_dim), encoder_config=encoder.config.to_dict())
    if start is None:
        return _with_class_head(args, EEGStyleGANConfig.from_preset(args.stylegan_preset,
                                                                    **{**extra, **args.stylegan_config}))
    base = start.config
    found = {"conditioning": base.conditioning, "embed_dim" if args.conditioning == "eeg" else "num_classes":
             base.embed_dim if args.conditioning == "eeg" else base.num_classes}
    wanted = {k: extra[k] for k in found}
    if found != wanted:
        raise BadModelFolderError(
            f"--init-from {start.path!r} was trained with {found}, this run needs {wanted}",
            hint="use an encoder of the same embedding size (or the same classes for one-hot conditioning)")
    names = [n for n in inspect.signature(EEGStyleGANConfig.__init__).parameters if n not in ("self", "kwargs")]
    return _with_class_head(args, EEGStyleGANConfig(**{**{n: getattr(base, n) for n in names}, **extra,
                                                       **args.stylegan_config}))


def _with_class_head(args: GANTrainingArguments, config: EEGStyleGANConfig) -> EEGStyleGANConfig:
    """Refuses a run whose `class_loss_weight` needs the discriminator's class head when `stylegan_config` took
    it away."""
    if args.class_loss_weight > 0 and not config.discriminator_class_head:
        raise ValueError(f"class_loss_weight {args.class_loss_weight} needs the discriminator's class head: "
                         "remove discriminator_class_head=False from stylegan_config")
    return config


@dataclass
class GANStartingPoint:
    """The networks `train-gan --init-from` starts from (state dicts on the CPU), the ADA probability and the
    augment pipe that reached it (`augment_pipe`: its preset name, `None` when unknown or matching no preset;
    `augment_kwargs`: its recorded multipliers and strengths)."""

    path: str
    config: EEGStyleGANConfig
    generator: dict[str, torch.Tensor]
    generator_ema: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor]
    augment_p: float | None
    generator_source: str
    augment_pipe: str | None = None
    augment_kwargs: dict[str, float] = field(default_factory=dict)


def resolve_init_from(path: str) -> Path:
    """`init_from` as a local folder: an existing folder as it is, else a Hub model repo id (`org/name`, pushed with
    `eeg2img push --include-training-state`) downloaded into the Hub cache (works offline once cached)."""
    folder = Path(path)
    if folder.is_dir():
        return folder
    if path.count("/") != 1 or not all(path.split("/")) or folder.exists():
        raise BadModelFolderError(f"--init-from {path!r} is neither a folder nor a Hub model repo id (org/name)",
                                  hint="pass a train-gan model folder or a `convert-checkpoint stylegan-snapshot` "
                                       "folder, or the repo it was pushed to")
    try:
        return Path(snapshot_download(repo_id=path, repo_type="model"))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as err:
        detail = " ".join(str(err).split())[:200]
        raise HubAccessError(f"--init-from {path!r}: no such folder, and the Hub repo could not be downloaded "
                                  f"({type(err).__name__}: {detail})",
                                  hint="check the repo id, the network or HF_HUB_OFFLINE") from err


def load_starting_point(path: str) -> GANStartingPoint:
    """Reads a GAN folder (or the Hub repo it was pushed to, see [`resolve_init_from`]) for `init_from`: the
    `EEGStyleGANModel` at the top (its generator is G_ema), `discriminator/` (required), `generator/` (G; without it
    G starts as G_ema) and the ADA probability with its augment pipe from `gan_init_state.json` (a converted
    snapshot) or the training record (a `train-gan` model)."""
    folder = resolve_init_from(path)
    model = load_model_folder(EEGStyleGANModel, folder, what="--init-from")
    d_dir = folder / GAN_DISCRIMINATOR_FOLDER
    if not (d_dir / "config.json").is_file():
        raise BadModelFolderError(f"--init-from {path!r} has no {GAN_DISCRIMINATOR_FOLDER}/ folder: a GAN cannot "
                                  "continue training without its discriminator",
                                  hint="pass a train-gan model folder or a `convert-checkpoint stylegan-snapshot` "
                                       "folder")
    discriminator = load_model_folder(EEGStyleGANDiscriminator, d_dir, what="--init-from discriminator")
    g_dir = folder / GAN_GENERATOR_FOLDER
    if (g_dir / "config.json").is_file():
        generator, source = load_model_folder(EEGStyleGANGenerator, g_dir, what="--init-from generator"), "generator"
        generator_state = generator.state_dict()
    else:
        generator_state, source = model.generator.state_dict(), "generator_ema"
    augment_p, augment_pipe, augment_kwargs = None, None, {}
    for name in (GAN_INIT_STATE, TRAINING_RECORD):
        record = folder / name
        if record.is_file():
            values = json.loads(record.read_text(encoding="utf-8"))
            value = values.get("augment_p")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                augment_p = float(value)
                if name == GAN_INIT_STATE:  # a converted snapshot: the preset it matches and its exact arguments
                    augment_pipe, augment_kwargs = values.get("augment_preset"), values.get("augment_pipe") or {}
                else:  # a train-gan model: the preset of its run
                    augment_pipe = (values.get("training_args") or {}).get("augment")
                break
    clone = {k: v.detach().clone() for k, v in generator_state.items()}
    return GANStartingPoint(
        path=str(path), config=model.config, generator=clone,
        generator_ema={k: v.detach().clone() for k, v in model.generator.state_dict().items()},
        discriminator={k: v.detach().clone() for k, v in discriminator.state_dict().items()},
        augment_p=augment_p, generator_source=source,
        augment_pipe=augment_pipe if isinstance(augment_pipe, str) else None,
        augment_kwargs={k: float(v) for k, v in augment_kwargs.items()} if isinstance(augment_kwargs, dict) else {},
    )


def starting_augment(args: GANTrainingArguments, start: GANStartingPoint | None) -> dict[str, float]:
    """The `AugmentPipe` arguments a run from `start` takes over: when the starting point's ADA probability carries
    over (no fixed `augment_p`, augmentation on), its pipe's recorded multipliers and strengths. A probability
    belongs to the pipe that reached it, so an `augment` naming another pipe is refused (`ValueError` naming both
    and the choices)."""
    if start is None or start.augment_p is None or args.augment_p is not None or args.augment == "noaug":
        return {}
    if start.augment_pipe == args.augment:
        return dict(start.augment_kwargs)
    had = f"the augment pipe {start.augment_pipe!r}" if start.augment_pipe else "an augment pipe that matches no preset"
    keep = f"--augment {start.augment_pipe} to continue with its pipe and p, " if start.augment_pipe else ""
    raise ValueError(
        f"--init-from {start.path}: its ADA probability p = {start.augment_p:.4f} was reached with {had}, but this "
        f"run's pipe is {args.augment!r} (--augment, default from the preset); a probability does not carry over to "
        f"another pipe. Choose {keep}--augment-p P to run {args.augment!r} at a fixed probability P (ADA off), or "
        "--augment noaug"
    )


def _load_network(network: torch.nn.Module, state: dict[str, torch.Tensor], what: str, path: str) -> None:
    """`load_state_dict(strict=True)` with an error naming the starting-point folder."""
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:300]
        raise BadModelFolderError(f"--init-from {path!r}: the {what} weights do not fit this run's network ({detail})",
                                  hint="stylegan_config overrides must not change the architecture") from err


def _fit_class_head(D: EEGStyleGANDiscriminator, state: dict[str, torch.Tensor], path: str) -> dict[str, torch.Tensor]:
    """A starting point's discriminator weights for this run's D: a class head the run needs but the folder lacks
    keeps its fresh initialisation, one the folder has but the run does not use is left out (both logged)."""
    head = {k: v for k, v in D.state_dict().items() if k.startswith("class_head.")}
    has = any(k.startswith("class_head.") for k in state)
    if head and not has:
        logger.info(f"--init-from {path}: the discriminator has no class head; it starts from random weights")
        return {**state, **head}
    if has and not head:
        logger.info(f"--init-from {path}: the discriminator's class head is not used by this run (dropped)")
        return {k: v for k, v in state.items() if not k.startswith("class_head.")}
    return state


def conditioning_standardization(embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift (the mean training embedding) and scale (1 / RMS of the centred embeddings, the same for every
    dimension, so relative directions are kept) that standardise the GAN's EEG conditioning."""
    shift = embeds.mean(dim=0)
    rms = (embeds - shift).square().mean().sqrt()
    if not torch.isfinite(rms) or rms <= 0:
        raise ValueError("the training EEG embeddings are all identical: the encoder carries no condition")
    return shift, torch.full_like(shift, 1.0 / float(rms))


def lazy_adam(params, args: GANTrainingArguments, reg_interval: int) -> torch.optim.Adam:
    """Adam with StyleGAN2's lazy-regularisation rescaling: `lr * r`, `betas ** r`, `r = k / (k + 1)`."""
    ratio = reg_interval / (reg_interval + 1) if reg_interval > 0 else 1.0
    betas = (args.adam_betas[0] ** ratio, args.adam_betas[1] ** ratio)
    return torch.optim.Adam(params, lr=args.learning_rate * ratio, betas=betas, eps=args.adam_eps)


def build_augment(args: GANTrainingArguments, overrides: dict[str, float] | None = None):
    """`(AugmentPipe or None, AdaController or None)` for the run; `overrides` replace the preset's multipliers and
    strengths (a starting point's pipe, see [`starting_augment`])."""
    if args.augment == "noaug":
        return None, None
    pipe = AugmentPipe.from_preset(args.augment, p=args.augment_p or 0.0, **(overrides or {}))
    if args.augment_p is not None:
        return pipe, None
    return pipe, AdaController(pipe, target=args.ada_target, interval=args.ada_interval, speed_kimg=args.ada_kimg)


def _make_accelerator(args: GANTrainingArguments):
    return make_accelerator(args, mixed_precision=args.mixed_precision)


# ----------------------------------------------------------------------------------------------------------
# The loop


class GANLoop:
    """Holds the prepared objects of one run and performs its phases (`train_gan` drives it)."""

    def __init__(self, accelerator, args: GANTrainingArguments, G, D, G_opt, D_opt, data: dict[str, Any],
                 augment_overrides: dict[str, float] | None = None) -> None:
        self.accelerator, self.args, self.data = accelerator, args, data
        self.G, self.D, self.G_opt, self.D_opt = G, D, G_opt, D_opt
        self.G_net, self.D_net = accelerator.unwrap_model(G), accelerator.unwrap_model(D)
        self.G_ema = copy.deepcopy(self.G_net).eval().requires_grad_(False)
        self.pipe, self.ada = build_augment(args, augment_overrides)
        if self.pipe is not None:
            self.pipe.to(accelerator.device)
        self.device = accelerator.device
        self.fake_source = data["train"]
        self.pl_mean = torch.zeros((), device=self.device)

    # --- helpers
    def condition(self, embeds: torch.Tensor | None, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Keyword arguments conditioning G or D: `eeg_embeds` or `class_labels`."""
        return {"eeg_embeds": embeds} if self.args.conditioning == "eeg" else {"class_labels": labels}

    def fake_condition(self, n: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Conditioning of `n` uniformly random training trials (independent of the real batch) and their labels."""
        index = torch.randint(len(self.fake_source), (n,))
        embeds = None if self.fake_source.embeds is None else self.fake_source.embeds[index].to(self.device)
        labels = self.fake_source.labels[index].to(self.device)
        return self.condition(embeds, labels), labels

    def run_G(self, z: torch.Tensor, cond: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """G forward (random noise, optional style mixing); returns `(images, ws)`."""
        G = self.G_net
        c = G.prepare_conditioning(z.shape[0], **cond).float()
        with torch.autocast(self.device.type, enabled=False):  # small MLP + float32 `w_avg` EMA: keep fp32
            ws = G.mapping(z.float(), c)
            if self.args.style_mixing_prob > 0:
                cutoff = int(torch.randint(1, ws.shape[1], ()))
                if float(torch.rand(())) < self.args.style_mixing_prob:
                    mixed = G.mapping(torch.randn_like(z), c, update_w_avg=False)
                    ws = torch.cat([ws[:, :cutoff], mixed[:, cutoff:]], dim=1)
        return G.synthesis(ws, noise_mode="random"), ws

    def run_D(self, images: torch.Tensor, cond: dict[str, torch.Tensor]) -> EEGStyleGANDiscriminatorOutput:
        """D forward on augmented images: `EEGStyleGANDiscriminatorOutput` (`logits` `(batch, 1)`, and
        `class_logits` with a class head)."""
        if self.pipe is not None:
            images = self.pipe(images)
        return self.D_net(images, return_dict=True, **cond)

    def step_optimizer(self, module: torch.nn.Module, optimizer) -> None:
        """Average gradients across processes (one flat all-reduce), sanitize, step, zero."""
        params = [p for p in module.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if self.accelerator.num_processes > 1:
            flat = self.accelerator.reduce(torch.cat([p.grad.flatten() for p in params]), reduction="mean")
            for p, g in zip(params, flat.split([p.numel() for p in params]), strict=True):
                p.grad.copy_(g.view_as(p))
        if self.accelerator.scaler is None:  # with a GradScaler, infs must reach it to skip the step
            for p in params:
                torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    # --- phases
    def g_main(self, n: int) -> dict[str, float]:
        self.D_net.requires_grad_(False)
        stats = {}
        with self.accelerator.autocast():
            z = torch.randn(n, self.G_net.config.z_dim, device=self.device)
            cond, labels = self.fake_condition(n)
            images, _ = self.run_G(z, cond)
            out = self.run_D(images, cond)
            loss = stats["loss_G"] = generator_loss(out.logits)
            if self.args.class_loss_weight > 0:
                stats["loss_G_class"] = classification_loss(out.class_logits, labels)
                loss = loss + self.args.class_loss_weight * stats["loss_G_class"]
        self.accelerator.backward(loss)
        self.D_net.requires_grad_(True)
        self.step_optimizer(self.G_net, self.G_opt)
        return {k: v.item() for k, v in stats.items()}

    def g_reg(self, n: int) -> float:
        n = max(1, n // self.args.pl_batch_shrink)
        with self.accelerator.autocast():
            z = torch.randn(n, self.G_net.config.z_dim, device=self.device)
            images, ws = self.run_G(z, self.fake_condition(n)[0])
            penalty, self.pl_mean = path_length_penalty(images, ws, self.pl_mean, self.args.pl_decay)
            loss = penalty.mean() * self.args.pl_weight * self.args.g_reg_interval
        self.accelerator.backward(loss)
        self.step_optimizer(self.G_net, self.G_opt)
        if self.accelerator.num_processes > 1:
            self.pl_mean = self.accelerator.reduce(self.pl_mean.reshape(1), reduction="mean").reshape(())
        return penalty.mean().item()

    def d_main(self, real: torch.Tensor, real_cond: dict[str, torch.Tensor],
               real_labels: torch.Tensor) -> tuple[dict[str, float], torch.Tensor]:
        n = real.shape[0]
        stats = {}
        with torch.no_grad(), self.accelerator.autocast():
            fake_cond, _ = self.fake_condition(n)
            fake, _ = self.run_G(torch.randn(n, self.G_net.config.z_dim, device=self.device), fake_cond)
        with self.accelerator.autocast():
            fake_logits = self.run_D(fake.detach(), fake_cond).logits
            real_out = self.run_D(real, real_cond)
            loss = stats["loss_D"] = discriminator_loss(real_out.logits, fake_logits)
            if self.args.class_loss_weight > 0:  # the class head learns from real images only
                stats["loss_D_class"] = classification_loss(real_out.class_logits, real_labels)
                loss = loss + self.args.class_loss_weight * stats["loss_D_class"]
        self.accelerator.backward(loss)
        self.step_optimizer(self.D_net, self.D_opt)
        return {k: v.item() for k, v in stats.items()}, real_out.logits.detach()

    def d_reg(self, real: torch.Tensor, real_cond: dict[str, torch.Tensor]) -> float:
        real = real.detach().requires_grad_(True)
        with self.accelerator.autocast():
            logits = self.run_D(real, real_cond).logits
        loss = r1_loss(logits, real, self.args.r1_gamma, self.args.r1_interval)
        self.accelerator.backward(loss)
        self.step_optimizer(self.D_net, self.D_opt)
        return loss.item() / max(self.args.r1_gamma / 2 * self.args.r1_interval, 1e-30)

    def train_step(self, batch: dict[str, torch.Tensor], step: int, images_seen: int) -> dict[str, float]:
        """One minibatch: Gmain, [Greg], Dmain, [Dreg], G EMA, ADA. Returns this process's statistics."""
        args = self.args
        real = batch["images"].to(self.device, torch.float32) / 127.5 - 1.0  # uint8 -> [-1, 1]
        real_cond = self.condition(batch.get("eeg_embeds"), batch["labels"])
        stats = self.g_main(real.shape[0])
        if args.pl_weight > 0 and step % args.g_reg_interval == 0:
            stats["pl_penalty"] = self.g_reg(real.shape[0])
        d_stats, real_logits = self.d_main(real, real_cond, batch["labels"].to(self.device))
        stats.update(d_stats)
        if args.r1_gamma > 0 and step % args.r1_interval == 0:
            stats["r1_penalty"] = self.d_reg(real, real_cond)
        update_ema(self.G_ema, self.G_net, ema_beta(args.batch_size, images_seen, args.ema_kimg, args.ema_rampup))
        if self.ada is not None:
            signs = self.accelerator.reduce(torch.sign(real_logits.float()).sum().reshape(1), reduction="sum")
            self.ada.update(signs, args.batch_size)
        return stats

    # --- state
    def state_extras(self) -> dict[str, Any]:
        """JSON-able state not covered by `accelerator.save_state`."""
        return {"ada": None if self.ada is None else self.ada.state_dict(), "pl_mean": float(self.pl_mean),
                "augment_p": None if self.pipe is None else float(self.pipe.p)}

    def check_extras(self, state: dict[str, Any], checkpoint: Path) -> None:
        """Raises `CheckpointError` unless the checkpoint holds what `load_extras` restores: the EMA generator's
        weights and, when augmentation is on, its state."""
        check_weights_file(checkpoint, f"{EMA_FOLDER}/model.safetensors", self.G_ema)
        if not isinstance(state["pl_mean"], (int, float)) or not math.isfinite(state["pl_mean"]):
            raise checkpoint_error(checkpoint, TRAINER_STATE, f"has pl_mean={state['pl_mean']!r}, not a finite number")
        if self.ada is not None and not isinstance(state.get("ada"), dict):
            raise checkpoint_error(checkpoint, TRAINER_STATE, "has no adaptive augmentation state ('ada')")
        if self.ada is None and self.pipe is not None and not isinstance(state.get("augment_p"), (int, float)):
            raise checkpoint_error(checkpoint, TRAINER_STATE, "has no augmentation probability ('augment_p')")

    def load_extras(self, state: dict[str, Any], checkpoint: Path) -> None:
        from safetensors.torch import load_file

        if self.ada is not None and state.get("ada") is not None:
            self.ada.load_state_dict(state["ada"])
        elif self.pipe is not None and state.get("augment_p") is not None:
            self.pipe.p.fill_(state["augment_p"])
        self.pl_mean.fill_(state.get("pl_mean", 0.0))
        weights = load_file(str(checkpoint / EMA_FOLDER / "model.safetensors"), device=str(self.device))
        missing, unexpected = self.G_ema.load_state_dict(weights, strict=False)
        if unexpected or [k for k in missing if k in dict(self.G_ema.named_parameters())]:
            raise ValueError(f"the EMA generator in {checkpoint} does not match this run's generator")


# ----------------------------------------------------------------------------------------------------------
# Grids, snapshots, checkpoints


def grid_inputs(split: _TrialTensors, num_classes: int, columns: int, z_dim: int, seed: int) -> dict[str, Any]:
    """Fixed grid inputs: up to 10 class rows x `columns` validation trials of that class, one z per column."""
    rng = np.random.default_rng(seed)
    labels = split.labels.numpy()
    classes = [c for c in np.unique(np.linspace(0, num_classes - 1, min(num_classes, 10)).round().astype(int))
               if (labels == c).any()]
    if not classes:
        raise ValueError("the validation split has no trials of the grid classes")
    index = np.concatenate([np.resize(rng.permutation(np.flatnonzero(labels == c)), columns) for c in classes])
    index = torch.as_tensor(index, dtype=torch.long)
    z = torch.randn(columns, z_dim, generator=torch.Generator().manual_seed(seed)).repeat(len(classes), 1)
    return {"rows": len(classes), "z": z, "labels": split.labels[index],
            "embeds": None if split.embeds is None else split.embeds[index]}


@torch.no_grad()
def save_tick_grid(loop: GANLoop, inputs: dict[str, Any], path: Path, chunk: int = 64) -> str:
    """Render the fixed grid with the EMA generator (noise_mode 'const') and save a PNG."""
    device, images = loop.device, []
    for start in range(0, len(inputs["z"]), chunk):
        sl = slice(start, start + chunk)
        embeds = None if inputs["embeds"] is None else inputs["embeds"][sl].to(device)
        cond = loop.condition(embeds, inputs["labels"][sl].to(device))
        out = loop.G_ema(inputs["z"][sl].to(device), noise_mode="const", return_dict=True, **cond)
        images.append(out.images.float().cpu())
    return save_grid(torch.cat(images), path, rows=inputs["rows"])


def save_snapshot(snapshot, loop: GANLoop, encoder, path: Path) -> None:
    """Copy the EMA generator (and frozen encoder) into the `EEGStyleGANModel` and `save_pretrained` it."""
    snapshot.generator.load_state_dict({k: v.detach().cpu() for k, v in loop.G_ema.state_dict().items()})
    if encoder is not None and snapshot.eeg_encoder is not None:
        snapshot.eeg_encoder.load_state_dict({k: v.detach().cpu() for k, v in encoder.state_dict().items()})
    snapshot.save_pretrained(path)


def save_gan_checkpoint(loop: GANLoop, ctx: TickContext, state: GANTrainState, keep: int) -> Path:
    """`accelerator.save_state` + EMA generator (`save_pretrained`) + trainer state JSON (written last, with the
    running tick's accumulators) into `<out_dir>/checkpoints/step_<N>`; older ones beyond `keep` are pruned."""
    accelerator = loop.accelerator
    root = ctx.out_dir / "checkpoints"
    path = root / f"step_{state.step:08d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        loop.G_ema.save_pretrained(path / EMA_FOLDER)
        write_json(path / TRAINER_STATE, {**state.to_dict(), **loop.state_extras(), **ctx.tick_state()})
        for old in sorted(root.glob("step_*"))[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def check_longer_gan_run(args: GANTrainingArguments, state: GANTrainState) -> None:
    """Refuse to continue a finished run past its end (a longer `kimg` or `max_steps`) when it ended inside a tick:
    its last tick row covers part of a tick, and the longer run's later ticks would start from there. Every tick of
    a run spans `ceil(tick_kimg * 1000 / batch_size)` steps."""
    steps_per_tick = -(-round(args.tick_kimg * 1000) // args.batch_size)
    if (state.step < args.total_steps and state.step % steps_per_tick
            and ends_finished_run(args.output_dir, state.step, key="steps")):
        raise longer_run_error(args.output_dir, f"kimg={args.kimg:g}, max_steps={args.max_steps}", state.step,
                               f"inside tick {state.tick} (after {state.step % steps_per_tick} of its "
                               f"{steps_per_tick} steps), which it logged as its last")


def restore_gan(loop: GANLoop, args: GANTrainingArguments, ctx: TickContext) -> GANTrainState:
    """Trainer state of a fresh run, or of the latest checkpoint when `args.resume` (weights and the running tick's
    accumulators loaded too).

    The checkpoint must resume exactly: every file (G and D weights, both optimizers, every process's random
    states, `trainer_state.json`, the EMA generator, the augmentation state) is checked before anything is loaded,
    and a bad one raises a `CheckpointError` naming the checkpoint folder and the file."""
    state = GANTrainState()
    ctx.start_tick(state.images_seen)
    if not args.resume:
        return state
    path = latest_checkpoint(args.output_dir)
    if path is None:
        if loop.accelerator.is_main_process:
            logger.warning(f"--resume: no checkpoint in {args.output_dir}, starting from scratch")
        return state
    saved = load_checkpoint(loop.accelerator, path, GAN_STATE_KEYS, check_more=loop.check_extras)
    loop.load_extras(saved, path)
    state = GANTrainState(**{f.name: saved[f.name] for f in dataclasses.fields(GANTrainState) if f.name in saved})
    check_longer_gan_run(args, state)
    ctx.restore_tick(saved, state.images_seen)
    if loop.accelerator.is_main_process:
        logger.info(f"resumed from {path} (step {state.step}, kimg {state.kimg:.3f})")
    return state


# ----------------------------------------------------------------------------------------------------------
# Entry point


def setup_gan_training(args: GANTrainingArguments):
    """Everything `train_gan` builds before its first step: `(accelerator, encoder, config, data, loop, loader)`
    (seeds, frozen encoder, data with cached embeddings, networks, optimisers, one `accelerator.prepare`, and the
    `GANLoop` whose `train_step` runs one minibatch). Used by `train_gan` and `scripts/bench_train_gan.py`."""
    from accelerate.utils import set_seed

    accelerator = _make_accelerator(args)
    if args.seed + accelerator.num_processes - 1 > MAX_SEED:
        raise ValueError(f"seed {args.seed} + {accelerator.num_processes - 1} (one seed per process) exceeds "
                         f"{MAX_SEED} (2**32 - 1); choose a smaller seed")
    if args.batch_size % accelerator.num_processes:
        raise ValueError(f"batch_size {args.batch_size} must be divisible by {accelerator.num_processes} processes")
    encoder = load_frozen_encoder(args.encoder if args.conditioning == "eeg" else None, accelerator.device)
    start = load_starting_point(args.init_from) if args.init_from else None
    augment_overrides = starting_augment(args, start)  # refuses a pipe mismatch before any data is loaded
    resolution = start.config.img_resolution if start else build_gan_config(args, encoder, 2).img_resolution
    data = load_gan_data(args, resolution, encoder, accelerator)
    config = build_gan_config(args, encoder, num_classes=len(data["class_names"]), start=start)
    local_batch = args.batch_size // accelerator.num_processes
    group = min(config.mbstd_group_size, local_batch) if config.mbstd_group_size > 0 else local_batch
    if local_batch % group:
        raise ValueError(f"the per-process batch {local_batch} must be divisible by mbstd_group_size {group}")
    if len(data["train"]) < args.batch_size:
        raise ValueError(f"batch_size {args.batch_size} exceeds the {len(data['train'])} training trials")
    set_seed(args.seed)  # identical initial weights on every process
    G, D = EEGStyleGANGenerator(config).train(), EEGStyleGANDiscriminator(config).train()
    if start is not None:  # the starting point's weights, w_avg and conditioning standardisation
        _load_network(G, start.generator, "generator", start.path)
        _load_network(D, _fit_class_head(D, start.discriminator, start.path), "discriminator", start.path)
    elif args.conditioning == "eeg" and args.standardize_conditioning:
        shift, scale = conditioning_standardization(data["train"].embeds)
        for network in (G, D):
            network.mapping.set_conditioning_standardization(shift, scale)
    G_opt = lazy_adam(G.parameters(), args, args.g_reg_interval)
    D_opt = lazy_adam(D.parameters(), args, args.r1_interval if args.r1_gamma > 0 else 0)
    loader = shuffled_loader(data["train"], args.batch_size, accelerator.num_processes)
    G, D, G_opt, D_opt, loader = accelerator.prepare(G, D, G_opt, D_opt, loader)
    set_seed(args.seed, device_specific=True)  # different z, fake trials and augmentations per process
    loop = GANLoop(accelerator, args, G, D, G_opt, D_opt, data, augment_overrides)
    if start is not None:
        _load_network(loop.G_ema, start.generator_ema, "EMA generator", start.path)
        carried = loop.pipe is not None and args.augment_p is None and start.augment_p is not None
        if carried:
            loop.pipe.p.fill_(start.augment_p)
        if accelerator.is_main_process:
            rampup = ("EMA ramp-up off: G_ema continues from the starting point's, as StyleGAN2-ADA on resume "
                      "(--ema-rampup sets one)" if args.ema_rampup is None else
                      f"EMA ramp-up {args.ema_rampup:g} from a restarted image counter (G_ema moves to G at first)")
            logger.info(f"initialised G ({start.generator_source}), G_ema and D from {start.path}"
                        + (f", augment p {start.augment_p:.4f} on its pipe {args.augment!r}" if carried else "")
                        + f"; {rampup}")
    return accelerator, encoder, config, data, loop, loader


def _tick_row(state: GANTrainState, sums: dict[str, list[float]], loop: GANLoop, tick_seconds: float,
              tick_images: int) -> dict[str, Any]:
    """Per-tick log row (statistics averaged over processes and the tick's steps)."""
    names = sorted(sums)
    means = torch.tensor([float(np.mean(sums[k])) for k in names], device=loop.device, dtype=torch.float64)
    if loop.accelerator.num_processes > 1 and names:
        means = loop.accelerator.reduce(means, reduction="mean")
    row: dict[str, Any] = {"tick": state.tick, "kimg": round(state.kimg, 3)}
    row.update({k: float(v) for k, v in zip(names, means.tolist(), strict=True)})
    row["augment_p"] = 0.0 if loop.pipe is None else float(loop.pipe.p)
    if loop.ada is not None and loop.ada.r_t is not None:
        row["r_t"] = float(loop.ada.r_t)
    row["sec_per_kimg"] = round(tick_seconds / max(tick_images / 1000, 1e-9), 3)
    row["train_seconds"] = round(state.train_seconds, 2)
    return row


def _end_tick(loop: GANLoop, state: GANTrainState, ctx: TickContext, done: bool) -> tuple[dict[str, Any], bool]:
    """Log, grid, and (every N ticks or at the end) snapshot and checkpoint; returns the tick's row and whether a
    checkpoint was written."""
    accelerator, args, out_dir = loop.accelerator, loop.args, ctx.out_dir
    state.tick += 1
    row = _tick_row(state, ctx.sums, loop, time.perf_counter() - ctx.tick_start,
                    state.images_seen - ctx.tick_images_start)
    ctx.metrics.log(row, step=state.step)
    if accelerator.is_main_process:
        save_tick_grid(loop, ctx.grid, out_dir / "grids" / f"tick_{state.tick:05d}.png")
        if args.snapshot_ticks and state.tick % args.snapshot_ticks == 0 and not done:
            kimg = int(state.images_seen // 1000)
            save_snapshot(ctx.snapshot, loop, ctx.encoder, out_dir / "snapshots" / f"kimg_{kimg:06d}")
    accelerator.wait_for_everyone()
    ctx.start_tick(state.images_seen)
    checkpoint = done or bool(args.checkpoint_ticks and state.tick % args.checkpoint_ticks == 0)
    if checkpoint:
        save_gan_checkpoint(loop, ctx, state, args.keep_checkpoints)
    return row, checkpoint


def _run_loop(loop: GANLoop, loader, state: GANTrainState, ctx: TickContext) -> None:
    """Minibatches until `total_steps`: ticks (log, grid, snapshots, checkpoints every N ticks), a checkpoint when
    the wall clock says so, and on an interrupt a checkpoint then [`TrainingInterrupted`]."""
    args, total = loop.args, loop.args.total_steps
    progress = progress_bar(total, initial=state.step, desc="train-gan",
                            disable=not loop.accelerator.is_local_main_process)
    tick_images = round(args.tick_kimg * 1000)
    clock = CheckpointClock(args.checkpoint_minutes)
    while state.step < total:
        loader.set_epoch(state.epoch)
        skip = state.step_in_epoch
        for batch in (loop.accelerator.skip_first_batches(loader, skip) if skip else loader):
            started = time.perf_counter()
            stats = loop.train_step(batch, state.step, state.images_seen)
            state.step += 1
            state.step_in_epoch += 1
            state.images_seen += args.batch_size
            state.train_seconds += time.perf_counter() - started
            for key, value in stats.items():
                ctx.sums.setdefault(key, []).append(value)
            progress.update(1)
            done = state.step >= total
            if done or state.images_seen - ctx.tick_images_start >= tick_images:
                row, checkpoint = _end_tick(loop, state, ctx, done)
                progress.set_postfix({k: round(v, 3) for k, v in row.items() if k in ("loss_G", "loss_D", "augment_p")})
                if checkpoint:
                    clock.reset()
            if done:
                break
            stop, due = poll_stop_and_clock(loop.accelerator, clock)
            if stop or due:
                path = save_gan_checkpoint(loop, ctx, state, args.keep_checkpoints)
                clock.reset()
                if stop:
                    progress.close()
                    raise TrainingInterrupted("train-gan", path, state.step)
        else:
            state.epoch, state.step_in_epoch = state.epoch + 1, 0
    progress.close()


def _finish(loop: GANLoop, state: GANTrainState, ctx: TickContext, data: dict[str, Any]) -> dict[str, Any]:
    """Final `EEGStyleGANModel` + discriminator in `output_dir/model` and the training record."""
    accelerator, args = loop.accelerator, loop.args
    model_dir = ctx.out_dir / "model"
    summary = {
        "model_dir": str(model_dir), "steps": state.step, "kimg": state.kimg,
        "ticks": state.tick, "train_seconds": round(state.train_seconds, 2),
        "sec_per_kimg": round(state.train_seconds / max(state.kimg, 1e-9), 3),
        "augment_p": None if loop.pipe is None else float(loop.pipe.p), "num_processes": accelerator.num_processes,
        "conditioning": args.conditioning, "encoder": args.encoder, "dataset": args.dataset,
        "dataset_info": data["info"], "classes": data["class_names"], "embeddings_cache": data["embeddings_cache"],
        "training_args": args.to_dict(),
    }
    if accelerator.is_main_process:
        save_snapshot(ctx.snapshot, loop, ctx.encoder, model_dir)
        loop.D_net.save_pretrained(model_dir / GAN_DISCRIMINATOR_FOLDER)
        write_json(model_dir / TRAINING_RECORD, summary)
    accelerator.wait_for_everyone()
    return summary


@interruptible
def train_gan(args: GANTrainingArguments) -> dict[str, Any]:
    """Train EEGStyleGAN-ADA; write grids, snapshots, checkpoints and `output_dir/model` (an `EEGStyleGANModel`
    with the frozen encoder and the EMA generator, plus `model/discriminator`).

    Returns a summary dict (also written to `output_dir/model/eeg2img_training.json`).
    """
    prepare_run_dir(args, "train-gan")
    accelerator, encoder, config, data, loop, loader = setup_gan_training(args)
    out_dir, metrics = start_run(accelerator, args, "gan")
    grid = grid_inputs(data["validation"], len(data["class_names"]), args.grid_columns, config.z_dim, args.seed)
    ctx = TickContext(out_dir=out_dir, encoder=encoder, metrics=metrics, grid=grid,
                      snapshot=EEGStyleGANModel(config).eval() if accelerator.is_main_process else None)
    state = restore_gan(loop, args, ctx)  # after every random initialisation: the RNG states are restored here
    _run_loop(loop, loader, state, ctx)
    summary = _finish(loop, state, ctx, data)
    accelerator.end_training()  # closes trackers and, when distributed, the process group
    return summary

