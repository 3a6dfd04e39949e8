"""EEGClip: EEG encoder + image backbone in one joint space, trained with a symmetric CLIP loss."""

from __future__ import annotations

from .configuration_eeg_clip import CLIP_MODEL_PRESETS, EEGClipConfig
from .modeling_eeg_clip import (
    EEGClipModel,
    EEGClipOutput,
    EEGClipPreTrainedModel,
    check_pixel_values,
    clip_loss,
    make_image_processor,
    positives_from_ids,
)

__all__ = [
    "CLIP_MODEL_PRESETS",
    "EEGClipConfig",
    "EEGClipModel",
    "EEGClipOutput",
    "EEGClipPreTrainedModel",
    "check_pixel_values",
    "clip_loss",
    "make_image_processor",
    "positives_from_ids",
]
