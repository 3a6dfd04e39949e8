"""In-package alias of the EEG encoder model.

`EEGClipModel.save_pretrained` writes the real `modeling_eeg_encoder.py` in place of this file,
so a saved folder is self-contained for `trust_remote_code=True`.
"""

from eeg2img_hf.models.eeg_encoder.modeling_eeg_encoder import EEGEncoderModel, check_eeg_values

__all__ = ["EEGEncoderModel", "check_eeg_values"]
