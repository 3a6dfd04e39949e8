"""A small image classifier trained on a dataset's real images: the "judge" of generated-image class accuracy.

The judge is a compact CNN trained from scratch on the REAL training images of an EEG-image dataset, with
early stopping on the validation split. Generated images are then classified by it and compared with the
class of the EEG trial that conditioned them (as the ACC of GWIT-style evaluations); its accuracy on the real
test images is the ceiling of that figure. Its penultimate features can also serve as a FID/KID extractor that
works offline on any dataset (not comparable with Inception-based numbers).

Saved as `model.safetensors` plus `image_classifier.json` (classes, image size, normalisation, widths,
validation accuracy); nothing is unpickled when loading.
"""

from __future__ import annotations

import copy
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import get_eeg_info
from ..utils.checks import check_seed
from ..utils.errors import BadModelFolderError
from ..utils.model_folders import read_safetensors_header
from ..utils.progress import progress_bar
from .extractors import ClassifierExtractor

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "ImageClassifier",
    "ImageClassifierConfig",
    "SplitImages",
    "load_image_classifier",
    "load_split_images",
    "train_image_classifier",
]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "image_classifier.json"


@dataclass
class ImageClassifierConfig:
    """Configuration (and training record) of an [`ImageClassifier`].

    Args:
        classes (`list[str]`): Class names in label order.
        image_size (`int`, *optional*, defaults to 64): Side of the square input.
        widths (`list[int]`, *optional*): Channels of the conv stages (each: two 3x3 convs, BN, ReLU, 2x2 max-pool).
        mean, std (`list[float]`, *optional*): Per-channel normalisation of [0, 1] pixels.
        dropout (`float`, *optional*, defaults to 0.2): Dropout before the final layer.
        val_accuracy (`float`, *optional*): Best validation accuracy (per trial), filled in by training.
        training (`dict`, *optional*): Training record (dataset, epochs, seed, ...).
    """

    classes: list[str]
    image_size: int = 64
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    dropout: float = 0.2
    val_accuracy: float | None = None
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.classes) < 2:
            raise ValueError(f"need at least 2 classes, got {self.classes}")
        if self.image_size < 8 or not self.widths or min(self.widths) < 1:
            raise ValueError(f"invalid image_size {self.image_size} or widths {self.widths}")


class ImageClassifier(nn.Module):
    """Compact CNN: conv stages, global average pooling, dropout and a linear head `fc` (logits).

    Args:
        config ([`ImageClassifierConfig`]): The configuration.
    """

    def __init__(self, config: ImageClassifierConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = 3
        for width in config.widths:
            for _ in range(2):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(channels, len(config.classes))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Normalised images `(batch, 3, image_size, image_size)` -> logits `(batch, n_classes)`."""
        return self.fc(self.dropout(self.pool(self.features(pixel_values)).flatten(1)))

    def extractor(self) -> ClassifierExtractor:
        """This classifier as a FID/KID/IS feature extractor (penultimate features + softmax)."""
        name = f"image-classifier(widths={self.config.widths}, {self.config.image_size}px)"
        return ClassifierExtractor(self, head="fc", input_size=self.config.image_size, mean=tuple(self.config.mean),
                                   std=tuple(self.config.std), name=name)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Class indices of uint8 images `(n, 3, H, W)` (resized to `image_size`)."""
        was_training = self.training
        self.eval()
        extractor = self.extractor()
        device = next(self.parameters()).device
        preds = [extractor(batch.to(device))[1].argmax(1).cpu() for batch in torch.split(images, batch_size)]
        self.train(was_training)
        return torch.cat(preds).numpy()

    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write `model.safetensors` and `image_classifier.json` into `save_directory`."""
        from safetensors.torch import save_file

        path = Path(save_directory)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path / WEIGHTS_NAME))
        (path / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2))


def load_image_classifier(directory: str | Path, device: str | torch.device = "cpu") -> ImageClassifier:
    """Load a judge saved by [`train_image_classifier`] / `ImageClassifier.save_pretrained` (safetensors only)."""
    from safetensors.torch import load_file

    path = Path(directory)
    if not path.is_dir():
        raise ValueError(f"image classifier folder {str(path)!r} does not exist")
    missing = [name for name in (WEIGHTS_NAME, CONFIG_NAME) if not (path / name).is_file()]
    if missing:
        raise ValueError(f"{str(path)!r} is not an image classifier folder: missing {missing} (safetensors only)")
    try:
        config = ImageClassifierConfig(**json.loads((path / CONFIG_NAME).read_text()))
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as err:
        raise BadModelFolderError(f"{str(path / CONFIG_NAME)!r} is not a valid image classifier config: {err}",
                                  hint="retrain the judge with `eeg2img train-image-classifier`") from err
    read_safetensors_header(path / WEIGHTS_NAME)  # a truncated or corrupt file is named here
    model = ImageClassifier(config)
    try:
        model.load_state_dict(load_file(str(path / WEIGHTS_NAME)))
    except RuntimeError as err:
        raise BadModelFolderError(f"{str(path / WEIGHTS_NAME)!r} does not fit {CONFIG_NAME}: "
                                  f"{' '.join(str(err).split())[:300]}") from err
    return model.to(device).eval()


@dataclass
class SplitImages:
    """The images of one split, decoded once per unique `image_id`.

    Attributes:
        images (`torch.Tensor`): uint8 `(n_unique, 3, size, size)`.
        labels (`np.ndarray`): Class of each unique image.
        image_ids (`list[str]`): Their ids.
        trial_index (`np.ndarray`): For each row (trial) of the split, its row in `images`.
        trial_labels (`np.ndarray`): The label of each trial.
    """

    images: torch.Tensor
    labels: np.ndarray
    image_ids: list[str]
    trial_index: np.ndarray
    trial_labels: np.ndarray


def _decode(image: Any, size: int) -> np.ndarray:
    from PIL import Image

    if isinstance(image, dict):  # undecoded `Image()` feature: {"bytes": ..., "path": ...}
        image = Image.open(io.BytesIO(image["bytes"])) if image.get("bytes") else Image.open(image["path"])
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def load_split_images(split: Any, image_size: int) -> SplitImages:
    """Decode the `image` column of a split at `image_size` px (bilinear), once per unique `image_id`."""
    for column in ("image", "image_id", "label"):
        if column not in split.column_names:
            raise ValueError(f"the split has no {column!r} column (columns: {split.column_names})")
    if len(split) == 0:
        raise ValueError("the split is empty")
    ids = list(split["image_id"])
    trial_labels = np.asarray(split["label"], dtype=np.int64)
    first: dict[str, int] = {}
    for row, image_id in enumerate(ids):
        first.setdefault(image_id, row)
    rows = list(first.values())
    position = {image_id: k for k, image_id in enumerate(first)}
    pictures = split.select(rows)["image"]
    images = torch.from_numpy(np.stack([_decode(p, image_size) for p in pictures]))
    return SplitImages(images=images, labels=trial_labels[rows], image_ids=list(first),
                       trial_index=np.asarray([position[i] for i in ids]), trial_labels=trial_labels)


def _augment(x: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """Random horizontal flips and translations (reflect padding) of a normalised batch."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)
    if max_shift < 1:
        return x
    size = x.shape[-1]
    padded = nn.functional.pad(x, (max_shift,) * 4, mode="reflect")
    offsets = torch.randint(0, 2 * max_shift + 1, (x.shape[0], 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy:dy + size, dx:dx + size] for i, (dy, dx) in enumerate(offsets)])


@torch.no_grad()
def _evaluate(model: ImageClassifier, data: SplitImages, device: torch.device) -> tuple[float, float]:
    """(per-trial accuracy, per-trial cross-entropy) of the model on a split."""
    model.eval()
    extractor = model.extractor()
    logits = torch.cat([model(extractor.preprocess(b.to(device))).cpu() for b in torch.split(data.images, 256)])
    per_image = nn.functional.cross_entropy(logits, torch.as_tensor(data.labels), reduction="none")
    correct = (logits.argmax(1).numpy() == data.labels)[data.trial_index]
    return float(correct.mean()), float(per_image[torch.as_tensor(data.trial_index)].mean())


def _dataset_name(dataset_dict: Any) -> str | None:
    try:
        return get_eeg_info(dataset_dict).get("name")
    except ValueError:
        return None


def _check_training_inputs(dataset_dict: Any, epochs: int, batch_size: int, patience: int) -> None:
    for split in ("train", "validation"):
        if split not in dataset_dict:
            raise ValueError(f"the dataset needs a {split!r} split to train the image classifier")
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise ValueError(f"epochs, batch_size and patience must be >= 1, got {epochs}, {batch_size}, {patience}")


def train_image_classifier(
    dataset_dict: Any,
    image_size: int = 64,
    epochs: int = 30,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-4,
    patience: int = 5,
    widths: tuple[int, ...] = (32, 64, 128),
    augment: bool = True,
    seed: int = 0,
    output_dir: str | Path | None = None,
    device: str | torch.device | None = None,
) -> ImageClassifier:
    """Train the judge on the real training images; keep the epoch with the best validation accuracy.

    One epoch is one pass over the training trials (each trial's image, so images are weighted by how often
    they were shown). Training stops after `patience` epochs without a better validation accuracy (ties
    broken by the validation loss) and the best weights are restored.

    Args:
        dataset_dict (`datasets.DatasetDict`): Splits `train` and `validation` in the package schema.
        image_size (`int`, *optional*, defaults to 64): Input side (use the generator's resolution).
        epochs, batch_size, learning_rate, weight_decay, patience: AdamW optimisation and early stopping.
        widths (`tuple[int, ...]`, *optional*): Conv stage widths.
        augment (`bool`, *optional*, defaults to `True`): Random flips and shifts of up to `image_size // 8` px.
        seed (`int`, *optional*, defaults to 0): Seed of initialisation, order and augmentation.
        output_dir (`str` or `Path`, *optional*): Where to save the trained judge.
        device (`str` or `torch.device`, *optional*): Defaults to CUDA when available.

    Returns:
        [`ImageClassifier`] in eval mode; `config.val_accuracy` and `config.training` record the run.
    """
    _check_training_inputs(dataset_dict, epochs, batch_size, patience)

    check_seed(seed, "seed")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    train, val = (load_split_images(dataset_dict[s], image_size) for s in ("train", "validation"))
    torch.manual_seed(seed)
    config = ImageClassifierConfig(classes=list(dataset_dict["train"].features["label"].names),
                                   image_size=image_size, widths=list(widths))
    model = ImageClassifier(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    extractor = model.extractor()
    targets = torch.as_tensor(train.labels)
    best, best_state, best_epoch, epoch = (-1.0, -math.inf), None, 0, 0
    progress = progress_bar(epochs * math.ceil(len(train.trial_index) / batch_size), desc="image-classifier judge")
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.as_tensor(train.trial_index)[torch.randperm(len(train.trial_index), generator=generator)]
        for rows in torch.split(order, batch_size):
            x = extractor.preprocess(train.images[rows].to(device))
            x = _augment(x, generator, image_size // 8) if augment else x
            loss = nn.functional.cross_entropy(model(x), targets[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            progress.update(1)
        accuracy, val_loss = _evaluate(model, val, device)
        progress.set_postfix({"epoch": epoch, "val_accuracy": round(accuracy, 4)})
        if (accuracy, -val_loss) > best:
            best, best_state, best_epoch = (accuracy, -val_loss), copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= patience:
            break
    progress.close()
    model.load_state_dict(best_state)
    model.eval()
    config.val_accuracy = best[0]
    config.training = {
        "dataset": _dataset_name(dataset_dict), "best_epoch": best_epoch,
        "epochs_run": epoch, "max_epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
        "weight_decay": weight_decay, "patience": patience, "augment": augment, "seed": seed,
        "n_train_trials": len(train.trial_index), "n_train_images": len(train.image_ids),
        "n_val_trials": len(val.trial_index), "n_val_images": len(val.image_ids), "val_loss": -best[1],
        "train_accuracy": _evaluate(model, train, device)[0],
    }
    if output_dir is not None:
        model.save_pretrained(output_dir)
    return model
