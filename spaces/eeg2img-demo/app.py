"""Gradio Space of eeg2img_hf: EEG -> image (EEGStyleGAN-ADA), EEG -> image retrieval (EEGClip) and
image -> EEG -> image (ImageToEEG + EEGStyleGAN-ADA), after Singh et al., WACV 2024.

Models and data come from environment variables (a Hub repo id or a local path each; unset = that tab is off):

- `EEG2IMG_GAN`: an `EEGStyleGANModel` (EEG -> image, and the generator of image -> EEG -> image);
- `EEG2IMG_CLIP`: an `EEGClipModel` (retrieval);
- `EEG2IMG_IMAGE_TO_EEG`: an `ImageToEEGModel` (image -> EEG -> image);
- `EEG2IMG_DATASET`: anything `eeg2img_hf.data.load_eeg_dataset` takes (a simulation preset such as
  `"thoughtviz"`, a `save_to_disk` folder, `"hf://datasets/org/name"`): trials and images to pick from;
- `EEG2IMG_GALLERY`: the retrieval gallery, a saved `GalleryIndex` (`*.safetensors`) or a folder of images
  (default: the images of the dataset split of the trial).

Run locally with `python app.py` (serves on 127.0.0.1:7860 unless `GRADIO_SERVER_NAME` / `GRADIO_SERVER_PORT`
say otherwise). Tests build the app with [`build_demo`] from already-loaded tiny models.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import html  # noqa: E402
import math  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from eeg2img_hf.data.eeg_io import read_eeg_file as read_eeg_recording  # noqa: E402
from eeg2img_hf.data.eeg_io import validate_eeg  # noqa: E402

__all__ = [
    "DemoBackend",
    "ENV_VARS",
    "MAX_UPLOAD_BYTES",
    "Trial",
    "build_demo",
    "build_demo_from_env",
    "plot_eeg",
    "read_eeg_file",
    "read_image_file",
]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""Largest accepted upload (EEG file or image), in bytes."""
MAX_ARRAY_BYTES = 4 * MAX_UPLOAD_BYTES  # data size a numpy header may claim, per array and per `.npz` (zip bombs)
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_IMAGES = 8
MAX_TOP_K = 20
DISPLAY_SIZE = 128  # small generated images are upscaled (nearest neighbour, integer factor) for display
EEG_EXTENSIONS = (".npy", ".npz", ".fif", ".edf", ".bdf", ".set")  # BrainVision needs 3 files: not an upload
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
ENV_VARS = {
    "gan": "EEG2IMG_GAN",
    "clip": "EEG2IMG_CLIP",
    "image_to_eeg": "EEG2IMG_IMAGE_TO_EEG",
    "dataset": "EEG2IMG_DATASET",
    "gallery": "EEG2IMG_GALLERY",
}
DATASET, UPLOAD = "dataset", "upload"


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
                         f"expected one of {', '.join(extensions)}.")  # fmt: skip
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"The uploaded {what} {path.name!r} is {_format_size(size)}; the limit is "
                         f"{_format_size(max_bytes)}.")  # fmt: skip
    return path


def _read_upload(
    path: str | os.PathLike | None, n_chans: int, n_times: int, trial_index: int, max_bytes: int, sfreq: float | None
) -> tuple[np.ndarray, Any]:
    """The checked `(n_chans, n_times)` trial of an upload and the recording it comes from (the package's reader)."""
    path = _check_upload(path, EEG_EXTENSIONS, max_bytes, "EEG file")
    recording = read_eeg_recording(path, max_bytes=max_bytes, max_array_bytes=MAX_ARRAY_BYTES)
    eeg = validate_eeg(recording, n_chans=n_chans, n_times=n_times, sfreq=sfreq, trial_index=trial_index)
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
                                 f"{MAX_IMAGE_PIXELS} pixels.")  # fmt: skip
            return image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"{path.name!r} is not a readable image ({err}).") from err


# ------------------------------------------------------------------------------------------------ display


def plot_eeg(
    eeg: np.ndarray, sfreq: float | None = None, ch_names: list[str] | None = None, title: str = ""
) -> Image.Image:
    """Stacked-trace plot of one `(n_chans, n_times)` trial as a PIL image (at most 32 channels drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_chans, n_times = eeg.shape
    shown = np.unique(np.linspace(0, n_chans - 1, min(n_chans, 32)).round().astype(int))
    times = np.arange(n_times) / sfreq * 1000 if sfreq else np.arange(n_times)
    data = eeg[shown] - eeg[shown].mean(axis=1, keepdims=True)
    step = float(np.abs(data).max()) * 1.2 or 1.0
    figure = Figure(figsize=(6, 0.18 * len(shown) + 1.2), dpi=100)
    axes = figure.add_subplot()
    for row, channel in enumerate(shown):
        axes.plot(times, data[row] - row * step, linewidth=0.8)
    axes.set_yticks([-row * step for row in range(len(shown))])
    axes.set_yticklabels([ch_names[c] if ch_names and c < len(ch_names) else str(c) for c in shown], fontsize=6)
    axes.set_xlabel("time (ms)" if sfreq else "sample")
    axes.set_xlim(times[0], times[-1])
    note = f" ({len(shown)} of {n_chans} channels)" if len(shown) < n_chans else ""
    axes.set_title((title + note).strip(), fontsize=9)
    figure.tight_layout()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def _display(image: Image.Image) -> Image.Image:
    """Upscale small images by an integer factor (nearest neighbour) so they are visible in the UI."""
    factor = max(1, DISPLAY_SIZE // max(image.size))
    return image if factor == 1 else image.resize((image.width * factor, image.height * factor), Image.NEAREST)


def _placeholder(text: str) -> Image.Image:
    from PIL import ImageDraw

    image = Image.new("RGB", (DISPLAY_SIZE, DISPLAY_SIZE), (200, 200, 200))
    ImageDraw.Draw(image).text((6, DISPLAY_SIZE // 2 - 6), text[:20], fill=(0, 0, 0))
    return image


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


def _load_model(source: Any, kind: str) -> Any:
    """A model object as is, or `AutoModel.from_pretrained(source)` for a repo id / local folder."""
    if source is None or source == "":
        return None
    if hasattr(source, "config"):
        return source.eval()
    import eeg2img_hf.models  # noqa: F401  (registers the model classes with AutoModel)
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(str(source)).eval()
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not load the {kind} model from {str(source)!r}: {err}") from err


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
        max_upload_bytes (`int`, *optional*, defaults to `MAX_UPLOAD_BYTES`): largest accepted upload.
        device (`str`, *optional*): torch device of the pipelines (default: `"cuda"` when available, else CPU).
    """

    def __init__(
        self,
        gan: Any = None,
        clip: Any = None,
        image_to_eeg: Any = None,
        dataset: Any = None,
        gallery: Any = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        device: str | None = None,
    ) -> None:
        import torch
        from transformers import pipeline

        import eeg2img_hf.pipelines  # noqa: F401  (registers the tasks)

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.max_upload_bytes = max_upload_bytes
        self.unavailable: dict[str, str] = {}
        self.dataset = self._load_dataset(dataset)
        self.splits = list(self.dataset) if self.dataset is not None else []
        gan, clip, image_to_eeg = (_load_model(gan, "EEGStyleGAN-ADA"), _load_model(clip, "EEGClip"),
                                   _load_model(image_to_eeg, "image-to-EEG"))  # fmt: skip
        self.generation = pipeline("eeg-to-image", model=gan, device=device) if gan is not None else None
        self.retrieval = pipeline("eeg-image-retrieval", model=clip, device=device) if clip is not None else None
        self.reconstruction = None
        if image_to_eeg is not None:
            try:
                self.reconstruction = pipeline("image-to-eeg-to-image", model=image_to_eeg, generator=gan,
                                               device=device)  # fmt: skip
            except (ValueError, OSError) as err:
                self.unavailable["reconstruct"] = f"The image-to-EEG model cannot be used: {err}"
        self._galleries: dict[str, Any] = {}
        self._gallery_source = gallery
        if gan is None:
            self.unavailable["generate"] = (f"No EEGStyleGAN-ADA model is configured: set {ENV_VARS['gan']} to a model "
                                            "folder or Hub repo id.")  # fmt: skip
        if clip is None:
            self.unavailable["retrieve"] = (f"No EEGClip model is configured: set {ENV_VARS['clip']} to a model folder "
                                            "or Hub repo id.")  # fmt: skip
        elif gallery is None and self.dataset is None:
            self.unavailable["retrieve"] = (f"No retrieval gallery: set {ENV_VARS['gallery']} (a saved gallery "
                                            f"index or a folder of images) or {ENV_VARS['dataset']}.")  # fmt: skip
        if image_to_eeg is None:
            self.unavailable["reconstruct"] = (f"No image-to-EEG model is configured: set "
                                               f"{ENV_VARS['image_to_eeg']} (and {ENV_VARS['gan']}).")  # fmt: skip
        if gallery is not None and clip is not None:
            self._galleries[""] = self._load_gallery(gallery)

    # -------------------------------------------------------------------------------------- data access

    @staticmethod
    def _load_dataset(source: Any) -> Any:
        if source is None or source == "":
            return None
        from datasets import DatasetDict

        from eeg2img_hf.data import load_eeg_dataset

        if isinstance(source, DatasetDict):
            return source
        return load_eeg_dataset(source)

    def _load_gallery(self, source: Any) -> Any:
        """The configured gallery as a checked `GalleryIndex`, with pixels attached from the dataset if needed."""
        from eeg2img_hf.retrieval import GalleryIndex, build_gallery

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

    def gallery_for(self, split: str | None) -> Any:
        """The retrieval gallery: the configured one, else the images of dataset split `split` (built once)."""
        if "" in self._galleries:
            return self._galleries[""]
        if self.dataset is None:
            raise ValueError(f"No retrieval gallery: set {ENV_VARS['gallery']} or {ENV_VARS['dataset']}.")
        split = split if split in self.splits else self.splits[0]
        if split not in self._galleries:
            from eeg2img_hf.retrieval import build_gallery

            self._galleries[split] = build_gallery(self.retrieval.model, self.dataset[split],
                                                   image_processor=self.retrieval.image_processor)  # fmt: skip
        return self._galleries[split]

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

    def read_trial(self, source: str, split: Any, index: Any, upload: Any, encoder_config: Any) -> Trial:
        """The EEG trial picked in the UI: dataset row `split[index]`, or trial `index` of the uploaded file."""
        n_chans, n_times = encoder_config.n_chans, encoder_config.n_times
        if source == UPLOAD:
            eeg, recording = _read_upload(upload, n_chans, n_times, _as_int(index, "Trial index", 0),
                                          self.max_upload_bytes, getattr(encoder_config, "sfreq", None))  # fmt: skip
            return Trial(eeg, recording.sfreq, f"uploaded file {Path(upload).name!r}, trial {int(index)}",
                         ch_names=recording.ch_names)  # fmt: skip
        if source != DATASET:
            raise ValueError(f"Unknown EEG source {source!r}; expected {DATASET!r} or {UPLOAD!r}.")
        row, label = self._row(split, index)
        eeg = np.asarray(row["eeg"], dtype=np.float32)
        if eeg.shape != (n_chans, n_times):
            raise ValueError(f"The dataset's trials have shape {eeg.shape} but the model expects (n_chans, n_times) "
                             f"= ({n_chans}, {n_times}); configure a matching model or dataset.")  # fmt: skip
        from eeg2img_hf.data import get_eeg_info

        info = get_eeg_info(self.dataset)
        return Trial(eeg, info.get("sfreq"), f"{split}[{row['_index']}], subject {row.get('subject')}", label,
                     row.get("image_id"), row.get("image"), info.get("ch_names"))  # fmt: skip

    # -------------------------------------------------------------------------------------- handlers

    def _require(self, tab: str, pipe: Any) -> Any:
        if pipe is None:
            raise ValueError(self.unavailable.get(tab, "This tab is not configured."))
        return pipe

    def generate(
        self, source: str, split: Any, index: Any, upload: Any, seed: Any, num_images: Any, truncation: Any
    ) -> tuple[Image.Image, Image.Image | None, list[tuple[Image.Image, str]], str]:
        """EEG -> image. Returns `(eeg_plot, shown_image, [(image, caption), ...], info)`."""
        pipe = self._require("generate", self.generation)
        trial = self.read_trial(source, split, index, upload, pipe.model.config.encoder_config)
        seed = _as_int(seed, "Seed", 0, 2**31 - 1)
        count = _as_int(num_images, "Number of images", 1, MAX_IMAGES)
        psi = _finite(truncation, "Truncation")
        sfreq = trial.sfreq if source == UPLOAD else None  # dataset trials are in the model's space already
        images = pipe(trial.eeg, seed=seed, num_images_per_eeg=count, truncation_psi=psi, sfreq=sfreq)
        images = images if isinstance(images, list) else [images]
        truth = f"true class: {trial.label}" if trial.label is not None else "true class: unknown"
        gallery = [(_display(image), f"seed {seed} #{k + 1} ({truth})") for k, image in enumerate(images)]
        info = f"{len(images)} image(s) from {trial.description}; {truth}; seed {seed}, truncation psi {psi:g}."
        shown = _display(trial.image.convert("RGB")) if trial.image is not None else None
        return plot_eeg(trial.eeg, trial.sfreq, trial.ch_names, trial.description), shown, gallery, info

    def retrieve(
        self, source: str, split: Any, index: Any, upload: Any, top_k: Any
    ) -> tuple[Image.Image, list[tuple[Image.Image, str]], list[list[Any]], str]:
        """EEG -> image retrieval. Returns `(eeg_plot, [(image, caption), ...], table_rows, info)`."""
        pipe = self._require("retrieve", self.retrieval)
        trial = self.read_trial(source, split, index, upload, pipe.model.config.encoder_config)
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
        if trial.image_id is None:
            truth = "true image unknown (uploaded EEG)"
        elif true_rank is None:
            truth = f"true image {trial.image_id!r} is not in the gallery"
        else:
            truth = f"true image {trial.image_id!r} ({trial.label}) is ranked {true_rank} of {len(ranking)}"
        info = f"Top-{k} of {len(gallery)} gallery images for {trial.description}; {truth}."
        return plot_eeg(trial.eeg, trial.sfreq, trial.ch_names, trial.description), items, rows, info

    def reconstruct(
        self, source: str, split: Any, index: Any, upload: Any, seed: Any, num_images: Any, truncation: Any
    ) -> tuple[Image.Image, list[tuple[Image.Image, str]], str]:
        """Image -> EEG -> image. Returns `(input_image, [(reconstruction, caption), ...], info)`."""
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
        psi = _finite(truncation, "Truncation")
        result = pipe(image, seed=seed, num_images_per_image=count, truncation_psi=psi)
        images = result["images"] if isinstance(result["images"], list) else [result["images"]]
        gallery = [(_display(im), f"reconstruction #{k + 1}, seed {seed}") for k, im in enumerate(images)]
        truth = f"true class: {label}" if label is not None else "true class: unknown"
        embeds = result["eeg_embeds"]
        info = (f"{len(images)} reconstruction(s) of {where}; {truth}; predicted EEG embedding: {embeds.shape[0]}-D, "
                f"norm {float(np.linalg.norm(embeds)):.3f}; seed {seed}, truncation psi {psi:g}.")  # fmt: skip
        return _display(image), gallery, info


def _finite(value: Any, name: str) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


# ------------------------------------------------------------------------------------------------ UI


def _ui(handler: Any) -> Any:
    """Wraps a backend handler so `ValueError`s reach the browser / client as a readable `gr.Error`."""

    def wrapped(*args: Any) -> Any:
        try:
            return handler(*args)
        except ValueError as err:
            raise gr.Error(html.escape(str(err), quote=False), print_exception=False) from err  # gr.Error renders HTML

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _trial_inputs(backend: DemoBackend, prefix: str, what: str, extensions: tuple[str, ...]) -> list[Any]:
    """Source radio, split, index and upload components with stable `elem_id`s (`<prefix>-source`, ...)."""
    choices = ([(f"Dataset {what}", DATASET)] if backend.dataset is not None else []) + [("Uploaded file", UPLOAD)]
    source = gr.Radio(choices, value=choices[0][1], label="Input", elem_id=f"{prefix}-source")
    with gr.Row():
        split = gr.Dropdown(backend.splits, value=backend.splits[-1] if backend.splits else None, label="Split",
                            visible=bool(backend.splits), elem_id=f"{prefix}-split")  # fmt: skip
        index = gr.Number(0, precision=0, minimum=0, label="Index (dataset row, or trial in a multi-trial file)",
                          elem_id=f"{prefix}-index")  # fmt: skip
    upload = gr.File(label=f"Upload ({', '.join(extensions)}; at most {_format_size(backend.max_upload_bytes)})",
                     file_types=list(extensions), type="filepath", elem_id=f"{prefix}-upload")  # fmt: skip
    return [source, split, index, upload]


def _generation_options(prefix: str) -> list[Any]:
    with gr.Row():
        seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id=f"{prefix}-seed")
        count = gr.Slider(1, MAX_IMAGES, value=2, step=1, label="Number of images", elem_id=f"{prefix}-num-images")
        psi = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Truncation psi", elem_id=f"{prefix}-truncation")
    return [seed, count, psi]


def build_demo(
    gan: Any = None,
    clip: Any = None,
    image_to_eeg: Any = None,
    dataset: Any = None,
    gallery: Any = None,
    *,
    backend: DemoBackend | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    device: str | None = None,
) -> gr.Blocks:
    """Build the three-tab demo from loaded objects or paths / repo ids (see [`DemoBackend`] for the arguments).

    The backend is available as `demo.backend`. Events: `/generate`, `/retrieve`, `/reconstruct`.
    Launch with `demo.launch(max_file_size=MAX_UPLOAD_BYTES)`; theme and css go to `launch()` in Gradio 6.
    """
    if backend is None:
        backend = DemoBackend(gan, clip, image_to_eeg, dataset, gallery, max_upload_bytes=max_upload_bytes,
                              device=device)  # fmt: skip
    with gr.Blocks(title="EEG2Img demo") as demo:
        gr.Markdown("# EEG2Img: images from EEG\nEEGStyleGAN-ADA and EEGClip (Singh et al., *Learning Robust Deep "
                    "Visual Representations from EEG and Brain Recordings*, WACV 2024).")  # fmt: skip
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("EEG → image", id="generate", elem_id="tab-generate"):
                _generate_tab(backend)
            with gr.Tab("EEG → image retrieval", id="retrieve", elem_id="tab-retrieve"):
                _retrieve_tab(backend)
            with gr.Tab("Image → EEG → image", id="reconstruct", elem_id="tab-reconstruct"):
                _reconstruct_tab(backend)
    demo.backend = backend
    return demo


def _unavailable(backend: DemoBackend, tab: str) -> bool:
    if tab in backend.unavailable:
        gr.Markdown(f"**This tab is not available.** {backend.unavailable[tab]}", elem_id=f"{tab}-unavailable")
        return True
    return False


def _generate_tab(backend: DemoBackend) -> None:
    if _unavailable(backend, "generate"):
        return
    with gr.Row():
        with gr.Column():
            inputs = _trial_inputs(backend, "gen", "trial", EEG_EXTENSIONS) + _generation_options("gen")
            button = gr.Button("Generate", variant="primary", elem_id="gen-button")
        with gr.Column():
            plot = gr.Image(label="EEG", type="pil", interactive=False, elem_id="gen-eeg-plot")
            shown = gr.Image(label="Image shown with this trial", type="pil", interactive=False, elem_id="gen-shown")
    gallery = gr.Gallery(label="Generated images", columns=4, elem_id="gen-gallery")
    info = gr.Textbox(label="Info", interactive=False, elem_id="gen-info")
    button.click(_ui(backend.generate), inputs=inputs, outputs=[plot, shown, gallery, info], api_name="generate")


def _retrieve_tab(backend: DemoBackend) -> None:
    if _unavailable(backend, "retrieve"):
        return
    with gr.Row():
        with gr.Column():
            inputs = _trial_inputs(backend, "ret", "trial", EEG_EXTENSIONS)
            top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Top-k", elem_id="ret-top-k")
            button = gr.Button("Retrieve", variant="primary", elem_id="ret-button")
        plot = gr.Image(label="EEG", type="pil", interactive=False, elem_id="ret-eeg-plot")
    gallery = gr.Gallery(label="Closest gallery images", columns=5, elem_id="ret-gallery")
    table = gr.Dataframe(headers=["rank", "score", "label", "image_id", "true image"], interactive=False,
                         elem_id="ret-table")  # fmt: skip
    info = gr.Textbox(label="Info", interactive=False, elem_id="ret-info")
    button.click(_ui(backend.retrieve), inputs=inputs + [top_k], outputs=[plot, gallery, table, info],
                 api_name="retrieve")  # fmt: skip


def _reconstruct_tab(backend: DemoBackend) -> None:
    if _unavailable(backend, "reconstruct"):
        return
    with gr.Row():
        with gr.Column():
            inputs = _trial_inputs(backend, "rec", "image", IMAGE_EXTENSIONS) + _generation_options("rec")
            button = gr.Button("Reconstruct", variant="primary", elem_id="rec-button")
        source_image = gr.Image(label="Input image", type="pil", interactive=False, elem_id="rec-input-image")
    gallery = gr.Gallery(label="Reconstructions", columns=4, elem_id="rec-gallery")
    info = gr.Textbox(label="Info", interactive=False, elem_id="rec-info")
    button.click(_ui(backend.reconstruct), inputs=inputs, outputs=[source_image, gallery, info],
                 api_name="reconstruct")  # fmt: skip


def build_demo_from_env(environ: dict[str, str] | None = None) -> gr.Blocks:
    """[`build_demo`] with every source read from the `EEG2IMG_*` environment variables ([`ENV_VARS`])."""
    environ = os.environ if environ is None else environ
    return build_demo(**{name: environ.get(var) or None for name, var in ENV_VARS.items()})


if __name__ == "__main__":
    build_demo_from_env().launch(max_file_size=MAX_UPLOAD_BYTES)
