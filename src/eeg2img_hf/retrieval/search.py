"""Exact cosine top-k search over an embedding gallery, chunked so memory stays bounded.

Scores are computed block by block (`torch.topk` on `queries @ gallery_block.T`), then the per-block
candidates are merged. Ties are broken deterministically: among equal scores the lower gallery index
comes first, both inside a block and across blocks.

Large galleries can add a float16 pre-filter (`gallery_half=`): a float16 matmul reads half the bytes (the
single-query cost is memory bandwidth), every item whose float16 score is within twice the worst-case float16
error of the k-th best float16 score is kept, and those candidates are re-scored in float32. The error bound
holds for unit vectors when float16 products are accumulated in float32, which [`half_matmul_is_accurate`]
checks once per process; the result is then the same top-k as the float32 search.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = ["half_matmul_is_accurate", "normalize_embeddings", "topk_search"]

# One score block holds at most about this many float32 values (16 MiB).
_BLOCK_ELEMENTS = 1 << 22
_HALF_ROUNDOFF = 2.0**-11  # unit roundoff of float16
_FLOAT_ROUNDOFF = 2.0**-24  # unit roundoff of float32


def _half_error_bound(dim: int) -> float:
    """Worst |float16 score - exact score| for unit vectors: input rounding of both sides (one roundoff each),
    rounding of the float16 result (|score| <= 1), float32 accumulation over `dim` products."""
    return 3 * _HALF_ROUNDOFF + dim * _FLOAT_ROUNDOFF


@functools.lru_cache(maxsize=1)
def half_matmul_is_accurate() -> bool:
    """Whether this torch build's CPU float16 matmul accumulates in float32 (needed by the float16 pre-filter)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(16, 256, generator=generator), dim=1).half()
    b = torch.nn.functional.normalize(torch.randn(2048, 256, generator=generator), dim=1).half()
    try:
        approx = (a @ b.T).double()
    except RuntimeError:  # no float16 matmul on this build
        return False
    exact = a.double() @ b.double().T
    return bool(((approx - exact).abs() <= _HALF_ROUNDOFF / 2 + 256 * _FLOAT_ROUNDOFF).all())


def normalize_embeddings(embeds: torch.Tensor | np.ndarray, name: str = "embeddings") -> torch.Tensor:
    """L2-normalise the rows of a float `(n, dim)` matrix, refusing NaN/inf and all-zero rows.

    Args:
        embeds (`torch.Tensor` or `np.ndarray` of shape `(n, dim)`): Floating-point embeddings.
        name (`str`, *optional*, defaults to `"embeddings"`): Name used in error messages.

    Returns:
        `torch.Tensor` of shape `(n, dim)`, float32 (float64 input stays float64), rows of unit norm.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(embeds)) if isinstance(embeds, np.ndarray) else embeds
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {type(embeds).__name__}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be floating point, got dtype {tensor.dtype}")
    if tensor.ndim != 2 or tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n, dim) with n, dim > 0, got {tuple(tensor.shape)}")
    tensor = tensor.detach()
    if tensor.dtype != torch.float64:
        tensor = tensor.float()
    bad = ~torch.isfinite(tensor).all(dim=1)
    if bool(bad.any()):
        raise ValueError(f"{name} contains NaN or inf values (rows {bad.nonzero().flatten().tolist()[:10]})")
    norms = tensor.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        zero = (norms[:, 0] == 0).nonzero().flatten().tolist()[:10]
        raise ValueError(f"{name} has all-zero rows {zero}; cosine similarity is undefined for them")
    return tensor / norms


def _order_candidates(values: torch.Tensor, indices: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort candidates by (score descending, index ascending) and keep the first `k` of each row."""
    by_index = torch.argsort(indices, dim=1, stable=True)
    values, indices = values.gather(1, by_index), indices.gather(1, by_index)
    by_score = torch.argsort(values, dim=1, descending=True, stable=True)
    return values.gather(1, by_score)[:, :k], indices.gather(1, by_score)[:, :k]


def _block_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of each row of a score block; ties at the cut keep the lowest column indices."""
    values, indices = torch.topk(scores, k, dim=1, largest=True, sorted=True)
    threshold = values[:, -1:]
    excess = (scores >= threshold).sum(dim=1) > k  # rows where torch.topk had a free choice among tied scores
    for row in excess.nonzero().flatten().tolist():
        above = (scores[row] > threshold[row]).nonzero().flatten()
        tied = (scores[row] == threshold[row]).nonzero().flatten()[: k - above.numel()]
        chosen = torch.cat([above, tied])
        values[row], indices[row] = scores[row, chosen], chosen
    return _order_candidates(values, indices, k)


def _prefiltered_topk(
    queries: torch.Tensor, gallery: torch.Tensor, gallery_half: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """float16 scores -> candidates within 2 x the error bound of the k-th -> exact float32 re-ranking."""
    margin = 2 * _half_error_bound(gallery.shape[1])
    query_block = max(1, _BLOCK_ELEMENTS // gallery.shape[0])
    values, indices = [], []
    for start in range(0, queries.shape[0], query_block):
        block = queries[start : start + query_block]
        coarse = (block.half() @ gallery_half.T).float()  # (b, n_gallery)
        kth = torch.topk(coarse, k, dim=1, sorted=True).values[:, -1:]
        keep = coarse >= kth - margin  # contains every item whose exact score reaches the exact k-th score
        for row in range(block.shape[0]):
            candidates = keep[row].nonzero().flatten()
            exact = gallery[candidates] @ block[row]
            v, i = _order_candidates(exact[None], candidates[None], k)
            values.append(v)
            indices.append(i)
    return torch.cat(values), torch.cat(indices)


def topk_search(
    query_embeds: torch.Tensor | np.ndarray,
    gallery_embeds: torch.Tensor,
    k: int = 10,
    *,
    gallery_block_size: int | None = None,
    normalize_queries: bool = True,
    gallery_half: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact cosine top-k of every query over a gallery of L2-normalised embeddings.

    Args:
        query_embeds (`torch.Tensor` or `np.ndarray` of shape `(n_queries, dim)` or `(dim,)`): Queries; they
            are L2-normalised first unless `normalize_queries=False`.
        gallery_embeds (`torch.Tensor` of shape `(n_gallery, dim)`): L2-normalised gallery embeddings.
        k (`int`, *optional*, defaults to 10): Results per query, `1 <= k <= n_gallery`.
        gallery_block_size (`int`, *optional*): Gallery rows scored per block (default: 65,536 or fewer).
        normalize_queries (`bool`, *optional*, defaults to `True`): L2-normalise the queries.
        gallery_half (`torch.Tensor` of shape `(n_gallery, dim)`, *optional*): `gallery_embeds.half()`; turns on
            the float16 pre-filter with float32 re-ranking (same result, about half the memory traffic). Needs
            unit-norm gallery rows, `normalize_queries=True` and [`half_matmul_is_accurate`].

    Returns:
        `(scores, indices)`: float `(n_queries, k)` cosine similarities, highest first, and int64 `(n_queries,
        k)` gallery row indices; equal scores are ordered by ascending index. A 1-D query gives 1-D outputs.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if gallery_embeds.ndim != 2 or gallery_embeds.shape[0] == 0:
        raise ValueError(f"gallery_embeds must have shape (n_gallery, dim) with n_gallery > 0, got "
                         f"{tuple(gallery_embeds.shape)}")
    n_gallery, dim = gallery_embeds.shape
    if k > n_gallery:
        raise ValueError(f"k={k} is larger than the gallery ({n_gallery} items)")
    single = getattr(query_embeds, "ndim", None) == 1
    queries = query_embeds[None] if single else query_embeds
    queries = normalize_embeddings(queries, "query_embeds") if normalize_queries else torch.as_tensor(queries)
    if queries.shape[1] != dim:
        raise ValueError(f"query_embeds have dim {queries.shape[1]} but the gallery has dim {dim}")
    queries = queries.to(gallery_embeds.dtype)
    if gallery_half is not None:
        if gallery_half.shape != gallery_embeds.shape or gallery_half.dtype != torch.float16:
            raise ValueError(f"gallery_half must be a float16 tensor of shape {tuple(gallery_embeds.shape)}")
        if not normalize_queries or gallery_embeds.dtype != torch.float32 or not half_matmul_is_accurate():
            raise ValueError("the float16 pre-filter needs float32 unit-norm embeddings, normalize_queries=True "
                             "and a float16 matmul that accumulates in float32 (see half_matmul_is_accurate)")
        scores, indices = _prefiltered_topk(queries, gallery_embeds, gallery_half, int(k))
        return (scores[0], indices[0]) if single else (scores, indices)
    block = int(gallery_block_size or min(n_gallery, 1 << 16))
    if block < 1:
        raise ValueError(f"gallery_block_size must be positive, got {gallery_block_size!r}")
    query_block = max(1, _BLOCK_ELEMENTS // min(block, n_gallery))
    all_scores, all_indices = [], []
    for q_start in range(0, queries.shape[0], query_block):
        query = queries[q_start : q_start + query_block]
        values, indices = [], []
        for g_start in range(0, n_gallery, block):
            scores = query @ gallery_embeds[g_start : g_start + block].T  # (q, block)
            v, i = _block_topk(scores, min(k, scores.shape[1]))
            values.append(v)
            indices.append(i + g_start)
        v, i = (values[0], indices[0]) if len(values) == 1 else _order_candidates(
            torch.cat(values, dim=1), torch.cat(indices, dim=1), k)
        all_scores.append(v)
        all_indices.append(i)
    scores, indices = torch.cat(all_scores), torch.cat(all_indices)
    return (scores[0], indices[0]) if single else (scores, indices)
