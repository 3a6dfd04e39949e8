"""torchvision ResNet state dicts <-> transformers `ResNetModel` state dicts (names, layout and config).

The two layouts hold the same tensors under different names (both use `nn.Conv2d` without bias and `nn.BatchNorm2d`
with the default eps 1e-5; both put the stride of a bottleneck on its 3x3 convolution, "ResNet v1.5", and both
give the first stage stride 1):

| torchvision                              | transformers `ResNetModel`                                   |
|------------------------------------------|--------------------------------------------------------------|
| `conv1.weight`                           | `embedder.embedder.convolution.weight`                       |
| `bn1.{bn}`                               | `embedder.embedder.normalization.{bn}`                       |
| `layer{s+1}.{i}.conv{j+1}.weight`        | `encoder.stages.{s}.layers.{i}.layer.{j}.convolution.weight` |
| `layer{s+1}.{i}.bn{j+1}.{bn}`            | `encoder.stages.{s}.layers.{i}.layer.{j}.normalization.{bn}` |
| `layer{s+1}.{i}.downsample.0.weight`     | `encoder.stages.{s}.layers.{i}.shortcut.convolution.weight`  |
| `layer{s+1}.{i}.downsample.1.{bn}`       | `encoder.stages.{s}.layers.{i}.shortcut.normalization.{bn}`  |
| `fc.{weight,bias}` (ImageNet classifier) | (none: `ResNetModel` ends at the pooled features)            |

with `{bn}` one of `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`. The config follows from
the tensors: `embedding_size` = stem channels, `depths` = blocks per stage, `hidden_sizes` = output channels per
stage, `layer_type` = `"bottleneck"` when blocks have a `conv3` (`"basic"` otherwise); a bottleneck's inner width
must be a quarter of its output (transformers' reduction; torchvision's `width_per_group=64`, `groups=1`).
"""

from __future__ import annotations

import re
from typing import Any

import torch

__all__ = [
    "RESNET_NAME_MAPPING",
    "resnet_config_from_torchvision",
    "torchvision_to_transformers_resnet",
    "torchvision_to_transformers_resnet_name",
    "transformers_to_torchvision_resnet",
    "transformers_to_torchvision_resnet_name",
]

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"

#: torchvision name pattern -> transformers `ResNetModel` name pattern (see the module docstring).
RESNET_NAME_MAPPING: tuple[tuple[str, str], ...] = (
    ("conv1.weight", "embedder.embedder.convolution.weight"),
    ("bn1.{bn}", "embedder.embedder.normalization.{bn}"),
    ("layer{s+1}.{i}.conv{j+1}.weight", "encoder.stages.{s}.layers.{i}.layer.{j}.convolution.weight"),
    ("layer{s+1}.{i}.bn{j+1}.{bn}", "encoder.stages.{s}.layers.{i}.layer.{j}.normalization.{bn}"),
    ("layer{s+1}.{i}.downsample.0.weight", "encoder.stages.{s}.layers.{i}.shortcut.convolution.weight"),
    ("layer{s+1}.{i}.downsample.1.{bn}", "encoder.stages.{s}.layers.{i}.shortcut.normalization.{bn}"),
)


def torchvision_to_transformers_resnet_name(name: str) -> str | None:
    """The transformers `ResNetModel` name of one torchvision ResNet tensor (`None` for `fc.*` and unknown names)."""
    if name == "conv1.weight":
        return "embedder.embedder.convolution.weight"
    match = re.fullmatch(rf"bn1\.{_BN}", name)
    if match:
        return f"embedder.embedder.normalization.{match.group(1)}"
    match = re.fullmatch(r"layer(\d+)\.(\d+)\.(.+)", name)
    if not match or int(match.group(1)) < 1:
        return None
    prefix = f"encoder.stages.{int(match.group(1)) - 1}.layers.{int(match.group(2))}"
    rest = match.group(3)
    conv = re.fullmatch(r"conv(\d+)\.weight", rest)
    if conv and int(conv.group(1)) >= 1:
        return f"{prefix}.layer.{int(conv.group(1)) - 1}.convolution.weight"
    bn = re.fullmatch(rf"bn(\d+)\.{_BN}", rest)
    if bn and int(bn.group(1)) >= 1:
        return f"{prefix}.layer.{int(bn.group(1)) - 1}.normalization.{bn.group(2)}"
    if rest == "downsample.0.weight":
        return f"{prefix}.shortcut.convolution.weight"
    down = re.fullmatch(rf"downsample\.1\.{_BN}", rest)
    if down:
        return f"{prefix}.shortcut.normalization.{down.group(1)}"
    return None


def transformers_to_torchvision_resnet_name(name: str) -> str:
    """Inverse of [`torchvision_to_transformers_resnet_name`] for every `ResNetModel.state_dict()` key."""
    if name == "embedder.embedder.convolution.weight":
        return "conv1.weight"
    match = re.fullmatch(rf"embedder\.embedder\.normalization\.{_BN}", name)
    if match:
        return f"bn1.{match.group(1)}"
    match = re.fullmatch(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.(.+)", name)
    if match:
        prefix = f"layer{int(match.group(1)) + 1}.{match.group(2)}"
        rest = match.group(3)
        conv = re.fullmatch(r"layer\.(\d+)\.convolution\.weight", rest)
        if conv:
            return f"{prefix}.conv{int(conv.group(1)) + 1}.weight"
        bn = re.fullmatch(rf"layer\.(\d+)\.normalization\.{_BN}", rest)
        if bn:
            return f"{prefix}.bn{int(bn.group(1)) + 1}.{bn.group(2)}"
        if rest == "shortcut.convolution.weight":
            return f"{prefix}.downsample.0.weight"
        short = re.fullmatch(rf"shortcut\.normalization\.{_BN}", rest)
        if short:
            return f"{prefix}.downsample.1.{short.group(1)}"
    raise ValueError(f"no torchvision ResNet name for {name!r}")


def resnet_config_from_torchvision(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """`ResNetConfig` keyword arguments (with `model_type="resnet"`) that fit a torchvision ResNet state dict."""
    if "conv1.weight" not in state or state["conv1.weight"].ndim != 4:
        raise ValueError("not a torchvision ResNet state dict: no 4-D 'conv1.weight'")
    stages = sorted({int(m.group(1)) for m in (re.match(r"layer(\d+)\.", k) for k in state) if m})
    if not stages or stages != list(range(1, len(stages) + 1)):
        raise ValueError(f"torchvision ResNet stages must be layer1 .. layerN; found {[f'layer{s}' for s in stages]}")
    bottleneck = "layer1.0.conv3.weight" in state
    last_conv = "conv3" if bottleneck else "conv2"
    depths, hidden = [], []
    for s in stages:
        blocks = sorted({int(m.group(1)) for m in (re.match(rf"layer{s}\.(\d+)\.", k) for k in state) if m})
        if blocks != list(range(len(blocks))):
            raise ValueError(f"layer{s} blocks must be numbered 0 .. n-1; found {blocks}")
        depths.append(len(blocks))
        key = f"layer{s}.0.{last_conv}.weight"
        if key not in state:
            raise ValueError(f"layer{s}.0 has no {last_conv}: the stages mix basic and bottleneck blocks")
        hidden.append(int(state[key].shape[0]))
        if bottleneck and int(state[f"layer{s}.0.conv1.weight"].shape[0]) * 4 != hidden[-1]:
            width = int(state[f"layer{s}.0.conv1.weight"].shape[0])
            raise ValueError(f"layer{s}'s bottleneck width {width} is not a quarter of its output {hidden[-1]} "
                             "(grouped or wide ResNets are not supported)")
    return {"model_type": "resnet", "num_channels": int(state["conv1.weight"].shape[1]),
            "embedding_size": int(state["conv1.weight"].shape[0]), "hidden_sizes": hidden, "depths": depths,
            "layer_type": "bottleneck" if bottleneck else "basic", "hidden_act": "relu",
            "downsample_in_first_stage": False, "downsample_in_bottleneck": False}


def torchvision_to_transformers_resnet(
    state: dict[str, torch.Tensor], target: dict[str, torch.Tensor] | None = None
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Renames a torchvision ResNet state dict to transformers `ResNetModel` names (tensors copied unchanged).

    Args:
        state: the torchvision state dict (`fc.*` may be present: it is returned as unmapped).
        target: a `ResNetModel.state_dict()` to check against: every target tensor must be provided, with its shape.

    Returns:
        `(mapped, unmapped_keys)`.
    """
    mapped, unmapped = {}, []
    for name, tensor in state.items():
        new = torchvision_to_transformers_resnet_name(name)
        if new is None:
            unmapped.append(name)
        else:
            mapped[new] = tensor.detach().clone()
    if target is not None:
        missing = sorted(set(target) - set(mapped))
        extra = sorted(set(mapped) - set(target))
        shapes = sorted(f"{k} {tuple(mapped[k].shape)} != {tuple(target[k].shape)}" for k in set(mapped) & set(target)
                        if tuple(mapped[k].shape) != tuple(target[k].shape))
        if missing or extra or shapes:
            raise ValueError(f"the torchvision ResNet does not fit the transformers ResNetModel: missing "
                             f"{missing[:5]}, unexpected {extra[:5]}, shape mismatches {shapes[:5]}")
    return mapped, sorted(unmapped)


def transformers_to_torchvision_resnet(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Renames a transformers `ResNetModel` state dict to torchvision names (tensors copied unchanged)."""
    return {transformers_to_torchvision_resnet_name(k): v.detach().clone() for k, v in state.items()}
