"""Model classes. Importing this package registers them with the transformers Auto classes.

Each model folder is self-contained for `trust_remote_code=True`; code shared between folders is a verbatim
copy of one canonical module, aliased to it here before any folder is imported (see [`copies`]).
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .copies import install_aliases

install_aliases()  # before the model folders import their copies of shared code

from .eeg_clip import (  # noqa: E402 - the aliases above must exist before the model folders import
    EEGClipConfig,
    EEGClipModel,
    EEGClipOutput,
    clip_loss,
    make_image_processor,
)
from .eeg_encoder import (  # noqa: E402
    EEGEncoderClassificationOutput,
    EEGEncoderConfig,
    EEGEncoderForClassification,
    EEGEncoderModel,
    EEGEncoderOutput,
    EEGEncoderPreTrainedModel,
)
from .eeg_stylegan import (  # noqa: E402
    EEGStyleGANConfig,
    EEGStyleGANDiscriminator,
    EEGStyleGANGenerator,
    EEGStyleGANModel,
    EEGStyleGANModelOutput,
)
from .image_to_eeg import ImageToEEGConfig, ImageToEEGModel, ImageToEEGOutput  # noqa: E402


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

_register(ImageToEEGConfig, [(AutoModel, ImageToEEGModel)])

_register(EEGClipConfig, [(AutoModel, EEGClipModel)])

__all__ = [
    "EEGClipConfig",
    "EEGClipModel",
    "EEGClipOutput",
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
    "ImageToEEGConfig",
    "ImageToEEGModel",
    "ImageToEEGOutput",
    "clip_loss",
    "make_image_processor",
]
