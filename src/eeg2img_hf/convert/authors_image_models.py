"""Converters of the authors' models with an image tower: EEGClip and the image -> EEG encoder (`.pth` files).

Both are `torch.save` files like the encoder checkpoints (a dict with `model_state_dict`, keys prefixed `module.`,
or a bare state dict), read with `torch.load(weights_only=True)` only. The module names of the authors' classes are
not relied on: the parts are found by their tensors (`EEGCLIP_MAPPING`).

EEGClip (docs/authors-code.md, 'EEGClip'): a 1-layer LSTM (128 units) whose last hidden state goes through a bias-free
`Linear(128, 256)`; a torchvision ResNet-50 whose `fc` is `ReLU -> Linear(2048, 256, bias=False)`; both outputs
L2-normalised; a fixed logit scale `exp(0.5)` (not stored). In [`EEGClipModel`] the EEG tower ends with its own
projection to `embed_dim` followed by `eeg_projection`: the converted tower keeps `embed_dim` = the LSTM width with
an identity `tower.proj` (exact), and the authors' `Linear(128, 256)` becomes `eeg_projection`. The ResNet is
renamed to transformers' `ResNetModel` layout ([`eeg2img_hf.convert.resnet_names`]); its `fc.1` becomes
`image_projection.1`.

Image -> EEG encoder (docs/authors-code.md, 'Image -> EEG encoder'; `Image2EEG/network.py`): a trainable `Conv2d(3 +
n_subjects -> 3, 3x3, padding 1)` with a bias, then a ReLU, over the image concatenated with one constant plane per
subject; a frozen torchvision GoogLeNet whose `fc` is `Linear(1024, 1024) -> LeakyReLU -> Dropout(0.05) -> Linear(1024,
128, bias=False)`; the output L2-normalised. [`ImageToEEGModel`] holds the same layout with
`vision_backbone="torchvision-googlenet"` and `subject_conditioning="planes"` (`IMAGE_TO_EEG_MAPPING`); the GoogLeNet
tensors keep their torchvision names.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import torch

from ..models import EEGClipConfig, EEGClipModel, ImageToEEGConfig, ImageToEEGModel
from ..models.common import IMAGENET_MEAN, IMAGENET_STD
from .authors_checkpoints import (
    AUTHORS_N_TIMES,
    _find_lstm,
    _find_projection,
    load_authors_encoder_state_dict,
    names_the_checkpoint,
)
from .resnet_names import resnet_config_from_torchvision, torchvision_to_transformers_resnet

__all__ = ["EEGCLIP_MAPPING", "IMAGE_TO_EEG_MAPPING", "convert_authors_eeg_clip", "convert_authors_image_to_eeg",
           "file_sha256", "find_torchvision_prefix"]

#: Authors' EEGClip (any module names, `module.` stripped) -> `EEGClipModel`.
EEGCLIP_MAPPING: tuple[tuple[str, str], ...] = (
    ("<lstm prefix>{weight,bias}_{ih,hh}_l{k}", "eeg_model.tower.lstm.{weight,bias}_{ih,hh}_l{k}"),
    ("(none)", "eeg_model.tower.proj.weight = identity (hidden x hidden)"),
    ("<the bias-free 2-D weight (proj, hidden) outside the ResNet>", "eeg_projection.weight"),
    ("<resnet prefix><torchvision ResNet name>", "vision_model.<transformers ResNetModel name> (resnet_names)"),
    ("<resnet prefix>fc.<i>.weight (bias-free, (proj, 2048), after a ReLU)", "image_projection.1.weight"),
    ("(none: fixed exp(0.5))", "logit_scale = 0.5 (buffer)"),
)

#: Authors' image -> EEG encoder (any module names, `module.` stripped) -> `ImageToEEGModel`.
IMAGE_TO_EEG_MAPPING: tuple[tuple[str, str], ...] = (
    ("<googlenet prefix><torchvision GoogLeNet name> (conv1 .. inception5b)", "vision_model.<same name>"),
    ("<the 4-D kernel (3, 3 + n_subjects, 3, 3) with a bias>.{weight,bias}", "subject_conv.{weight,bias}"),
    ("<the 2-D weight (hidden, 1024) with a bias>.{weight,bias}", "fc1.{weight,bias}"),
    ("<the bias-free 2-D weight (embed, hidden)>", "fc2.weight"),
)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_torchvision_prefix(state: dict[str, torch.Tensor], marker: str, what: str) -> str:
    """The one prefix `P` under which `state` holds `P + marker` (e.g. torchvision ResNet's `layer1.0.conv1.weight`)."""
    prefixes = sorted({k[: -len(marker)] for k in state if k.endswith(marker)})
    prefixes = [p for p in prefixes if p == "" or p.endswith(".")]
    if len(prefixes) != 1:
        raise ValueError(f"expected one torchvision {what} (keys '<prefix>{marker}'), found {len(prefixes)} "
                         f"(prefixes {prefixes}); keys: {sorted(state)[:10]}")
    return prefixes[0]


def _image_head(head: dict[str, torch.Tensor], in_features: int, what: str) -> tuple[str, torch.Tensor]:
    """The bias-free `(out, in_features)` weight of the authors' `fc = Sequential(ReLU, Linear(bias=False))`."""
    weights = {k: v for k, v in head.items() if k.endswith("weight") and v.ndim == 2}
    biases = sorted(k for k in head if k.endswith("bias"))
    if len(weights) != 1 or len(head) != 1 or biases:
        shapes = {k: tuple(v.shape) for k, v in head.items()}
        raise ValueError(f"the {what}'s fc should be ReLU -> Linear({in_features}, d, bias=False) (one bias-free "
                         f"2-D weight), found {shapes}")
    key, weight = next(iter(weights.items()))
    if weight.shape[1] != in_features:
        raise ValueError(f"the {what}'s fc weight {key} has shape {tuple(weight.shape)}, expected (d, {in_features})")
    if not re.fullmatch(r"fc\.1\.weight", key):
        raise ValueError(f"the {what}'s fc weight is {key!r}; the authors' head is Sequential(ReLU, Linear) "
                         "('fc.1.weight'): a head without the ReLU would not match EEGClipModel")
    return key, weight


@names_the_checkpoint
def convert_authors_eeg_clip(
    path: str | os.PathLike[str], n_chans: int | None = None, n_times: int | None = None,
    return_report: bool = False,
) -> EEGClipModel | tuple[EEGClipModel, dict[str, Any]]:
    """Converts an authors' EEGClip `.pth` into an [`EEGClipModel`] (`EEGCLIP_MAPPING`, module docstring).

    The config is the `"authors"` preset with the sizes read from the tensors: the LSTM's channels, width and depth,
    the joint space, and the ResNet's layout (ResNet-50 for the published model). The logit scale is the authors'
    fixed `exp(0.5)`; the image preprocessing is the preset's (resize 232, centre crop 224, ImageNet mean/std, as
    the authors' `ResNet50_Weights.DEFAULT.transforms()`). The vision tower is recorded as loaded from the
    checkpoint file (name and sha256) and kept frozen.

    Args:
        path (`str` or `os.PathLike`): the `.pth` file.
        n_chans (`int`, *optional*): expected channel count (checked against the LSTM).
        n_times (`int`, *optional*): trial length; defaults to the authors' (440 for 128 channels, else 32).
        return_report (`bool`, *optional*, defaults to `False`): also return a dict describing the conversion.
    """
    state, info = load_authors_encoder_state_dict(path, kind="eeg-clip")
    prefix = find_torchvision_prefix(state, "layer1.0.conv1.weight", "ResNet")
    tower = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    rest = {k: v for k, v in state.items() if not k.startswith(prefix)}
    head = {k: v for k, v in tower.items() if k.startswith("fc.")}
    body = {k: v for k, v in tower.items() if not k.startswith("fc.")}
    vision = resnet_config_from_torchvision(body)
    head_key, image_weight = _image_head(head, vision["hidden_sizes"][-1], "ResNet")
    lstm_prefix, chans, hidden, layers = _find_lstm(rest)
    proj_key = _find_projection(rest, lstm_prefix, hidden)
    eeg_weight = rest[proj_key]
    if eeg_weight.shape[0] != image_weight.shape[0]:
        raise ValueError(f"the EEG projection {tuple(eeg_weight.shape)} and the image projection "
                         f"{tuple(image_weight.shape)} do not meet in one joint space")
    if n_chans is not None and n_chans != chans:
        raise ValueError(f"n_chans={n_chans} was given but the LSTM's input weights have {chans} channels")
    if n_times is None:
        if chans not in AUTHORS_N_TIMES:
            raise ValueError(f"no default n_times for {chans} channels; pass n_times")
        n_times = AUTHORS_N_TIMES[chans]
    encoder = {"n_chans": int(chans), "n_times": int(n_times), "lstm_hidden_size": int(hidden),
               "lstm_num_layers": int(layers), "embed_dim": int(hidden), "normalize_embeds": False,
               "input_normalization": "trial_max"}
    config = EEGClipConfig.from_preset("authors", encoder_config=encoder, vision_config=vision,
                                       projection_dim=int(eeg_weight.shape[0]), freeze_vision_tower=True,
                                       vision_model_name_or_path=Path(path).name,
                                       vision_weights_sha256=file_sha256(path))
    model = EEGClipModel(config)
    target = model.state_dict()
    vision_state, unmapped_tower = torchvision_to_transformers_resnet(
        body, {k[len("vision_model."):]: v for k, v in target.items() if k.startswith("vision_model.")})
    mapped = {f"vision_model.{k}": v for k, v in vision_state.items()}
    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        for k in range(layers):
            mapped[f"eeg_model.tower.lstm.{kind}_l{k}"] = rest[f"{lstm_prefix}{kind}_l{k}"].to(torch.float32).clone()
    mapped["eeg_model.tower.proj.weight"] = torch.eye(hidden)
    mapped["eeg_projection.weight"] = eeg_weight.to(torch.float32).clone()
    mapped["image_projection.1.weight"] = image_weight.to(torch.float32).clone()
    mapped["logit_scale"] = target["logit_scale"].clone()
    model.load_state_dict(mapped, strict=True)
    model.eval()
    if not return_report:
        return model
    used = {proj_key} | {f"{lstm_prefix}{kind}_l{k}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                         for k in range(layers)}
    ignored = sorted(set(rest) - used) + [prefix + k for k in unmapped_tower]
    report = {"kind": "eeg-clip", "epoch": info["epoch"], "top_level_keys": info["top_level_keys"],
              "mapped_keys": len(mapped), "unmapped_keys": ignored, "resnet_prefix": prefix,
              "image_head_key": prefix + head_key, "eeg_projection_key": proj_key, "vision_config": vision,
              "encoder_config": encoder, "logit_scale": "exp(0.5), fixed (authors; not stored in the checkpoint)",
              "notes": ["the authors' frozen ResNet-50 was never put in eval mode, so its batch norms used batch "
                        "statistics during their training and evaluation; the converted model uses the stored "
                        "running statistics (eval mode), which is what the weights define"]}
    return model, report


def _mlp_head(candidates: dict[str, torch.Tensor], in_features: int) -> tuple[str, str, list[str]]:
    """`(fc1 prefix, fc2 weight key, used keys)` of `Linear(in, hidden) -> ... -> Linear(hidden, embed, bias=False)`."""
    first = [k for k, v in candidates.items() if k.endswith("weight") and v.ndim == 2 and v.shape[1] == in_features
             and k[: -len("weight")] + "bias" in candidates]
    if len(first) != 1:
        raise ValueError(f"expected one Linear({in_features}, hidden) with a bias (the head's first layer), found "
                         f"{first}")
    hidden = int(candidates[first[0]].shape[0])
    second = [k for k, v in candidates.items() if k.endswith("weight") and v.ndim == 2 and v.shape[1] == hidden
              and k != first[0] and k[: -len("weight")] + "bias" not in candidates]
    if len(second) != 1:
        raise ValueError(f"expected one bias-free Linear({hidden}, embed) (the head's last layer), found {second}")
    prefix = first[0][: -len("weight")]
    return prefix, second[0], [first[0], prefix + "bias", second[0]]


@names_the_checkpoint
def convert_authors_image_to_eeg(
    path: str | os.PathLike[str], generator: str | None = None, return_report: bool = False,
) -> ImageToEEGModel | tuple[ImageToEEGModel, dict[str, Any]]:
    """Converts an authors' image -> EEG encoder `.pth` into an [`ImageToEEGModel`] (`IMAGE_TO_EEG_MAPPING`).

    The config: `vision_backbone="torchvision-googlenet"` (with `googlenet_transform_input`, as torchvision builds
    its ImageNet GoogLeNet), `subject_conditioning="planes"` with `n_subjects` read from the input convolution, the
    head sizes from its tensors (dropout 0.05 and LeakyReLU slope 0.01 as the authors'), the tower frozen, and the
    authors' training preprocessing (resize 256, centre crop 224, ImageNet mean/std: torchvision's GoogLeNet
    transforms). At inference a missing subject (`None` or `-1`) sets every subject plane to `1 / n_subjects`.

    Args:
        path (`str` or `os.PathLike`): the `.pth` file (e.g. `imageckpt/eegfeat_all_0.6875.pth`).
        generator (`str`, *optional*): `EEGStyleGANModel` folder or Hub id recorded as `generator_name_or_path`.
        return_report (`bool`, *optional*, defaults to `False`): also return a dict describing the conversion.
    """
    state, info = load_authors_encoder_state_dict(path, kind="image-to-eeg")
    prefix = find_torchvision_prefix(state, "inception3a.branch1.conv.weight", "GoogLeNet")
    tower = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    body = {k: v for k, v in tower.items() if not k.startswith(("fc.", "aux1.", "aux2."))}
    aux = sorted(prefix + k for k in tower if k.startswith(("aux1.", "aux2.")))
    outside = {k: v for k, v in state.items() if not k.startswith(prefix)}
    candidates = {**{prefix + k: v for k, v in tower.items() if k.startswith("fc.")}, **outside}
    fc1, fc2, head_keys = _mlp_head(candidates, 1024)
    convs = [k for k, v in outside.items() if k.endswith("weight") and v.ndim == 4 and v.shape[0] == 3
             and v.shape[1] > 3 and tuple(v.shape[2:]) == (3, 3)
             and k[: -len("weight")] + "bias" in outside]
    if len(convs) != 1:
        raise ValueError(f"expected one input convolution Conv2d(3 + n_subjects -> 3, 3x3) with a bias outside the "
                         f"GoogLeNet, found {convs}")
    conv = convs[0]
    n_subjects = int(outside[conv].shape[1]) - 3
    config = ImageToEEGConfig(
        vision_backbone="torchvision-googlenet", googlenet_transform_input=True, subject_conditioning="planes",
        n_subjects=n_subjects, eeg_embed_dim=int(candidates[fc2].shape[0]),
        hidden_dim=int(candidates[fc1 + "weight"].shape[0]),
        dropout=0.05, negative_slope=0.01, freeze_vision_tower=True, image_size=224, image_resize_size=256,
        image_resample=2, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, generator_name_or_path=generator,
        vision_model_name_or_path=Path(path).name, vision_weights_sha256=file_sha256(path),
    )
    model = ImageToEEGModel(config)
    target = model.state_dict()
    mapped = {f"vision_model.{k}": v.detach().clone() for k, v in body.items()}
    mapped["subject_conv.weight"] = outside[conv].to(torch.float32).clone()
    mapped["subject_conv.bias"] = outside[conv[: -len("weight")] + "bias"].to(torch.float32).clone()
    mapped["fc1.weight"] = candidates[fc1 + "weight"].to(torch.float32).clone()
    mapped["fc1.bias"] = candidates[fc1 + "bias"].to(torch.float32).clone()
    mapped["fc2.weight"] = candidates[fc2].to(torch.float32).clone()
    missing, extra = sorted(set(target) - set(mapped)), sorted(set(mapped) - set(target))
    shapes = sorted(f"{k} {tuple(mapped[k].shape)} != {tuple(target[k].shape)}" for k in set(mapped) & set(target)
                    if tuple(mapped[k].shape) != tuple(target[k].shape))
    if missing or extra or shapes:
        raise ValueError(f"the checkpoint's GoogLeNet does not fit torchvision's GoogLeNet: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}, shape mismatches {shapes[:5]}")
    model.load_state_dict(mapped, strict=True)
    model.eval()
    if not return_report:
        return model
    used = set(head_keys) | {conv, conv[: -len("weight")] + "bias"} | {prefix + k for k in body}
    report = {"kind": "image-to-eeg", "epoch": info["epoch"], "top_level_keys": info["top_level_keys"],
              "mapped_keys": len(mapped), "unmapped_keys": sorted(set(state) - used), "googlenet_prefix": prefix,
              "auxiliary_heads_dropped": aux, "subject_conv_key": conv, "head_keys": head_keys,
              "n_subjects": n_subjects,
              "notes": ["the authors never put this model in eval mode, so the frozen GoogLeNet's batch norms used "
                        "batch statistics and its dropout was active; the converted model uses the stored running "
                        "statistics (eval mode)",
                        "the authors' reconstruction script fed 0..255 pixels at inference (their ToTensor on a float "
                        "array does not rescale), unlike their training (0..1); the converted model's image "
                        "processor uses the training preprocessing"]}
    return model, report
