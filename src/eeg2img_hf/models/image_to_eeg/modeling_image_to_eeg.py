"""Image -> EEG-space encoder: a vision backbone and a head regressing a frozen EEG encoder's embeddings.

Singh, Dalal, Vashishtha, Miyapuram, Raman, "Learning Robust Deep Visual Representations from EEG and Brain
Recordings", WACV 2024, fig. 3d / fig. 7: an image encoder maps an image into the learned EEG feature space,
where the EEG-conditioned StyleGAN2-ADA generator reconstructs an image from it. Imports only torch and
transformers, so a saved folder loads with `trust_remote_code=True`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .common import check_pixel_values, load_vision_tower, pretrained_tower_config
from .configuration_image_to_eeg import ImageToEEGConfig

__all__ = [
    "LOSSES",
    "ImageToEEGModel",
    "ImageToEEGOutput",
    "ImageToEEGPreTrainedModel",
    "cross_modal_triplet_loss",
]

LOSSES = ("mse", "triplet")
UNKNOWN_SUBJECT = -1


@dataclass
class ImageToEEGOutput(ModelOutput):
    """Output of [`ImageToEEGModel`].

    Args:
        loss (`torch.Tensor` of shape `()`, *optional*): returned when `target_embeds` is given.
        eeg_embeds (`torch.Tensor` of shape `(batch_size, eeg_embed_dim)`): predicted EEG embeddings (unit norm).
        image_features (`torch.Tensor` of shape `(batch_size, feature_dim)`): flattened pooled backbone output.
    """

    loss: torch.Tensor | None = None
    eeg_embeds: torch.Tensor | None = None
    image_features: torch.Tensor | None = None


def cross_modal_triplet_loss(
    image_embeds: torch.Tensor, target_embeds: torch.Tensor, labels: torch.Tensor | None = None, margin: float = 1.0
) -> torch.Tensor:
    r"""Triplet loss with semi-hard negatives between predicted and target EEG embeddings (paper eq. 1).

    Anchor `i` is `image_embeds[i]`, its positive `target_embeds[i]`; negatives are the other rows' targets (only
    those of another class when `labels` is given). With squared distances :math:`D_{ij} = \lVert a_i - t_j
    \rVert^2`, the negative is :math:`n^* = \arg\min_{n: D_{in} > D_{ii}} D_{in}` (the closest negative farther
    than the positive), or the farthest negative when none is farther. The loss is the mean over anchors that
    have a negative of :math:`\max(0, D_{ii} - D_{in^*} + m)`; 0 (attached to the graph) when none has one.

    Args:
        image_embeds (`torch.Tensor` of shape `(batch_size, dim)`): predicted embeddings.
        target_embeds (`torch.Tensor` of shape `(batch_size, dim)`): the paired EEG embeddings.
        labels (`torch.Tensor` of shape `(batch_size,)`, *optional*): class ids; rows of one class are not
            negatives of each other.
        margin (`float`, *optional*, defaults to 1.0): the margin :math:`m` (>= 0).
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    dist = torch.cdist(image_embeds.float(), target_embeds.float()).pow(2)  # (anchor, target)
    batch = dist.shape[0]
    eye = torch.eye(batch, dtype=torch.bool, device=dist.device)
    negative = ~eye if labels is None else labels.view(-1, 1).to(dist.device) != labels.view(1, -1).to(dist.device)
    positive = dist.diagonal()
    with torch.no_grad():
        farther = negative & (dist > positive.view(-1, 1))
        closest_farther = dist.masked_fill(~farther, math.inf).argmin(dim=1)
        farthest = dist.masked_fill(~negative, -math.inf).argmax(dim=1)
        chosen = torch.where(farther.any(dim=1), closest_farther, farthest)
    valid = negative.any(dim=1)
    hinge = (positive - dist.gather(1, chosen.view(-1, 1)).squeeze(1) + margin).clamp_min(0.0)
    return (hinge * valid).sum() / valid.sum().clamp_min(1)


class ImageToEEGPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading for [`ImageToEEGModel`]."""

    config_class = ImageToEEGConfig
    config: ImageToEEGConfig
    base_model_prefix = "image_to_eeg"
    main_input_name = "pixel_values"
    input_modalities = "image"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # The head and the subject-plane convolution keep PyTorch's fan-in uniform init (as the authors'); a
        # transformers backbone, a PreTrainedModel of its own, is initialised by its own `_init_weights`; the layers
        # of the torchvision GoogLeNet get PyTorch's defaults (its weights come from a checkpoint).
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            bound = 1.0 / math.sqrt(module.weight[0].numel())
            init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)


def build_torchvision_googlenet(transform_input: bool = True) -> nn.Module:
    """torchvision's GoogLeNet architecture without weights, auxiliary heads or its classifier (`fc` is the identity,
    so it returns the 1024 pooled features, after its dropout)."""
    try:
        from torchvision.models import googlenet
    except ImportError as err:  # pragma: no cover - torchvision is a dependency of the package
        raise ImportError("vision_backbone='torchvision-googlenet' needs torchvision (pip install torchvision)"
                          ) from err
    model = googlenet(weights=None, aux_logits=False, init_weights=False, transform_input=transform_input)
    model.fc = nn.Identity()
    return model


class ImageToEEGModel(ImageToEEGPreTrainedModel):
    """Image -> predicted EEG embedding: vision backbone, pooled features (+ subject embedding), MLP head, L2.

    Train it against a frozen EEG encoder's embeddings of the paired trials (`eeg2img train-image-to-eeg`);
    feed its output to an `EEGStyleGANModel` as `eeg_embeds` to reconstruct images (pipeline
    `"image-to-eeg-to-image"`). With `config.freeze_vision_tower`, the backbone has no trainable weights and
    stays in eval mode even inside `model.train()`.

    Example:
        >>> import torch
        >>> from eeg2img_hf.models import ImageToEEGConfig, ImageToEEGModel
        >>> model = ImageToEEGModel(ImageToEEGConfig.from_preset("tiny")).eval()
        >>> model(pixel_values=torch.randn(2, 3, 16, 16)).eeg_embeds.shape
        torch.Size([2, 12])
    """

    def __init__(self, config: ImageToEEGConfig) -> None:
        super().__init__(config)
        if config.vision_backbone == "torchvision-googlenet":
            self.vision_model = build_torchvision_googlenet(config.googlenet_transform_input)
        else:
            self.vision_model = AutoModel.from_config(config.vision_config)
        feature_dim = config.feature_dim
        planes = config.subject_conditioning == "planes" and bool(config.n_subjects)
        channels = len(config.image_mean)
        # the authors' input layer: image + one constant plane per subject -> Conv 3x3 -> ReLU -> backbone
        self.subject_conv = nn.Conv2d(channels + config.n_subjects, channels, 3, padding=1) if planes else None
        embedding = bool(config.n_subjects) and not planes
        self.subject_embedding = nn.Embedding(config.n_subjects, feature_dim) if embedding else None
        self.fc1 = nn.Linear(feature_dim, config.hidden_dim)
        self.act = nn.LeakyReLU(config.negative_slope)
        self.dropout = nn.Dropout(config.dropout)
        self.fc2 = nn.Linear(config.hidden_dim, config.eeg_embed_dim, bias=False)
        if config.freeze_vision_tower:
            self.vision_model.requires_grad_(False)
        self.post_init()

    def train(self, mode: bool = True) -> ImageToEEGModel:
        """`nn.Module.train`, except that a frozen backbone always stays in eval mode."""
        super().train(mode)
        if self.config.freeze_vision_tower:
            self.vision_model.eval()
        return self

    @classmethod
    def from_vision_pretrained(cls, config: ImageToEEGConfig | str = "authors", *, vision_model: str,
                               revision: str | None = None, hub_kwargs: dict[str, Any] | None = None,
                               **overrides: Any) -> ImageToEEGModel:
        """An image -> EEG model whose backbone holds exactly the weights of a pretrained transformers backbone.

        The checkpoint's backbone config, its image preprocessing (size, resize / crop, mean, std and filter from
        its `preprocessor_config.json`, used by `build_image_processor`) and its provenance
        (`vision_model_name_or_path`, `vision_model_revision`, `vision_weights_sha256`) replace the config's; the
        head is initialised as usual. `save_pretrained` writes the backbone's weights into `model.safetensors`, so
        the saved folder reloads offline without the original checkpoint.

        Args:
            config (`ImageToEEGConfig` or `str`, *optional*, defaults to `"authors"`): a config or a preset name.
            vision_model (`str`): Hub repo id or folder: `"microsoft/resnet-50"`, any transformers vision backbone
                (ConvNeXt, DINOv2, ...) or a CLIP / SigLIP checkpoint (its vision tower).
            revision (`str`, *optional*): branch, tag or commit of the Hub repo.
            hub_kwargs (`dict`, *optional*): `from_pretrained` options (`cache_dir`, `token`, `local_files_only`).
            overrides: config fields applied to the preset (with a preset name only).
        """
        if isinstance(config, str):
            config = ImageToEEGConfig.from_preset(config, **overrides)
        elif overrides:
            raise ValueError("config overrides need a preset name; with a config object, set them on the object")
        elif not isinstance(config, ImageToEEGConfig):
            raise ValueError(f"config must be an ImageToEEGConfig or a preset name, got {type(config).__name__}")
        if config.vision_backbone != "transformers":
            raise ValueError(f"from_vision_pretrained loads transformers backbones; vision_backbone="
                             f"{config.vision_backbone!r} gets its weights from a converted checkpoint "
                             "(`eeg2img convert-checkpoint image-to-eeg`)")
        tower, values, image = load_vision_tower(vision_model, revision=revision, **(hub_kwargs or {}))
        model = cls(pretrained_tower_config(config, values, image, square_resize=True))
        model.vision_model.load_state_dict(tower.state_dict())
        return model

    def build_image_processor(self):
        """A transformers image processor for this model's input: resize to `image_size` x `image_size` (or, with
        `image_resize_size`, the shortest edge to it and a centre crop to `image_size`) with filter
        `image_resample`, scale to `[0, 1]`, normalise with `image_mean` / `image_std` (it is saved next to
        trained models)."""
        from transformers import CLIPImageProcessor, ViTImageProcessor

        config = self.config
        size = config.image_size
        common = {"do_resize": True, "resample": getattr(config, "image_resample", 2), "do_rescale": True,
                  "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(config.image_mean),
                  "image_std": list(config.image_std)}
        resize = getattr(config, "image_resize_size", None)
        if resize is None:
            return ViTImageProcessor(size={"height": size, "width": size}, **common)
        return CLIPImageProcessor(size={"shortest_edge": resize}, do_center_crop=True,
                                  crop_size={"height": size, "width": size}, do_convert_rgb=True, **common)

    def subject_planes(self, subject: torch.Tensor | None, pixel_values: torch.Tensor) -> torch.Tensor:
        """The `(batch_size, n_subjects, height, width)` planes of `subject_conditioning="planes"`: ones in the
        subject's plane (ids `1..n_subjects`), zeros elsewhere; `1 / n_subjects` everywhere for an unknown subject
        (`None` or `-1`)."""
        n = self.config.n_subjects
        batch, _, height, width = pixel_values.shape
        ids = self._check_subject(subject, batch, pixel_values.device)
        known = ids != UNKNOWN_SUBJECT
        weights = torch.where(known.view(-1, 1), F.one_hot((ids - 1).clamp_min(0), n).to(pixel_values.dtype),
                              torch.full((batch, n), 1.0 / n, dtype=pixel_values.dtype, device=pixel_values.device))
        return weights.view(batch, n, 1, 1).expand(batch, n, height, width)

    def _check_subject(self, subject: torch.Tensor | None, batch_size: int, device: torch.device) -> torch.Tensor:
        """Subject ids as a long tensor of shape `(batch_size,)` (`-1` = unknown), checked."""
        if subject is None:
            return torch.full((batch_size,), UNKNOWN_SUBJECT, dtype=torch.long, device=device)
        subject = torch.as_tensor(subject, device=device)
        if subject.is_floating_point() or subject.dtype == torch.bool or subject.shape != (batch_size,):
            raise ValueError(f"subject must be an integer tensor of shape ({batch_size},), got dtype {subject.dtype} "
                             f"and shape {tuple(subject.shape)}")
        known = subject != UNKNOWN_SUBJECT
        bad = known & ((subject < 1) | (subject > self.config.n_subjects))
        if bool(bad.any()):
            raise ValueError(f"subject ids must be in 1..{self.config.n_subjects} (or -1 for unknown), got "
                             f"{sorted(set(subject[bad].tolist()))}")
        return subject.long()

    def get_image_features(self, pixel_values: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:
        """Flattened pooled backbone output `(batch_size, feature_dim)` (no gradient when the tower is frozen).

        With `subject_conditioning="planes"`, the subject planes (`subject`: ids `1..n_subjects`, `-1` or `None` =
        unknown, see `subject_planes`) go through the input convolution first; otherwise `subject` must be `None`.
        """
        check_pixel_values(pixel_values, len(self.config.image_mean), self.config.image_size)
        if self.subject_conv is not None:
            planes = self.subject_planes(subject, pixel_values)
            pixel_values = F.relu(self.subject_conv(torch.cat([pixel_values, planes], dim=1)))
        elif subject is not None:
            raise ValueError("get_image_features takes `subject` only with subject_conditioning='planes'")
        frozen = self.config.freeze_vision_tower
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            if self.config.vision_backbone == "torchvision-googlenet":
                return self.vision_model(pixel_values).flatten(1)
            out = self.vision_model(pixel_values=pixel_values, return_dict=True)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:  # no pooler: average the tokens / the spatial map
            hidden = out.last_hidden_state
            pooled = hidden.mean(dim=1) if hidden.ndim == 3 else hidden.mean(dim=(2, 3))
        return pooled.flatten(1)

    def subject_features(self, subject: torch.Tensor | None, batch_size: int) -> torch.Tensor | None:
        """The subject embedding to add per row: the subject's vector, or the mean over subjects where the subject
        is `None` or `-1` (unknown). `None` when the model has no subject conditioning."""
        if self.subject_embedding is None:
            if subject is not None and self.subject_conv is None:
                raise ValueError("this model has no subject conditioning (config.n_subjects is None): omit `subject`")
            return None
        mean = self.subject_embedding.weight.mean(dim=0)
        if subject is None:
            return mean.expand(batch_size, -1)
        subject = self._check_subject(subject, batch_size, mean.device)
        known = subject != UNKNOWN_SUBJECT
        vectors = self.subject_embedding((subject - 1).clamp_min(0))
        return torch.where(known.view(-1, 1), vectors, mean)

    def forward(
        self,
        pixel_values: torch.Tensor,
        subject: torch.Tensor | None = None,
        target_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        loss: str = "mse",
        margin: float = 1.0,
        return_dict: bool | None = None,
    ) -> ImageToEEGOutput | tuple:
        """Predict EEG embeddings of images (and, with `target_embeds`, the training loss).

        Args:
            pixel_values (`torch.Tensor` of shape `(batch_size, num_channels, image_size, image_size)`):
                normalised images (see `build_image_processor`).
            subject (`torch.Tensor` of shape `(batch_size,)`, *optional*): subject ids `1..n_subjects`, `-1` for
                unknown; omitted = unknown for every row (mean subject embedding).
            target_embeds (`torch.Tensor` of shape `(batch_size, eeg_embed_dim)`, *optional*): the frozen EEG
                encoder's embeddings of the paired trials; adds `loss`.
            labels (`torch.Tensor` of shape `(batch_size,)`, *optional*): class ids; with `loss="triplet"`, rows
                of one class are not used as each other's negatives.
            loss (`str`, *optional*, defaults to `"mse"`): `"mse"` (authors' code: mean squared error between the
                unit vectors) or `"triplet"` ([`cross_modal_triplet_loss`], the paper's wording).
            margin (`float`, *optional*, defaults to 1.0): triplet margin (squared distances).
            return_dict (`bool`, *optional*): return a tuple when `False` (default: `config.return_dict`).
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        features = self.get_image_features(pixel_values, subject if self.subject_conv is not None else None)
        subject_vectors = self.subject_features(subject, features.shape[0])
        hidden = features if subject_vectors is None else features + subject_vectors.to(features.dtype)
        embeds = F.normalize(self.fc2(self.dropout(self.act(self.fc1(hidden)))), dim=-1)
        loss_value = None
        if target_embeds is not None:
            expected = (embeds.shape[0], self.config.eeg_embed_dim)
            if not isinstance(target_embeds, torch.Tensor) or tuple(target_embeds.shape) != expected:
                raise ValueError(f"target_embeds must be a tensor of shape {expected}, got "
                                 f"{tuple(getattr(target_embeds, 'shape', ()))}")
            if not bool(torch.isfinite(target_embeds).all()):
                raise ValueError("target_embeds contains NaN or inf values")
            target = target_embeds.to(embeds.dtype)
            if loss == "mse":
                loss_value = F.mse_loss(embeds, target)
            else:
                if labels is not None and tuple(labels.shape) != (embeds.shape[0],):
                    raise ValueError(f"labels must have shape ({embeds.shape[0]},), got {tuple(labels.shape)}")
                loss_value = cross_modal_triplet_loss(embeds, target, labels, margin)
        output = ImageToEEGOutput(loss=loss_value, eeg_embeds=embeds, image_features=features)
        return output if return_dict else output.to_tuple()
