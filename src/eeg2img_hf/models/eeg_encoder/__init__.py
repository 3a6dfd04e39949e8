from .configuration_eeg_encoder import EEGEncoderConfig
from .modeling_eeg_encoder import (
    EEGEncoderClassificationOutput,
    EEGEncoderForClassification,
    EEGEncoderModel,
    EEGEncoderOutput,
    EEGEncoderPreTrainedModel,
)

__all__ = [
    "EEGEncoderClassificationOutput",
    "EEGEncoderConfig",
    "EEGEncoderForClassification",
    "EEGEncoderModel",
    "EEGEncoderOutput",
    "EEGEncoderPreTrainedModel",
]
