"""Inference pipelines. Importing this package registers the `"eeg-to-image"` task with transformers.

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
from .eeg_to_image import OUTPUT_TYPES, EEGToImagePipeline

__all__ = ["EEGToImagePipeline", "OUTPUT_TYPES", "TASK", "register_pipelines"]

TASK = "eeg-to-image"


def register_pipelines() -> None:
    """Registers `"eeg-to-image"` (idempotent): `pipeline("eeg-to-image", model=...)` then builds an
    [`EEGToImagePipeline`], and `pipe.save_pretrained(folder)` exports it as remote code (`custom_pipelines`)."""
    registered = PIPELINE_REGISTRY.supported_tasks.get(TASK)
    if registered is not None and registered.get("impl") is EEGToImagePipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=EEGToImagePipeline, pt_model=AutoModel, type="multimodal")


register_pipelines()
