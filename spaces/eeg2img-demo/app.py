"""Gradio Space of eeg2img_hf: EEG -> image (EEGStyleGAN-ADA), EEG -> image retrieval (EEGClip), image -> EEG -> image
(ImageToEEG + EEGStyleGAN-ADA) and a batch view (class x trial grids), after Singh et al., WACV 2024.

Models and data come from environment variables (a Hub repo id or a local path each; unset = that part is off):

- `EEG2IMG_GAN`: an `EEGStyleGANModel` (EEG -> image, the batch view, and the generator of image -> EEG -> image);
- `EEG2IMG_CLIP`: an `EEGClipModel` (retrieval);
- `EEG2IMG_IMAGE_TO_EEG`: an `ImageToEEGModel` (image -> EEG -> image);
- `EEG2IMG_DATASET`: anything `eeg2img_hf.data.load_eeg_dataset` takes (a simulation preset such as
  `"thoughtviz"`, a `save_to_disk` folder, `"hf://datasets/org/name"`): trials and images to pick from, and the
  training trials whose mean embedding per class are the class prototypes;
- `EEG2IMG_GALLERY`: the retrieval gallery, a saved `GalleryIndex` (`*.safetensors`) or a folder of images
  (default: the images of the dataset split of the trial);
- `EEG2IMG_JUDGE`: an image-classifier judge folder (`eeg2img_hf.metrics.image_classifier`), which names the
  class of every generated image;
- `EEG2IMG_QUICKSTART`: the output folder of `eeg2img quickstart` (default `outputs/quickstart`, looked up in the
  working directory and the repository): used when none of the variables above is set.

A Space folder made by `eeg2img build-space` names its repos in `eeg2img_space.json` beside this file, which is read
when none of the variables above is set.

Run locally with `python app.py` (serves on 127.0.0.1:7860 unless `GRADIO_SERVER_NAME` / `GRADIO_SERVER_PORT`
say otherwise). Tests build the app with [`build_demo`] from already-loaded tiny models. The library parts (EEG
plots, grids, class prototypes, model metrics, the quickstart layout) live in the package; this file wires them.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import html  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from datasets import DatasetDict  # noqa: E402
from huggingface_hub import snapshot_download  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import AutoModel, pipeline  # noqa: E402

import eeg2img_hf.models  # noqa: E402, F401  (registers the model classes with AutoModel)
import eeg2img_hf.pipelines  # noqa: E402, F401  (registers the tasks with pipeline())
from eeg2img_hf.data import class_legend, class_shape_svg, get_eeg_info, load_eeg_dataset  # noqa: E402
from eeg2img_hf.data.eeg_io import NUMPY_EXTENSIONS, PICK_API, PICK_NAMES_API, validate_eeg  # noqa: E402
from eeg2img_hf.data.eeg_io import read_eeg_file as read_eeg_recording  # noqa: E402
from eeg2img_hf.hub.model_summary import model_headline_metrics  # noqa: E402
from eeg2img_hf.metrics.image_classifier import load_image_classifier  # noqa: E402
from eeg2img_hf.metrics.plots import eeg_display_unit, plot_eeg_trial  # noqa: E402
from eeg2img_hf.pipelines.eeg_to_image import TRUNCATION_CENTERS as _CENTER_VALUES  # noqa: E402
from eeg2img_hf.pipelines.grids import class_grid, label_grid_rows  # noqa: E402
from eeg2img_hf.pipelines.precision import check_precision  # noqa: E402
from eeg2img_hf.quickstart import QUICKSTART_OUTPUT_DIR, find_quickstart_outputs  # noqa: E402
from eeg2img_hf.retrieval import GalleryIndex, build_gallery  # noqa: E402
from eeg2img_hf.retrieval.prototypes import compute_class_prototypes  # noqa: E402
from eeg2img_hf.utils.allocator import fast_cpu_generation  # noqa: E402

__all__ = [
    "DEMO_CSS",
    "DemoBackend",
    "DemoBlocks",
    "ENV_VARS",
    "MAX_UPLOAD_BYTES",
    "PRECISION_VAR",
    "Trial",
    "build_demo",
    "build_demo_from_env",
    "discover_sources",
    "plot_eeg",
    "public_message",
    "read_eeg_file",
    "read_image_file",
    "center_update",
    "error_update",
    "legend_html",
    "public_source",
    "source_updates",
    "upload_updates",
]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""Largest accepted upload (EEG file or image), in bytes."""
MAX_ARRAY_BYTES = 4 * MAX_UPLOAD_BYTES  # data size a numpy header may claim, per array and per `.npz` (zip bombs)
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_IMAGES = 8
MAX_TOP_K = 20
MAX_TRIALS_PER_CLASS = 8
TRUNCATION_CENTERS = dict(zip(_CENTER_VALUES, ("the average latent (StyleGAN2)", "the trial's own mean latent"),
                              strict=True))
"""Truncation centres of the generator (`truncation_center`) and how the demo names them."""
MAX_GRID_IMAGES = 400  # batch view: classes x trials per class
DISPLAY_SIZE = 128  # small images are upscaled (nearest neighbour, integer factor) to at least this size
GRID_CELL_SIZE = 64  # batch view: grid cells are upscaled to at least this size
GRID_HEADROOM = 28  # batch view: white band above a grid, under the image component's label
GRID_MIN_WIDTH = 420  # batch view: narrower than two of these side by side, the grids stack
EEG_EXTENSIONS = (".npy", ".npz", ".fif", ".edf", ".bdf", ".set")  # BrainVision needs 3 files: not an upload
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
ENV_VARS = {
    "gan": "EEG2IMG_GAN",
    "clip": "EEG2IMG_CLIP",
    "image_to_eeg": "EEG2IMG_IMAGE_TO_EEG",
    "dataset": "EEG2IMG_DATASET",
    "gallery": "EEG2IMG_GALLERY",
    "judge": "EEG2IMG_JUDGE",
}
QUICKSTART_VAR = "EEG2IMG_QUICKSTART"
PRECISION_VAR = "EEG2IMG_PRECISION"
"""`fp32` (default) or `bf16`: the generator's precision (bfloat16 autocast; the Space refuses to start with `bf16` on
hardware without bfloat16 units)."""
SPACE_CONFIG = Path(__file__).resolve().parent / "eeg2img_space.json"
"""The repos of a Space folder made by `eeg2img build-space` (read when no `EEG2IMG_*` variable is set)."""
DATASET, UPLOAD = "dataset", "upload"
PICK_LABEL = "Pick the model's channels and resample"
HUB_HINT = (f"To use models from the Hugging Face Hub, set {ENV_VARS['gan']}, {ENV_VARS['clip']} and "
            f"{ENV_VARS['image_to_eeg']} to repo ids (`org/name`) or model folders, {ENV_VARS['dataset']} to a dataset "
            f"and {ENV_VARS['judge']} to a judge folder.")
QUICKSTART_HINT = (f"Run `eeg2img quickstart` (its `{QUICKSTART_OUTPUT_DIR}` folder is found automatically) or set "
                   "{var} to a model folder or Hub repo id.")

DEMO_CSS = """
/* every image whole: no scrolled, fixed-height gallery; square tiles of a sensible size; captions below */
.eeg2img-gallery .grid-wrap { max-height: none !important; min-height: 0 !important; height: auto !important;
  overflow: visible !important; padding-top: 2.4rem !important; }
.eeg2img-gallery .grid-container { grid-template-columns: repeat(auto-fill, minmax(140px, 200px)) !important;
  grid-template-rows: none !important; grid-auto-rows: auto !important; }
.eeg2img-gallery .thumbnail-item { aspect-ratio: auto !important; height: auto !important; display: flex !important;
  flex-direction: column; overflow: visible !important; }
.eeg2img-gallery .thumbnail-item > img { width: 100% !important; height: auto !important; aspect-ratio: 1 / 1;
  object-fit: contain !important; }
.eeg2img-gallery .caption-label { position: static !important; max-width: 100% !important;
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  border: none !important; border-radius: 0 !important; }
.eeg2img-gallery img, .eeg2img-pixel img { image-rendering: pixelated; }
/* batch grids at their own size (labels legible), scaled down only when wider than the panel */
.eeg2img-grid img { object-fit: contain !important; max-width: 100% !important; width: auto !important;
  height: auto !important; }
/* an error stays beside the inputs until the next action */
.eeg2img-error { border: 2px solid #d92d20; border-radius: 6px; padding: 0.5rem 0.75rem; background: #fef3f2;
  color: #7a271a; }
.eeg2img-legend { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; list-style: none; padding: 0; margin: 0; }
.eeg2img-legend li { display: flex; align-items: center; gap: 0.35rem; }
"""
"""Styles of the demo (Gradio 6 takes css in `launch()`; [`DemoBlocks`] passes it)."""


# ------------------------------------------------------------------------------------------------ messages


_PATH_OBJECT = re.compile(r"(?:Posix|Windows|Pure\w*)?Path\((['\"])(.*?)\1\)")
_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?[/\\](?:[^\s'\"()\[\]{},;:/\\]+[/\\])+([^\s'\"()\[\]{},;:/\\]+)")


NO_NAMES_HERE = ("not possible in this demo: it does not know the model's channel names, so upload a file with "
                 "exactly the model's channels")


def public_message(text: str) -> str:
    """A message fit for the browser: file paths (server temp folders of uploads) reduced to their base names, and
    the package's API hints about picking channels given as what the demo offers (its checkbox, when it knows the
    model's channel names)."""
    text = _PATH_OBJECT.sub(lambda m: repr(Path(m.group(2)).name), str(text))
    text = _ABSOLUTE_PATH.sub(lambda m: m.group(1), text)
    return text.replace(f"({PICK_API})", f"(tick “{PICK_LABEL}”)").replace(f"({PICK_NAMES_API})",
                                                                          f"({NO_NAMES_HERE})")


def public_source(source: str) -> str:
    """How the page names where a model or dataset came from: a Hub repo id or preset as given (a snapshot in the Hub
    cache by its repo id); a local folder by its path relative to the working directory when inside it, else by its
    last two parts (never the server's absolute path)."""
    path = Path(source)
    if not path.is_absolute():
        return str(source)
    cached = [part for part in path.parts if part.startswith(("models--", "datasets--"))]
    if cached:  # a snapshot in the Hub cache: its repo id
        return cached[-1].split("--", 1)[1].replace("--", "/")
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return "/".join(path.parts[-2:])


# ------------------------------------------------------------------------------------------------ inputs


def _format_size(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.3g} MB" if n_bytes >= 2**20 else f"{n_bytes / 1024:.3g} kB"


def _check_upload(path: str | os.PathLike | None, extensions: tuple[str, ...], max_bytes: int, what: str) -> Path:
    """Existence, extension and size of an uploaded file; returns its path."""
    if path is None or str(path) == "":
        raise ValueError(f"No {what} uploaded: choose a file ({', '.join(extensions)}).")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"The uploaded {what} {path.name!r} could not be found on the server; upload it again.")
    if path.suffix.lower() not in extensions:
        raise ValueError(f"Unsupported {what} type {path.suffix or '(no extension)'!r} for {path.name!r}; "
                         f"expected one of {', '.join(extensions)}.")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"The uploaded {what} {path.name!r} is {_format_size(size)}; the limit is "
                         f"{_format_size(max_bytes)}.")
    return path


def _read_upload(
    path: str | os.PathLike | None,
    n_chans: int,
    n_times: int,
    trial_index: int,
    max_bytes: int,
    sfreq: float | None,
    ch_names: list[str] | None = None,
    pick_and_resample: bool = False,
) -> tuple[np.ndarray, Any]:
    """The checked `(n_chans, n_times)` trial of an upload and the recording it comes from (the package's reader)."""
    path = _check_upload(path, EEG_EXTENSIONS, max_bytes, "EEG file")
    recording = read_eeg_recording(path, max_bytes=max_bytes, max_array_bytes=MAX_ARRAY_BYTES)
    eeg = validate_eeg(recording, n_chans=n_chans, n_times=n_times, sfreq=sfreq, trial_index=trial_index,
                       ch_names=ch_names, pick_and_resample=pick_and_resample)
    return eeg, recording


def read_eeg_file(
    path: str | os.PathLike,
    n_chans: int,
    n_times: int,
    trial_index: int = 0,
    max_bytes: int = MAX_UPLOAD_BYTES,
    sfreq: float | None = None,
) -> tuple[np.ndarray, float | None]:
    """Read one EEG trial from an uploaded file and check it against an encoder's input.

    Reading and checks are the package's (`eeg2img_hf.data.eeg_io.read_eeg_file` and `validate_eeg`).

    Args:
        path (`str` or `os.PathLike`): `.npy` (never unpickled), `.npz` (array `eeg`, or its only array), and with
            MNE: `.fif` (Epochs or Raw), `.edf`, `.bdf`, `.set` (EEGLAB, data stored in the `.set`).
        n_chans (`int`), n_times (`int`): The shape `(n_chans, n_times)` the encoder expects.
        trial_index (`int`, *optional*, defaults to 0): The trial to take from a `(n_trials, n_chans, n_times)`
            array or an Epochs file.
        max_bytes (`int`, *optional*, defaults to `MAX_UPLOAD_BYTES`): Largest accepted file size.
        sfreq (`float`, *optional*): The encoder's sampling rate; a file recorded at another rate is refused.

    Returns:
        `(eeg, sfreq)`: a finite float32 `(n_chans, n_times)` array and the file's sampling rate (`None` for numpy
        files).
    """
    eeg, recording = _read_upload(path, n_chans, n_times, trial_index, max_bytes, sfreq)
    return eeg, recording.sfreq


def read_image_file(path: str | os.PathLike, max_bytes: int = MAX_UPLOAD_BYTES) -> Image.Image:
    """Open an uploaded image safely (size, pixel count and format checked) and return it as RGB."""
    path = _check_upload(path, IMAGE_EXTENSIONS, max_bytes, "image")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"{path.name!r} is {image.width}x{image.height} pixels; the limit is "
                                 f"{MAX_IMAGE_PIXELS} pixels.")
            return image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"{path.name!r} is not a readable image ({err}).") from err


# ------------------------------------------------------------------------------------------------ display


def plot_eeg(
    eeg: np.ndarray,
    sfreq: float | None = None,
    ch_names: list[str] | None = None,
    title: str = "",
    unit: str | None = None,
) -> Image.Image:
    """Stacked-trace plot of one `(n_chans, n_times)` trial with an amplitude scale bar (the package's
    `eeg2img_hf.metrics.plots.plot_eeg_trial`)."""
    return plot_eeg_trial(eeg, sfreq=sfreq, ch_names=ch_names, unit=unit, title=title)


def _display(image: Image.Image, size: int = DISPLAY_SIZE) -> Image.Image:
    """Upscale small images by an integer factor (nearest neighbour) so they are visible in the UI."""
    factor = max(1, size // max(image.size))
    return image if factor == 1 else image.resize((image.width * factor, image.height * factor), Image.NEAREST)


def _size_note(image: Image.Image, size: int = DISPLAY_SIZE) -> str:
    factor = max(1, size // max(image.size))
    native = f"{image.width}x{image.height} px"
    return f"{native}, shown enlarged {factor}x without smoothing" if factor > 1 else native


def _headroom(image: Image.Image, height: int = GRID_HEADROOM) -> Image.Image:
    """A white band above an image, so the component's label does not cover its first row."""
    from PIL import ImageOps

    return ImageOps.expand(image, border=(0, height, 0, 0), fill=(255, 255, 255))


def _placeholder(text: str) -> Image.Image:
    from PIL import ImageDraw

    image = Image.new("RGB", (DISPLAY_SIZE, DISPLAY_SIZE), (200, 200, 200))
    ImageDraw.Draw(image).text((6, DISPLAY_SIZE // 2 - 6), text[:20], fill=(0, 0, 0))
    return image


def _describe_shape(n_chans: int, n_times: int, sfreq: float | None) -> str:
    text = f"{n_chans} channels x {n_times} samples"
    if sfreq:
        text += f" at {sfreq:g} Hz ({n_times / sfreq * 1000:g} ms)"
    return text


def _name_list(names: list[str] | None, limit: int = 16) -> str:
    if not names:
        return ""
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _unit_of(info: dict[str, Any]) -> str | None:
    """The dataset's EEG unit when it is a voltage (shown in microvolts), else `None` (arbitrary units)."""
    unit = info.get("unit") or info.get("units")
    return unit if isinstance(unit, str) and eeg_display_unit(unit)[1] == "\u00b5V" else None


def _source_name(source: Any, model: Any) -> str:
    """Where a model came from: the repo id or path it was configured with, else the one it was loaded from."""
    if isinstance(source, (str, os.PathLike)) and str(source):
        return str(source)
    name = getattr(model, "name_or_path", "") or getattr(getattr(model, "config", None), "_name_or_path", "")
    return str(name) if name else "a model object passed to build_demo"


HEADLINES = {
    "clip": {"eeg_to_image.same_class.mrr": "same-class MRR", "eeg_to_image.same_class.map": "same-class mAP",
             "eeg_to_image.same_class.top1": "same-class top-1", "eeg_to_image.same_class.top5": "same-class top-5",
             "eeg_to_image.exact_image.top1": "exact-image top-1"},
}
"""Per model, the card metrics the page headlines, in order, and their names on the page (others: the card's first
four). Retrieval is headlined by its same-class figures: an EEG trial's class is what its embedding carries, while
the one image it was recorded with is a near-chance target among same-class images."""


def _headlines(metrics: list[dict[str, Any]], chosen: dict[str, str] | None, limit: int = 4) -> list[dict[str, Any]]:
    if not chosen:
        return metrics[:limit]
    by_name = {m["name"]: m for m in metrics}
    picked = [{"name": label, "value": by_name[name]["value"]} for name, label in chosen.items() if name in by_name]
    return picked or metrics[:limit]


# ------------------------------------------------------------------------------------------------ backend


@dataclass
class Trial:
    """One EEG trial with what is known about it (`label`, `image_id` and `image` only for dataset trials)."""

    eeg: np.ndarray
    sfreq: float | None
    description: str
    label: str | None = None
    image_id: str | None = None
    image: Image.Image | None = None
    ch_names: list[str] | None = None
    unit: str | None = None
    notes: list[str] = field(default_factory=list)


def _as_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """An integer option from the UI (gradio numbers may arrive as floats) within `[low, high]`."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}.")
    if int(value) != value:
        raise ValueError(f"{name} must be a whole number, got {value!r}.")
    value = int(value)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}.")
    return value


def _finite(value: Any, name: str) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def _center(value: Any) -> str:
    if value not in TRUNCATION_CENTERS:
        raise ValueError(f"Truncation centre must be one of {list(TRUNCATION_CENTERS)}, got {value!r}.")
    return value


def _truncation_note(psi: float, center: str) -> str:
    if psi == 1.0:
        return "truncation psi 1 (none)"
    return f"truncation psi {psi:g} towards {TRUNCATION_CENTERS[center]}"


def _load_model(source: Any, kind: str) -> Any:
    """A model object as is, or `AutoModel.from_pretrained(source)` for a repo id / local folder."""
    if source is None or source == "":
        return None
    if hasattr(source, "config"):
        return source.eval()

    try:
        return AutoModel.from_pretrained(str(source)).eval()
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not load the {kind} model from {str(source)!r}: {err}") from err


def _load_judge(source: Any) -> Any:
    """An image-classifier judge as is, or loaded from its folder."""
    if source is None or source == "":
        return None
    if hasattr(source, "config") and hasattr(source.config, "classes"):
        return source.eval()
    try:
        if not Path(str(source)).exists() and str(source).count("/") == 1:
            source = snapshot_download(str(source))  # a Hub repo id (`eeg2img build-space --judge`)
        return load_image_classifier(str(source))
    except (ValueError, OSError) as err:
        raise ValueError(f"Could not load the image-classifier judge from {str(source)!r}: {err}") from err


class DemoBackend:
    """Loaded models, pipelines and data behind the demo; its methods are the UI's event handlers.

    Handlers raise `ValueError` with a readable message for bad input; [`build_demo`] shows it as a `gr.Error`.

    Args:
        gan: `EEGStyleGANModel`, or its folder / Hub repo id (EEG -> image; generator of image -> EEG -> image).
        clip: `EEGClipModel`, or its folder / repo id (retrieval).
        image_to_eeg: `ImageToEEGModel`, or its folder / repo id (image -> EEG -> image).
        dataset: `datasets.DatasetDict` in the package schema, or any source of `load_eeg_dataset`.
        gallery: retrieval gallery: a `GalleryIndex`, a saved index path or a folder of images (default: the
            dataset split of the trial).
        judge: image-classifier judge (`ImageClassifier` or its folder): the class of each generated image.
        max_upload_bytes (`int`, *optional*, defaults to `MAX_UPLOAD_BYTES`): largest accepted upload.
        device (`str`, *optional*): torch device of the pipelines (default: `"cuda"` when available, else CPU).
        origin (`str`, *optional*): A note on where the configuration came from (shown above the tabs).
        precision (`str`, *optional*, defaults to `"fp32"`): the generator's precision, `"fp32"` or `"bf16"`
            (refused where the device has no bfloat16 units).
    """

    def __init__(
        self,
        gan: Any = None,
        clip: Any = None,
        image_to_eeg: Any = None,
        dataset: Any = None,
        gallery: Any = None,
        judge: Any = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        device: str | None = None,
        origin: str | None = None,
        precision: str = "fp32",
    ) -> None:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.precision = check_precision(precision, device, name=PRECISION_VAR)
        self.max_upload_bytes = max_upload_bytes
        self.origin = origin
        self.unavailable: dict[str, str] = {}
        self.dataset = self._load_dataset(dataset)
        self.dataset_source = dataset if isinstance(dataset, (str, os.PathLike)) else None
        self.splits = list(self.dataset) if self.dataset is not None else []
        self.info: dict[str, Any] = self._dataset_info()
        sources = {"gan": gan, "clip": clip, "image_to_eeg": image_to_eeg, "judge": judge}
        gan, clip, image_to_eeg = (_load_model(gan, "EEGStyleGAN-ADA"), _load_model(clip, "EEGClip"),
                                   _load_model(image_to_eeg, "image-to-EEG"))
        self.judge = _load_judge(judge)
        loaded = {"gan": gan, "clip": clip, "image_to_eeg": image_to_eeg, "judge": self.judge}
        self.sources = {name: _source_name(sources[name], model) for name, model in loaded.items() if model is not None}
        self.generation = pipeline("eeg-to-image", model=gan, device=device) if gan is not None else None
        self.retrieval = pipeline("eeg-image-retrieval", model=clip, device=device) if clip is not None else None
        self.reconstruction = None
        if image_to_eeg is not None:
            try:
                self.reconstruction = pipeline("image-to-eeg-to-image", model=image_to_eeg, generator=gan,
                                               device=device)
            except (ValueError, OSError) as err:
                self.unavailable["reconstruct"] = f"The image-to-EEG model cannot be used: {err}"
        self._galleries: dict[str, Any] = {}
        self._gallery_source = gallery
        self._prototypes: Any = None
        self._metrics: dict[str, list[dict[str, Any]]] = {}
        if gan is None:
            self.unavailable["generate"] = "No EEGStyleGAN-ADA model is configured. " + QUICKSTART_HINT.format(
                var=ENV_VARS["gan"])
        if clip is None:
            self.unavailable["retrieve"] = "No EEGClip model is configured. " + QUICKSTART_HINT.format(
                var=ENV_VARS["clip"])
        elif gallery is None and self.dataset is None:
            self.unavailable["retrieve"] = (f"No retrieval gallery: set {ENV_VARS['gallery']} (a saved gallery "
                                            f"index or a folder of images) or {ENV_VARS['dataset']}.")
        if image_to_eeg is None:
            self.unavailable["reconstruct"] = "No image-to-EEG model is configured. " + QUICKSTART_HINT.format(
                var=f"{ENV_VARS['image_to_eeg']} (and {ENV_VARS['gan']})")
        if gan is None or self.dataset is None:
            self.unavailable["batch"] = (f"The batch view needs an EEGStyleGAN-ADA model ({ENV_VARS['gan']}) and a "
                                         f"dataset ({ENV_VARS['dataset']}).")
        if gallery is not None and clip is not None:
            self._galleries[""] = self._load_gallery(gallery)

    # -------------------------------------------------------------------------------------- data access

    @staticmethod
    def _load_dataset(source: Any) -> Any:
        if source is None or source == "":
            return None
        if isinstance(source, DatasetDict):
            return source
        return load_eeg_dataset(source)

    def _dataset_info(self) -> dict[str, Any]:
        if self.dataset is None:
            return {}
        try:
            return get_eeg_info(self.dataset)
        except ValueError:
            return {}

    @property
    def class_names(self) -> list[str] | None:
        """The classes: the dataset's labels, else the judge's."""
        if self.dataset is not None and "label" in self.dataset[self.splits[0]].features:
            return list(self.dataset[self.splits[0]].features["label"].names)
        return list(self.judge.config.classes) if self.judge is not None else None

    def legend(self) -> list[dict[str, str]]:
        """How the simulator drew each class of the dataset (`eeg2img_hf.data.class_legend`: shape, colour, RGB);
        `[]` unless the dataset is simulated."""
        simulator = self.info.get("simulator") if self.info.get("simulated") else None
        preset = simulator.get("preset") if isinstance(simulator, dict) else None
        if not preset or not self.class_names:
            return []
        try:
            return class_legend(preset, self.class_names)
        except ValueError:  # a preset of another version of the simulator
            return []

    def class_look(self, label: str | None) -> str:
        """`" (yellow triangle)"` for a class of a simulated dataset, else `""`."""
        looks = {row["class"]: f" ({row['colour']} {row['shape']})" for row in self.legend()}
        return looks.get(label, "") if label is not None else ""

    def upload_trials(self, upload: Any) -> int | None:
        """The number of trials in an uploaded EEG file (1 for one trial or a continuous recording); `None` when
        there is no readable file (the error is reported when the file is used)."""
        try:
            path = _check_upload(upload, EEG_EXTENSIONS, self.max_upload_bytes, "EEG file")
            recording = read_eeg_recording(path, max_bytes=self.max_upload_bytes, max_array_bytes=MAX_ARRAY_BYTES)
        except (ValueError, OSError):
            return None
        return recording.n_trials or 1

    def model_ch_names(self, encoder_config: Any) -> list[str] | None:
        """The channels a model takes, in order: the dataset's, when they are as many as the model's input."""
        names = self.info.get("ch_names")
        return list(names) if names and len(names) == encoder_config.n_chans else None

    def model_sfreq(self, encoder_config: Any) -> float | None:
        """The sampling rate a model takes: its encoder's, else the dataset's when the dataset's trials fit it."""
        sfreq = getattr(encoder_config, "sfreq", None)
        fits = (self.info.get("n_chans"), self.info.get("n_times")) == (encoder_config.n_chans, encoder_config.n_times)
        return sfreq if sfreq else (self.info.get("sfreq") if fits else None)

    def _load_gallery(self, source: Any) -> Any:
        """The configured gallery as a checked `GalleryIndex`, with pixels attached from the dataset if needed."""
        model, processor = self.retrieval.model, self.retrieval.image_processor
        if isinstance(source, GalleryIndex):
            source.check_compatible(model, processor)
            index = source
        elif Path(source).is_file():
            index = GalleryIndex.load(source, model=model, image_processor=processor)
        else:
            index = build_gallery(model, str(source), image_processor=processor)
        for split in self.splits if not index.has_images else []:
            try:
                index.attach_images(self.dataset[split])
                break
            except ValueError:
                continue
        return index

    @property
    def upload_split(self) -> str | None:
        """The split whose images an uploaded trial is ranked against (the last one: normally `test`)."""
        return self.splits[-1] if self.splits else None

    def gallery_for(self, split: str | None) -> Any:
        """The retrieval gallery: the configured one, else the images of dataset split `split` (built once)."""
        if "" in self._galleries:
            return self._galleries[""]
        if self.dataset is None:
            raise ValueError(f"No retrieval gallery: set {ENV_VARS['gallery']} or {ENV_VARS['dataset']}.")
        split = split if split in self.splits else self.upload_split
        if split not in self._galleries:
            self._galleries[split] = build_gallery(self.retrieval.model, self.dataset[split],
                                                   image_processor=self.retrieval.image_processor)
        return self._galleries[split]

    def gallery_note(self) -> str:
        """Which images a trial is ranked against, and how many (they differ between splits)."""
        if "" in self._galleries or self._gallery_source is not None:
            count = len(self._galleries[""]) if "" in self._galleries else "?"
            return f"**Gallery:** the configured gallery ({count} images), for dataset trials and uploads alike."
        if self.dataset is None:
            return ""
        sizes = {split: len(set(self.dataset[split]["image_id"])) for split in self.splits}
        listed = ", ".join(f"{split} {count}" for split, count in sizes.items())
        return (f"**Gallery:** the distinct images of one dataset split. A dataset trial is ranked against the "
                f"images of its own split ({listed} images), so galleries differ in size between splits; an uploaded "
                f"trial against the {self.upload_split} split ({sizes[self.upload_split]} images). A score is the "
                "cosine similarity of the EEG and image embeddings; chance rank is half the gallery size.")

    def _row(self, split: Any, index: Any) -> tuple[dict[str, Any], str | None]:
        if self.dataset is None:
            raise ValueError(f"No dataset is configured (set {ENV_VARS['dataset']}); upload a file instead.")
        if split not in self.splits:
            raise ValueError(f"Unknown split {split!r}; choose one of {self.splits}.")
        rows = self.dataset[split]
        index = _as_int(index, "Trial index", 0, len(rows) - 1)
        row = rows[index]
        label = rows.features["label"].int2str(int(row["label"])) if "label" in row else None
        return {**row, "_index": index}, label

    def read_trial(
        self, source: str, split: Any, index: Any, upload: Any, encoder_config: Any, pick: bool = False
    ) -> Trial:
        """The EEG trial picked in the UI: dataset row `split[index]`, or trial `index` of the uploaded file
        (checked against the model; with `pick`, the model's channels picked by name and resampled to its rate)."""
        n_chans, n_times = encoder_config.n_chans, encoder_config.n_times
        model_sfreq = self.model_sfreq(encoder_config)
        if source == UPLOAD:
            model_names = self.model_ch_names(encoder_config)
            eeg, recording = _read_upload(upload, n_chans, n_times, _as_int(index, "Trial index", 0),
                                          self.max_upload_bytes, model_sfreq, model_names, bool(pick))
            name = Path(upload).name
            names, sfreq = recording.ch_names, recording.sfreq
            notes = [self._recording_summary(name, recording)]
            if pick and model_names is not None and names is not None:
                notes.append(f"picked the model's {len(model_names)} channels by name")
                names = model_names
            if pick and model_sfreq and sfreq and not math.isclose(sfreq, model_sfreq):
                notes.append(f"resampled from {sfreq:g} Hz to {model_sfreq:g} Hz")
                sfreq = model_sfreq
            trial = f", trial {int(index)} of {recording.n_trials}" if (recording.n_trials or 1) > 1 else ""
            return Trial(eeg, sfreq, f"uploaded file {name!r}{trial}", ch_names=names, unit=recording.unit,
                         notes=notes)
        if source != DATASET:
            raise ValueError(f"Unknown EEG source {source!r}; expected {DATASET!r} or {UPLOAD!r}.")
        row, label = self._row(split, index)
        eeg = np.asarray(row["eeg"], dtype=np.float32)
        if eeg.shape != (n_chans, n_times):
            raise ValueError(f"The dataset's trials have shape {eeg.shape} but the model expects (n_chans, n_times) "
                             f"= ({n_chans}, {n_times}); configure a matching model or dataset.")
        return Trial(eeg, self.info.get("sfreq"), f"{split}[{row['_index']}], subject {row.get('subject')}", label,
                     row.get("image_id"), row.get("image"), self.info.get("ch_names"),
                     _unit_of(self.info))

    @staticmethod
    def _recording_summary(name: str, recording: Any) -> str:
        kind = {"epochs": "epochs", "raw": "raw recording", "array": "array"}.get(recording.kind, recording.kind)
        trials = f"{recording.n_trials} trials of " if recording.n_trials else ""
        rate = f"{recording.sfreq:g} Hz" if recording.sfreq else "sampling rate not stored (taken as the model's)"
        names = f"; channels {_name_list(recording.ch_names)}" if recording.ch_names else ""
        return (f"{name!r} ({kind}): {trials}{recording.n_chans} channels x {recording.n_times} samples, "
                f"{rate}{names}")

    # -------------------------------------------------------------------------------------- truth helpers

    def prototypes(self) -> Any:
        """Class prototypes of the generator's EEG encoder: the mean embedding per class of the dataset's training
        split (computed once, then cached); `None` when there is no dataset or encoder to compute them from."""
        if self._prototypes is None:
            encoder = getattr(self.generation.model if self.generation else None, "eeg_encoder", None)
            if encoder is None or self.dataset is None:
                return None
            split = "train" if "train" in self.splits else self.splits[0]
            data = self.dataset[split].select_columns(["eeg", "label"]).with_format("numpy")[:]
            if tuple(data["eeg"].shape[1:]) != (encoder.config.n_chans, encoder.config.n_times):
                return None
            self._prototypes = compute_class_prototypes(encoder, data["eeg"], data["label"], self.class_names)
            self._prototypes_split = split
        return self._prototypes

    def _decode_text(self, embeds: Any, label: str | None) -> tuple[list[list[Any]], str]:
        """Rows `[class, cosine, is true class]` of the nearest class prototypes of an embedding, and a sentence."""
        prototypes = self.prototypes()
        if prototypes is None:
            return [], "no class prototypes (they need a dataset whose trials fit the generator's encoder)"
        decoded = prototypes.decode(np.asarray(embeds), top_k=3)
        rows = [[name, round(score, 4), label is not None and name == label] for name, score in decoded]
        best, score = decoded[0]
        verdict = "" if label is None else (" = the true class" if best == label else f", true class {label}")
        return rows, f"EEG embedding decodes to {best} (cosine {score:.3f} with its class prototype{verdict})"

    def judge_images(self, images: list[Image.Image]) -> list[tuple[str, float]] | None:
        """The judge's class and probability for each image, or `None` without a judge."""
        if self.judge is None or not images:
            return None
        batch = torch.from_numpy(np.stack([np.asarray(im.convert("RGB")) for im in images]).transpose(0, 3, 1, 2))
        probs = self.judge.extractor()(batch)[1].numpy()
        classes = self.judge.config.classes
        return [(str(classes[int(p.argmax())]), float(p.max())) for p in probs]

    # -------------------------------------------------------------------------------------- requirements

    def eeg_requirement(self, encoder_config: Any) -> str:
        """What an EEG input must be for a model, in one sentence."""
        shape = _describe_shape(encoder_config.n_chans, encoder_config.n_times, self.model_sfreq(encoder_config))
        names = self.model_ch_names(encoder_config)
        channels = f"; channels {_name_list(names)}" if names else ""
        n_chans, n_times = encoder_config.n_chans, encoder_config.n_times
        adapt = (f"tick “{PICK_LABEL}” to take the model's channels by name and resample" if names else
                 f"they need exactly the model's {n_chans} channels in its order (this demo does not know their "
                 f"names), and “{PICK_LABEL}” resamples them")
        return (f"(n_chans, n_times) = ({n_chans}, {n_times}): {shape}{channels}. Files: .npy / .npz must already be "
                f"one trial ({n_chans}, {n_times}) or trials (n, {n_chans}, {n_times}), channels in the model's order "
                f"(numpy files have no channel names to pick by); .fif, .edf, .bdf, .set have their channels and "
                f"rate checked: {adapt}")

    def shown_source(self, name: str) -> str:
        """Where model `name` came from, as the page shows it ([`public_source`]: no server paths)."""
        return public_source(self.sources[name])

    def headline_metrics(self, name: str) -> str:
        """The model card's headline metrics of a loaded model (from eval_results.json or its README); for EEGClip
        the same-class retrieval figures ([`HEADLINES`]) come first, then exact-image top-1."""
        if name not in self._metrics:
            found = model_headline_metrics(self.sources[name], limit=64) if name in self.sources else []
            self._metrics[name] = _headlines(found, HEADLINES.get(name))
        metrics = self._metrics[name]
        return ", ".join(f"{m['name']} {m['value']:.3g}" for m in metrics) if metrics else "no evaluation found"

    def requirements_markdown(self) -> str:
        """The loaded models, where each came from, what each needs, and their card's headline metrics."""
        lines = []
        if self.origin:
            lines += [self.origin, ""]
        if self.precision == "bf16":
            lines += [f"Images are generated in bfloat16 ({PRECISION_VAR}=bf16): faster here, within rounding of "
                      "float32.", ""]
        if self.generation is not None:
            config = self.generation.model.config
            encoder = config.encoder_config
            needs = f"EEG {_describe_shape(encoder.n_chans, encoder.n_times, self.model_sfreq(encoder))}" if (
                encoder is not None) else "class labels"
            lines.append(f"- **EEG → image**: EEGStyleGAN-ADA from `{self.shown_source('gan')}`; input {needs}; output "
                         f"{config.img_resolution}x{config.img_resolution} px images. Card: "
                         f"{self.headline_metrics('gan')}.")
        if self.retrieval is not None:
            encoder = self.retrieval.model.config.encoder_config
            lines.append(f"- **Retrieval**: EEGClip from `{self.shown_source('clip')}`; input EEG "
                         f"{_describe_shape(encoder.n_chans, encoder.n_times, self.model_sfreq(encoder))}. "
                         f"Card: {self.headline_metrics('clip')}.")
        if self.reconstruction is not None:
            config = self.reconstruction.model.config
            lines.append(f"- **Image → EEG → image**: image-to-EEG model from "
                         f"`{self.shown_source('image_to_eeg')}`; any RGB image → {config.eeg_embed_dim}-D EEG "
                         f"embedding → the EEG → image generator. Card: {self.headline_metrics('image_to_eeg')}.")
        if self.judge is not None:
            config = self.judge.config
            accuracy = (f"validation accuracy {config.val_accuracy:.3f}" if config.val_accuracy is not None
                        else "no validation accuracy recorded")
            lines.append(f"- **Judge** (names the class of each generated image): image classifier from "
                         f"`{self.shown_source('judge')}`, {len(config.classes)} classes, {config.image_size} px; "
                         f"{accuracy}.")
        if self.dataset is not None:
            counts = ", ".join(f"{split} {len(self.dataset[split])}" for split in self.splits)
            shape = _describe_shape(self.info.get("n_chans", 0), self.info.get("n_times", 0), self.info.get("sfreq"))
            simulated = " (simulated)" if self.info.get("simulated") else ""
            source = f"`{public_source(str(self.dataset_source))}`" if self.dataset_source else "a DatasetDict"
            lines.append(f"- **Dataset**{simulated}: {source}; trials {counts}; {shape}; channels "
                         f"{_name_list(self.info.get('ch_names')) or 'not stored'}.")
        classes = self.class_names
        if classes:
            lines.append(f"- **Classes** ({len(classes)}): {', '.join(classes)}.")
        if not lines:
            return "No model is configured. " + QUICKSTART_HINT.format(var=ENV_VARS["gan"]) + " " + HUB_HINT
        return "\n".join(lines)

    # -------------------------------------------------------------------------------------- handlers

    def _require(self, tab: str, pipe: Any) -> Any:
        if pipe is None:
            raise ValueError(self.unavailable.get(tab, "This tab is not configured."))
        return pipe

    def generate(
        self, source: str, split: Any, index: Any, upload: Any, seed: Any, num_images: Any, truncation: Any,
        pick: bool = False, truncation_center: Any = "average",
    ) -> tuple[Image.Image, Image.Image | None, list[tuple[Image.Image, str]], str]:
        """EEG -> image. Returns `(eeg_plot, shown_image, [(image, caption), ...], info)`; `truncation_center` is
        `"average"` (StyleGAN2's `w_avg`) or `"condition"` (the trial's own mean `w`)."""
        pipe = self._require("generate", self.generation)
        trial = self.read_trial(source, split, index, upload, pipe.model.config.encoder_config, pick)
        seed = _as_int(seed, "Seed", 0, 2**31 - 1)
        count = _as_int(num_images, "Number of images", 1, MAX_IMAGES)
        psi, center = _finite(truncation, "Truncation"), _center(truncation_center)
        sfreq = trial.sfreq if source == UPLOAD else None  # dataset trials are in the model's space already
        with fast_cpu_generation():
            # one trial: one {"images": [...], "eeg_embeds": ...} dict
            result = pipe(trial.eeg, seed=seed, num_images_per_eeg=count, truncation_psi=psi, sfreq=sfreq,
                          truncation_center=center, precision=self.precision)
        images = result["images"]
        truth = (f"true class: {trial.label}{self.class_look(trial.label)}" if trial.label is not None
                 else "true class: unknown")
        judged = self.judge_images(images)
        gallery = []
        for k, image in enumerate(images):
            caption = f"#{k + 1} seed {seed} · {truth}"
            if judged is not None:
                caption += f" · judge: {judged[k][0]} ({judged[k][1]:.2f})"
            gallery.append((_display(image), caption))
        _, decoded = self._decode_text(result["eeg_embeds"], trial.label)
        parts = [f"{len(images)} image(s) from {trial.description}", truth, decoded]
        if judged is not None:
            hits = sum(name == trial.label for name, _ in judged)
            parts.append(f"judge: {', '.join(name for name, _ in judged)}"
                         + (f" ({hits} of {len(judged)} the true class)" if trial.label is not None else ""))
        parts += [f"seed {seed}, {_truncation_note(psi, center)}", f"images {_size_note(images[0])}", *trial.notes]
        shown = _display(trial.image.convert("RGB")) if trial.image is not None else None
        return self._plot(trial), shown, gallery, "; ".join(parts) + "."

    @staticmethod
    def _plot(trial: Trial) -> Image.Image:
        return plot_eeg(trial.eeg, trial.sfreq, trial.ch_names, trial.description, trial.unit)

    def retrieve(
        self, source: str, split: Any, index: Any, upload: Any, top_k: Any, pick: bool = False
    ) -> tuple[Image.Image, Image.Image | None, list[tuple[Image.Image, str]], list[list[Any]], str]:
        """EEG -> image retrieval. Returns `(eeg_plot, true_image, [(image, caption), ...], table_rows, info)`; the
        true image (dataset trials) is shown with its rank even when it is outside the top-k, and the table then
        ends with its row."""
        pipe = self._require("retrieve", self.retrieval)
        trial = self.read_trial(source, split, index, upload, pipe.model.config.encoder_config, pick)
        gallery = self.gallery_for(split if source == DATASET else None)
        k = _as_int(top_k, "Top-k", 1, min(MAX_TOP_K, len(gallery)))
        ranking = pipe(trial.eeg, top_k=len(gallery), gallery=gallery, return_images=False)
        hits = ranking[:k]
        pixels = gallery.get_images([hit["index"] for hit in hits]) if gallery.has_images else None
        items, rows = [], []
        for rank, hit in enumerate(hits, start=1):
            is_true = trial.image_id is not None and hit["image_id"] == trial.image_id
            caption = f"#{rank} {hit['label']} ({hit['score']:.3f})" + (" - TRUE IMAGE" if is_true else "")
            image = pixels[rank - 1] if pixels is not None else _placeholder(str(hit["image_id"]))
            items.append((_display(image.convert("RGB")), caption))
            rows.append([rank, round(hit["score"], 4), str(hit["label"]), hit["image_id"], is_true])
        true_rank = next((r for r, hit in enumerate(ranking, 1) if hit["image_id"] == trial.image_id), None)
        true_image = None
        if trial.image_id is None:
            truth = "true image unknown (uploaded EEG)"
        elif true_rank is None:
            truth = f"true image {trial.image_id!r} is not in the gallery"
        else:
            truth = f"true image {trial.image_id!r} ({trial.label}) is ranked {true_rank} of {len(ranking)}"
            true_image = _display(trial.image.convert("RGB")) if trial.image is not None else None
            if true_rank > k:
                hit = ranking[true_rank - 1]
                rows.append([true_rank, round(hit["score"], 4), str(hit["label"]), hit["image_id"], True])
                truth += f" (outside the top-{k}; its row ends the table)"
        info = f"Top-{k} of {len(gallery)} gallery images for {trial.description}; {truth}."
        if trial.notes:
            info += " " + "; ".join(trial.notes) + "."
        return self._plot(trial), true_image, items, rows, info

    def reconstruct(
        self, source: str, split: Any, index: Any, upload: Any, seed: Any, num_images: Any, truncation: Any,
        truncation_center: Any = "average",
    ) -> tuple[Image.Image, list[tuple[Image.Image, str]], list[list[Any]], str]:
        """Image -> EEG -> image. Returns `(input_image, [(reconstruction, caption), ...], decoded_rows, info)`:
        `decoded_rows` are the nearest class prototypes of the predicted EEG embedding `[class, cosine, true]`."""
        pipe = self._require("reconstruct", self.reconstruction)
        if source == UPLOAD:
            image, label = read_image_file(upload, self.max_upload_bytes), None
            where = f"uploaded image {Path(upload).name!r}"
        elif source == DATASET:
            row, label = self._row(split, index)
            image, where = row["image"].convert("RGB"), f"{split}[{row['_index']}]"
        else:
            raise ValueError(f"Unknown image source {source!r}; expected {DATASET!r} or {UPLOAD!r}.")
        seed = _as_int(seed, "Seed", 0, 2**31 - 1)
        count = _as_int(num_images, "Number of images", 1, MAX_IMAGES)
        psi, center = _finite(truncation, "Truncation"), _center(truncation_center)
        with fast_cpu_generation():
            result = pipe(image, seed=seed, num_images_per_image=count, truncation_psi=psi, truncation_center=center,
                          precision=self.precision)
        images = result["images"]
        judged = self.judge_images(images)
        gallery = []
        for k, im in enumerate(images):
            caption = f"reconstruction #{k + 1}, seed {seed}"
            if judged is not None:
                caption += f" · judge: {judged[k][0]} ({judged[k][1]:.2f})"
            gallery.append((_display(im), caption))
        truth = f"true class: {label}{self.class_look(label)}" if label is not None else "true class: unknown"
        embeds = result["eeg_embeds"]
        decoded_rows, decoded = self._decode_text(embeds, label)
        parts = [f"{len(images)} reconstruction(s) of {where}", truth, decoded,
                 f"predicted EEG embedding: {embeds.shape[0]}-D, norm {float(np.linalg.norm(embeds)):.3f}"]
        if judged is not None:
            parts.append(f"judge on the reconstructions: {', '.join(name for name, _ in judged)}")
            input_class, input_prob = self.judge_images([image])[0]
            parts.append(f"judge on the input image: {input_class} ({input_prob:.2f})")
        elif self.judge is None:
            parts.append(f"no judge configured ({ENV_VARS['judge']}): reconstructions are not classified")
        parts += [f"seed {seed}, {_truncation_note(psi, center)}", f"images {_size_note(images[0])}"]
        return _display(image), gallery, decoded_rows, "; ".join(parts) + "."

    def batch(
        self, split: Any, classes: Any, trials_per_class: Any, seed: Any, truncation: Any,
        truncation_center: Any = "average",
    ) -> tuple[Image.Image, Image.Image, str]:
        """Batch view: generated images for `trials_per_class` trials of each chosen class (rows) next to the
        stimuli of the same trials. Returns `(generated_grid, stimulus_grid, info)`."""
        pipe = self._require("batch", self.generation if self.dataset is not None else None)
        if split not in self.splits:
            raise ValueError(f"Unknown split {split!r}; choose one of {self.splits}.")
        names = self.class_names or []
        chosen = [classes] if isinstance(classes, str) else list(classes or [])
        unknown = [c for c in chosen if c not in names]
        if not chosen or unknown:
            raise ValueError(f"Choose at least one class of {names}" + (f" (unknown: {unknown})." if unknown else "."))
        per_class = _as_int(trials_per_class, "Trials per class", 1, MAX_TRIALS_PER_CLASS)
        if per_class * len(chosen) > MAX_GRID_IMAGES:
            raise ValueError(f"{len(chosen)} classes x {per_class} trials is more than {MAX_GRID_IMAGES} images; "
                             "choose fewer classes or trials.")
        seed = _as_int(seed, "Seed", 0, 2**31 - 1)
        psi, center = _finite(truncation, "Truncation"), _center(truncation_center)
        labels = np.asarray(self.dataset[split]["label"])
        for name in chosen:
            available = int((labels == names.index(name)).sum())
            if available < per_class:
                raise ValueError(f"Class {name!r} has {available} trials in the {split} split; choose at most "
                                 f"{available} trials per class, or another split.")
        with fast_cpu_generation():
            grid = class_grid(pipe, self.dataset[split], [names.index(c) for c in chosen], per_class, seed,
                              labels=labels, truncation_psi=psi, truncation_center=center,
                              precision=self.precision)
        size = grid.generated.shape[1]
        scale = max(1, GRID_CELL_SIZE // size)
        generated = _headroom(label_grid_rows(grid.generated_grid(), chosen, scale=scale))
        stimuli = _headroom(label_grid_rows(grid.stimulus_grid(), chosen, scale=scale))
        parts = [f"{len(chosen)} classes x {per_class} trials of the {split} split (rows = classes, columns = "
                 f"trials, the same trial in the same place of both grids); seed {seed}, "
                 f"{_truncation_note(psi, center)}",
                 f"cells {size}x{size} px" + (f", shown enlarged {scale}x without smoothing" if scale > 1 else "")]
        judged = self.judge_images([Image.fromarray(a) for a in grid.generated])
        if judged is not None:
            truth = [names[c] for c in grid.class_ids for _ in range(per_class)]
            hits = sum(name == true for (name, _), true in zip(judged, truth))
            real = self.judge_images([Image.fromarray(a) for a in grid.stimuli])
            real_hits = sum(name == true for (name, _), true in zip(real, truth))
            parts.append(f"judge: {hits} of {len(truth)} generated images ({hits / len(truth):.0%}) and {real_hits} "
                         f"of {len(truth)} stimuli classified as their trial's class (chance "
                         f"{1 / len(names):.0%})")
        return generated, stimuli, "; ".join(parts) + "."


# ------------------------------------------------------------------------------------------------ UI


def _ui(handler: Any) -> Any:
    """Wraps a backend handler for the API: `ValueError`s reach the client as a readable `gr.Error` (without server
    paths)."""

    def wrapped(*args: Any) -> Any:
        try:
            return handler(*args)
        except ValueError as err:
            raise gr.Error(_error_text(err), print_exception=False) from err

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _error_text(err: Exception) -> str:
    return html.escape(public_message(str(err)), quote=False).replace("\n", "<br>")  # rendered as HTML


def error_update(err: Exception | None = None) -> Any:
    """The error box of a tab: the message of `err`, kept on the page (beside the inputs) until the next action;
    hidden when `err` is `None`."""
    if err is None:
        return gr.update(value="", visible=False)
    return gr.update(value=f"<strong>Error:</strong> {_error_text(err)}", visible=True)


def _shown_errors(handler: Any, n_outputs: int) -> Any:
    """Wraps a backend handler for the page: its outputs plus the error box; a `ValueError` empties the outputs and
    shows its message in the box (a toast would vanish after a few seconds)."""

    def wrapped(*args: Any) -> tuple[Any, ...]:
        try:
            outputs = handler(*args)
        except ValueError as err:
            return (*([None] * n_outputs), error_update(err))
        return (*outputs, error_update())

    wrapped.__name__ = f"{handler.__name__}_on_page"
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _bind(button: gr.Button, handler: Any, inputs: list[Any], outputs: list[Any], error: Any, api_name: str) -> None:
    """The button runs `handler` for the page (errors in the `error` box); the same handler is the API endpoint
    `/<api_name>` (errors raised), on a button that is never shown."""
    button.click(_shown_errors(handler, len(outputs)), inputs=inputs, outputs=[*outputs, error],
                 api_visibility="private")
    api = gr.Button(visible=False, elem_id=f"{api_name}-api")
    api.click(_ui(handler), inputs=inputs, outputs=outputs, api_name=api_name)


def _error_box(prefix: str) -> gr.HTML:
    return gr.HTML("", visible=False, elem_id=f"{prefix}-error", elem_classes=["eeg2img-error"])


def source_updates(source: str, kind: str = "eeg", trials: int | None = None) -> tuple[Any, ...]:
    """The `(split, index, upload, pick)` controls for an input source (`kind` `"eeg"` or `"image"`): only those
    that apply are shown, and the index starts at 0 for every source and file. For an uploaded EEG file, `trials`
    is the number of trials it holds: the trial field is shown only for a file of several trials, and the pick
    option only for a recording with channel names (not `.npy` / `.npz`; see [`upload_updates`])."""
    dataset = source == DATASET
    if dataset:
        index = gr.update(visible=True, value=0, label="Dataset row", maximum=None)
    else:
        several = kind == "eeg" and trials is not None and trials > 1
        index = gr.update(visible=several, value=0, maximum=trials - 1 if several else None,
                          label=f"Trial in the file (0 to {trials - 1})" if several else "Trial in the file")
    return (gr.update(visible=dataset), index, gr.update(visible=not dataset), gr.update(visible=False))


def upload_updates(backend: DemoBackend, upload: Any, kind: str = "eeg") -> tuple[Any, ...]:
    """The `(index, pick)` controls after a file is uploaded (or cleared): the trial field back at 0 (shown for a
    file of several trials), the pick option for recordings that name their channels."""
    trials = backend.upload_trials(upload) if kind == "eeg" and upload else None
    _, index, _, _ = source_updates(UPLOAD, kind, trials)
    named = kind == "eeg" and upload and not str(upload).lower().endswith(NUMPY_EXTENSIONS)
    return index, gr.update(visible=bool(named and trials is not None))


def _trial_inputs(backend: DemoBackend, prefix: str, what: str, extensions: tuple[str, ...], kind: str,
                  error: Any, truth: Any = None) -> list[Any]:
    """Source radio, split, index, upload (and pick, for EEG) with stable `elem_id`s (`<prefix>-source`, ...); a
    change of source or file resets the trial field, hides what no longer applies (`truth`, the image shown with
    a dataset trial) and clears the `error` box."""
    choices = ([(f"Dataset {what}", DATASET)] if backend.dataset is not None else []) + [("Uploaded file", UPLOAD)]
    source = gr.Radio(choices, value=choices[0][1], label="Input", elem_id=f"{prefix}-source")
    initial = source_updates(choices[0][1], kind)
    with gr.Row():
        split = gr.Dropdown(backend.splits, value=backend.splits[-1] if backend.splits else None, label="Split",
                            elem_id=f"{prefix}-split", **_props(initial[0]))
        index = gr.Number(precision=0, minimum=0, elem_id=f"{prefix}-index", **_props(initial[1]))
    upload = gr.File(label=f"Upload ({', '.join(extensions)}; at most {_format_size(backend.max_upload_bytes)})",
                     file_types=list(extensions), type="filepath", elem_id=f"{prefix}-upload",
                     **_props(initial[2]))
    pick = gr.Checkbox(False, label=PICK_LABEL, elem_id=f"{prefix}-pick", info="for .fif / .edf / .bdf / .set "
                       "recordings with other channels or another sampling rate", **_props(initial[3]))
    extra = [truth] if truth is not None else []

    def on_source(value: str, file: Any) -> tuple[Any, ...]:
        split_update, index_update, upload_update, pick_update = source_updates(value, kind)
        if value == UPLOAD and file:
            index_update, pick_update = upload_updates(backend, file, kind)
        return (split_update, index_update, upload_update, pick_update,
                *[gr.update(visible=value == DATASET, value=None)] * len(extra), error_update())

    source.change(on_source, inputs=[source, upload], outputs=[split, index, upload, pick, *extra, error],
                  api_visibility="private")
    upload.change(lambda file: (*upload_updates(backend, file, kind), error_update()), inputs=upload,
                  outputs=[index, pick, error], api_visibility="private")
    return [source, split, index, upload, pick]


def _props(update: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in update.items() if k != "__type__"}


def _generation_options(prefix: str) -> list[Any]:
    with gr.Row():
        seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id=f"{prefix}-seed")
        count = gr.Slider(1, MAX_IMAGES, value=2, step=1, label="Number of images", elem_id=f"{prefix}-num-images")
        psi = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Truncation psi", elem_id=f"{prefix}-truncation")
    center = _center_radio(f"{prefix}-truncation-center", psi)
    return [seed, count, psi, center]


def _center_radio(elem_id: str, psi: gr.Slider) -> gr.Radio:
    """The truncation centre, shown only while psi is not 1 (at psi 1 there is no truncation)."""
    center = gr.Radio([(label, value) for value, label in TRUNCATION_CENTERS.items()], value="average",
                      label="Truncation centre", elem_id=elem_id, visible=False,
                      info="the trial's own mean latent keeps its class; the global average drifts towards a "
                           "generic image")
    psi.change(center_update, inputs=psi, outputs=center, api_visibility="private")
    return center


def center_update(psi: Any) -> Any:
    """The truncation-centre control is shown only when psi is a number other than 1."""
    return gr.update(visible=isinstance(psi, (int, float)) and psi != 1.0)


def _gallery(label: str, elem_id: str) -> gr.Gallery:
    return gr.Gallery(label=label, columns=4, object_fit="contain", height="auto", allow_preview=True,
                      elem_id=elem_id, elem_classes=["eeg2img-gallery"])


def legend_html(rows: list[dict[str, str]]) -> str:
    """The simulated dataset's legend: each class's shape (the simulator's own polygons) in its colour."""
    items = "".join(
        f'<li>{class_shape_svg(row["shape"], row["rgb"], key=f"-{k}")}<span><strong>{html.escape(row["class"])}'
        f'</strong>: {row["colour"]} {row["shape"]}</span></li>' for k, row in enumerate(rows))
    return ("<p>The dataset is <strong>simulated</strong>: its images are not photographs of the class names; each "
            "class is drawn as one shape in one colour (varying position, size, rotation and background).</p>"
            f'<ul class="eeg2img-legend">{items}</ul>')


class DemoBlocks(gr.Blocks):
    """`gr.Blocks` whose `launch()` adds the demo's CSS ([`DEMO_CSS`]) to any `css` given (Gradio 6 takes styles
    in `launch()`, not in the constructor)."""

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["css"] = DEMO_CSS + ("\n" + kwargs["css"] if kwargs.get("css") else "")
        return super().launch(*args, **kwargs)


def build_demo(
    gan: Any = None,
    clip: Any = None,
    image_to_eeg: Any = None,
    dataset: Any = None,
    gallery: Any = None,
    judge: Any = None,
    *,
    backend: DemoBackend | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    device: str | None = None,
    origin: str | None = None,
    precision: str = "fp32",
) -> DemoBlocks:
    """Build the demo from loaded objects or paths / repo ids (see [`DemoBackend`] for the arguments).

    The backend is available as `demo.backend`. Events: `/generate`, `/retrieve`, `/reconstruct`, `/batch` (an
    invalid input raises there; on the page its message stays in the tab's error box until the next action).
    Launch with `demo.launch(max_file_size=MAX_UPLOAD_BYTES)` ([`DemoBlocks`] brings the CSS).
    """
    if backend is None:
        backend = DemoBackend(gan, clip, image_to_eeg, dataset, gallery, judge, max_upload_bytes=max_upload_bytes,
                              device=device, origin=origin, precision=precision)
    with DemoBlocks(title="EEG2Img demo") as demo:
        gr.Markdown("# EEG2Img: images from EEG\nEEGStyleGAN-ADA and EEGClip (Singh et al., *Learning Robust Deep "
                    "Visual Representations from EEG and Brain Recordings*, WACV 2024).")
        with gr.Accordion("Loaded models and what they need", open=True, elem_id="requirements-box"):
            gr.Markdown(backend.requirements_markdown(), elem_id="requirements")
        legend = backend.legend()
        if legend:
            with gr.Accordion("Simulated classes: the shape and colour of each", open=True, elem_id="legend-box"):
                gr.HTML(legend_html(legend), elem_id="legend")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("EEG → image", id="generate", elem_id="tab-generate"):
                _generate_tab(backend)
            with gr.Tab("EEG → image retrieval", id="retrieve", elem_id="tab-retrieve"):
                _retrieve_tab(backend)
            with gr.Tab("Image → EEG → image", id="reconstruct", elem_id="tab-reconstruct"):
                _reconstruct_tab(backend)
            with gr.Tab("Batch view", id="batch", elem_id="tab-batch"):
                _batch_tab(backend)
    demo.backend = backend
    return demo


def _unavailable(backend: DemoBackend, tab: str) -> bool:
    if tab in backend.unavailable:
        gr.Markdown(f"**This tab is not available.** {backend.unavailable[tab]} {HUB_HINT}",
                    elem_id=f"{tab}-unavailable")
        return True
    return False


def _requirement(backend: DemoBackend, pipe: Any, prefix: str) -> None:
    text = backend.eeg_requirement(pipe.model.config.encoder_config)
    gr.Markdown(f"**The model needs** {text}.", elem_id=f"{prefix}-requirements")


def _generate_tab(backend: DemoBackend) -> None:
    if _unavailable(backend, "generate"):
        return
    with gr.Row():
        with gr.Column():
            error = _error_box("gen")
            shown = gr.Image(label="Image shown with this trial", type="pil", interactive=False, height=220,
                             elem_id="gen-shown", elem_classes=["eeg2img-pixel"], render=False)
            source, split, index, upload, pick = _trial_inputs(backend, "gen", "trial", EEG_EXTENSIONS, "eeg",
                                                               error, shown)
            _requirement(backend, backend.generation, "gen")
            options = _generation_options("gen")
            button = gr.Button("Generate", variant="primary", elem_id="gen-button")
        with gr.Column():
            plot = gr.Image(label="EEG", type="pil", interactive=False, elem_id="gen-eeg-plot")
            shown.render()
    gallery = _gallery("Generated images (small images enlarged without smoothing; native size in Info)",
                       "gen-gallery")
    info = gr.Textbox(label="Info", interactive=False, lines=2, elem_id="gen-info")
    seed, count, psi, center = options
    _bind(button, backend.generate, [source, split, index, upload, seed, count, psi, pick, center],
          [plot, shown, gallery, info], error, "generate")


def _retrieve_tab(backend: DemoBackend) -> None:
    if _unavailable(backend, "retrieve"):
        return
    with gr.Row():
        with gr.Column():
            error = _error_box("ret")
            truth = gr.Image(label="True image (shown with this trial; its rank is in Info)", type="pil",
                             interactive=False, height=220, elem_id="ret-true-image",
                             elem_classes=["eeg2img-pixel"], render=False)
            source, split, index, upload, pick = _trial_inputs(backend, "ret", "trial", EEG_EXTENSIONS, "eeg",
                                                               error, truth)
            _requirement(backend, backend.retrieval, "ret")
            top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Top-k", elem_id="ret-top-k")
            gr.Markdown(backend.gallery_note(), elem_id="ret-gallery-note")
            button = gr.Button("Retrieve", variant="primary", elem_id="ret-button")
        with gr.Column():
            plot = gr.Image(label="EEG", type="pil", interactive=False, elem_id="ret-eeg-plot")
            truth.render()
    gallery = _gallery("Closest gallery images", "ret-gallery")
    table = gr.Dataframe(headers=["rank", "score", "label", "image_id", "true image"], interactive=False,
                         elem_id="ret-table")
    info = gr.Textbox(label="Info", interactive=False, lines=2, elem_id="ret-info")
    _bind(button, backend.retrieve, [source, split, index, upload, top_k, pick], [plot, truth, gallery, table, info],
          error, "retrieve")


def _reconstruct_tab(backend: DemoBackend) -> None:
    if _unavailable(backend, "reconstruct"):
        return
    with gr.Row():
        with gr.Column():
            error = _error_box("rec")
            source, split, index, upload, _ = _trial_inputs(backend, "rec", "image", IMAGE_EXTENSIONS, "image",
                                                            error)
            options = _generation_options("rec")
            button = gr.Button("Reconstruct", variant="primary", elem_id="rec-button")
        with gr.Column():
            source_image = gr.Image(label="Input image", type="pil", interactive=False, height=220,
                                    elem_id="rec-input-image", elem_classes=["eeg2img-pixel"])
            decoded = gr.Dataframe(headers=["class (nearest prototypes)", "cosine", "true class"], interactive=False,
                                   label="What the predicted EEG embedding decodes to (class prototypes: mean "
                                         "encoder embedding of each class's training trials)",
                                   elem_id="rec-decoded")
    gallery = _gallery("Reconstructions", "rec-gallery")
    info = gr.Textbox(label="Info", interactive=False, lines=2, elem_id="rec-info")
    _bind(button, backend.reconstruct, [source, split, index, upload, *options],
          [source_image, gallery, decoded, info], error, "reconstruct")


def _batch_tab(backend: DemoBackend) -> None:
    if _unavailable(backend, "batch"):
        return
    names = backend.class_names or []
    gr.Markdown("Generated images for several trials of each class (rows, labelled on the left; columns are trials), "
                "next to the stimuli shown with the same trials, the same trial in the same place of both grids: how "
                "an EEG → image model is judged at a glance. On a narrow screen the two grids stack.")
    error = _error_box("batch")
    with gr.Row():
        split = gr.Dropdown(backend.splits, value=backend.splits[-1], label="Split", elem_id="batch-split")
        per_class = gr.Slider(1, MAX_TRIALS_PER_CLASS, value=4, step=1, label="Trials per class",
                              elem_id="batch-trials")
        seed = gr.Number(0, precision=0, minimum=0, label="Seed (trials and latents)", elem_id="batch-seed")
        psi = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Truncation psi", elem_id="batch-truncation")
    center = _center_radio("batch-truncation-center", psi)
    classes = gr.CheckboxGroup(names, value=names[:10], label="Classes", elem_id="batch-classes")
    button = gr.Button("Generate the grid", variant="primary", elem_id="batch-button")
    with gr.Row(equal_height=False):
        generated = gr.Image(label="Generated", type="pil", interactive=False, min_width=GRID_MIN_WIDTH,
                             elem_id="batch-generated", elem_classes=["eeg2img-pixel", "eeg2img-grid"])
        stimuli = gr.Image(label="Stimuli", type="pil", interactive=False, min_width=GRID_MIN_WIDTH,
                           elem_id="batch-stimuli", elem_classes=["eeg2img-pixel", "eeg2img-grid"])
    info = gr.Textbox(label="Info", interactive=False, lines=2, elem_id="batch-info")
    _bind(button, backend.batch, [split, classes, per_class, seed, psi, center], [generated, stimuli, info], error,
          "batch")


# ------------------------------------------------------------------------------------------------ configuration


def discover_sources(
    environ: dict[str, str] | None = None, search: list[str | os.PathLike] | None = None
) -> tuple[dict[str, str | None], str | None]:
    """The demo's sources and a note on where they came from.

    With any `EEG2IMG_*` model or dataset variable set, the variables are the configuration. Otherwise the finished
    outputs of a quickstart run are used: `EEG2IMG_QUICKSTART`, else `outputs/quickstart` in the working directory
    or the repository (`search` overrides these folders); their paths are absolute, resolved when found.
    """
    environ = os.environ if environ is None else environ
    sources = {name: environ.get(var) or None for name, var in ENV_VARS.items()}
    if any(sources.values()):
        return sources, None
    if SPACE_CONFIG.is_file():  # a Space folder made by `eeg2img build-space`: its models by repo id
        sources.update({name: value for name, value in json.loads(SPACE_CONFIG.read_text()).items() if name in sources})
        return sources, None
    if environ.get(QUICKSTART_VAR):
        search = [environ[QUICKSTART_VAR]]
    elif search is None:
        search = [Path.cwd() / QUICKSTART_OUTPUT_DIR, Path(__file__).resolve().parents[2] / QUICKSTART_OUTPUT_DIR]
    for folder in search:
        folder = Path(folder).resolve()  # the models load later: a relative folder must not follow the working dir
        found = find_quickstart_outputs(folder)
        if {"gan", "dataset"} <= set(found):
            sources.update({name: found.get(name) for name in ("gan", "clip", "image_to_eeg", "dataset", "judge")})
            unset = ", ".join(ENV_VARS.values())
            note = (f"Using the quickstart's models and simulated dataset found in `{public_source(str(folder))}` "
                    f"(no {unset} set). {HUB_HINT}")
            return sources, note
    return sources, None


def build_demo_from_env(
    environ: dict[str, str] | None = None, search: list[str | os.PathLike] | None = None, **kwargs: Any
) -> DemoBlocks:
    """[`build_demo`] with every source read from the `EEG2IMG_*` environment variables ([`ENV_VARS`]), or from a
    quickstart output folder when none is set ([`discover_sources`]), and the generator's precision from
    `EEG2IMG_PRECISION` ([`PRECISION_VAR`], default `fp32`); `kwargs` go to [`build_demo`]."""
    sources, origin = discover_sources(environ, search)
    precision = (os.environ if environ is None else environ).get(PRECISION_VAR) or "fp32"
    return build_demo(**sources, origin=origin, **{"precision": precision, **kwargs})


if __name__ == "__main__":
    build_demo_from_env().launch(max_file_size=MAX_UPLOAD_BYTES)
