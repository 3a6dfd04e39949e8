"""Converters from the authors' published checkpoints to this package's models.

* [`convert_authors_encoder`]: the LSTM and CNN encoder `.pth` files (`torch.save` dicts with `epoch`,
  `model_state_dict` (keys prefixed `module.`), `optimizer_state_dict`), read with
  `torch.load(weights_only=True)` only; the module names are inferred from the tensors' structure
  (`ENCODER_MAPPING`, `CNN_ENCODER_MAPPING`).
* [`convert_stylegan_snapshot`]: StyleGAN2-ADA `network-snapshot-*.pkl` files, read with the
  restricted unpickler of `eeg2img_hf.utils.safe_pickle` (no code from the file is executed).

The discriminator, G and ADA state of a snapshot (a `train-gan --init-from` starting point) are converted by
[`eeg2img_hf.convert.stylegan_snapshot`]; EEGClip and the image -> EEG encoder by
[`eeg2img_hf.convert.authors_image_models`].

Equalised learning rate. StyleGAN2-ADA stores raw weights and scales them at run time: a fully
connected layer stores `weight ~ N(0, 1) / lr_multiplier` and `bias`, and computes
`x @ (weight * lr_multiplier / sqrt(in)).T + bias * lr_multiplier`; convolutions store `N(0, 1)`
weights scaled by `1 / sqrt(fan_in)`. This package's `FullyConnectedLayer`, `Conv2dLayer`,
`SynthesisLayer` and `ToRGBLayer` use the same run-time formulas on the same stored tensors (only
the *initial* bias differs, which does not matter for converted weights), so every tensor is
copied unchanged, with one exception: the 3x3 kernels of the upsampling layers (`conv0`).
StyleGAN2-ADA applies them as a true convolution (its `flip_weight=False`, chosen whenever
`up > 1`), while this package's `conv2d_resample` applies every kernel as a correlation
(`F.conv2d(upsample2d(x), weight)`), so those kernels are flipped along both spatial axes
([`nvidia_to_package_tensor`]; exact, and demodulation is unchanged by a flip). Non-upsampling
layers use correlation in both. The lr multiplier is read from the snapshot (`bias_gain`).

What is verified, and what is not. NVIDIA's network code cannot be run here (licence: it is not
read, copied or imported). The tests therefore (a) write snapshots in the official pickle layout
from this package's own generators with the inverse name mapping and check that conversion gives
bit-identical tensors and identical images (`noise_mode="const"`), (b) check that malicious pickles
are refused without executing anything, (c) round-trip an authors-style encoder `.pth` against a
hand-written LSTM + Linear + L2 reference, (d) check that a flipped kernel under our correlation
equals a true convolution after upsampling. Output equality with the original NVIDIA network on
the published snapshots has NOT been checked: it rests on the equivalence of the layer definitions
(StyleGAN2/StyleGAN2-ADA papers), on the shape/name checks below, and on the stated fact about
StyleGAN2-ADA's `flip_weight` convention for upsampling layers (from its documented file format
and parameter semantics, not from running its code). A visual check of converted `G_ema` samples
against the authors' published sample grids is the cheapest confirmation once the weights are at hand.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..models.eeg_encoder import EEGEncoderConfig, EEGEncoderModel
from ..models.eeg_stylegan import EEGStyleGANConfig, EEGStyleGANModel
from ..models.eeg_stylegan.ops_stylegan import setup_filter
from ..utils.errors import BadInputFileError, Eeg2ImgError
from ..utils.model_folders import load_model_folder
from ..utils.safe_pickle import DEFAULT_MAX_BYTES, PersistentRecord, load_restricted_pickle, load_torch_file

__all__ = [
    "CNN_ENCODER_MAPPING",
    "ENCODER_MAPPING",
    "MAPPING_VERSION",
    "STYLEGAN_NAME_MAPPING",
    "convert_authors_encoder",
    "convert_stylegan_snapshot",
    "cnn_encoder_state_dict_from_authors",
    "encoder_state_dict_from_authors",
    "flatten_record",
    "load_authors_encoder_state_dict",
    "nvidia_to_package_name",
    "nvidia_to_package_tensor",
    "PACKAGE_ONLY_KEYS",
    "package_to_nvidia_name",
    "package_to_nvidia_tensor",
    "read_stylegan_snapshot",
    "stylegan_config_from_record",
]

#: Version of the name mappings below (recorded in `conversion.json`).
MAPPING_VERSION = "1"

#: Default `n_times` of the authors' datasets, keyed by their channel count (EEGCVPR40, ThoughtViz, Object).
AUTHORS_N_TIMES = {128: 440, 14: 32, 124: 32}

#: Authors' LSTM encoder -> `EEGEncoderModel` (inferred by structure, any module prefix, `module.` stripped).
ENCODER_MAPPING: tuple[tuple[str, str], ...] = (
    ("<prefix>weight_ih_l{k}", "tower.lstm.weight_ih_l{k}"),
    ("<prefix>weight_hh_l{k}", "tower.lstm.weight_hh_l{k}"),
    ("<prefix>bias_ih_l{k}", "tower.lstm.bias_ih_l{k}"),
    ("<prefix>bias_hh_l{k}", "tower.lstm.bias_hh_l{k}"),
    ("<the only bias-free 2-D weight of shape (embed, hidden)>", "tower.proj.weight"),
)

#: Authors' CNN encoder -> `EEGEncoderModel(architecture="cnn")` (inferred by structure, `module.` stripped): the
#: bias-free 4-D kernels chained by channel count from 1 input plane (stride 2, padding k // 2; instance norm
#: without affine parameters holds no tensors), then the bias-free 2-D projection from the last block's channels.
CNN_ENCODER_MAPPING: tuple[tuple[str, str], ...] = (
    ("<the k-th bias-free conv kernel of the chain 1 -> c1 -> ... -> cK, shape (c_k, c_(k-1), s, s)>",
     "tower.blocks.{k}.conv.weight"),
    ("<the only bias-free 2-D weight of shape (embed, cK)>", "tower.proj.weight"),
)

#: NVIDIA StyleGAN2-ADA generator names -> this package's `EEGStyleGANGenerator` names (`res` = 4, 8, ...).
STYLEGAN_NAME_MAPPING: tuple[tuple[str, str], ...] = (
    ("mapping.embed.{weight,bias}", "mapping.embed.{weight,bias}"),
    ("mapping.fc{i}.{weight,bias}", "mapping.layers.{i}.{weight,bias}"),
    ("mapping.w_avg", "mapping.w_avg"),
    ("synthesis.b{res}.const", "synthesis.blocks.{log2(res)-2}.const"),
    ("synthesis.b{res}.resample_filter", "synthesis.blocks.{log2(res)-2}.resample_filter (b4: checked, dropped)"),
    ("synthesis.b{res}.{conv0,conv1}.{weight,bias,noise_strength,noise_const}",
     "synthesis.blocks.{log2(res)-2}.{conv0,conv1}.{...}"),
    ("synthesis.b{res}.{conv0,conv1,torgb}.affine.{weight,bias}", "synthesis.blocks.{log2(res)-2}.{...}.affine.{...}"),
    ("synthesis.b{res}.conv0.weight", "synthesis.blocks.{log2(res)-2}.conv0.weight, FLIPPED: weight.flip([2, 3])"),
    ("synthesis.b{res}.conv0.resample_filter", "synthesis.blocks.{log2(res)-2}.conv0.resample_filter"),
    ("synthesis.b{res}.conv1.resample_filter", "(no counterpart: checked equal to the FIR filter, dropped)"),
    ("synthesis.b{res}.torgb.{weight,bias}", "synthesis.blocks.{log2(res)-2}.torgb.{weight,bias}"),
    ("synthesis.b{res}.skip.{weight,resample_filter}", "synthesis.blocks.{log2(res)-2}.skip.{...} (resnet)"),
)

_BLOCK_SUFFIX = re.compile(
    r"(const|resample_filter|(conv0|conv1)\.(weight|bias|noise_strength|noise_const|resample_filter)"
    r"|(conv0|conv1|torgb)\.affine\.(weight|bias)|torgb\.(weight|bias)|skip\.(weight|resample_filter))"
)
_LICENCE_NOTE = (
    "The StyleGAN weights derive from NVIDIA's StyleGAN2-ADA code (NVIDIA Source Code License, "
    "non-commercial use only); the converted weights inherit that restriction."
)


# ----------------------------------------------------------------------------------------------------------------
# LSTM encoder


CHECKPOINT_KINDS = {
    "encoder": "an EEG encoder .pth (LSTM or CNN)",
    "eeg-clip": "an EEGClip .pth (LSTM and a torchvision ResNet)",
    "image-to-eeg": "an image -> EEG encoder .pth (a torchvision GoogLeNet)",
}
"""The `.pth` kinds of `convert-checkpoint`, as messages name them."""


def guess_checkpoint_kind(state: dict[str, torch.Tensor]) -> str | None:
    """The kind (a key of [`CHECKPOINT_KINDS`]) an authors' state dict looks like, from its tensors' names and
    shapes: a torchvision GoogLeNet (image -> EEG), a torchvision ResNet (EEGClip), an LSTM or a chain of
    one-plane convolution kernels (an encoder); `None` when it looks like none of them."""
    if any(k.endswith("inception3a.branch1.conv.weight") for k in state):
        return "image-to-eeg"
    if any(k.endswith("layer1.0.conv1.weight") for k in state):
        return "eeg-clip"
    if _is_lstm(state) or any(v.ndim == 4 and v.shape[1] == 1 for v in state.values()):
        return "encoder"
    return None


def load_authors_encoder_state_dict(
    path: str | os.PathLike[str], kind: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Loads an authors' `.pth` with `weights_only=True` and returns `(state_dict, info)`.

    The `module.` prefix (DataParallel) is stripped. `info` holds `epoch` and the other top-level keys.
    Files that need arbitrary Python objects are refused for safety (never retried unsafely). With `kind` (a key
    of [`CHECKPOINT_KINDS`]), a checkpoint that looks like another kind is refused before any mapping, naming the
    kind it looks like.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path.name}: no such file")
    obj = load_torch_file(path, "checkpoint")
    if isinstance(obj, dict) and "model_state_dict" in obj:
        state = obj["model_state_dict"]
        info = {"epoch": obj.get("epoch"), "top_level_keys": sorted(map(str, obj))}
    else:
        state, info = obj, {"epoch": None, "top_level_keys": []}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path.name} holds no state dict of tensors (found {type(state).__name__})")
    stripped = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    found = guess_checkpoint_kind(stripped)
    if kind is not None and found is not None and found != kind:
        raise BadInputFileError(f"{path.name} looks like {CHECKPOINT_KINDS[found]}, not {CHECKPOINT_KINDS[kind]}; it "
                                "was not converted",
                                hint=f"convert it with the kind {found!r} of convert-checkpoint")
    return stripped, info


def names_the_checkpoint(convert: Callable[..., Any]) -> Callable[..., Any]:
    """Makes every `ValueError` a converter raises name its checkpoint file (the first argument) when the message
    names no checkpoint file yet."""

    @functools.wraps(convert)
    def wrapper(path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Any:
        try:
            return convert(path, *args, **kwargs)
        except ValueError as err:
            message = err.message if isinstance(err, Eeg2ImgError) else str(err)
            if Path(path).name in message or re.search(r"\.(pth|pkl|pt)\b", message):
                raise
            hint = err.hint if isinstance(err, Eeg2ImgError) else None
            raise BadInputFileError(f"{Path(path).name}: {message}", hint=hint) from err

    return wrapper


def _find_lstm(state: dict[str, torch.Tensor]) -> tuple[str, int, int, int]:
    """Returns `(prefix, n_chans, hidden, num_layers)` of the single unidirectional LSTM in `state`."""
    found = [m for m in (re.fullmatch(r"(.*?)weight_ih_l(\d+)(_reverse)?", k) for k in state) if m]
    prefixes = sorted({m.group(1) for m in found})
    if len(prefixes) != 1:
        raise ValueError(
            f"expected exactly one LSTM (keys '<prefix>weight_ih_l<k>'), found {len(prefixes)} "
            f"(prefixes {prefixes}); keys: {sorted(state)}"
        )
    if any(m.group(3) for m in found):
        raise ValueError("the LSTM is bidirectional ('_reverse' keys); EEGEncoderModel's LSTM is unidirectional")
    prefix, num_layers = prefixes[0], len(found)
    hidden = state[f"{prefix}weight_hh_l0"].shape[1] if f"{prefix}weight_hh_l0" in state else -1
    n_chans = state[f"{prefix}weight_ih_l0"].shape[1]
    for k in range(num_layers):
        expected = {
            f"weight_ih_l{k}": (4 * hidden, n_chans if k == 0 else hidden), f"weight_hh_l{k}": (4 * hidden, hidden),
            f"bias_ih_l{k}": (4 * hidden,), f"bias_hh_l{k}": (4 * hidden,),
        }
        for name, shape in expected.items():
            got = state.get(prefix + name)
            if got is None or tuple(got.shape) != shape:
                found_shape = None if got is None else tuple(got.shape)
                raise ValueError(f"LSTM tensor {prefix + name} should have shape {shape}, found {found_shape}")
    return prefix, n_chans, hidden, num_layers


def _find_projection(state: dict[str, torch.Tensor], lstm_prefix: str, hidden: int) -> str:
    """Returns the key of the bias-free `(embed_dim, hidden)` projection weight."""
    candidates = [
        k for k, v in state.items()
        if k.endswith("weight") and not k.startswith(lstm_prefix + "weight_") and v.ndim == 2
        and v.shape[1] == hidden and k[: -len("weight")] + "bias" not in state
    ]
    if len(candidates) > 1:
        parent = lstm_prefix.rsplit(".", 2)[0] if lstm_prefix.count(".") >= 2 else ""
        candidates = [k for k in candidates if k.startswith(parent)] if parent else candidates
    if len(candidates) != 1:
        shapes = {k: tuple(v.shape) for k, v in state.items() if not k.startswith(lstm_prefix + "weight_")}
        raise ValueError(
            f"expected one bias-free 2-D projection weight of shape (embed_dim, {hidden}), found {candidates}; "
            f"non-LSTM tensors: {shapes}"
        )
    return candidates[0]


def encoder_state_dict_from_authors(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, int], list[str]]:
    """Maps an authors' LSTM state dict (prefix stripped) to `EEGEncoderModel` names (see `ENCODER_MAPPING`).

    Returns:
        `(state_dict, dims, ignored_keys)` with `dims` = `n_chans`, `lstm_hidden_size`, `lstm_num_layers`,
        `embed_dim`; `ignored_keys` are the extra tensors (e.g. a fine-tuning head), reported, not loaded.
    """
    prefix, n_chans, hidden, num_layers = _find_lstm(state)
    proj_key = _find_projection(state, prefix, hidden)
    mapped: dict[str, torch.Tensor] = {}
    used = {proj_key}
    for k in range(num_layers):
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            used.add(f"{prefix}{kind}_l{k}")
            mapped[f"tower.lstm.{kind}_l{k}"] = state[f"{prefix}{kind}_l{k}"].to(torch.float32).clone()
    mapped["tower.proj.weight"] = state[proj_key].to(torch.float32).clone()
    dims = {"n_chans": int(n_chans), "lstm_hidden_size": int(hidden), "lstm_num_layers": num_layers,
            "embed_dim": int(state[proj_key].shape[0])}
    return mapped, dims, sorted(set(state) - used)


def _is_lstm(state: dict[str, torch.Tensor]) -> bool:
    return any(re.fullmatch(r".*weight_ih_l\d+(_reverse)?", k) for k in state)


def cnn_encoder_state_dict_from_authors(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[str]]:
    """Maps an authors' CNN encoder state dict (prefix stripped) to `EEGEncoderModel` names (`CNN_ENCODER_MAPPING`).

    The convolution kernels are found by their shapes: the chain starts at the one bias-free 4-D kernel with a single
    input plane and follows the channel counts (`(c_k, c_(k-1), s, s)`); the projection is the bias-free 2-D weight
    whose input is the last block's channel count. Normalisation with tensors (affine instance norm, batch norm) and
    convolutions with a bias are refused: the authors' blocks have neither.

    Returns:
        `(state_dict, dims, ignored_keys)` with `dims` = `cnn_channels`, `cnn_kernel_size`, `embed_dim`;
        `ignored_keys` are the extra tensors (e.g. a fine-tuning head), reported, not loaded.
    """
    kernels = {k: v for k, v in state.items() if v.ndim == 4 and k.endswith("weight")}
    biased = sorted(k for k in kernels if k[: -len("weight")] + "bias" in state)
    if biased:
        raise ValueError(f"the convolutions {biased} have a bias; the authors' CNN blocks are bias-free")
    chain: list[str] = []
    channels = 1
    while True:
        nxt = [k for k, v in kernels.items() if v.shape[1] == channels and k not in chain]
        if len(nxt) > 1:
            raise ValueError(f"{len(nxt)} convolution kernels take {channels} input channels ({sorted(nxt)}); "
                             "expected one chain 1 -> c1 -> ... -> cK")
        if not nxt:
            break
        chain.append(nxt[0])
        channels = int(kernels[nxt[0]].shape[0])
    if not chain:
        raise ValueError("no LSTM and no convolution kernel with one input plane: not an authors' encoder state dict "
                         f"(keys: {sorted(state)[:12]})")
    unused = sorted(set(kernels) - set(chain))
    if unused:
        raise ValueError(f"convolution kernels {unused} are not part of the chain {chain}")
    sizes = {tuple(kernels[k].shape[2:]) for k in chain}
    if len(sizes) != 1 or len(next(iter(sizes))) != 2 or len(set(next(iter(sizes)))) != 1:
        raise ValueError(f"the kernels must share one square, odd size; found {sorted(sizes)}")
    size = next(iter(sizes))[0]
    if size % 2 == 0:
        raise ValueError(f"kernel size {size} is even; the CNN blocks use padding k // 2 with odd kernels")
    norms = sorted(k for k, v in state.items() if k.endswith(("running_mean", "running_var", "num_batches_tracked"))
                   or (k.endswith("weight") and v.ndim == 1))
    if norms:
        raise ValueError(f"the checkpoint holds normalisation tensors {norms[:6]}; the authors' instance norm is not "
                         "affine (no tensors), so it does not fit EEGEncoderModel(architecture='cnn')")
    projections = [k for k, v in state.items() if k.endswith("weight") and v.ndim == 2 and v.shape[1] == channels
                   and k[: -len("weight")] + "bias" not in state]
    if len(projections) != 1:
        raise ValueError(f"expected one bias-free 2-D projection weight of shape (embed_dim, {channels}), found "
                         f"{projections}")
    proj = projections[0]
    mapped = {f"tower.blocks.{i}.conv.weight": state[k].to(torch.float32).clone() for i, k in enumerate(chain)}
    mapped["tower.proj.weight"] = state[proj].to(torch.float32).clone()
    dims = {"cnn_channels": [int(kernels[k].shape[0]) for k in chain], "cnn_kernel_size": int(size),
            "embed_dim": int(state[proj].shape[0])}
    return mapped, dims, sorted(set(state) - set(chain) - {proj})


@names_the_checkpoint
def convert_authors_encoder(
    path: str | os.PathLike[str],
    n_chans: int | None = None,
    n_times: int | None = None,
    return_report: bool = False,
    normalize_embeds: bool | None = None,
) -> EEGEncoderModel | tuple[EEGEncoderModel, dict[str, Any]]:
    """Converts an authors' encoder `.pth` (LSTM or CNN, told apart by its tensors) into an [`EEGEncoderModel`]
    with `input_normalization="trial_max"`.

    Args:
        path (`str` or `os.PathLike`): the `.pth` file.
        n_chans (`int`, *optional*): the channel count. Checked against the LSTM's input weights; required for a CNN
            (its kernels see one input plane, so the weights do not fix it: 128 EEGCVPR40, 14 ThoughtViz, 124 Object).
        n_times (`int`, *optional*): trial length; defaults to the authors' (440 for 128 channels, else 32).
        return_report (`bool`, *optional*, defaults to `False`): also return a dict describing the conversion.
        normalize_embeds (`bool`, *optional*): L2-normalise the embeddings. Default: yes, except for a CNN with 14
            channels (the authors' ThoughtViz CNN has its final normalisation commented out).
    """
    state, info = load_authors_encoder_state_dict(path, kind="encoder")
    if _is_lstm(state):
        mapped, dims, ignored = encoder_state_dict_from_authors(state)
        if n_chans is not None and n_chans != dims["n_chans"]:
            raise ValueError(f"n_chans={n_chans} was given but the LSTM's input weights have {dims['n_chans']} "
                             "channels")
        architecture = "lstm"
    else:
        mapped, dims, ignored = cnn_encoder_state_dict_from_authors(state)
        if n_chans is None:
            raise ValueError(f"{Path(path).name} holds a CNN encoder, whose weights do not fix the channel count: "
                             "pass n_chans (--n-chans: 128 EEGCVPR40, 14 ThoughtViz, 124 Object)")
        dims["n_chans"] = int(n_chans)
        architecture = "cnn"
    if n_times is None:
        if dims["n_chans"] not in AUTHORS_N_TIMES:
            raise ValueError(f"no default n_times for {dims['n_chans']} channels; pass n_times")
        n_times = AUTHORS_N_TIMES[dims["n_chans"]]
    if normalize_embeds is None:
        normalize_embeds = not (architecture == "cnn" and dims["n_chans"] == 14)
    config = EEGEncoderConfig(architecture=architecture, n_times=n_times, input_normalization="trial_max",
                              normalize_embeds=normalize_embeds, **dims)
    model = EEGEncoderModel(config)
    model.load_state_dict(mapped, strict=True)
    model.eval()
    if not return_report:
        return model
    report = {"kind": "encoder", "architecture": architecture, "epoch": info["epoch"],
              "top_level_keys": info["top_level_keys"], "mapped_keys": len(mapped), "unmapped_keys": ignored,
              "dims": dims, "n_times": n_times, "normalize_embeds": normalize_embeds}
    return model, report


# ----------------------------------------------------------------------------------------------------------------
# StyleGAN2-ADA snapshot


def read_stylegan_snapshot(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Reads a `network-snapshot-*.pkl` with the restricted unpickler; networks come back as `PersistentRecord`s."""
    snapshot = load_restricted_pickle(path, max_bytes=max_bytes)
    if not isinstance(snapshot, dict):
        raise ValueError(f"{Path(path).name} holds a {type(snapshot).__name__}, expected a snapshot dict")
    return snapshot


def flatten_record(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flattens a record tree's `_parameters` and `_buffers` into `{dotted.name: tensor}` (like `state_dict`)."""
    flat: dict[str, torch.Tensor] = {}
    for name, value in {**record.parameters, **record.buffers}.items():
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{prefix}{name} is a {type(value).__name__}, expected a tensor")
        flat[prefix + name] = value.detach()
    for name, child in record.modules.items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise ValueError(f"submodule {prefix}{name} is a {type(child).__name__}, expected a module record")
        flat.update(flatten_record(child, f"{prefix}{name}."))
    return flat


def nvidia_to_package_name(name: str) -> str | None:
    """Maps one NVIDIA generator tensor name to this package's name (`None` if it matches no rule).

    See `STYLEGAN_NAME_MAPPING`: `mapping.fc{i}` -> `mapping.layers.{i}`, `synthesis.b{res}` ->
    `synthesis.blocks.{log2(res) - 2}`; everything else below those prefixes keeps its name.
    """
    if name in ("mapping.w_avg", "mapping.embed.weight", "mapping.embed.bias"):
        return name
    match = re.fullmatch(r"mapping\.fc(\d+)\.(weight|bias)", name)
    if match:
        return f"mapping.layers.{int(match.group(1))}.{match.group(2)}"
    match = re.fullmatch(r"synthesis\.b(\d+)\.(.+)", name)
    if match and _BLOCK_SUFFIX.fullmatch(match.group(2)):
        res = int(match.group(1))
        if res >= 4 and res & (res - 1) == 0:
            return f"synthesis.blocks.{res.bit_length() - 3}.{match.group(2)}"
    return None


def _is_up_kernel(name: str) -> bool:
    return re.fullmatch(r"synthesis\.(b\d+|blocks\.\d+)\.conv0\.weight", name) is not None


def nvidia_to_package_tensor(name: str, tensor: torch.Tensor, flip_up_kernels: bool = True) -> torch.Tensor:
    """The value stored under `nvidia_to_package_name(name)`: a copy, with upsampling kernels flipped.

    `synthesis.b{res}.conv0.weight` is applied as a convolution by StyleGAN2-ADA and as a correlation here,
    so it is flipped along both spatial axes (`flip_up_kernels=False` disables this). The map is its own inverse.
    """
    if flip_up_kernels and _is_up_kernel(name):
        return tensor.flip([2, 3]).contiguous()
    return tensor.clone()


package_to_nvidia_tensor = nvidia_to_package_tensor


#: Generator buffers of this package that NVIDIA networks do not have (identity when converting theirs).
PACKAGE_ONLY_KEYS = ("mapping.conditioning_shift", "mapping.conditioning_scale")


def package_to_nvidia_name(name: str) -> str:
    """Inverse of [`nvidia_to_package_name`] for every `EEGStyleGANGenerator.state_dict()` key except
    `PACKAGE_ONLY_KEYS`."""
    match = re.fullmatch(r"mapping\.layers\.(\d+)\.(weight|bias)", name)
    if match:
        return f"mapping.fc{match.group(1)}.{match.group(2)}"
    match = re.fullmatch(r"synthesis\.blocks\.(\d+)\.(.+)", name)
    if match:
        return f"synthesis.b{2 ** (int(match.group(1)) + 2)}.{match.group(2)}"
    if name.startswith("mapping."):
        return name
    raise ValueError(f"no NVIDIA name for {name!r}")


def _child(record: PersistentRecord, name: str) -> PersistentRecord:
    child = record.modules.get(name)
    if not isinstance(child, PersistentRecord):
        raise ValueError(f"the {record.class_name} record has no '{name}' submodule (found {sorted(record.modules)})")
    return child


def _number(value: Any) -> float | None:
    """`float(value)` for Python/numpy numbers, `None` otherwise."""
    try:
        return None if value is None or isinstance(value, (str, bytes, dict)) else float(value)
    except (TypeError, ValueError):
        return None


def _channel_base_max(channels: dict[int, int], hint: Any) -> tuple[int, int]:
    """Finds `(channel_base, channel_max)` with `min(base // res, max) == channels[res]` for every resolution."""
    channel_max = max(channels.values())
    below = [(res, ch) for res, ch in sorted(channels.items()) if ch < channel_max]
    candidates = [int(hint)] if _number(hint) is not None else []
    candidates.append(below[0][0] * below[0][1] if below else channel_max * max(channels))
    for base in candidates:
        if all(min(base // res, channel_max) == ch for res, ch in channels.items()):
            return base, channel_max
    raise ValueError(f"channels per resolution {channels} do not follow min(channel_base // res, channel_max)")


def _synthesis_layout(synthesis: PersistentRecord, flat: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Resolutions, channels, image channels, architecture, conv clamp and fp16 blocks of the synthesis record."""
    resolutions = sorted({int(m.group(1)) for m in (re.match(r"synthesis\.b(\d+)\.", k) for k in flat) if m})
    if not resolutions or resolutions != [2**i for i in range(2, resolutions[-1].bit_length())]:
        raise ValueError(f"synthesis blocks must cover 4, 8, ..., img_resolution; found {resolutions}")
    channels = {res: int(flat[f"synthesis.b{res}.const" if res == 4 else f"synthesis.b{res}.conv1.weight"].shape[0])
                for res in resolutions}
    blocks = {res: _child(synthesis, f"b{res}") for res in resolutions}
    archs = {str(b.state["architecture"]) for b in blocks.values() if "architecture" in b.state}
    if not archs:
        has_rgb = [f"synthesis.b{res}.torgb.weight" in flat for res in resolutions]
        archs = {"resnet" if any(".skip." in k for k in flat) else "skip" if all(has_rgb) else "orig"}
    if len(archs) != 1:
        raise ValueError(f"the synthesis blocks mix architectures {sorted(archs)}")
    layers = [b.modules[n] for b in blocks.values() for n in ("conv0", "conv1", "torgb") if n in b.modules]
    clamps = {_number(layer.state.get("conv_clamp")) for layer in layers if "conv_clamp" in layer.state}
    if len(clamps) > 1:
        raise ValueError(f"layers use different conv_clamp values {sorted(map(str, clamps))}; one is supported")
    for layer in layers:
        if layer.class_name == "SynthesisLayer" and (layer.state.get("use_noise", True) is False
                                                     or layer.state.get("activation", "lrelu") != "lrelu"):
            raise ValueError("synthesis layers without noise or with a non-lrelu activation are not supported")
    top = resolutions[-1]
    return {
        "resolutions": resolutions, "channels": channels, "architecture": archs.pop(),
        "img_channels": int(flat[f"synthesis.b{top}.torgb.weight"].shape[0]),
        "conv_clamp": clamps.pop() if clamps else "unrecorded",
        "num_fp16_res": sum(bool(b.state.get("use_fp16", False)) for b in blocks.values()),
    }


def _resample_taps(flat: dict[str, torch.Tensor]) -> list[float]:
    """The 1-D FIR taps behind the stored 2-D `resample_filter` buffers (all must be equal)."""
    filters = [v for k, v in flat.items() if k.endswith("resample_filter")]
    if not filters:
        return [1.0, 3.0, 3.0, 1.0]
    first = filters[0].to(torch.float32)
    if any(f.shape != first.shape or not torch.equal(f.to(torch.float32), first) for f in filters):
        raise ValueError("the snapshot's resample filters differ between layers; one filter is supported")
    for taps in ([1.0, 3.0, 3.0, 1.0], first.sum(dim=1).tolist() if first.ndim == 2 else first.tolist()):
        if torch.allclose(setup_filter(taps), first, rtol=0, atol=1e-7):
            return taps
    raise ValueError(f"resample filter of shape {tuple(first.shape)} is not separable/normalised; not supported")


def stylegan_config_from_record(
    record: PersistentRecord, flat: dict[str, torch.Tensor]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Derives `EEGStyleGANConfig` keyword arguments from a generator record and its flattened tensors.

    Returns:
        `(config_kwargs, info)`; `info` holds what was read from the snapshot but not used (e.g. `num_fp16_res`).
    """
    try:
        return _config_from_record(record, flat)
    except KeyError as err:
        raise ValueError(f"the generator lacks the tensor or submodule {err}; it does not fit our generator") from err


def _get(obj: Any, key: str) -> Any:
    """`obj.get(key)` for dict-like hyper-parameter containers, `None` otherwise."""
    return obj.get(key) if isinstance(obj, dict) else None


def _config_from_record(record: PersistentRecord, flat: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    if record.class_name != "Generator":
        raise ValueError(f"expected a StyleGAN2-ADA 'Generator' record, found {record.class_name!r}")
    mapping, synthesis = _child(record, "mapping"), _child(record, "synthesis")
    if "mapping.embed.weight" not in flat:
        raise ValueError("the generator is unconditional (no mapping.embed); EEGStyleGAN needs c_dim = embed_dim > 0")
    num_layers = sum(1 for k in flat if re.fullmatch(r"mapping\.fc\d+\.weight", k))
    embed = flat["mapping.embed.weight"]
    fcs = [mapping.modules.get(f"fc{i}") for i in range(num_layers)]
    if num_layers == 0 or any(fc is None for fc in fcs):
        raise ValueError(f"mapping layers must be fc0..fc{{n-1}}; found {sorted(mapping.modules)}")
    gains = {_number(fc.state.get("bias_gain")) for fc in fcs} - {None}
    if len(gains) > 1 or any(fc.state.get("activation", "lrelu") != "lrelu" for fc in fcs):
        raise ValueError(f"mapping layers must share one lr multiplier and use lrelu (gains {sorted(gains)})")
    embed_record = mapping.modules["embed"]
    embed_activation = embed_record.state.get("activation", "linear")
    if _number(embed_record.state.get("bias_gain", 1.0)) != 1.0 or embed_activation != "linear":
        raise ValueError("the conditioning embedding must be a linear layer with lr multiplier 1")
    beta = _number(mapping.state.get("w_avg_beta"))
    lr = gains.pop() if gains else _number(_get(mapping.state.get("_init_kwargs"), "lr_multiplier"))
    layout = _synthesis_layout(synthesis, flat)
    synthesis_kwargs = _get(record.state.get("_init_kwargs"), "synthesis_kwargs") or {}
    base, cmax = _channel_base_max(layout["channels"], _get(synthesis_kwargs, "channel_base"))
    clamp_source = "layers"
    if layout["conv_clamp"] == "unrecorded":
        layout["conv_clamp"], clamp_source = _number(_get(synthesis_kwargs, "conv_clamp")), "init_kwargs/default None"
    w_dim = int(flat[f"mapping.fc{num_layers - 1}.weight"].shape[0])
    kwargs = {
        "z_dim": int(flat["mapping.fc0.weight"].shape[1]) - int(embed.shape[0]), "w_dim": w_dim,
        "embed_dim": int(embed.shape[1]), "conditioning": "eeg", "img_resolution": layout["resolutions"][-1],
        "img_channels": layout["img_channels"], "mapping_num_layers": num_layers,
        "mapping_lr_multiplier": 0.01 if lr is None else lr,
        "mapping_w_avg_beta": beta if beta is not None else 0.995,
        "synthesis_channel_base": base, "synthesis_channel_max": cmax, "architecture": layout["architecture"],
        "conv_clamp": layout["conv_clamp"], "num_fp16_res": 0, "resample_filter": _resample_taps(flat),
    }
    for key in ("z_dim", "w_dim", "img_resolution", "img_channels"):
        recorded = _number(record.state.get(key))
        if recorded is not None and int(recorded) != kwargs[key]:
            raise ValueError(f"the generator records {key}={int(recorded)} but its tensors imply {kwargs[key]}")
    info = {"snapshot_num_fp16_res": layout["num_fp16_res"], "lr_multiplier_recorded": lr is not None,
            "conv_clamp_source": clamp_source,
            "c_dim": _number(record.state.get("c_dim"))}
    return kwargs, info


def _map_generator_state(
    flat: dict[str, torch.Tensor], target: dict[str, torch.Tensor], taps: list[float], flip_up_kernels: bool = True
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Maps NVIDIA names onto `target` (a generator `state_dict`), checking shapes; returns `(state, dropped)`."""
    mapped: dict[str, torch.Tensor] = {}
    dropped, unmapped, bad_shapes = [], [], []
    reference_filter = setup_filter(taps)
    for name, tensor in flat.items():
        new = nvidia_to_package_name(name)
        if new is not None and new in target:
            if tuple(tensor.shape) != tuple(target[new].shape):
                bad_shapes.append(f"{name} {tuple(tensor.shape)} -> {new} {tuple(target[new].shape)}")
            mapped[new] = nvidia_to_package_tensor(name, tensor.to(target[new].dtype), flip_up_kernels)
        elif new is not None and name.endswith("resample_filter") and torch.allclose(
            tensor.to(torch.float32), reference_filter, rtol=0, atol=1e-7
        ):
            dropped.append(name)  # NVIDIA registers the filter on layers that never resample
        else:
            unmapped.append(name)
    for name in PACKAGE_ONLY_KEYS:  # no NVIDIA counterpart: keep the model's identity values
        mapped[name] = target[name].clone()
    missing = sorted(set(target) - set(mapped))
    if unmapped or missing or bad_shapes:
        raise ValueError(
            f"the snapshot does not fit EEGStyleGANGenerator: unmapped snapshot tensors {sorted(unmapped)}; "
            f"missing model tensors {missing}; shape mismatches {bad_shapes}"
        )
    return mapped, sorted(dropped)


def _load_encoder(
    encoder_path: str | os.PathLike[str] | None, n_chans: int | None = None, n_times: int | None = None
) -> EEGEncoderModel | None:
    """An `EEGEncoderModel` from a `save_pretrained` folder or an authors' `.pth` file (`None` without a path).

    `n_chans` / `n_times` are those of [`convert_authors_encoder`] for a `.pth` (a CNN needs `n_chans`); for a folder
    they are checked against its config."""
    if encoder_path is None:
        if n_chans is not None or n_times is not None:
            raise ValueError("n_chans / n_times (--n-chans / --n-times) describe the EEG encoder: pass it too "
                             "(--encoder, a converted encoder folder or the authors' .pth)")
        return None
    path = Path(encoder_path)
    if not path.is_dir():
        return convert_authors_encoder(path, n_chans=n_chans, n_times=n_times)
    encoder = load_model_folder(EEGEncoderModel, path, what="encoder")
    for name, value in (("n_chans", n_chans), ("n_times", n_times)):
        if value is not None and value != getattr(encoder.config, name):
            raise ValueError(f"{name}={value} was given but the encoder folder {str(path)!r} has "
                             f"{name}={getattr(encoder.config, name)}")
    return encoder


@names_the_checkpoint
def convert_stylegan_snapshot(
    pkl_path: str | os.PathLike[str],
    encoder_path: str | os.PathLike[str] | None = None,
    network: str = "G_ema",
    max_bytes: int = DEFAULT_MAX_BYTES,
    flip_up_kernels: bool = True,
    return_report: bool = False,
    n_chans: int | None = None,
    n_times: int | None = None,
) -> EEGStyleGANModel | tuple[EEGStyleGANModel, dict[str, Any]]:
    """Converts a StyleGAN2-ADA `network-snapshot-*.pkl` generator into an [`EEGStyleGANModel`].

    Args:
        pkl_path (`str` or `os.PathLike`): the snapshot, read with the restricted unpickler.
        encoder_path (`str` or `os.PathLike`, *optional*): an `EEGEncoderModel` folder or an authors' encoder
            `.pth`; without it the model takes `eeg_embeds` only.
        network (`str`, *optional*, defaults to `"G_ema"`): `"G_ema"` (used for generation) or `"G"`.
        max_bytes (`int`, *optional*): refuse larger snapshot files.
        flip_up_kernels (`bool`, *optional*, defaults to `True`): flip the upsampling 3x3 kernels (see the module
            docstring); `False` only for snapshots known to use the correlation convention.
        return_report (`bool`, *optional*, defaults to `False`): also return a dict describing the conversion.
        n_chans, n_times (`int`, *optional*): the encoder's channel count and trial length, as in
            [`convert_authors_encoder`] (an authors' CNN `.pth` needs `n_chans`); checked against an encoder folder.
    """
    if network not in ("G_ema", "G"):
        raise ValueError(f"network must be 'G_ema' or 'G', got {network!r}")
    snapshot = read_stylegan_snapshot(pkl_path, max_bytes=max_bytes)
    record = snapshot.get(network)
    if not isinstance(record, PersistentRecord):
        raise ValueError(f"the snapshot has no {network!r} network (keys {sorted(map(str, snapshot))})")
    flat = flatten_record(record)
    kwargs, info = stylegan_config_from_record(record, flat)
    encoder = _load_encoder(encoder_path, n_chans, n_times)
    if encoder is not None and encoder.config.embed_dim != kwargs["embed_dim"]:
        raise ValueError(
            f"the encoder's embed_dim {encoder.config.embed_dim} != the generator's c_dim {kwargs['embed_dim']}"
        )
    config = EEGStyleGANConfig(encoder_config=None if encoder is None else encoder.config.to_dict(), **kwargs)
    model = EEGStyleGANModel(config)
    mapped, dropped = _map_generator_state(flat, model.generator.state_dict(), kwargs["resample_filter"],
                                           flip_up_kernels)
    model.generator.load_state_dict(mapped, strict=True)
    if encoder is not None:
        model.eeg_encoder.load_state_dict(encoder.state_dict(), strict=True)
    model.eval()
    if not return_report:
        return model
    report = {"kind": "stylegan", "network": network, "mapped_keys": len(mapped), "unmapped_keys": [],
              "checked_and_dropped_keys": dropped,
              "flipped_up_kernels": flip_up_kernels, "snapshot_keys": sorted(map(str, snapshot)),
              "not_converted": [k for k in ("G", "G_ema", "D", "augment_pipe") if k in snapshot and k != network],
              "config": kwargs, **info, "licence": _LICENCE_NOTE}
    return model, report
