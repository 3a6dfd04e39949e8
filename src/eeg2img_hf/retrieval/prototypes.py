"""Class prototypes in an EEG embedding space: what an embedding "decodes to".

A prototype is the mean encoder embedding of one class's trials (normally the training split), L2-normalised; an
embedding, from an EEG trial or predicted from an image by an image -> EEG model, decodes to the prototype it is
most cosine-similar to. This is the nearest-class-mean classifier of the EEG feature space.

```python
>>> from eeg2img_hf.retrieval.prototypes import compute_class_prototypes
>>> prototypes = compute_class_prototypes(gan.eeg_encoder, train_eeg, train_labels, class_names)
>>> prototypes.decode(embedding, top_k=3)       # [("Apple", 0.91), ("Car", 0.40), ("Dog", 0.12)]
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .search import normalize_embeddings

__all__ = ["ClassPrototypes", "compute_class_prototypes"]


@dataclass
class ClassPrototypes:
    """Unit-norm class prototypes `(n_classes, dim)` of an EEG embedding space.

    Attributes:
        embeds (`torch.Tensor`): float32 `(n_classes, dim)`, rows of unit norm; row `c` is class `c`.
        class_names (`list[str]`): Class names in label order.
        counts (`list[int]`): Trials averaged per class (0: the class had no trial; its row is never chosen).
    """

    embeds: torch.Tensor
    class_names: list[str]
    counts: list[int]

    def scores(self, embeds: torch.Tensor | np.ndarray) -> np.ndarray:
        """Cosine similarity of each embedding `(n, dim)` (or one `(dim,)`) with each prototype: `(n, n_classes)`;
        classes without trials score `-inf`."""
        tensor = torch.as_tensor(np.asarray(embeds, dtype=np.float32) if isinstance(embeds, np.ndarray) else embeds)
        tensor = tensor.detach().float().cpu().reshape(-1, tensor.shape[-1])
        if tensor.shape[1] != self.embeds.shape[1]:
            raise ValueError(f"embeddings have {tensor.shape[1]} dimensions, the prototypes {self.embeds.shape[1]}")
        scores = (normalize_embeddings(tensor, "embeddings") @ self.embeds.T).numpy()
        scores[:, np.asarray(self.counts) == 0] = -np.inf
        return scores

    def decode(self, embed: torch.Tensor | np.ndarray, top_k: int = 3) -> list[tuple[str, float]]:
        """The `top_k` closest classes of one embedding, as `(class name, cosine similarity)`, best first."""
        scores = self.scores(embed)[0]
        order = np.argsort(-scores, kind="stable")[: max(1, min(top_k, int(np.isfinite(scores).sum())))]
        return [(self.class_names[c], float(scores[c])) for c in order]


@torch.no_grad()
def compute_class_prototypes(
    encoder: Any,
    eeg: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    batch_size: int = 256,
) -> ClassPrototypes:
    """Mean embedding per class of EEG trials `(n, n_chans, n_times)` through `encoder`, L2-normalised.

    Args:
        encoder: An EEG encoder returning `.eeg_embeds` for `encoder(eeg_values=...)` (e.g. an `EEGStyleGANModel`'s
            `eeg_encoder`, the encoder image -> EEG models are trained to match).
        eeg (`np.ndarray`): float trials `(n, n_chans, n_times)`.
        labels: The class index of each trial, in `[0, len(class_names))`.
        class_names (`Sequence[str]`): Class names in label order.
        batch_size (`int`, *optional*, defaults to 256): Trials per forward pass.
    """
    eeg = np.asarray(eeg, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if eeg.ndim != 3 or len(eeg) == 0 or labels.shape != (len(eeg),):
        raise ValueError(f"expected trials (n, n_chans, n_times) and n labels, got {eeg.shape} and {labels.shape}")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise ValueError(f"labels must lie in [0, {len(class_names)}), got [{labels.min()}, {labels.max()}]")
    parameter = next(encoder.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    chunks = [encoder(eeg_values=torch.from_numpy(eeg[start:start + batch_size]).to(device)).eeg_embeds.float().cpu()
              for start in range(0, len(eeg), batch_size)]
    embeds = normalize_embeddings(torch.cat(chunks), "EEG embeddings")
    sums = torch.zeros(len(class_names), embeds.shape[1]).index_add_(0, torch.from_numpy(labels), embeds)
    counts = np.bincount(labels, minlength=len(class_names))
    means = sums / torch.from_numpy(np.maximum(counts, 1)).float()[:, None]
    means[torch.from_numpy(counts == 0)] = 1.0  # placeholder rows (never chosen: scored -inf)
    return ClassPrototypes(normalize_embeddings(means, "class means"), [str(n) for n in class_names],
                           [int(c) for c in counts])
