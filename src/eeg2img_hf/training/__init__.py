"""Training and evaluation entry points (Accelerate-based)."""

from .args import ENCODER_PRESETS, EncoderTrainingArguments
from .evaluate_encoder import evaluate_encoder
from .evaluate_gan import evaluate_gan
from .train_encoder import train_encoder
from .train_gan import GAN_PRESETS, GANTrainingArguments, train_gan

__all__ = [
    "ENCODER_PRESETS",
    "GAN_PRESETS",
    "EncoderTrainingArguments",
    "GANTrainingArguments",
    "evaluate_encoder",
    "evaluate_gan",
    "train_encoder",
    "train_gan",
]
