"""Training entry points (Accelerate-based); every trainer's arguments and presets are in `args`. Evaluation is in
`eeg2img_hf.evaluation`."""

from .args import (
    CLIP_PRESETS,
    ENCODER_PRESETS,
    GAN_PRESETS,
    IMAGE_TO_EEG_TRAINING_PRESETS,
    ClipTrainingArguments,
    EncoderTrainingArguments,
    GANTrainingArguments,
    ImageToEEGTrainingArguments,
)
from .train_clip import UniqueKeyBatchSampler, train_clip
from .train_encoder import train_encoder
from .train_gan import train_gan
from .train_image_to_eeg import train_image_to_eeg

__all__ = [
    "CLIP_PRESETS",
    "ClipTrainingArguments",
    "UniqueKeyBatchSampler",
    "train_clip",
    "ENCODER_PRESETS",
    "GAN_PRESETS",
    "EncoderTrainingArguments",
    "GANTrainingArguments",
    "train_encoder",
    "train_gan",
    "IMAGE_TO_EEG_TRAINING_PRESETS",
    "ImageToEEGTrainingArguments",
    "train_image_to_eeg",
]
