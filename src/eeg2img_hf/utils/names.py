"""Names shared across layers (files written beside a model, split strategies); this module imports nothing."""

TRAINING_RECORD = "eeg2img_training.json"
"""JSON record that a trainer writes into the model folder: arguments, dataset, selection, timings."""

SPLIT_STRATEGIES = ("paper", "within-block", "subject-held-out", "exemplar-disjoint", "block-held-out")
"""Split strategies of `eeg2img_hf.data.split_trials` / `split_dataset` (here so the CLI's `--help` lists them
without importing `datasets`)."""

DEFAULT_VISION_MODEL = "microsoft/resnet-50"
"""The paper's image tower (an ImageNet ResNet-50) as a transformers checkpoint: the `authors` training presets load
it into EEGClip's and the image -> EEG model's vision tower."""

__all__ = ["DEFAULT_VISION_MODEL", "SPLIT_STRATEGIES", "TRAINING_RECORD"]
