"""EEG->image retrieval: a safetensors gallery index of image embeddings and exact chunked cosine top-k search.

```python
>>> from eeg2img_hf.retrieval import GalleryIndex, build_gallery
>>> index = build_gallery(clip_model, dataset["test"])          # unique images, embedded once
>>> index.save("test_gallery.safetensors")
>>> index = GalleryIndex.load("test_gallery.safetensors", model=clip_model)  # refuses stale/foreign files
>>> scores, indices = index.search(clip_model.get_eeg_features(eeg), k=10)
```
"""

from __future__ import annotations

from .gallery import (
    GALLERY_FORMAT,
    GALLERY_FORMAT_VERSION,
    IMAGE_EXTENSIONS,
    GalleryIndex,
    build_gallery,
    default_image_processor,
    embed_images,
    image_processor_config,
    image_tower_fingerprint,
)
from .search import half_matmul_is_accurate, normalize_embeddings, topk_search

__all__ = [
    "GALLERY_FORMAT",
    "GALLERY_FORMAT_VERSION",
    "IMAGE_EXTENSIONS",
    "GalleryIndex",
    "build_gallery",
    "default_image_processor",
    "embed_images",
    "image_processor_config",
    "half_matmul_is_accurate",
    "image_tower_fingerprint",
    "normalize_embeddings",
    "topk_search",
]
