"""`eeg2img build-gallery`: embed a dataset split or a folder of images into a saved gallery index."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..utils.errors import Eeg2ImgError
from ..utils.model_folders import check_model_folder, load_model_folder, read_safetensors_header
from ..utils.outputs import prepare_output_file
from ._run_options import add_allow_unfinished_option


def cmd_build_gallery(ns: argparse.Namespace) -> None:
    """Build a [`GalleryIndex`] with an EEGClip model and save it as one safetensors file (never overwriting)."""
    from ..models.eeg_clip import EEGClipModel
    from ..retrieval import build_gallery

    # Fail before the (slow) embedding, not after it: the output, then the model folder.
    prepare_output_file(ns.output, inputs={"model": ns.model, "images": ns.images}, overwrite=ns.overwrite,
                        is_own=_is_gallery_file, what="--output")
    output = Path(ns.output)
    check_model_folder(ns.model, "eeg2img_eeg_clip", allow_unfinished=ns.allow_unfinished)
    source = Path(ns.images)
    if source.is_dir() and not (source / "dataset_dict.json").exists():
        images = source  # a folder of image files
    else:
        from ..data import load_eeg_dataset

        data = load_eeg_dataset(ns.images)
        if ns.split not in data:
            raise ValueError(f"the dataset has no {ns.split!r} split (splits: {list(data)})")
        images = data[ns.split]
    model = load_model_folder(EEGClipModel, ns.model)
    if ns.device:
        model = model.to(ns.device)
    index = build_gallery(model, images, batch_size=ns.batch_size)
    index.save(output, overwrite=ns.overwrite)
    print(json.dumps({"saved": str(output), "images": len(index), "embed_dim": index.embed_dim,
                      "classes": len(index.class_names), "source": index.sources.get("kind")}))


def _is_gallery_file(path: Path) -> bool:
    """Whether `path` is a gallery index this package wrote (safetensors with the gallery format marker)."""
    from ..retrieval.gallery import GALLERY_FORMAT

    try:
        metadata = read_safetensors_header(path).get("__metadata__") or {}
    except Eeg2ImgError:
        return False
    return isinstance(metadata, dict) and metadata.get("format") == GALLERY_FORMAT


def register(subparsers) -> None:
    """Add `build-gallery` to the `eeg2img` sub-commands."""
    p = subparsers.add_parser("build-gallery", help="embed images once into a gallery index for eeg-image-retrieval")
    p.add_argument("model", help="EEGClipModel folder (save_pretrained)")
    p.add_argument("images", help="folder of images, preset name, sim:<preset> or a saved DatasetDict folder")
    p.add_argument("--output", required=True, help="gallery index file to write (e.g. gallery.safetensors)")
    p.add_argument("--split", default="test", help="dataset split whose unique images form the gallery")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--device")
    add_allow_unfinished_option(p)
    p.set_defaults(func=cmd_build_gallery)
