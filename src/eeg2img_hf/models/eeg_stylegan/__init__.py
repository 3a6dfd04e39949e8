"""EEGStyleGAN-ADA: StyleGAN2-ADA conditioned on EEG embeddings (config, networks and pure-PyTorch ops)."""

from __future__ import annotations

from .configuration_eeg_stylegan import STYLEGAN_PRESETS, EEGStyleGANConfig
from .modeling_eeg_stylegan import (
    EEGStyleGANDiscriminator,
    EEGStyleGANDiscriminatorOutput,
    EEGStyleGANGenerator,
    EEGStyleGANGeneratorOutput,
    EEGStyleGANModel,
    EEGStyleGANModelOutput,
    EEGStyleGANPreTrainedModel,
    MappingNetwork,
    SynthesisNetwork,
)

__all__ = [
    "STYLEGAN_PRESETS",
    "EEGStyleGANConfig",
    "EEGStyleGANDiscriminator",
    "EEGStyleGANDiscriminatorOutput",
    "EEGStyleGANGenerator",
    "EEGStyleGANGeneratorOutput",
    "EEGStyleGANModel",
    "EEGStyleGANModelOutput",
    "EEGStyleGANPreTrainedModel",
    "MappingNetwork",
    "SynthesisNetwork",
]
