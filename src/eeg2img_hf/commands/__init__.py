"""Sub-command modules of the `eeg2img` CLI.

Each module here defines `register(subparsers) -> None`, which adds one or more sub-commands whose
handlers import heavy libraries lazily (so `eeg2img --help` stays fast). `eeg2img_hf.cli` discovers
the modules listed in `COMMAND_MODULES`.
"""

COMMAND_MODULES = (
    "convert_dataset",
    "split_dataset",
    "preprocess_dataset",
    "push_dataset",
    "train_gan",
    "generate",
    "evaluate_gan",
    "convert_checkpoint",
    "train_clip",
    "image_features",
    "evaluate_clip",
    "build_gallery",
    "train_image_to_eeg",
    "push_model",
    "build_metrics",
    "push_metrics",
    "build_space",
    "push_space",
)
