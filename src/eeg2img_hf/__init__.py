"""eeg2img_hf: EEG visual representations, EEGStyleGAN-ADA and EEGClip as Hugging Face models.

`import eeg2img_hf` is cheap: torch, transformers and datasets load on first use of a public name.
The model classes are registered with the transformers Auto classes, and the pipeline tasks with
`transformers.pipeline`, explicitly: by [`register`], or as soon as `eeg2img_hf.models` /
`eeg2img_hf.pipelines` is imported, or any public name of the package is touched.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_LAZY: dict[str, str] = {
    "EEGEncoderConfig": "eeg2img_hf.models",
    "EEGEncoderModel": "eeg2img_hf.models",
    "EEGEncoderForClassification": "eeg2img_hf.models",
    "EEGEncoderOutput": "eeg2img_hf.models",
    "EEGEncoderClassificationOutput": "eeg2img_hf.models",
    "EEGStyleGANConfig": "eeg2img_hf.models",
    "EEGStyleGANModel": "eeg2img_hf.models",
    "EEGStyleGANGenerator": "eeg2img_hf.models",
    "EEGStyleGANDiscriminator": "eeg2img_hf.models",
    "EEGClipConfig": "eeg2img_hf.models",
    "EEGClipModel": "eeg2img_hf.models",
    "EEGClipOutput": "eeg2img_hf.models",
    "clip_loss": "eeg2img_hf.models",
    "make_image_processor": "eeg2img_hf.models",
    "EEGToImagePipeline": "eeg2img_hf.pipelines",
    "ImageToEEGToImagePipeline": "eeg2img_hf.pipelines",
    "ImageToEEGConfig": "eeg2img_hf.models",
    "ImageToEEGModel": "eeg2img_hf.models",
    "train_image_to_eeg": "eeg2img_hf.training",
    "evaluate_reconstruction": "eeg2img_hf.evaluation",
    "simulate_dataset": "eeg2img_hf.data",
    "load_eeg_dataset": "eeg2img_hf.data",
    "train_encoder": "eeg2img_hf.training",
    "EncoderTrainingArguments": "eeg2img_hf.training",
    "evaluate_encoder": "eeg2img_hf.evaluation",
    "evaluate_clip": "eeg2img_hf.evaluation",
    "EEGImageRetrievalPipeline": "eeg2img_hf.pipelines",
    "GalleryIndex": "eeg2img_hf.retrieval",
    "build_gallery": "eeg2img_hf.retrieval",
    "train_clip": "eeg2img_hf.training",
    "ClipTrainingArguments": "eeg2img_hf.training",
}

__all__ = sorted(_LAZY) + ["__version__", "register"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        register()  # a public name brings the registrations with it, so `pipeline(task)` works after it
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eeg2img_hf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def register() -> None:
    """Registers the model classes with the transformers Auto classes and the pipeline tasks with `pipeline()`.

    Idempotent. Importing `eeg2img_hf.models` (the Auto classes) or `eeg2img_hf.pipelines` (both), or touching
    any public name of this package (`from eeg2img_hf import EEGStyleGANModel`), registers too; `import eeg2img_hf`
    alone stays light and registers nothing. Folders saved by this package also load without it through
    `trust_remote_code=True`.
    """
    importlib.import_module("eeg2img_hf.pipelines")  # imports eeg2img_hf.models first
