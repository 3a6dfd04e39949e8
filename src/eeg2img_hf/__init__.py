"""eeg2img_hf: EEG visual representations, EEGStyleGAN-ADA and EEGClip as Hugging Face models.

`import eeg2img_hf` is cheap: torch, transformers and datasets load on first use of a public name.
The model classes are registered with the transformers Auto classes (and the pipelines with the
pipeline registry) as soon as `eeg2img_hf.models` / `eeg2img_hf.pipelines` is imported (touching any
public name does that) or, after `import eeg2img_hf`, transformers' Auto / pipeline modules load.
"""

from __future__ import annotations

import importlib
import sys
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from typing import Any

__version__ = "0.1.0"

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
    "evaluate_reconstruction": "eeg2img_hf.training",
    "simulate_dataset": "eeg2img_hf.data",
    "load_eeg_dataset": "eeg2img_hf.data",
    "train_encoder": "eeg2img_hf.training",
    "EncoderTrainingArguments": "eeg2img_hf.training",
    "evaluate_encoder": "eeg2img_hf.training",
    "evaluate_clip": "eeg2img_hf.training",
    "EEGImageRetrievalPipeline": "eeg2img_hf.pipelines",
    "GalleryIndex": "eeg2img_hf.retrieval",
    "build_gallery": "eeg2img_hf.retrieval",
    "train_clip": "eeg2img_hf.training",
    "ClipTrainingArguments": "eeg2img_hf.training",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eeg2img_hf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# transformers module -> our module that registers with it once it has loaded
_REGISTRATIONS = {
    "transformers.models.auto.modeling_auto": "eeg2img_hf.models",
    "transformers.pipelines": "eeg2img_hf.pipelines",
}


class _RegisterAfterLoad(Loader):
    """Wraps the loader of a transformers module so our classes register right after it loads."""

    def __init__(self, loader: Loader, target: str) -> None:
        self._loader = loader
        self._target = target

    def create_module(self, spec: ModuleSpec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        importlib.import_module(self._target)


class _AutoRegistrationHook(MetaPathFinder):
    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        if fullname not in _REGISTRATIONS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _RegisterAfterLoad(spec.loader, _REGISTRATIONS[fullname])
                return spec
        return None


for _module, _target in _REGISTRATIONS.items():  # transformers already in use: register now
    if _module in sys.modules:
        importlib.import_module(_target)
if not all(m in sys.modules for m in _REGISTRATIONS) and not any(
    isinstance(f, _AutoRegistrationHook) for f in sys.meta_path
):
    sys.meta_path.insert(0, _AutoRegistrationHook())
