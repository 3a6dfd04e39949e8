"""Names shared across layers (files written beside a model, split strategies); this module imports nothing."""

TRAINING_RECORD = "eeg2img_training.json"
"""JSON record that a trainer writes into the model folder: arguments, dataset, selection, timings."""

SPLIT_STRATEGIES = ("paper", "within-block", "subject-held-out", "exemplar-disjoint", "block-held-out")
"""Split strategies of `eeg2img_hf.data.split_trials` / `split_dataset` (here so the CLI's `--help` lists them
without importing `datasets`)."""

DEFAULT_VISION_MODEL = "microsoft/resnet-50"
"""The paper's image tower (an ImageNet ResNet-50) as a transformers checkpoint: the `authors` training presets load
it into EEGClip's and the image -> EEG model's vision tower."""

CONVERSION_RECORD = "conversion.json"
"""JSON record that `convert-checkpoint` writes beside a converted model: source file, its sha256, name mapping."""

GAN_DISCRIMINATOR_FOLDER = "discriminator"
"""Sub-folder of an EEGStyleGAN-ADA model folder holding the discriminator (written by `train-gan` and by
`convert-checkpoint stylegan-snapshot`; read by `train-gan --init-from`)."""

GAN_GENERATOR_FOLDER = "generator"
"""Sub-folder holding the non-EMA generator of a converted training snapshot (read by `train-gan --init-from`)."""

GAN_INIT_STATE = "gan_init_state.json"
"""Augmentation state (`augment_p`, the augment pipe's settings) of a converted training snapshot."""

__all__ = ["CONVERSION_RECORD", "DEFAULT_VISION_MODEL", "GAN_DISCRIMINATOR_FOLDER", "GAN_GENERATOR_FOLDER",
           "GAN_INIT_STATE", "SPLIT_STRATEGIES", "TRAINING_RECORD"]
