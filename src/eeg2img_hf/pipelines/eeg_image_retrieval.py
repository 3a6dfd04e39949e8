"""`eeg-image-retrieval` pipeline: EEG trials -> the closest gallery images under an EEGClip model.

The gallery (a [`GalleryIndex`], a saved index file, a `datasets.Dataset` with an image column, or a folder of
images) is embedded once with the model's image tower and cached on the pipeline; saved indexes are checked
against the model (weights fingerprint, embedding size, image preprocessing) and refused when stale or foreign.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..retrieval import GalleryIndex, build_gallery
from .eeg_to_image import _BatchedPipeline, _eeg_request, _encode_in_chunks, _read_eeg_batch

__all__ = ["EEGImageRetrievalPipeline"]

TASK = "eeg-image-retrieval"


class EEGImageRetrievalPipeline(_BatchedPipeline):
    """EEG -> image retrieval with an [`EEGClipModel`]: each trial's `top_k` nearest gallery images (cosine).

    Inputs (as in `"eeg-to-image"`): one trial `(n_chans, n_times)`, a batch `(batch_size, n_chans, n_times)`,
    a list of trials, a `datasets` row / list of rows / `Dataset` with an `eeg` column, or precomputed joint-space
    embeddings via `pipe(eeg_embeds=...)`. Float16/float64 become float32; integer arrays are refused.

    Call arguments:
        gallery: a [`GalleryIndex`], the path of a saved index (`*.safetensors`), a `datasets.Dataset` with an
            `image` column (deduplicated by `image_id`), or a folder of images. Built/loaded once and cached;
            it can also be given once to `pipeline(..., gallery=...)`.
        top_k (`int`, defaults to 5): results per trial, from 1 to the gallery size (larger values are refused).
        return_images (`bool`, defaults to `True`): add the PIL image of each hit when the gallery can provide it.
        batch_size (`int`): trials per encoder forward pass.

    Returns:
        Per trial a list of `top_k` hits, each a dict `{"score": float, "index": int, "image_id": str, "label": str |
        int | None, "image": PIL.Image}` (`"image"` only with `return_images` and a gallery that holds images),
        sorted by decreasing score (equal scores: lower gallery index first), as transformers' classification
        pipelines return their labels. A single trial (an `(n_chans, n_times)` array, a row, one `(projection_dim,)`
        embedding) gives one such list; every batched form gives a list of them, one per trial in input order, even
        for a batch of one.

    Example:
    ```python
    >>> pipe = pipeline("eeg-image-retrieval", model="path/to/eegclip", gallery=dataset["test"])
    >>> pipe(eeg, top_k=3)  # eeg: (n_chans, n_times) float32
    ```
    """

    def __init__(self, model: Any, *args: Any, **kwargs: Any) -> None:
        config = getattr(model, "config", None)
        if not (hasattr(model, "get_eeg_features") and hasattr(model, "get_image_features")
                and getattr(config, "encoder_config", None) is not None):
            raise ValueError(f"The eeg-image-retrieval pipeline needs an EEGClip model, got {type(model).__name__}.")
        self._galleries: dict[Any, GalleryIndex] = {}
        super().__init__(model, *args, **kwargs)
        self.model.eval()

    def __call__(self, inputs: Any = None, **kwargs: Any) -> Any:
        """Retrieves gallery images; see the class docstring. `pipe(eeg_embeds=x)` takes joint-space embeddings."""
        return super().__call__(_eeg_request(inputs, kwargs), **kwargs)

    def _sanitize_parameters(
        self,
        gallery: Any = None,
        top_k: int | None = None,
        return_images: bool | None = None,
        forward_batch_size: int | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        for name, value in (("top_k", top_k), ("batch_size", forward_batch_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if return_images is not None and not isinstance(return_images, bool):
            raise ValueError(f"`return_images` must be True or False, got {return_images!r}.")
        forward: dict[str, Any] = {}
        if gallery is not None:
            forward["gallery"] = self._resolve_gallery(gallery)
        if top_k is not None:
            forward["top_k"] = top_k
        if forward_batch_size is not None:
            forward["batch_size"] = forward_batch_size
        postprocess = {} if return_images is None else {"return_images": return_images}
        return {}, forward, postprocess

    def _resolve_gallery(self, gallery: Any) -> GalleryIndex:
        """Turn any accepted gallery form into a checked [`GalleryIndex`], embedding images at most once."""
        from datasets import Dataset

        if isinstance(gallery, GalleryIndex):
            key: Any = ("index", id(gallery))
        elif isinstance(gallery, Dataset):
            key = ("dataset", gallery._fingerprint)
        elif isinstance(gallery, (str, os.PathLike)):
            path = Path(gallery).resolve()
            if path.is_file():
                stat = path.stat()
                key = ("file", str(path), stat.st_mtime_ns, stat.st_size)
            elif path.is_dir():
                key = ("folder", str(path))
            else:
                raise ValueError(f"gallery {str(gallery)!r} is neither a saved gallery index file nor a folder of "
                                 "images")
        else:
            raise ValueError("`gallery` must be a GalleryIndex, the path of a saved index, a datasets.Dataset with an "
                             f"image column or a folder of images; got {type(gallery).__name__}")
        if key not in self._galleries:
            processor = self.image_processor
            if key[0] == "index":
                gallery.check_compatible(self.model, processor)
                index = gallery
            elif key[0] == "file":
                index = GalleryIndex.load(key[1], model=self.model, image_processor=processor)
            else:
                index = build_gallery(self.model, gallery, image_processor=processor)
            self._galleries[key] = index
        return self._galleries[key]

    def preprocess(self, inputs: Any) -> dict[str, Any]:
        """Validates and stacks the input into one `(batch_size, n_chans, n_times)` (or embeddings) batch."""
        config = self.model.config
        key, tensor, single = _read_eeg_batch(inputs, config.encoder_config, config.projection_dim)
        return {key: tensor, "single": single}

    def _forward(
        self,
        model_inputs: dict[str, Any],
        gallery: GalleryIndex | None = None,
        top_k: int = 5,
        batch_size: int | None = None,
    ) -> dict[str, Any]:
        """Embeds the trials (in chunks of `batch_size`) and searches the gallery."""
        if gallery is None:
            raise ValueError("No gallery: pass `gallery=` (a GalleryIndex, a saved index path, a dataset with an "
                             "image column or a folder of images) to the pipeline or to the call.")
        if top_k > len(gallery):
            raise ValueError(f"`top_k` must be at most the gallery size: top_k={top_k} is larger than the gallery "
                             f"({len(gallery)} images).")
        embeds = model_inputs.get("eeg_embeds")
        if embeds is None:
            embeds = _encode_in_chunks(self.model.get_eeg_features, model_inputs["eeg_values"].to(self.model.dtype),
                                       batch_size)
        scores, indices = gallery.search(embeds.float().cpu(), k=top_k)
        return {"scores": scores, "indices": indices, "gallery": gallery, "single": model_inputs["single"]}

    def postprocess(self, model_outputs: dict[str, Any], return_images: bool = True) -> Any:
        """One list of `{"score", "index", "image_id", "label", "image"}` dicts per trial, best first."""
        gallery: GalleryIndex = model_outputs["gallery"]
        results = []
        for scores, indices in zip(model_outputs["scores"].tolist(), model_outputs["indices"].tolist()):
            images = gallery.get_images(indices) if return_images and gallery.has_images else None
            hits = []
            for rank, (score, index) in enumerate(zip(scores, indices)):
                hit = {"score": float(score), "index": int(index), "image_id": gallery.image_ids[index],
                       "label": gallery.label_name(index)}
                if images is not None:
                    hit["image"] = images[rank]
                hits.append(hit)
            results.append(hits)
        return results[0] if model_outputs["single"] else results
