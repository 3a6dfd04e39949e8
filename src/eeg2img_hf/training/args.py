"""Every trainer's arguments and presets in one place: the EEG encoder, EEGStyleGAN-ADA, EEGClip and image -> EEG
(the authors' hyper-parameters as `paper-*` / `authors` presets, plus small CPU and test presets)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..models.eeg_encoder.configuration_eeg_encoder import ARCHITECTURES
from ..utils.checks import check_int, check_number, check_seed
from ..utils.names import DEFAULT_VISION_MODEL
from .blur_prior import UBP_BLUR_SIGMAS_224, check_blur_sigmas
from .eeg_augment import check_augment_options
from .vision_towers import check_vision_arguments

MIXED_PRECISION_CHOICES = (None, "no", "fp16", "bf16")
"""Values of the trainers' `mixed_precision` (`None`: whatever `accelerate launch` / the Accelerate config says)."""

ENCODER_LOSS_NAMES = ("triplet-semihard", "triplet-ms", "supervised", "supervised+triplet-ms")
"""Names of `EncoderTrainingArguments.loss` (the keys of `losses.ENCODER_LOSSES`)."""

# Held-out classes of the paper's unseen-class experiment (table 1; docs/authors-code.md, 'Unseen classes').
EEGCVPR40_UNSEEN_CLASSES = ["German shepherd", "Egyptian cat", "anemone fish", "canoe", "golf ball", "pool table"]


class PresetArguments:
    """Mixin for the training-argument dataclasses: JSON export and construction from named presets."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    KIND: ClassVar[str] = "training"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any):
        """Build arguments from a named preset (`cls.PRESETS`), then apply `overrides` (fields of the class)."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown {cls.KIND} preset {name!r}; choose from {sorted(cls.PRESETS)}")
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.KIND} training arguments {sorted(unknown)}")
        return cls(**{**cls.PRESETS[name], **overrides})


@dataclass
class EpochLoopArguments(PresetArguments):
    """Fields and checks shared by the epoch-loop trainers (`train_encoder`, `train_clip`, `train_image_to_eeg`).

    Args:
        epochs / max_steps: training length (`max_steps` stops early when set); integers >= 1.
        batch_size: global batch (split across processes); an integer >= 2.
        learning_rate / adam_betas: Adam settings (authors: 3e-4, (0.9, 0.999)); a finite `learning_rate > 0`,
            two betas in [0, 1).
        simulate: keyword arguments for `simulate_dataset` when `dataset` is a preset.
        eval_every_epochs: validation frequency (model selection uses the validation split only); >= 1.
        checkpoint_every_steps: `accelerator.save_state` frequency (0 = at the end of every epoch); >= 0.
        checkpoint_minutes: also checkpoint when this many minutes of wall-clock time have passed since the last
            checkpoint (0 = off); a finite number >= 0. An interrupt (Ctrl-C, SIGTERM) always checkpoints.
        keep_checkpoints: how many state checkpoints to keep; >= 1.
        resume: continue from the latest checkpoint in `output_dir` (refused when a setting that changes the run
            differs from the recorded one; see `training.common.RESUME_MAY_CHANGE`).
        overwrite: start a new run in an `output_dir` that holds an earlier run (deleted first); without it, or
            `resume`, such a folder is refused.
        log_with: trackers: any of `"csv"`, `"tensorboard"`.
        mixed_precision: `"no"`, `"fp16"` or `"bf16"` (Accelerate's autocast; bf16 also runs on CPU); `None`
            follows `accelerate launch --mixed_precision` / the Accelerate config.
        seed: seed for `accelerate.utils.set_seed` (and the data order); an integer in [0, 2**32 - 1].

    Out-of-range values raise a `ValueError` naming the field, the value and the allowed range.
    """

    epochs: int = 30
    max_steps: int | None = None
    batch_size: int = 64
    learning_rate: float = 3e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    simulate: dict[str, Any] = field(default_factory=dict)
    eval_every_epochs: int = 1
    checkpoint_every_steps: int = 0
    checkpoint_minutes: float = 5.0
    keep_checkpoints: int = 2
    resume: bool = False
    overwrite: bool = False
    log_with: list[str] = field(default_factory=lambda: ["csv", "tensorboard"])
    mixed_precision: str | None = None
    seed: int = 45

    def __post_init__(self) -> None:
        self.check_loop_fields()

    def check_loop_fields(self) -> None:
        """Raise `ValueError` for out-of-range loop fields; store `adam_betas` as a tuple."""
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 2)
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, 1)
        check_number("learning_rate", self.learning_rate, 0.0, low_open=True)
        self.adam_betas = check_adam_betas(self.adam_betas)
        check_int("eval_every_epochs", self.eval_every_epochs, 1)
        check_int("checkpoint_every_steps", self.checkpoint_every_steps, 0)
        check_number("checkpoint_minutes", self.checkpoint_minutes, 0.0)
        check_int("keep_checkpoints", self.keep_checkpoints, 1)
        check_seed(self.seed, "seed")
        check_run_folder_flags(self.resume, self.overwrite)
        if isinstance(self.log_with, str) or not all(isinstance(t, str) for t in self.log_with):
            raise ValueError(f"log_with must be a list of tracker names ('csv', 'tensorboard'), got {self.log_with!r}")
        unknown = set(self.log_with) - {"csv", "tensorboard"}
        if unknown:
            raise ValueError(f"log_with accepts 'csv' and 'tensorboard', got {sorted(unknown)}")
        if self.mixed_precision not in MIXED_PRECISION_CHOICES:
            raise ValueError(f"mixed_precision must be 'no', 'fp16', 'bf16' or None, got {self.mixed_precision!r}")
        if getattr(self, "weight_decay", None) is not None:
            check_number("weight_decay", self.weight_decay, 0.0)
        if getattr(self, "margin", None) is not None:
            check_number("margin", self.margin, 0.0)


def check_run_folder_flags(resume: Any, overwrite: Any) -> None:
    """`resume` and `overwrite` must be booleans, not both true (continue a run, or delete it and start anew)."""
    for name, value in (("resume", resume), ("overwrite", overwrite)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    if resume and overwrite:
        raise ValueError("resume and overwrite (--resume, --overwrite) exclude each other: continue the run in "
                         "output_dir, or delete it and start a new one")


def check_adam_betas(betas: Any) -> tuple[float, float]:
    """`betas` as a tuple of two finite numbers in [0, 1), else a `ValueError` naming `adam_betas`."""
    try:
        pair = tuple(betas)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise ValueError(f"adam_betas must be two numbers in [0, 1), got {betas!r}")
    return tuple(check_number(f"adam_betas[{i}]", b, 0.0, 1.0, high_open=True) for i, b in enumerate(pair))


@dataclass
class EncoderTrainingArguments(EpochLoopArguments):
    """Everything `train_encoder` needs. Presets in `ENCODER_PRESETS` fill these; any field can be overridden.

    Args:
        dataset: a simulated preset (`"thoughtviz"`, `"eegcvpr40"`, `"object"`, or `"sim:<preset>"`)
            or the path of a DatasetDict saved with `save_to_disk` in the package schema.
        output_dir: where checkpoints, logs and the final model go.
        architecture: `"lstm"`, `"cnn"`, `"tsconv"` or `"braindecode"`.
        braindecode_model / braindecode_kwargs: class name in `braindecode.models` and its further JSON arguments
            (`architecture="braindecode"`; see [`EEGEncoderConfig`]).
        init_from_braindecode: Hub repo id or folder of a braindecode model in braindecode's Hub layout
            (`config.json` + `model.safetensors`) of class `braindecode_model` to start from; its classification
            head is replaced by one of `embed_dim` outputs.
        loss: `"triplet-semihard"` (paper eq. 1), `"triplet-ms"` (authors' code), `"supervised"` or
            `"supervised+triplet-ms"` (cross-entropy through a linear head plus `triplet_weight` times
            `"triplet-ms"` on the embeddings; selected on validation k-means like the triplet losses).
        margin: triplet margin (finite, >= 0); `None` uses the loss's default (1.0 semi-hard, 0.05
            multi-similarity).
        triplet_weight: weight of the triplet term of `"supervised+triplet-ms"` (finite, >= 0).
        augment_time_shift / augment_channel_dropout / augment_noise_std: training-batch augmentation (0 = off;
            see [`eeg_augment.augment_eeg`]): shifts of up to this many samples (edges repeated), each channel
            zeroed with this probability, white noise of this std relative to each trial's std.
        weight_decay: Adam weight decay (authors: 0); finite, >= 0.
        encoder_config: extra `EEGEncoderConfig` fields (e.g. `{"lstm_num_layers": 2}`).
        exclude_classes: class names left out of training (unseen-class experiment).
        gradient_checkpointing: activation checkpointing of the CNN encoder (`architecture="cnn"`, instance norm or
            none): its feature maps are recomputed in the backward pass, in chunks of trials, instead of kept; same
            results in a fraction of the memory, at the cost of a second forward pass (docs/benchmarks.md).
        epochs, max_steps, batch_size, learning_rate, adam_betas, simulate, eval_every_epochs,
            checkpoint_every_steps, keep_checkpoints, resume, log_with, seed: see [`EpochLoopArguments`].
    """

    dataset: str = "thoughtviz"
    output_dir: str = "outputs/encoder"
    architecture: str = "lstm"
    braindecode_model: str | None = None
    braindecode_kwargs: dict[str, Any] = field(default_factory=dict)
    init_from_braindecode: str | None = None
    loss: str = "triplet-semihard"
    margin: float | None = None
    triplet_weight: float = 1.0
    batch_size: int = 256
    weight_decay: float = 0.0
    augment_time_shift: int = 0
    augment_channel_dropout: float = 0.0
    augment_noise_std: float = 0.0
    encoder_config: dict[str, Any] = field(default_factory=dict)
    exclude_classes: list[str] = field(default_factory=list)
    gradient_checkpointing: bool = False

    KIND: ClassVar[str] = "encoder"

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.architecture == "braindecode" and not self.braindecode_model:
            raise ValueError("architecture 'braindecode' needs braindecode_model (CLI --braindecode-model), the class "
                             "name of a braindecode model, e.g. EEGNet")
        if self.architecture != "braindecode" and (self.braindecode_model or self.init_from_braindecode):
            raise ValueError("braindecode_model and init_from_braindecode (CLI --braindecode-model, "
                             "--init-from-braindecode) need architecture 'braindecode' "
                             "(CLI --architecture braindecode)")
        if self.loss not in ENCODER_LOSS_NAMES:
            raise ValueError(f"loss must be one of {ENCODER_LOSS_NAMES}, got {self.loss!r}")
        check_number("triplet_weight", self.triplet_weight, 0.0)
        check_augment_options(self.augment_time_shift, self.augment_channel_dropout, self.augment_noise_std)
        if self.gradient_checkpointing and self.architecture != "cnn":
            raise ValueError("gradient_checkpointing (CLI --gradient-checkpointing) applies to the CNN encoder only "
                             f"(architecture 'cnn'), got architecture {self.architecture!r}")
        if self.gradient_checkpointing and self.encoder_config.get("cnn_norm") == "batch":
            raise ValueError("gradient_checkpointing (CLI --gradient-checkpointing) runs the CNN in chunks of trials, "
                             "which would change batch norm's statistics: it needs cnn_norm 'instance' or 'none'")
        self.check_loop_fields()


def _paper(dataset: str, architecture: str, epochs: int, **extra: Any) -> dict[str, Any]:
    # Authors' settings (docs/authors-code.md, 'Encoder training'): Adam 3e-4, batch 256, multi-similarity triplet.
    return {"dataset": dataset, "architecture": architecture, "loss": "triplet-ms", "epochs": epochs,
            "batch_size": 256, "learning_rate": 3e-4, **extra}


ENCODER_PRESETS: dict[str, dict[str, Any]] = {
    "eegcvpr40-lstm": _paper("eegcvpr40", "lstm", 8192),
    "eegcvpr40-cnn": _paper("eegcvpr40", "cnn", 4096),
    "thoughtviz-lstm": _paper("thoughtviz", "lstm", 4096),
    # Batch norm instead of the authors' instance norm: on 32 x 14 inputs their final 2-element maps make the
    # pooled CNN features input-independent (README, deviations). Their ThoughtViz CNN had no final L2.
    "thoughtviz-cnn": _paper("thoughtviz", "cnn", 2048,
                             encoder_config={"normalize_embeds": False, "cnn_norm": "batch"}),
    "object-lstm": _paper("object", "lstm", 4096),
    "object-cnn": _paper("object", "cnn", 2048),
    "eegcvpr40-unseen-lstm": _paper("eegcvpr40", "lstm", 8192, exclude_classes=EEGCVPR40_UNSEEN_CLASSES),
    # Small CPU presets: about a minute on one core, used by the quickstart, the README figures and CI.
    # `cpu-small`: temporal-spatial convolution averaged over the whole trial, cross-entropy plus the authors'
    # multi-similarity triplet term, channel dropout (docs/results.md: test linear SVM 0.68 vs 0.58 for a linear
    # SVM on the raw standardised trials, 0.43 for the former triplet LSTM preset).
    "cpu-small": {"dataset": "thoughtviz", "architecture": "tsconv", "loss": "supervised+triplet-ms", "epochs": 25,
                  "batch_size": 64, "learning_rate": 1e-3, "augment_channel_dropout": 0.1,
                  "encoder_config": {"tsconv_filters": 40, "tsconv_kernel_size": 9, "tsconv_pool_size": 32,
                                     "tsconv_pool_stride": 32, "tsconv_dropout": 0.25}},
    # The former `cpu-small`: the paper's LSTM with the authors' multi-similarity triplet loss (on the simulated
    # ThoughtViz data the paper's semi-hard loss with margin 1.0 collapses the unit-norm embeddings at this
    # learning rate; README, results).
    "cpu-small-lstm-triplet": {"dataset": "thoughtviz", "architecture": "lstm", "loss": "triplet-ms", "epochs": 25,
                               "batch_size": 128, "learning_rate": 1e-3, "encoder_config": {"lstm_num_layers": 2}},
    "cpu-small-cnn": {"dataset": "thoughtviz", "architecture": "cnn", "loss": "triplet-ms", "epochs": 25,
                      "batch_size": 128, "learning_rate": 1e-3,
                      "encoder_config": {"cnn_channels": [32, 64, 128, 256], "cnn_norm": "batch"}},
}

EncoderTrainingArguments.PRESETS = ENCODER_PRESETS


# ----------------------------------------------------------------------------------------------------------
# EEGStyleGAN-ADA


DEFAULT_EMA_RAMPUP = 0.05
"""StyleGAN2-ADA's EMA ramp-up (every preset's), used by runs from random weights (`ema_rampup="auto"`)."""


@dataclass
class GANTrainingArguments(PresetArguments):
    """Everything `train_gan` needs. Presets in `GAN_PRESETS` fill these; any field can be overridden.

    The paper presets use the StyleGAN2-ADA 'cifar' values at 128 px (batch 64, lr 0.0025, betas (0, 0.99),
    R1 gamma 0.01 every 16 D steps, EMA 500 kimg with ramp-up 0.05, ADA `bgcfnc` target 0.6). On a GPU set
    `stylegan_config={"num_fp16_res": 4}` (float16 in the 4 highest resolutions, as the paper did) and mixed
    precision (`mixed_precision="fp16"` or `accelerate launch --mixed_precision fp16`); keep both off on CPU.

    Args:
        dataset: simulated preset name, `sim:<preset>` or a saved DatasetDict folder (needs train/validation).
        encoder: folder of a trained `EEGEncoderModel` (`train-encoder` output); required for `conditioning="eeg"`,
            ignored for `"onehot"`. Its embeddings are computed once and cached in `output_dir/embeddings`.
        output_dir: grids, snapshots, checkpoints, logs and the final `model` folder.
        stylegan_preset / stylegan_config: `EEGStyleGANConfig.from_preset` name and overrides.
        conditioning: `"eeg"` (EEG embeddings) or `"onehot"` (class labels, the paper's ablation).
        standardize_conditioning: for `"eeg"`, centre the embeddings on their training mean and scale them to unit
            RMS inside G's and D's mapping networks (stored with the weights; an affine change of the embedding
            layer's input, so the model family is unchanged). An encoder's unit-norm embeddings may all lie in a
            narrow cone whose class differences are small next to the common direction; without this the GAN
            picks up the condition far more slowly. Off in the `paper-*` presets (the authors' code feeds the raw
            embeddings), on in the others: a deviation listed in docs/deviations.md.
        batch_size: global batch (split across processes).
        kimg / max_steps: training length in thousands of real images shown to D (`max_steps` wins if set).
        learning_rate / adam_betas / adam_eps: Adam settings before lazy-regularisation rescaling.
        r1_gamma / r1_interval: R1 weight and lazy interval (D steps).
        g_reg_interval: lazy interval of G's regulariser (also rescales G's Adam as in StyleGAN2-ADA; 0 = none).
        pl_weight / pl_decay / pl_batch_shrink: path-length regulariser (0 = off, the 'cifar' value).
        style_mixing_prob: probability of style mixing in G's forward passes (0 in 'cifar').
        class_loss_weight: weight of the auxiliary classification loss (AC-GAN, Odena et al. 2017; an addition,
            0 = off as in the paper): D gets a class head on its penultimate features, trained with cross-entropy on
            the real images' labels, and G pays the same weight times the head's cross-entropy of each generated
            image against the label of the training trial whose condition made it. The adversarial loss alone
            makes G sample classes in proportion to the class posterior of an ambiguous EEG embedding; this loss
            makes it commit to the trial's class (docs/benchmarks.md, docs/deviations.md).
        ema_kimg / ema_rampup: G EMA half-life in kimg and its ramp-up: the half-life is capped at `ema_rampup`
            times the images seen by this run (`None` = no ramp-up). The default `"auto"` is StyleGAN2-ADA's 0.05
            for a run from random weights and `None` for an `init_from` run, as StyleGAN2-ADA does on resume: the
            image counter restarts at 0, and a ramp-up from 0 would replace the starting point's G_ema by G on the
            first step. A number (or `None`) set here applies to both.
        augment: `AugmentPipe` preset (`"bgcfnc"`, ...) or `"noaug"`.
        augment_p: fixed augmentation probability (disables ADA when set).
        ada_target / ada_interval / ada_kimg: ADA target r_t, adjustment interval (steps) and speed.
        tick_kimg: log + image grid every tick. snapshot_ticks / checkpoint_ticks: every N ticks (0 = only at end).
        checkpoint_minutes: also checkpoint when this many minutes of wall-clock time have passed since the last
            checkpoint (0 = off); an interrupt (Ctrl-C, SIGTERM) always checkpoints.
        keep_checkpoints: state checkpoints kept. grid_columns: trials per class row of the grids.
        mixed_precision: `"no"`, `"fp16"` or `"bf16"`; `None` follows `accelerate launch`.
        simulate: keyword arguments for `simulate_dataset` when `dataset` is a preset.
        resume: continue from the latest checkpoint in `output_dir`. overwrite: start a new run over an earlier one
            in `output_dir` (see `EpochLoopArguments`).
        init_from: start from the networks of a GAN folder instead of random weights (fine-tuning, or continuing
            the authors' run on new data): a `convert-checkpoint stylegan-snapshot` folder (G, G_ema, D and the ADA
            probability of a `network-snapshot-*.pkl`) or a `train-gan` model folder (G_ema, which also starts G,
            and `discriminator/`), or the Hub model repo (`org/name`) such a folder was pushed to with its
            training state (`eeg2img push --include-training-state`). The architecture, `w_avg` and the
            conditioning standardisation come from that folder (`stylegan_preset` and `standardize_conditioning`
            are not used; `stylegan_config` still applies, e.g. `num_fp16_res`); the ADA probability starts at the
            folder's unless `augment_p` fixes it; that probability belongs to the folder's augment pipe, so the run
            takes the folder's pipe (its multipliers and strengths) and refuses an `augment` that names another one
            (choose the folder's, a fixed `augment_p`, or `"noaug"`). G_ema continues from the folder's (no EMA
            ramp-up unless `ema_rampup` is set). The optimiser moments and counters start fresh. With `resume`, a
            checkpoint in `output_dir` wins.
        log_with: any of `"csv"`, `"tensorboard"`. seed: base seed (each process adds its rank), an integer in
            [0, 2**32 - 1] (seed + number of processes - 1 must stay in that range).

    Every numeric field must be finite and in its range (rates and intervals positive, weights >= 0,
    probabilities in [0, 1], `keep_checkpoints` >= 1); a bad value raises a `ValueError` naming the field.
    """

    dataset: str = "thoughtviz"
    encoder: str | None = None
    output_dir: str = "outputs/gan"
    stylegan_preset: str = "cpu-small"
    stylegan_config: dict[str, Any] = field(default_factory=dict)
    conditioning: str = "eeg"
    standardize_conditioning: bool = True
    batch_size: int = 32
    kimg: float = 100.0
    max_steps: int | None = None
    learning_rate: float = 0.0025
    adam_betas: tuple[float, float] = (0.0, 0.99)
    adam_eps: float = 1e-8
    r1_gamma: float = 0.01
    r1_interval: int = 16
    g_reg_interval: int = 4
    pl_weight: float = 0.0
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    style_mixing_prob: float = 0.0
    class_loss_weight: float = 0.0
    ema_kimg: float = 10.0
    ema_rampup: float | str | None = "auto"
    augment: str = "bgcfnc"
    augment_p: float | None = None
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 100.0
    tick_kimg: float = 4.0
    snapshot_ticks: int = 10
    checkpoint_ticks: int = 10
    checkpoint_minutes: float = 5.0
    keep_checkpoints: int = 2
    grid_columns: int = 8
    mixed_precision: str | None = None
    simulate: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    overwrite: bool = False
    init_from: str | None = None
    log_with: list[str] = field(default_factory=lambda: ["csv", "tensorboard"])
    seed: int = 0

    KIND: ClassVar[str] = "GAN"

    def __post_init__(self) -> None:
        self.adam_betas = check_adam_betas(self.adam_betas)
        if self.conditioning not in ("eeg", "onehot"):
            raise ValueError(f"conditioning must be 'eeg' or 'onehot', got {self.conditioning!r}")
        if self.conditioning == "eeg" and not self.encoder:
            raise ValueError("conditioning='eeg' needs `encoder` (the folder of a trained EEGEncoderModel)")
        check_int("batch_size", self.batch_size, 2)
        check_number("kimg", self.kimg, 0.0, low_open=True)
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, 1)
        self._check_numbers()
        if isinstance(self.log_with, str) or not all(isinstance(t, str) for t in self.log_with):
            raise ValueError(f"log_with must be a list of tracker names ('csv', 'tensorboard'), got {self.log_with!r}")
        unknown = set(self.log_with) - {"csv", "tensorboard"}
        if unknown:
            raise ValueError(f"log_with accepts 'csv' and 'tensorboard', got {sorted(unknown)}")
        if self.mixed_precision not in (None, "no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16', 'bf16' or None, got {self.mixed_precision!r}")
        check_run_folder_flags(self.resume, self.overwrite)
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from):
            raise ValueError(f"init_from must be a model folder path or None, got {self.init_from!r}")
        if self.ema_rampup == "auto":  # StyleGAN2-ADA: ramp-up for a fresh run, none when resuming its networks
            self.ema_rampup = None if self.init_from else DEFAULT_EMA_RAMPUP
        if self.ema_rampup is not None:
            check_number("ema_rampup", self.ema_rampup, 0.0)

    def _check_numbers(self) -> None:
        """Every numeric field finite and in range (NaN and inf are refused), naming the field."""
        check_number("learning_rate", self.learning_rate, 0.0, low_open=True)
        check_number("adam_eps", self.adam_eps, 0.0, low_open=True)
        for name in ("r1_gamma", "pl_weight", "ema_kimg", "class_loss_weight"):
            check_number(name, getattr(self, name), 0.0)
        for name in ("pl_decay", "style_mixing_prob", "ada_target"):
            check_number(name, getattr(self, name), 0.0, 1.0)
        for name in ("ada_kimg", "tick_kimg"):
            check_number(name, getattr(self, name), 0.0, low_open=True)
        if self.augment_p is not None:
            check_number("augment_p", self.augment_p, 0.0, 1.0)
        check_number("checkpoint_minutes", self.checkpoint_minutes, 0.0)
        for name, low in (("r1_interval", 1), ("g_reg_interval", 0), ("pl_batch_shrink", 1), ("ada_interval", 1),
                          ("snapshot_ticks", 0), ("checkpoint_ticks", 0), ("keep_checkpoints", 1),
                          ("grid_columns", 1)):  # fmt: skip
            check_int(name, getattr(self, name), low)
        if self.pl_weight > 0 and self.g_reg_interval < 1:
            raise ValueError("pl_weight > 0 needs g_reg_interval >= 1")
        check_seed(self.seed, "seed")

    @property
    def total_steps(self) -> int:
        """Number of optimisation steps (`max_steps`, else `ceil(kimg * 1000 / batch_size)`)."""
        return self.max_steps if self.max_steps is not None else math.ceil(self.kimg * 1000 / self.batch_size)


def _gan_paper(dataset: str, kimg: float) -> dict[str, Any]:
    # StyleGAN2-ADA 'cifar' spec at 128 px as run by the authors (docs/authors-code.md, 'GAN training settings').
    return {"dataset": dataset, "stylegan_preset": "cifar-128", "batch_size": 64, "kimg": kimg,
            "learning_rate": 0.0025, "adam_betas": (0.0, 0.99), "r1_gamma": 0.01, "r1_interval": 16,
            "g_reg_interval": 4, "pl_weight": 0.0, "style_mixing_prob": 0.0, "ema_kimg": 500.0,
            "augment": "bgcfnc", "ada_target": 0.6, "ada_interval": 4, "ada_kimg": 500.0, "tick_kimg": 4.0,
            "snapshot_ticks": 10, "checkpoint_ticks": 10, "standardize_conditioning": False}


GAN_PRESETS: dict[str, dict[str, Any]] = {
    "paper-eegcvpr40": _gan_paper("eegcvpr40", 5500.0),
    "paper-thoughtviz": _gan_paper("thoughtviz", 6500.0),
    # 32 px, small networks: a visible result in minutes on a laptop CPU. Batch 16 and learning rate 0.005 (twice
    # the 'cifar' value): more, larger steps per kimg, which is what a short CPU run is short of; AC-GAN's class
    # loss at weight 0.3 makes G commit to its condition trial's class (both chosen on validation,
    # docs/benchmarks.md).
    "cpu-small": {"dataset": "thoughtviz", "stylegan_preset": "cpu-small", "batch_size": 16, "learning_rate": 0.005,
                  "class_loss_weight": 0.3, "kimg": 10.0, "ema_kimg": 10.0, "ada_kimg": 100.0, "tick_kimg": 1.0,
                  "snapshot_ticks": 5, "checkpoint_ticks": 5},
    # The former `cpu-small` (wider networks, batch 32, the 'cifar' learning rate 0.0025): the before/after reference.
    "cpu-small-wide": {"dataset": "thoughtviz", "stylegan_preset": "cpu-small-wide", "batch_size": 32, "kimg": 10.0,
                       "ema_kimg": 10.0, "ada_kimg": 100.0, "tick_kimg": 1.0, "snapshot_ticks": 5,
                       "checkpoint_ticks": 5},
    # Unit tests only.
    "tiny": {"dataset": "thoughtviz", "stylegan_preset": "tiny", "batch_size": 8, "kimg": 0.032, "r1_interval": 2,
             "ema_kimg": 0.01, "ada_interval": 1, "ada_kimg": 1.0, "tick_kimg": 0.016, "snapshot_ticks": 1,
             "checkpoint_ticks": 1, "grid_columns": 3},
}


GANTrainingArguments.PRESETS = GAN_PRESETS


# ----------------------------------------------------------------------------------------------------------
# EEGClip


SELECTION_METRIC = "val_exact_mrr"
"""Validation metric that selects the kept EEGClip model."""
THINGS_EEG2_VISION_MODEL = "openai/clip-vit-large-patch14"
"""Image tower of the `things-eeg2` training preset: the vision tower of OpenAI's CLIP ViT-L/14 (frozen)."""
POSITIVES = ("diagonal", "image", "class")
CLIP_LOSS_NAMES = ("clip", "clip+mse")
"""Values of `ClipTrainingArguments.loss`: the symmetric CLIP loss, or ATM's CLIP plus MSE (`clip_mse_loss`)."""
ATM_MSE_WEIGHT = 0.99
"""ATM's weight of the MSE term (and 1 - it of the CLIP term), the default `mse_weight` of `loss="clip+mse"`."""


@dataclass
class ClipTrainingArguments(EpochLoopArguments):
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
        vision_model: Hub repo id or folder of a pretrained transformers vision backbone (`microsoft/resnet-50`,
            ConvNeXt, DINOv2, or a CLIP / SigLIP checkpoint's vision tower) loaded WITH its weights into the image
            tower (`EEGClipModel.from_vision_pretrained`); its config and image preprocessing replace the preset's.
            `None` keeps the preset's randomly initialised tower.
        vision_revision: branch, tag or commit of the `vision_model` Hub repo.
        allow_random_vision_tower: accept a frozen tower that `vision_model` does not load (random features that
            training never changes); refused otherwise. For tests and timing runs.
        classes: keep only these class names (all splits, labels re-indexed); `None` keeps all.
        subjects: keep only the trials of these subjects in `train` and `validation` (subject-dependent training:
            one subject); `None` keeps all.
        exclude_subjects: drop the trials of these subjects from `train` and `validation` (leave-one-subject-out:
            the held-out subject).
        image_features: a file written by [`compute_image_features`] (`eeg2img image-features`): the frozen tower's
            pooled features of every image, used instead of running the tower every step; it must match the model's
            tower (weights sha256) and image preprocessing.
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
        loss: `"clip"` (the symmetric CLIP loss) or `"clip+mse"` (ATM's: `(1 - mse_weight)` times the CLIP loss
            plus `mse_weight` times the mean squared error between the joint-space EEG and image embeddings;
            [`clip_mse_loss`]).
        mse_weight: weight of the MSE term of `"clip+mse"`, in [0, 1]; `None` is ATM's 0.99. Refused with
            `"clip"`.
        simulate: keyword arguments for `simulate_dataset` when `dataset` is a preset.
        eval_every_epochs: validation frequency.
        checkpoint_every_steps: `accelerator.save_state` frequency (0 = at the end of every epoch).
        keep_checkpoints: how many state checkpoints to keep.
        resume: continue from the latest checkpoint in `output_dir` (refused when a setting that changes the run
            differs from the recorded one; see `training.common.RESUME_MAY_CHANGE`).
        overwrite: start a new run in an `output_dir` that holds an earlier run (deleted first); without it, or
            `resume`, such a folder is refused.
        log_with: trackers: any of `"csv"`, `"tensorboard"`.
        seed: seed for `accelerate.utils.set_seed` and the batch sampler.
        blur_sigmas: the uncertainty-aware blur prior (`training.blur_prior`): three Gaussian sigmas in pixels of the
            tower's input (certain, medium, uncertain pairs; finite, >= 0, non-decreasing) with which every training
            image is blurred before the image tower; `None` (default) trains on sharp images. With `image_features`
            the file must hold the tower's features at these three blur levels (`eeg2img image-features
            --blur-sigmas`); validation images stay sharp.
        blur_center_weight / blur_falloff: the foveated blend: weight of the sharp image at the centre (in [0, 1];
            paper 0.5) and its exponential decay towards the corners (>= 0; paper 3).
        blur_momentum / blur_alpha: the uncertainty estimate: weight of a step in each trial's smoothed similarity
            (in (0, 1]; paper 0.3) and the level of the batch's confidence interval (in (0, 1); paper 0.05).
    """

    dataset: str = "eegcvpr40"
    output_dir: str = "outputs/clip"
    model_preset: str = "authors"
    model_config: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None
    vision_model: str | None = None
    vision_revision: str | None = None
    allow_random_vision_tower: bool = False
    classes: list[str] | None = None
    subjects: list[int] | None = None
    exclude_subjects: list[int] | None = None
    image_features: str | None = None
    epochs: int = 2048
    weight_decay: float = 0.0
    class_balanced: bool = False
    unique_classes: bool = False
    positives: str = "diagonal"
    loss: str = "clip"
    mse_weight: float | None = None
    blur_sigmas: list[float] | None = None
    blur_center_weight: float = 0.5
    blur_falloff: float = 3.0
    blur_momentum: float = 0.3
    blur_alpha: float = 0.05

    KIND: ClassVar[str] = "clip"

    def __post_init__(self) -> None:
        if self.positives not in POSITIVES:
            raise ValueError(f"positives must be one of {POSITIVES}, got {self.positives!r}")
        self.check_loss_fields()
        if self.unique_classes and not self.class_balanced:
            raise ValueError("unique_classes needs class_balanced=True")
        for name in ("subjects", "exclude_subjects"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, (str, bytes)) or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value)):  # fmt: skip
                raise ValueError(f"{name} must be a list of subject numbers (ints) or None, got {value!r}")
        if self.subjects and self.exclude_subjects and set(self.subjects) & set(self.exclude_subjects):
            raise ValueError(f"subjects {self.subjects} and exclude_subjects {self.exclude_subjects} overlap")
        if self.image_features is not None and (not isinstance(self.image_features, str) or not self.image_features):
            raise ValueError(f"image_features must be a file path or None, got {self.image_features!r}")
        check_blur_prior_fields(self)
        check_vision_arguments(self)
        self.check_loop_fields()

    def check_loss_fields(self) -> None:
        """`loss` in `CLIP_LOSS_NAMES`; `mse_weight` only with `"clip+mse"` (default `ATM_MSE_WEIGHT`), in [0, 1]."""
        if self.loss not in CLIP_LOSS_NAMES:
            raise ValueError(f"loss must be one of {CLIP_LOSS_NAMES}, got {self.loss!r}")
        if self.loss == "clip" and self.mse_weight is not None:
            raise ValueError(f"mse_weight (CLI --mse-weight) weighs the MSE term of loss 'clip+mse'; loss is 'clip', "
                             f"got mse_weight={self.mse_weight!r}")
        if self.loss == "clip+mse":
            self.mse_weight = check_number("mse_weight", ATM_MSE_WEIGHT if self.mse_weight is None
                                           else self.mse_weight, 0.0, 1.0)


def check_blur_prior_fields(args: ClipTrainingArguments) -> None:
    """Raise `ValueError` naming the field for out-of-range blur-prior settings; store `blur_sigmas` as a list of
    floats."""
    check_number("blur_center_weight", args.blur_center_weight, 0.0, 1.0)
    check_number("blur_falloff", args.blur_falloff, 0.0)
    check_number("blur_momentum", args.blur_momentum, 0.0, 1.0, low_open=True)
    check_number("blur_alpha", args.blur_alpha, 0.0, 1.0, low_open=True, high_open=True)
    if args.blur_sigmas is not None:
        args.blur_sigmas = check_blur_sigmas(args.blur_sigmas)


CLIP_PRESETS: dict[str, dict[str, Any]] = {
    # The authors' EEGClip run (docs/authors-code.md, 'EEGClip'): batch 64, Adam 3e-4, 2048 epochs (their loop
    # ran 2049 and saved snapshots at fixed epochs), shuffled batches, diagonal targets, frozen ImageNet ResNet-50
    # at 224 px
    # (`microsoft/resnet-50` with its weights and preprocessing, downloaded from the Hub or read from its cache).
    "authors": {"dataset": "eegcvpr40", "model_preset": "authors", "epochs": 2048, "batch_size": 64,
                "learning_rate": 3e-4, "vision_model": DEFAULT_VISION_MODEL},
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
    # THINGS-EEG2 (converted with `eeg2img convert things-eeg2`; pass its folder as --dataset): the temporal-spatial
    # convolution EEG tower, a frozen CLIP ViT-L/14 image tower (`--image-features` makes the run read its pooled
    # features from a file instead of running it), batches without repeated images, image positives, Adam 2e-4,
    # batch 1024, 100 epochs; the model with the best validation (unseen concepts) MRR is kept.
    "things-eeg2": {"dataset": "data/things-eeg2", "model_preset": "things-eeg2-tsconv", "epochs": 100,
                    "batch_size": 1024, "learning_rate": 2e-4, "class_balanced": True, "positives": "image",
                    "vision_model": THINGS_EEG2_VISION_MODEL},
    # The simulated THINGS-EEG2 on 2 CPU cores in about a minute: the same EEG tower, a small ResNet at 64 px trained
    # from scratch (no pretrained weights offline), batches of 64 distinct images.
    "things-eeg2-sim": {"dataset": "things-eeg2", "model_preset": "things-eeg2-tsconv", "epochs": 30,
                        "batch_size": 64, "learning_rate": 1e-3, "class_balanced": True, "positives": "image",
                        "model_config": {"freeze_vision_tower": False, "image_size": 64, "image_resize_size": 64,
                                         "vision_config": {"model_type": "resnet", "embedding_size": 16,
                                                           "hidden_sizes": [16, 32, 64, 128], "depths": [1, 1, 1, 1],
                                                           "layer_type": "basic"},
                                         "encoder_config": {"tsconv_filters": 16, "embed_dim": 128,
                                                            "tsconv_dropout": 0.25}}},
    # ATM's recipe (Li et al., NeurIPS 2024) on THINGS-EEG2 (the converted folder as --dataset): ATM's EEG tower at
    # 100 Hz, a frozen CLIP ViT-L/14 image tower (ATM used OpenCLIP ViT-H/14; any --vision-model works), ATM's loss
    # (0.01 CLIP + 0.99 MSE), 40 epochs, batch 64, learning rate 3e-4; batches of distinct images with image
    # positives (the same targets as ATM's diagonal when each image occurs once per batch).
    "things-eeg2-atm": {"dataset": "data/things-eeg2", "model_preset": "things-eeg2-atm", "epochs": 40,
                        "batch_size": 64, "learning_rate": 3e-4, "loss": "clip+mse", "class_balanced": True,
                        "positives": "image", "vision_model": THINGS_EEG2_VISION_MODEL},
    # The simulated THINGS-EEG2 on 2 CPU cores in about 2-3 minutes per model: the ATM tower at 17 x 100 (16 filters,
    # a 128-D output and joint space), the small ResNet of `things-eeg2-sim` at 64 px from scratch, ATM's loss.
    "things-eeg2-atm-sim": {"dataset": "things-eeg2", "model_preset": "things-eeg2-atm", "epochs": 20,
                            "batch_size": 64, "learning_rate": 1e-3, "loss": "clip+mse", "class_balanced": True,
                            "positives": "image",
                            "model_config": {"freeze_vision_tower": False, "image_size": 64, "image_resize_size": 64,
                                             "projection_dim": 128,
                                             "vision_config": {"model_type": "resnet", "embedding_size": 16,
                                                               "hidden_sizes": [16, 32, 64, 128],
                                                               "depths": [1, 1, 1, 1], "layer_type": "basic"},
                                             "encoder_config": {"atm_conv_filters": 16, "embed_dim": 128}}},
    # UBP (Wu et al., CVPR 2025; docs/things-eeg2.md, 'UBP'): the projection EEG tower (`things-eeg2-ubp`), the
    # uncertainty-aware blur prior on the training images (51-pixel Gaussian kernels at 224 px, 6 narrower / wider for
    # certain / uncertain pairs: sigmas 7.1 / 8.0 / 8.9; foveated blend 0.5 * exp(-3 d)), a frozen CLIP ViT-L/14 run
    # on the blurred pixels every step, shuffled batches of 1,024 with diagonal positives, 50 epochs, lr 1e-4.
    "things-eeg2-ubp": {"dataset": "data/things-eeg2", "model_preset": "things-eeg2-ubp", "epochs": 50,
                        "batch_size": 1024, "learning_rate": 1e-4, "vision_model": THINGS_EEG2_VISION_MODEL,
                        "blur_sigmas": list(UBP_BLUR_SIGMAS_224)},
    # The same recipe on the simulated THINGS-EEG2 on 2 CPU cores (about 3.5 minutes for one subject, measured on
    # shared cores): the projection tower at 128-D, a small ResNet at 64 px trained from scratch (no pretrained
    # weights offline) on blurred images, the blur scaled to 64 px (sigmas x 64 / 224), batches of 64, Adam 1e-3,
    # 30 epochs.
    "things-eeg2-ubp-sim": {"dataset": "things-eeg2", "model_preset": "things-eeg2-ubp", "epochs": 30,
                            "batch_size": 64, "learning_rate": 1e-3,
                            "blur_sigmas": [round(s * 64 / 224, 3) for s in UBP_BLUR_SIGMAS_224],
                            "model_config": {"freeze_vision_tower": False, "image_size": 64, "image_resize_size": 64,
                                             "projection_dim": 128,
                                             "vision_config": {"model_type": "resnet", "embedding_size": 16,
                                                               "hidden_sizes": [16, 32, 64, 128],
                                                               "depths": [1, 1, 1, 1], "layer_type": "basic"},
                                             "encoder_config": {"embed_dim": 128}}},
}


ClipTrainingArguments.PRESETS = CLIP_PRESETS


# ----------------------------------------------------------------------------------------------------------
# Image -> EEG


SELECTIONS = ("kmeans", "cosine")
"""Model-selection rules of `train_image_to_eeg`."""


@dataclass
class ImageToEEGTrainingArguments(EpochLoopArguments):
    """Everything `train_image_to_eeg` needs. Presets in `IMAGE_TO_EEG_TRAINING_PRESETS` fill these.

    Args:
        encoder: folder of the trained `EEGEncoderModel` whose embedding space is the target (required).
        dataset: a simulated preset (`"eegcvpr40"`, ...), `"sim:<preset>"` or a saved DatasetDict folder.
        output_dir: checkpoints, logs, the embeddings cache and the final model (`output_dir/model`).
        loss: `"mse"` (authors' code) or `"triplet"` (the paper's wording; cross-modal, semi-hard).
        margin: triplet margin (squared distances).
        model_preset / model_config: `ImageToEEGConfig` preset (`"authors"`, `"cpu-small"`, `"tiny"`) and overrides.
        vision_model: Hub repo id or folder of a pretrained transformers vision backbone (`microsoft/resnet-50`,
            ConvNeXt, DINOv2, or a CLIP / SigLIP checkpoint's vision tower) loaded WITH its weights into the backbone
            (`ImageToEEGModel.from_vision_pretrained`); its config and image preprocessing replace the preset's.
            `None` keeps the preset's randomly initialised backbone.
        vision_revision: branch, tag or commit of the `vision_model` Hub repo.
        allow_random_vision_tower: accept a frozen backbone that `vision_model` does not load (random features
            that training never changes); refused otherwise. For tests and timing runs.
        subject_conditioning: learn a subject embedding (`n_subjects` from the data); optional at inference.
        generator: EEGStyleGANModel folder recorded as `generator_name_or_path` for the reconstruction pipeline.
        epochs / max_steps / batch_size / learning_rate / adam_betas: Adam training (authors: lr 3e-4, batch 256).
        selection: validation criterion, `"kmeans"` (k-means accuracy of predicted embeddings, the authors') or
            `"cosine"` (mean cosine similarity between predicted and target embeddings).
        simulate: keyword arguments for `simulate_dataset` when `dataset` is a preset.
        eval_every_epochs / checkpoint_every_steps / keep_checkpoints / resume / log_with / seed: as for
            `train_encoder`.
    """

    encoder: str | None = None
    dataset: str = "eegcvpr40"
    output_dir: str = "outputs/image_to_eeg"
    loss: str = "mse"
    margin: float = 1.0
    model_preset: str = "cpu-small"
    model_config: dict[str, Any] = field(default_factory=dict)
    vision_model: str | None = None
    vision_revision: str | None = None
    allow_random_vision_tower: bool = False
    subject_conditioning: bool = False
    generator: str | None = None
    epochs: int = 15
    selection: str = "kmeans"
    log_with: list[str] = field(default_factory=lambda: ["csv"])

    KIND: ClassVar[str] = "image-to-eeg"

    def __post_init__(self) -> None:
        if not self.encoder:
            raise ValueError("`encoder` is required: the folder of the trained EEGEncoderModel (train-encoder's model)")
        if self.loss not in ("mse", "triplet"):
            raise ValueError(f"loss must be 'mse' or 'triplet', got {self.loss!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        check_vision_arguments(self)
        self.check_loop_fields()


IMAGE_TO_EEG_TRAINING_PRESETS: dict[str, dict[str, Any]] = {
    # Authors' Image2EEG settings (docs/authors-code.md, 'Image -> EEG encoder'): MSE, Adam 3e-4, batch 256,
    # 4096 epochs, subjects;
    # the frozen ImageNet ResNet-50 `microsoft/resnet-50` (weights and preprocessing from the Hub or its cache)
    # stands in for their GoogLeNet (transformers has none).
    "authors": {"model_preset": "authors", "loss": "mse", "epochs": 4096, "batch_size": 256, "learning_rate": 3e-4,
                "subject_conditioning": True, "vision_model": DEFAULT_VISION_MODEL},
    # A small ResNet from scratch on the simulated images: minutes on 2 CPU cores.
    "cpu-small": {"model_preset": "cpu-small", "epochs": 15, "batch_size": 64, "learning_rate": 1e-3},
    # Unit tests.
    "tiny": {"model_preset": "tiny", "epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "log_with": ["csv"]},
}  # fmt: skip

ImageToEEGTrainingArguments.PRESETS = IMAGE_TO_EEG_TRAINING_PRESETS
