"""Training arguments and per-dataset presets (the authors' hyper-parameters plus small CPU presets)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..utils.checks import check_int, check_number, check_seed

MIXED_PRECISION_CHOICES = (None, "no", "fp16", "bf16")
"""Values of the trainers' `mixed_precision` (`None`: whatever `accelerate launch` / the Accelerate config says)."""

ENCODER_LOSS_NAMES = ("triplet-semihard", "triplet-ms", "supervised")
"""Names of `EncoderTrainingArguments.loss` (the keys of `losses.ENCODER_LOSSES`)."""

# Held-out classes of the paper's unseen-class experiment (table 1; reference-impl.md s5).
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
        keep_checkpoints: how many state checkpoints to keep; >= 1.
        resume: continue from the latest checkpoint in `output_dir`.
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
    keep_checkpoints: int = 2
    resume: bool = False
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
        check_int("keep_checkpoints", self.keep_checkpoints, 1)
        check_seed(self.seed, "seed")
        if not isinstance(self.resume, bool):
            raise ValueError(f"resume must be True or False, got {self.resume!r}")
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
        architecture: `"lstm"` or `"cnn"`.
        loss: `"triplet-semihard"` (paper eq. 1), `"triplet-ms"` (authors' code) or `"supervised"`.
        margin: triplet margin (finite, >= 0); `None` uses the loss's default (1.0 semi-hard, 0.05
            multi-similarity).
        weight_decay: Adam weight decay (authors: 0); finite, >= 0.
        encoder_config: extra `EEGEncoderConfig` fields (e.g. `{"lstm_num_layers": 2}`).
        exclude_classes: class names left out of training (unseen-class experiment).
        epochs, max_steps, batch_size, learning_rate, adam_betas, simulate, eval_every_epochs,
            checkpoint_every_steps, keep_checkpoints, resume, log_with, seed: see [`EpochLoopArguments`].
    """

    dataset: str = "thoughtviz"
    output_dir: str = "outputs/encoder"
    architecture: str = "lstm"
    loss: str = "triplet-semihard"
    margin: float | None = None
    batch_size: int = 256
    weight_decay: float = 0.0
    encoder_config: dict[str, Any] = field(default_factory=dict)
    exclude_classes: list[str] = field(default_factory=list)

    KIND: ClassVar[str] = "encoder"

    def __post_init__(self) -> None:
        if self.architecture not in ("lstm", "cnn"):
            raise ValueError(f"architecture must be 'lstm' or 'cnn', got {self.architecture!r}")
        if self.loss not in ENCODER_LOSS_NAMES:
            raise ValueError(f"loss must be one of {ENCODER_LOSS_NAMES}, got {self.loss!r}")
        self.check_loop_fields()


def _paper(dataset: str, architecture: str, epochs: int, **extra: Any) -> dict[str, Any]:
    # Authors' settings (reference-impl.md s2.3/s3): Adam 3e-4, batch 256, multi-similarity triplet.
    return {"dataset": dataset, "architecture": architecture, "loss": "triplet-ms", "epochs": epochs,
            "batch_size": 256, "learning_rate": 3e-4, **extra}


ENCODER_PRESETS: dict[str, dict[str, Any]] = {
    "eegcvpr40-lstm": _paper("eegcvpr40", "lstm", 8192),
    "eegcvpr40-cnn": _paper("eegcvpr40", "cnn", 4096),
    "thoughtviz-lstm": _paper("thoughtviz", "lstm", 4096),
    # Batch norm instead of the authors' instance norm: on 32 x 14 inputs their final 2-element maps make the
    # pooled CNN features input-independent (README, deviations). Their ThoughtViz CNN had no final L2.
    "thoughtviz-cnn": _paper("thoughtviz", "cnn", 2048, encoder_config={"normalize_embeds": False, "cnn_norm": "batch"}),
    "object-lstm": _paper("object", "lstm", 4096),
    "object-cnn": _paper("object", "cnn", 2048),
    "eegcvpr40-unseen-lstm": _paper("eegcvpr40", "lstm", 8192, exclude_classes=EEGCVPR40_UNSEEN_CLASSES),
    # Small CPU presets: minutes on 2 cores, used by the quickstart, the README figures and CI.
    # The authors' multi-similarity triplet loss: on the simulated ThoughtViz data the paper's semi-hard
    # loss with margin 1.0 collapses the unit-norm embeddings at this learning rate (README, results).
    "cpu-small": {"dataset": "thoughtviz", "architecture": "lstm", "loss": "triplet-ms", "epochs": 25,
                  "batch_size": 128, "learning_rate": 1e-3, "encoder_config": {"lstm_num_layers": 2}},
    "cpu-small-cnn": {"dataset": "thoughtviz", "architecture": "cnn", "loss": "triplet-ms", "epochs": 25,
                      "batch_size": 128, "learning_rate": 1e-3,
                      "encoder_config": {"cnn_channels": [32, 64, 128, 256], "cnn_norm": "batch"}},
}

EncoderTrainingArguments.PRESETS = ENCODER_PRESETS
