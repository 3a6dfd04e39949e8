"""EEGClip: an EEG encoder and an image backbone aligned in one space with a symmetric CLIP loss.

Singh, Dalal, Vashishtha, Miyapuram, Raman, "Learning Robust Deep Visual Representations from EEG and Brain
Recordings", WACV 2024, sec. 3.3 (EEG-image joint representation). Authors' recipe: docs/authors-code.md, 'EEGClip'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, CLIPImageProcessor, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .common import check_pixel_values, load_vision_tower, pretrained_tower_config
from .configuration_eeg_clip import EEGClipConfig
from .modeling_eeg_encoder import EEGEncoderModel

__all__ = [
    "EEGClipModel",
    "EEGClipOutput",
    "EEGClipPreTrainedModel",
    "check_pixel_values",
    "clip_loss",
    "make_image_processor",
    "positives_from_ids",
]


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over rows of `-sum_j p_ij log softmax(logits)_ij`, `p` = each row of `targets` scaled to sum 1."""
    weights = targets / targets.sum(dim=1, keepdim=True)
    return -(weights * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def clip_loss(logits_per_eeg: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric CLIP loss: `(CE(rows) + CE(columns)) / 2` of a `(batch_size, batch_size)` similarity matrix.

    Without `targets` the positives are the diagonal (pair `i` is EEG trial `i` with image `i`), exactly the
    authors' loss. With `targets`, a boolean (or non-negative float) mask of positives, each row (EEG -> images)
    and each column (image -> EEGs) gets a multi-positive cross-entropy whose target distribution spreads
    uniformly over that row's (column's) positives; use it so that other trials of the same image (or class)
    in the batch are not pushed apart as negatives (see [`positives_from_ids`]).

    Args:
        logits_per_eeg (`torch.Tensor` of shape `(batch_size, batch_size)`): scaled similarities,
            EEG trials in rows, images in columns.
        targets (`torch.Tensor` of shape `(batch_size, batch_size)`, *optional*): positives mask; every row and
            every column needs at least one positive.

    Returns:
        `torch.Tensor` of shape `()`: the loss.
    """
    if logits_per_eeg.ndim != 2 or logits_per_eeg.shape[0] != logits_per_eeg.shape[1]:
        raise ValueError(
            f"logits_per_eeg must be a square (batch_size, batch_size) matrix, got {tuple(logits_per_eeg.shape)}"
        )
    if not bool(torch.isfinite(logits_per_eeg).all()):
        raise ValueError("logits_per_eeg contains NaN or inf values")
    if targets is None:
        labels = torch.arange(logits_per_eeg.shape[0], device=logits_per_eeg.device)
        return (F.cross_entropy(logits_per_eeg, labels) + F.cross_entropy(logits_per_eeg.t(), labels)) / 2
    if targets.shape != logits_per_eeg.shape:
        raise ValueError(
            f"targets must have the shape of logits_per_eeg {tuple(logits_per_eeg.shape)}, got {tuple(targets.shape)}"
        )
    targets = targets.to(device=logits_per_eeg.device, dtype=logits_per_eeg.dtype)
    if bool((targets < 0).any()) or not bool(torch.isfinite(targets).all()):
        raise ValueError("targets must be a boolean or non-negative finite mask of positives")
    if bool((targets.sum(dim=1) <= 0).any()) or bool((targets.sum(dim=0) <= 0).any()):
        raise ValueError("every row and every column of targets needs at least one positive")
    return (_soft_cross_entropy(logits_per_eeg, targets) + _soft_cross_entropy(logits_per_eeg.t(), targets.t())) / 2


def positives_from_ids(ids: torch.Tensor) -> torch.Tensor:
    """Boolean `(batch_size, batch_size)` mask, `True` where two batch items share an id (an image id or a class).

    Args:
        ids (`torch.Tensor` of shape `(batch_size,)`): integer ids, one per (EEG, image) pair.
    """
    if ids.ndim != 1 or ids.is_floating_point():
        raise ValueError(f"ids must be a 1-D integer tensor, got dtype {ids.dtype} and shape {tuple(ids.shape)}")
    return ids[:, None] == ids[None, :]


def make_image_processor(config: EEGClipConfig) -> CLIPImageProcessor:
    """The image processor of an EEGClip model: RGB, resize (shortest edge `config.image_resize_size`, filter
    `config.image_resample`), centre crop `config.image_size`, rescale by 1/255 and normalise with
    `config.image_mean/std`.

    It is a standard `CLIPImageProcessor`, so `save_pretrained` / `AutoImageProcessor.from_pretrained` work.
    """
    return CLIPImageProcessor(
        do_resize=True,
        size={"shortest_edge": config.image_resize_size},
        resample=config.image_resample,  # default PIL.Image.BILINEAR, as torchvision's ResNet-50 transforms
        do_center_crop=True,
        crop_size={"height": config.image_size, "width": config.image_size},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(config.image_mean),
        image_std=list(config.image_std),
        do_convert_rgb=True,
    )


@dataclass
class EEGClipOutput(ModelOutput):
    """Output of [`EEGClipModel`].

    Args:
        loss (`torch.Tensor` of shape `()`, *optional*): the symmetric CLIP loss, when `return_loss=True`.
        logits_per_eeg (`torch.Tensor` of shape `(eeg_batch_size, image_batch_size)`, *optional*):
            `exp(logit_scale)` times the cosine similarity of each EEG trial with each image.
        logits_per_image (`torch.Tensor` of shape `(image_batch_size, eeg_batch_size)`, *optional*):
            the transpose of `logits_per_eeg`.
        eeg_embeds (`torch.Tensor` of shape `(eeg_batch_size, projection_dim)`, *optional*): L2-normalised.
        image_embeds (`torch.Tensor` of shape `(image_batch_size, projection_dim)`, *optional*): L2-normalised.
    """

    loss: torch.Tensor | None = None
    logits_per_eeg: torch.Tensor | None = None
    logits_per_image: torch.Tensor | None = None
    eeg_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None


class EEGClipPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading for EEGClip."""

    config_class = EEGClipConfig
    config: EEGClipConfig
    base_model_prefix = "eeg_clip"
    main_input_name = "eeg_values"
    input_modalities = ("time", "image")

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # The towers initialise themselves (sub-models); projections get PyTorch's default fan-in uniform init
        # (the authors' nn.Linear), the logit scale its configured value.
        if isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.weight.shape[1])
            init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, EEGClipModel):
            init.constant_(module.logit_scale, self.config.logit_scale_init_value)


class EEGClipModel(EEGClipPreTrainedModel):
    """EEG trials and images in one joint space ("EEGClip", Singh et al., WACV 2024, sec. 3.3).

    `eeg_model` ([`EEGEncoderModel`]) then `eeg_projection` (bias-free linear) embeds EEG; `vision_model` (any
    transformers backbone, by default the ResNet-50 layout) then `image_projection` (ReLU, bias-free linear: the
    authors' replacement of ResNet's `fc`) embeds images; both are L2-normalised and compared by cosine
    similarity times `exp(logit_scale)`. With `config.freeze_vision_tower` the backbone gets no gradient and stays
    in eval mode even under `model.train()` (the authors' frozen ResNet was left in train mode, so its batch-norm
    layers used batch statistics; docs/authors-code.md, 'EEGClip').

    Example:
        >>> import torch
        >>> from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel
        >>> model = EEGClipModel(EEGClipConfig.from_preset("tiny")).eval()
        >>> out = model(eeg_values=torch.rand(2, 4, 32), pixel_values=torch.randn(2, 3, 32, 32), return_loss=True)
        >>> out.logits_per_eeg.shape
        torch.Size([2, 2])
    """

    def __init__(self, config: EEGClipConfig) -> None:
        super().__init__(config)
        self.eeg_model = EEGEncoderModel(config.encoder_config)
        self.vision_model = AutoModel.from_config(config.vision_config)
        self.eeg_projection = nn.Linear(config.encoder_config.embed_dim, config.projection_dim, bias=False)
        self.image_projection = nn.Sequential(
            nn.ReLU(), nn.Linear(config.vision_embed_dim, config.projection_dim, bias=False)
        )
        scale = torch.tensor(config.logit_scale_init_value)
        if config.learnable_logit_scale:
            self.logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer("logit_scale", scale, persistent=True)
        self.post_init()
        self._freeze_vision_tower()

    def _freeze_vision_tower(self) -> None:
        if self.config.freeze_vision_tower:
            self.vision_model.requires_grad_(False)
            self.vision_model.eval()

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> EEGClipModel:
        """`PreTrainedModel.from_pretrained`, then the frozen vision tower is frozen again (loading re-creates
        parameters with `requires_grad=True`)."""
        model = super().from_pretrained(*args, **kwargs)
        model._freeze_vision_tower()
        return model

    @classmethod
    def from_vision_pretrained(cls, config: EEGClipConfig | str = "authors", *, vision_model: str,
                               revision: str | None = None, hub_kwargs: dict[str, Any] | None = None,
                               **overrides: Any) -> EEGClipModel:
        """An EEGClip model whose vision tower holds exactly the weights of a pretrained transformers backbone.

        The checkpoint's tower config, its image preprocessing (size, resize, mean, std and filter from its
        `preprocessor_config.json`, used by [`make_image_processor`]) and its provenance
        (`vision_model_name_or_path`, `vision_model_revision`, `vision_weights_sha256`) replace the config's; the
        EEG tower and the projections are initialised as usual. `save_pretrained` writes the tower's weights into
        `model.safetensors`, so the saved folder reloads offline without the original checkpoint.

        Args:
            config (`EEGClipConfig` or `str`, *optional*, defaults to `"authors"`): a config or a preset name.
            vision_model (`str`): Hub repo id or folder: `"microsoft/resnet-50"` (the paper's tower), any
                transformers vision backbone (ConvNeXt, DINOv2, ...) or a CLIP / SigLIP checkpoint (its vision tower).
            revision (`str`, *optional*): branch, tag or commit of the Hub repo.
            hub_kwargs (`dict`, *optional*): `from_pretrained` options (`cache_dir`, `token`, `local_files_only`).
            overrides: config fields applied to the preset (with a preset name only).

        Example:

        ```python
        >>> model = EEGClipModel.from_vision_pretrained("authors", vision_model="microsoft/resnet-50")  # doctest: +SKIP
        ```
        """
        if isinstance(config, str):
            config = EEGClipConfig.from_preset(config, **overrides)
        elif overrides:
            raise ValueError("config overrides need a preset name; with a config object, set them on the object")
        elif not isinstance(config, EEGClipConfig):
            raise ValueError(f"config must be an EEGClipConfig or a preset name, got {type(config).__name__}")
        tower, values, image = load_vision_tower(vision_model, revision=revision, **(hub_kwargs or {}))
        model = cls(pretrained_tower_config(config, values, image, square_resize=False))
        model.vision_model.load_state_dict(tower.state_dict())
        return model

    def train(self, mode: bool = True) -> EEGClipModel:
        """Set train/eval mode; a frozen vision tower always stays in eval mode."""
        super().train(mode)
        if self.config.freeze_vision_tower:
            self.vision_model.eval()
        return self

    def get_eeg_features(self, eeg_values: torch.Tensor) -> torch.Tensor:
        """L2-normalised joint-space embeddings `(batch_size, projection_dim)` of EEG trials.

        Args:
            eeg_values (`torch.Tensor` of shape `(batch_size, n_chans, n_times)`): raw EEG trials (the encoder's
                `input_normalization` is applied inside).
        """
        embeds = self.eeg_model(eeg_values=eeg_values).eeg_embeds
        return F.normalize(self.eeg_projection(embeds), dim=-1)

    def get_vision_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The vision tower's pooled output `(batch_size, vision_embed_dim)`, before `image_projection`: what a
        precomputed image-features file holds for a frozen tower.

        Args:
            pixel_values (`torch.Tensor` of shape `(batch_size, num_channels, image_size, image_size)`): images from
                the model's image processor ([`make_image_processor`]).
        """
        check_pixel_values(pixel_values, self.config.num_channels, self.config.image_size)
        return self.vision_model(pixel_values=pixel_values, return_dict=True).pooler_output.flatten(1)

    def get_image_features(self, pixel_values: torch.Tensor | None = None,
                           vision_features: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised joint-space embeddings `(batch_size, projection_dim)` of images.

        Args:
            pixel_values (`torch.Tensor` of shape `(batch_size, num_channels, image_size, image_size)`): images from
                the model's image processor ([`make_image_processor`]).
            vision_features (`torch.Tensor` of shape `(batch_size, vision_embed_dim)`, *optional*): the tower's pooled
                output computed beforehand ([`get_vision_features`]) instead of `pixel_values`; valid for a frozen
                tower only (a trained tower changes them).
        """
        if (pixel_values is None) == (vision_features is None):
            raise ValueError("pass exactly one of `pixel_values` and `vision_features`")
        if vision_features is None:
            vision_features = self.get_vision_features(pixel_values)
        elif vision_features.ndim != 2 or vision_features.shape[1] != self.config.vision_embed_dim:
            raise ValueError(f"vision_features must have shape (batch_size, {self.config.vision_embed_dim}), got "
                             f"{tuple(vision_features.shape)}")
        return F.normalize(self.image_projection(vision_features), dim=-1)

    def forward(
        self,
        eeg_values: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        return_loss: bool = False,
        targets: torch.Tensor | None = None,
        return_dict: bool | None = None,
        vision_features: torch.Tensor | None = None,
    ) -> EEGClipOutput | tuple[torch.Tensor, ...]:
        """
        Args:
            eeg_values (`torch.Tensor` of shape `(batch_size, n_chans, n_times)`, *optional*): EEG trials.
            pixel_values (`torch.Tensor` of shape `(batch_size, num_channels, image_size, image_size)`, *optional*):
                processed images. With both inputs the logits are computed; with one, only its embeddings.
            return_loss (`bool`, *optional*, defaults to `False`): add the symmetric CLIP loss ([`clip_loss`]);
                needs both inputs, paired row by row.
            targets (`torch.Tensor` of shape `(batch_size, batch_size)`, *optional*): positives mask for the loss
                (default: the diagonal), e.g. `positives_from_ids(image_ids)`.
            return_dict (`bool`, *optional*): return a tuple when `False` (default: `config.return_dict`).
            vision_features (`torch.Tensor` of shape `(batch_size, vision_embed_dim)`, *optional*): precomputed pooled
                outputs of a frozen vision tower, in place of `pixel_values` (see [`get_image_features`]).
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if vision_features is not None:
            if pixel_values is not None:
                raise ValueError("pass `pixel_values` or `vision_features`, not both")
            if not self.config.freeze_vision_tower:
                raise ValueError("precomputed `vision_features` need a frozen vision tower (freeze_vision_tower=True): "
                                 "a trained tower would change them")
        images_given = pixel_values is not None or vision_features is not None
        if eeg_values is None and not images_given:
            raise ValueError("pass `eeg_values`, `pixel_values` or both")
        if return_loss and (eeg_values is None or not images_given):
            raise ValueError("return_loss=True needs both `eeg_values` and `pixel_values` (paired row by row)")
        if targets is not None and not return_loss:
            raise ValueError("`targets` is only used by the loss: pass return_loss=True")
        eeg_embeds = self.get_eeg_features(eeg_values) if eeg_values is not None else None
        image_embeds = (self.get_image_features(pixel_values=pixel_values, vision_features=vision_features)
                        if images_given else None)
        logits_per_eeg = logits_per_image = loss = None
        if eeg_embeds is not None and image_embeds is not None:
            scale = self.logit_scale.exp().clamp(max=100.0)  # CLIP's cap keeps a learnable scale stable
            logits_per_eeg = scale * eeg_embeds @ image_embeds.t()
            logits_per_image = logits_per_eeg.t()
            if return_loss:
                if eeg_embeds.shape[0] != image_embeds.shape[0]:
                    raise ValueError(
                        f"the loss needs paired inputs: got {eeg_embeds.shape[0]} EEG trials and "
                        f"{image_embeds.shape[0]} images"
                    )
                loss = clip_loss(logits_per_eeg, targets)
        output = EEGClipOutput(loss=loss, logits_per_eeg=logits_per_eeg, logits_per_image=logits_per_image,
                               eeg_embeds=eeg_embeds, image_embeds=image_embeds)
        return output if return_dict else output.to_tuple()
