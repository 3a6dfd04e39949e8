"""EEGClip training objectives beyond the model's symmetric CLIP loss ([`eeg2img_hf.models.eeg_clip.clip_loss`]).

`clip_mse_loss` is ATM's objective (Li et al., "Visual Decoding and Reconstruction via EEG Embeddings with Guided
Diffusion", NeurIPS 2024): the contrastive term plus a regression of each EEG embedding onto its image's embedding,
weighted `(1 - mse_weight)` and `mse_weight` (ATM: 0.99 on the regression). ATM's released training script also
multiplies the sum by 10, a constant that Adam's updates do not depend on (up to its epsilon), so it is left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..utils.checks import check_number

__all__ = ["clip_mse_loss"]


def clip_mse_loss(contrastive: torch.Tensor, eeg_embeds: torch.Tensor, image_embeds: torch.Tensor,
                  mse_weight: float) -> torch.Tensor:
    """`(1 - mse_weight) * contrastive + mse_weight * mean((eeg_embeds - image_embeds) ** 2)`.

    Args:
        contrastive (`torch.Tensor` of shape `()`): the batch's CLIP loss.
        eeg_embeds (`torch.Tensor` of shape `(batch_size, projection_dim)`): the EEG embeddings, paired row by row
            with `image_embeds` (EEGClip's are L2-normalised, so the mean squared error is `(2 - 2 cos) / dim` per
            pair).
        image_embeds (`torch.Tensor` of shape `(batch_size, projection_dim)`): the image embeddings.
        mse_weight (`float`): weight of the regression term, in [0, 1].

    Returns:
        `torch.Tensor` of shape `()`: the loss.
    """
    check_number("mse_weight", mse_weight, 0.0, 1.0)
    if contrastive.ndim != 0:
        raise ValueError(f"contrastive must be a scalar loss, got shape {tuple(contrastive.shape)}")
    if eeg_embeds.ndim != 2 or eeg_embeds.shape != image_embeds.shape:
        raise ValueError(f"eeg_embeds and image_embeds must be paired (batch_size, dim) matrices, got "
                         f"{tuple(eeg_embeds.shape)} and {tuple(image_embeds.shape)}")
    return (1.0 - mse_weight) * contrastive + mse_weight * F.mse_loss(eeg_embeds, image_embeds)
