"""Tests for `eeg2img_hf.training.losses`, checked against brute-force loop enumerations."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from eeg2img_hf.training.losses import (
    ENCODER_LOSSES,
    get_encoder_loss,
    ms_triplet_loss,
    multi_similarity_mine,
    pairwise_distances,
    semihard_triplet_loss,
    supervised_loss,
    supervised_triplet_loss,
)

# (batch_size, num_classes, dim, seed); labels are random, so some batches have singleton classes.
BATCHES = [(6, 3, 4, 0), (8, 3, 5, 1), (10, 4, 8, 2), (12, 4, 6, 3), (9, 2, 4, 4), (7, 5, 3, 5)]


def make_batch(
    batch_size: int, num_classes: int, dim: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    embeds = torch.randn(batch_size, dim, generator=gen, dtype=torch.float64)
    labels = torch.randint(num_classes, (batch_size,), generator=gen)
    return embeds, labels


def special_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(7)
    embeds = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    return [
        (embeds, torch.tensor([0, 0, 0, 1, 2, 3, 3, 4])),  # singleton classes 1, 2, 4
        (embeds, torch.zeros(8, dtype=torch.long)),  # a single class: no negatives
        (embeds, torch.arange(8)),  # all singletons: no positives
        (embeds[:1], torch.tensor([0])),  # one sample
    ]


def all_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [make_batch(*spec) for spec in BATCHES] + special_batches()


def loop_distance(x: torch.Tensor, i: int, j: int, squared: bool) -> torch.Tensor:
    d2 = sum((x[i, k] - x[j, k]) ** 2 for k in range(x.shape[1]))
    return d2 if squared else torch.sqrt(d2)


def loop_semihard(x: torch.Tensor, labels: list[int], margin: float, squared: bool) -> torch.Tensor:
    """Enumerate every (a, p) pair and every negative; pick the negative by the FaceNet rule."""
    n = len(labels)
    d = [[loop_distance(x, i, j, squared) for j in range(n)] for i in range(n)]
    losses = []
    for a, p in itertools.permutations(range(n), 2):
        negatives = [k for k in range(n) if labels[k] != labels[a]]
        if labels[p] != labels[a] or not negatives:
            continue
        farther = [k for k in negatives if d[a][k].item() > d[a][p].item()]
        if farther:
            chosen = min(farther, key=lambda k: d[a][k].item())
        else:
            chosen = max(negatives, key=lambda k: d[a][k].item())
        losses.append(torch.clamp(d[a][p] - d[a][chosen] + margin, min=0.0))
    return torch.stack(losses).mean() if losses else x.sum() * 0.0


def loop_mine(x: torch.Tensor, labels: list[int], epsilon: float) -> tuple[set, set]:
    n = len(labels)
    rows = x.tolist()
    norms = [math.sqrt(sum(v * v for v in row)) for row in rows]
    sim = [
        [sum(u * v for u, v in zip(rows[i], rows[j])) / (norms[i] * norms[j]) for j in range(n)]
        for i in range(n)
    ]
    pos_pairs, neg_pairs = set(), set()
    for a in range(n):
        pos = [j for j in range(n) if j != a and labels[j] == labels[a]]
        neg = [j for j in range(n) if labels[j] != labels[a]]
        if not pos or not neg:
            continue
        min_pos = min(sim[a][j] for j in pos)
        max_neg = max(sim[a][j] for j in neg)
        pos_pairs |= {(a, j) for j in pos if sim[a][j] < max_neg + epsilon}
        neg_pairs |= {(a, j) for j in neg if sim[a][j] > min_pos - epsilon}
    return pos_pairs, neg_pairs


def loop_ms(x: torch.Tensor, labels: list[int], margin: float, epsilon: float) -> torch.Tensor:
    """All triplets from mined pairs sharing an anchor; mean over the non-zero hinge terms."""
    pos_pairs, neg_pairs = loop_mine(x, labels, epsilon)
    unit = x / torch.sqrt((x * x).sum(dim=1, keepdim=True))
    active = []
    for (a, p), (a2, k) in itertools.product(sorted(pos_pairs), sorted(neg_pairs)):
        if a != a2:
            continue
        term = loop_distance(unit, a, p, False) - loop_distance(unit, a, k, False) + margin
        if term.item() > 0:
            active.append(term)
    return torch.stack(active).mean() if active else x.sum() * 0.0


def value_and_grad(fn, embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = embeds.clone().requires_grad_(True)
    loss = fn(leaf)
    (grad,) = torch.autograd.grad(loss, leaf, allow_unused=True)
    return loss.detach(), torch.zeros_like(leaf) if grad is None else grad


# --------------------------------------------------------------------------- distances


@pytest.mark.parametrize("squared", [False, True])
def test_pairwise_distances_match_loop(squared):
    x, _ = make_batch(7, 2, 5, 11)
    dist = pairwise_distances(x, squared=squared)
    expected = torch.stack(
        [torch.stack([loop_distance(x, i, j, squared) for j in range(7)]) for i in range(7)]
    )
    torch.testing.assert_close(dist, expected, rtol=1e-9, atol=1e-9)
    assert torch.all(dist.diagonal() == 0)


@pytest.mark.parametrize("squared", [False, True])
def test_pairwise_distances_no_nan_grad_on_duplicates(squared):
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    dist = pairwise_distances(x, squared=squared)
    assert dist[0, 1] == 0
    dist.sum().backward()
    assert torch.isfinite(x.grad).all()


# --------------------------------------------------------------------------- paper eq. 1


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_semihard_matches_brute_force(squared, margin):
    for embeds, labels in all_batches():
        loss, grad = value_and_grad(
            lambda e, labels=labels: semihard_triplet_loss(e, labels, margin=margin, squared=squared), embeds
        )
        ref_loss, ref_grad = value_and_grad(
            lambda e, labels=labels: loop_semihard(e, labels.tolist(), margin, squared), embeds
        )
        torch.testing.assert_close(loss, ref_loss, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-7, atol=1e-9)


def test_semihard_stats_and_no_pair_batches():
    for embeds, labels in special_batches()[1:]:  # single class, all singletons, one sample
        leaf = embeds.clone().requires_grad_(True)
        loss, stats = semihard_triplet_loss(leaf, labels, return_stats=True)
        assert loss.item() == 0 and stats["num_pairs"] == 0 and stats["fraction_active"] == 0
        loss.backward()
        assert torch.all(leaf.grad == 0)
    embeds, labels = make_batch(10, 3, 4, 21)
    loss, stats = semihard_triplet_loss(embeds, labels, return_stats=True)
    counts = torch.bincount(labels)
    assert stats["num_pairs"] == int((counts * (counts - 1)).sum())
    assert 0 < stats["fraction_active"] <= 1
    assert 0 <= stats["fraction_semihard"] <= stats["fraction_active"]


def test_semihard_gradcheck():
    embeds, labels = make_batch(8, 3, 4, 13)
    leaf = embeds.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: semihard_triplet_loss(e, labels, margin=0.5), (leaf,))


# --------------------------------------------------------------------------- authors' code


@pytest.mark.parametrize("epsilon", [0.1, 0.5])
def test_miner_matches_loop(epsilon):
    for embeds, labels in all_batches():
        (a_pos, p_idx), (a_neg, n_idx) = multi_similarity_mine(embeds, labels, epsilon=epsilon)
        pos_pairs, neg_pairs = loop_mine(embeds, labels.tolist(), epsilon)
        assert list(zip(a_pos.tolist(), p_idx.tolist())) == sorted(pos_pairs)
        assert list(zip(a_neg.tolist(), n_idx.tolist())) == sorted(neg_pairs)
        assert a_pos.dtype == torch.long and a_neg.dtype == torch.long


@pytest.mark.parametrize(("margin", "epsilon"), [(0.05, 0.1), (0.5, 0.3), (0.2, 1.0)])
def test_ms_triplet_matches_brute_force(margin, epsilon):
    for embeds, labels in all_batches():
        loss, grad = value_and_grad(
            lambda e, labels=labels: ms_triplet_loss(e, labels, margin=margin, epsilon=epsilon), embeds
        )
        ref_loss, ref_grad = value_and_grad(
            lambda e, labels=labels: loop_ms(e, labels.tolist(), margin, epsilon), embeds
        )
        torch.testing.assert_close(loss, ref_loss, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-7, atol=1e-9)


def test_ms_triplet_stats_count_triplets():
    embeds, labels = make_batch(12, 3, 4, 17)
    _, stats = ms_triplet_loss(embeds, labels, margin=0.3, epsilon=0.5, return_stats=True)
    (a_pos, _), (a_neg, _) = multi_similarity_mine(embeds, labels, epsilon=0.5)
    assert stats["num_triplets"] == int((a_pos[:, None] == a_neg[None, :]).sum())
    assert 0 < stats["num_active"] <= stats["num_triplets"]


def test_ms_triplet_gradcheck():
    embeds, labels = make_batch(8, 3, 4, 19)
    leaf = embeds.clone().requires_grad_(True)
    fn = lambda e: ms_triplet_loss(e, labels, margin=0.3, epsilon=0.5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (leaf,))


def test_fast_paths_match_dense_triplet_tensor_float32():
    """At batch 64 / float32, compare with a dense (B, B, B) evaluation of both definitions."""
    gen = torch.Generator().manual_seed(3)
    embeds = F.normalize(torch.randn(64, 16, generator=gen), dim=1)
    labels = torch.randint(8, (64,), generator=gen)
    same = (labels[:, None] == labels[None, :]) & ~torch.eye(64, dtype=torch.bool)
    diff = labels[:, None] != labels[None, :]
    (a_pos, p_idx), (a_neg, n_idx) = multi_similarity_mine(embeds, labels, epsilon=0.1)
    pos = torch.zeros(64, 64, dtype=torch.bool)
    pos[a_pos, p_idx] = True
    neg = torch.zeros(64, 64, dtype=torch.bool)
    neg[a_neg, n_idx] = True
    d = torch.cdist(embeds, embeds)
    triplet_mask = pos[:, :, None] & neg[:, None, :]  # (a, p, n)
    hinge = (d[:, :, None] - d[:, None, :] + 0.05).clamp_min(0) * triplet_mask
    expected = hinge.sum() / (hinge > 0).sum()
    torch.testing.assert_close(ms_triplet_loss(embeds, labels), expected, rtol=1e-4, atol=1e-6)
    d2 = d**2
    farther = diff[:, None, :] & (d2[:, None, :] > d2[:, :, None])  # (a, p, n)
    closest_farther = d2[:, None, :].expand(-1, 64, -1).masked_fill(~farther, math.inf).amin(-1)
    farthest = d2.masked_fill(~diff, -math.inf).amax(-1, keepdim=True).expand(-1, 64)
    chosen = torch.where(farther.any(-1), closest_farther, farthest)
    expected = ((d2 - chosen + 1.0).clamp_min(0) * same).sum() / same.sum()
    torch.testing.assert_close(
        semihard_triplet_loss(embeds, labels), expected, rtol=1e-4, atol=1e-6
    )


# --------------------------------------------------------------------------- shared behaviour

TRIPLET_LOSSES = [semihard_triplet_loss, ms_triplet_loss]


@pytest.mark.parametrize("loss_fn", TRIPLET_LOSSES)
@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_duplicate_embeddings_give_finite_grad(loss_fn, squared, dtype):
    base = 0.2 * torch.randn(3, 4, generator=torch.Generator().manual_seed(5), dtype=dtype)
    embeds = base.repeat_interleave(3, dim=0).requires_grad_(True)  # 9 rows, exact duplicates
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 0, 0, 2])
    is_semihard = loss_fn is semihard_triplet_loss
    kwargs = {"squared": squared} if is_semihard else {"margin": 0.5, "epsilon": 0.5}
    loss = loss_fn(embeds, labels, **kwargs)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(embeds.grad).all()
    assert loss.item() > 0 and embeds.grad.abs().sum() > 0


@pytest.mark.parametrize("loss_fn", TRIPLET_LOSSES)
def test_well_separated_batch_has_zero_loss(loss_fn):
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    gen = torch.Generator().manual_seed(9)
    noise = 0.01 * torch.randn(8, 8, generator=gen, dtype=torch.float64)
    embeds = F.one_hot(labels, 8).double() + noise
    leaf = F.normalize(embeds, dim=1).requires_grad_(True)
    loss = loss_fn(leaf, labels)
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.all(leaf.grad == 0)


@pytest.mark.parametrize("loss_fn", TRIPLET_LOSSES)
def test_optimising_embeddings_decreases_loss(loss_fn):
    gen = torch.Generator().manual_seed(1)
    embeds = torch.randn(24, 8, generator=gen).requires_grad_(True)
    labels = torch.arange(4).repeat(6)
    optimizer = torch.optim.Adam([embeds], lr=0.05)
    history = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = loss_fn(embeds, labels)
        loss.backward()
        assert torch.isfinite(embeds.grad).all()
        optimizer.step()
        history.append(loss.item())
    assert history[0] > 0 and history[-1] < 0.5 * history[0]


def test_batch_256x128_gives_finite_gradients():
    gen = torch.Generator().manual_seed(0)
    embeds = F.normalize(torch.randn(256, 128, generator=gen), dim=1).requires_grad_(True)
    labels = torch.randint(40, (256,), generator=gen)
    for loss_fn in TRIPLET_LOSSES:
        embeds.grad = None
        loss = loss_fn(embeds, labels)
        loss.backward()
        assert loss.item() > 0 and torch.isfinite(embeds.grad).all() and embeds.grad.abs().sum() > 0


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    embeds, labels = make_batch(32, 5, 16, 31)
    for loss_fn in TRIPLET_LOSSES:
        on_cuda = loss_fn(embeds.cuda(), labels.cuda())
        torch.testing.assert_close(on_cuda.cpu(), loss_fn(embeds, labels))


# --------------------------------------------------------------------------- other losses, errors


def test_supervised_loss_is_cross_entropy():
    gen = torch.Generator().manual_seed(2)
    logits, labels = torch.randn(6, 4, generator=gen), torch.randint(4, (6,), generator=gen)
    torch.testing.assert_close(supervised_loss(logits, labels), F.cross_entropy(logits, labels))


def test_supervised_triplet_loss_hand_computed():
    # Four unit vectors at 90 degrees, classes {0, 1} and {2, 3}: each anchor's positive has cosine 0, its negatives
    # -1 and 0; the miner (epsilon 0.1) keeps the positive and the cosine-0 negative, so each anchor gives one
    # triplet with d(a, p) = d(a, n) = sqrt(2): four triplets of loss 0 - 0 + margin = 0.05, mean 0.05.
    # Zero logits over 2 classes: cross-entropy log 2. Weight 2: log 2 + 2 * 0.05.
    embeds = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    logits = torch.zeros(4, 2, dtype=torch.float64)
    assert ms_triplet_loss(embeds, labels, return_stats=True)[1] == {"num_triplets": 4, "num_active": 4}
    loss = supervised_triplet_loss(logits, labels, embeds=embeds, triplet_weight=2.0)
    assert loss.item() == pytest.approx(math.log(2.0) + 2 * 0.05, abs=1e-12)
    assert supervised_triplet_loss(logits, labels, embeds=embeds, triplet_weight=0.0).item() == pytest.approx(
        math.log(2.0), abs=1e-12
    )
    assert supervised_triplet_loss(logits, labels, embeds=embeds, margin=0.0).item() == pytest.approx(
        math.log(2.0), abs=1e-12
    )


def test_supervised_triplet_loss_gradients_and_errors():
    gen = torch.Generator().manual_seed(4)
    embeds = torch.randn(8, 5, generator=gen, requires_grad=True)
    head = torch.nn.Linear(5, 3)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    loss = supervised_triplet_loss(head(embeds), labels, embeds=embeds, triplet_weight=0.5)
    expected = F.cross_entropy(head(embeds), labels) + 0.5 * ms_triplet_loss(embeds, labels)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.isfinite(embeds.grad).all() and embeds.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="triplet_weight"):
        supervised_triplet_loss(head(embeds), labels, embeds=embeds, triplet_weight=-1.0)
    with pytest.raises(ValueError, match="rows"):
        supervised_triplet_loss(head(embeds[:4]), labels[:4], embeds=embeds)


def test_registry():
    assert set(ENCODER_LOSSES) == {"supervised", "triplet-semihard", "triplet-ms", "supervised+triplet-ms"}
    assert get_encoder_loss("triplet-semihard") is semihard_triplet_loss
    assert get_encoder_loss("triplet-ms") is ms_triplet_loss
    assert get_encoder_loss("supervised") is supervised_loss
    assert get_encoder_loss("supervised+triplet-ms") is supervised_triplet_loss
    with pytest.raises(ValueError, match="triplet-semihard"):
        get_encoder_loss("triplet")


GOOD_EMBEDS, GOOD_LABELS = torch.randn(4, 3), torch.tensor([0, 0, 1, 1])
NAN_EMBEDS = GOOD_EMBEDS.clone()
NAN_EMBEDS[1, 2] = math.nan


@pytest.mark.parametrize("loss_fn", [*TRIPLET_LOSSES, multi_similarity_mine, supervised_loss])
@pytest.mark.parametrize(
    ("embeds", "labels", "match"),
    [
        (GOOD_EMBEDS[0], GOOD_LABELS, "2-D"),
        (GOOD_EMBEDS[None], GOOD_LABELS, "2-D"),
        (GOOD_EMBEDS[:0], GOOD_LABELS[:0], "non-empty"),
        (GOOD_EMBEDS.long(), GOOD_LABELS, "floating-point"),
        (NAN_EMBEDS, GOOD_LABELS, "NaN"),
        (GOOD_EMBEDS, GOOD_LABELS[:3], "length"),
        (GOOD_EMBEDS, GOOD_LABELS[:, None], "1-D"),
        (GOOD_EMBEDS, GOOD_LABELS.float(), "integer"),
        (GOOD_EMBEDS.tolist(), GOOD_LABELS, "torch.Tensor"),
    ],
)
def test_bad_inputs_raise(loss_fn, embeds, labels, match):
    with pytest.raises(ValueError, match=match):
        loss_fn(embeds, labels)


@pytest.mark.parametrize(
    ("loss_fn", "kwargs", "match"),
    [
        (semihard_triplet_loss, {"margin": -1.0}, "margin"),
        (ms_triplet_loss, {"margin": math.nan}, "margin"),
        (ms_triplet_loss, {"epsilon": -0.1}, "epsilon"),
        (multi_similarity_mine, {"epsilon": math.inf}, "epsilon"),
    ],
)
def test_bad_hyperparameters_raise(loss_fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        loss_fn(GOOD_EMBEDS, GOOD_LABELS, **kwargs)
