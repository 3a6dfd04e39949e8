"""Tests of `eeg2img_hf.convert`: safe unpickling, encoder `.pth` and StyleGAN2-ADA snapshot conversion.

NVIDIA's code is not available (nor read); snapshots are written here in the official pickle layout from
this package's own generators (persistent objects emitted through a stand-in `torch_utils.persistence`
module that exists only while writing, tensors reduced by torch itself).
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import subprocess
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eeg2img_hf.cli import main
from eeg2img_hf.convert import (
    PersistentRecord,
    RestrictedUnpickler,
    UnsafePickleError,
    convert_authors_encoder,
    convert_stylegan_snapshot,
    load_restricted_pickle,
    nvidia_to_package_name,
    nvidia_to_package_tensor,
    package_to_nvidia_name,
    package_to_nvidia_tensor,
)
from eeg2img_hf.convert.authors_checkpoints import (
    PACKAGE_ONLY_KEYS,
    _channel_base_max,
    flatten_record,
    stylegan_config_from_record,
)
from eeg2img_hf.convert.authors_image_models import convert_authors_eeg_clip, convert_authors_image_to_eeg, file_sha256
from eeg2img_hf.convert.resnet_names import (
    resnet_config_from_torchvision,
    torchvision_to_transformers_resnet,
    transformers_to_torchvision_resnet,
)
from eeg2img_hf.convert.stylegan_snapshot import (
    PACKAGE_ONLY_D_KEYS,
    convert_stylegan_training_snapshot,
    nvidia_to_package_d_name,
    package_to_nvidia_d_name,
)
from eeg2img_hf.hub.model_cards import check_model_card_metadata
from eeg2img_hf.models import EEGClipModel, ImageToEEGModel
from eeg2img_hf.models.eeg_encoder import EEGEncoderModel
from eeg2img_hf.models.eeg_stylegan import (
    EEGStyleGANConfig,
    EEGStyleGANDiscriminator,
    EEGStyleGANGenerator,
    EEGStyleGANModel,
)
from eeg2img_hf.models.eeg_stylegan.ops_stylegan import conv2d_resample, setup_filter, upsample2d
from eeg2img_hf.training.ema import ema_beta
from eeg2img_hf.training.train_gan import GANTrainingArguments, setup_gan_training, train_gan
from eeg2img_hf.utils.errors import BadModelFolderError

# ----------------------------------------------------------------------------------------------------------------
# test-only writer of StyleGAN2-ADA style snapshots
from testing_utils import save_tiny_gan_inputs


class _Persistent:
    """Pickles like a StyleGAN2-ADA persistent object: `_reconstruct_persistent_obj(meta)`."""

    def __init__(self, class_name: str, state: dict[str, Any], module_src: str) -> None:
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        meta = {"type": "class", "version": 4, "module_src": self.module_src, "class_name": self.class_name,
                "state": self.state}
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,))


def _fake_upstream_modules(monkeypatch: pytest.MonkeyPatch) -> type:
    """Installs stand-ins for `torch_utils.persistence` and `dnnlib.util` (pickling by reference needs them)."""

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - must never run
        raise AssertionError("the persistence reconstruct function must never be called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    easy = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    util.EasyDict = easy
    for name, module in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                         ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, module)
    return easy


_BUFFERS = ("w_avg", "resample_filter", "noise_const")


def _module_state(class_name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """The `__dict__` of an nn.Module as StyleGAN2-ADA pickles it (hooks, flags, hyper-parameters)."""
    state: dict[str, Any] = {"training": False, "_parameters": OrderedDict(), "_buffers": OrderedDict(),
                             "_non_persistent_buffers_set": set(), "_backward_hooks": OrderedDict(),
                             "_forward_hooks": OrderedDict(), "_forward_pre_hooks": OrderedDict(),
                             "_state_dict_hooks": OrderedDict(), "_load_state_dict_pre_hooks": OrderedDict(),
                             "_modules": OrderedDict(), "_init_args": (), "_init_kwargs": {}}
    state.update(attrs)
    return state


def _class_and_attrs(path: str, config: EEGStyleGANConfig) -> tuple[str, dict[str, Any]]:
    leaf = path.rsplit(".", 1)[-1]
    if leaf in ("embed", "affine") or re.fullmatch(r"fc\d+", leaf):
        lr = config.mapping_lr_multiplier if leaf.startswith("fc") else 1.0
        return "FullyConnectedLayer", {"activation": "lrelu" if leaf.startswith("fc") else "linear",
                                       "weight_gain": 0.1, "bias_gain": lr}
    if leaf in ("conv0", "conv1"):
        return "SynthesisLayer", {"conv_clamp": config.conv_clamp, "use_noise": True, "activation": "lrelu",
                                  "up": 2 if leaf == "conv0" else 1}
    if leaf == "torgb":
        return "ToRGBLayer", {"conv_clamp": config.conv_clamp}
    if leaf == "skip":
        return "Conv2dLayer", {"conv_clamp": None, "activation": "linear", "up": 2}
    if re.fullmatch(r"b\d+", leaf):
        return "SynthesisBlock", {"architecture": config.architecture, "use_fp16": int(leaf[1:]) >= 8}
    names = {"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork"}
    return names[leaf], {"w_avg_beta": np.float64(config.mapping_w_avg_beta)} if leaf == "mapping" else {}


def _nvidia_tensors(generator: EEGStyleGANGenerator) -> dict[str, torch.Tensor]:
    """The generator's tensors under NVIDIA names, plus the filters NVIDIA registers on every layer."""
    state = generator.state_dict()
    flat = {package_to_nvidia_name(k): package_to_nvidia_tensor(k, v.detach()) for k, v in state.items()
            if k not in PACKAGE_ONLY_KEYS}
    taps = setup_filter(generator.config.resample_filter)
    for res in (2**i for i in range(2, generator.config.img_resolution.bit_length())):
        flat.setdefault(f"synthesis.b{res}.resample_filter", taps.clone())
        flat[f"synthesis.b{res}.conv1.resample_filter"] = taps.clone()
    return flat


def _record_tree(flat: dict[str, torch.Tensor], classify, module_src: str) -> dict[str, _Persistent]:
    """Persistent-object trees of the dotted tensor names in `flat`; `classify(path)` gives `(class, attrs)`."""
    nodes: dict[str, dict[str, Any]] = {}

    def node(path: str) -> dict[str, Any]:
        if path not in nodes:
            nodes[path] = _module_state(*classify(path)) if path else {}
            if path:
                nodes[path]["_class"] = classify(path)[0]
                parent, _, leaf = path.rpartition(".")
                node(parent).setdefault("_children", OrderedDict())[leaf] = path
        return nodes[path]

    for name, tensor in flat.items():
        path, _, leaf = name.rpartition(".")
        if leaf == "":  # a module without tensors ("path." -> None)
            node(path)
            continue
        kind = "_buffers" if leaf in _BUFFERS else "_parameters"
        node(path)[kind][leaf] = tensor if kind == "_buffers" else torch.nn.Parameter(tensor)

    def build(path: str) -> _Persistent:
        state = dict(nodes[path])
        class_name, children = state.pop("_class"), state.pop("_children", {})
        state["_modules"] = OrderedDict((leaf, build(child)) for leaf, child in children.items())
        return _Persistent(class_name, state, module_src)

    return OrderedDict((leaf, build(child)) for leaf, child in nodes[""]["_children"].items())


def _generator_record(generator: EEGStyleGANGenerator, easy: type, module_src: str, extra: dict | None = None):
    """Builds the persistent-object tree of a StyleGAN2-ADA `Generator` from one of our generators."""
    config = generator.config
    flat = {**_nvidia_tensors(generator), **(extra or {})}
    kwargs = easy(z_dim=config.z_dim, c_dim=config.embed_dim, w_dim=config.w_dim,
                  img_resolution=config.img_resolution, img_channels=config.img_channels,
                  mapping_kwargs=easy(num_layers=config.mapping_num_layers),
                  synthesis_kwargs=easy(channel_base=config.synthesis_channel_base,
                                        channel_max=config.synthesis_channel_max, num_fp16_res=4,
                                        conv_clamp=config.conv_clamp))
    root = _module_state("Generator", {"z_dim": config.z_dim, "c_dim": config.embed_dim, "w_dim": config.w_dim,
                                           "img_resolution": config.img_resolution,
                                           "img_channels": config.img_channels, "num_ws": generator.num_ws,
                                           "_init_kwargs": kwargs})
    root["_modules"] = _record_tree(flat, lambda path: _class_and_attrs(path, config), module_src)
    return _Persistent("Generator", root, module_src)


def _nvidia_d_tensors(discriminator: EEGStyleGANDiscriminator) -> dict[str, torch.Tensor]:
    """The discriminator's tensors under NVIDIA names, plus the filters NVIDIA registers on every block and conv
    layer, and the tensor-free `b4.mbstd` module (an empty leaf name)."""
    res = discriminator.config.img_resolution
    flat = {package_to_nvidia_d_name(k, res): v.detach().clone() for k, v in discriminator.state_dict().items()
            if k not in PACKAGE_ONLY_D_KEYS}
    taps = setup_filter(discriminator.config.resample_filter)
    for r in (2**i for i in range(3, res.bit_length())):
        flat[f"b{r}.resample_filter"] = taps.clone()
        flat[f"b{r}.conv0.resample_filter"] = taps.clone()
        if r == res:
            flat[f"b{r}.fromrgb.resample_filter"] = taps.clone()
    flat["b4.conv.resample_filter"] = taps.clone()
    flat["b4.mbstd."] = None
    return flat


def _discriminator_record(discriminator: EEGStyleGANDiscriminator, easy: type, module_src: str):
    """Builds the persistent-object tree of a StyleGAN2-ADA `Discriminator` from one of our discriminators."""
    config = discriminator.config

    def classify(path: str) -> tuple[str, dict[str, Any]]:
        leaf = path.rsplit(".", 1)[-1]
        if leaf == "embed" or re.fullmatch(r"fc\d+", leaf) and path.startswith("mapping"):
            lr = config.mapping_lr_multiplier if leaf.startswith("fc") else 1.0
            return "FullyConnectedLayer", {"activation": "lrelu" if leaf.startswith("fc") else "linear",
                                           "bias_gain": lr}
        if leaf in ("fc", "out"):
            return "FullyConnectedLayer", {"activation": "lrelu" if leaf == "fc" else "linear", "bias_gain": 1.0}
        if leaf in ("fromrgb", "conv0", "conv1", "skip", "conv"):
            clamp = None if leaf == "skip" else config.conv_clamp
            return "Conv2dLayer", {"conv_clamp": clamp, "down": 2 if leaf in ("conv1", "skip") else 1}
        if leaf == "mbstd":
            return "MinibatchStdLayer", {"group_size": config.mbstd_group_size,
                                         "num_channels": config.mbstd_num_channels}
        if leaf == "b4":
            return "DiscriminatorEpilogue", {"cmap_dim": config.discriminator_channel_max}
        if re.fullmatch(r"b\d+", leaf):
            return "DiscriminatorBlock", {"architecture": config.discriminator_architecture, "use_fp16": True}
        return "MappingNetwork", {"w_avg_beta": None}

    root = _module_state("Discriminator", {"c_dim": config.embed_dim, "img_resolution": config.img_resolution,
                                               "img_channels": config.img_channels,
                                               "_init_kwargs": easy(channel_base=config.discriminator_channel_base,
                                                                    epilogue_kwargs=easy(mbstd_group_size=99))})
    flat = _nvidia_d_tensors(discriminator)
    root["_modules"] = _record_tree(flat, classify, module_src)
    return _Persistent("Discriminator", root, module_src)


def _randomized_generator(config: EEGStyleGANConfig, seed: int) -> EEGStyleGANGenerator:
    torch.manual_seed(seed)
    generator = EEGStyleGANGenerator(config).eval()
    with torch.no_grad():
        for name, param in generator.named_parameters():
            param.copy_(torch.randn_like(param) * (0.3 if "noise_strength" in name else 1.0))
        generator.mapping.w_avg.copy_(torch.randn_like(generator.mapping.w_avg))
    return generator


def _write_snapshot(path: Path, monkeypatch: pytest.MonkeyPatch, g_ema: EEGStyleGANGenerator,
                    g: EEGStyleGANGenerator | None = None, marker: Path | None = None,
                    extra: dict | None = None, d: EEGStyleGANDiscriminator | None = None,
                    augment: dict[str, Any] | None = None) -> None:
    """Writes `path` like StyleGAN2-ADA's `pickle.dump(snapshot_data, f)`; the fake modules exist only meanwhile.

    Without `d`, D is a placeholder record (with a plain torch module inside); `augment` gives the augment pipe's
    attributes (default: `brightness` only), with `p = 0.25`."""
    module_src = f"import os\nos.system('touch {marker}')\n" if marker else "raise SystemExit\n"
    with monkeypatch.context() as patch:
        easy = _fake_upstream_modules(patch)
        if d is not None:
            disc = _discriminator_record(d, easy, module_src)
        else:
            disc = _Persistent("Discriminator", _module_state("Discriminator", {
                "_parameters": OrderedDict(w=torch.nn.Parameter(torch.randn(3, 2))),
                "_modules": OrderedDict(plain=torch.nn.Linear(2, 2))}), module_src)
        attrs = {k: np.float32(v) for k, v in (augment or {"brightness": 1.0}).items()}
        augment_pipe = _Persistent("AugmentPipe", _module_state("AugmentPipe", {
            "_buffers": OrderedDict(p=torch.tensor(0.25), Hz_geom=torch.randn(12)),
            "imgfilter_bands": [1, 1, 1, 1], **attrs}), module_src)
        snapshot = {
            "G": _generator_record(g or g_ema, easy, module_src, extra), "D": disc,
            "G_ema": _generator_record(g_ema, easy, module_src, extra), "augment_pipe": augment_pipe,
            "training_set_kwargs": easy(class_name="training.dataset.EEG2ImageDataset", resolution=np.int64(16),
                                        use_labels=True, max_size=np.arange(3, dtype=np.int32)),
        }
        with path.open("wb") as handle:
            pickle.dump(snapshot, handle)
    assert "torch_utils.persistence" not in sys.modules


def _tiny_config(**overrides: Any) -> EEGStyleGANConfig:
    return EEGStyleGANConfig.from_preset("tiny", mapping_lr_multiplier=0.05, **overrides)


# ----------------------------------------------------------------------------------------------------------------
# StyleGAN snapshot conversion


@pytest.mark.parametrize(
    "overrides", [{}, {"architecture": "orig", "conv_clamp": None}, {"architecture": "resnet", "img_resolution": 8}]
)
def test_stylegan_round_trip_is_bit_identical(tmp_path, monkeypatch, overrides):
    config = _tiny_config(**overrides)
    g_ema, g = _randomized_generator(config, 0), _randomized_generator(config, 1)
    marker = tmp_path / "module_src_was_executed"
    _write_snapshot(tmp_path / "snap.pkl", monkeypatch, g_ema, g, marker=marker)

    model, report = convert_stylegan_snapshot(tmp_path / "snap.pkl", return_report=True)
    assert not marker.exists()
    assert isinstance(model, EEGStyleGANModel) and model.eeg_encoder is None
    for key in ("img_resolution", "z_dim", "w_dim", "embed_dim", "mapping_num_layers", "synthesis_channel_base",
                "synthesis_channel_max", "architecture", "conv_clamp", "resample_filter", "mapping_w_avg_beta"):
        assert getattr(model.config, key) == getattr(config, key), key
    assert model.config.mapping_lr_multiplier == pytest.approx(0.05)
    assert report["snapshot_num_fp16_res"] >= 1 and model.config.num_fp16_res == 0
    assert report["unmapped_keys"] == [] and "synthesis.b4.resample_filter" in report["checked_and_dropped_keys"]
    source = g_ema.state_dict()
    converted = model.generator.state_dict()
    assert source.keys() == converted.keys()
    stored = load_restricted_pickle(tmp_path / "snap.pkl")["G_ema"].modules["synthesis"].modules["b8"]
    stored_kernel = stored.modules["conv0"].parameters["weight"]
    assert torch.equal(stored_kernel, source["synthesis.blocks.1.conv0.weight"].flip([2, 3]))
    assert all(torch.equal(source[k], converted[k]) for k in source)

    z, embeds = torch.randn(3, config.z_dim), F.normalize(torch.randn(3, config.embed_dim), dim=1)
    with torch.no_grad():
        expected = g_ema(z, eeg_embeds=embeds, noise_mode="const").images
        got = model(eeg_embeds=embeds, latents=z, noise_mode="const").images
    assert torch.equal(expected, got)

    other = convert_stylegan_snapshot(tmp_path / "snap.pkl", network="G")
    assert all(torch.equal(v, other.generator.state_dict()[k]) for k, v in g.state_dict().items())


def test_name_mapping_is_invertible():
    generator = EEGStyleGANGenerator(_tiny_config(architecture="resnet"))
    for name in generator.state_dict():
        if name in PACKAGE_ONLY_KEYS:
            continue
        nvidia = package_to_nvidia_name(name)
        assert nvidia_to_package_name(nvidia) == name
    assert package_to_nvidia_name("mapping.layers.1.weight") == "mapping.fc1.weight"
    assert package_to_nvidia_name("synthesis.blocks.2.conv0.affine.bias") == "synthesis.b16.conv0.affine.bias"
    assert nvidia_to_package_name("synthesis.b12.const") is None
    assert nvidia_to_package_name("synthesis.b8.conv1.evil") is None


def test_upsampling_kernels_follow_the_true_convolution_convention():
    """StyleGAN2-ADA's up-convs convolve (flip_weight=False); ours correlate: the converter flips conv0 kernels."""
    torch.manual_seed(0)
    x, w, f = torch.randn(2, 3, 4, 4), torch.randn(5, 3, 3, 3), setup_filter([1, 3, 3, 1])
    true_convolution = F.conv2d(upsample2d(x, f, 2, padding=1), w.flip([2, 3]))  # convolve with w
    ours = conv2d_resample(x, nvidia_to_package_tensor("synthesis.b8.conv0.weight", w), f, up=2, padding=1)
    assert torch.allclose(ours, true_convolution, atol=1e-5)
    assert torch.equal(nvidia_to_package_tensor("synthesis.b8.conv1.weight", w), w)
    assert torch.equal(nvidia_to_package_tensor("synthesis.b8.conv0.weight", w, flip_up_kernels=False), w)


def test_channel_base_and_max_of_the_paper_config():
    channels = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256}
    assert _channel_base_max(channels, 32768) == (32768, 512)
    assert _channel_base_max(channels, None) == (32768, 512)
    assert _channel_base_max(channels, 65536) == (32768, 512)  # an inconsistent hint is not trusted
    with pytest.raises(ValueError, match="do not follow"):
        _channel_base_max({4: 16, 8: 32}, None)


def test_stylegan_with_encoder_folder(tmp_path, monkeypatch):
    config = _tiny_config()
    _write_snapshot(tmp_path / "snap.pkl", monkeypatch, _randomized_generator(config, 0))
    encoder = _authors_encoder_module(n_chans=14, hidden=16, layers=1, embed=config.embed_dim)
    pth = tmp_path / "eegfeat.pth"
    _save_authors_pth(pth, encoder)
    convert_authors_encoder(pth).save_pretrained(tmp_path / "enc")
    model = convert_stylegan_snapshot(tmp_path / "snap.pkl", encoder_path=tmp_path / "enc")
    eeg = torch.rand(2, 14, 32) + 0.1
    with torch.no_grad():
        out = model(eeg_values=eeg, latents=torch.randn(2, config.z_dim))
    assert out.images.shape == (2, 3, 16, 16)
    assert torch.allclose(out.eeg_embeds, _reference_embeds(encoder, eeg), atol=1e-5)
    with pytest.raises(ValueError, match="embed_dim"):
        other = tmp_path / "other.pth"
        _save_authors_pth(other, _authors_encoder_module(n_chans=14, hidden=16, layers=1, embed=7))
        convert_stylegan_snapshot(tmp_path / "snap.pkl", encoder_path=other)


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"synthesis.b8.conv1.extra_weight": torch.zeros(2)}, "unmapped snapshot tensors .*b8.conv1.extra_weight"),
     ({"synthesis.b8.conv1.weight": torch.zeros(16, 16, 1, 1)}, "shape mismatches .*synthesis.b8.conv1.weight"),
     ({"synthesis.b8.conv1.resample_filter": torch.ones(4, 4)}, "resample filters differ")],
)
def test_stylegan_refuses_tensors_that_do_not_fit(tmp_path, monkeypatch, extra, message):
    _write_snapshot(tmp_path / "snap.pkl", monkeypatch, _randomized_generator(_tiny_config(), 0), extra=extra)
    with pytest.raises(ValueError, match=message):
        convert_stylegan_snapshot(tmp_path / "snap.pkl")


def test_stylegan_refuses_missing_tensors_and_unconditional(tmp_path, monkeypatch):
    generator = _randomized_generator(_tiny_config(), 0)
    del generator.synthesis.blocks[1].conv0.noise_const  # the buffer vanishes from the state dict
    generator.synthesis.blocks[1].conv0.register_buffer("noise_const", None)
    _write_snapshot(tmp_path / "snap.pkl", monkeypatch, generator)
    with pytest.raises(ValueError, match=r"missing model tensors .*synthesis.blocks.1.conv0.noise_const"):
        convert_stylegan_snapshot(tmp_path / "snap.pkl")
    snapshot = load_restricted_pickle(tmp_path / "snap.pkl")
    assert isinstance(snapshot["G_ema"], PersistentRecord) and snapshot["G_ema"].class_name == "Generator"
    assert snapshot["D"].modules["plain"].class_name == "Linear"
    assert snapshot["training_set_kwargs"]["max_size"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="no 'D_ema' network|must be 'G_ema' or 'G'"):
        convert_stylegan_snapshot(tmp_path / "snap.pkl", network="D_ema")


def test_unconditional_or_incomplete_generators_are_refused(tmp_path, monkeypatch):
    _write_snapshot(tmp_path / "snap.pkl", monkeypatch, _randomized_generator(_tiny_config(), 0))
    record = load_restricted_pickle(tmp_path / "snap.pkl")["G_ema"]
    del record.state["_modules"]["mapping"].state["_modules"]["embed"]
    with pytest.raises(ValueError, match="unconditional"):
        stylegan_config_from_record(record, flatten_record(record))
    del record.state["_modules"]["synthesis"]
    with pytest.raises(ValueError, match="no 'synthesis' submodule"):
        stylegan_config_from_record(record, flatten_record(record))


@pytest.mark.slow
def test_paper_size_snapshot_round_trip(tmp_path, monkeypatch):
    """The paper's 'cifar' generator at 128 px (about 100 MB per network in the pickle)."""
    config = EEGStyleGANConfig.from_preset("cifar-128")
    generator = _randomized_generator(config, 0)
    _write_snapshot(tmp_path / "network-snapshot-005443.pkl", monkeypatch, generator, generator)
    model = convert_stylegan_snapshot(tmp_path / "network-snapshot-005443.pkl")
    for key in ("img_resolution", "z_dim", "w_dim", "embed_dim", "mapping_num_layers", "mapping_lr_multiplier",
                "synthesis_channel_base", "synthesis_channel_max", "architecture", "conv_clamp", "resample_filter"):
        assert getattr(model.config, key) == getattr(config, key), key
    assert (model.config.synthesis_channel_base, model.config.synthesis_channel_max) == (32768, 512)
    assert model.generator.num_ws == 12
    assert all(torch.equal(v, model.generator.state_dict()[k]) for k, v in generator.state_dict().items())


# ----------------------------------------------------------------------------------------------------------------
# StyleGAN training snapshot: D, G, G_ema and the ADA state


def _randomized_discriminator(config: EEGStyleGANConfig, seed: int) -> EEGStyleGANDiscriminator:
    torch.manual_seed(seed)
    discriminator = EEGStyleGANDiscriminator(config).eval()
    with torch.no_grad():
        for param in discriminator.parameters():
            param.copy_(torch.randn_like(param))
    return discriminator


def _fir(x: torch.Tensor, taps: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by `pad`, then filter every channel with the 2-D FIR kernel (symmetric, so correlation)."""
    channels = x.shape[1]
    kernel = taps[None, None].repeat(channels, 1, 1, 1).to(x.dtype)
    return F.conv2d(F.pad(x, [pad] * 4), kernel, groups=channels)


def _reference_logits(t: dict[str, torch.Tensor], img: torch.Tensor, c: torch.Tensor,
                      cfg: dict[str, Any]) -> torch.Tensor:
    """StyleGAN2-ADA's projection discriminator written out from the papers' maths on the NVIDIA-named tensors
    (float64): equalised-lr layers (weights scaled by 1/sqrt(fan_in), FC by lr/sqrt(fan_in), biases by lr),
    lrelu(0.2) * sqrt(2) then clamp, 4x4 FIR [1,3,3,1] before each stride-2 conv, minibatch std, projection."""
    gain, clamp = math.sqrt(2.0), cfg["conv_clamp"]

    def act(x: torch.Tensor, lrelu: bool, g: float = 1.0, use_clamp: bool = True) -> torch.Tensor:
        x = F.leaky_relu(x, 0.2) * gain * g if lrelu else x * g
        return x.clamp(-clamp * g, clamp * g) if (clamp is not None and use_clamp) else x

    def fc(x: torch.Tensor, name: str, lr: float = 1.0, lrelu: bool = False) -> torch.Tensor:
        w = t[f"{name}.weight"] * (lr / math.sqrt(t[f"{name}.weight"].shape[1]))
        y = x @ w.t() + t[f"{name}.bias"] * lr
        return F.leaky_relu(y, 0.2) * gain if lrelu else y

    def conv(x: torch.Tensor, name: str, down: bool = False, lrelu: bool = True, g: float = 1.0) -> torch.Tensor:
        w = t[f"{name}.weight"]
        w = w / math.sqrt(w[0].numel())
        k = w.shape[-1]
        if down and k == 1:
            y = F.conv2d(_fir(x, f, 1)[:, :, ::2, ::2], w)
        elif down:
            y = F.conv2d(_fir(x, f, 2), w, stride=2)
        else:
            y = F.conv2d(x, w, padding=k // 2)
        bias = t.get(f"{name}.bias")
        y = y if bias is None else y + bias.view(1, -1, 1, 1)
        return act(y, lrelu, g, use_clamp=bias is not None)

    f = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])).double()
    f = f / f.sum()
    res = img.shape[-1]
    x = conv(img, f"b{res}.fromrgb")
    for r in (2**i for i in range(res.bit_length() - 1, 2, -1)):
        if cfg["architecture"] == "resnet":
            skip = conv(x, f"b{r}.skip", down=True, lrelu=False, g=math.sqrt(0.5))
            x = skip + conv(conv(x, f"b{r}.conv0"), f"b{r}.conv1", down=True, g=math.sqrt(0.5))
        else:
            x = conv(conv(x, f"b{r}.conv0"), f"b{r}.conv1", down=True)
    cmap = fc(c, "mapping.embed")
    cmap = cmap / (cmap.square().mean(dim=1, keepdim=True) + 1e-8).sqrt()
    for i in range(cfg["mapping_layers"]):
        cmap = fc(cmap, f"mapping.fc{i}", lr=cfg["lr"], lrelu=True)
    n, ch, h, w = x.shape
    group = min(cfg["mbstd_group_size"], n)
    y = x.reshape(group, n // group, 1, ch, h, w)
    y = ((y - y.mean(dim=0)).square().mean(dim=0) + 1e-8).sqrt().mean(dim=(2, 3, 4)).reshape(-1, 1, 1, 1)
    x = torch.cat([x, y.repeat(group, 1, h, w)], dim=1)
    x = conv(x, "b4.conv")
    x = fc(fc(x.flatten(1), "b4.fc", lrelu=True), "b4.out")
    return (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(cmap.shape[1])


_BGCFNC = {name: 1.0 for name in ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness",
                                  "contrast", "lumaflip", "hue", "saturation", "imgfilter", "noise", "cutout")}


def _write_training_snapshot(path: Path, monkeypatch, d_arch: str = "orig", seed: int = 0) -> dict[str, Any]:
    config = _tiny_config(discriminator_architecture=d_arch)
    nets = {"G_ema": _randomized_generator(config, seed), "G": _randomized_generator(config, seed + 1),
            "D": _randomized_discriminator(config, seed + 2)}
    _write_snapshot(path, monkeypatch, nets["G_ema"], nets["G"], d=nets["D"], augment={**_BGCFNC, "noise_std": 0.05})
    return nets


@pytest.mark.parametrize("d_arch", ["orig", "resnet"])
def test_discriminator_converts_bit_identically_and_matches_the_reference_maths(tmp_path, monkeypatch, d_arch):
    nets = _write_training_snapshot(tmp_path / "network-snapshot-000120.pkl", monkeypatch, d_arch)
    converted = convert_stylegan_training_snapshot(tmp_path / "network-snapshot-000120.pkl")
    d = converted.discriminator
    assert d.config.discriminator_architecture == d_arch and d.config.mbstd_group_size == 2
    assert d.config.discriminator_mapping_num_layers == 2
    assert all(torch.equal(v, d.state_dict()[k]) for k, v in nets["D"].state_dict().items())
    assert all(torch.equal(v, converted.generator.state_dict()[k]) for k, v in nets["G"].state_dict().items())
    assert all(torch.equal(v, converted.model.generator.state_dict()[k]) for k, v in nets["G_ema"].state_dict().items())
    assert converted.gan_state["augment_p"] == pytest.approx(0.25) and converted.gan_state["augment_preset"] == "bgcfnc"
    assert converted.gan_state["augment_pipe"]["noise_std"] == pytest.approx(0.05)
    assert converted.gan_state["snapshot_kimg"] == 120
    report = converted.report
    assert "b16.resample_filter" in report["discriminator_checked_and_dropped_keys"]
    assert report["mbstd_group_size_source"] == "b4.mbstd"

    stored = flatten_record(load_restricted_pickle(tmp_path / "network-snapshot-000120.pkl")["D"])
    tensors = {k: v.double() for k, v in stored.items()}
    torch.manual_seed(5)
    images, c = torch.randn(4, 3, 16, 16), F.normalize(torch.randn(4, 12), dim=1)
    cfg = {"architecture": d_arch, "conv_clamp": 256.0, "mapping_layers": 2, "lr": 0.05, "mbstd_group_size": 2}
    expected = _reference_logits(tensors, images.double(), c.double(), cfg)
    with torch.no_grad():
        got = d(images, eeg_embeds=c).logits
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)
    assert expected.abs().max() > 1e-2  # a non-trivial output


def test_discriminator_name_mapping_is_invertible():
    for arch in ("orig", "resnet"):
        discriminator = EEGStyleGANDiscriminator(_tiny_config(discriminator_architecture=arch))
        for name in discriminator.state_dict():
            if name not in PACKAGE_ONLY_D_KEYS:
                assert nvidia_to_package_d_name(package_to_nvidia_d_name(name, 16), 16) == name
    assert package_to_nvidia_d_name("blocks.0.fromrgb.weight", 128) == "b128.fromrgb.weight"
    assert package_to_nvidia_d_name("blocks.4.conv1.weight", 128) == "b8.conv1.weight"
    assert package_to_nvidia_d_name("epilogue.out.bias", 128) == "b4.out.bias"
    assert nvidia_to_package_d_name("b256.conv0.weight", 128) is None


def test_training_snapshot_refuses_mismatched_or_missing_networks(tmp_path, monkeypatch):
    _write_snapshot(tmp_path / "g_only.pkl", monkeypatch, _randomized_generator(_tiny_config(), 0))
    with pytest.raises(ValueError, match="discriminator blocks must cover b16 .. b4"):
        convert_stylegan_training_snapshot(tmp_path / "g_only.pkl")
    other = _randomized_discriminator(EEGStyleGANConfig.from_preset("tiny", mapping_lr_multiplier=0.01), 0)
    _write_snapshot(tmp_path / "lr.pkl", monkeypatch, _randomized_generator(_tiny_config(), 0), d=other)
    with pytest.raises(ValueError, match="mapping lr multiplier"):
        convert_stylegan_training_snapshot(tmp_path / "lr.pkl")


@pytest.fixture(scope="module")
def gan_data(tmp_path_factory):
    """A tiny simulated ThoughtViz-like dataset at 16 px and a 12-D LSTM encoder (the tiny GAN's embed_dim)."""
    return save_tiny_gan_inputs(tmp_path_factory.mktemp("gan-init"))


def _init_args(gan_data: Path, out: Path, init_from: Path, **overrides: Any):
    return GANTrainingArguments.from_preset(
        "tiny", dataset=str(gan_data / "data"), encoder=str(gan_data / "encoder"), output_dir=str(out),
        init_from=str(init_from), log_with=["csv"], **overrides)


def test_converted_training_snapshot_is_the_first_state_of_train_gan(tmp_path, monkeypatch, gan_data):
    nets = _write_training_snapshot(tmp_path / "network-snapshot-000120.pkl", monkeypatch, "resnet")
    converted = convert_stylegan_training_snapshot(tmp_path / "network-snapshot-000120.pkl",
                                                   encoder_path=gan_data / "encoder")
    converted.save_pretrained(tmp_path / "start")
    assert {"discriminator", "generator", "gan_init_state.json", "model.safetensors"} <= {
        p.name for p in (tmp_path / "start").iterdir()}
    _, _, config, _, loop, _ = setup_gan_training(_init_args(gan_data, tmp_path / "run", tmp_path / "start"))
    assert config.discriminator_architecture == "resnet" and config.mapping_lr_multiplier == pytest.approx(0.05)
    for network, source in ((loop.G_net, nets["G"]), (loop.G_ema, nets["G_ema"]), (loop.D_net, nets["D"])):
        state = network.state_dict()
        assert all(torch.equal(v, state[k]) for k, v in source.state_dict().items())
    assert torch.equal(loop.G_ema.mapping.w_avg, nets["G_ema"].mapping.w_avg)
    assert torch.equal(loop.G_net.mapping.w_avg, nets["G"].mapping.w_avg)
    assert float(loop.pipe.p) == pytest.approx(0.25)
    _, _, _, _, fixed, _ = setup_gan_training(_init_args(gan_data, tmp_path / "run", tmp_path / "start", augment_p=0.5))
    assert float(fixed.pipe.p) == pytest.approx(0.5)  # a fixed probability wins over the snapshot's


def test_init_from_keeps_the_converted_g_ema_through_the_first_step(tmp_path, monkeypatch, gan_data):
    """No EMA ramp-up from the restarted image counter: one step at a tiny learning rate moves G_ema by the EMA's
    own update (beta * G_ema + (1 - beta) * G), not onto G (which a ramp-up from 0 images would do)."""
    nets = _write_training_snapshot(tmp_path / "network-snapshot-000120.pkl", monkeypatch)
    convert_stylegan_training_snapshot(tmp_path / "network-snapshot-000120.pkl",
                                       encoder_path=gan_data / "encoder").save_pretrained(tmp_path / "start")
    args = _init_args(gan_data, tmp_path / "run", tmp_path / "start", learning_rate=1e-8)
    assert args.ema_rampup is None  # off by default for an init_from run
    _, _, _, _, loop, loader = setup_gan_training(args)
    before = {k: v.detach().clone() for k, v in loop.G_ema.named_parameters()}
    assert all(torch.equal(v, nets["G_ema"].state_dict()[k]) for k, v in before.items())
    loop.train_step(next(iter(loader)), 0, 0)
    beta = ema_beta(args.batch_size, 0, args.ema_kimg, args.ema_rampup)
    assert 0.1 < beta < 0.9
    generator = dict(loop.G_net.named_parameters())
    for name, value in loop.G_ema.named_parameters():
        expected = generator[name].detach().lerp(before[name], beta)
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    moved = max((generator[k].detach() - v).abs().max().item() for k, v in loop.G_ema.named_parameters())
    assert moved > 1e-2  # G_ema is not G: the converted G and G_ema differ
    explicit = _init_args(gan_data, tmp_path / "run2", tmp_path / "start", ema_rampup=0.05)
    assert explicit.ema_rampup == 0.05  # a ramp-up can still be asked for


def test_init_from_takes_the_snapshots_augment_pipe_or_refuses_another(tmp_path, monkeypatch, gan_data):
    _write_training_snapshot(tmp_path / "network-snapshot-000120.pkl", monkeypatch)  # bgcfnc, noise_std 0.05
    convert_stylegan_training_snapshot(tmp_path / "network-snapshot-000120.pkl").save_pretrained(tmp_path / "start")
    _, _, _, _, loop, _ = setup_gan_training(_init_args(gan_data, tmp_path / "run", tmp_path / "start"))
    assert float(loop.pipe.p) == pytest.approx(0.25)
    assert loop.pipe.noise_std == pytest.approx(0.05) and loop.pipe.cutout == 1.0  # its strengths, not the defaults
    with pytest.raises(ValueError, match=r"'bgcfnc'.*'bgc'.*--augment bgcfnc.*--augment-p"):
        setup_gan_training(_init_args(gan_data, tmp_path / "run2", tmp_path / "start", augment="bgc"))
    _, _, _, _, fixed, _ = setup_gan_training(_init_args(gan_data, tmp_path / "run3", tmp_path / "start",
                                                         augment="bgc", augment_p=0.3))
    assert float(fixed.pipe.p) == pytest.approx(0.3) and fixed.pipe.noise == 0.0  # the chosen pipe at a fixed p


def test_stylegan_converters_take_an_authors_cnn_encoder_with_n_chans(tmp_path, monkeypatch, capsys):
    _write_training_snapshot(tmp_path / "network-snapshot-000120.pkl", monkeypatch)
    torch.manual_seed(3)
    _save_authors_pth(tmp_path / "eegfeat_cnn_all_0.5.pth", _AuthorsCNN(embed=12))
    snapshot, cnn = str(tmp_path / "network-snapshot-000120.pkl"), str(tmp_path / "eegfeat_cnn_all_0.5.pth")
    for kind in ("stylegan", "stylegan-snapshot"):
        assert main(["convert-checkpoint", kind, snapshot, str(tmp_path / kind), "--encoder", cnn]) == 2
        assert "--n-chans" in capsys.readouterr().err
        assert main(["convert-checkpoint", kind, snapshot, str(tmp_path / kind), "--encoder", cnn,
                     "--n-chans", "14"]) == 0
        encoder = EEGStyleGANModel.from_pretrained(tmp_path / kind).config.encoder_config
        assert (encoder.architecture, encoder.n_chans, encoder.n_times) == ("cnn", 14, 32)
    assert main(["convert-checkpoint", "stylegan", snapshot, str(tmp_path / "no_encoder"), "--n-chans", "14"]) == 2
    assert "--encoder" in capsys.readouterr().err


@pytest.mark.integration
def test_train_gan_runs_from_a_converted_snapshot_and_from_its_own_model(tmp_path, monkeypatch, gan_data):
    _write_training_snapshot(tmp_path / "network-snapshot-000120.pkl", monkeypatch)
    assert main(["convert-checkpoint", "stylegan-snapshot", str(tmp_path / "network-snapshot-000120.pkl"),
                 str(tmp_path / "start"), "--encoder", str(gan_data / "encoder")]) == 0
    args = _init_args(gan_data, tmp_path / "run", tmp_path / "start", max_steps=2)
    summary = train_gan(args)
    assert summary["steps"] == 2 and summary["training_args"]["init_from"] == str(tmp_path / "start")
    final = tmp_path / "run" / "model"
    assert (final / "discriminator" / "model.safetensors").is_file()
    # a train-gan model folder is a starting point too (no generator/: G starts as G_ema; p from its record)
    _, _, _, _, loop, _ = setup_gan_training(_init_args(gan_data, tmp_path / "run2", final))
    ema = EEGStyleGANModel.from_pretrained(final).generator.state_dict()
    assert all(torch.equal(v, loop.G_net.state_dict()[k]) and torch.equal(v, loop.G_ema.state_dict()[k])
               for k, v in ema.items())
    assert float(loop.pipe.p) == pytest.approx(summary["augment_p"])


def test_init_from_refuses_folders_that_cannot_start_a_run(tmp_path, monkeypatch, gan_data):
    _write_training_snapshot(tmp_path / "snap.pkl", monkeypatch)
    convert_stylegan_snapshot(tmp_path / "snap.pkl").save_pretrained(tmp_path / "g_only")
    base = {"dataset": str(gan_data / "data"), "encoder": str(gan_data / "encoder"), "log_with": ["csv"]}
    args = GANTrainingArguments.from_preset("tiny", output_dir=str(tmp_path / "run"),
                                            init_from=str(tmp_path / "g_only"), **base)
    with pytest.raises(BadModelFolderError, match="no discriminator/ folder"):
        setup_gan_training(args)
    other = tmp_path / "enc7"
    encoder_config = EEGEncoderModel.config_class.from_pretrained(gan_data / "encoder")
    encoder_config.embed_dim = 7
    EEGEncoderModel(encoder_config).save_pretrained(other)
    convert_stylegan_training_snapshot(tmp_path / "snap.pkl").save_pretrained(tmp_path / "start")
    args = GANTrainingArguments.from_preset("tiny", **{**base, "encoder": str(other)}, output_dir=str(tmp_path / "r2"),
                                            init_from=str(tmp_path / "start"))
    with pytest.raises(BadModelFolderError, match="embed_dim.: 12"):
        setup_gan_training(args)


# ----------------------------------------------------------------------------------------------------------------
# refusal of malicious or foreign files


class _Evil:
    def __init__(self, func: Any, args: tuple) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _evil_payloads(marker: Path) -> dict[str, Any]:
    command = f"touch {marker}"
    return {
        "os.system": _Evil(os.system, (command,)),
        "builtins.eval": _Evil(eval, (f"__import__('os').system({command!r})",)),
        "subprocess.Popen": _Evil(subprocess.Popen, (["touch", str(marker)],)),
        "builtins.getattr": _Evil(getattr, ("abc", "upper")),
        "builtins.exec": _Evil(exec, (f"import os; os.system({command!r})",)),
    }


_EVIL_NAMES = ["os.system", "builtins.eval", "subprocess.Popen", "builtins.getattr", "builtins.exec"]


@pytest.mark.parametrize("name", _EVIL_NAMES)
def test_malicious_globals_are_refused_and_nothing_runs(tmp_path, name):
    marker = tmp_path / "pwned"
    payload = _evil_payloads(marker)[name]
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload, "D": None}, protocol=4))
    refused = name.split(".")[-1]
    with pytest.raises(UnsafePickleError, match=rf"refused global \w+\.{refused}"):
        load_restricted_pickle(path)
    with pytest.raises(UnsafePickleError):
        convert_stylegan_snapshot(path)
    assert not marker.exists()


def test_reduce_to_posix_system_nested_in_a_persistent_object_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    with monkeypatch.context() as patch:
        _fake_upstream_modules(patch)
        inner = _module_state("Generator", {"_init_kwargs": _Evil(os.system, (f"touch {marker}",))})
        data = pickle.dumps({"G_ema": _Persistent("Generator", inner, "")}, protocol=2)
    assert b"posix" in data or b"nt\n" in data
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match=r"refused global (posix|nt)\.system"):
        convert_stylegan_snapshot(path)
    assert not marker.exists()


def test_protocol0_stream_is_refused_by_the_unpickler_itself(tmp_path):
    marker = tmp_path / "pwned"
    data = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    with pytest.raises(UnsafePickleError, match="refused global os.system"):
        RestrictedUnpickler(io.BytesIO(data)).load()
    path = tmp_path / "p0.pkl"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="not a pickle of protocol 2-5"):
        load_restricted_pickle(path)
    assert not marker.exists()


def test_persistent_ids_and_non_pickles_and_large_files_are_refused(tmp_path):
    with pytest.raises(UnsafePickleError, match="persistent id"):
        RestrictedUnpickler(io.BytesIO(b"\x80\x02X\x01\x00\x00\x00aQ.")).load()
    (tmp_path / "text.pkl").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not a pickle"):
        load_restricted_pickle(tmp_path / "text.pkl")
    torch.save({"a": torch.zeros(1)}, tmp_path / "zip.pkl")
    with pytest.raises(ValueError, match="zip archive"):
        load_restricted_pickle(tmp_path / "zip.pkl")
    (tmp_path / "big.pkl").write_bytes(pickle.dumps(list(range(1000)), protocol=4))
    with pytest.raises(ValueError, match="more than the limit"):
        load_restricted_pickle(tmp_path / "big.pkl", max_bytes=100)
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps(list(range(1000)), protocol=4)[:50])
    with pytest.raises(ValueError, match="could not be read as a pickle"):
        load_restricted_pickle(tmp_path / "cut.pkl")


def test_numpy_object_arrays_are_refused(tmp_path):
    path = tmp_path / "obj.pkl"
    path.write_bytes(pickle.dumps(np.array([1, "a"], dtype=object), protocol=4))
    with pytest.raises(UnsafePickleError, match="numpy dtype"):
        load_restricted_pickle(path)


# ----------------------------------------------------------------------------------------------------------------
# authors' LSTM encoder .pth


class _AuthorsEncoder(torch.nn.Module):
    """Stand-in with the authors' structure (LSTM -> bias-free Linear -> L2); the names are our guess."""

    def __init__(self, n_chans: int, hidden: int, layers: int, embed: int, head: int = 0) -> None:
        super().__init__()
        self.encoder = torch.nn.LSTM(n_chans, hidden, layers, batch_first=True)
        self.fc = torch.nn.Linear(hidden, embed, bias=False)
        self.classifier = torch.nn.Linear(embed, head) if head else None


def _authors_encoder_module(n_chans=14, hidden=16, layers=2, embed=16, head=0) -> _AuthorsEncoder:
    torch.manual_seed(n_chans + hidden + layers + embed + head)
    return _AuthorsEncoder(n_chans, hidden, layers, embed, head)


def _save_authors_pth(path: Path, module: torch.nn.Module, extra: Any = None) -> None:
    wrapped = torch.nn.DataParallel(module)  # gives the authors' `module.` prefix
    optimizer = torch.optim.Adam(wrapped.parameters(), lr=1e-3)
    loss = sum(p.square().sum() for p in wrapped.parameters())
    loss.backward()
    optimizer.step()
    data = {"epoch": 7, "model_state_dict": wrapped.state_dict(), "optimizer_state_dict": optimizer.state_dict()}
    if extra is not None:
        data["extra"] = extra
    torch.save(data, path)


def _reference_embeds(module: _AuthorsEncoder, eeg: torch.Tensor) -> torch.Tensor:
    """Hand-written forward: trial-max scaling, LSTM over time, last layer's h_n, Linear, L2."""
    x = 2.0 * eeg / eeg.amax(dim=(1, 2), keepdim=True) - 1.0
    with torch.no_grad():
        _, (h_n, _) = module.encoder(x.transpose(1, 2))
        return F.normalize(h_n[-1] @ module.fc.weight.t(), dim=1)


@pytest.mark.parametrize(("n_chans", "hidden", "layers", "head"), [(14, 16, 2, 0), (124, 128, 4, 10)])
def test_encoder_round_trip(tmp_path, n_chans, hidden, layers, head):
    module = _authors_encoder_module(n_chans, hidden, layers, 128 if hidden == 128 else 16, head)
    _save_authors_pth(tmp_path / "eegfeat_all_0.5.pth", module)
    model, report = convert_authors_encoder(tmp_path / "eegfeat_all_0.5.pth", return_report=True)
    assert isinstance(model, EEGEncoderModel)
    config = model.config
    assert (config.n_chans, config.lstm_hidden_size, config.lstm_num_layers) == (n_chans, hidden, layers)
    assert config.input_normalization == "trial_max" and config.n_times == 32
    assert report["epoch"] == 7 and report["mapped_keys"] == 4 * layers + 1
    assert report["unmapped_keys"] == (["classifier.bias", "classifier.weight"] if head else [])
    eeg = torch.rand(3, n_chans, 32) + 0.05
    with torch.no_grad():
        got = model(eeg_values=eeg).eeg_embeds
    assert torch.allclose(got, _reference_embeds(module, eeg), atol=1e-6)
    with pytest.raises(ValueError, match="n_chans=3 was given"):
        convert_authors_encoder(tmp_path / "eegfeat_all_0.5.pth", n_chans=3)


def test_encoder_refuses_state_dicts_that_do_not_fit(tmp_path):
    cases = {
        "bidirectional": {"lstm.weight_ih_l0": torch.zeros(8, 3), "lstm.weight_ih_l0_reverse": torch.zeros(8, 3)},
        "two_lstms": {"a.weight_ih_l0": torch.zeros(8, 3), "b.weight_ih_l0": torch.zeros(8, 3)},
        "no_lstm": {"fc.weight": torch.zeros(4, 4)},
    }
    for name, state in cases.items():
        torch.save({"epoch": 1, "model_state_dict": state}, tmp_path / f"{name}.pth")
        with pytest.raises(ValueError, match="LSTM|bidirectional"):
            convert_authors_encoder(tmp_path / f"{name}.pth", n_chans=3)
    module = _authors_encoder_module()
    state = {k: v for k, v in module.state_dict().items() if k != "fc.weight"}
    torch.save({"model_state_dict": state}, tmp_path / "no_fc.pth")
    with pytest.raises(ValueError, match="bias-free 2-D projection"):
        convert_authors_encoder(tmp_path / "no_fc.pth")
    state = dict(module.state_dict())
    state["encoder.bias_hh_l1"] = torch.zeros(3)
    torch.save({"model_state_dict": state}, tmp_path / "bad_shape.pth")
    with pytest.raises(ValueError, match=r"encoder.bias_hh_l1 should have shape \(64,\)"):
        convert_authors_encoder(tmp_path / "bad_shape.pth")


class _AuthorsCNN(torch.nn.Module):
    """Stand-in with the authors' CNN structure (fig. 3b): 4 x (Conv 3x3 s2 no bias, InstanceNorm, LeakyReLU 0.01,
    Dropout 0.05), global average pooling, bias-free Linear; module names are our guess (they are not relied on)."""

    def __init__(self, channels=(6, 8, 10, 12), embed: int = 16, head: int = 0) -> None:
        super().__init__()
        layers, previous = [], 1
        for width in channels:
            layers += [torch.nn.Conv2d(previous, width, 3, stride=2, padding=1, bias=False),
                       torch.nn.InstanceNorm2d(width), torch.nn.LeakyReLU(0.01), torch.nn.Dropout(0.05)]
            previous = width
        self.encoder = torch.nn.Sequential(*layers)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(previous, embed, bias=False)
        self.classifier = torch.nn.Linear(embed, head) if head else None

    def forward(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:  # x: (batch, 1, n_times, n_chans)
        x = self.fc(self.pool(self.encoder(x)).flatten(1))
        return F.normalize(x, dim=1) if normalize else x


@pytest.mark.parametrize(("n_chans", "head"), [(124, 0), (14, 5)])
def test_cnn_encoder_round_trip(tmp_path, n_chans, head):
    torch.manual_seed(n_chans)
    module = _AuthorsCNN(head=head).eval()
    _save_authors_pth(tmp_path / "eegfeat_cnn_all_0.5.pth", module)
    model, report = convert_authors_encoder(tmp_path / "eegfeat_cnn_all_0.5.pth", n_chans=n_chans,
                                            return_report=True)
    config = model.config
    assert config.architecture == "cnn" and report["architecture"] == "cnn"
    assert (config.cnn_channels, config.cnn_kernel_size, config.embed_dim) == ([6, 8, 10, 12], 3, 16)
    assert (config.n_chans, config.n_times, config.cnn_norm) == (n_chans, 32, "instance")
    assert config.normalize_embeds is (n_chans != 14)  # the authors' ThoughtViz CNN skips the final L2
    assert report["unmapped_keys"] == (["classifier.bias", "classifier.weight"] if head else [])
    eeg = torch.rand(3, n_chans, 32) + 0.05
    scaled = 2 * eeg / eeg.amax(dim=(1, 2), keepdim=True) - 1
    with torch.no_grad():
        expected = module(scaled.transpose(1, 2).unsqueeze(1), normalize=config.normalize_embeds)
        got = model(eeg_values=eeg).eeg_embeds
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="CNN encoder, whose weights do not fix the channel count"):
        convert_authors_encoder(tmp_path / "eegfeat_cnn_all_0.5.pth")
    forced = convert_authors_encoder(tmp_path / "eegfeat_cnn_all_0.5.pth", n_chans=14, normalize_embeds=True)
    assert forced.config.normalize_embeds is True


def test_cnn_encoder_refuses_layouts_that_do_not_fit(tmp_path):
    state = _AuthorsCNN().state_dict()
    cases = {
        "affine_norm": ({**state, "encoder.1.weight": torch.ones(6), "encoder.1.bias": torch.zeros(6)},
                        "normalisation tensors"),
        "conv_bias": ({**state, "encoder.0.bias": torch.zeros(6)}, "have a bias"),
        "two_chains": ({**state, "other.weight": torch.zeros(4, 1, 3, 3)}, "2 convolution kernels take 1 input"),
        "no_projection": ({k: v for k, v in state.items() if k != "fc.weight"}, "bias-free 2-D projection"),
    }
    for name, (bad, message) in cases.items():
        torch.save({"model_state_dict": bad}, tmp_path / f"{name}.pth")
        with pytest.raises(ValueError, match=message):
            convert_authors_encoder(tmp_path / f"{name}.pth", n_chans=124)


def test_encoder_pth_needing_unsafe_globals_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    _save_authors_pth(path, _authors_encoder_module(), extra=_Evil(os.system, (f"touch {marker}",)))
    with pytest.raises(ValueError, match="evil.pth. was refused for safety.*global posix.system") as refused:
        convert_authors_encoder(path)
    assert not marker.exists()
    for advice in ("weights_only", "can still be loaded", "will likely succeed", "trusted source"):
        assert advice not in str(refused.value)


# ----------------------------------------------------------------------------------------------------------------
# command line


def test_cli_encoder_and_stylegan(tmp_path, monkeypatch, capsys):
    pth = tmp_path / "eegfeat_all_0.9.pth"
    _save_authors_pth(pth, _authors_encoder_module(n_chans=14, hidden=16, layers=1, embed=12, head=4))
    assert main(["convert-checkpoint", "encoder", str(pth), str(tmp_path / "enc"), "--n-chans", "14"]) == 0
    record = json.loads((tmp_path / "enc" / "conversion.json").read_text())
    assert record["source_file"] == pth.name and len(record["source_sha256"]) == 64
    assert record["unmapped_keys"] == ["classifier.bias", "classifier.weight"] and record["mapping_version"]
    assert (tmp_path / "enc" / "model.safetensors").is_file()
    assert EEGEncoderModel.from_pretrained(tmp_path / "enc").config.n_chans == 14
    assert main(["convert-checkpoint", "encoder", str(pth), str(tmp_path / "enc")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert-checkpoint", "encoder", str(pth), str(tmp_path / "enc"), "--overwrite"]) == 0

    config = _tiny_config()
    generator = _randomized_generator(config, 3)
    _write_snapshot(tmp_path / "network-snapshot-000010.pkl", monkeypatch, generator)
    out = tmp_path / "gan"
    args = ["convert-checkpoint", "stylegan", str(tmp_path / "network-snapshot-000010.pkl"), str(out),
            "--encoder", str(tmp_path / "enc")]
    assert main(args) == 0
    record = json.loads((out / "conversion.json").read_text())
    assert "non-commercial" in record["licence"] and record["network"] == "G_ema"
    assert record["unmapped_keys"] == [] and record["encoder_source"] == "enc"
    loaded = EEGStyleGANModel.from_pretrained(out)
    assert all(torch.equal(v, loaded.generator.state_dict()[k]) for k, v in generator.state_dict().items())
    assert loaded.eeg_encoder is not None
    assert main(["convert-checkpoint", "stylegan", str(tmp_path / "missing.pkl"), str(tmp_path / "x")]) == 2


def test_cli_writes_model_cards_naming_the_source_and_its_sha256(tmp_path, monkeypatch, capsys):
    from huggingface_hub import ModelCard

    torch.manual_seed(0)
    _save_authors_pth(tmp_path / "eegfeat_cnn_all_0.9.pth", _AuthorsCNN(head=3))
    assert main(["convert-checkpoint", "encoder", str(tmp_path / "eegfeat_cnn_all_0.9.pth"), str(tmp_path / "cnn"),
                 "--n-chans", "124"]) == 0
    sha = file_sha256(tmp_path / "eegfeat_cnn_all_0.9.pth")
    card = (tmp_path / "cnn" / "README.md").read_text()
    assert "## Source checkpoint" in card and "`eegfeat_cnn_all_0.9.pth` (sha256 `" + sha + "`)" in card
    assert "`classifier.bias`" in card and "official layout" in card and "MIT (this package); weights:" in card
    meta = check_model_card_metadata(ModelCard(card))
    assert (meta["license"], meta["license_name"]) == ("other", "authors-checkpoint-terms")
    record = json.loads((tmp_path / "cnn" / "conversion.json").read_text())
    assert record["architecture"] == "cnn" and record["source_sha256"] == sha and record["kind"] == "encoder"
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["kind"] == "encoder"

    _write_training_snapshot(tmp_path / "network-snapshot-000040.pkl", monkeypatch)
    out = tmp_path / "snap"
    assert main(["convert-checkpoint", "stylegan-snapshot", str(tmp_path / "network-snapshot-000040.pkl"),
                 str(out)]) == 0
    assert {"discriminator", "generator", "gan_init_state.json", "conversion.json", "README.md"} <= {
        p.name for p in out.iterdir()}
    assert json.loads((out / "gan_init_state.json").read_text())["augment_p"] == pytest.approx(0.25)
    card = (out / "README.md").read_text()
    assert "train-gan --init-from" in card and "non-commercial" in card
    assert check_model_card_metadata(ModelCard(card))["license_name"] == "nvidia-source-code-license"
    # --overwrite replaces the whole folder (no stale sub-folders); a foreign folder is never touched
    assert main(["convert-checkpoint", "stylegan", str(tmp_path / "network-snapshot-000040.pkl"), str(out),
                 "--overwrite"]) == 0
    assert not (out / "discriminator").exists() and (out / "README.md").is_file()
    assert not list(tmp_path.glob(".snap.new-*"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["convert-checkpoint", "stylegan", str(tmp_path / "network-snapshot-000040.pkl"),
                 str(tmp_path / "mine"), "--overwrite"]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    assert main(["convert-checkpoint", "stylegan", str(tmp_path / "network-snapshot-000040.pkl"), str(tmp_path / "x"),
                 "--push-to-hub", "not a repo id"]) == 2
    assert not (tmp_path / "x").exists()


PUSH_CONVERTED = r"""
import json, sys
from eeg2img_hf.cli import main
code = main(["convert-checkpoint", "encoder", sys.argv[1], sys.argv[2], "--push-to-hub", "org/converted-encoder"])
print("CODE" + json.dumps(code))
"""


@pytest.mark.integration
def test_cli_push_to_hub_publishes_the_converted_folder(tmp_path, hub_server):
    import subprocess
    import urllib.request

    torch.manual_seed(0)
    _save_authors_pth(tmp_path / "eegfeat_all_0.9.pth", _authors_encoder_module(n_chans=14, hidden=16, layers=2))
    env = {**os.environ, **hub_server.client_env(hf_home=tmp_path / "hf"), "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run([sys.executable, "-c", PUSH_CONVERTED, str(tmp_path / "eegfeat_all_0.9.pth"),
                           str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "CODE0" in proc.stdout, proc.stderr[-3000:]
    summary = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert summary["repo_id"] == "org/converted-encoder" and summary["url"].endswith("/org/converted-encoder")
    with urllib.request.urlopen(f"{hub_server.endpoint}/api/models/org/converted-encoder/tree/main") as resp:
        files = {e["path"] for e in json.load(resp) if e["type"] == "file"}
    assert {"model.safetensors", "config.json", "README.md", "conversion.json",
            "configuration_eeg_encoder.py", "modeling_eeg_encoder.py"} <= files
    url = f"{hub_server.endpoint}/org/converted-encoder/resolve/main/README.md"
    with urllib.request.urlopen(url) as resp:
        card = resp.read().decode()
    assert "org/converted-encoder" in card and file_sha256(tmp_path / "eegfeat_all_0.9.pth") in card


# ----------------------------------------------------------------------------------------------------------------
# torchvision ResNet <-> transformers ResNetModel, and the authors' EEGClip


def _random_batchnorm_stats(module: torch.nn.Module, seed: int) -> None:
    """Random weights and running statistics (so a mix-up of BN tensors cannot go unnoticed)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.normal_()
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)


def _tiny_transformers_resnet(layer_type: str, seed: int = 0):
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(seed)
    sizes = [16, 32] if layer_type == "bottleneck" else [8, 14]
    config = ResNetConfig(embedding_size=8, hidden_sizes=sizes, depths=[1, 2], layer_type=layer_type)
    model = ResNetModel(config).eval()
    _random_batchnorm_stats(model, seed)
    return model


@pytest.mark.parametrize("layer_type", ["bottleneck", "basic"])
def test_resnet_names_round_trip_through_the_torchvision_layout(layer_type):
    model = _tiny_transformers_resnet(layer_type)
    torchvision_state = transformers_to_torchvision_resnet(model.state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.1.bn2.num_batches_tracked",
            "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_mean"} <= set(torchvision_state)
    if layer_type == "bottleneck":
        assert "layer1.0.downsample.1.weight" in torchvision_state and "layer2.1.conv3.weight" in torchvision_state
    config = resnet_config_from_torchvision(torchvision_state)
    for key in ("embedding_size", "hidden_sizes", "depths", "layer_type", "downsample_in_first_stage",
                "downsample_in_bottleneck"):
        assert config[key] == getattr(model.config, key), key
    back, unmapped = torchvision_to_transformers_resnet({**torchvision_state, "fc.weight": torch.zeros(3, 2)},
                                                        model.state_dict())
    assert unmapped == ["fc.weight"]
    assert back.keys() == model.state_dict().keys()
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="does not fit"):
        torchvision_to_transformers_resnet({k: v for k, v in torchvision_state.items() if k != "bn1.bias"},
                                           model.state_dict())


def test_torchvision_resnet50_maps_exactly_onto_the_resnet50_layout():
    import torchvision
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None).eval()
    _random_batchnorm_stats(reference, 1)
    hf = ResNetModel(ResNetConfig()).eval()
    config = resnet_config_from_torchvision(reference.state_dict())
    assert (config["hidden_sizes"], config["depths"], config["layer_type"]) == ([256, 512, 1024, 2048],
                                                                               [3, 4, 6, 3], "bottleneck")
    mapped, unmapped = torchvision_to_transformers_resnet(reference.state_dict(), hf.state_dict())
    assert unmapped == ["fc.bias", "fc.weight"]
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in hf.state_dict().items()}
    hf.load_state_dict(mapped, strict=True)
    reference.fc = torch.nn.Identity()
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(hf(pixel_values=x).pooler_output.flatten(1), reference(x), rtol=1e-5, atol=1e-5)


def _authors_clip_state(n_chans: int, hidden: int, proj: int, tower: dict[str, torch.Tensor], seed: int = 0):
    """An authors'-layout EEGClip state dict: LSTM + bias-free Linear, torchvision ResNet + fc = (ReLU, Linear)."""
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(n_chans, hidden, 1, batch_first=True)
    eeg_fc = torch.nn.Linear(hidden, proj, bias=False)
    features = next(v.shape[0] for k, v in reversed(tower.items()) if k.endswith(("conv3.weight", "conv2.weight")))
    image_fc = torch.nn.Linear(features, proj, bias=False)
    state = {f"eeg_encoder.lstm.{k}": v for k, v in lstm.state_dict().items()}
    state["eeg_encoder.fc.weight"] = eeg_fc.weight.detach().clone()
    state.update({f"image_encoder.{k}": v for k, v in tower.items()})
    state["image_encoder.fc.1.weight"] = image_fc.weight.detach().clone()
    return {f"module.{k}": v for k, v in state.items()}, lstm, eeg_fc, image_fc


def test_eeg_clip_converts_and_matches_a_hand_written_forward(tmp_path):
    resnet = _tiny_transformers_resnet("bottleneck", seed=3)
    state, lstm, eeg_fc, image_fc = _authors_clip_state(4, 10, 6, transformers_to_torchvision_resnet(
        resnet.state_dict()))
    torch.save({"epoch": 2048, "model_state_dict": state}, tmp_path / "clip_2048.pth")
    model, report = convert_authors_eeg_clip(tmp_path / "clip_2048.pth", n_times=32, return_report=True)
    assert report["unmapped_keys"] == [] and report["resnet_prefix"] == "image_encoder."
    assert model.config.projection_dim == 6 and model.config.encoder_config.lstm_num_layers == 1
    assert model.config.freeze_vision_tower and not model.config.learnable_logit_scale
    assert model.config.vision_weights_sha256 == file_sha256(tmp_path / "clip_2048.pth")
    torch.manual_seed(4)
    eeg, pixels = torch.rand(3, 4, 32) + 0.1, torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        out = model(eeg_values=eeg, pixel_values=pixels)
        scaled = 2 * eeg / eeg.amax(dim=(1, 2), keepdim=True) - 1
        _, (h_n, _) = lstm(scaled.transpose(1, 2))
        eeg_ref = F.normalize(h_n[-1] @ eeg_fc.weight.t(), dim=1)
        image_ref = F.normalize(F.relu(resnet(pixel_values=pixels).pooler_output.flatten(1)) @ image_fc.weight.t(),
                                dim=1)
    torch.testing.assert_close(out.eeg_embeds, eeg_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.image_embeds, image_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.logits_per_eeg, math.exp(0.5) * eeg_ref @ image_ref.t(), rtol=1e-5, atol=1e-5)

    assert main(["convert-checkpoint", "eeg-clip", str(tmp_path / "clip_2048.pth"), str(tmp_path / "clip"),
                 "--n-times", "32"]) == 0
    loaded = EEGClipModel.from_pretrained(tmp_path / "clip")
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    card = (tmp_path / "clip" / "README.md").read_text()
    assert "`clip_2048.pth` (sha256 `" in card and "pretrained weights from `clip_2048.pth`" in card
    processor = json.loads((tmp_path / "clip" / "preprocessor_config.json").read_text())
    assert processor["crop_size"] == {"height": 224, "width": 224} and processor["size"] == {"shortest_edge": 232}

    bad = dict(state)
    bad["module.image_encoder.fc.1.bias"] = torch.zeros(6)
    torch.save(bad, tmp_path / "biased.pth")
    with pytest.raises(ValueError, match="ReLU -> Linear"):
        convert_authors_eeg_clip(tmp_path / "biased.pth", n_times=32)
    with pytest.raises(ValueError, match="n_chans=5 was given"):
        convert_authors_eeg_clip(tmp_path / "clip_2048.pth", n_chans=5, n_times=32)


@pytest.mark.integration
def test_eeg_clip_with_a_torchvision_resnet50_matches_the_authors_module(tmp_path):
    """The published layout end to end: a torchvision ResNet-50 with fc = ReLU -> Linear(2048, 256), 128 channels."""
    import torchvision

    class AuthorsClip(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.eeg_encoder = torch.nn.Module()
            self.eeg_encoder.lstm = torch.nn.LSTM(128, 128, 1, batch_first=True)
            self.eeg_encoder.fc = torch.nn.Linear(128, 256, bias=False)
            self.image_encoder = torchvision.models.resnet50(weights=None)
            self.image_encoder.fc = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2048, 256, bias=False))

    torch.manual_seed(0)
    authors = AuthorsClip().eval()
    _random_batchnorm_stats(authors, 2)
    torch.save({"epoch": 2048, "model_state_dict": torch.nn.DataParallel(authors).state_dict()},
               tmp_path / "eegclip.pth")
    model = convert_authors_eeg_clip(tmp_path / "eegclip.pth")
    assert model.config.vision_config.hidden_sizes == [256, 512, 1024, 2048]
    assert model.config.encoder_config.n_times == 440
    eeg, pixels = torch.rand(2, 128, 440) + 0.1, torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        got = model(eeg_values=eeg, pixel_values=pixels)
        _, (h_n, _) = authors.eeg_encoder.lstm((2 * eeg / eeg.amax(dim=(1, 2), keepdim=True) - 1).transpose(1, 2))
        eeg_ref = F.normalize(authors.eeg_encoder.fc(h_n[-1]), dim=1)
        image_ref = F.normalize(authors.image_encoder(pixels), dim=1)
    torch.testing.assert_close(got.eeg_embeds, eeg_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.image_embeds, image_ref, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# the authors' image -> EEG encoder (torchvision GoogLeNet + subject planes)


class _AuthorsImageFeatNet(torch.nn.Module):
    """Stand-in with the authors' `ImageFeatNet` structure (docs/authors-code.md, 'Image -> EEG encoder'); module
    names are our guess."""

    def __init__(self, n_subjects: int = 6, hidden: int = 1024, embed: int = 128) -> None:
        import torchvision

        super().__init__()
        self.n_subjects = n_subjects
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(3 + n_subjects, 3, 3, padding=1), torch.nn.ReLU())
        self.encoder = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False,
                                                    transform_input=True)  # as built for its ImageNet weights
        self.encoder.fc = torch.nn.Sequential(torch.nn.Linear(1024, hidden), torch.nn.LeakyReLU(),
                                              torch.nn.Dropout(0.05), torch.nn.Linear(hidden, embed, bias=False))

    def forward(self, images: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encoder(self.conv(torch.cat([images, planes], dim=1))), dim=1)


@pytest.fixture(scope="module")
def authors_image_to_eeg(tmp_path_factory):
    """An authors'-layout image -> EEG checkpoint (6 subjects, a small head) and its module, with random BN stats."""
    torch.manual_seed(0)
    authors = _AuthorsImageFeatNet(n_subjects=6, hidden=64, embed=12).eval()
    _random_batchnorm_stats(authors, 1)
    path = tmp_path_factory.mktemp("image-to-eeg") / "eegfeat_all_0.6875.pth"
    _save_authors_pth(path, authors)
    return path, authors


def test_image_to_eeg_maps_every_tensor_of_the_authors_layout(authors_image_to_eeg):
    """Fast check at 64 px (GoogLeNet pools adaptively): the converted layers, composed, equal the authors' module;
    the model's subject planes are the authors' one-hot planes (1 / n_subjects for an unknown subject)."""
    path, authors = authors_image_to_eeg
    model, report = convert_authors_image_to_eeg(path, generator="org/gan", return_report=True)
    config = model.config
    assert (config.vision_backbone, config.subject_conditioning, config.n_subjects) == (
        "torchvision-googlenet", "planes", 6)
    assert (config.hidden_dim, config.eeg_embed_dim, config.image_size, config.image_resize_size) == (64, 12, 224, 256)
    assert report["unmapped_keys"] == [] and report["googlenet_prefix"] == "encoder."
    assert config.generator_name_or_path == "org/gan" and config.freeze_vision_tower
    images = torch.randn(2, 3, 64, 64)
    planes = model.subject_planes(torch.tensor([6, -1]), images)
    hand = torch.zeros(2, 6, 64, 64)
    hand[0, 5], hand[1] = 1.0, 1.0 / 6
    assert torch.equal(planes, hand)
    with torch.no_grad():
        features = model.vision_model(F.relu(model.subject_conv(torch.cat([images, planes], dim=1))))
        got = F.normalize(model.fc2(model.act(model.fc1(features))), dim=1)
        torch.testing.assert_close(got, authors(images, hand), rtol=1e-4, atol=1e-5)
    out = path.parent / "i2e"
    assert main(["convert-checkpoint", "image-to-eeg", str(path), str(out), "--generator", "org/gan"]) == 0
    card = (out / "README.md").read_text()
    assert "`torchvision-googlenet`, pretrained weights from `eegfeat_all_0.6875.pth`" in card
    assert json.loads((out / "conversion.json").read_text())["n_subjects"] == 6
    assert json.loads((out / "preprocessor_config.json").read_text())["size"] == {"shortest_edge": 256}
    state = torch.load(path, weights_only=True)["model_state_dict"]
    torch.save({k: v for k, v in state.items() if "conv.0." not in k}, path.parent / "no_conv.pth")
    with pytest.raises(ValueError, match=r"input convolution Conv2d\(3 \+ n_subjects"):
        convert_authors_image_to_eeg(path.parent / "no_conv.pth")


@pytest.mark.integration
def test_image_to_eeg_converts_and_matches_the_authors_module(tmp_path, authors_image_to_eeg):
    path, authors = authors_image_to_eeg
    model = convert_authors_image_to_eeg(path)
    images = torch.randn(2, 3, 224, 224)
    subject = torch.tensor([6, -1])
    planes = torch.zeros(2, 6, 224, 224)
    planes[0, 5], planes[1] = 1.0, 1.0 / 6  # subject -1: unknown, the mean plane value
    with torch.no_grad():
        expected = authors(images, planes)
        got = model(pixel_values=images, subject=subject).eeg_embeds
        missing = model(pixel_values=images[1:]).eeg_embeds  # no subject at all: unknown
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(missing[0], got[1])
    model.save_pretrained(tmp_path / "i2e")
    again = ImageToEEGModel.from_pretrained(tmp_path / "i2e")
    assert again.config.vision_backbone == "torchvision-googlenet"
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match=r"subject ids must be in 1..6"):
        model(pixel_values=images, subject=torch.tensor([0, 7]))
