"""Start a braindecode encoder tower from a model published in braindecode's Hub layout.

braindecode's `push_to_hub` / `save_pretrained` (huggingface_hub's `PyTorchModelHubMixin`) write `config.json` (the
model's constructor arguments, without the class name) and `model.safetensors` (its `state_dict`; braindecode also
writes a pickled `pytorch_model.bin`, which is never read here).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError
from safetensors.torch import load_file

from ..models import EEGEncoderModel
from ..models.eeg_encoder.configuration_eeg_encoder import BRAINDECODE_SET_BY_CONFIG
from ..models.eeg_encoder.modeling_eeg_encoder import build_braindecode_model

BRAINDECODE_FILES = ("config.json", "model.safetensors")
"""The files of braindecode's Hub layout that are read."""


def braindecode_hub_file(source: str, name: str) -> Path:
    """`name` in the folder `source`, or downloaded from the Hub model repo `source` (cache and offline mode apply)."""
    if Path(source).is_dir():
        path = Path(source) / name
        if not path.is_file():
            raise FileNotFoundError(f"{source!r} is not a braindecode model folder: it has no {name} "
                                    f"(braindecode's Hub layout has {' and '.join(BRAINDECODE_FILES)})")
        return path
    try:
        return Path(hf_hub_download(source, name))
    except (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError) as err:
        raise FileNotFoundError(f"could not get {name} of the braindecode model {source!r} (a folder or Hub model "
                                f"repo id in braindecode's Hub layout): {type(err).__name__}") from err


def braindecode_published_kwargs(source: str) -> dict[str, Any]:
    """The constructor arguments recorded in `config.json` of `source`, less those the encoder sets itself
    (`n_chans`, `n_times`, `sfreq`, `n_outputs`) and `braindecode_version`."""
    config = json.loads(braindecode_hub_file(source, "config.json").read_text())
    if not isinstance(config, dict):
        raise ValueError(f"config.json of {source!r} is not a JSON object")
    return {k: v for k, v in config.items() if k not in (*BRAINDECODE_SET_BY_CONFIG, "braindecode_version")}


def check_published_shape(source: str, n_chans: int, n_times: int) -> None:
    """Refuse a published model made for other input shapes than the dataset's."""
    config = json.loads(braindecode_hub_file(source, "config.json").read_text())
    for name, ours in (("n_chans", n_chans), ("n_times", n_times)):
        if config.get(name) is not None and config[name] != ours:
            raise ValueError(f"the braindecode model {source!r} was made for {name}={config[name]}, the dataset has "
                             f"{name}={ours}")


def head_keys(encoder: EEGEncoderModel) -> set[str]:
    """Names of the braindecode model's tensors whose shape depends on `n_outputs` (its classification head)."""
    other = copy.deepcopy(encoder.config)
    other.embed_dim += 1
    ours = encoder.tower.model.state_dict()
    theirs = build_braindecode_model(other).state_dict()
    return {k for k, v in ours.items() if k not in theirs or theirs[k].shape != v.shape}


@torch.no_grad()
def load_braindecode_weights(encoder: EEGEncoderModel, source: str) -> dict[str, Any]:
    """Copy the published weights of `source` into the braindecode tower of `encoder`, all but the classification
    head (kept at its initialisation, `embed_dim` outputs), and verify every copied tensor against the file.

    Returns a report: the source, the number of tensors loaded and the head tensors left out.
    """
    check_published_shape(source, encoder.config.n_chans, encoder.config.n_times)
    published = load_file(braindecode_hub_file(source, "model.safetensors"))
    head = head_keys(encoder)
    target = encoder.tower.model.state_dict()
    missing = sorted(set(target) - set(published) - head)
    unexpected = sorted(set(published) - set(target))
    if missing or unexpected:
        raise ValueError(f"the weights of {source!r} do not fit braindecode.models.{encoder.config.braindecode_model}"
                         f" (missing {missing[:5]}, unexpected {unexpected[:5]}); check --braindecode-model")
    wrong = [k for k in target if k not in head and published[k].shape != target[k].shape]
    if wrong:
        raise ValueError(f"the weights of {source!r} have other shapes than {encoder.config.braindecode_model} built "
                         f"with n_chans={encoder.config.n_chans}, n_times={encoder.config.n_times}: {wrong[:5]}")
    for name, tensor in target.items():
        if name not in head:
            tensor.copy_(published[name])
    loaded = encoder.tower.model.state_dict()
    differ = [k for k in target if k not in head and not torch.equal(loaded[k], published[k].to(loaded[k].dtype))]
    if differ:
        raise RuntimeError(f"tensors {differ[:5]} differ from {source!r} after loading")
    return {"source": source, "tensors_loaded": len(target) - len(head), "head_replaced": sorted(head)}


__all__ = ["braindecode_published_kwargs", "check_published_shape", "head_keys", "load_braindecode_weights"]
