"""Safe conversion of the authors' published checkpoints (LSTM encoder `.pth`, StyleGAN2-ADA `.pkl`)."""

from __future__ import annotations

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
from ..utils.safe_pickle import PersistentRecord, RestrictedUnpickler, UnsafePickleError, load_restricted_pickle

__all__ = [
    "MAPPING_VERSION",
    "STYLEGAN_NAME_MAPPING",
    "PersistentRecord",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "convert_authors_encoder",
    "convert_stylegan_snapshot",
    "load_restricted_pickle",
    "nvidia_to_package_name",
    "nvidia_to_package_tensor",
    "package_to_nvidia_name",
    "package_to_nvidia_tensor",
]
