"""Inference pipelines. Importing this package registers their tasks with transformers:

- `"eeg-to-image"` ([`EEGToImagePipeline`]): EEG trial(s) -> images from an `EEGStyleGANModel`;
- `"eeg-image-retrieval"` ([`EEGImageRetrievalPipeline`]): EEG trial(s) -> top-k gallery images by EEGClip;
- `"image-to-eeg-to-image"` ([`ImageToEEGToImagePipeline`]): image -> predicted EEG embedding -> images.

None of the names collides with a transformers built-in task.

```python
>>> import eeg2img_hf.pipelines
>>> from transformers import pipeline
>>> pipe = pipeline("eeg-to-image", model="path/to/eegstylegan")
```
"""

from __future__ import annotations

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .. import models as _models  # noqa: F401  (registers the model classes with AutoConfig/AutoModel)
from .eeg_image_retrieval import EEGImageRetrievalPipeline
from .eeg_to_image import OUTPUT_TYPES, EEGToImagePipeline
from .image_to_eeg_to_image import ImageToEEGToImagePipeline

__all__ = [
    "EEGImageRetrievalPipeline",
    "EEGToImagePipeline",
    "IMAGE_TO_EEG_TO_IMAGE_TASK",
    "ImageToEEGToImagePipeline",
    "OUTPUT_TYPES",
    "RETRIEVAL_TASK",
    "TASK",
    "TASKS",
    "register_pipelines",
]

TASK = "eeg-to-image"
RETRIEVAL_TASK = "eeg-image-retrieval"
IMAGE_TO_EEG_TO_IMAGE_TASK = "image-to-eeg-to-image"

#: task name -> (pipeline class, transformers pipeline type)
TASKS = {
    TASK: (EEGToImagePipeline, "multimodal"),
    RETRIEVAL_TASK: (EEGImageRetrievalPipeline, "multimodal"),
    IMAGE_TO_EEG_TO_IMAGE_TASK: (ImageToEEGToImagePipeline, "image"),
}


def register_pipelines() -> None:
    """Registers every task of [`TASKS`] (idempotent): `pipeline(task, model=...)` then builds our pipeline
    class, and `pipe.save_pretrained(folder)` exports it as remote code (`custom_pipelines`)."""
    for task, (pipeline_class, kind) in TASKS.items():
        registered = PIPELINE_REGISTRY.supported_tasks.get(task)
        if registered is not None and registered.get("impl") is pipeline_class:
            continue
        PIPELINE_REGISTRY.register_pipeline(task, pipeline_class=pipeline_class, pt_model=AutoModel, type=kind)


register_pipelines()
