"""eeg2img_hf: EEG visual representations, EEGStyleGAN-ADA and EEGClip as Hugging Face models.

`import eeg2img_hf` is enough for transformers to know the package: the model classes are registered with the
Auto classes (`AutoConfig`, `AutoModel`, ...) and the pipeline tasks with `transformers.pipeline` as soon as
transformers' Auto classes or pipelines are in use, whichever was imported first:

```python
>>> import eeg2img_hf
>>> from transformers import AutoModel, pipeline
>>> model = AutoModel.from_pretrained("path/to/model")      # no trust_remote_code needed
>>> generate = pipeline("eeg-to-image", model="path/to/eegstylegan")
```

The import itself stays cheap (torch, transformers and datasets load on first use), so the `eeg2img` command
line starts in a fraction of a second: when transformers is not imported yet, a small finder on `sys.meta_path`
waits for transformers' Auto-class or pipeline module and registers right after it has loaded (it does nothing
else and removes itself once both have registered). [`register`] does the same at once and stays available.
"""

from __future__ import annotations

import importlib
import sys
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
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
    "fast_cpu_generation": "eeg2img_hf.utils.allocator",
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

    Idempotent. `import eeg2img_hf` arranges for this to happen when transformers' Auto classes or pipelines
    load (see the module docstring); importing `eeg2img_hf.models` / `eeg2img_hf.pipelines`, or touching any
    public name of this package, registers at once too. Folders saved by this package also load without it
    through `trust_remote_code=True`.
    """
    importlib.import_module("eeg2img_hf.pipelines")  # imports eeg2img_hf.models first


# transformers module -> our module that registers with it: the Auto classes' model mapping, then the pipelines.
_REGISTER_AFTER = {
    "transformers.models.auto.modeling_auto": "eeg2img_hf.models",
    "transformers.pipelines": "eeg2img_hf.pipelines",
}


class _RegisterAfterLoad(Loader):
    """Wraps the loader of one transformers module: executes it, then imports our registering module."""

    def __init__(self, loader: Loader, target: str) -> None:
        self._loader, self._target = loader, target

    def create_module(self, spec: ModuleSpec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        importlib.import_module(self._target)
        if all(name in sys.modules for name in _REGISTER_AFTER):  # nothing left to wait for
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegistrationFinder)]


class _RegistrationFinder(MetaPathFinder):
    """Finds nothing itself: for the modules of `_REGISTER_AFTER` it asks the other finders for the spec and wraps
    its loader in [`_RegisterAfterLoad`]; once every such module has loaded it takes itself off `sys.meta_path`."""

    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        if fullname not in _REGISTER_AFTER:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _RegisterAfterLoad(spec.loader, _REGISTER_AFTER[fullname])
                return spec
        return None


def _register_when_transformers_loads() -> None:
    """Registers now for the transformers modules already loaded; waits for the others (see the docstring)."""
    for module, target in _REGISTER_AFTER.items():
        if module in sys.modules:
            importlib.import_module(target)
    waiting = [m for m in _REGISTER_AFTER if m not in sys.modules]
    if waiting and not any(isinstance(f, _RegistrationFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegistrationFinder())


_register_when_transformers_loads()
