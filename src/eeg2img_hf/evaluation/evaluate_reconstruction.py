"""Image -> EEG space -> image, judged: how often the reconstruction of an image is judged to be of its class,
separately for images seen in training and unseen ones (`eeg2img evaluate-reconstruction`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import load_eeg_dataset
from ..metrics.image_classifier import load_image_classifier
from ..models import ImageToEEGModel
from ..pipelines import ImageToEEGToImagePipeline
from ..training.common import write_json
from ..training.train_image_to_eeg import unique_images
from ..utils.model_folders import load_model_folder
from ..utils.outputs import prepare_result_json
from ..utils.vision_towers import vision_tower_record

__all__ = ["RECONSTRUCTION_DEFINITIONS", "evaluate_reconstruction"]


RECONSTRUCTION_DEFINITIONS = {
    "images": "distinct image_ids of the evaluated splits (first occurrence kept), each reconstructed "
              "num_images_per_image times from the ImageToEEG model's predicted EEG embedding",
    "seen": "images whose image_id appears in the dataset's train split (the ImageToEEG model trained on them)",
    "unseen": "images whose image_id does not appear in the train split",
    "reconstruction_class_accuracy": "fraction of reconstructions that the judge classifies as the class (label) "
                                     "of their input image",
    "real_image_judge_accuracy": "fraction of the input (real) images the judge classifies correctly: the "
                                 "ceiling of reconstruction_class_accuracy",
    "chance": "1 / number of classes",
    "subject": "no subject is given: a subject-conditioned model uses its mean subject embedding",
}


def _resolve_reconstruction_inputs(image_to_eeg: Any, dataset: Any, judge: Any) -> tuple[Any, Any, Any]:
    if isinstance(image_to_eeg, (str, Path)):
        image_to_eeg = load_model_folder(ImageToEEGModel, image_to_eeg)
    if isinstance(dataset, (str, Path)):
        dataset = load_eeg_dataset(dataset)
    if isinstance(judge, (str, Path)):
        judge = load_image_classifier(judge)
    if "train" not in dataset:
        raise ValueError(f"the dataset needs a 'train' split to tell seen from unseen images, it has {sorted(dataset)}")
    names = list(dataset["train"].features["label"].names)
    if list(judge.config.classes) != names:
        raise ValueError(f"the judge's classes {list(judge.config.classes)} differ from the dataset's {names}")
    return image_to_eeg, dataset, judge


def _judge_real(judge: Any, pictures: list[Any]) -> np.ndarray:
    from PIL import Image

    size = judge.config.image_size
    arrays = [np.asarray(p.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)) for p in pictures]
    return judge.predict(torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous())


def _group_scores(correct_fake: np.ndarray, correct_real: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    n = int(mask.sum())
    return {"n_images": n, "n_reconstructions": int(correct_fake[mask].size),
            "reconstruction_class_accuracy": float(correct_fake[mask].mean()) if n else None,
            "real_image_judge_accuracy": float(correct_real[mask].mean()) if n else None}


def evaluate_reconstruction(
    image_to_eeg: Any,
    generator: Any,
    dataset: Any,
    judge: Any,
    splits: tuple[str, ...] = ("train", "validation", "test"),
    num_images_per_image: int = 1,
    truncation_psi: float = 1.0,
    seed: int = 0,
    batch_size: int = 64,
    output_path: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """How often a reconstruction's class (judged by the generated-image classifier) matches its input's class.

    Every distinct image of `splits` goes through image -> predicted EEG embedding -> generator; the judge
    classifies each reconstruction and each real input image. Results are reported for images seen in training
    (`image_id` in the train split), unseen images and all, with counts; definitions are in the JSON.

    Args:
        image_to_eeg (`ImageToEEGModel` or `str`): the model or its folder.
        generator (`EEGStyleGANModel`, `str` or `None`): the generator or its folder; `None` uses the model's
            `config.generator_name_or_path`.
        dataset (`datasets.DatasetDict` or `str`): the dataset (needs a `train` split) or its source.
        judge (`ImageClassifier` or `str`): the judge (`metrics.image_classifier`) or its folder; its classes must
            be the dataset's.
        splits (`tuple[str, ...]`, *optional*): splits whose images are evaluated.
        num_images_per_image, truncation_psi, seed, batch_size: passed to the pipeline.
        output_path (`str` or `Path`, *optional*): where to write the JSON report.
        device (`str` or `torch.device`, *optional*, defaults to `"cpu"`): where the models run.

    Returns:
        `dict` with `seen`, `unseen`, `all` (each `n_images`, `n_reconstructions`,
        `reconstruction_class_accuracy`, `real_image_judge_accuracy`), `chance`, `definitions`, `vision_tower`
        (the backbone and where its weights came from: pretrained repo / path, revision, weights sha256, or random
        init / trained from scratch) and settings.
    """
    if output_path is not None:  # before any work: never a model's own file or a foreign one
        output_path = prepare_result_json(output_path, what="--output")
    image_to_eeg, dataset, judge = _resolve_reconstruction_inputs(image_to_eeg, dataset, judge)
    missing = [s for s in splits if s not in dataset]
    if missing or not splits:
        raise ValueError(f"unknown splits {missing or list(splits)}; the dataset has {sorted(dataset)}")
    pipe = ImageToEEGToImagePipeline(model=image_to_eeg, generator=generator, device=device)
    train_ids = set(dataset["train"]["image_id"])
    ids, pictures, labels = [], [], []
    for split in splits:
        split_ids, rows, _ = unique_images(dataset[split])
        known = set(ids)
        keep = [(i, r) for i, r in zip(split_ids, rows) if i not in known]
        ids += [i for i, _ in keep]
        subset = dataset[split].select([r for _, r in keep])
        pictures += list(subset["image"])
        labels += list(subset["label"])
    labels = np.asarray(labels)
    outputs = pipe(pictures, num_images_per_image=num_images_per_image, truncation_psi=truncation_psi, seed=seed,
                   output_type="pt", batch_size=batch_size)
    fakes = torch.stack([img for out in outputs for img in out["images"]])
    fakes = ((fakes.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    correct_fake = (judge.predict(fakes) == np.repeat(labels, num_images_per_image)).reshape(len(ids), -1)
    correct_real = _judge_real(judge, pictures) == labels
    seen = np.asarray([i in train_ids for i in ids])
    report = {
        "seen": _group_scores(correct_fake, correct_real, seen),
        "unseen": _group_scores(correct_fake, correct_real, ~seen),
        "all": _group_scores(correct_fake, correct_real, np.ones_like(seen)),
        "chance": 1.0 / len(judge.config.classes), "splits": list(splits),
        "num_images_per_image": num_images_per_image, "truncation_psi": truncation_psi, "seed": seed,
        "image_to_eeg": str(image_to_eeg.config._name_or_path or ""),
        "vision_tower": vision_tower_record(image_to_eeg.config),
        "generator": str(pipe.generation.model.config._name_or_path or ""),
        "judge": {"classes": len(judge.config.classes), "image_size": judge.config.image_size,
                  "val_accuracy": judge.config.val_accuracy},
        "definitions": RECONSTRUCTION_DEFINITIONS,
    }
    if output_path is not None:
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
        write_json(output_path, report)
    return report
