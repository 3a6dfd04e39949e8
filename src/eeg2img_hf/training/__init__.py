"""Training and evaluation entry points (Accelerate-based); every trainer's arguments and presets are in `args`."""

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
from .evaluate_clip import PAPER_EEGCLIP_RESULTS, evaluate_clip, train_probe_head
from .evaluate_encoder import evaluate_encoder
from .evaluate_gan import evaluate_gan
from .train_clip import UniqueKeyBatchSampler, train_clip
from .train_encoder import train_encoder
from .train_gan import train_gan
from .train_image_to_eeg import evaluate_reconstruction, train_image_to_eeg

__all__ = [
    "PAPER_EEGCLIP_RESULTS",
    "evaluate_clip",
    "train_probe_head",
    "CLIP_PRESETS",
    "ClipTrainingArguments",
    "UniqueKeyBatchSampler",
    "train_clip",
    "ENCODER_PRESETS",
    "GAN_PRESETS",
    "EncoderTrainingArguments",
    "GANTrainingArguments",
    "evaluate_encoder",
    "evaluate_gan",
    "train_encoder",
    "train_gan",
    "IMAGE_TO_EEG_TRAINING_PRESETS",
    "ImageToEEGTrainingArguments",
    "evaluate_reconstruction",
    "train_image_to_eeg",
]
