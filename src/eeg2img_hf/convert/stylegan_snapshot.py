"""A whole StyleGAN2-ADA `network-snapshot-*.pkl` as a starting point for `train-gan`: G, D, G_ema and the ADA state.

[`convert_stylegan_training_snapshot`] reads the snapshot once with the restricted unpickler and converts

* `G_ema` into an [`EEGStyleGANModel`] (the inference model, with an optional EEG encoder), as
  [`convert_stylegan_snapshot`] does;
* `G` into an [`EEGStyleGANGenerator`] (the generator that the optimiser updates);
* `D` into an [`EEGStyleGANDiscriminator`] (`STYLEGAN_D_NAME_MAPPING`);
* `augment_pipe` into its probability `p` and its augmentation multipliers and strengths (the names of this
  package's `AugmentPipe` arguments are those of StyleGAN2-ADA's), plus the name of the matching preset.

`w_avg` (the tracked mean of `w` used for truncation) is a buffer of the generators' mapping networks and comes
with their weights. [`StyleGANTrainingSnapshot.save_pretrained`] writes the folder that `train-gan --init-from`
reads: the model at the top (as `train-gan`'s final `model` folder), `discriminator/` (also as there),
`generator/` and `gan_init_state.json`.

Discriminator layout (StyleGAN2-ADA, 'orig' or 'resnet'): blocks `b{res}` for `res = img_resolution .. 8`, each
with `fromrgb` (top block only), `conv0` (3x3), `conv1` (3x3, 2x FIR downsampling) and, for 'resnet', `skip`
(1x1, downsampling, no bias); the conditioning mapping `mapping.embed` + `mapping.fc{i}` (no `w_avg`); the 4x4
epilogue `b4` with `mbstd` (no tensors), `conv`, `fc` and `out` (projection onto the mapping's output,
divided by `sqrt(cmap_dim)`). Every discriminator convolution runs with stride or none after the FIR filter,
i.e. as a correlation in both implementations, so every tensor is copied unchanged. `resample_filter` buffers
that this package's layers do not hold (on blocks, and on layers that do not resample) are checked equal to the
FIR filter and dropped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..models.eeg_encoder import EEGEncoderModel
from ..models.eeg_stylegan import EEGStyleGANConfig, EEGStyleGANDiscriminator, EEGStyleGANGenerator, EEGStyleGANModel
from ..models.eeg_stylegan.ops_stylegan import setup_filter
from ..training.augment import AUGMENT_PRESETS
from ..utils.names import GAN_DISCRIMINATOR_FOLDER, GAN_GENERATOR_FOLDER, GAN_INIT_STATE
from ..utils.safe_pickle import DEFAULT_MAX_BYTES, PersistentRecord
from .authors_checkpoints import (
    _LICENCE_NOTE,
    _channel_base_max,
    _child,
    _get,
    _load_encoder,
    _map_generator_state,
    _number,
    flatten_record,
    names_the_checkpoint,
    read_stylegan_snapshot,
    stylegan_config_from_record,
)

__all__ = [
    "AUGMENT_ARGUMENTS",
    "STYLEGAN_D_NAME_MAPPING",
    "StyleGANTrainingSnapshot",
    "convert_stylegan_training_snapshot",
    "discriminator_config_from_record",
    "nvidia_to_package_d_name",
    "package_to_nvidia_d_name",
    "read_augment_pipe",
]

#: NVIDIA StyleGAN2-ADA discriminator names -> this package's `EEGStyleGANDiscriminator` names.
STYLEGAN_D_NAME_MAPPING: tuple[tuple[str, str], ...] = (
    ("b{res}.{fromrgb,conv0,conv1,skip}.{weight,bias}", "blocks.{log2(img_resolution / res)}.{...}.{weight,bias}"),
    ("b{res}.{conv1,skip}.resample_filter", "blocks.{log2(img_resolution / res)}.{conv1,skip}.resample_filter"),
    ("b{res}.resample_filter, b{res}.{fromrgb,conv0}.resample_filter", "(no counterpart: checked, dropped)"),
    ("mapping.embed.{weight,bias}", "mapping.embed.{weight,bias}"),
    ("mapping.fc{i}.{weight,bias}", "mapping.layers.{i}.{weight,bias}"),
    ("b4.{conv,fc,out}.{weight,bias}", "epilogue.{conv,fc,out}.{weight,bias}"),
    ("b4.conv.resample_filter", "(no counterpart: checked, dropped)"),
    ("b4.mbstd (group_size, num_channels; no tensors)", "config.mbstd_group_size, config.mbstd_num_channels"),
)

#: Arguments of `AugmentPipe` read from the snapshot's `augment_pipe` (multipliers, then strengths).
AUGMENT_ARGUMENTS = (
    "xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast", "lumaflip", "hue",
    "saturation", "imgfilter", "noise", "cutout", "xint_max", "scale_std", "rotate_max", "aniso_std", "xfrac_std",
    "brightness_std", "contrast_std", "hue_max", "saturation_std", "imgfilter_std", "noise_std", "cutout_size",
)
_MULTIPLIERS = AUGMENT_ARGUMENTS[:15]

#: Discriminator buffers of this package that NVIDIA networks do not have (identity when converting theirs).
PACKAGE_ONLY_D_KEYS = ("mapping.conditioning_shift", "mapping.conditioning_scale")


def nvidia_to_package_d_name(name: str, img_resolution: int) -> str | None:
    """Maps one NVIDIA discriminator tensor name to this package's name (`None` if it matches no rule; the
    `resample_filter` buffers without a counterpart map to names the model does not hold)."""
    if name in ("mapping.embed.weight", "mapping.embed.bias"):
        return name
    match = re.fullmatch(r"mapping\.fc(\d+)\.(weight|bias)", name)
    if match:
        return f"mapping.layers.{int(match.group(1))}.{match.group(2)}"
    match = re.fullmatch(r"b4\.(conv|fc|out)\.(weight|bias|resample_filter)", name)
    if match:
        return f"epilogue.{match.group(1)}.{match.group(2)}"
    match = re.fullmatch(r"b(\d+)\.((fromrgb|conv0|conv1|skip)\.(weight|bias|resample_filter)|resample_filter)", name)
    if match:
        res = int(match.group(1))
        if 8 <= res <= img_resolution and res & (res - 1) == 0:
            index = img_resolution.bit_length() - res.bit_length()
            return f"blocks.{index}.{match.group(2)}"
    return None


def package_to_nvidia_d_name(name: str, img_resolution: int) -> str:
    """Inverse of [`nvidia_to_package_d_name`] for every `EEGStyleGANDiscriminator.state_dict()` key except
    `PACKAGE_ONLY_D_KEYS`."""
    match = re.fullmatch(r"mapping\.layers\.(\d+)\.(weight|bias)", name)
    if match:
        return f"mapping.fc{match.group(1)}.{match.group(2)}"
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", name)
    if match:
        return f"b{img_resolution >> int(match.group(1))}.{match.group(2)}"
    match = re.fullmatch(r"epilogue\.(.+)", name)
    if match:
        return f"b4.{match.group(1)}"
    if name.startswith("mapping.embed."):
        return name
    raise ValueError(f"no NVIDIA name for {name!r}")


def _layer_records(record: PersistentRecord) -> list[tuple[str, PersistentRecord]]:
    """`(name, record)` of every record below `record` (depth first)."""
    found = []
    for name, child in record.modules.items():
        if isinstance(child, PersistentRecord):
            found += [(name, child), *_layer_records(child)]
    return found


def discriminator_config_from_record(
    record: PersistentRecord, flat: dict[str, torch.Tensor], generator_kwargs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The discriminator fields of `EEGStyleGANConfig` read from a `Discriminator` record, checked against the
    generator's fields (`generator_kwargs`, from [`stylegan_config_from_record`]) that both networks share.

    Returns:
        `(config_kwargs, info)`: the `discriminator_*` and `mbstd_*` fields; `info` holds what was read but not used.
    """
    if record.class_name != "Discriminator":
        raise ValueError(f"expected a StyleGAN2-ADA 'Discriminator' record, found {record.class_name!r}")
    img_resolution = generator_kwargs["img_resolution"]
    try:
        return _d_config(record, flat, generator_kwargs, img_resolution)
    except KeyError as err:
        raise ValueError(f"the discriminator lacks the tensor or submodule {err}; it does not fit our "
                         "discriminator") from err


def _d_config(record: PersistentRecord, flat: dict[str, torch.Tensor], g: dict[str, Any],
              img_resolution: int) -> tuple[dict[str, Any], dict[str, Any]]:
    resolutions = sorted({int(m.group(1)) for m in (re.match(r"b(\d+)\.", k) for k in flat) if m})
    expected = [2**i for i in range(2, img_resolution.bit_length())]
    if resolutions != expected:
        raise ValueError(f"discriminator blocks must cover b{img_resolution} .. b4 (the generator's resolution); "
                         f"found {[f'b{r}' for r in resolutions]}")
    channels = {res: int(flat[f"b{res}.conv0.weight"].shape[0]) for res in expected if res > 4}
    channels[4] = int(flat["b4.conv.weight"].shape[0])
    kwargs_hint = _get(record.state.get("_init_kwargs"), "channel_base")
    base, cmax = _channel_base_max(channels, kwargs_hint)
    blocks = [_child(record, f"b{res}") for res in expected if res > 4]
    archs = {str(b.state["architecture"]) for b in blocks if "architecture" in b.state}
    if not archs:
        archs = {"resnet" if any(re.match(r"b\d+\.skip\.", k) for k in flat) else "orig"}
    if len(archs) != 1 or next(iter(archs)) not in ("orig", "resnet"):
        raise ValueError(f"discriminator architecture {sorted(archs)} is not supported ('orig' or 'resnet')")
    epilogue = _child(record, "b4")
    cmap_dim = int(flat["b4.out.weight"].shape[0])
    if cmap_dim != channels[4]:
        raise ValueError(f"the discriminator projects onto cmap_dim={cmap_dim}; this package's uses the 4x4 channel "
                         f"count ({channels[4]})")
    if "mapping.embed.weight" not in flat or int(flat["mapping.embed.weight"].shape[1]) != g["embed_dim"]:
        found = tuple(flat["mapping.embed.weight"].shape) if "mapping.embed.weight" in flat else None
        raise ValueError(f"the discriminator's conditioning embedding {found} does not take the generator's "
                         f"c_dim={g['embed_dim']}")
    mapping = _child(record, "mapping")
    num_layers = sum(1 for k in flat if re.fullmatch(r"mapping\.fc\d+\.weight", k))
    gains = {_number(m.state.get("bias_gain")) for n, m in mapping.modules.items() if n.startswith("fc")} - {None}
    if gains and gains != {g["mapping_lr_multiplier"]}:
        raise ValueError(f"the discriminator's mapping lr multiplier {sorted(gains)} differs from the generator's "
                         f"{g['mapping_lr_multiplier']}; the package's config holds one for both")
    clamps = {_number(layer.state.get("conv_clamp")) for name, layer in _layer_records(record)
              if "conv_clamp" in layer.state and layer.class_name == "Conv2dLayer" and name != "skip"}
    if len(clamps) > 1 or (clamps and clamps != {g["conv_clamp"]}):
        shown = sorted(map(str, clamps))
        raise ValueError(f"the discriminator's conv_clamp {shown} differs from the generator's {g['conv_clamp']}; "
                         "the package's config holds one for both")
    extra = int(flat["b4.conv.weight"].shape[1]) - channels[4]
    mbstd = epilogue.modules.get("mbstd")
    epilogue_kwargs = _get(record.state.get("_init_kwargs"), "epilogue_kwargs") or {}
    group = _number(mbstd.state.get("group_size")) if isinstance(mbstd, PersistentRecord) else None
    group_source = "b4.mbstd"
    if group is None:
        group, group_source = _number(_get(epilogue_kwargs, "mbstd_group_size")), "epilogue_kwargs"
    if extra > 0 and group is None:
        raise ValueError("the snapshot records no minibatch-std group size (b4.mbstd.group_size); a whole-batch "
                         "group is not supported")
    taps = g["resample_filter"]
    reference = setup_filter(taps)
    filters = {k for k, v in flat.items() if k.endswith("resample_filter")
               and not torch.allclose(v.to(torch.float32), reference, rtol=0, atol=1e-7)}
    if filters:
        raise ValueError(f"the discriminator's resample filters {sorted(filters)[:4]} differ from the generator's")
    kwargs = {
        "discriminator_architecture": archs.pop(), "discriminator_channel_base": base,
        "discriminator_channel_max": cmax, "discriminator_mapping_num_layers": num_layers,
        "mbstd_group_size": int(group) if extra > 0 else 0, "mbstd_num_channels": max(extra, 1),
    }
    img_channels = int(flat[f"b{img_resolution}.fromrgb.weight"].shape[1])
    if img_channels != g["img_channels"]:
        raise ValueError(f"the discriminator reads {img_channels} image channels, the generator writes "
                         f"{g['img_channels']}")
    fp16 = sum(bool(b.state.get("use_fp16", False)) for b in blocks)
    return kwargs, {"discriminator_num_fp16_res": fp16, "mbstd_group_size_source": group_source}


def _map_discriminator_state(flat: dict[str, torch.Tensor], target: dict[str, torch.Tensor], img_resolution: int,
                             taps: list[float]) -> tuple[dict[str, torch.Tensor], list[str]]:
    mapped: dict[str, torch.Tensor] = {}
    dropped, unmapped, bad_shapes = [], [], []
    reference = setup_filter(taps)
    for name, tensor in flat.items():
        new = nvidia_to_package_d_name(name, img_resolution)
        if new is not None and new in target:
            if tuple(tensor.shape) != tuple(target[new].shape):
                bad_shapes.append(f"{name} {tuple(tensor.shape)} -> {new} {tuple(target[new].shape)}")
            mapped[new] = tensor.to(target[new].dtype).clone()
        elif new is not None and name.endswith("resample_filter") and torch.allclose(
            tensor.to(torch.float32), reference, rtol=0, atol=1e-7
        ):
            dropped.append(name)
        else:
            unmapped.append(name)
    for name in PACKAGE_ONLY_D_KEYS:
        mapped[name] = target[name].clone()
    missing = sorted(set(target) - set(mapped))
    if unmapped or missing or bad_shapes:
        raise ValueError(
            f"the snapshot's D does not fit EEGStyleGANDiscriminator: unmapped snapshot tensors {sorted(unmapped)}; "
            f"missing model tensors {missing}; shape mismatches {bad_shapes}"
        )
    return mapped, sorted(dropped)


def read_augment_pipe(record: Any) -> dict[str, Any]:
    """`p`, the `AugmentPipe` arguments and the matching preset name (or `None`) of an `augment_pipe` record.

    Returns:
        `{"p": float, "kwargs": {argument: value}, "preset": str | None, "unread": [names]}`; arguments the record
        does not hold keep this package's defaults and are listed in `unread`.
    """
    if not isinstance(record, PersistentRecord) or record.class_name != "AugmentPipe":
        found = record.class_name if isinstance(record, PersistentRecord) else type(record).__name__
        raise ValueError(f"the snapshot's augment_pipe is a {found}, expected an 'AugmentPipe' record")
    p = record.buffers.get("p")
    if not isinstance(p, torch.Tensor) or p.numel() != 1 or not bool(torch.isfinite(p).all()) or float(p) < 0:
        raise ValueError(f"the augment_pipe's p buffer is {p!r}, expected one finite number >= 0")
    kwargs, unread = {}, []
    for name in AUGMENT_ARGUMENTS:
        value = _number(record.state.get(name))
        if value is None:
            unread.append(name)
        elif value < 0 or value != value:
            raise ValueError(f"the augment_pipe's {name} is {value}, expected a number >= 0")
        else:
            kwargs[name] = value
    multipliers = {n: kwargs.get(n, 0.0) for n in _MULTIPLIERS}
    preset = next((name for name, values in AUGMENT_PRESETS.items()
                   if all(multipliers[n] == values.get(n, 0.0) for n in _MULTIPLIERS)), None)
    return {"p": float(p), "kwargs": kwargs, "preset": preset, "unread": unread}


@dataclass
class StyleGANTrainingSnapshot:
    """A converted `network-snapshot-*.pkl`: the inference model (G_ema), G, D and the augmentation state."""

    model: EEGStyleGANModel
    generator: EEGStyleGANGenerator
    discriminator: EEGStyleGANDiscriminator
    gan_state: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)

    def save_pretrained(self, out_dir: str | os.PathLike[str]) -> None:
        """Writes the `train-gan --init-from` folder: the model (safetensors, config, remote code),
        `discriminator/`, `generator/` and `gan_init_state.json`."""
        out = Path(out_dir)
        self.model.save_pretrained(out, safe_serialization=True)
        self.discriminator.save_pretrained(out / GAN_DISCRIMINATOR_FOLDER, safe_serialization=True)
        self.generator.save_pretrained(out / GAN_GENERATOR_FOLDER, safe_serialization=True)
        (out / GAN_INIT_STATE).write_text(json.dumps(self.gan_state, indent=2, sort_keys=True) + "\n")


@names_the_checkpoint
def convert_stylegan_training_snapshot(
    pkl_path: str | os.PathLike[str],
    encoder_path: str | os.PathLike[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    flip_up_kernels: bool = True,
    n_chans: int | None = None,
    n_times: int | None = None,
) -> StyleGANTrainingSnapshot:
    """Converts G_ema, G, D and the augmentation state of a `network-snapshot-*.pkl` (see the module docstring).

    Args:
        pkl_path (`str` or `os.PathLike`): the snapshot, read once with the restricted unpickler.
        encoder_path (`str` or `os.PathLike`, *optional*): an `EEGEncoderModel` folder or an authors' encoder `.pth`
            for the inference model.
        max_bytes (`int`, *optional*): refuse larger snapshot files.
        flip_up_kernels (`bool`, *optional*, defaults to `True`): see [`convert_stylegan_snapshot`].
        n_chans, n_times (`int`, *optional*): the encoder's channel count and trial length (see
            [`convert_stylegan_snapshot`]; an authors' CNN `.pth` needs `n_chans`).

    Returns:
        [`StyleGANTrainingSnapshot`]; `save_pretrained(out)` writes the folder `train-gan --init-from out` reads.
    """
    snapshot = read_stylegan_snapshot(pkl_path, max_bytes=max_bytes)
    records = {}
    for key in ("G", "G_ema", "D", "augment_pipe"):
        if not isinstance(snapshot.get(key), PersistentRecord):
            raise ValueError(f"the snapshot has no {key!r} network (keys {sorted(map(str, snapshot))}); a training "
                             "snapshot holds G, D, G_ema and augment_pipe")
        records[key] = snapshot[key]
    flats = {key: flatten_record(records[key]) for key in ("G", "G_ema", "D")}
    kwargs, info = stylegan_config_from_record(records["G_ema"], flats["G_ema"])
    g_kwargs, _ = stylegan_config_from_record(records["G"], flats["G"])
    if g_kwargs != kwargs:
        differ = sorted(k for k in kwargs if kwargs[k] != g_kwargs.get(k))
        raise ValueError(f"G and G_ema of the snapshot differ in {differ}")
    d_kwargs, d_info = discriminator_config_from_record(records["D"], flats["D"], kwargs)
    encoder: EEGEncoderModel | None = _load_encoder(encoder_path, n_chans, n_times)
    if encoder is not None and encoder.config.embed_dim != kwargs["embed_dim"]:
        raise ValueError(
            f"the encoder's embed_dim {encoder.config.embed_dim} != the generator's c_dim {kwargs['embed_dim']}"
        )
    config = EEGStyleGANConfig(encoder_config=None if encoder is None else encoder.config.to_dict(), **kwargs,
                               **d_kwargs)
    model = EEGStyleGANModel(config)
    taps = kwargs["resample_filter"]
    ema_state, dropped = _map_generator_state(flats["G_ema"], model.generator.state_dict(), taps, flip_up_kernels)
    model.generator.load_state_dict(ema_state, strict=True)
    if encoder is not None:
        model.eeg_encoder.load_state_dict(encoder.state_dict(), strict=True)
    net_config = EEGStyleGANConfig(**kwargs, **d_kwargs)
    generator = EEGStyleGANGenerator(net_config)
    g_state, _ = _map_generator_state(flats["G"], generator.state_dict(), taps, flip_up_kernels)
    generator.load_state_dict(g_state, strict=True)
    discriminator = EEGStyleGANDiscriminator(net_config)
    d_state, d_dropped = _map_discriminator_state(flats["D"], discriminator.state_dict(), kwargs["img_resolution"],
                                                  taps)
    discriminator.load_state_dict(d_state, strict=True)
    for network in (model, generator, discriminator):
        network.eval()
    augment = read_augment_pipe(records["augment_pipe"])
    kimg = re.search(r"network-snapshot-(\d+)", Path(pkl_path).name)
    gan_state = {"augment_p": augment["p"], "augment_pipe": augment["kwargs"], "augment_preset": augment["preset"],
                 "snapshot_kimg": int(kimg.group(1)) if kimg else None, "source_file": Path(pkl_path).name}
    report = {"kind": "stylegan-snapshot", "network": "G_ema", "mapped_keys": len(ema_state), "unmapped_keys": [],
              "generator_mapped_keys": len(g_state), "discriminator_mapped_keys": len(d_state),
              "checked_and_dropped_keys": dropped, "discriminator_checked_and_dropped_keys": d_dropped,
              "flipped_up_kernels": flip_up_kernels, "snapshot_keys": sorted(map(str, snapshot)),
              "config": {**kwargs, **d_kwargs}, **info, **d_info, "augment_unread": augment["unread"],
              "gan_state": gan_state, "licence": _LICENCE_NOTE}
    return StyleGANTrainingSnapshot(model, generator, discriminator, gan_state, report)
