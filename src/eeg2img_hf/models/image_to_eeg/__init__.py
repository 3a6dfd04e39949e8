"""Image -> EEG space encoder (image -> EEG space -> image reconstruction, WACV 2024 fig. 3d)."""

from __future__ import annotations

from .configuration_image_to_eeg import IMAGE_TO_EEG_PRESETS, ImageToEEGConfig
from .modeling_image_to_eeg import (
    ImageToEEGModel,
    ImageToEEGOutput,
    ImageToEEGPreTrainedModel,
    cross_modal_triplet_loss,
)

__all__ = [
    "IMAGE_TO_EEG_PRESETS",
    "ImageToEEGConfig",
    "ImageToEEGModel",
    "ImageToEEGOutput",
    "ImageToEEGPreTrainedModel",
    "cross_modal_triplet_loss",
]
