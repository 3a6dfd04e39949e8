"""Training losses for the EEG encoder (Singh et al., WACV 2024, "Learning Robust Deep Visual
Representations from EEG and Brain Recordings").

Two triplet losses are provided because the paper and the authors' code disagree:

- ``"triplet-semihard"`` is the paper's eq. 1: squared Euclidean distances, margin 1.0, and
  online semi-hard mining inside the batch (FaceNet / TensorFlow ``triplet_semihard_loss``
  rule). Every anchor-positive pair gets exactly one negative and the loss is averaged over
  anchor-positive pairs.
- ``"triplet-ms"`` is what the authors' training scripts run: a multi-similarity miner
  (epsilon 0.1, cosine similarity) selects anchor-positive and anchor-negative *pairs*; every
  mined positive is combined with every mined negative of the same anchor; the hinge uses
  non-squared Euclidean distances of L2-normalised embeddings with margin 0.05, and the mean
  is taken over the triplets whose loss is non-zero. Use it to reproduce the published numbers.

``"supervised"`` is plain cross-entropy on class logits (the fine-tuning baseline), and
``"supervised+triplet-ms"`` adds a weighted ``"triplet-ms"`` term on the embeddings that feed the
logits (not in the paper; the `cpu-small` preset uses it). Triplet losses take ``embeds`` of shape
`(batch_size, embed_dim)`; the supervised loss takes ``logits`` of shape `(batch_size, num_classes)`,
the combined one both. All losses take integer class ``labels`` of shape
`(batch_size,)`, are differentiable, fully vectorised (memory `O(batch_size**2)`) and run on
any device.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

EncoderLoss = Callable[..., torch.Tensor | tuple[torch.Tensor, dict[str, float]]]
"""Signature shared by the registry entries: `(embeds_or_logits, labels, **kwargs) -> loss`."""

__all__ = [
    "EncoderLoss",
    "ENCODER_LOSSES",
    "get_encoder_loss",
    "ms_triplet_loss",
    "multi_similarity_mine",
    "pairwise_distances",
    "semihard_triplet_loss",
    "supervised_loss",
    "supervised_triplet_loss",
]


def _check_embeds(embeds: torch.Tensor, name: str = "embeds") -> None:
    if not isinstance(embeds, torch.Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(embeds).__name__}.")
    if embeds.dim() != 2:
        shape = tuple(embeds.shape)
        raise ValueError(f"`{name}` must be 2-D (batch_size, dim), got shape {shape}.")
    if embeds.shape[0] == 0 or embeds.shape[1] == 0:
        raise ValueError(f"`{name}` must be non-empty, got shape {tuple(embeds.shape)}.")
    if not embeds.is_floating_point():
        raise ValueError(f"`{name}` must be a floating-point tensor, got dtype {embeds.dtype}.")
    if not bool(torch.isfinite(embeds).all()):
        raise ValueError(f"`{name}` contains NaN or infinite values.")


def _check_labels(labels: torch.Tensor, batch_size: int) -> None:
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"`labels` must be a torch.Tensor, got {type(labels).__name__}.")
    if labels.dim() != 1:
        raise ValueError(f"`labels` must be 1-D (batch_size,), got shape {tuple(labels.shape)}.")
    if labels.shape[0] != batch_size:
        raise ValueError(
            f"`labels` has length {labels.shape[0]} but the batch has {batch_size} rows."
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"`labels` must hold integer class ids, got dtype {labels.dtype}.")


def _check_non_negative(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value}.")


def _label_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean `(batch_size, batch_size)` masks: same label (diagonal excluded), different label."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _pairwise_distances(embeds: torch.Tensor, squared: bool) -> torch.Tensor:
    gram = embeds @ embeds.T  # (B, B)
    sq_norms = gram.diagonal()
    d2 = (sq_norms[:, None] + sq_norms[None, :] - 2.0 * gram).clamp_min(0.0)
    # Exact zeros on the diagonal (rounding would otherwise leave tiny positive values).
    eye = torch.eye(embeds.shape[0], dtype=torch.bool, device=embeds.device)
    d2 = d2.masked_fill(eye, 0.0)
    if squared:
        return d2
    # sqrt has an infinite derivative at 0: take it only where d2 > 0, give 0 gradient elsewhere.
    zero = d2 == 0
    return d2.masked_fill(zero, 1.0).sqrt().masked_fill(zero, 0.0)


def pairwise_distances(embeds: torch.Tensor, squared: bool = False) -> torch.Tensor:
    r"""Euclidean distance matrix :math:`D_{ij} = \lVert x_i - x_j \rVert_2` (or its square).

    Computed from the Gram matrix,
    :math:`D_{ij}^2 = \lVert x_i\rVert^2 + \lVert x_j\rVert^2 - 2 x_i^\top x_j`, clamped at 0
    with an exact zero diagonal. The square root is only taken where
    :math:`D_{ij}^2 > 0`, so duplicate rows give distance 0 with a zero (not NaN) gradient.

    Args:
        embeds (`torch.Tensor` of shape `(batch_size, dim)`): embeddings.
        squared (`bool`, *optional*, defaults to `False`): return squared distances.

    Returns:
        `torch.Tensor` of shape `(batch_size, batch_size)`.
    """
    _check_embeds(embeds)
    return _pairwise_distances(embeds, squared)


def semihard_triplet_loss(
    embeds: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 1.0,
    squared: bool = True,
    return_stats: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, float]]:
    r"""Triplet loss with online semi-hard mining: the paper's eq. 1.

    For every anchor-positive pair `(a, p)` (same label, `a != p`, and the anchor has at least
    one negative) one negative is chosen (FaceNet / TensorFlow rule):
    :math:`n^* = \arg\min_{n:\,d(a,n) > d(a,p)} d(a,n)`, the closest negative farther than the
    positive (a semi-hard one whenever :math:`d(a,n^*) < d(a,p) + m`); if no negative is farther
    than the positive, :math:`n^* = \arg\max_n d(a,n)`. The loss is
    :math:`\frac{1}{|P|}\sum_{(a,p)\in P} \max(0,\, d(a,p) - d(a,n^*) + m)`. Mining uses detached
    distances; gradients flow through :math:`d(a,p)` and :math:`d(a,n^*)`. Embeddings are used
    as given (the encoder already L2-normalises them).

    Args:
        embeds (`torch.Tensor` of shape `(batch_size, dim)`): embeddings.
        labels (`torch.Tensor` of shape `(batch_size,)`): integer class ids.
        margin (`float`, *optional*, defaults to 1.0): margin :math:`m`.
        squared (`bool`, *optional*, defaults to `True`): squared Euclidean distances, as in eq. 1.
        return_stats (`bool`, *optional*, defaults to `False`): also return a dict with
            `num_pairs`, `fraction_active` (pairs with loss > 0) and `fraction_semihard`
            (pairs whose negative is semi-hard).

    Returns:
        Scalar `torch.Tensor` (0, still attached to the graph, when the batch has no valid
        pair), or `(loss, stats)` when `return_stats=True`.
    """
    _check_embeds(embeds)
    _check_labels(labels, embeds.shape[0])
    _check_non_negative("margin", margin)
    same, diff = _label_masks(labels.to(embeds.device))
    dist = _pairwise_distances(embeds, squared)  # (B, B)
    num_neg = diff.sum(dim=1)  # (B,)
    pair_mask = same & (num_neg > 0)[:, None]  # (a, p)
    with torch.no_grad():
        d = dist.detach()
        neg_sorted, neg_order = d.masked_fill(~diff, math.inf).sort(dim=1)  # (a, k)
        # rank (within the anchor's sorted negatives) of the first negative with d(a,n) > d(a,p)
        first_farther = torch.searchsorted(neg_sorted, d.contiguous(), right=True)  # (a, p)
        has_farther = first_farther < num_neg[:, None]
        farthest = (num_neg - 1).clamp_min(0)[:, None].expand_as(first_farther)
        rank = torch.where(has_farther, first_farther, farthest).clamp_max(d.shape[1] - 1)
        neg_idx = neg_order.gather(1, rank)  # (a, p)
    d_an = dist.gather(1, neg_idx)
    hinge = (dist - d_an + margin).clamp_min(0.0)
    hinge = torch.where(pair_mask, hinge, torch.zeros_like(hinge))
    num_pairs = int(pair_mask.sum())
    loss = hinge.sum() / max(num_pairs, 1)
    if not return_stats:
        return loss
    with torch.no_grad():
        semihard = pair_mask & has_farther & (d_an.detach() < dist.detach() + margin)
        stats = {
            "num_pairs": num_pairs,
            "fraction_active": int((pair_mask & (hinge > 0)).sum()) / max(num_pairs, 1),
            "fraction_semihard": int(semihard.sum()) / max(num_pairs, 1),
        }
    return loss, stats


def _multi_similarity_masks(
    unit: torch.Tensor, labels: torch.Tensor, epsilon: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mined `(anchor, positive)` and `(anchor, negative)` boolean masks from unit-norm rows."""
    sim = unit @ unit.T  # (B, B) cosine similarity
    same, diff = _label_masks(labels)
    min_pos = sim.masked_fill(~same, math.inf).amin(dim=1, keepdim=True)  # +inf: no positive
    max_neg = sim.masked_fill(~diff, -math.inf).amax(dim=1, keepdim=True)  # -inf: no negative
    pos_mask = same & (sim < max_neg + epsilon)
    neg_mask = diff & (sim > min_pos - epsilon)
    return pos_mask, neg_mask


def multi_similarity_mine(
    embeds: torch.Tensor, labels: torch.Tensor, epsilon: float = 0.1
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    r"""Multi-similarity pair miner on cosine similarity (the miner of the authors' code).

    With :math:`s_{ij} = \cos(x_i, x_j)`, for each anchor `a` keep the positives `p` (same label,
    `p != a`) with :math:`s_{ap} < \max_{n} s_{an} + \epsilon` and the negatives `n` with
    :math:`s_{an} > \min_{p} s_{ap} - \epsilon`. Anchors without a positive or without a negative
    yield no pairs. No gradient flows through the returned indices.

    Args:
        embeds (`torch.Tensor` of shape `(batch_size, dim)`): embeddings (normalised internally).
        labels (`torch.Tensor` of shape `(batch_size,)`): integer class ids.
        epsilon (`float`, *optional*, defaults to 0.1): similarity slack :math:`\epsilon`.

    Returns:
        `((anchor_idx, positive_idx), (anchor_idx, negative_idx))`, four 1-D `torch.long`
        tensors on the device of `embeds`, sorted by anchor then by partner index.
    """
    _check_embeds(embeds)
    _check_labels(labels, embeds.shape[0])
    _check_non_negative("epsilon", epsilon)
    with torch.no_grad():
        unit = F.normalize(embeds.detach(), dim=1)
        pos_mask, neg_mask = _multi_similarity_masks(unit, labels.to(embeds.device), epsilon)
        a_pos, p_idx = pos_mask.nonzero(as_tuple=True)
        a_neg, n_idx = neg_mask.nonzero(as_tuple=True)
    return (a_pos, p_idx), (a_neg, n_idx)


def ms_triplet_loss(
    embeds: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.05,
    epsilon: float = 0.1,
    return_stats: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, float]]:
    r"""Triplet margin loss on multi-similarity-mined pairs: what the authors' code trains with.

    Embeddings are L2-normalised and :func:`multi_similarity_mine` selects pairs. Every mined
    `(a, p)` is combined with every mined `(a, n)` of the same anchor, giving triplets `T`, and
    :math:`\ell_{apn} = \max(0,\, d(a,p) - d(a,n) + m)` with non-squared Euclidean `d`. The loss
    is the mean of :math:`\ell` over the triplets with :math:`\ell > 0` (0, attached to the
    graph, if there are none). Evaluated without building the `(B, B, B)` triplet tensor: for
    each `(a, p)`, the active negatives are a prefix of the anchor's sorted mined negatives.

    Args:
        embeds (`torch.Tensor` of shape `(batch_size, dim)`): embeddings.
        labels (`torch.Tensor` of shape `(batch_size,)`): integer class ids.
        margin (`float`, *optional*, defaults to 0.05): margin :math:`m`.
        epsilon (`float`, *optional*, defaults to 0.1): miner slack, see
            :func:`multi_similarity_mine`.
        return_stats (`bool`, *optional*, defaults to `False`): also return a dict with
            `num_triplets` (all triplets from the mined pairs) and `num_active` (loss > 0).

    Returns:
        Scalar `torch.Tensor`, or `(loss, stats)` when `return_stats=True`.
    """
    _check_embeds(embeds)
    _check_labels(labels, embeds.shape[0])
    _check_non_negative("margin", margin)
    _check_non_negative("epsilon", epsilon)
    unit = F.normalize(embeds, dim=1)
    pos_mask, neg_mask = _multi_similarity_masks(unit.detach(), labels.to(embeds.device), epsilon)
    dist = _pairwise_distances(unit, squared=False)  # (B, B)
    with torch.no_grad():
        neg_sorted, neg_order = dist.detach().masked_fill(~neg_mask, math.inf).sort(dim=1)
        # number of mined negatives with d(a,n) < d(a,p) + m, i.e. active triplets per (a, p)
        num_active = torch.searchsorted(neg_sorted, (dist.detach() + margin).contiguous())
        num_active = torch.where(pos_mask, num_active, torch.zeros_like(num_active))  # (a, p)
    sorted_neg_dist = dist.gather(1, neg_order)
    sorted_neg_dist = torch.where(neg_mask.gather(1, neg_order), sorted_neg_dist, 0.0)
    prefix = F.pad(sorted_neg_dist.cumsum(dim=1), (1, 0))  # (a, k + 1), prefix[:, 0] = 0
    # sum over active n of (d(a,p) + m - d(a,n)) = c * (d(a,p) + m) - (sum of the c smallest d(a,n))
    per_pair = num_active * (dist + margin) - prefix.gather(1, num_active)
    total_active = int(num_active.sum())
    loss = per_pair.sum() / max(total_active, 1)
    if not return_stats:
        return loss
    num_triplets = int((pos_mask.sum(dim=1) * neg_mask.sum(dim=1)).sum())
    return loss, {"num_triplets": num_triplets, "num_active": total_active}


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""Cross-entropy :math:`-\frac{1}{B}\sum_i \log \mathrm{softmax}(z_i)_{y_i}` on class logits.

    Args:
        logits (`torch.Tensor` of shape `(batch_size, num_classes)`): unnormalised class scores.
        labels (`torch.Tensor` of shape `(batch_size,)`): integer class ids in `[0, num_classes)`.

    Returns:
        Scalar `torch.Tensor`.
    """
    _check_embeds(logits, name="logits")
    _check_labels(labels, logits.shape[0])
    return F.cross_entropy(logits, labels.to(device=logits.device, dtype=torch.long))


def supervised_triplet_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    embeds: torch.Tensor,
    triplet_weight: float = 1.0,
    margin: float = 0.05,
    epsilon: float = 0.1,
) -> torch.Tensor:
    r"""Cross-entropy on class logits plus a weighted multi-similarity triplet term on the embeddings:
    :math:`\mathrm{CE}(z, y) + w\,\ell_\mathrm{ms}(x, y)` (see :func:`supervised_loss` and :func:`ms_triplet_loss`).

    The class head keeps the embedding linearly separable while the triplet term shapes its geometry for
    clustering; `triplet_weight=0` gives :func:`supervised_loss`.

    Args:
        logits (`torch.Tensor` of shape `(batch_size, num_classes)`): class scores of the head over `embeds`.
        labels (`torch.Tensor` of shape `(batch_size,)`): integer class ids.
        embeds (`torch.Tensor` of shape `(batch_size, dim)`): the embeddings (keyword only).
        triplet_weight (`float`, *optional*, defaults to 1.0): weight :math:`w` of the triplet term (finite, >= 0).
        margin (`float`, *optional*, defaults to 0.05): margin of the triplet term.
        epsilon (`float`, *optional*, defaults to 0.1): miner slack of the triplet term.

    Returns:
        Scalar `torch.Tensor`.
    """
    _check_non_negative("triplet_weight", triplet_weight)
    _check_embeds(logits, name="logits")
    _check_embeds(embeds)
    if embeds.shape[0] != logits.shape[0]:
        raise ValueError(f"`embeds` has {embeds.shape[0]} rows but `logits` has {logits.shape[0]}.")
    loss = supervised_loss(logits, labels)
    if triplet_weight == 0:
        return loss
    return loss + triplet_weight * ms_triplet_loss(embeds, labels, margin=margin, epsilon=epsilon)


ENCODER_LOSSES: dict[str, EncoderLoss] = {
    "supervised": supervised_loss,
    "supervised+triplet-ms": supervised_triplet_loss,
    "triplet-semihard": semihard_triplet_loss,
    "triplet-ms": ms_triplet_loss,
}


def get_encoder_loss(name: str) -> EncoderLoss:
    """Look up an encoder loss by name.

    Args:
        name (`str`): `"supervised"` (cross-entropy on logits), `"triplet-semihard"` (paper eq. 1),
            `"triplet-ms"` (authors' code: multi-similarity miner + triplet margin loss) or
            `"supervised+triplet-ms"` (cross-entropy plus a weighted `"triplet-ms"` term; `embeds=` keyword).

    Returns:
        The loss function; call it as `loss_fn(embeds_or_logits, labels, **kwargs)`.
    """
    if name not in ENCODER_LOSSES:
        valid = ", ".join(repr(key) for key in ENCODER_LOSSES)
        raise ValueError(f"Unknown encoder loss {name!r}; valid names are {valid}.")
    return ENCODER_LOSSES[name]
