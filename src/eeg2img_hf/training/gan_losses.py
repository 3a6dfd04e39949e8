"""Pure loss functions of StyleGAN2(-ADA): non-saturating logistic loss, R1 and path-length penalties, and
AC-GAN's auxiliary classification loss.

Written from the equations of Karras et al. (StyleGAN2, CVPR 2020, s4 and appendix B; ADA, NeurIPS 2020).
All functions take real/fake logits of shape `(batch_size, 1)` or `(batch_size,)` and return scalar tensors unless
stated.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss `E[softplus(-D(G(z)))]` = `-E[log sigmoid(D(G(z)))]`."""
    return F.softplus(-fake_logits.float()).mean()


def discriminator_loss(real_logits: torch.Tensor | None, fake_logits: torch.Tensor | None) -> torch.Tensor:
    """Logistic discriminator loss `E[softplus(D(G(z)))] + E[softplus(-D(x))]` (either term may be `None`)."""
    if real_logits is None and fake_logits is None:
        raise ValueError("discriminator_loss needs real_logits, fake_logits or both")
    loss = torch.zeros((), device=(real_logits if real_logits is not None else fake_logits).device)
    if fake_logits is not None:
        loss = loss + F.softplus(fake_logits.float()).mean()
    if real_logits is not None:
        loss = loss + F.softplus(-real_logits.float()).mean()
    return loss


def classification_loss(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """AC-GAN auxiliary classification loss `E[-log softmax(C(x))_y]` (Odena et al. 2017, eq. 2-3).

    Args:
        class_logits: the discriminator's class-head logits `(batch_size, num_classes)`.
        labels: integer class labels `(batch_size,)`.
    """
    return F.cross_entropy(class_logits.float(), labels)


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """Per-sample `||grad_x D(x)||^2` (shape `(batch_size,)`), differentiable w.r.t. D's parameters.

    `real_images` must require grad and `real_logits` must be computed from it.
    """
    if not real_images.requires_grad:
        raise ValueError("r1_penalty needs real_images with requires_grad=True (set it before calling D)")
    (grads,) = torch.autograd.grad(real_logits.float().sum(), real_images, create_graph=True, only_inputs=True)
    return grads.float().square().flatten(1).sum(dim=1)


def r1_loss(real_logits: torch.Tensor, real_images: torch.Tensor, gamma: float, interval: int = 1) -> torch.Tensor:
    """Lazy R1 regulariser `gamma / 2 * E[||grad_x D(x)||^2] * interval` (StyleGAN2 eq. 4 with lazy scaling)."""
    if gamma < 0 or interval < 1:
        raise ValueError(f"r1 gamma must be >= 0 and interval >= 1, got {gamma} and {interval}")
    return r1_penalty(real_logits, real_images).mean() * (gamma / 2) * interval


def path_length_penalty(
    images: torch.Tensor, ws: torch.Tensor, pl_mean: torch.Tensor, decay: float = 0.01,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Path-length regulariser `(||J_w^T y||_2 - a)^2` with `y ~ N(0, I) / sqrt(H W)` (StyleGAN2 eq. 4).

    Args:
        images: generator output `(batch, C, H, W)` computed from `ws`.
        ws: intermediate latents `(batch, num_ws, w_dim)` (requires grad).
        pl_mean: running mean `a` of the path lengths (scalar tensor).
        decay: EMA rate of `a`.
        noise: the random image-space direction `y` (drawn when `None`).

    Returns:
        `(penalty, new_pl_mean)`: per-sample penalties `(batch,)` and the updated (detached) running mean.
    """
    if noise is None:
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grads,) = torch.autograd.grad((images.float() * noise).sum(), ws, create_graph=True, only_inputs=True)
    lengths = grads.float().square().sum(dim=2).mean(dim=1).sqrt()
    new_mean = pl_mean.float().lerp(lengths.detach().mean(), decay)
    return (lengths - new_mean).square(), new_mean.detach()
