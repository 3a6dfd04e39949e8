"""Licence notes of converted checkpoints (recorded in `conversion.json` and stated in the model card).

The package's code is MIT; converted weights keep the terms of their source. The StyleGAN2-ADA networks were trained
with NVIDIA's StyleGAN2-ADA code (NVIDIA Source Code License: non-commercial use only), and derived weights are
treated as inheriting that restriction. The other checkpoints come from the authors' EEGStyleGAN-ADA repository or
its download links: the repository's root licence is MIT, but the downloadable checkpoints state no licence of their
own, and the image towers (ResNet-50, GoogLeNet) started from torchvision's ImageNet weights.
"""

from __future__ import annotations

__all__ = ["CHECKPOINT_LICENCES", "checkpoint_licence"]

_NVIDIA = ("The StyleGAN weights derive from NVIDIA's StyleGAN2-ADA code (NVIDIA Source Code License, non-commercial "
           "use only); the converted weights inherit that restriction.")
_AUTHORS = ("Weights from the authors' EEGStyleGAN-ADA repository or its download links (github.com/prajwalsingh/"
            "EEGStyleGAN-ADA; the repository's root licence is MIT, the checkpoint files state no licence of their "
            "own): check the authors' terms before reuse.")
_TOWERS = (" The image tower started from torchvision's ImageNet weights (ImageNet's terms of access apply to "
           "models trained on it).")

#: `convert-checkpoint` kind -> (card metadata `license_name`, licence note).
CHECKPOINT_LICENCES: dict[str, tuple[str, str]] = {
    "encoder": ("authors-checkpoint-terms", _AUTHORS),
    "stylegan": ("nvidia-source-code-license", _NVIDIA),
    "stylegan-snapshot": ("nvidia-source-code-license", _NVIDIA),
    "eeg-clip": ("authors-checkpoint-terms", _AUTHORS + _TOWERS),
    "image-to-eeg": ("authors-checkpoint-terms", _AUTHORS + _TOWERS),
}


def checkpoint_licence(kind: str) -> dict[str, str]:
    """`{"license": "other", "license_name": ..., "licence": note}` for a `convert-checkpoint` kind."""
    if kind not in CHECKPOINT_LICENCES:
        raise ValueError(f"unknown checkpoint kind {kind!r}; expected one of {sorted(CHECKPOINT_LICENCES)}")
    name, note = CHECKPOINT_LICENCES[kind]
    return {"license": "other", "license_name": name, "licence": note}
