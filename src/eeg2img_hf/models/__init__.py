"""Model classes. Importing this package registers them with the transformers Auto classes."""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .eeg_encoder import (
    EEGEncoderClassificationOutput,
    EEGEncoderConfig,
    EEGEncoderForClassification,
    EEGEncoderModel,
    EEGEncoderOutput,
    EEGEncoderPreTrainedModel,
)
from .eeg_stylegan import (
    EEGStyleGANConfig,
    EEGStyleGANDiscriminator,
    EEGStyleGANGenerator,
    EEGStyleGANModel,
    EEGStyleGANModelOutput,
)


def _register(config_class, auto_pairs) -> None:
    """Register a config and its models locally and for remote code (`auto_map` in saved folders)."""
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    config_class.register_for_auto_class()
    for auto_class, model_class in auto_pairs:
        auto_class.register(config_class, model_class, exist_ok=True)
        model_class.register_for_auto_class(auto_class.__name__)


_register(
    EEGEncoderConfig,
    [(AutoModel, EEGEncoderModel), (AutoModelForSequenceClassification, EEGEncoderForClassification)],
)

_register(EEGStyleGANConfig, [(AutoModel, EEGStyleGANModel)])

__all__ = [
    "EEGEncoderClassificationOutput",
    "EEGEncoderConfig",
    "EEGEncoderForClassification",
    "EEGEncoderModel",
    "EEGEncoderOutput",
    "EEGEncoderPreTrainedModel",
    "EEGStyleGANConfig",
    "EEGStyleGANDiscriminator",
    "EEGStyleGANGenerator",
    "EEGStyleGANModel",
    "EEGStyleGANModelOutput",
]
