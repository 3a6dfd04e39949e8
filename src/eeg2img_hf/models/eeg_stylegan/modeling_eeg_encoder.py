"""EEG encoders (LSTM, CNN, a temporal-spatial convolution tower, ATM's tower, braindecode models) as Hugging Face
models.

Singh, Dalal, Vashishtha, Miyapuram, Raman, "Learning Robust Deep Visual Representations from EEG
and Brain Recordings", WACV 2024, fig. 3a (LSTM) and fig. 3b (CNN). Li, Wei, Li, Zou, Qin, Liu, "Visual Decoding and
Reconstruction via EEG Embeddings with Guided Diffusion", NeurIPS 2024 (ATM). Inputs follow braindecode's
vocabulary: `eeg_values` of shape `(batch_size, n_chans, n_times)`.
"""

from __future__ import annotations

import importlib
import inspect
import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_eeg_encoder import EEGEncoderConfig


@dataclass
class EEGEncoderOutput(ModelOutput):
    """Output of [`EEGEncoderModel`].

    Args:
        eeg_embeds (`torch.Tensor` of shape `(batch_size, embed_dim)`):
            The EEG embedding (L2-normalised when `config.normalize_embeds`).
    """

    eeg_embeds: torch.Tensor | None = None


@dataclass
class EEGEncoderClassificationOutput(ModelOutput):
    """Output of [`EEGEncoderForClassification`].

    Args:
        loss (`torch.Tensor` of shape `()`, *optional*): cross-entropy, returned when `labels` is given.
        logits (`torch.Tensor` of shape `(batch_size, num_labels)`): class scores.
        eeg_embeds (`torch.Tensor` of shape `(batch_size, embed_dim)`): the EEG embedding.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    eeg_embeds: torch.Tensor | None = None


def check_eeg_values(eeg_values: torch.Tensor, n_chans: int, n_times: int) -> None:
    """Raise a `ValueError` naming the problem unless `eeg_values` is a finite float `(batch, n_chans, n_times)`."""
    expected = f"(batch_size, n_chans={n_chans}, n_times={n_times})"
    if not isinstance(eeg_values, torch.Tensor):
        raise ValueError(f"eeg_values must be a torch.Tensor of shape {expected}, got {type(eeg_values).__name__}")
    if not eeg_values.is_floating_point():
        raise ValueError(f"eeg_values must be a floating-point tensor, got dtype {eeg_values.dtype}")
    if eeg_values.ndim != 3:
        raise ValueError(
            f"eeg_values must have shape {expected}, got a {eeg_values.ndim}-D tensor "
            f"of shape {tuple(eeg_values.shape)}"
        )
    if eeg_values.shape[1] != n_chans:
        raise ValueError(f"eeg_values must have {n_chans} channels {expected}, got shape {tuple(eeg_values.shape)}")
    if eeg_values.shape[2] != n_times:
        raise ValueError(f"eeg_values must have {n_times} time samples {expected}, got shape {tuple(eeg_values.shape)}")
    finite = torch.isfinite(eeg_values).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()[:10].tolist()
        raise ValueError(f"eeg_values contains NaN or inf values (trials {bad})")


def normalize_eeg(eeg_values: torch.Tensor, method: str) -> torch.Tensor:
    """Per-trial input scaling: `"trial_max"` (authors' `2x/max - 1`), `"channel_zscore"` or `"none"`."""
    if method == "none":
        return eeg_values
    if method == "trial_max":
        peak = eeg_values.amax(dim=(1, 2), keepdim=True)
        if bool((peak <= 0).any()):
            bad = torch.nonzero(peak.flatten() <= 0).flatten()[:10].tolist()
            raise ValueError(
                f"input_normalization='trial_max' divides by each trial's maximum, but trials {bad} have a "
                "maximum <= 0; use input_normalization='channel_zscore' or shift the data"
            )
        return 2.0 * eeg_values / peak - 1.0
    if method == "channel_zscore":
        mean = eeg_values.mean(dim=2, keepdim=True)
        std = eeg_values.std(dim=2, keepdim=True)
        return (eeg_values - mean) / (std + 1e-6)
    raise ValueError(f"unknown input_normalization {method!r}")


class EEGLSTMTower(nn.Module):
    """Stacked LSTM over time; the last layer's final hidden state is projected to `embed_dim`."""

    def __init__(self, config: EEGEncoderConfig) -> None:
        super().__init__()
        self.lstm = nn.LSTM(config.n_chans, config.lstm_hidden_size, config.lstm_num_layers, batch_first=True)
        self.proj = nn.Linear(config.lstm_hidden_size, config.embed_dim, bias=False)

    def forward(self, eeg_values: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(eeg_values.transpose(1, 2))  # (batch, n_times, n_chans) in
        return self.proj(h_n[-1])


class EEGCNNBlock(nn.Module):
    """Conv 3x3 stride 2 (no bias) -> InstanceNorm (non-affine; or BatchNorm / none) -> LeakyReLU -> Dropout."""

    def __init__(self, in_channels: int, out_channels: int, config: EEGEncoderConfig) -> None:
        super().__init__()
        k = config.cnn_kernel_size
        self.conv = nn.Conv2d(in_channels, out_channels, k, stride=2, padding=k // 2, bias=False)
        norms = {"instance": lambda: nn.InstanceNorm2d(out_channels), "batch": lambda: nn.BatchNorm2d(out_channels),
                 "none": nn.Identity}
        self.norm = norms[config.cnn_norm]()
        # In place (exact: the norm's backward needs its input, not its output, and LeakyReLU's backward reads the
        # sign from its own output, slope > 0): one feature map per block less at a time in inference. Training keeps
        # as many (LeakyReLU then saves its output instead of its input); there, see activation checkpointing.
        self.act = nn.LeakyReLU(config.negative_slope, inplace=config.negative_slope > 0)
        self.dropout = nn.Dropout(config.cnn_dropout)

    def output_shape(self, shape: torch.Size) -> tuple[int, ...]:
        """Shape of this block's output for an input of `shape` `(batch, channels, height, width)`."""
        k, pad = self.conv.kernel_size[0], self.conv.padding[0]
        return (shape[0], self.conv.out_channels, *((size + 2 * pad - k) // 2 + 1 for size in shape[2:]))

    def forward(self, hidden: torch.Tensor, dropout_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.act(self.norm(self.conv(hidden)))
        if dropout_mask is None:
            return self.dropout(hidden)
        # What `F.dropout` computes from its Bernoulli draw (`noise.div_(1 - p)`, then `input * noise`), bit for bit.
        return hidden * dropout_mask.to(hidden.dtype).div_(1 - self.dropout.p)


class EEGCNNTower(nn.Module):
    """Convolutions over the `(n_times, n_chans)` plane, global average pooling, projection.

    With activation checkpointing (`model.activation_checkpointing_enable()`, training only) the convolutions run
    in chunks of `checkpoint_chunk_size` trials whose feature maps are recomputed in the backward pass, so only one
    chunk's maps are held at a time; the dropout masks are drawn for the whole batch first, in the order and shapes
    the plain forward pass draws them, so both give the same outputs and gradients. Batch norm (`cnn_norm="batch"`)
    mixes the trials of a batch and is refused there.
    """

    checkpoint_chunk_size = 16

    def __init__(self, config: EEGEncoderConfig) -> None:
        super().__init__()
        sizes = [1, *config.cnn_channels]
        self.blocks = nn.ModuleList(EEGCNNBlock(sizes[i], sizes[i + 1], config) for i in range(len(sizes) - 1))
        self.proj = nn.Linear(sizes[-1], config.embed_dim, bias=False)
        self.gradient_checkpointing = False
        height, width = config.n_times, config.n_chans
        for _ in config.cnn_channels:  # instance norm needs more than one spatial element per map
            height, width = (height - 1) // 2 + 1, (width - 1) // 2 + 1
            if height * width < 2 and config.cnn_norm == "instance":
                raise ValueError(
                    f"the CNN with {len(config.cnn_channels)} stride-2 blocks reduces an input of "
                    f"(n_times={config.n_times}, n_chans={config.n_chans}) to a single element; use fewer blocks"
                )

    def forward(self, eeg_values: torch.Tensor) -> torch.Tensor:
        hidden = eeg_values.transpose(1, 2).unsqueeze(1)  # (batch, 1, n_times, n_chans)
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return self.proj(self.checkpointed_features(hidden))
        return self.proj(self.features(hidden))

    def features(self, hidden: torch.Tensor, dropout_masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The blocks and the global average pooling: `(batch, 1, n_times, n_chans)` -> `(batch, channels)`."""
        for i, block in enumerate(self.blocks):
            hidden = block(hidden, None if dropout_masks is None else dropout_masks[i])
        return hidden.mean(dim=(2, 3))

    def draw_dropout_masks(self, hidden: torch.Tensor) -> list[torch.Tensor] | None:
        """The blocks' dropout masks (booleans) for the input `hidden`, drawn as the plain forward pass draws them
        (one Bernoulli draw per block, in block order, of the block's output shape); `None` without dropout."""
        p = self.blocks[0].dropout.p
        if p == 0:
            return None
        masks, shape = [], hidden.shape
        for block in self.blocks:
            shape = block.output_shape(shape)
            masks.append(hidden.new_empty(shape).bernoulli_(1 - p).bool())
        return masks

    def checkpointed_features(self, hidden: torch.Tensor) -> torch.Tensor:
        """[`features`] chunk by chunk through the checkpoint function (feature maps recomputed in backward)."""
        if isinstance(self.blocks[0].norm, nn.BatchNorm2d):
            raise ValueError("activation checkpointing runs the CNN in chunks of trials, which would change batch "
                             "norm's statistics; use cnn_norm='instance' or 'none', or train without it")
        masks = self.draw_dropout_masks(hidden)
        pooled = []
        for start in range(0, hidden.shape[0], self.checkpoint_chunk_size):
            rows = slice(start, start + self.checkpoint_chunk_size)
            chunk_masks = None if masks is None else [mask[rows] for mask in masks]
            pooled.append(self._gradient_checkpointing_func(self.features, hidden[rows], chunk_masks))
        return torch.cat(pooled)


class EEGTSConvTower(nn.Module):
    """Temporal convolution -> batch norm -> depthwise spatial convolution across all channels -> batch norm -> ELU
    -> average pooling over time -> dropout -> bias-free projection of the flattened maps (see [`EEGEncoderConfig`])."""

    def __init__(self, config: EEGEncoderConfig) -> None:
        super().__init__()
        filters, kernel = config.tsconv_filters, config.tsconv_kernel_size
        spatial = filters * config.tsconv_depth_multiplier
        self.temporal = nn.Conv2d(1, filters, (1, kernel), padding=(0, kernel // 2), bias=False)
        self.temporal_norm = nn.BatchNorm2d(filters)
        self.spatial = nn.Conv2d(filters, spatial, (config.n_chans, 1), groups=filters, bias=False)
        self.spatial_norm = nn.BatchNorm2d(spatial)
        self.act = nn.ELU()
        self.pool = nn.AvgPool2d((1, config.tsconv_pool_size), stride=(1, config.tsconv_pool_stride))
        self.dropout = nn.Dropout(config.tsconv_dropout)
        length = config.n_times + 2 * (kernel // 2) - kernel + 1
        pooled = (length - config.tsconv_pool_size) // config.tsconv_pool_stride + 1
        self.proj = nn.Linear(spatial * pooled, config.embed_dim, bias=False)

    def forward(self, eeg_values: torch.Tensor) -> torch.Tensor:
        hidden = self.temporal_norm(self.temporal(eeg_values.unsqueeze(1)))  # (batch, filters, n_chans, n_times)
        hidden = self.act(self.spatial_norm(self.spatial(hidden)))  # (batch, spatial, 1, n_times)
        return self.proj(self.dropout(self.pool(hidden)).flatten(1))


def sinusoidal_positions(n_positions: int, width: int, device=None, dtype=None) -> torch.Tensor:
    """Transformer sinusoidal encoding `(n_positions, width)`: `sin(p / 10000^(2i / width))` in even columns and
    `cos` of the same angle in odd columns (an odd `width` drops the last cosine)."""
    position = torch.arange(n_positions, device=device, dtype=torch.float32)[:, None]
    rates = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
    angles = position * rates  # (n_positions, ceil(width / 2))
    table = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[:, :width]
    return table.to(dtype=dtype)


class ATMSelfAttention(nn.Module):
    """Multi-head self-attention with heads of `width // num_heads` dimensions (ATM: 4 heads of 62 for width 250,
    so the inner size `num_heads * head_dim` may be below `width`)."""

    def __init__(self, width: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, width // num_heads
        inner = self.num_heads * self.head_dim
        self.query = nn.Linear(width, inner)
        self.key = nn.Linear(width, inner)
        self.value = nn.Linear(width, inner)
        self.out = nn.Linear(inner, width)
        self.dropout = dropout

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, length, _ = tokens.shape

        def heads(layer: nn.Linear) -> torch.Tensor:  # (batch, num_heads, length, head_dim)
            return layer(tokens).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

        mixed = F.scaled_dot_product_attention(heads(self.query), heads(self.key), heads(self.value),
                                               dropout_p=self.dropout if self.training else 0.0)
        return self.out(mixed.transpose(1, 2).reshape(batch, length, -1))


class ATMEncoderLayer(nn.Module):
    """Post-norm transformer encoder layer: `x = norm1(x + dropout(attention(x)))`, then
    `norm2(x + dropout(linear2(dropout(gelu(linear1(x))))))`."""

    def __init__(self, width: int, config: EEGEncoderConfig) -> None:
        super().__init__()
        self.attention = ATMSelfAttention(width, config.atm_num_heads, config.atm_dropout)
        self.norm1 = nn.LayerNorm(width)
        self.ff_in = nn.Linear(width, config.atm_ff_dim)
        self.ff_out = nn.Linear(config.atm_ff_dim, width)
        self.norm2 = nn.LayerNorm(width)
        self.dropout = nn.Dropout(config.atm_dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = self.norm1(tokens + self.dropout(self.attention(tokens)))
        hidden = self.dropout(self.ff_out(self.dropout(F.gelu(self.ff_in(tokens)))))
        return self.norm2(tokens + hidden)


def atm_pooled_length(config: EEGEncoderConfig) -> int:
    """Time steps left after the `"atm"` tower's temporal convolution and pooling of its `atm_d_model` token axis."""
    width = config.atm_d_model or config.n_times
    return (width - config.atm_conv_kernel_size + 1 - config.atm_pool_size) // config.atm_pool_stride + 1


class EEGATMTower(nn.Module):
    """ATM's EEG encoder: channel-wise transformer -> temporal-spatial convolution -> residual MLP projector with
    layer norm (see [`EEGEncoderConfig`])."""

    def __init__(self, config: EEGEncoderConfig) -> None:
        super().__init__()
        width, filters = config.atm_d_model or config.n_times, config.atm_conv_filters
        self.positional_encoding = config.atm_positional_encoding
        self.token_embedding = nn.Linear(config.n_times, width)  # one token per channel: its whole time course
        self.subject_token = nn.Parameter(torch.zeros(1, 1, width)) if config.atm_subject_token else None
        self.embed_dropout = nn.Dropout(config.atm_dropout)
        self.layers = nn.ModuleList(ATMEncoderLayer(width, config) for _ in range(config.atm_num_layers))
        self.encoder_norm = nn.LayerNorm(width)
        self.temporal = nn.Conv2d(1, filters, (1, config.atm_conv_kernel_size))
        self.pool = nn.AvgPool2d((1, config.atm_pool_size), (1, config.atm_pool_stride))
        self.temporal_norm = nn.BatchNorm2d(filters)
        self.spatial = nn.Conv2d(filters, filters, (config.n_chans, 1))
        self.spatial_norm = nn.BatchNorm2d(filters)
        self.act = nn.ELU()
        self.conv_dropout = nn.Dropout(config.atm_conv_dropout)
        self.pointwise = nn.Conv2d(filters, filters, 1)
        self.proj_in = nn.Linear(filters * atm_pooled_length(config), config.embed_dim)
        self.proj_hidden = nn.Linear(config.embed_dim, config.embed_dim)
        self.proj_dropout = nn.Dropout(config.atm_proj_dropout)
        self.proj_norm = nn.LayerNorm(config.embed_dim)

    def encode_channels(self, eeg_values: torch.Tensor) -> torch.Tensor:
        """The channel-wise transformer: `(batch, n_chans, n_times)` -> `(batch, n_chans, atm_d_model)`."""
        tokens = self.token_embedding(eeg_values)  # (batch, n_chans, width)
        if self.subject_token is not None:
            tokens = torch.cat([self.subject_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        if self.positional_encoding:
            tokens = tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2], tokens.device, tokens.dtype)
        tokens = self.embed_dropout(tokens)
        for layer in self.layers:
            tokens = layer(tokens)
        tokens = self.encoder_norm(tokens)
        return tokens[:, 1:] if self.subject_token is not None else tokens

    def forward(self, eeg_values: torch.Tensor) -> torch.Tensor:
        hidden = self.encode_channels(eeg_values).unsqueeze(1)  # (batch, 1, n_chans, width)
        hidden = self.act(self.temporal_norm(self.pool(self.temporal(hidden))))  # (batch, filters, n_chans, pooled)
        hidden = self.conv_dropout(self.act(self.spatial_norm(self.spatial(hidden))))  # (batch, filters, 1, pooled)
        embeds = self.proj_in(self.pointwise(hidden).flatten(1))
        embeds = embeds + self.proj_dropout(self.proj_hidden(F.gelu(embeds)))
        return self.proj_norm(embeds)


class EEGMLPTower(nn.Module):
    """UBP's projection tower: flattened trial -> linear -> `h + dropout(linear(gelu(h)))` -> layer norm (see
    [`EEGEncoderConfig`])."""

    def __init__(self, config: EEGEncoderConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(config.n_chans * config.n_times, config.embed_dim)
        self.act = nn.GELU()
        self.residual = nn.Linear(config.embed_dim, config.embed_dim)
        self.dropout = nn.Dropout(config.mlp_dropout)
        self.norm = nn.LayerNorm(config.embed_dim)

    def forward(self, eeg_values: torch.Tensor) -> torch.Tensor:
        hidden = self.proj(eeg_values.flatten(1))  # (batch, embed_dim)
        return self.norm(hidden + self.dropout(self.residual(self.act(hidden))))


BRAINDECODE_INSTALL = "pip install braindecode"
"""How to install the library of the `"braindecode"` tower (`pip install eeg2img_hf[braindecode]` with the package)."""


class BraindecodeNotInstalledError(ImportError, ValueError):
    """braindecode is missing: an `ImportError` that is also a `ValueError` (a user error, as bad input is)."""


def import_braindecode():
    """The `braindecode` module, or a [`BraindecodeNotInstalledError`] that says how to install it."""
    try:
        with warnings.catch_warnings():  # braindecode 1.8 imports call a montage name mne 1.13 deprecates
            warnings.simplefilter("ignore", FutureWarning)
            import braindecode
            import braindecode.models  # noqa: F401
    except ImportError as err:
        raise BraindecodeNotInstalledError(
            f"architecture='braindecode' needs the braindecode library: {BRAINDECODE_INSTALL}") from err
    return braindecode


def braindecode_class(name: str) -> type[nn.Module]:
    """The model class `name` of `braindecode.models` (a `ValueError` naming it when there is none)."""
    braindecode = import_braindecode()
    cls = getattr(braindecode.models, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"braindecode {braindecode.__version__} has no model class {name!r} in braindecode.models")
    return cls


def resolve_module_types(cls: type, kwargs: dict) -> dict:
    """`kwargs` with the dotted `torch.nn` names of module-type arguments (`"torch.nn.ELU"`, as braindecode writes
    them to JSON) replaced by the classes; any other dotted name for such an argument is refused (never imported)."""
    resolved = dict(kwargs)
    for name, param in inspect.signature(cls.__init__).parameters.items():
        value = resolved.get(name)
        if not (isinstance(value, str) and isinstance(param.default, type)):
            continue
        module_name, _, attr = value.rpartition(".")
        target = None
        if module_name == "torch.nn" or module_name.startswith("torch.nn."):
            target = getattr(importlib.import_module(module_name), attr, None)
        if not (isinstance(target, type) and issubclass(target, nn.Module)):
            raise ValueError(f"braindecode argument {name}={value!r} must name a torch.nn module class")
        resolved[name] = target
    return resolved


def build_braindecode_model(config: EEGEncoderConfig) -> nn.Module:
    """The braindecode model of `config` (random weights; `n_outputs=embed_dim`), built on the CPU: some classes run
    a sample through their layers to size them, which the meta device of `from_pretrained` cannot."""
    cls = braindecode_class(config.braindecode_model)
    kwargs = resolve_module_types(cls, config.braindecode_kwargs)
    if config.sfreq is not None:
        kwargs["sfreq"] = config.sfreq
    with torch.device("cpu"):
        return cls(n_chans=config.n_chans, n_times=config.n_times, n_outputs=config.embed_dim, **kwargs)


class EEGBraindecodeTower(nn.Module):
    """A braindecode model (`config.braindecode_model`) whose `embed_dim` outputs go through a bias-free projection.

    Models that take the channel names in `forward` (e.g. `Labram`) get those of `braindecode_kwargs["chs_info"]`.
    """

    def __init__(self, config: EEGEncoderConfig) -> None:
        super().__init__()
        self.model = build_braindecode_model(config)
        for module in self.model.modules():  # keeps braindecode's initialisation (see `_init_weights`)
            module._braindecode_initialized = True
        self.proj = nn.Linear(config.embed_dim, config.embed_dim, bias=False)
        if config.braindecode_version is None:
            config.braindecode_version = import_braindecode().__version__
        names = [ch["ch_name"] for ch in config.braindecode_kwargs.get("chs_info") or []]
        takes_names = "ch_names" in inspect.signature(self.model.forward).parameters
        self.ch_names = names if names and takes_names else None

    def forward(self, eeg_values: torch.Tensor) -> torch.Tensor:
        if self.ch_names is None:
            return self.proj(self.model(eeg_values))
        return self.proj(self.model(eeg_values, ch_names=self.ch_names))


_TOWERS = {"lstm": EEGLSTMTower, "cnn": EEGCNNTower, "tsconv": EEGTSConvTower, "atm": EEGATMTower,
           "mlp": EEGMLPTower,
           "braindecode": EEGBraindecodeTower}


class EEGEncoderPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading for the EEG encoders."""

    config_class = EEGEncoderConfig
    config: EEGEncoderConfig
    base_model_prefix = "eeg_encoder"
    main_input_name = "eeg_values"
    input_modalities = "time"
    supports_gradient_checkpointing = True  # the CNN tower only (see `EEGCNNTower`)
    _no_split_modules = ["EEGLSTMTower", "EEGCNNTower", "EEGTSConvTower", "EEGATMTower", "EEGMLPTower",
                         "EEGBraindecodeTower"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's default fan-in uniform init, as in the authors' code (HF's N(0, 0.02) differs). The modules of a
        # braindecode model keep braindecode's initialisation: built on the CPU (never on the meta device), they hold
        # it from construction, and from_pretrained then loads every saved tensor over it.
        if getattr(module, "_braindecode_initialized", False):
            return
        if isinstance(module, nn.LSTM):
            bound = 1.0 / math.sqrt(module.hidden_size)
            for param in module.parameters():
                init.uniform_(param, -bound, bound)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, EEGATMTower) and module.subject_token is not None:
            init.normal_(module.subject_token, std=1.0)  # ATM draws its subject tokens from N(0, 1)
        elif isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                init.uniform_(module.bias, -bound, bound)


class EEGEncoderModel(EEGEncoderPreTrainedModel):
    """EEG trial -> 128-D embedding with the LSTM (fig. 3a), the CNN (fig. 3b), the temporal-spatial
    convolution (`architecture="tsconv"`) or ATM's (`architecture="atm"`) encoder.

    Example:
        >>> import torch
        >>> from eeg2img_hf import EEGEncoderConfig, EEGEncoderModel
        >>> model = EEGEncoderModel(EEGEncoderConfig(n_chans=14, n_times=32, lstm_num_layers=1))
        >>> model(eeg_values=torch.randn(2, 14, 32)).eeg_embeds.shape
        torch.Size([2, 128])
    """

    def __init__(self, config: EEGEncoderConfig) -> None:
        super().__init__(config)
        self.tower = _TOWERS[config.architecture](config)
        self.post_init()

    def forward(self, eeg_values: torch.Tensor, return_dict: bool | None = None) -> EEGEncoderOutput | tuple:
        """Embed EEG trials.

        Args:
            eeg_values (`torch.Tensor` of shape `(batch_size, n_chans, n_times)`): raw EEG trials; the
                configured `input_normalization` is applied here.
            return_dict (`bool`, *optional*): return a tuple when `False` (default: `config.return_dict`).
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        check_eeg_values(eeg_values, self.config.n_chans, self.config.n_times)
        eeg_values = normalize_eeg(eeg_values, self.config.input_normalization)
        embeds = self.tower(eeg_values)
        if self.config.normalize_embeds:
            embeds = F.normalize(embeds, dim=-1)
        output = EEGEncoderOutput(eeg_embeds=embeds)
        return output if return_dict else output.to_tuple()


class EEGEncoderForClassification(EEGEncoderPreTrainedModel):
    """EEG encoder with a linear class head over the embedding (supervised training, fine-tuning).

    The number of classes is `config.num_labels` (set `id2label`/`label2id` for readable names).
    """

    def __init__(self, config: EEGEncoderConfig) -> None:
        super().__init__(config)
        self.eeg_encoder = EEGEncoderModel(config)
        self.classifier = nn.Linear(config.embed_dim, config.num_labels)
        self.post_init()

    def forward(
        self, eeg_values: torch.Tensor, labels: torch.Tensor | None = None, return_dict: bool | None = None
    ) -> EEGEncoderClassificationOutput | tuple:
        """Classify EEG trials.

        Args:
            eeg_values (`torch.Tensor` of shape `(batch_size, n_chans, n_times)`): raw EEG trials.
            labels (`torch.Tensor` of shape `(batch_size,)`, *optional*): class indices; adds `loss`.
            return_dict (`bool`, *optional*): return a tuple when `False` (default: `config.return_dict`).
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        embeds = self.eeg_encoder(eeg_values, return_dict=True).eeg_embeds
        logits = self.classifier(embeds)
        loss = None
        if labels is not None:
            if labels.shape != (logits.shape[0],):
                raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
            loss = F.cross_entropy(logits, labels)
        output = EEGEncoderClassificationOutput(loss=loss, logits=logits, eeg_embeds=embeds)
        return output if return_dict else output.to_tuple()


__all__ = [
    "BraindecodeNotInstalledError",
    "EEGEncoderClassificationOutput",
    "EEGEncoderForClassification",
    "EEGEncoderModel",
    "EEGEncoderOutput",
    "EEGEncoderPreTrainedModel",
    "braindecode_class",
    "build_braindecode_model",
    "check_eeg_values",
    "normalize_eeg",
]
