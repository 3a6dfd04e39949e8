"""Shared model contract (diffusers/transformers style): each test class supplies `model_class`,
`get_config()` (tiny) and `get_inputs()`; the mixin checks what every model of the package must do."""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, CLIPConfig, CLIPImageProcessor, CLIPModel

from eeg2img_hf.data import get_eeg_info, simulate_dataset
from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel
from eeg2img_hf.utils.interrupts import request_stop

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run_python(code: str, env: dict[str, str] | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (same venv) and return the completed process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


class ModelTesterMixin:
    model_class: type
    output_key: str
    auto_class: type = AutoModel
    """The transformers Auto class that must load a saved `model_class` as exactly that class."""

    def get_config(self):
        raise NotImplementedError

    def get_inputs(self, batch_size: int = 3) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def make_model(self, seed: int = 0):
        torch.manual_seed(seed)
        return self.model_class(self.get_config()).eval()

    def test_no_nan_after_init(self):
        model = self.make_model()
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            assert torch.isfinite(tensor).all(), name
        assert torch.isfinite(getattr(model(**self.get_inputs()), self.output_key)).all()

    def test_save_load_identical(self, tmp_path):
        model = self.make_model()
        model.save_pretrained(tmp_path)
        assert (tmp_path / "model.safetensors").exists()
        assert not list(tmp_path.glob("*.bin")), "weights must be saved as safetensors only"
        loaded = self.model_class.from_pretrained(tmp_path).eval()
        ref, new = model.state_dict(), loaded.state_dict()
        assert ref.keys() == new.keys()
        for key in ref:
            assert torch.equal(ref[key], new[key]), key
        inputs = self.get_inputs()
        for a, b in zip(model(**inputs).to_tuple(), loaded(**inputs).to_tuple(), strict=True):
            assert torch.equal(a, b)

    def test_determinism(self):
        inputs = self.get_inputs()
        first = getattr(self.make_model(seed=1)(**inputs), self.output_key)
        second = getattr(self.make_model(seed=1)(**inputs), self.output_key)
        assert torch.equal(first, second)

    def test_dict_tuple_equivalence(self):
        model = self.make_model()
        inputs = self.get_inputs()
        as_dict = model(**inputs)
        as_tuple = model(**inputs, return_dict=False)
        assert isinstance(as_tuple, tuple)
        for a, b in zip(as_dict.to_tuple(), as_tuple):
            assert torch.equal(a, b)

    def test_config_json_round_trip(self, tmp_path):
        config = self.get_config()
        config.save_pretrained(tmp_path)
        again = type(config).from_pretrained(tmp_path)
        assert again.to_dict() == config.to_dict()
        assert json.loads((tmp_path / "config.json").read_text())["model_type"] == config.model_type

    def test_every_parameter_gets_gradient(self):
        model = self.make_model().train()
        outputs = model(**self.get_inputs(batch_size=4))
        assert getattr(outputs, self.output_key).requires_grad
        # every differentiable output (a discriminator's class head, too), each along a random direction
        sum((t.float() * torch.randn_like(t.float())).sum()
            for t in outputs.to_tuple() if isinstance(t, torch.Tensor) and t.requires_grad).backward()
        missing = [
            n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())
        ]
        assert not missing, f"parameters without gradient: {missing}"

    def test_return_dict_from_config(self):
        """`config.return_dict=False` gives the tuple (`ModelOutput.to_tuple()`), an explicit argument wins."""
        model = self.make_model()
        inputs = self.get_inputs()
        as_dict = model(**inputs)
        model.config.return_dict = False
        as_tuple = model(**inputs)
        assert isinstance(as_tuple, tuple) and len(as_tuple) == len(as_dict.to_tuple())
        for a, b in zip(as_dict.to_tuple(), as_tuple, strict=True):
            assert torch.equal(a, b)
        assert type(model(**inputs, return_dict=True)) is type(as_dict)

    def test_unknown_argument_refused(self):
        model = self.make_model()
        with pytest.raises(TypeError, match="typo_arg"):
            model(**self.get_inputs(), typo_arg=1)

    def test_auto_classes(self, tmp_path):
        """The Auto classes give back exactly the saved classes (not merely some module), with the saved weights."""
        from transformers import AutoConfig

        import eeg2img_hf.models  # noqa: F401  (registers the Auto classes)

        model = self.make_model()
        model.save_pretrained(tmp_path)
        assert type(AutoConfig.from_pretrained(tmp_path)) is type(model.config)
        auto = self.auto_class.from_pretrained(tmp_path)
        assert type(auto) is self.model_class
        ref, new = model.state_dict(), auto.state_dict()
        assert ref.keys() == new.keys() and all(torch.equal(ref[k], new[k]) for k in ref)


def import_roots(source: str) -> set[str]:
    """Top-level names a Python source imports (`"."` for relative imports): for import-hygiene tests."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add("." if node.level else node.module.split(".")[0])
    return roots


def save_tiny_clip(folder: str | os.PathLike) -> str | os.PathLike:
    """A tiny full CLIP checkpoint (text and vision towers, 32 px) with its processor in `folder`, standing in for
    a Hub CLIP such as openai/clip-vit-large-patch14 (seeded: the same weights on every call)."""
    torch.manual_seed(2)
    text = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "vocab_size": 64, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    vision = {"hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 32, "patch_size": 8}
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def load_script(name: str) -> ModuleType:
    """`scripts/<name>.py` as a module (scripts are not a package), for testing its functions and `main`."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_tiny_gan_inputs(root: Path) -> Path:
    """A tiny simulated ThoughtViz-like dataset at 16 px (`root/data`) and a 12-D LSTM encoder (`root/encoder`, the
    tiny GAN preset's embed_dim; seeded)."""
    data = simulate_dataset("thoughtviz", n_subjects=2, images_per_class=2, image_size=16)
    data.save_to_disk(str(root / "data"))
    info = get_eeg_info(data)
    torch.manual_seed(0)
    EEGEncoderModel(EEGEncoderConfig(n_chans=int(info["n_chans"]), n_times=int(info["n_times"]), lstm_num_layers=1,
                                     lstm_hidden_size=8, embed_dim=12)).save_pretrained(root / "encoder")
    return root


class PipelineTesterMixin:
    """Shared pipeline contract (transformers' conventions): one result type per input form, options checked before
    anything runs, and results that depend on the seed and on the trial only.

    Each test class supplies `make_pipeline()`, `single_inputs()` (every single-item form of one reference item),
    `batch_inputs()` (every batched form of `batch_len` items whose first is the reference item), `call_options`
    (applied to every call, e.g. a seed and `output_type="pt"`), `variants` (option sets that must keep the result
    type), `bad_options` (`(options, message pattern)` pairs refused with a `ValueError`), `check_item(item,
    options)` (asserts the type of one result) and `comparable(item)` (a tensor for equality checks).
    """

    call_options: dict = {}
    variants: list = []
    bad_options: list = []
    batch_len: int = 3

    def make_pipeline(self):
        raise NotImplementedError

    def single_inputs(self) -> list:
        raise NotImplementedError

    def batch_inputs(self) -> list:
        raise NotImplementedError

    def check_item(self, item, options: dict) -> None:
        raise NotImplementedError

    def comparable(self, item) -> torch.Tensor:
        raise NotImplementedError

    @property
    def pipe(self):
        cls = type(self)
        if cls.__dict__.get("_pipe") is None:
            cls._pipe = self.make_pipeline()
        return cls._pipe

    def run(self, inputs, **options):
        return self.pipe(inputs, **{**self.call_options, **options})

    def assert_same(self, a, b) -> None:
        torch.testing.assert_close(self.comparable(a), self.comparable(b), atol=1e-5, rtol=1e-5)

    def test_one_result_per_single_input_form(self):
        reference = self.run(self.single_inputs()[0])
        for form in self.single_inputs():
            item = self.run(form)
            self.check_item(item, self.call_options)
            self.assert_same(item, reference)

    def test_a_list_per_batched_input_form_even_of_one(self):
        reference = self.run(self.single_inputs()[0])
        for form in self.batch_inputs():
            result = self.run(form)
            assert isinstance(result, list) and len(result) == self.batch_len, type(result)
            for item in result:
                self.check_item(item, self.call_options)
            self.assert_same(result[0], reference)  # the same seed: the same result alone or at the head of a batch
        one = self.run([self.single_inputs()[0]])
        assert isinstance(one, list) and len(one) == 1
        self.assert_same(one[0], reference)

    def test_options_keep_the_result_type(self):
        single, batch = self.single_inputs()[0], self.batch_inputs()[0]
        for options in self.variants:
            self.check_item(self.run(single, **options), {**self.call_options, **options})
            result = self.run(batch, **options)
            assert isinstance(result, list) and len(result) == self.batch_len
            for item in result:
                self.check_item(item, {**self.call_options, **options})

    def test_same_results_whatever_the_batch_size(self):
        batch = self.batch_inputs()[0]
        whole = self.run(batch)
        for size in (1, 2):
            for a, b in zip(whole, self.run(batch, batch_size=size), strict=True):
                self.assert_same(a, b)

    def test_bad_and_unknown_options_are_refused(self):
        single = self.single_inputs()[0]
        for options, match in self.bad_options:
            with pytest.raises(ValueError, match=match):
                self.run(single, **options)
        with pytest.raises(TypeError, match="typo_option"):
            self.run(single, typo_option=1)


# ------------------------------------------------------------------------------------------ resume checks


def stop_after_step(monkeypatch, module, step: int) -> None:
    """Make the trainer in `module` see a stop request right after its `step`-th optimiser step (what the first
    Ctrl-C does), through the real polling function."""
    real_poll, calls = module.poll_stop_and_clock, {"n": 0}

    def poll(accelerator, clock):
        calls["n"] += 1
        if calls["n"] == step:
            request_stop()
        return real_poll(accelerator, clock)

    monkeypatch.setattr(module, "poll_stop_and_clock", poll)


def assert_same_weights(a, b):
    """The safetensors files `a` and `b` hold the same tensors, bit for bit."""
    wa, wb = load_file(a), load_file(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0)


def csv_rows(path, drop=("sec_per_kimg", "train_seconds")):
    """The rows of a `metrics.csv` without its timing columns."""
    with open(path) as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]
