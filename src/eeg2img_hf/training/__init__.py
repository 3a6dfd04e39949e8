"""Training and evaluation entry points (Accelerate-based)."""

from .args import ENCODER_PRESETS, EncoderTrainingArguments
from .evaluate_encoder import evaluate_encoder
from .train_encoder import train_encoder

__all__ = ["ENCODER_PRESETS", "EncoderTrainingArguments", "evaluate_encoder", "train_encoder"]
