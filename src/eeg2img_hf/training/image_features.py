"""Precomputed image features of a frozen vision tower, so that EEGClip training does not run the tower every epoch.

[`compute_image_features`] decodes every unique image of a dataset once, runs it through an EEGClip model's image
processor and FROZEN vision tower ([`EEGClipModel.get_vision_features`], the pooled output before the trained
image projection) and writes one safetensors file:

- tensor `features`: float32 `(n_images, vision_embed_dim)`, row `i` for `image_ids[i]`;
- metadata (strings): `format` = `eeg2img-image-features`, `image_ids` (JSON list), the tower's provenance
  (`vision_model_name_or_path`, `vision_model_revision`, `vision_weights_sha256`: a pretrained tower is required),
  its type and feature size, the image preprocessing (`image_size`, `image_resize_size`, `image_mean`, `image_std`,
  `image_resample`),
  `dataset` (its recorded name), `splits` (JSON list).

`train-clip --image-features FILE` ([`load_image_features`]) accepts the file only for a model whose frozen tower
and image preprocessing are the ones recorded, and whose every image id it covers; equal `image_id`s mean
identical pixels within a dataset (the package schema), so features are looked up by id.

With `blur_sigmas` (`eeg2img image-features --blur-sigmas LOW,MEDIUM,HIGH`) the file also holds tensor
`blurred_features`, float32 `(3, n_images, vision_embed_dim)`: the tower's features of every image blurred by the
uncertainty-aware blur prior ([`blur_prior`]) at each of the three sigmas, with metadata `blur_prior` (JSON:
`sigmas`, `center_weight`, `falloff`; `null` without). A blur-prior run reads them with
[`load_blurred_features`], which refuses a file blurred otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..data import get_eeg_info, load_eeg_dataset
from ..models import EEGClipModel, make_image_processor
from ..utils.checks import check_number
from ..utils.errors import BadInputFileError, Eeg2ImgError
from ..utils.outputs import prepare_output_file
from .blur_prior import blur_prior, check_blur_sigmas

__all__ = ["FEATURES_FORMAT", "compute_image_features", "features_for_split", "load_blurred_features",
           "load_image_features", "tower_fields"]

FEATURES_FORMAT = "eeg2img-image-features"
_IMAGE_FIELDS = ("image_size", "image_resize_size", "image_mean", "image_std", "image_resample")
_SOURCE_FIELDS = ("vision_model_name_or_path", "vision_model_revision", "vision_weights_sha256")


def tower_fields(config: Any) -> dict[str, str]:
    """What identifies the features of an EEGClip config's tower (JSON strings): where its weights came from (repo or
    path, revision, weights sha256), its type and feature size, and the image preprocessing."""
    if not getattr(config, "vision_weights_sha256", None):
        raise Eeg2ImgError("precomputed image features need a pretrained vision tower whose weights are identified "
                           "(vision_weights_sha256): load one with --vision-model REPO_OR_PATH")
    fields = {name: json.dumps(getattr(config, name)) for name in (*_SOURCE_FIELDS, *_IMAGE_FIELDS)}
    fields["vision_model_type"] = json.dumps(config.vision_config.model_type)
    fields["vision_embed_dim"] = json.dumps(config.vision_embed_dim)
    return fields


def _is_features_file(path: Path) -> bool:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("format") == FEATURES_FORMAT
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return False


@torch.no_grad()
def compute_image_features(
    model: EEGClipModel,
    dataset: Any,
    output: str | os.PathLike,
    *,
    splits: list[str] | None = None,
    batch_size: int = 64,
    device: str | None = None,
    overwrite: bool = False,
    simulate: dict[str, Any] | None = None,
    blur_sigmas: list[float] | None = None,
    blur_center_weight: float = 0.5,
    blur_falloff: float = 3.0,
) -> dict[str, Any]:
    """Write the frozen tower's pooled features of every unique image of `dataset` to a safetensors file.

    Args:
        model (`EEGClipModel`): a model with a FROZEN vision tower (e.g. `EEGClipModel.from_vision_pretrained`).
        dataset: a `DatasetDict`, a saved folder or a simulation preset (see `load_eeg_dataset`).
        output (`str` or `os.PathLike`): the `.safetensors` file to write.
        splits (`list[str]`, *optional*): splits whose images to include (default: all).
        batch_size (`int`, *optional*, defaults to 64): images per forward pass.
        device (`str`, *optional*): where to run the tower (default: where the model is).
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing features file this package wrote.
        simulate (`dict`, *optional*): `simulate_dataset` keyword arguments for a preset `dataset`.
        blur_sigmas (`list[float]`, *optional*): also write the features of the images blurred by the blur prior
            at these three sigmas (pixels of the processed image), with `blur_center_weight` / `blur_falloff`.

    Returns:
        `dict`: `output`, `n_images`, `dim`, `blur_prior` and the tower's provenance.
    """
    if not isinstance(model, EEGClipModel):
        raise ValueError(f"compute_image_features needs an EEGClipModel, got {type(model).__name__}")
    if not model.config.freeze_vision_tower:
        raise Eeg2ImgError("precomputed image features need a frozen vision tower (freeze_vision_tower=True): a "
                           "trained tower changes its features every step")
    fields = tower_fields(model.config)
    blur = _blur_settings(blur_sigmas, blur_center_weight, blur_falloff)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    out = Path(output)
    if out.suffix != ".safetensors":
        raise ValueError(f"output {str(out)!r} must be a .safetensors file")
    inputs = {"--dataset": dataset} if isinstance(dataset, (str, os.PathLike)) and os.path.exists(dataset) else None
    out = prepare_output_file(out, inputs=inputs, overwrite=overwrite, is_own=_is_features_file, what="--output")
    data = load_eeg_dataset(dataset, **(simulate or {}))
    chosen = list(data) if splits is None else list(splits)
    unknown = [s for s in chosen if s not in data]
    if unknown:
        raise ValueError(f"the dataset has no splits {unknown} (splits: {list(data)})")
    model = model.eval() if device is None else model.to(device).eval()
    parameter = next(model.vision_model.parameters())
    processor = make_image_processor(model.config)
    ids: list[str] = []
    seen: set[str] = set()
    chunks, blurred_chunks = [], []
    for split in chosen:
        trial_ids = np.asarray(data[split]["image_id"])
        unique, first = np.unique(trial_ids, return_index=True)
        keep = [(str(i), int(f)) for i, f in zip(unique, first) if str(i) not in seen]
        view = data[split].select_columns(["image"]).select([f for _, f in keep])
        for start in range(0, len(view), batch_size):
            images = [image.convert("RGB") for image in view[start:start + batch_size]["image"]]
            pixels = processor(images=images, return_tensors="pt")["pixel_values"].to(parameter.device)
            chunks.append(model.get_vision_features(pixels.to(parameter.dtype)).float().cpu())
            if blur is not None:
                blurred_chunks.append(torch.stack([
                    model.get_vision_features(blur_prior(pixels.float(), sigma, blur["center_weight"],
                                                         blur["falloff"]).to(parameter.dtype)).float().cpu()
                    for sigma in blur["sigmas"]]))  # (3, batch, dim)
        ids += [i for i, _ in keep]
        seen.update(i for i, _ in keep)
    if not ids:
        raise ValueError("the dataset has no images to compute features of")
    tensors = {"features": torch.cat(chunks).contiguous()}
    if blur is not None:
        tensors["blurred_features"] = torch.cat(blurred_chunks, dim=1).contiguous()
    metadata = {"format": FEATURES_FORMAT, "image_ids": json.dumps(ids), "splits": json.dumps(chosen),
                "dataset": str(get_eeg_info(data).get("name") or dataset), "blur_prior": json.dumps(blur), **fields}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(out)
    return {"output": str(out), "n_images": len(ids), "dim": int(tensors["features"].shape[1]), "blur_prior": blur,
            **{k: getattr(model.config, k) for k in _SOURCE_FIELDS}}


def _blur_settings(sigmas: Any, center_weight: Any, falloff: Any) -> dict[str, Any] | None:
    """The blur prior a features file records (JSON-able), or `None` for sharp images only; bad values raise a
    `ValueError` naming the argument."""
    if sigmas is None:
        return None
    return {"sigmas": check_blur_sigmas(sigmas), "center_weight": check_number("blur_center_weight", center_weight,
                                                                               0.0, 1.0),
            "falloff": check_number("blur_falloff", falloff, 0.0)}


def load_blurred_features(path: str | os.PathLike, sigmas: list[float], center_weight: float,
                          falloff: float) -> torch.Tensor:
    """The `blurred_features` `(3, n_images, dim)` of a features file already accepted by [`load_image_features`];
    a `BadInputFileError` names the file when it holds none, or holds them for another blur."""
    wanted = _blur_settings(sigmas, center_weight, falloff)
    with safe_open(str(path), framework="pt") as handle:
        recorded = json.loads((handle.metadata() or {}).get("blur_prior") or "null")
        blurred = handle.get_tensor("blurred_features") if "blurred_features" in handle.keys() else None
        sharp_shape = tuple(handle.get_slice("features").get_shape())
    hint = (f"recompute it with 'eeg2img image-features ... --blur-sigmas "
            f"{','.join(f'{s:g}' for s in wanted['sigmas'])}'")
    if recorded is None or blurred is None:
        raise BadInputFileError(f"--image-features {path} holds the features of sharp images only, but the run blurs "
                                "them (blur_sigmas)", hint=hint)
    if recorded != wanted:
        raise BadInputFileError(f"--image-features {path} was blurred with {recorded}, the run blurs with {wanted}",
                                hint=hint)
    if tuple(blurred.shape) != (3, *sharp_shape) or not bool(torch.isfinite(blurred).all()):
        raise BadInputFileError(f"--image-features {path}: blurred_features of shape {tuple(blurred.shape)} are not "
                                f"3 x {sharp_shape} finite values (three blur levels of its features)")
    return blurred.float()


def load_image_features(path: str | os.PathLike, config: Any) -> tuple[torch.Tensor, dict[str, int], dict[str, str]]:
    """Read an image-features file for a model config; refuse one made by another tower or image preprocessing.

    Returns:
        `(features, row_of_image_id, metadata)`.

    Raises:
        `BadInputFileError`: not such a file, or its tower / preprocessing differs from `config`'s (the message names
        the file and the first differing field); `Eeg2ImgError`: the config's tower is not frozen.
    """
    path = Path(path)
    if not config.freeze_vision_tower:
        raise Eeg2ImgError(f"--image-features {path}: precomputed features need a frozen vision tower, but the model "
                           "trains it (freeze_vision_tower=False)")
    if not path.is_file():
        raise BadInputFileError(f"--image-features {path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            features = handle.get_tensor("features") if "features" in handle.keys() else None
    except Exception as err:  # noqa: BLE001 - a corrupt file of any kind
        raise BadInputFileError(f"--image-features {path}: not a readable safetensors file ({err})") from None
    if metadata.get("format") != FEATURES_FORMAT or features is None:
        raise BadInputFileError(f"--image-features {path}: not an image-features file (write one with "
                                "'eeg2img image-features')")
    try:
        ids = json.loads(metadata["image_ids"])
    except (KeyError, json.JSONDecodeError):
        raise BadInputFileError(f"--image-features {path}: its image_ids metadata is missing or not JSON") from None
    if features.ndim != 2 or features.shape[0] != len(ids) or not bool(torch.isfinite(features).all()):
        raise BadInputFileError(f"--image-features {path}: features of shape {tuple(features.shape)} do not match "
                                f"its {len(ids)} image ids (or hold NaN / inf)")
    expected = tower_fields(config)
    for name, value in expected.items():
        if metadata.get(name) != value:
            raise BadInputFileError(f"--image-features {path} was computed with another {name} ({metadata.get(name)} "
                                    f"instead of {value})", hint="recompute it with 'eeg2img image-features' for "
                                    "this vision model and preset")
    if features.shape[1] != config.vision_embed_dim:
        raise BadInputFileError(f"--image-features {path}: {features.shape[1]} features per image, the tower gives "
                                f"{config.vision_embed_dim}")
    return features.float(), {image_id: i for i, image_id in enumerate(ids)}, metadata


def features_for_split(split: Any, features: torch.Tensor, rows: dict[str, int], path: Any) -> tuple:
    """`(cache, image_index)` of a split: the features of its unique images and each trial's row in that cache."""
    trial_ids = np.asarray(split["image_id"])
    unique, inverse = np.unique(trial_ids, return_inverse=True)
    missing = [str(i) for i in unique if str(i) not in rows]
    if missing:
        raise BadInputFileError(f"--image-features {path} has no features for {len(missing)} images of the dataset, "
                                f"e.g. {missing[0]!r}", hint="recompute it for this dataset")
    cache = features[torch.as_tensor([rows[str(i)] for i in unique], dtype=torch.long)]
    return cache, inverse.astype(np.int64)
