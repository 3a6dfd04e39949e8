"""EEGCVPR40 (Spampinato et al., CVPR 2017; Palazzo et al., TPAMI 2020) from its official `.pth` files.

The official distribution is a `torch.save` dict: `dataset` (a list of trials, each
`{"eeg": float tensor (128, L), "label": int, "image": int, "subject": int}`), `labels` (the 40 WordNet
ids) and `images` (the 2,000 image names, e.g. `"n02106662_10232"`); the split file
(`block_splits_by_image_all.pth` or `_single.pth`) holds `splits`, a list of `{"train", "val", "test"}`
index lists into `dataset`. The ImageNet pictures are not in the files and come from a folder.

[`convert_eegcvpr40`] follows the reference loader: trials whose length is outside
`[min_length, max_length]` are dropped (from their split too), the rest are cropped to samples
`[20, 460)`. Both files are read with `torch.load(weights_only=True)` (memory-mapped when the file is in
the zip format), so nothing in them can run code.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict, Value

from ...utils.safe_pickle import load_torch_file
from ..features import get_eeg_info
from ..preprocessing import crop as crop_eeg
from ..preprocessing import preprocessing_step
from ..simulate import EEGCVPR40_CLASSES
from .writer import write_eeg_dataset

__all__ = ["add_arguments", "convert_eegcvpr40", "load_torch_file", "run"]

SFREQ = 1000.0
"""Sampling rate of EEGCVPR40, in Hz."""

CITATION = (
    "Spampinato, C., Palazzo, S., Kavasidis, I., Giordano, D., Souly, N., Shah, M. Deep Learning Human Mind for "
    "Automated Visual Classification. CVPR 2017. Palazzo, S., Spampinato, C., Kavasidis, I., Giordano, D., "
    "Schmidt, J., Shah, M. Decoding Brain Representations by Multimodal Learning of Neural Activity and Visual "
    "Features. IEEE TPAMI 2020."
)
_WORDNET_NAMES = dict(EEGCVPR40_CLASSES)
_SPLIT_KEYS = {"train": "train", "val": "validation", "test": "test"}
_IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def _as_int(value: Any, where: str) -> int:
    """An int from a Python/numpy int or a 0-dim integer tensor (as torch.save may store labels)."""
    import torch

    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point() \
            and value.dtype != torch.bool:
        return int(value.item())
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{where} must be an int, got {type(value).__name__} {value!r:.40}")
    return int(value)


def _check_source(data: Any, name: str) -> tuple[list, list[str], list[str]]:
    """Validate the top level of the EEG file; returns `(dataset, labels, images)`."""
    expected = {"dataset", "labels", "images"}
    if not isinstance(data, dict) or not expected <= set(data):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{name} is not an EEGCVPR40 file: expected a dict with keys {sorted(expected)}, got {keys}")
    dataset, labels, images = data["dataset"], data["labels"], data["images"]
    if not isinstance(dataset, list) or not dataset:
        raise ValueError(f"{name}: 'dataset' must be a non-empty list of trials, got {type(dataset).__name__}")
    for key, values in (("labels", labels), ("images", images)):
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"{name}: {key!r} must be a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name}: 'labels' holds duplicate WordNet ids")
    return dataset, labels, images


def _check_trial(trial: Any, index: int, n_labels: int, n_images: int, name: str) -> tuple[Any, int, int, int]:
    """Validate one trial dict; returns `(eeg tensor, label, image index, subject)`."""
    import torch

    where = f"{name}: dataset[{index}]"
    if not isinstance(trial, dict) or not {"eeg", "label", "image", "subject"} <= set(trial):
        keys = sorted(trial) if isinstance(trial, dict) else type(trial).__name__
        raise ValueError(f"{where} must be a dict with keys ['eeg', 'image', 'label', 'subject'], got {keys}")
    eeg = trial["eeg"]
    if not isinstance(eeg, torch.Tensor) or eeg.ndim != 2 or not eeg.is_floating_point():
        desc = f"{tuple(eeg.shape)} {eeg.dtype}" if isinstance(eeg, torch.Tensor) else type(eeg).__name__
        raise ValueError(f"{where}['eeg'] must be a 2-D float tensor (n_chans, n_times), got {desc}")
    label = _as_int(trial["label"], f"{where}['label']")
    image = _as_int(trial["image"], f"{where}['image']")
    subject = _as_int(trial["subject"], f"{where}['subject']")
    if not 0 <= label < n_labels:
        raise ValueError(f"{where}['label'] = {label} is outside 0..{n_labels - 1}")
    if not 0 <= image < n_images:
        raise ValueError(f"{where}['image'] = {image} is outside 0..{n_images - 1} (the 'images' list)")
    if subject < 1:
        raise ValueError(f"{where}['subject'] = {subject}; EEGCVPR40 subjects are numbered from 1")
    return eeg, label, image, subject


def _read_splits(splits_file: str | os.PathLike, split_index: int, n_trials: int) -> dict[str, list[int]]:
    """The official split `split_index` as `{"train", "validation", "test"}` -> trial indices."""
    name = Path(splits_file).name
    data = load_torch_file(splits_file, "splits file")
    if not isinstance(data, dict) or not isinstance(data.get("splits"), list) or not data["splits"]:
        raise ValueError(f"{name} is not an EEGCVPR40 splits file: expected a dict with a non-empty list 'splits'")
    if isinstance(split_index, bool) or not isinstance(split_index, int) or not 0 <= split_index < len(data["splits"]):
        raise ValueError(f"split_index must be an int in 0..{len(data['splits']) - 1} for {name}, got {split_index!r}")
    entry = data["splits"][split_index]
    if not isinstance(entry, dict) or not set(_SPLIT_KEYS) <= set(entry):
        raise ValueError(f"{name}: splits[{split_index}] must be a dict with keys {sorted(_SPLIT_KEYS)}")
    out, seen = {}, {}
    for key, split in _SPLIT_KEYS.items():
        indices = [_as_int(i, f"{name}: splits[{split_index}][{key!r}] entry") for i in entry[key]]
        bad = [i for i in indices if not 0 <= i < n_trials]
        if bad:
            raise ValueError(f"{name}: splits[{split_index}][{key!r}] has indices outside 0..{n_trials - 1}: {bad[:5]}")
        for i in indices:
            if i in seen:
                raise ValueError(f"{name}: trial {i} is in both {seen[i]!r} and {key!r} of splits[{split_index}]")
            seen[i] = key
        out[split] = indices
    return out


def _index_images(images_dir: str | os.PathLike) -> dict[str, Path]:
    """Image name (file stem) -> path for `<dir>/<name>.<ext>` and `<dir>/<subfolder>/<name>.<ext>`."""
    root = Path(images_dir)
    if not root.is_dir():
        raise ValueError(f"images_dir {str(root)!r} is not a folder")
    found: dict[str, Path] = {}
    for path in sorted(root.glob("*")) + sorted(root.glob("*/*")):
        if path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file():
            found.setdefault(path.stem, path)
    return found


def _variant(file_name: str) -> str:
    """`"5-95 Hz"` for `eeg_5_95_std.pth`, `"raw"` for `eeg_signals_raw_with_mean_std.pth`, else the stem."""
    band = re.search(r"eeg_(\d+)_(\d+)", file_name)
    if band:
        return f"{band.group(1)}-{band.group(2)} Hz"
    return "raw" if "raw" in file_name.lower() else Path(file_name).stem


def _check_options(min_length: int, max_length: int, crop: Sequence[int] | None) -> tuple[int, int] | None:
    for key, value in (("min_length", min_length), ("max_length", max_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    if min_length > max_length:
        raise ValueError(f"min_length ({min_length}) must not exceed max_length ({max_length})")
    if crop is None:
        return None
    if len(crop) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in crop) \
            or not 0 <= crop[0] < crop[1]:
        raise ValueError(f"crop must be (start, stop) ints with 0 <= start < stop, got {crop!r}")
    return int(crop[0]), int(crop[1])


def _plan(
    dataset: list,
    labels: list[str],
    images: list[str],
    order: dict[str, list[int]],
    name: str,
    lengths: tuple[int, int],
    crop: tuple[int, int] | None,
) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """Validate every referenced trial and apply the length rule; returns kept indices and drop counts."""
    kept: dict[str, list[int]] = {}
    dropped = {"length": {}, "shorter_than_crop": {}}
    n_chans = None
    for split, indices in order.items():
        kept[split], n_length, n_short = [], 0, 0
        for i in indices:
            eeg, *_ = _check_trial(dataset[i], i, len(labels), len(images), name)
            if n_chans is None:
                n_chans = eeg.shape[0]
            elif eeg.shape[0] != n_chans:
                raise ValueError(f"{name}: dataset[{i}]['eeg'] has {eeg.shape[0]} channels, others have {n_chans}")
            length = eeg.shape[1]
            if not lengths[0] <= length <= lengths[1]:
                n_length += 1
            elif crop is not None and length < crop[1]:
                n_short += 1
            else:
                kept[split].append(i)
        dropped["length"][split], dropped["shorter_than_crop"][split] = n_length, n_short
    if not any(kept.values()):
        raise ValueError(f"{name}: no trial is left after the length rule {list(lengths)} and the crop {crop}")
    if crop is None:
        widths = {dataset[i]["eeg"].shape[1] for idx in kept.values() for i in idx}
        if len(widths) > 1:
            raise ValueError(f"{name}: kept trials have different lengths {sorted(widths)[:5]}...; pass a crop")
    return kept, {**dropped, "n_chans": n_chans}


def _rows(dataset: list, indices: list[int], split: str | None, images: list[str], image_paths: dict[str, Path],
          n_classes: int, crop: tuple[int, int] | None, name: str) -> Iterator[dict]:
    import torch

    for i in indices:
        trial = dataset[i]
        eeg = trial["eeg"].numpy() if trial["eeg"].dtype == torch.float32 else trial["eeg"].float().numpy()
        if not np.isfinite(eeg).all():
            raise ValueError(f"{name}: dataset[{i}]['eeg'] contains NaN or infinite values")
        eeg = crop_eeg(eeg, *crop) if crop is not None else np.array(eeg, dtype=np.float32)
        label, subject = _as_int(trial["label"], "label"), _as_int(trial["subject"], "subject")
        image_id = images[_as_int(trial["image"], "image")]
        row = {"eeg": eeg, "image": str(image_paths[image_id]), "label": label, "subject": subject,
               "image_id": image_id, "block": (subject - 1) * n_classes + label}
        if split is not None:
            row["official_split"] = split
        yield row


def convert_eegcvpr40(
    eeg_file: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    splits_file: str | os.PathLike | None = None,
    split_index: int = 0,
    images_dir: str | os.PathLike | None = None,
    min_length: int = 450,
    max_length: int = 600,
    crop: tuple[int, int] | None = (20, 460),
    overwrite: bool = False,
) -> DatasetDict:
    """Convert the official EEGCVPR40 `.pth` (plus split file and ImageNet images) to the package schema.

    Columns follow [`make_features`] plus `official_split`; `subject` comes from the file, `block` is
    `(subject - 1) * 40 + label` (each subject saw each class in one block), `image_id` is the image
    name and `image` the original JPEG bytes. Trials in no official split are dropped and counted.

    Args:
        eeg_file (`str` or `os.PathLike`):
            `eeg_signals_raw_with_mean_std.pth`, `eeg_5_95_std.pth`, ... (read with `weights_only=True`).
        output_dir (`str` or `os.PathLike`):
            Folder to write (the `DatasetDict.save_to_disk` layout).
        splits_file (`str` or `os.PathLike`, *optional*):
            `block_splits_by_image_all.pth` or `block_splits_by_image_single.pth`. Without it every kept
            trial goes to a single `train` split (and there is no `official_split` column).
        split_index (`int`, *optional*, defaults to 0):
            Which entry of the file's `splits` list to use (the papers use 0).
        images_dir (`str` or `os.PathLike`):
            Folder with the 2,000 images as `<name>.JPEG` (or `.jpg`, `.png`), directly or in `<wnid>/`
            subfolders. Required: missing images are an error.
        min_length (`int`, *optional*, defaults to 450):
            Shortest kept trial, in samples.
        max_length (`int`, *optional*, defaults to 600):
            Longest kept trial, in samples.
        crop (`tuple[int, int]`, *optional*, defaults to `(20, 460)`):
            Kept samples `[start, stop)`; `None` keeps whole trials (they must then all have one length).
            Kept trials shorter than `stop` are dropped and counted.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace an existing non-empty `output_dir`.

    Returns:
        `datasets.DatasetDict`, memory-mapped from `output_dir`; `get_eeg_info(ds)["split"]` holds the
        row counts and the dropped counts.
    """
    crop = _check_options(min_length, max_length, crop)
    if images_dir is None:
        raise ValueError("images_dir is required: EEGCVPR40 images are not inside the .pth files (use the 2,000 "
                         "ImageNet images named as in the file's 'images' list)")
    image_paths = _index_images(images_dir)  # checked first: the EEG file takes long to read
    name = Path(eeg_file).name
    dataset, labels, images = _check_source(load_torch_file(eeg_file, "EEG file"), name)
    if splits_file is not None:
        order = _read_splits(splits_file, split_index, len(dataset))
        in_split = {i for indices in order.values() for i in indices}
        not_in_split = len(dataset) - len(in_split)
    else:
        order, not_in_split = {"train": list(range(len(dataset)))}, 0
    kept, plan = _plan(dataset, labels, images, order, name, (min_length, max_length), crop)
    needed = sorted({images[_as_int(dataset[i]["image"], "image")] for idx in kept.values() for i in idx})
    missing = [image for image in needed if image not in image_paths]
    if missing:
        raise ValueError(f"{len(missing)} of {len(needed)} images are missing from {str(images_dir)!r}, e.g. "
                         f"{missing[:5]} (expected <name>.JPEG/.jpg/.png, directly or in a subfolder)")
    n_chans = plan["n_chans"]
    first = dataset[next(i for indices in kept.values() for i in indices)]["eeg"]
    n_times = crop[1] - crop[0] if crop is not None else first.shape[1]
    source_dtype = str(first.dtype).replace("torch.", "")
    steps = [preprocessing_step("select_length", min_length=min_length, max_length=max_length)]
    if source_dtype != "float32":
        steps.append(preprocessing_step("cast", dtype="float32", source_dtype=source_dtype))
    if crop is not None:
        steps.append(preprocessing_step("crop", start=crop[0], stop=crop[1], sfreq=SFREQ))
    counts = {split: len(indices) for split, indices in kept.items()}
    split_info: dict[str, Any] = {
        "strategy": "paper" if splits_file is not None else "none",
        "source": f"{Path(splits_file).name}[{split_index}]" if splits_file is not None else None,
        "counts": counts,
        "dropped": {"not_in_split": not_in_split, "length": plan["length"],
                    "shorter_than_crop": plan["shorter_than_crop"]},
    }
    info = {
        "name": "eegcvpr40",
        "variant": _variant(name),
        "source_file": name,
        "sfreq": SFREQ,
        "ch_names": [f"EEG{k:03d}" for k in range(1, n_chans + 1)],
        "ch_names_note": "channel names are not in the source file: EEG001.. are placeholders in file order",
        "n_chans": n_chans,
        "n_times": n_times,
        "class_ids": labels,
        "preprocessing": steps,
        "split": split_info,
        "simulated": False,
        "source": "EEGCVPR40 official .pth (perceivelab/eeg_visual_classification)",
        "license": None,
        "license_note": "no licence is stated by the distributors; ImageNet images follow the ImageNet terms",
        "citation": CITATION,
        "image_pairing": "shown",
    }
    class_names = [_WORDNET_NAMES.get(wnid, wnid) for wnid in labels]
    extra = {"official_split": Value("string")} if splits_file is not None else None
    rows = {split: _rows(dataset, indices, split if extra else None, images, image_paths, len(labels), crop, name)
            for split, indices in kept.items()}
    return write_eeg_dataset(output_dir, rows, n_chans=n_chans, n_times=n_times, class_names=class_names, info=info,
                             extra_columns=extra, overwrite=overwrite)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `eeg2img convert eegcvpr40`."""
    parser.add_argument("--eeg", required=True, help="official EEG .pth (e.g. eeg_5_95_std.pth)")
    parser.add_argument("--splits", required=True, help="block_splits_by_image_all.pth or _single.pth")
    parser.add_argument("--images", required=True, help="folder with the 2,000 ImageNet JPEGs")
    parser.add_argument("--output", required=True, help="output folder (DatasetDict.save_to_disk layout)")
    parser.add_argument("--split-index", type=int, default=0, help="entry of the splits list (default 0)")
    parser.add_argument("--min-length", type=int, default=450, help="shortest kept trial in samples")
    parser.add_argument("--max-length", type=int, default=600, help="longest kept trial in samples")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the conversion from parsed CLI arguments; returns the JSON summary."""
    ds = convert_eegcvpr40(args.eeg, args.output, splits_file=args.splits, split_index=args.split_index,
                           images_dir=args.images, min_length=args.min_length, max_length=args.max_length,
                           overwrite=args.overwrite)
    split = get_eeg_info(ds)["split"]
    return {"output": str(args.output), "rows": {k: len(v) for k, v in ds.items()}, "dropped": split["dropped"]}

