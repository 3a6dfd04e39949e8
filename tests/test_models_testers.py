"""Every public model class has a tiny-config tester built on the shared `ModelTesterMixin` (save/load, init,
determinism, dict/tuple outputs, config round trip, gradients, Auto classes)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from transformers import PreTrainedModel

import eeg2img_hf.models as models

from testing_utils import ModelTesterMixin

TESTS = Path(__file__).resolve().parent


def _tested_model_classes() -> set[type]:
    tested = set()
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name == Path(__file__).name or "ModelTesterMixin" not in path.read_text():
            continue
        module = importlib.import_module(path.stem)
        for _, tester in inspect.getmembers(module, inspect.isclass):
            if (issubclass(tester, ModelTesterMixin) and tester is not ModelTesterMixin
                    and tester.__name__.startswith("Test")):
                tested.add(tester.model_class)
    return tested


def test_every_public_model_class_has_a_mixin_tester():
    public = {getattr(models, name) for name in models.__all__}
    model_classes = {c for c in public if inspect.isclass(c) and issubclass(c, PreTrainedModel)
                     and not c.__name__.endswith("PreTrainedModel")}  # abstract bases: weight init and loading only
    missing = sorted(c.__name__ for c in model_classes - _tested_model_classes())
    assert model_classes and not missing, f"add a ModelTesterMixin tester for {missing}"
