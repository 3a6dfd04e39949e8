"""`eeg-to-image` pipeline: EEG trials (or precomputed EEG embeddings) -> images with an EEGStyleGAN-ADA model.

This file imports only `numpy`, `torch`, `PIL`, `transformers` and its sibling `precision.py`:
`pipe.save_pretrained(folder)` copies both next to the model so `pipeline(model=folder, trust_remote_code=True)`
works where `eeg2img_hf` is not installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import Pipeline

from .precision import check_precision, generation_autocast

__all__ = [
    "EEGToImagePipeline",
    "MAX_MEMORY_BYTES",
    "MAX_SEED",
    "OUTPUT_TYPES",
    "TRUNCATION_CENTERS",
    "TRUNCATION_PSI_RANGE",
    "check_generation_options",
    "estimate_generation_bytes",
]

OUTPUT_TYPES = ("pil", "np", "pt")
NOISE_MODES = ("const", "random", "none")
TRUNCATION_PSI_RANGE = (-1.0, 2.0)
TRUNCATION_CENTERS = ("average", "condition")  # the model's values (this file imports nothing of the package)
"""Accepted `truncation_psi` values (inclusive): 1 = no truncation, 0 = `w_avg`, 0..1 the usual range, slightly
above 1 exaggerates; values beyond this range only give broken images, and NaN/inf give NaN images."""
MAX_SEED = 2**32 - 1
"""Seeds are integers in `[0, MAX_SEED]`, the package-wide rule (see `eeg2img_hf.utils.checks`)."""
MAX_MEMORY_BYTES = 4 * 2**30
"""Default limit (4 GiB) of [`estimate_generation_bytes`] for one call; raise it with `max_memory_bytes=`."""
_CONVERTIBLE_FLOATS = (np.float16, np.float64)  # converted to float32 (lossless for float16, rounding for float64)


def _describe(value: Any) -> str:
    """Short description of an input for error messages."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "") + (
        f" and dtype {dtype}" if dtype is not None else ""
    )


def _to_numpy(value: Any, name: str) -> np.ndarray:
    """Converts a tensor, array or (nested) list to a numpy array without changing its dtype class."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
            value = value.float()
        return value.numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise ValueError(f"`{name}` could not be read as a rectangular array ({err}).") from err
    return array


def _as_float32(array: np.ndarray, name: str) -> torch.Tensor:
    """float32 stays, float16/float64 become float32; integer, bool, complex and object arrays are refused."""
    if array.dtype == np.float32:
        return torch.from_numpy(np.ascontiguousarray(array))
    if array.dtype.type in _CONVERTIBLE_FLOATS:
        return torch.from_numpy(array.astype(np.float32))
    raise ValueError(
        f"`{name}` must hold floating-point values (float32; float16/float64 are converted to float32), got "
        f"dtype {array.dtype}. Integer arrays are refused rather than silently cast: convert them explicitly "
        "if they really are EEG values."
    )


def _stack_items(items: list[Any], name: str) -> np.ndarray:
    """Stacks a list of per-trial arrays, checking that every item has the same 2-D shape."""
    arrays = [_to_numpy(item, f"{name}[{i}]") for i, item in enumerate(items)]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2:
        raise ValueError(f"Every item of a list of `{name}` must be 2-D with one common shape, got shapes "
                         f"{[a.shape for a in arrays]}.")
    return np.stack(arrays)


def _read_inputs(inputs: Any) -> tuple[str, np.ndarray]:
    """Returns `(kind, array)` with kind `"eeg"` or `"eeg_embeds"` from any accepted input form."""
    if hasattr(inputs, "column_names") and hasattr(inputs, "with_format"):  # a `datasets.Dataset`
        for key in ("eeg", "eeg_embeds"):
            if key in inputs.column_names:
                return key, np.asarray(inputs.select_columns([key]).with_format("numpy")[:][key])
        raise ValueError(
            f"Expected a dataset with an 'eeg' (or 'eeg_embeds') column, got columns {inputs.column_names}."
        )
    if isinstance(inputs, Mapping):  # a `datasets` row, a sliced batch or a plain dict
        for key in ("eeg", "eeg_embeds"):
            if key in inputs:
                return key, _to_numpy(inputs[key], key)
        raise ValueError(f"Expected a dict with an 'eeg' (or 'eeg_embeds') key, got keys {sorted(inputs)}.")
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, Mapping) for i in inputs):
        key = "eeg" if all("eeg" in i for i in inputs) else "eeg_embeds"
        if not all(key in i for i in inputs):
            raise ValueError("Every dict of a list of rows must have an 'eeg' (or every one an 'eeg_embeds') key.")
        return key, np.stack([_to_numpy(i[key], key) for i in inputs])
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, (np.ndarray, torch.Tensor)) for i in inputs):
        return "eeg", _stack_items(list(inputs), "eeg")
    if isinstance(inputs, (np.ndarray, torch.Tensor, list, tuple)):
        return "eeg", _to_numpy(inputs, "eeg")
    raise ValueError(
        "Expected EEG as an array/tensor (n_chans, n_times) or (batch_size, n_chans, n_times), a list of such "
        f"arrays, a dict or `datasets` row with an 'eeg' key, or a `datasets.Dataset`; got {_describe(inputs)}."
    )


def _check_eeg(eeg: torch.Tensor, encoder_config: Any) -> None:
    """Raises `ValueError` unless `eeg` is a finite `(n_chans, n_times)` trial or `(batch_size, n_chans, n_times)`
    batch that the encoder accepts."""
    n_chans, n_times = encoder_config.n_chans, encoder_config.n_times
    expected = f"(n_chans, n_times) = ({n_chans}, {n_times}) or (batch_size, {n_chans}, {n_times})"
    if eeg.ndim not in (2, 3):
        raise ValueError(f"Expected EEG of shape {expected}, got a {eeg.ndim}-D input of shape {tuple(eeg.shape)}.")
    eeg = eeg if eeg.ndim == 3 else eeg.unsqueeze(0)
    if eeg.shape[0] == 0:
        raise ValueError("Got an empty batch of EEG trials.")
    if tuple(eeg.shape[1:]) != (n_chans, n_times):
        hint = " (it looks transposed: expected channels first)" if tuple(eeg.shape[1:]) == (n_times, n_chans) else ""
        raise ValueError(f"The model's encoder expects n_chans={n_chans} channels and n_times={n_times} samples per "
                         f"trial, {expected}; got trials of shape {tuple(eeg.shape[1:])}{hint}.")
    bad = (~torch.isfinite(eeg)).flatten(1).any(dim=1)
    if bad.any():
        raise ValueError(f"EEG contains NaN or inf values (trials {bad.nonzero().flatten().tolist()}).")
    if getattr(encoder_config, "input_normalization", None) == "trial_max":
        low = eeg.flatten(1).amax(dim=1) <= 0
        if low.any():
            raise ValueError(f"input_normalization='trial_max' needs a positive maximum per trial; trials "
                             f"{low.nonzero().flatten().tolist()} have max <= 0.")


def _check_embeds(embeds: torch.Tensor, embed_dim: int) -> None:
    """Raises `ValueError` unless `embeds` is a finite `(batch_size, embed_dim)` batch."""
    embeds = embeds if embeds.ndim != 1 else embeds.unsqueeze(0)
    if embeds.ndim != 2 or embeds.shape[1] != embed_dim or embeds.shape[0] == 0:
        raise ValueError(f"Expected `eeg_embeds` of shape ({embed_dim},) or (batch_size, {embed_dim}) (the model's "
                         f"embed_dim), got shape {tuple(embeds.shape)}.")
    if not torch.isfinite(embeds).all():
        raise ValueError("`eeg_embeds` contains NaN or inf values.")


def _to_pil(array: np.ndarray) -> Image.Image:
    """uint8 `(H, W, C)` -> PIL image (`L` for one channel, `RGB` for three)."""
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def _convert_images(images: torch.Tensor, output_type: str) -> list[Any]:
    """`(N, C, H, W)` float images in `[-1, 1]` (clamped) -> a list of float tensors (`"pt"`), uint8 `(H, W, C)`
    arrays (`"np"`) or PIL images (`"pil"`)."""
    images = images.clamp(-1, 1)
    if output_type == "pt":
        return list(images)
    arrays = ((images + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return list(arrays) if output_type == "np" else [_to_pil(a) for a in arrays]


def _group_results(images: list[Any], embeds: torch.Tensor, per_input: int, output_type: str) -> list[dict[str, Any]]:
    """One `{"images": [per_input images], "eeg_embeds": embedding}` dict per input, in input order (the embedding a
    float32 numpy array, or a tensor for `output_type="pt"`): the result type of both generation pipelines."""
    return [{"images": images[i * per_input : (i + 1) * per_input],
             "eeg_embeds": embeds[i] if output_type == "pt" else embeds[i].numpy()} for i in range(len(embeds))]


def _read_eeg_batch(
    inputs: Any, encoder_config: Any, embed_dim: int, sfreq: float | None = None
) -> tuple[str, torch.Tensor, bool]:
    """Reads and checks EEG (or `eeg_embeds`) input of any accepted form.

    Returns `(key, batch, single)`: `key` is `"eeg_values"` or `"eeg_embeds"`, `batch` a float32 tensor with a
    batch dimension, `single` whether the input was one unbatched trial (or embedding).
    """
    kind, array = _read_inputs(inputs.value if isinstance(inputs, _Request) else inputs)
    tensor = _as_float32(array, kind)
    if kind == "eeg":
        if encoder_config is None:
            raise ValueError("This model has no EEG encoder (encoder_config is None): pass `eeg_embeds=`.")
        _check_eeg(tensor, encoder_config)
        _check_sfreq(sfreq, encoder_config)
    else:
        _check_embeds(tensor, embed_dim)
    single = tensor.ndim == (2 if kind == "eeg" else 1)
    return ("eeg_values" if kind == "eeg" else kind), (tensor.unsqueeze(0) if single else tensor), single


def _encode_in_chunks(encode: Any, eeg: torch.Tensor, batch_size: int | None) -> torch.Tensor:
    """`encode(eeg_values=chunk)` over chunks of at most `batch_size` trials (all at once when `None`), concatenated."""
    chunk = batch_size or eeg.shape[0]
    return torch.cat([encode(eeg_values=eeg[i : i + chunk]) for i in range(0, eeg.shape[0], chunk)])


def _move_batch_size(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Renames a `batch_size` call option to `forward_batch_size` in place: `Pipeline.__call__` would take it for its
    DataLoader, these pipelines use it to chunk `_forward`."""
    if "batch_size" in kwargs:
        kwargs["forward_batch_size"] = kwargs.pop("batch_size")
    return kwargs


def _eeg_request(inputs: Any, kwargs: dict[str, Any]) -> _Request:
    """The single item for `Pipeline.__call__` from EEG `inputs` or an `eeg_embeds=` option (exactly one of them);
    also applies [`_move_batch_size`] to `kwargs`."""
    embeds = kwargs.pop("eeg_embeds", None)
    if (inputs is None) == (embeds is None):
        raise ValueError("Pass either EEG `inputs` or `eeg_embeds=`, exactly one of them.")
    _move_batch_size(kwargs)
    # Every input form becomes one stacked batch in `preprocess`; `batch_size` chunks it in `_forward`.
    return _Request({"eeg_embeds": embeds} if embeds is not None else inputs)


class _BatchedPipeline(Pipeline):
    """Base of this package's pipelines: no tokenizer/processor is loaded by `pipeline(...)`, inference mode, and
    the whole input is one stacked batch (see [`_Request`])."""

    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def get_inference_context(self):
        return torch.inference_mode


class EEGToImagePipeline(_BatchedPipeline):
    """
    EEG-to-image pipeline of EEGStyleGAN-ADA (Singh et al., "Learning Robust Deep Visual Representations from EEG
    and Brain Recordings", WACV 2024): the model's EEG encoder maps each trial to a 128-D embedding, which
    conditions a StyleGAN2-ADA generator together with a latent `z ~ N(0, I)`.

    Inputs: one trial `(n_chans, n_times)` (numpy array, torch tensor or nested list), a batch
    `(batch_size, n_chans, n_times)`, a list of trials, a dict or `datasets` row with an `eeg` key (or an
    `eeg_embeds` key when there is no `eeg`), a sliced `datasets` batch or a `datasets.Dataset`; or precomputed
    embeddings with `pipe(eeg_embeds=...)`. float32 is used as is, float16/float64 are converted to float32, and
    integer arrays are refused. Shapes, dtypes and NaN/inf are checked against `model.config.encoder_config`
    before the model runs.

    Call arguments:
        num_images_per_eeg (`int`, *optional*, defaults to 1): images per trial (different latents).
        truncation_psi (`float`, *optional*, defaults to 1.0): `w <- w_avg + psi * (w - w_avg)` (the paper uses 1);
            a finite number in `TRUNCATION_PSI_RANGE` = [-1, 2] (0..1 is the usual range).
        truncation_cutoff (`int`, *optional*): truncate only the first `truncation_cutoff` ws (0..num_ws).
        truncation_center (`str`, *optional*, defaults to `"average"`): truncate towards `w_avg` (`"average"`) or
            towards each trial's own mean `w` (`"condition"`: keeps the condition, shrinks the variety).
        noise_mode (`str`, *optional*, defaults to `"const"`): `"const"`, `"random"` or `"none"`.
        seed (`int`, *optional*): seeds a CPU `torch.Generator` for the latents, so results do not depend on the
            device or on `batch_size`; an integer in `[0, 2**32 - 1]`. Mutually exclusive with `generator`.
        generator (`torch.Generator`, *optional*): RNG for the latents (and the seed of random noise).
        output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"` (uint8 `(H, W, C)`) or `"pt"`
            (float `(C, H, W)` in `[-1, 1]`).
        batch_size (`int`, *optional*): run the model on chunks of at most this many images (default: all).
        max_memory_bytes (`int`, *optional*, defaults to `MAX_MEMORY_BYTES` = 4 GiB): a call whose estimated
            memory ([`estimate_generation_bytes`]: the output images plus one chunk's activations) exceeds this is
            refused before anything is allocated.
        precision (`str`, *optional*, defaults to `"fp32"`): `"bf16"` runs the generator under bfloat16 autocast
            (faster on CPUs with bfloat16 units and on GPUs; images differ from float32 by rounding, see
            docs/benchmarks.md); refused on a device without bfloat16 units (see `precision.py`).

    Returns:
        One result type, whatever the options: per trial a dict `{"images": [...], "eeg_embeds": ...}` with a list
        of `num_images_per_eeg` images (PIL images, uint8 arrays or float tensors, as `output_type` says) and the
        trial's EEG embedding (a float32 numpy array `(embed_dim,)`, a tensor for `output_type="pt"`).
        A single trial (an `(n_chans, n_times)` array, tensor or nested list, a dict or `datasets` row whose `eeg`
        is one trial, or one `(embed_dim,)` embedding) gives one dict; every batched form (a `(batch_size, n_chans,
        n_times)` array, a list of trials or rows, a sliced `datasets` batch, a `datasets.Dataset`, a
        `(batch_size, embed_dim)` embedding batch) gives a list of dicts, one per trial in input order, even for a
        batch of one.

    Example:

    ```python
    >>> import eeg2img_hf.pipelines  # registers the "eeg-to-image" task
    >>> from transformers import pipeline
    >>> pipe = pipeline("eeg-to-image", model="path/to/eegstylegan")
    >>> image = pipe(eeg, seed=0)["images"][0]  # eeg: (n_chans, n_times) float32
    >>> results = pipe(eeg_batch, seed=0)  # eeg_batch: (batch_size, n_chans, n_times): one dict per trial
    ```
    """

    def __init__(self, model: Any, *args: Any, **kwargs: Any) -> None:
        config = getattr(model, "config", None)
        if config is None or not hasattr(config, "z_dim") or not hasattr(config, "embed_dim"):
            raise ValueError(f"The eeg-to-image pipeline needs an EEGStyleGAN-ADA model, got {type(model).__name__}.")
        if getattr(config, "conditioning", "eeg") != "eeg":
            raise ValueError(f"The eeg-to-image pipeline needs conditioning='eeg', got {config.conditioning!r}.")
        super().__init__(model, *args, **kwargs)
        self.model.eval()  # inference only: a model in train mode would update `w_avg` on every call

    def __call__(self, inputs: Any = None, **kwargs: Any) -> Any:
        """Generates images; see the class docstring. `pipe(eeg_embeds=x)` takes precomputed embeddings."""
        return super().__call__(_eeg_request(inputs, kwargs), **kwargs)

    def _sanitize_parameters(
        self,
        num_images_per_eeg: int | None = None,
        truncation_psi: float | None = None,
        truncation_cutoff: int | None = None,
        noise_mode: str | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        output_type: str | None = None,
        forward_batch_size: int | None = None,
        sfreq: float | None = None,
        max_memory_bytes: int | None = None,
        truncation_center: str | None = None,
        precision: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        batch_size = forward_batch_size if forward_batch_size is not None else self._batch_size
        if precision is not None:
            check_precision(precision, self.device)
        check_generation_options(num_images_per_eeg, truncation_psi, truncation_cutoff, noise_mode, seed, generator,
                                 output_type, batch_size, max_memory_bytes, truncation_center=truncation_center)
        num_ws = getattr(getattr(self.model, "generator", None), "num_ws", None)
        if truncation_cutoff is not None and num_ws is not None and truncation_cutoff > num_ws:
            raise ValueError(f"`truncation_cutoff` must be at most the generator's num_ws={num_ws}, got "
                             f"{truncation_cutoff!r}.")
        if num_images_per_eeg is not None:  # one trial already needs this much: refuse before reading the input
            _check_memory(self.model.config, num_images_per_eeg, batch_size, max_memory_bytes,
                          f"num_images_per_eeg={num_images_per_eeg}")
        pairs = {"num_images_per_eeg": num_images_per_eeg, "seed": seed, "generator": generator,
                 "noise_mode": noise_mode, "sfreq": sfreq, "batch_size": batch_size,
                 "max_memory_bytes": max_memory_bytes}
        preprocess = {k: v for k, v in pairs.items() if v is not None}
        pairs = {"truncation_psi": truncation_psi, "truncation_cutoff": truncation_cutoff, "noise_mode": noise_mode,
                 "batch_size": batch_size, "truncation_center": truncation_center, "precision": precision}
        forward = {k: v for k, v in pairs.items() if v is not None}
        postprocess = {} if output_type is None else {"output_type": output_type}
        return preprocess, forward, postprocess

    def preprocess(
        self,
        inputs: Any,
        num_images_per_eeg: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        noise_mode: str = "const",
        sfreq: float | None = None,
        batch_size: int | None = None,
        max_memory_bytes: int | None = None,
    ) -> dict[str, Any]:
        """Validates and stacks the input into one batch; checks the memory estimate of the output
        ([`estimate_generation_bytes`] against `max_memory_bytes`); draws `(batch_size * num_images_per_eeg, z_dim)`
        latents."""
        config = self.model.config
        key, tensor, single = _read_eeg_batch(inputs, config.encoder_config, config.embed_dim, sfreq)
        num_images = tensor.shape[0] * num_images_per_eeg
        _check_memory(config, num_images, batch_size, max_memory_bytes,
                      f"{tensor.shape[0]} inputs x num_images_per_eeg={num_images_per_eeg}")
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
        device = generator.device if generator is not None else torch.device("cpu")
        # one draw per image: image k gets the same latent whatever the batch (torch's CPU normal sampler changes
        # algorithm with the tensor size, so one big draw would make images depend on how many come with them)
        draws = [torch.randn(config.z_dim, generator=generator, device=device) for _ in range(num_images)]
        latents = torch.stack(draws)
        noise_seed = None
        if noise_mode == "random":
            noise_seed = int(torch.randint(2**62, (1,), generator=generator, device=device))
        return {key: tensor, "latents": latents,
                "num_images_per_eeg": num_images_per_eeg, "single": single, "noise_seed": noise_seed}

    def _forward(
        self,
        model_inputs: dict[str, Any],
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        batch_size: int | None = None,
        truncation_center: str = "average",
        precision: str = "fp32",
    ) -> dict[str, Any]:
        """Encodes each trial once (float32), then generates `num_images_per_eeg` images per trial in chunks of
        `batch_size`, in `precision`."""
        dtype = self.model.dtype
        embeds = model_inputs.get("eeg_embeds")
        if embeds is None:
            encode = self.model.eeg_encoder
            embeds = _encode_in_chunks(lambda **x: encode(**x).eeg_embeds, model_inputs["eeg_values"].to(dtype),
                                       batch_size)
        latents = model_inputs["latents"].to(self.device)
        conditioning = embeds.to(dtype).repeat_interleave(model_inputs["num_images_per_eeg"], dim=0)
        noise_generator = None
        if model_inputs["noise_seed"] is not None:
            noise_generator = torch.Generator(device=self.device).manual_seed(model_inputs["noise_seed"])
        chunk = batch_size or len(latents)
        center = {} if truncation_center == "average" else {"truncation_center": truncation_center}
        images = []
        for start in range(0, len(latents), chunk):
            with generation_autocast(precision, self.device):
                out = self.model(
                    eeg_embeds=conditioning[start : start + chunk], latents=latents[start : start + chunk],
                    truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, noise_mode=noise_mode,
                    generator=noise_generator, return_dict=True, **center,
                )
            images.append(out.images.float().cpu())  # free device memory chunk by chunk
        return {"images": torch.cat(images), "eeg_embeds": embeds.float(),
                "num_images_per_eeg": model_inputs["num_images_per_eeg"], "single": model_inputs["single"]}

    def postprocess(self, model_outputs: dict[str, Any], output_type: str = "pil") -> Any:
        """Converts images to PIL / uint8 numpy / float tensors; one `{"images", "eeg_embeds"}` dict per trial (see
        the class docstring: one dict for a single trial, a list for a batch)."""
        converted = _convert_images(model_outputs["images"], output_type)
        results = _group_results(converted, model_outputs["eeg_embeds"], model_outputs["num_images_per_eeg"],
                                 output_type)
        return results[0] if model_outputs["single"] else results


class _Request:
    """Wraps any user input so `Pipeline.__call__` treats it as one item (its list/dataset paths would iterate)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_generation_options(
    num_images_per_eeg: int | None = None,
    truncation_psi: float | None = None,
    truncation_cutoff: int | None = None,
    noise_mode: str | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    output_type: str | None = None,
    batch_size: int | None = None,
    max_memory_bytes: int | None = None,
    count_name: str = "num_images_per_eeg",
    truncation_center: str | None = None,
) -> None:
    """Raises `ValueError` for out-of-range generation options (`None` = not given), before anything runs.

    `num_images_per_eeg` and `batch_size` must be positive integers, `truncation_psi` a finite number in
    `TRUNCATION_PSI_RANGE`, `truncation_cutoff` a non-negative integer, `noise_mode` one of `NOISE_MODES`, `seed`
    an integer in `[0, MAX_SEED]` (and not together with `generator`), `output_type` one of `OUTPUT_TYPES` and
    `max_memory_bytes` a positive integer, `truncation_center` one of `TRUNCATION_CENTERS`. `count_name` names the
    image count in messages.
    """
    if truncation_center is not None and truncation_center not in TRUNCATION_CENTERS:
        raise ValueError(f"`truncation_center` must be one of {TRUNCATION_CENTERS}, got {truncation_center!r}.")
    for name, value in ((count_name, num_images_per_eeg), ("batch_size", batch_size),
                        ("max_memory_bytes", max_memory_bytes)):
        if value is not None and (not _is_int(value) or value < 1):
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if truncation_psi is not None:
        low, high = TRUNCATION_PSI_RANGE
        number = isinstance(truncation_psi, (int, float, np.integer, np.floating)) and not isinstance(
            truncation_psi, (bool, np.bool_)
        )
        if not number or not np.isfinite(float(truncation_psi)) or not low <= float(truncation_psi) <= high:
            raise ValueError(f"`truncation_psi` must be a finite number in [{low}, {high}] (1 = no truncation, 0 = "
                             f"the average latent), got {truncation_psi!r}.")
    if truncation_cutoff is not None and (not _is_int(truncation_cutoff) or truncation_cutoff < 0):
        raise ValueError(f"`truncation_cutoff` must be a non-negative integer, got {truncation_cutoff!r}.")
    if noise_mode is not None and noise_mode not in NOISE_MODES:
        raise ValueError(f"`noise_mode` must be one of {NOISE_MODES}, got {noise_mode!r}.")
    if output_type is not None and output_type not in OUTPUT_TYPES:
        raise ValueError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}.")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise ValueError(f"`seed` must be an integer in [0, {MAX_SEED}] (2**32 - 1), got {seed!r}.")
    if seed is not None and generator is not None:
        raise ValueError("Pass either `seed` or `generator`, not both.")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"`generator` must be a torch.Generator, got {type(generator).__name__}.")


def estimate_generation_bytes(config: Any, num_images: int, batch_size: int | None = None) -> int:
    """Estimated peak host memory, in bytes, of generating `num_images` images in chunks of `batch_size`.

    The output is `num_images * img_channels * H * W * 9` bytes (the float32 chunks, their float32
    concatenation and the uint8 copy) plus the latents; one chunk of `min(batch_size, num_images)` images adds
    the synthesis activations, estimated per image as `4 * max_r(ch_in(r) * (r/2)**2 + 6 * ch(r) * r**2)` bytes
    (`ch(r) = min(synthesis_channel_base // r, synthesis_channel_max)` channels at resolution `r`).
    """
    res, channels = int(config.img_resolution), int(config.img_channels)
    output = num_images * (channels * res * res * 9 + 4 * (int(config.z_dim) + int(config.embed_dim)))
    width = {r: min(int(config.synthesis_channel_base) // r, int(config.synthesis_channel_max))
             for r in (2**i for i in range(2, res.bit_length()))}
    per_image = 4 * max(width.get(r // 2, 0) * (r // 2) ** 2 + 6 * c * r * r for r, c in width.items())
    chunk = min(batch_size or num_images, num_images)
    return output + chunk * per_image


def _format_bytes(count: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.2f} {unit}"
    return f"{count} bytes"


def _check_memory(config: Any, num_images: int, batch_size: int | None, limit: int | None, what: str) -> None:
    """Refuses a generation whose [`estimate_generation_bytes`] exceeds `limit` (default `MAX_MEMORY_BYTES`)."""
    limit = MAX_MEMORY_BYTES if limit is None else limit
    needed = estimate_generation_bytes(config, num_images, batch_size)
    if needed > limit:
        raise ValueError(
            f"{what} asks for {num_images} images of {config.img_resolution}x{config.img_resolution} (batch_size="
            f"{batch_size}), about {_format_bytes(needed)}, over the limit of {_format_bytes(limit)} "
            f"(max_memory_bytes={limit}; default MAX_MEMORY_BYTES = {MAX_MEMORY_BYTES}). Generate fewer images per "
            "call or a smaller batch_size, or pass a higher `max_memory_bytes=` "
            "(`eeg2img generate --max-memory-gib`) if the memory is there."
        )


def _check_sfreq(sfreq: float | None, encoder_config: Any) -> None:
    """Refuses a stated sampling rate that differs from the encoder's (when the encoder records one)."""
    expected = getattr(encoder_config, "sfreq", None)
    if sfreq is not None and expected is not None and abs(float(sfreq) - float(expected)) > 1e-6:
        raise ValueError(f"The model's encoder expects sfreq={expected} Hz, got sfreq={sfreq} Hz; resample first.")
