"""The one remote-code mechanism: self-contained model folders made of verbatim copies of canonical sources.

`save_pretrained` of a model registered for the Auto classes copies the model's module and every module it
imports with a single-dot relative import (transformers' `custom_object_save`), so a saved folder loads with
`trust_remote_code=True` where this package is not installed. A model folder that uses code of another folder
(the EEGClip and EEGStyleGAN models embed the EEG encoder; three folders use `common.py`) therefore holds a
verbatim copy of that code. [`COPIES`] lists every such copy with its canonical module:

* inside the package a copy is never imported on its own: [`install_aliases`] (run by `eeg2img_hf.models`
  before any model folder is imported) points the copy's module name at the canonical module, so there is one
  implementation and one class (`eeg_clip.configuration_eeg_encoder.EEGEncoderConfig is
  eeg_encoder.configuration_eeg_encoder.EEGEncoderConfig`);
* on disk the copy is the canonical file byte for byte, which [`check_copies`] verifies (a test runs it) and
  `python scripts/check_copies.py --fix` restores after an edit of the canonical file.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

__all__ = ["COPIES", "check_copies", "install_aliases"]

_MODELS = Path(__file__).resolve().parent

COPIES: dict[str, str] = {
    # copy (module under eeg2img_hf.models) -> canonical module (under eeg2img_hf.models)
    "eeg_clip.common": "common",
    "eeg_clip.configuration_eeg_encoder": "eeg_encoder.configuration_eeg_encoder",
    "eeg_clip.modeling_eeg_encoder": "eeg_encoder.modeling_eeg_encoder",
    "eeg_stylegan.common": "common",
    "eeg_stylegan.configuration_eeg_encoder": "eeg_encoder.configuration_eeg_encoder",
    "eeg_stylegan.modeling_eeg_encoder": "eeg_encoder.modeling_eeg_encoder",
    "image_to_eeg.common": "common",
}
"""Every deliberate copy of the model folders and its canonical source."""


def _path(module: str) -> Path:
    return _MODELS.joinpath(*module.split(".")).with_suffix(".py")


def install_aliases() -> None:
    """Makes each copy's module name refer to its canonical module (imports the canonical modules)."""
    for copy_name, canonical in COPIES.items():
        sys.modules.setdefault(f"{__package__}.{copy_name}", importlib.import_module(f"{__package__}.{canonical}"))


def check_copies(fix: bool = False) -> list[str]:
    """Names of the copies that differ from their canonical source (rewritten first when `fix`)."""
    stale = []
    for copy_name, canonical in COPIES.items():
        source = _path(canonical).read_bytes()
        target = _path(copy_name)
        if not target.is_file() or target.read_bytes() != source:
            stale.append(copy_name)
            if fix:
                target.write_bytes(source)
    return stale


def main(argv: list[str] | None = None) -> int:
    """`python scripts/check_copies.py [--fix]`: exit 1 while a copy differs from its source."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--fix", action="store_true", help="rewrite stale copies from their canonical source")
    ns = parser.parse_args(argv)
    stale = check_copies(fix=ns.fix)
    for name in stale:
        print(f"{'rewrote' if ns.fix else 'stale'}: eeg2img_hf/models/{name.replace('.', '/')}.py "
              f"(canonical: {COPIES[name].replace('.', '/')}.py)")
    return 1 if stale and not ns.fix else 0
