"""In-package alias of the EEG encoder configuration.

`EEGClipModel.save_pretrained` writes the real `configuration_eeg_encoder.py` in place of this file,
so a saved folder is self-contained for `trust_remote_code=True`.
"""

from eeg2img_hf.models.eeg_encoder.configuration_eeg_encoder import EEGEncoderConfig

__all__ = ["EEGEncoderConfig"]
