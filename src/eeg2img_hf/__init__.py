"""eeg2img_hf: EEG visual representations, EEGStyleGAN-ADA and EEGClip as Hugging Face models.

`import eeg2img_hf` is cheap: torch, transformers and datasets load on first use of a public name.
The model classes are registered with the transformers Auto classes as soon as either
`eeg2img_hf.models` is imported (touching any model name does that) or, after `import eeg2img_hf`,
transformers' Auto machinery is first imported.
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
    "simulate_dataset": "eeg2img_hf.data",
    "load_eeg_dataset": "eeg2img_hf.data",
    "train_encoder": "eeg2img_hf.training",
    "EncoderTrainingArguments": "eeg2img_hf.training",
    "evaluate_encoder": "eeg2img_hf.training",
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


_AUTO_MODULE = "transformers.models.auto.modeling_auto"


class _RegisterAfterLoad(Loader):
    """Wraps the loader of transformers' Auto module so our models register right after it loads."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        _remove_hook()
        importlib.import_module("eeg2img_hf.models")


class _AutoRegistrationHook(MetaPathFinder):
    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        if fullname != _AUTO_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _RegisterAfterLoad(spec.loader)
                return spec
        return None


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AutoRegistrationHook)]


if _AUTO_MODULE in sys.modules:  # transformers' Auto classes already in use: register now
    importlib.import_module("eeg2img_hf.models")
elif not any(isinstance(f, _AutoRegistrationHook) for f in sys.meta_path):
    sys.meta_path.insert(0, _AutoRegistrationHook())
