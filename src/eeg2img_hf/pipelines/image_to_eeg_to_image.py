"""`image-to-eeg-to-image` pipeline: image -> predicted EEG embedding -> EEGStyleGAN-ADA reconstruction(s).

This file imports only `numpy`, `torch`, `PIL`, `transformers` and its sibling `eeg_to_image.py`, which does the
generation (same latents, seeds, truncation and output conventions as the `"eeg-to-image"` task).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image

from .eeg_to_image import (
    EEGToImagePipeline,
    _BatchedPipeline,
    _check_memory,
    _convert_images,
    _describe,
    _group_results,
    _move_batch_size,
    _Request,
    check_generation_options,
)

__all__ = ["ImageToEEGToImagePipeline"]


def _decode_one(item: Any, where: str) -> Image.Image:
    """One image from a PIL image, a file path, an `(H, W, 3)` uint8 array or a `datasets` `Image()` value."""
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, (str, os.PathLike)):
        if not os.path.isfile(item):
            raise ValueError(f"{where}: image file {str(item)!r} does not exist")
        try:
            with Image.open(item) as opened:
                return opened.convert("RGB")
        except OSError as err:
            raise ValueError(f"{where}: {str(item)!r} is not a readable image ({err})") from err
    if isinstance(item, Mapping) and ("bytes" in item or "path" in item):  # undecoded `datasets` Image() value
        import io

        return _decode_one(Image.open(io.BytesIO(item["bytes"])) if item.get("bytes") else item.get("path"), where)
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim != 3 or item.shape[-1] != 3:
            raise ValueError(f"{where}: an image array must be uint8 of shape (height, width, 3), got "
                             f"{_describe(item)}")
        return Image.fromarray(item, mode="RGB")
    raise ValueError(f"{where}: expected a PIL image, an image path, an (H, W, 3) uint8 array or a dict with an "
                     f"'image' key, got {_describe(item)}")


def _read_images(inputs: Any) -> tuple[list[Image.Image], bool]:
    """`(images, single)` from any accepted input form."""
    if hasattr(inputs, "column_names") and hasattr(inputs, "with_format"):  # a `datasets.Dataset`
        if "image" not in inputs.column_names:
            raise ValueError(f"Expected a dataset with an 'image' column, got columns {inputs.column_names}.")
        if len(inputs) == 0:
            raise ValueError("Got an empty dataset.")
        return [_decode_one(v, f"row {i}") for i, v in enumerate(inputs["image"])], False
    if isinstance(inputs, Mapping) and not ("bytes" in inputs or "path" in inputs):
        if "image" not in inputs:
            raise ValueError(f"Expected a dict or dataset row with an 'image' key, got keys {sorted(inputs)}.")
        value = inputs["image"]
        if isinstance(value, list):  # a sliced `datasets` batch
            return [_decode_one(v, f"image[{i}]") for i, v in enumerate(value)], False
        return [_decode_one(value, "image")], True
    if isinstance(inputs, np.ndarray) and inputs.ndim == 4:
        return [_decode_one(a, f"image[{i}]") for i, a in enumerate(inputs)], False
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise ValueError("Got an empty list of images.")
        items = [i["image"] if isinstance(i, Mapping) and "image" in i else i for i in inputs]
        return [_decode_one(v, f"image[{k}]") for k, v in enumerate(items)], False
    return [_decode_one(inputs, "image")], True


def _check_subject(subject: Any, n_images: int) -> torch.Tensor | None:
    if subject is None:
        return None
    values = [subject] * n_images if isinstance(subject, int) and not isinstance(subject, bool) else subject
    if not isinstance(values, (list, tuple)) or len(values) != n_images or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"`subject` must be an int or a list of {n_images} ints (one per image; -1 = unknown), "
                         f"got {subject!r}")
    return torch.tensor(list(values), dtype=torch.long)


def _load_generator(generator: Any, embed_dim: int, default: str | None) -> Any:
    """The EEGStyleGAN model: `generator` (a model or a path/Hub id) or the config's `generator_name_or_path`."""
    if generator is None:
        generator = default
        if not generator:
            raise ValueError("No generator: pass `generator=` (an EEGStyleGANModel or its folder) or set "
                             "`generator_name_or_path` in the ImageToEEG model's config.")
    if isinstance(generator, (str, os.PathLike)):
        from transformers import AutoModel

        generator = AutoModel.from_pretrained(str(generator))
    config = getattr(generator, "config", None)
    if config is None or not hasattr(config, "z_dim") or not hasattr(config, "embed_dim"):
        raise ValueError(f"`generator` must be an EEGStyleGANModel, got {type(generator).__name__}.")
    if config.embed_dim != embed_dim:
        raise ValueError(f"The generator is conditioned on {config.embed_dim}-D embeddings but the image model "
                         f"predicts {embed_dim}-D ones.")
    return generator

class ImageToEEGToImagePipeline(_BatchedPipeline):
    """
    Image -> EEG space -> image (Singh et al., WACV 2024, fig. 3d / fig. 7): an [`ImageToEEGModel`] maps each
    image to a predicted EEG embedding, which conditions an EEGStyleGAN-ADA generator (as EEG embeddings do).

    Build it with `pipeline("image-to-eeg-to-image", model=<ImageToEEGModel or folder>, generator=<EEGStyleGANModel
    or folder>)`; without `generator=`, `model.config.generator_name_or_path` is loaded. Images are preprocessed
    with the `image_processor` given to `pipeline(...)`, else with `model.build_image_processor()` (the processor
    the trainer saves is the same).

    Inputs: a PIL image, an image path, a uint8 `(H, W, 3)` array, a uint8 `(N, H, W, 3)` array, a list of those,
    a dict / `datasets` row with an `image` key, a sliced `datasets` batch, or a `datasets.Dataset` with an
    `image` column. Images are converted to RGB. Float arrays and tensors are refused (pass uint8 pixels).

    Call arguments:
        subject (`int` or `list[int]`, *optional*): subject id(s) `1..n_subjects` for a subject-conditioned model
            (`-1` = unknown); omitted = unknown (the mean subject embedding).
        num_images_per_image (`int`, *optional*, defaults to 1): reconstructions per input image.
        truncation_psi, truncation_cutoff, truncation_center, noise_mode, seed, generator (`torch.Generator`),
            output_type, batch_size, max_memory_bytes, precision: as in the `"eeg-to-image"` pipeline (`output_type`
            `"pil"`, `"np"` or `"pt"`; `truncation_psi` finite in [-1, 2]; `truncation_center` `"average"` or
            `"condition"`; `seed` in [0, 2**32 - 1]; memory limit 4 GiB by default; `precision` `"fp32"` or
            `"bf16"`, the latter only where the device has bfloat16 units).

    Returns:
        The `"eeg-to-image"` result type, whatever the options: per input image a dict `{"images": [...],
        "eeg_embeds": ...}` with a list of `num_images_per_image` reconstructions (PIL images, uint8 arrays or float
        tensors, as `output_type` says) and the predicted EEG embedding (a float32 numpy array `(eeg_embed_dim,)`, a
        tensor for `output_type="pt"`). A single image (a PIL image, a path, an `(H, W, 3)` array, a dict or row
        with one `image`) gives one dict; every batched form (a list, an `(N, H, W, 3)` array, a sliced `datasets`
        batch, a `datasets.Dataset`) gives a list of dicts in input order, even for a batch of one.

    Example:

    ```python
    >>> import eeg2img_hf.pipelines  # registers the task
    >>> from transformers import pipeline
    >>> pipe = pipeline("image-to-eeg-to-image", model="path/to/image_to_eeg", generator="path/to/eegstylegan")
    >>> result = pipe("cat.png", seed=0)
    >>> result["images"][0].save("reconstruction.png")
    ```
    """

    def __init__(self, model: Any, *args: Any, generator: Any = None, **kwargs: Any) -> None:
        config = getattr(model, "config", None)
        if config is None or not hasattr(config, "eeg_embed_dim") or not hasattr(config, "vision_config"):
            raise ValueError(f"The image-to-eeg-to-image pipeline needs an ImageToEEGModel, got "
                             f"{type(model).__name__}.")
        generator = _load_generator(generator, config.eeg_embed_dim, getattr(config, "generator_name_or_path", None))
        self.generation = None  # `Pipeline.__init__` validates call options before the generation pipeline exists
        super().__init__(model, *args, **kwargs)
        self.model.eval()
        if self.image_processor is None:
            self.image_processor = self.model.build_image_processor()
        self.generation = EEGToImagePipeline(model=generator, device=self.device)

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Reconstructs images; see the class docstring."""
        return super().__call__(_Request(inputs), **_move_batch_size(kwargs))

    def _sanitize_parameters(
        self,
        subject: Any = None,
        num_images_per_image: int | None = None,
        truncation_psi: float | None = None,
        truncation_cutoff: int | None = None,
        noise_mode: str | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        output_type: str | None = None,
        forward_batch_size: int | None = None,
        max_memory_bytes: int | None = None,
        truncation_center: str | None = None,
        precision: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError("At call time `generator` is the torch.Generator of the latents; pass the EEGStyleGAN "
                             "model as `pipeline(..., generator=...)` when building the pipeline.")
        check_generation_options(num_images_per_image, truncation_psi, truncation_cutoff, noise_mode, seed, generator,
                                 output_type, forward_batch_size, max_memory_bytes,
                                 count_name="num_images_per_image", truncation_center=truncation_center)
        if num_images_per_image is not None and self.generation is not None:  # one image already needs this much
            _check_memory(self.generation.model.config, num_images_per_image, forward_batch_size, max_memory_bytes,
                          f"num_images_per_image={num_images_per_image}")
        preprocess = {} if subject is None else {"subject": subject}
        if num_images_per_image is not None or max_memory_bytes is not None:
            preprocess.update(num_images_per_image=num_images_per_image or 1, max_memory_bytes=max_memory_bytes,
                              batch_size=forward_batch_size)
        generation = {"num_images_per_eeg": num_images_per_image, "truncation_psi": truncation_psi,
                      "truncation_cutoff": truncation_cutoff, "noise_mode": noise_mode, "seed": seed,
                      "generator": generator, "output_type": output_type, "batch_size": forward_batch_size,
                      "max_memory_bytes": max_memory_bytes, "truncation_center": truncation_center,
                      "precision": precision}
        generation = {k: v for k, v in generation.items() if v is not None}
        if self.generation is not None:  # validates the generation options before anything runs
            self.generation._sanitize_parameters(
                **{("forward_batch_size" if k == "batch_size" else k): v for k, v in generation.items()}
            )
        forward = {"generation": generation}
        postprocess = {} if output_type is None else {"output_type": output_type}
        return preprocess, forward, postprocess

    def preprocess(
        self,
        inputs: Any,
        subject: Any = None,
        num_images_per_image: int = 1,
        max_memory_bytes: int | None = None,
        batch_size: int | None = None,
    ) -> dict[str, Any]:
        """Decodes and checks the images, checks the memory estimate of the reconstructions, applies the image
        processor, checks `subject`."""
        images, single = _read_images(inputs.value if isinstance(inputs, _Request) else inputs)
        if self.generation is not None:
            _check_memory(self.generation.model.config, len(images) * num_images_per_image, batch_size,
                          max_memory_bytes, f"{len(images)} images x num_images_per_image={num_images_per_image}")
        pixel_values = self.image_processor(images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixel_values, "subject": _check_subject(subject, len(images)), "single": single}

    def _forward(self, model_inputs: dict[str, Any], generation: dict[str, Any] | None = None) -> dict[str, Any]:
        """Predicts the EEG embeddings (in chunks of `batch_size`), then generates from them."""
        generation = dict(generation or {})
        pixel_values = model_inputs["pixel_values"].to(self.model.dtype)
        subject = model_inputs["subject"]
        chunk = generation.get("batch_size") or len(pixel_values)
        embeds = torch.cat([
            self.model(pixel_values=pixel_values[i : i + chunk],
                       subject=None if subject is None else subject[i : i + chunk]).eeg_embeds
            for i in range(0, len(pixel_values), chunk)
        ]).float()
        generation["output_type"] = "pt"
        generated = self.generation(eeg_embeds=embeds, **generation)  # a batch: one dict per image
        images = torch.stack([image for result in generated for image in result["images"]])
        return {"eeg_embeds": embeds.cpu(), "images": images, "per_image": len(generated[0]["images"]),
                "single": model_inputs["single"]}

    def postprocess(self, model_outputs: dict[str, Any], output_type: str = "pil") -> Any:
        """Converts the reconstructions (PIL / uint8 numpy / float tensors in `[-1, 1]`); one `{"images",
        "eeg_embeds"}` dict per input image (see the class docstring: one dict for a single image, a list for a
        batch)."""
        converted = _convert_images(model_outputs["images"], output_type)
        results = _group_results(converted, model_outputs["eeg_embeds"], model_outputs["per_image"], output_type)
        return results[0] if model_outputs["single"] else results
