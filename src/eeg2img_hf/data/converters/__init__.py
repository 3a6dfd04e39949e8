"""Converters of real EEG-image sources to the package schema (see [`write_eeg_dataset`]).

Each converter module `eeg2img_hf.data.converters.<source>` exposes `convert_<source>(..., output_dir, ...)`
plus `add_arguments(parser)` / `run(args)` for `eeg2img convert <name>`; [`CONVERTERS`] maps the CLI
name to the module path (converters import heavy libraries only when run).
"""

from __future__ import annotations

from .authors_npy import convert_authors_npy, load_object_npy
from .byo import convert_arrays, convert_mne_epochs
from .eegcvpr40 import convert_eegcvpr40, load_torch_file
from .hub_parquet import convert_hub_parquet
from .object import convert_object
from .things_eeg2 import convert_things_eeg2
from .thoughtviz import convert_thoughtviz
from .writer import encode_image, write_eeg_dataset

CONVERTERS: dict[str, str] = {
    "eegcvpr40": "eeg2img_hf.data.converters.eegcvpr40",
    "authors-npy": "eeg2img_hf.data.converters.authors_npy",
    "thoughtviz": "eeg2img_hf.data.converters.thoughtviz",
    "things-eeg2": "eeg2img_hf.data.converters.things_eeg2",
    "object": "eeg2img_hf.data.converters.object",
    "hub-parquet": "eeg2img_hf.data.converters.hub_parquet",
    "byo": "eeg2img_hf.data.converters.byo",
}
"""CLI name -> module of every converter; other sources add their entry here."""

__all__ = [
    "CONVERTERS",
    "convert_arrays",
    "convert_authors_npy",
    "convert_eegcvpr40",
    "convert_hub_parquet",
    "convert_mne_epochs",
    "convert_object",
    "convert_things_eeg2",
    "convert_thoughtviz",
    "encode_image",
    "load_object_npy",
    "load_torch_file",
    "write_eeg_dataset",
]
