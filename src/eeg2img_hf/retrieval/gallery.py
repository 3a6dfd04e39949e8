"""A gallery of image embeddings for EEG->image retrieval, saved as one safetensors file with its provenance.

A [`GalleryIndex`] holds L2-normalised float32 image embeddings `(n_images, dim)`, the image ids, labels and
class names, where the images came from, and what produced the embeddings: the model's name, a SHA-256
fingerprint of the weights the image embeddings depend on, the image processor configuration, the package
version and the embedding size. `GalleryIndex.load(path, model=...)` refuses files that are not gallery
indexes, corrupt files, and indexes built with another model or preprocessing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .. import __version__
from ..models.eeg_clip import make_image_processor
from .search import half_matmul_is_accurate, normalize_embeddings, topk_search

__all__ = [
    "GALLERY_FORMAT",
    "GALLERY_FORMAT_VERSION",
    "GalleryIndex",
    "IMAGE_EXTENSIONS",
    "build_gallery",
    "default_image_processor",
    "embed_images",
    "image_processor_config",
    "image_tower_fingerprint",
]

GALLERY_FORMAT = "eeg2img_hf.gallery_index"
GALLERY_FORMAT_VERSION = 1
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_NORM_TOLERANCE = 1e-3
_UNKNOWN_LABEL = -1
_PREFILTER_MIN_ITEMS = 1 << 14
_PREFILTER_MAX_QUERIES = 4


# --------------------------------------------------------------------------------------------------
# Provenance


def image_tower_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 over every state-dict tensor that image embeddings depend on (image tower and projection).

    EEG-side tensors (names containing `"eeg"`), the logit scale and BatchNorm step counters do not change
    `get_image_features` and are left out, so retraining only the EEG tower keeps the fingerprint.

    Args:
        model (`torch.nn.Module`): An EEGClip-like model.

    Returns:
        `str`: hex digest.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        lowered = name.lower()
        if "eeg" in lowered or lowered.endswith(("logit_scale", "num_batches_tracked")):
            continue
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{data.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def image_processor_config(image_processor: Any) -> dict[str, Any]:
    """The JSON-comparable configuration of a transformers image processor (private keys dropped)."""
    if image_processor is None:
        return {}
    if not hasattr(image_processor, "to_dict"):
        kind = type(image_processor).__name__
        raise ValueError(f"image_processor must be a transformers image processor, got {kind}")
    config = json.loads(json.dumps(image_processor.to_dict(), sort_keys=True, default=str))
    return {k: v for k, v in config.items() if not k.startswith("_") and k != "processor_class"}


def default_image_processor(model: Any) -> Any:
    """The image processor saved with the model (`preprocessor_config.json` in its folder), else
    `make_image_processor(model.config)` from `eeg2img_hf.models.eeg_clip`."""
    folder = getattr(model, "name_or_path", "") or ""
    if folder and os.path.isfile(os.path.join(folder, "preprocessor_config.json")):
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(folder)

    return make_image_processor(model.config)


def _package_version() -> str:
    return __version__


# --------------------------------------------------------------------------------------------------
# Image sources


def _to_pil(image: Any, where: str) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] in (1, 3, 4):
        return Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).convert("RGB")
    raise ValueError(f"{where} must be a PIL image or a uint8 (H, W, C) array, got {type(image).__name__}")


def _open_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ValueError(f"{path} is not a readable image file: {err}") from err


class _DatasetImages:
    def __init__(self, dataset: Any, rows: list[int], image_column: str) -> None:
        self.dataset, self.rows, self.image_column = dataset, rows, image_column

    def get(self, indices: Sequence[int]) -> list[Image.Image]:
        rows = [self.rows[i] for i in indices]
        values = self.dataset.select_columns([self.image_column]).select(rows)[self.image_column]
        return [_to_pil(v, f"{self.image_column!r} of row {r}") for v, r in zip(values, rows)]


class _FolderImages:
    def __init__(self, root: Path, paths: list[str]) -> None:
        self.root, self.paths = root, paths

    def get(self, indices: Sequence[int]) -> list[Image.Image]:
        return [_open_image(self.root / self.paths[i]) for i in indices]


class _ListImages:
    def __init__(self, images: list[Any]) -> None:
        self.images = images

    def get(self, indices: Sequence[int]) -> list[Image.Image]:
        return [_to_pil(self.images[i], f"images[{i}]") for i in indices]


@dataclass
class _Collected:
    """Everything `build_gallery` reads from its `images` argument before embedding."""

    provider: Any
    image_ids: list[str]
    labels: list[int]
    class_names: list[str]
    sources: dict[str, Any]


def _from_dataset(dataset: Any, image_column: str, id_column: str, label_column: str) -> _Collected:
    """Unique images of a `datasets.Dataset` (first row of each `image_id`), with labels and class names."""
    columns = dataset.column_names
    if image_column not in columns:
        raise ValueError(f"the dataset has no {image_column!r} column (columns: {columns})")
    ids = [str(v) for v in dataset[id_column]] if id_column in columns else [str(i) for i in range(len(dataset))]
    labels = [int(v) for v in dataset[label_column]] if label_column in columns else [_UNKNOWN_LABEL] * len(ids)
    first: dict[str, int] = {}
    for row, image_id in enumerate(ids):
        if image_id not in first:
            first[image_id] = row
        elif labels[row] != labels[first[image_id]]:
            raise ValueError(f"image_id {image_id!r} has two labels ({labels[first[image_id]]} and {labels[row]})")
    if not first:
        raise ValueError("the dataset is empty: a gallery needs at least one image")
    rows = list(first.values())
    feature = dataset.features.get(label_column)
    class_names = list(getattr(feature, "names", None) or [])
    sources = {"kind": "dataset", "split": str(dataset.split) if dataset.split is not None else None,
               "dataset_fingerprint": getattr(dataset, "_fingerprint", None), "rows": rows,
               "image_column": image_column}
    return _Collected(_DatasetImages(dataset, rows, image_column), list(first), [labels[r] for r in rows],
                      class_names, sources)


def _from_folder(root: Path) -> _Collected:
    """Image files under `root` (sorted); one level of sub-folders = classes (ImageFolder layout)."""
    if not root.is_dir():
        raise ValueError(f"{str(root)!r} is not a folder of images")
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under {str(root)!r}")
    depths = {p.count("/") for p in paths}
    if depths == {1}:
        class_names = sorted({p.split("/")[0] for p in paths})
        labels = [class_names.index(p.split("/")[0]) for p in paths]
    else:
        class_names, labels = [], [_UNKNOWN_LABEL] * len(paths)
    sources = {"kind": "folder", "root": str(root.resolve()), "paths": paths}
    return _Collected(_FolderImages(root, paths), paths, labels, class_names, sources)


def _collect(images: Any, image_column: str, image_ids: Sequence[str] | None, labels: Sequence[int] | None,
             class_names: Sequence[str] | None) -> _Collected:
    from datasets import Dataset, DatasetDict

    if isinstance(images, DatasetDict):
        raise ValueError(f"got a DatasetDict with splits {list(images)}; pass one split, e.g. dataset['test']")
    if isinstance(images, Dataset):
        collected = _from_dataset(images, image_column, "image_id", "label")
    elif isinstance(images, (str, os.PathLike)):
        collected = _from_folder(Path(images))
    elif isinstance(images, (list, tuple)) and images:
        items = list(images)
        for i, image in enumerate(items):
            _to_pil(image, f"images[{i}]")
        collected = _Collected(_ListImages(items), [str(i) for i in range(len(items))], [_UNKNOWN_LABEL] * len(items),
                               [], {"kind": "images"})
    else:
        raise ValueError("images must be a datasets.Dataset with an image column, a folder of images or a non-empty "
                         f"list of PIL images, got {type(images).__name__}")
    n = len(collected.image_ids)
    if image_ids is not None:
        if len(image_ids) != n or len(set(map(str, image_ids))) != n:
            raise ValueError(f"image_ids must be {n} unique ids, got {len(image_ids)} ({len(set(image_ids))} unique)")
        collected.image_ids = [str(i) for i in image_ids]
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"labels must have {n} entries, got {len(labels)}")
        collected.labels = [int(v) for v in labels]
    if class_names is not None:
        collected.class_names = [str(c) for c in class_names]
    return collected


# --------------------------------------------------------------------------------------------------
# Embedding


@torch.no_grad()
def embed_images(
    model: Any, images: Sequence[Image.Image], image_processor: Any = None, batch_size: int = 64
) -> torch.Tensor:
    """Image embeddings `(n_images, dim)` (float32, L2-normalised) from `model.get_image_features`, in eval mode.

    Args:
        model: An EEGClip-like model with `get_image_features(pixel_values=...)`.
        images (`Sequence[PIL.Image.Image]`): The images.
        image_processor (*optional*): Transformers image processor; defaults to [`default_image_processor`].
        batch_size (`int`, *optional*, defaults to 64): Images per forward pass.
    """
    return _embed(model, _ListImages(list(images)), len(images), image_processor, batch_size)


def _embed(model: Any, provider: Any, n: int, image_processor: Any, batch_size: int) -> torch.Tensor:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not hasattr(model, "get_image_features"):
        raise ValueError(f"the model must have get_image_features (an EEGClip model), got {type(model).__name__}")
    processor = image_processor if image_processor is not None else default_image_processor(model)
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                batch = provider.get(range(start, min(start + batch_size, n)))
                pixels = processor(images=batch, return_tensors="pt")["pixel_values"]
                features = model.get_image_features(pixel_values=pixels.to(parameter.device, parameter.dtype))
                chunks.append(features.float().cpu())
    finally:
        model.train(was_training)
    return normalize_embeddings(torch.cat(chunks), "image embeddings")


# --------------------------------------------------------------------------------------------------
# The index


@dataclass
class GalleryIndex:
    """L2-normalised image embeddings with ids, labels and provenance; exact cosine search; safetensors I/O.

    Args:
        embeddings (`torch.Tensor` of shape `(n_images, dim)`): Image embeddings (normalised on construction).
        image_ids (`list[str]`): Unique id of each image.
        labels (`torch.Tensor` of shape `(n_images,)`): int64 class index per image, -1 when unknown.
        class_names (`list[str]`): Class names (label `i` is `class_names[i]`); empty when unknown.
        metadata (`dict`): Provenance: `model_name_or_path`, `model_fingerprint`, `image_processor`,
            `package_version`, `embed_dim`.
        sources (`dict`): Where the images came from (`kind`: `"dataset"`, `"folder"` or `"images"`).
    """

    embeddings: torch.Tensor
    image_ids: list[str]
    labels: torch.Tensor
    class_names: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    _images: Any = field(default=None, repr=False, compare=False)
    _half: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.embeddings = normalize_embeddings(self.embeddings, "embeddings").float().contiguous()
        n = self.embeddings.shape[0]
        self.image_ids = [str(i) for i in self.image_ids]
        if len(self.image_ids) != n or len(set(self.image_ids)) != n:
            raise ValueError(f"image_ids must be {n} unique ids, got {len(self.image_ids)} "
                             f"({len(set(self.image_ids))} unique)")
        self.labels = torch.as_tensor(self.labels)
        if self.labels.shape != (n,) or self.labels.dtype != torch.int64:
            raise ValueError(f"labels must be an int64 tensor of shape ({n},), got {self.labels.dtype} "
                             f"{tuple(self.labels.shape)}")
        if self.class_names and int(self.labels.max()) >= len(self.class_names):
            raise ValueError(f"labels reach {int(self.labels.max())} but there are {len(self.class_names)} class names")
        if int(self.labels.min()) < _UNKNOWN_LABEL:
            raise ValueError("labels must be >= 0, or -1 for unknown")
        self.metadata = {**self.metadata, "embed_dim": int(self.embeddings.shape[1])}

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def embed_dim(self) -> int:
        """Size of the embeddings."""
        return int(self.embeddings.shape[1])

    def search(
        self,
        query_embeds: torch.Tensor | np.ndarray,
        k: int = 10,
        gallery_block_size: int | None = None,
        prefilter: bool | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact cosine top-k over the gallery (see [`topk_search`]); ties -> lower index first.

        Args:
            query_embeds (`torch.Tensor` or `np.ndarray` of shape `(n_queries, dim)` or `(dim,)`): Queries
                (normalised here).
            k (`int`, *optional*, defaults to 10): Results per query, at most `len(self)`.
            gallery_block_size (`int`, *optional*): Gallery rows scored per block (float32 path).
            prefilter (`bool`, *optional*): Use the float16 pre-filter with float32 re-ranking (same result,
                faster for single queries on large galleries; keeps a float16 copy of the embeddings in memory).
                Default: for at most 4 queries over at least 16,384 images, when the CPU float16 matmul
                accumulates in float32 (batches are faster through the float32 matrix product).

        Returns:
            `(scores, indices)`, each `(n_queries, k)` (1-D for a 1-D query), best first.
        """
        if prefilter is None:  # float16 CPU matmuls run as one pass per query: only worth it for a few queries
            n_queries = 1 if getattr(query_embeds, "ndim", 2) == 1 else len(query_embeds)
            prefilter = (len(self) >= _PREFILTER_MIN_ITEMS and n_queries <= _PREFILTER_MAX_QUERIES
                         and half_matmul_is_accurate())
        half = None
        if prefilter:
            if self._half is None:
                self._half = self.embeddings.half()
            half = self._half
        return topk_search(query_embeds, self.embeddings, k, gallery_block_size=gallery_block_size, gallery_half=half)

    def label_name(self, index: int) -> str | int | None:
        """Class name of gallery item `index` (its integer label when no names are known, `None` if unknown)."""
        label = int(self.labels[index])
        if label == _UNKNOWN_LABEL:
            return None
        return self.class_names[label] if self.class_names else label

    @property
    def has_images(self) -> bool:
        """Whether [`get_images`] can return the pixels."""
        return self._images is not None

    def get_images(self, indices: Sequence[int]) -> list[Image.Image] | None:
        """PIL images of gallery items (RGB), or `None` when the gallery has no image source attached."""
        return None if self._images is None else self._images.get([int(i) for i in indices])

    def attach_images(self, images: Any, image_column: str = "image") -> GalleryIndex:
        """Attach the images of a loaded index: the dataset split or folder it was built from (ids must match)."""
        collected = _collect(images, image_column, None, None, None)
        lookup = {image_id: i for i, image_id in enumerate(collected.image_ids)}
        missing = [i for i in self.image_ids if i not in lookup]
        if missing:
            raise ValueError(f"{len(missing)} gallery image ids are not in the given images, e.g. {missing[:3]}")
        provider, order = collected.provider, [lookup[i] for i in self.image_ids]
        self._images = _Reordered(provider, order)
        return self

    # ---------------------------------------------------------------------------------------------- I/O

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> str:
        """Write the index as one safetensors file (tensors + JSON in the header metadata), atomically.

        Args:
            path (`str` or `os.PathLike`): Target file (conventionally `*.safetensors`).
            overwrite (`bool`, *optional*, defaults to `False`): Replace an existing file; otherwise refuse.

        Returns:
            `str`: the path written.
        """
        from safetensors.torch import save_file

        path = Path(path)
        if path.exists() and not overwrite:
            raise ValueError(f"{str(path)!r} already exists; pass overwrite=True to replace it")
        if path.is_dir():
            raise ValueError(f"{str(path)!r} is a folder; give a file path such as gallery.safetensors")
        tensors = {"embeddings": self.embeddings.contiguous(), "labels": self.labels.contiguous()}
        header = {"image_ids": self.image_ids, "class_names": self.class_names, "provenance": self.metadata,
                  "sources": self.sources, "content_sha256": _content_digest(tensors)}
        metadata = {"format": GALLERY_FORMAT, "format_version": str(GALLERY_FORMAT_VERSION),
                    "gallery": json.dumps(header, sort_keys=True)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            save_file(tensors, str(tmp), metadata=metadata)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return str(path)

    @classmethod
    def load(cls, path: str | os.PathLike, model: Any = None, image_processor: Any = None) -> GalleryIndex:
        """Read an index written by [`save`]; with `model`, refuse it unless it was built by that model.

        Args:
            path (`str` or `os.PathLike`): The safetensors file.
            model (*optional*): The EEGClip model that will query the index; its image-tower fingerprint,
                embedding size and image processor must match the index's provenance.
            image_processor (*optional*): The processor to compare against (default [`default_image_processor`]).

        Returns:
            [`GalleryIndex`], with a folder source re-attached when its files still exist.
        """
        tensors, header = _read_gallery_file(Path(path))
        index = cls(embeddings=tensors["embeddings"], image_ids=header["image_ids"], labels=tensors["labels"],
                    class_names=header["class_names"], metadata=header["provenance"],
                    sources=header["sources"])
        if model is not None:
            index.check_compatible(model, image_processor)
        sources = index.sources
        paths = [Path(p) for p in sources.get("paths", [])] if sources.get("kind") == "folder" else []
        inside = all(not p.is_absolute() and ".." not in p.parts for p in paths)  # never read outside the root
        if paths and inside and (Path(sources["root"]) / paths[0]).is_file():
            index._images = _FolderImages(Path(sources["root"]), [p.as_posix() for p in paths])
        return index

    def check_compatible(self, model: Any, image_processor: Any = None) -> None:
        """Raise `ValueError` if this index was not built by `model` (weights, embedding size, preprocessing)."""
        built_with = self.metadata.get("model_name_or_path") or "an unnamed model"
        name = getattr(model, "name_or_path", "") or "the given model"
        fix = "rebuild it with eeg2img_hf.retrieval.build_gallery(model, images)"
        dim = getattr(getattr(model, "config", None), "projection_dim", None)
        if dim is not None and int(dim) != self.embed_dim:
            raise ValueError(f"foreign gallery index: {self.embed_dim}-D embeddings (built with {built_with}) but "
                             f"{name} embeds into {dim}-D; {fix}")
        expected = self.metadata.get("model_fingerprint")
        actual = image_tower_fingerprint(model)
        if expected != actual:
            raise ValueError(f"stale or foreign gallery index: built with {built_with} (image-tower fingerprint "
                             f"{str(expected)[:12]}...) but {name} has fingerprint {actual[:12]}...; "
                             f"{fix}")
        processor = image_processor if image_processor is not None else default_image_processor(model)
        saved, current = self.metadata.get("image_processor", {}), image_processor_config(processor)
        if saved != current:
            changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
            raise ValueError(f"stale gallery index: it was built with different image preprocessing (differs in "
                             f"{changed}); {fix}")


class _Reordered:
    def __init__(self, provider: Any, order: list[int]) -> None:
        self.provider, self.order = provider, order

    def get(self, indices: Sequence[int]) -> list[Image.Image]:
        return self.provider.get([self.order[i] for i in indices])


def _content_digest(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _read_gallery_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Open and verify a gallery file: safetensors, our format marker, expected tensors, intact content."""
    from safetensors import safe_open

    if not path.is_file():
        raise ValueError(f"gallery index {str(path)!r} does not exist or is not a file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            names = list(handle.keys())
            if metadata.get("format") != GALLERY_FORMAT:
                raise ValueError(f"{str(path)!r} is a safetensors file but not an eeg2img_hf gallery index (no "
                                 f"{GALLERY_FORMAT!r} marker; tensors {names[:5]})")
            if set(names) != {"embeddings", "labels"}:
                raise ValueError(f"corrupt gallery index {str(path)!r}: expected tensors embeddings and labels, "
                                 f"got {names}")
            tensors = {name: handle.get_tensor(name) for name in names}
    except ValueError:
        raise
    except Exception as err:  # safetensors raises its own error type for truncated or garbled files
        raise ValueError(f"{str(path)!r} is not a readable safetensors file (corrupt or truncated): {err}") from err
    version = metadata.get("format_version", "")
    if not version.isdigit() or int(version) > GALLERY_FORMAT_VERSION:
        raise ValueError(f"gallery index {str(path)!r} has format version {version!r}; this eeg2img_hf reads up "
                         f"to {GALLERY_FORMAT_VERSION}: upgrade the package")
    try:
        header = json.loads(metadata.get("gallery", ""))
        required = ("image_ids", "class_names", "provenance", "sources", "content_sha256")
        if not isinstance(header, dict) or any(key not in header for key in required):
            raise ValueError(f"missing keys, expected {required}")
    except ValueError as err:
        raise ValueError(f"corrupt gallery index {str(path)!r}: its header metadata is unreadable ({err})") from err
    if tensors["embeddings"].dtype != torch.float32 or tensors["labels"].dtype != torch.int64:
        raise ValueError(f"corrupt gallery index {str(path)!r}: expected float32 embeddings and int64 labels")
    if header["content_sha256"] != _content_digest(tensors):
        raise ValueError(f"corrupt gallery index {str(path)!r}: its tensors do not match the stored checksum")
    norms = tensors["embeddings"].norm(dim=1) if tensors["embeddings"].ndim == 2 else None
    if norms is None or not bool(((norms - 1).abs() < _NORM_TOLERANCE).all()):
        raise ValueError(f"corrupt gallery index {str(path)!r}: embeddings are not an (n, dim) L2-normalised matrix")
    return tensors, header


def build_gallery(
    model: Any,
    images: Any,
    image_processor: Any = None,
    batch_size: int = 64,
    *,
    image_column: str = "image",
    image_ids: Sequence[str] | None = None,
    labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
) -> GalleryIndex:
    """Embed a set of images with an EEGClip model's image tower into a [`GalleryIndex`].

    Args:
        model: EEGClip model (`get_image_features`), run in eval mode on its own device.
        images: A `datasets.Dataset` with an image column (deduplicated by its `image_id` column, labels and
            class names from `label`), a folder of images (sub-folders = classes when every file sits one
            level deep; ids = relative paths), or a list of PIL images (ids `"0"`, `"1"`, ...).
        image_processor (*optional*): Transformers image processor; default [`default_image_processor`].
        batch_size (`int`, *optional*, defaults to 64): Images per forward pass.
        image_column (`str`, *optional*, defaults to `"image"`): Image column of a dataset.
        image_ids, labels, class_names (*optional*): Override the ids / int labels / class names found.

    Returns:
        [`GalleryIndex`] with provenance (model name, image-tower fingerprint, processor config, version).
    """
    collected = _collect(images, image_column, image_ids, labels, class_names)
    processor = image_processor if image_processor is not None else default_image_processor(model)
    embeddings = _embed(model, collected.provider, len(collected.image_ids), processor, batch_size)
    metadata = {
        "model_name_or_path": getattr(model, "name_or_path", "") or "",
        "model_type": getattr(getattr(model, "config", None), "model_type", None),
        "model_fingerprint": image_tower_fingerprint(model),
        "image_processor": image_processor_config(processor),
        "package_version": _package_version(),
    }
    return GalleryIndex(embeddings=embeddings, image_ids=collected.image_ids,
                        labels=torch.tensor(collected.labels, dtype=torch.int64), class_names=collected.class_names,
                        metadata=metadata, sources=collected.sources, _images=collected.provider)
