"""Configuration of the EEG encoders (LSTM and CNN towers of the WACV 2024 paper, fig. 3a/3b; a compact
temporal-spatial convolution tower; ATM's channel-wise transformer tower; UBP's projection tower; any braindecode
model)."""

from __future__ import annotations

from transformers import PreTrainedConfig

ARCHITECTURES = ("lstm", "cnn", "tsconv", "atm", "mlp", "braindecode")
INPUT_NORMALIZATIONS = ("trial_max", "channel_zscore", "none")
CNN_NORMS = ("instance", "batch", "none")
BRAINDECODE_SET_BY_CONFIG = ("n_chans", "n_times", "sfreq", "n_outputs")
"""Arguments of a braindecode model that come from the encoder's own fields, never from `braindecode_kwargs`."""


def check_atm_fields(architecture: str, n_times: int, d_model: int | None, num_heads: int, num_layers: int,
                     ff_dim: int, conv_filters: int, kernel_size: int, pool_size: int, pool_stride: int,
                     dropouts: dict[str, float], flags: dict[str, bool]) -> None:
    """Raise a `ValueError` naming the field for an out-of-range `atm_*` value; for `architecture="atm"` also when
    the pooling window is longer than what the temporal convolution leaves of the token axis."""
    for name, value in (("atm_num_heads", num_heads), ("atm_num_layers", num_layers), ("atm_ff_dim", ff_dim),
                        ("atm_conv_filters", conv_filters), ("atm_conv_kernel_size", kernel_size),
                        ("atm_pool_size", pool_size), ("atm_pool_stride", pool_stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if d_model is not None and (not isinstance(d_model, int) or isinstance(d_model, bool) or d_model < 1):
        raise ValueError(f"atm_d_model must be a positive integer or None (= n_times), got {d_model!r}")
    for name, value in dropouts.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    if architecture != "atm":
        return
    width = n_times if d_model is None else d_model
    if width < num_heads:
        raise ValueError(f"atm_d_model ({width}{' = n_times' if d_model is None else ''}) must be at least "
                         f"atm_num_heads ({num_heads}): each head has atm_d_model // atm_num_heads dimensions")
    length = width - kernel_size + 1
    if length < pool_size:
        raise ValueError(f"the atm pooling window (atm_pool_size={pool_size}) is longer than the {max(length, 0)} "
                         f"samples left after the temporal convolution (atm_conv_kernel_size={kernel_size}) of "
                         f"atm_d_model={width}; lower atm_pool_size or atm_conv_kernel_size")


class EEGEncoderConfig(PreTrainedConfig):
    r"""Configuration of an [`EEGEncoderModel`].

    The defaults reproduce the authors' EEGCVPR40 LSTM encoder: 4 stacked LSTM layers of 128 units
    over time, the last layer's final hidden state, a bias-free 128 -> 128 projection and L2
    normalisation (Singh et al., WACV 2024, fig. 3a). `architecture="cnn"` gives fig. 3b: four
    stride-2 3x3 convolutions (128/256/512/1024 filters, instance norm, LeakyReLU 0.01, dropout 0.05)
    over the (time, channel) plane, global average pooling and a bias-free projection.
    `architecture="tsconv"` is a compact temporal-spatial convolution encoder of the kind used on THINGS-EEG2: a
    temporal convolution (`tsconv_filters` kernels of `tsconv_kernel_size` samples, shared by all channels), batch
    norm, a depthwise spatial convolution across all channels (`tsconv_depth_multiplier` per temporal filter), batch
    norm, ELU, average pooling over time (`tsconv_pool_size`, stride `tsconv_pool_stride`), dropout, and a bias-free
    projection of the flattened maps to `embed_dim`.
    `architecture="atm"` is the EEG encoder of ATM (Li et al., "Visual Decoding and Reconstruction via EEG
    Embeddings with Guided Diffusion", NeurIPS 2024): a channel-wise transformer (each channel's time course is one
    token, embedded by a linear map of its `n_times` samples to `atm_d_model`, plus a sinusoidal positional encoding
    of the channel index and a learned subject token in front; `atm_num_layers` post-norm encoder layers with
    `atm_num_heads` heads of `atm_d_model // atm_num_heads` dimensions, a GELU feed-forward of `atm_ff_dim` and
    dropout `atm_dropout`; a final layer norm; the subject token is then dropped), a ShallowNet-style
    temporal-spatial convolution over the `(n_chans, atm_d_model)` map (`atm_conv_filters` temporal kernels of
    `atm_conv_kernel_size`, average pooling `atm_pool_size` / `atm_pool_stride`, batch norm, ELU, a spatial
    convolution across all channels, batch norm, ELU, dropout `atm_conv_dropout`, a 1 x 1 convolution), and a
    residual MLP projector to `embed_dim` (linear, then `x + dropout(linear(gelu(x)))` with dropout
    `atm_proj_dropout`, then layer norm). The defaults are ATM's for 63 x 250 input (250 Hz) with
    `atm_d_model = n_times`; at another sampling rate scale the convolution's kernel, pool and stride (in samples)
    with it (the `things-eeg2-atm` EEGClip preset does for 100 Hz). One subject token is learned for all trials:
    a model trained on one subject (ATM's subject-dependent setting) learns that subject's token, and trials of
    subjects not seen in training (leave-one-subject-out) get the same learned token, the rule ATM applies to
    unknown subjects.
    `architecture="mlp"` is the projection tower of UBP (Wu et al., CVPR 2025): the flattened trial
    (`n_chans * n_times` values) through a linear layer to `embed_dim`, a residual block `h + dropout(linear(gelu(h)))`
    (dropout `mlp_dropout`) and layer norm.
    `architecture="braindecode"` uses the braindecode model class `braindecode_model` (e.g. `"EEGNet"`,
    `"ShallowFBCSPNet"`, `"EEGConformer"`; needs `pip install braindecode`) built with `n_chans`, `n_times`, `sfreq`,
    `n_outputs=embed_dim` and `braindecode_kwargs`, followed by the same bias-free projection as the other towers.

    Args:
        architecture (`str`, *optional*, defaults to `"lstm"`):
            `"lstm"`, `"cnn"`, `"tsconv"`, `"atm"`, `"mlp"` or `"braindecode"`.
        n_chans (`int`, *optional*, defaults to 128):
            Number of EEG channels of an input trial.
        n_times (`int`, *optional*, defaults to 440):
            Number of time samples of an input trial.
        sfreq (`float`, *optional*):
            Sampling frequency in Hz (informational; checked by pipelines when given).
        embed_dim (`int`, *optional*, defaults to 128):
            Size of the output EEG embedding `eeg_embeds`.
        lstm_hidden_size (`int`, *optional*, defaults to 128):
            Hidden units per LSTM layer.
        lstm_num_layers (`int`, *optional*, defaults to 4):
            Number of stacked LSTM layers.
        cnn_channels (`list[int]`, *optional*, defaults to `[128, 256, 512, 1024]`):
            Filters of the stride-2 convolution blocks.
        cnn_kernel_size (`int`, *optional*, defaults to 3):
            Convolution kernel size.
        cnn_dropout (`float`, *optional*, defaults to 0.05):
            Dropout after each convolution block.
        cnn_norm (`str`, *optional*, defaults to `"instance"`):
            Normalisation in the CNN blocks: `"instance"` (non-affine, the authors'), `"batch"` or `"none"`.
            With small inputs (ThoughtViz 32 x 14) the authors' instance norm leaves maps of 2 elements, whose
            normalised, pooled values no longer depend on the input; use `"batch"` there.
        negative_slope (`float`, *optional*, defaults to 0.01):
            LeakyReLU slope of the CNN blocks and of the classification head.
        normalize_embeds (`bool`, *optional*, defaults to `True`):
            L2-normalise `eeg_embeds` (the authors do, except their ThoughtViz CNN).
        tsconv_filters (`int`, *optional*, defaults to 40):
            Temporal kernels of the `"tsconv"` tower.
        tsconv_kernel_size (`int`, *optional*, defaults to 25):
            Length in samples of the temporal kernels (zero padding keeps the length for odd sizes).
        tsconv_depth_multiplier (`int`, *optional*, defaults to 1):
            Spatial filters per temporal kernel.
        tsconv_pool_size (`int`, *optional*, defaults to 51):
            Window of the average pooling over time.
        tsconv_pool_stride (`int`, *optional*, defaults to 5):
            Stride of that pooling.
        tsconv_dropout (`float`, *optional*, defaults to 0.5):
            Dropout before the projection.
        atm_d_model (`int`, *optional*):
            Token size of the `"atm"` tower's transformer; `None` uses `n_times` (ATM: 250 for 250 samples).
        atm_num_heads (`int`, *optional*, defaults to 4):
            Attention heads of the `"atm"` tower (each of `atm_d_model // atm_num_heads` dimensions).
        atm_num_layers (`int`, *optional*, defaults to 1):
            Transformer encoder layers of the `"atm"` tower.
        atm_ff_dim (`int`, *optional*, defaults to 256):
            Hidden size of the feed-forward block of each encoder layer.
        atm_dropout (`float`, *optional*, defaults to 0.25):
            Dropout of the token embedding, the attention weights and the encoder layers.
        atm_positional_encoding (`bool`, *optional*, defaults to `True`):
            Add a sinusoidal encoding of each token's position (subject token first, then the channels in order).
        atm_subject_token (`bool`, *optional*, defaults to `True`):
            Prepend one learned subject token to the channel tokens (see above).
        atm_conv_filters (`int`, *optional*, defaults to 40):
            Temporal and spatial filters of the `"atm"` tower's convolution (and its 1 x 1 convolution's outputs).
        atm_conv_kernel_size (`int`, *optional*, defaults to 25):
            Temporal kernel length in samples of the token axis (ATM: 25 at 250 Hz, 0.1 s).
        atm_pool_size (`int`, *optional*, defaults to 51):
            Average-pooling window over time (ATM: 51 at 250 Hz).
        atm_pool_stride (`int`, *optional*, defaults to 5):
            Stride of that pooling (ATM: 5 at 250 Hz).
        atm_conv_dropout (`float`, *optional*, defaults to 0.5):
            Dropout after the spatial convolution.
        atm_proj_dropout (`float`, *optional*, defaults to 0.5):
            Dropout in the residual branch of the projector.
        mlp_dropout (`float`, *optional*, defaults to 0.3):
            Dropout in the residual block of the `"mlp"` tower.
        braindecode_model (`str`, *optional*):
            Class name in `braindecode.models` of the `"braindecode"` tower.
        braindecode_kwargs (`dict`, *optional*):
            Further JSON arguments of that class (e.g. `{"drop_prob": 0.25}`, `chs_info` as a list of
            `{"ch_name": ...}` dicts; module types as dotted `torch.nn` names such as `"torch.nn.ELU"`).
        braindecode_version (`str`, *optional*):
            braindecode version the tower was built with (recorded when the model is created).
        input_normalization (`str`, *optional*, defaults to `"trial_max"`):
            Per-trial scaling applied inside `forward`: `"trial_max"` is the authors' `2x/max - 1`
            (max over all channels and times; a trial whose max is <= 0 is refused),
            `"channel_zscore"` standardises each channel of each trial, `"none"` leaves input as is.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Unused by the towers (they keep PyTorch's default fan-in uniform init, as the authors
            did); kept for transformers utilities that read it.
    """

    model_type = "eeg2img_eeg_encoder"

    def __init__(
        self,
        architecture: str = "lstm",
        n_chans: int = 128,
        n_times: int = 440,
        sfreq: float | None = None,
        embed_dim: int = 128,
        lstm_hidden_size: int = 128,
        lstm_num_layers: int = 4,
        cnn_channels: list[int] | tuple[int, ...] = (128, 256, 512, 1024),
        cnn_kernel_size: int = 3,
        cnn_dropout: float = 0.05,
        cnn_norm: str = "instance",
        negative_slope: float = 0.01,
        normalize_embeds: bool = True,
        input_normalization: str = "trial_max",
        initializer_range: float = 0.02,
        tsconv_filters: int = 40,
        tsconv_kernel_size: int = 25,
        tsconv_depth_multiplier: int = 1,
        tsconv_pool_size: int = 51,
        tsconv_pool_stride: int = 5,
        tsconv_dropout: float = 0.5,
        atm_d_model: int | None = None,
        atm_num_heads: int = 4,
        atm_num_layers: int = 1,
        atm_ff_dim: int = 256,
        atm_dropout: float = 0.25,
        atm_positional_encoding: bool = True,
        atm_subject_token: bool = True,
        atm_conv_filters: int = 40,
        atm_conv_kernel_size: int = 25,
        atm_pool_size: int = 51,
        atm_pool_stride: int = 5,
        atm_conv_dropout: float = 0.5,
        atm_proj_dropout: float = 0.5,
        mlp_dropout: float = 0.3,
        braindecode_model: str | None = None,
        braindecode_kwargs: dict | None = None,
        braindecode_version: str | None = None,
        **kwargs,
    ) -> None:
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        if input_normalization not in INPUT_NORMALIZATIONS:
            raise ValueError(
                f"input_normalization must be one of {INPUT_NORMALIZATIONS}, got {input_normalization!r}"
            )
        for name, value in (("n_chans", n_chans), ("n_times", n_times), ("embed_dim", embed_dim),
                            ("lstm_hidden_size", lstm_hidden_size), ("lstm_num_layers", lstm_num_layers),
                            ("cnn_kernel_size", cnn_kernel_size), ("tsconv_filters", tsconv_filters),
                            ("tsconv_kernel_size", tsconv_kernel_size),
                            ("tsconv_depth_multiplier", tsconv_depth_multiplier),
                            ("tsconv_pool_size", tsconv_pool_size), ("tsconv_pool_stride", tsconv_pool_stride)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        cnn_channels = [int(c) for c in cnn_channels]
        if not cnn_channels or min(cnn_channels) < 1:
            raise ValueError(f"cnn_channels must be a non-empty list of positive integers, got {cnn_channels!r}")
        if cnn_norm not in CNN_NORMS:
            raise ValueError(f"cnn_norm must be one of {CNN_NORMS}, got {cnn_norm!r}")
        if not 0.0 <= cnn_dropout < 1.0:
            raise ValueError(f"cnn_dropout must be in [0, 1), got {cnn_dropout!r}")
        if not 0.0 <= tsconv_dropout < 1.0:
            raise ValueError(f"tsconv_dropout must be in [0, 1), got {tsconv_dropout!r}")
        if isinstance(mlp_dropout, bool) or not isinstance(mlp_dropout, (int, float)) or not 0.0 <= mlp_dropout < 1.0:
            raise ValueError(f"mlp_dropout must be in [0, 1), got {mlp_dropout!r}")
        if architecture == "tsconv":
            length = n_times + 2 * (tsconv_kernel_size // 2) - tsconv_kernel_size + 1
            if length < tsconv_pool_size:
                raise ValueError(f"the tsconv pooling window ({tsconv_pool_size} samples) is longer than the "
                                 f"{length} samples left after the temporal convolution of n_times={n_times}; lower "
                                 "tsconv_pool_size")
        check_atm_fields(architecture, n_times, atm_d_model, atm_num_heads, atm_num_layers, atm_ff_dim,
                         atm_conv_filters, atm_conv_kernel_size, atm_pool_size, atm_pool_stride,
                         {"atm_dropout": atm_dropout, "atm_conv_dropout": atm_conv_dropout,
                          "atm_proj_dropout": atm_proj_dropout},
                         {"atm_positional_encoding": atm_positional_encoding, "atm_subject_token": atm_subject_token})
        braindecode_kwargs = dict(braindecode_kwargs or {})
        if architecture == "braindecode" and not (isinstance(braindecode_model, str) and braindecode_model):
            raise ValueError("architecture='braindecode' needs braindecode_model, the class name of a braindecode "
                             "model (e.g. 'EEGNet')")
        taken = sorted(set(braindecode_kwargs) & set(BRAINDECODE_SET_BY_CONFIG))
        if taken:
            raise ValueError(f"braindecode_kwargs must not set {taken}: they come from n_chans, n_times, sfreq and "
                             "embed_dim")
        self.architecture = architecture
        self.n_chans = n_chans
        self.n_times = n_times
        self.sfreq = sfreq
        self.embed_dim = embed_dim
        self.lstm_hidden_size = lstm_hidden_size
        self.lstm_num_layers = lstm_num_layers
        self.cnn_channels = cnn_channels
        self.cnn_kernel_size = cnn_kernel_size
        self.cnn_dropout = cnn_dropout
        self.cnn_norm = cnn_norm
        self.negative_slope = negative_slope
        self.normalize_embeds = normalize_embeds
        self.input_normalization = input_normalization
        self.initializer_range = initializer_range
        self.tsconv_filters = tsconv_filters
        self.tsconv_kernel_size = tsconv_kernel_size
        self.tsconv_depth_multiplier = tsconv_depth_multiplier
        self.tsconv_pool_size = tsconv_pool_size
        self.tsconv_pool_stride = tsconv_pool_stride
        self.tsconv_dropout = tsconv_dropout
        self.atm_d_model = atm_d_model
        self.atm_num_heads = atm_num_heads
        self.atm_num_layers = atm_num_layers
        self.atm_ff_dim = atm_ff_dim
        self.atm_dropout = atm_dropout
        self.atm_positional_encoding = atm_positional_encoding
        self.atm_subject_token = atm_subject_token
        self.atm_conv_filters = atm_conv_filters
        self.atm_conv_kernel_size = atm_conv_kernel_size
        self.atm_pool_size = atm_pool_size
        self.atm_pool_stride = atm_pool_stride
        self.atm_conv_dropout = atm_conv_dropout
        self.atm_proj_dropout = atm_proj_dropout
        self.mlp_dropout = mlp_dropout
        self.braindecode_model = braindecode_model
        self.braindecode_kwargs = braindecode_kwargs
        self.braindecode_version = braindecode_version
        super().__init__(**kwargs)


__all__ = ["EEGEncoderConfig"]
