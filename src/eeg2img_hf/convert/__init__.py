"""Safe conversion of the authors' published checkpoints: encoder (LSTM, CNN), EEGClip and image -> EEG `.pth` files
(read with `torch.load(weights_only=True)`), StyleGAN2-ADA `.pkl` snapshots (read with a restricted unpickler)."""

from __future__ import annotations

from ..utils.safe_pickle import PersistentRecord, RestrictedUnpickler, UnsafePickleError, load_restricted_pickle
from .authors_checkpoints import (
    MAPPING_VERSION,
    STYLEGAN_NAME_MAPPING,
    convert_authors_encoder,
    convert_stylegan_snapshot,
    nvidia_to_package_name,
    nvidia_to_package_tensor,
    package_to_nvidia_name,
    package_to_nvidia_tensor,
)
from .authors_image_models import convert_authors_eeg_clip, convert_authors_image_to_eeg
from .resnet_names import torchvision_to_transformers_resnet, transformers_to_torchvision_resnet
from .stylegan_snapshot import StyleGANTrainingSnapshot, convert_stylegan_training_snapshot

__all__ = [
    "MAPPING_VERSION",
    "STYLEGAN_NAME_MAPPING",
    "PersistentRecord",
    "RestrictedUnpickler",
    "StyleGANTrainingSnapshot",
    "UnsafePickleError",
    "convert_authors_eeg_clip",
    "convert_authors_encoder",
    "convert_authors_image_to_eeg",
    "convert_stylegan_snapshot",
    "convert_stylegan_training_snapshot",
    "load_restricted_pickle",
    "nvidia_to_package_name",
    "nvidia_to_package_tensor",
    "package_to_nvidia_name",
    "package_to_nvidia_tensor",
    "torchvision_to_transformers_resnet",
    "transformers_to_torchvision_resnet",
]
