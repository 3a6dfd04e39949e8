"""Image grids from an EEGStyleGAN-ADA model, one per seed (rows = classes, columns = trials): `eeg2img generate`.

Follows the authors' generation protocol (one row per class, columns = different test trials of that class,
truncation psi 1, constant noise) but derives both the trial choice and the latents from the seed, so the same
arguments write byte-identical PNGs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import pipeline

from ..data import load_eeg_dataset
from ..data.eeg_io import read_eeg_file, validate_eeg
from ..models import EEGStyleGANModel
from ..pipelines import EEGToImagePipeline
from ..pipelines.eeg_to_image import check_generation_options
from ..pipelines.grids import class_grid
from ..pipelines.grids import select_trials as _select_trials
from ..pipelines.precision import check_precision
from ..utils.checks import MAX_SEED, check_seed
from ..utils.images import make_grid
from ..utils.model_folders import check_model_folder, load_model_folder
from ..utils.outputs import output_dir_while_working, prepare_output_dir

__all__ = ["MAX_SEEDS", "generate_grids", "load_eeg_file", "parse_seeds", "select_trials"]

MAX_SEEDS = 10_000
"""Most seeds (grids) one `generate` run accepts; each seed is one integer in [0, 2**32 - 1]."""


def parse_seeds(text: str) -> list[int]:
    """`"0,1,5-7"` -> `[0, 1, 5, 6, 7]` (ranges inclusive, as in the authors' `--seeds 0-10`).

    Seeds are integers in `[0, 2**32 - 1]` (`MAX_SEED`); a range must not be reversed, and at most `MAX_SEEDS`
    seeds are accepted (checked before any range is expanded)."""

    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "-" in part[1:]:
                low, high = (int(v) for v in part.split("-", 1))
            elif part:
                low = high = int(part)
            else:
                continue
        except ValueError:
            raise ValueError(f"--seeds expects comma-separated integers or ranges like 0-10, got {text!r}") from None
        if not 0 <= low <= MAX_SEED or not 0 <= high <= MAX_SEED:
            raise ValueError(f"--seeds expects integers in [0, {MAX_SEED}] (2**32 - 1), got {part!r} in {text!r}")
        if high < low:
            raise ValueError(f"--seeds range {part!r} is reversed (write LOW-HIGH with LOW <= HIGH)")
        if len(seeds) + high - low + 1 > MAX_SEEDS:
            raise ValueError(f"--seeds {text!r} asks for more than {MAX_SEEDS} seeds (MAX_SEEDS, one grid each)")
        seeds.extend(range(low, high + 1))
    if not seeds:
        raise ValueError(f"--seeds expects non-negative integers, got {text!r}")
    return list(dict.fromkeys(seeds))


def load_eeg_file(path: str | Path) -> Any:
    """The float32 EEG array of any file [`~eeg2img_hf.data.eeg_io.read_eeg_file`] reads (`.npy` / `.npz` never
    unpickled, MNE formats); unreadable, pickled or corrupt files are refused with a `ValueError`."""

    return read_eeg_file(path).data


def _resolve_classes(names: list[str], classes: str | None) -> list[int]:
    """`None` -> all classes; `"N"` -> the first N; `"a,b"` -> those names (in the given order)."""
    if classes is None:
        return list(range(len(names)))
    if classes.strip().isdigit():
        count = int(classes)
        if not 1 <= count <= len(names):
            raise ValueError(f"--classes must be between 1 and {len(names)} (the dataset's classes), got {count}")
        return list(range(count))
    wanted = [c.strip() for c in classes.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; the dataset has {names}")
    return [names.index(c) for c in wanted]


def select_trials(labels: Any, class_ids: list[int], trials_per_class: int, seed: int) -> list[list[int]]:
    """Row indices per class, as [`eeg2img_hf.pipelines.grids.select_trials`] chooses them for a grid."""

    return _select_trials(labels, class_ids, trials_per_class, seed)


def _default_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _build_pipeline(model: str, device: str | None) -> Any:
    device = _default_device(device)
    torch.backends.cudnn.deterministic = True  # same arguments -> same bytes (CLI process only)
    torch.backends.cudnn.benchmark = False

    # A local folder is checked and loaded strictly (config type, safetensors, every tensor); a Hub id goes through.
    loaded = load_model_folder(EEGStyleGANModel, model)
    # `pipeline_class` keeps the installed class for folders written by `pipe.save_pretrained` too: their
    # `custom_pipelines` entry would otherwise demand `trust_remote_code=True`.
    return pipeline("eeg-to-image", model=loaded, device=device, pipeline_class=EEGToImagePipeline)


def _save_png(array: Any, path: Path) -> str:
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path, format="PNG")
    return str(path)


def generate_grids(
    model: str,
    output_dir: str | Path,
    dataset: str | None = None,
    eeg_file: str | Path | None = None,
    split: str = "test",
    classes: str | None = None,
    trials_per_class: int = 8,
    num_images: int = 4,
    seeds: list[int] | None = None,
    truncation_psi: float = 1.0,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | None = None,
    max_memory_bytes: int | None = None,
    pick_and_resample: bool = False,
    ch_names: list[str] | None = None,
    truncation_center: str = "average",
    allow_unfinished: bool = False,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Writes `seedNNNN.png` (generated) and `seedNNNN_real.png` (paired stimuli) per seed for a dataset split, or
    `eeg_seedNNNN.png` (rows = trials, columns = `num_images` latents) for an EEG file; returns a summary.

    The EEG file is read by [`~eeg2img_hf.data.eeg_io.read_eeg_file`] and checked against the model's encoder by
    `validate_eeg` (channels, samples, sampling rate); `pick_and_resample` picks the model's channels `ch_names`
    by name and resamples to the model's rate first.

    Options are checked before anything is written: counts are positive integers, seeds integers in
    `[0, 2**32 - 1]` (at most `MAX_SEEDS`), `truncation_psi` a finite number in [-1, 2] (towards `w_avg`, or towards
    each trial's own mean `w` with `truncation_center="condition"`). Each grid's estimated
    memory is checked against `max_memory_bytes` (default: the pipeline's `MAX_MEMORY_BYTES`, 4 GiB) before it
    is generated. `precision="bf16"` generates under bfloat16 autocast, refused where the device has no
    bfloat16 units (`eeg2img_hf.pipelines.precision`). The model folder of a training run that has not finished
    (no training record) is refused unless `allow_unfinished`; a refused command leaves no output folder behind."""

    if (dataset is None) == (eeg_file is None):
        raise ValueError("pass exactly one of --dataset or --eeg")
    for name, value in (("--trials-per-class", trials_per_class), ("--num-images", num_images),
                        ("--batch-size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    seeds = [0] if seeds is None else seeds
    if not seeds or len(seeds) > MAX_SEEDS:
        raise ValueError(f"--seeds must give 1 to {MAX_SEEDS} seeds (MAX_SEEDS), got {len(seeds)}")
    for seed in seeds:
        check_seed(seed, "--seeds")
    try:
        check_generation_options(truncation_psi=truncation_psi, noise_mode=noise_mode,
                                 max_memory_bytes=max_memory_bytes, truncation_center=truncation_center)
    except ValueError as err:  # name the command-line options
        raise ValueError(str(err).replace("`truncation_psi`", "--truncation-psi").replace(
            "`truncation_center`", "--truncation-center").replace(
            "`noise_mode`", "--noise-mode").replace("`max_memory_bytes`", "--max-memory-gib")) from None
    check_precision(precision, _default_device(device), name="--precision")
    recording = None
    if eeg_file is not None:  # a bad file is reported before anything is written

        recording = read_eeg_file(eeg_file)
    out = Path(output_dir)

    # Before any work: the output must not overlap an input nor hold files this package did not write.
    prepare_output_dir(out, command="generate", kind="images", reuse=True, what="--output-dir",
                       inputs={"model": model, "--dataset": dataset, "--eeg": eeg_file})
    check_model_folder(model, "eeg2img_stylegan", allow_unfinished=allow_unfinished)
    options = {"truncation_psi": truncation_psi, "noise_mode": noise_mode, "batch_size": batch_size,
               "output_type": "np", "precision": precision}
    if truncation_center != "average":
        options["truncation_center"] = truncation_center
    if max_memory_bytes is not None:
        options["max_memory_bytes"] = max_memory_bytes
    with output_dir_while_working(out, command="generate", kind="images"):
        return _write_grids(model, recording, eeg_file, dataset, split, classes, trials_per_class, num_images, seeds,
                            out, device, options, ch_names, pick_and_resample)


def _write_grids(model: str, recording: Any, eeg_file: Any, dataset: str | None, split: str, classes: str | None,
                 trials_per_class: int, num_images: int, seeds: list[int], out: Path, device: str | None,
                 options: dict[str, Any], ch_names: list[str] | None, pick_and_resample: bool) -> dict[str, Any]:
    if recording is not None:
        pipe = _build_pipeline(model, device)
        encoder = pipe.model.config.encoder_config
        if encoder is None:
            raise ValueError(f"model {str(model)!r} has no EEG encoder (encoder_config is None): --eeg needs one")
        eeg = validate_eeg(recording, n_chans=encoder.n_chans, n_times=encoder.n_times,
                           sfreq=getattr(encoder, "sfreq", None), ch_names=ch_names,
                           pick_and_resample=pick_and_resample)
        files = [_eeg_grid(pipe, eeg, seed, num_images, out, options) for seed in seeds]
        return {"model": str(model), "eeg": str(eeg_file), "seeds": seeds, "files": files}
    return _dataset_grids(model, dataset, split, classes, trials_per_class, seeds, out, device, options)


def _eeg_grid(pipe: Any, eeg: Any, seed: int, num_images: int, out: Path, options: dict[str, Any]) -> str:
    result = pipe(eeg, seed=seed, num_images_per_eeg=num_images, **options)
    rows = [result] if eeg.ndim == 2 else result  # one dict for one trial, a list for a batch
    images = np.stack([img for row in rows for img in row["images"]])
    return _save_png(make_grid(images, rows=len(rows)), out / f"eeg_seed{seed:04d}.png")


def _dataset_grids(
    model: str, dataset: str, split: str, classes: str | None, trials_per_class: int, seeds: list[int],
    out: Path, device: str | None, options: dict[str, Any],
) -> dict[str, Any]:

    splits = load_eeg_dataset(dataset)
    if split not in splits:
        raise ValueError(f"split {split!r} not in the dataset; available: {sorted(splits)}")
    data = splits[split]
    names = data.features["label"].names
    class_ids = _resolve_classes(names, classes)
    labels = np.asarray(data.select_columns(["label"]).with_format("numpy")[:]["label"])
    pipe = _build_pipeline(model, device)
    files, trials = [], {}
    for seed in seeds:
        grid = class_grid(pipe, data, class_ids, trials_per_class, seed, labels=labels, **options)
        files.append(_save_png(grid.generated_grid(), out / f"seed{seed:04d}.png"))
        files.append(_save_png(grid.stimulus_grid(), out / f"seed{seed:04d}_real.png"))
        trials[str(seed)] = grid.rows
    manifest = {"model": str(model), "dataset": str(dataset), "split": split, "classes": [names[c] for c in class_ids],
                "trials": trials,
                **{k: v for k, v in options.items() if k not in ("output_type", "max_memory_bytes")}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {"model": str(model), "seeds": seeds, "files": files, "manifest": str(out / "manifest.json")}
