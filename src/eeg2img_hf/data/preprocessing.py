"""Pure EEG and image preprocessing functions, plus replaying and recording them on whole datasets.

Every EEG function takes one trial `(n_chans, n_times)` or a batch `(n_trials, n_chans, n_times)` of
floating-point values (time is the last axis), never modifies its input, and returns an array of the
input's dtype (float32 in, float32 out). Converters record what they did with [`preprocessing_step`]
records in the dataset metadata (`info["preprocessing"]`); [`apply_steps`] replays such records and
[`preprocess_dataset`] applies them to every split of a saved dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..utils.outputs import make_staging_dir, prepare_output_dir, remove_staging_dir, replace_folder, write_marker
from .features import get_eeg_info, set_eeg_info, validate_eeg_dataset

__all__ = [
    "MIN_TRIAL_SAMPLES",
    "STEP_FUNCTIONS",
    "apply_steps",
    "bandpass",
    "crop",
    "preprocess_dataset",
    "preprocessing_step",
    "resample",
    "resize_image",
    "save_dataset_dict",
    "scale_by_trial_max",
    "zscore_channels",
]


MIN_TRIAL_SAMPLES = 8
"""Fewest time samples a preprocessing step may leave in a trial: the `"crop"` and `"resample"` steps of
[`apply_steps`] / [`preprocess_dataset`] (`eeg2img preprocess --crop / --resample`) refuse to go below it (a trial
of one or a few samples cannot be filtered, standardised or encoded). The pure functions [`crop`] and
[`resample`] only need one sample."""


def _check_eeg(eeg: Any, name: str = "eeg") -> np.ndarray:
    """Return `eeg` as a float ndarray of ndim 2 or 3 with finite values, else raise a `ValueError`."""
    if not isinstance(eeg, np.ndarray):
        raise ValueError(f"{name} must be a numpy.ndarray, got {type(eeg).__name__}")
    if eeg.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (n_chans, n_times) or (n_trials, n_chans, n_times), got shape {eeg.shape}"
        )
    if not np.issubdtype(eeg.dtype, np.floating):
        raise ValueError(f"{name} must hold floating-point values (e.g. float32), got dtype {eeg.dtype}")
    if eeg.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {eeg.shape}")
    if not np.isfinite(eeg).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(eeg)).sum())} non-finite values (NaN or inf)")
    return eeg


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


def crop(eeg: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Keep time samples `[start, stop)` (e.g. the EEGCVPR40 reference crop `start=20, stop=460`).

    Args:
        eeg (`np.ndarray` of shape `(n_chans, n_times)` or `(n_trials, n_chans, n_times)`):
            Floating-point EEG.
        start (`int`):
            First kept sample, `0 <= start < stop`.
        stop (`int`):
            One past the last kept sample, `stop <= n_times`.

    Returns:
        `np.ndarray`: a copy with `stop - start` time samples.
    """
    eeg = _check_eeg(eeg)
    start, stop = _check_int("start", start), _check_int("stop", stop)
    n_times = eeg.shape[-1]
    if not 0 <= start < stop <= n_times:
        raise ValueError(f"crop needs 0 <= start < stop <= n_times={n_times}, got start={start}, stop={stop}")
    return eeg[..., start:stop].copy()


def scale_by_trial_max(eeg: np.ndarray) -> np.ndarray:
    """The authors' per-trial scaling `2 * x / m - 1`, with `m` the maximum over the whole trial.

    The formula is only meaningful for a positive maximum, so trials whose maximum is `<= 0` are
    refused (the authors' code would divide by zero or flip the sign).

    Args:
        eeg (`np.ndarray` of shape `(n_chans, n_times)` or `(n_trials, n_chans, n_times)`):
            Floating-point EEG.

    Returns:
        `np.ndarray` of the same shape and dtype; each trial's maximum maps to 1.

    Raises:
        `ValueError`: naming how many and which trials have a maximum `<= 0`.
    """
    eeg = _check_eeg(eeg)
    batch = eeg[None] if eeg.ndim == 2 else eeg
    maxima = batch.max(axis=(1, 2)).astype(np.float64)
    bad = np.flatnonzero(maxima <= 0)
    if bad.size:
        raise ValueError(
            f"scale_by_trial_max needs a positive maximum in every trial; {bad.size} of {len(batch)} trials have a "
            f"maximum <= 0 (trial indices {bad[:10].tolist()}{' ...' if bad.size > 10 else ''})"
        )
    scaled = 2.0 * batch.astype(np.float64) / maxima[:, None, None] - 1.0
    return scaled.astype(eeg.dtype).reshape(eeg.shape)


def zscore_channels(eeg: np.ndarray) -> np.ndarray:
    """Standardise each channel of each trial over time: `(x - mean) / std` (population std).

    Args:
        eeg (`np.ndarray` of shape `(n_chans, n_times)` or `(n_trials, n_chans, n_times)`):
            Floating-point EEG with at least 2 time samples.

    Returns:
        `np.ndarray` of the same shape and dtype, zero mean and unit std along time.

    Raises:
        `ValueError`: when a channel is constant (zero std), naming a few (trial, channel) pairs.
    """
    eeg = _check_eeg(eeg)
    values = eeg.astype(np.float64)
    mean = values.mean(axis=-1, keepdims=True)
    std = values.std(axis=-1, keepdims=True)
    flat = np.argwhere(std[..., 0] <= 1e-12 * np.maximum(1.0, np.abs(mean[..., 0])))
    if flat.size:
        where = [tuple(int(i) for i in row) for row in flat[:5]]
        label = "(trial, channel)" if eeg.ndim == 3 else "channel"
        raise ValueError(
            f"zscore_channels cannot standardise constant channels: {len(flat)} {label} entries have zero std, "
            f"e.g. {where if eeg.ndim == 3 else [w[0] for w in where]}; drop or repair them first"
        )
    return ((values - mean) / std).astype(eeg.dtype)


def bandpass(
    eeg: np.ndarray, sfreq: float, l_freq: float | None, h_freq: float | None, order: int = 4
) -> np.ndarray:
    """Zero-phase Butterworth filter along time (second-order sections run forward and backward).

    `l_freq=None` gives a low-pass at `h_freq`, `h_freq=None` a high-pass at `l_freq`. Because the
    filter runs twice, the effective order is `2 * order` and the phase shift is zero.

    Args:
        eeg (`np.ndarray` of shape `(n_chans, n_times)` or `(n_trials, n_chans, n_times)`):
            Floating-point EEG.
        sfreq (`float`):
            Sampling rate in Hz.
        l_freq (`float`, *optional*):
            Lower edge in Hz, `0 < l_freq < h_freq`.
        h_freq (`float`, *optional*):
            Upper edge in Hz, below the Nyquist frequency `sfreq / 2`.
        order (`int`, *optional*, defaults to 4):
            Butterworth order of one pass.

    Returns:
        `np.ndarray` of the same shape and dtype.
    """
    from scipy.signal import butter, sosfiltfilt

    eeg = _check_eeg(eeg)
    sfreq = _check_positive("sfreq", sfreq)
    order = _check_int("order", order)
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    nyquist = sfreq / 2
    if l_freq is None and h_freq is None:
        raise ValueError("bandpass needs l_freq, h_freq or both; got neither")
    l_freq = None if l_freq is None else _check_positive("l_freq", l_freq)
    h_freq = None if h_freq is None else _check_positive("h_freq", h_freq)
    for name, value in (("l_freq", l_freq), ("h_freq", h_freq)):
        if value is not None and value >= nyquist:
            raise ValueError(f"{name}={value} Hz must be below the Nyquist frequency {nyquist} Hz (sfreq={sfreq})")
    if l_freq is not None and h_freq is not None and l_freq >= h_freq:
        raise ValueError(f"bandpass needs l_freq < h_freq, got l_freq={l_freq}, h_freq={h_freq}")
    if l_freq is None:
        sos = butter(order, h_freq, btype="lowpass", fs=sfreq, output="sos")
    elif h_freq is None:
        sos = butter(order, l_freq, btype="highpass", fs=sfreq, output="sos")
    else:
        sos = butter(order, [l_freq, h_freq], btype="bandpass", fs=sfreq, output="sos")
    padlen = 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
    if eeg.shape[-1] <= padlen:
        raise ValueError(
            f"bandpass of order {order} needs more than {padlen} time samples for its edge padding, got "
            f"{eeg.shape[-1]}; use a lower order or longer trials"
        )
    return sosfiltfilt(sos, eeg.astype(np.float64), axis=-1).astype(eeg.dtype)


def _resample_ratio(sfreq: float, new_sfreq: float, max_denominator: int = 1000) -> Fraction:
    ratio = Fraction(new_sfreq / sfreq).limit_denominator(max_denominator)
    if ratio == 0 or abs(float(ratio) * sfreq - new_sfreq) > 1e-9 * new_sfreq:
        raise ValueError(
            f"cannot resample from {sfreq} Hz to {new_sfreq} Hz: the ratio is not close to a fraction with a "
            f"denominator <= {max_denominator}"
        )
    return ratio


def resample(eeg: np.ndarray, sfreq: float, new_sfreq: float) -> np.ndarray:
    """Polyphase resampling along time (anti-aliasing FIR included), e.g. 1000 Hz -> 250 Hz.

    The rate ratio is approximated by a fraction `up / down` with `down <= 1000`; a ratio that no
    such fraction matches to a relative 1e-9 is refused. The output has `ceil(n_times * up / down)` samples.

    Args:
        eeg (`np.ndarray` of shape `(n_chans, n_times)` or `(n_trials, n_chans, n_times)`):
            Floating-point EEG.
        sfreq (`float`):
            Current sampling rate in Hz.
        new_sfreq (`float`):
            Target sampling rate in Hz.

    Returns:
        `np.ndarray` with the resampled time axis, same dtype.
    """
    from scipy.signal import resample_poly

    eeg = _check_eeg(eeg)
    sfreq, new_sfreq = _check_positive("sfreq", sfreq), _check_positive("new_sfreq", new_sfreq)
    ratio = _resample_ratio(sfreq, new_sfreq)
    if ratio == 1:
        return eeg.copy()
    out = resample_poly(eeg.astype(np.float64), ratio.numerator, ratio.denominator, axis=-1)
    if out.shape[-1] < 1:
        raise ValueError(f"resampling {eeg.shape[-1]} samples from {sfreq} Hz to {new_sfreq} Hz leaves no samples")
    return out.astype(eeg.dtype)


def resize_image(image: Any, size: int | tuple[int, int]) -> Any:
    """Resize an image to RGB with bicubic interpolation.

    Args:
        image (`PIL.Image.Image`):
            The image (any PIL mode; it is converted to RGB).
        size (`int` or `tuple[int, int]`):
            Side of a square output, or `(width, height)` as in PIL.

    Returns:
        `PIL.Image.Image`: a new RGB image of the requested size.
    """
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise ValueError(f"image must be a PIL.Image.Image, got {type(image).__name__}")
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in size)
    ):
        raise ValueError(f"size must be a positive int or a (width, height) pair of positive ints, got {size!r}")
    return image.convert("RGB").resize((int(size[0]), int(size[1])), Image.Resampling.BICUBIC)


def preprocessing_step(name: str, **params: Any) -> dict[str, Any]:
    """A JSON record of one preprocessing step, for `info["preprocessing"]` (`{"name": name, **params}`).

    Args:
        name (`str`):
            Step name; the names [`apply_steps`] can replay are the keys of `STEP_FUNCTIONS`
            (`"crop"`, `"bandpass"`, `"resample"`, `"zscore_channels"`, `"scale_by_trial_max"`);
            converters may also record other, descriptive steps (e.g. what the source already did).
        params:
            JSON-serialisable parameters, e.g. `start=20, stop=460`.

    Returns:
        `dict`: the record.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"step name must be a non-empty string, got {name!r}")
    record = {"name": name, **params}
    try:
        json.dumps(record)
    except (TypeError, ValueError) as err:
        raise ValueError(f"parameters of step {name!r} must be JSON-serialisable: {err}") from err
    return record


def _step_crop(eeg: np.ndarray, sfreq: float, start: int, stop: int) -> tuple[np.ndarray, float]:
    out = crop(eeg, start, stop)
    if out.shape[-1] < MIN_TRIAL_SAMPLES:
        raise ValueError(f"crop start={start}, stop={stop} keeps {out.shape[-1]} samples per trial, fewer than "
                         f"MIN_TRIAL_SAMPLES={MIN_TRIAL_SAMPLES}")
    return out, sfreq


def _step_bandpass(
    eeg: np.ndarray, sfreq: float, l_freq: float | None = None, h_freq: float | None = None, order: int = 4
) -> tuple[np.ndarray, float]:
    return bandpass(eeg, sfreq, l_freq, h_freq, order), sfreq


def _step_resample(eeg: np.ndarray, sfreq: float, new_sfreq: float) -> tuple[np.ndarray, float]:
    eeg = _check_eeg(eeg)
    new_sfreq = _check_positive("new_sfreq", new_sfreq)
    ratio = _resample_ratio(_check_positive("sfreq", sfreq), new_sfreq)
    n_out = -(-eeg.shape[-1] * ratio.numerator // ratio.denominator)  # ceil, as in `resample`
    if n_out < MIN_TRIAL_SAMPLES:  # refused before any filtering runs
        raise ValueError(f"new_sfreq={new_sfreq:g} Hz would leave {n_out} samples per trial ({eeg.shape[-1]} samples "
                         f"at {sfreq:g} Hz), fewer than MIN_TRIAL_SAMPLES={MIN_TRIAL_SAMPLES}; choose new_sfreq >= "
                         f"{sfreq * MIN_TRIAL_SAMPLES / eeg.shape[-1]:g} Hz")
    return resample(eeg, sfreq, new_sfreq), new_sfreq


def _step_zscore(eeg: np.ndarray, sfreq: float) -> tuple[np.ndarray, float]:
    return zscore_channels(eeg), sfreq


def _step_scale(eeg: np.ndarray, sfreq: float) -> tuple[np.ndarray, float]:
    return scale_by_trial_max(eeg), sfreq


STEP_FUNCTIONS = {
    "crop": _step_crop,
    "bandpass": _step_bandpass,
    "resample": _step_resample,
    "zscore_channels": _step_zscore,
    "scale_by_trial_max": _step_scale,
}
"""Step names [`apply_steps`] replays, mapped to `(eeg, sfreq, **params) -> (eeg, sfreq)` functions."""

_STEP_OPTIONS = {"crop": "--crop", "bandpass": "--bandpass", "resample": "--resample",
                 "zscore_channels": "--zscore", "scale_by_trial_max": "--scale-trial-max"}
"""The `eeg2img preprocess` option of each step, named in error messages."""

_STEP_PARAMS = {
    "crop": ({"start", "stop"}, set()),
    "bandpass": (set(), {"l_freq", "h_freq", "order"}),
    "resample": ({"new_sfreq"}, set()),
    "zscore_channels": (set(), set()),
    "scale_by_trial_max": (set(), set()),
}


def _check_step(step: Any, index: int, sfreq: float | None) -> tuple[str, dict[str, Any]]:
    """Validate one record; returns its name and the parameters of its function (without `sfreq`)."""
    if not isinstance(step, Mapping) or not isinstance(step.get("name"), str):
        raise ValueError(f"step {index} must be a dict with a 'name' (see preprocessing_step), got {step!r}")
    name = step["name"]
    if name not in STEP_FUNCTIONS:
        raise ValueError(f"step {index}: unknown step {name!r}; expected one of {sorted(STEP_FUNCTIONS)}")
    params = {k: v for k, v in step.items() if k not in ("name", "sfreq")}
    required, optional = _STEP_PARAMS[name]
    missing, unknown = required - set(params), set(params) - required - optional
    if missing or unknown:
        raise ValueError(
            f"step {index} ({name!r}): missing parameters {sorted(missing)}, unknown parameters {sorted(unknown)}; "
            f"expected {sorted(required)} and optionally {sorted(optional)}"
        )
    if "sfreq" in step and (sfreq is None or not np.isclose(float(step["sfreq"]), sfreq)):
        raise ValueError(f"step {index} ({name!r}) was recorded at sfreq={step['sfreq']} Hz but the data is at "
                         f"{sfreq} Hz")
    if name in ("bandpass", "resample") and sfreq is None:
        raise ValueError(f"step {index} ({name!r}) needs the sampling rate, but sfreq is unknown")
    return name, params


def apply_steps(eeg: np.ndarray, sfreq: float | None, steps: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, float]:
    """Replay preprocessing records (from [`preprocessing_step`]) in order.

    A record may carry an `"sfreq"` key (the rate it was applied at); it must then match the current
    rate.

    Args:
        eeg (`np.ndarray` of shape `(n_chans, n_times)` or `(n_trials, n_chans, n_times)`):
            Floating-point EEG.
        sfreq (`float`, *optional*):
            Sampling rate in Hz of `eeg`; only `"bandpass"` and `"resample"` need it.
        steps (`list[dict]`):
            Records such as `{"name": "crop", "start": 20, "stop": 460}`.

    Returns:
        `tuple[np.ndarray, float]`: the processed EEG (same dtype) and its sampling rate.
    """
    eeg = _check_eeg(eeg)
    if sfreq is not None:
        sfreq = _check_positive("sfreq", sfreq)
    if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Sequence):
        raise ValueError(f"steps must be a list of step records, got {type(steps).__name__}")
    for index, step in enumerate(steps):
        name, params = _check_step(step, index, sfreq)
        try:
            eeg, sfreq = STEP_FUNCTIONS[name](eeg, sfreq, **params)
        except ValueError as err:  # say which step (and its command-line option) failed
            option = _STEP_OPTIONS.get(name)
            raise ValueError(f"step {index} ({name!r}{', ' + option if option else ''}): {err}") from None
    return eeg, sfreq


def _normalise_steps(steps: Sequence[Mapping[str, Any]], sfreq: float | None) -> list[dict[str, Any]]:
    """Validate `steps` and return records that also state the rate each step was applied at."""
    records = []
    for index, step in enumerate(steps):
        name, params = _check_step(step, index, sfreq)
        record = preprocessing_step(name, **params)
        if sfreq is not None:
            record["sfreq"] = sfreq
        records.append(record)
        if name == "resample":
            sfreq = _check_positive("new_sfreq", params["new_sfreq"])
    return records


def _dataset_cache_dirs(ds: Any) -> set[str]:
    return {os.path.dirname(os.path.abspath(f["filename"])) for split in ds.values() for f in split.cache_files}


def _protected_dirs(ds: Any) -> set[str]:
    """Directories holding the files of `ds`, plus the `save_to_disk` root above them."""
    dirs = _dataset_cache_dirs(ds)
    roots = {os.path.dirname(d) for d in dirs if os.path.isfile(os.path.join(os.path.dirname(d), "dataset_dict.json"))}
    return dirs | roots


def save_dataset_dict(ds: Any, output_dir: str | os.PathLike, *, source: Any = None, overwrite: bool = False,
                      inputs: Any = None, command: str = "preprocess") -> Any:
    """Save a `DatasetDict` to `output_dir` safely and return it re-loaded (memory-mapped).

    Refuses a non-empty `output_dir` unless `overwrite=True` and it is a dataset folder this package wrote (see
    [`eeg2img_hf.utils.outputs`]), and always refuses a directory that holds the files of `source` (or of `ds`)
    or overlaps one of `inputs`. Writes into a temporary sibling directory first (with the ownership marker) and
    only replaces `output_dir` once saving succeeded.

    Args:
        ds (`DatasetDict`):
            The dataset to save.
        output_dir (`str` or `os.PathLike`):
            Target directory.
        source (`DatasetDict`, *optional*):
            The input the dataset was derived from; its directory is never written to.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace an existing non-empty `output_dir` (a dataset folder written by this package).
        inputs (*optional*):
            More input paths (or `{argument name: path}`) the output must not equal, contain or lie inside.
        command (`str`, *optional*, defaults to `"preprocess"`):
            Recorded in the folder's ownership marker.

    Returns:
        `DatasetDict` loaded from `output_dir`.
    """
    from datasets import load_from_disk

    output_dir = os.path.abspath(os.fspath(output_dir))
    protected = _protected_dirs(ds) | (_protected_dirs(source) if source is not None else set())
    for directory in protected:
        if directory == output_dir or directory.startswith(output_dir + os.sep):
            raise ValueError(f"output directory {output_dir!r} holds the input dataset's files; choose another one")
        if output_dir.startswith(directory + os.sep):
            raise ValueError(f"output directory {output_dir!r} is inside the input dataset {directory!r}; choose "
                             "another one")
    output_dir = os.fspath(prepare_output_dir(output_dir, command=command, kind="dataset", inputs=inputs,
                                              overwrite=overwrite, what="output directory"))
    staging = make_staging_dir(output_dir)
    try:
        ds.save_to_disk(os.fspath(staging))
        write_marker(staging, command=command, kind="dataset")
        replace_folder(staging, output_dir, kind="dataset")
    finally:
        remove_staging_dir(staging)
    return load_from_disk(output_dir)


def preprocess_dataset(
    ds: Any,
    steps: Sequence[Mapping[str, Any]],
    output_dir: str | os.PathLike | None = None,
    *,
    batch_size: int = 64,
    overwrite: bool = False,
) -> Any:
    """Apply preprocessing steps to the `eeg` column of every split and record them in the metadata.

    EEG is processed in batches with `Dataset.map` (images are never decoded), the `eeg` feature gets
    its new `(n_chans, n_times)` shape, and the metadata gets the new `n_times` and `sfreq` and the
    records appended to `preprocessing` (each with the `sfreq` it was applied at). The input dataset,
    in memory or on disk, is left unchanged.

    Args:
        ds (`DatasetDict`):
            A dataset in the package schema (see [`make_features`]).
        steps (`list[dict]`):
            Records from [`preprocessing_step`], applied in order (see [`apply_steps`]).
        output_dir (`str` or `os.PathLike`, *optional*):
            Save the result there (see [`save_dataset_dict`]) and return it memory-mapped; without it,
            the result is built in a temporary directory (or in memory for an in-memory input).
        batch_size (`int`, *optional*, defaults to 64):
            Trials per `map` batch.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace a non-empty `output_dir`.

    Returns:
        `DatasetDict` with the processed EEG.
    """
    from datasets import Array2D, DatasetDict

    if not isinstance(ds, DatasetDict):
        raise ValueError(f"expected a datasets.DatasetDict, got {type(ds).__name__}")
    validate_eeg_dataset(ds)
    if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Sequence) or not steps:
        raise ValueError(f"steps must be a non-empty list of step records, got {steps!r}")
    if _check_int("batch_size", batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    info = dict(get_eeg_info(ds))
    sfreq = info.get("sfreq")
    records = _normalise_steps(steps, None if sfreq is None else float(sfreq))
    n_chans, n_times = next(iter(ds.values())).features["eeg"].shape
    probe = np.random.default_rng(0).standard_normal((1, n_chans, n_times)).astype(np.float32) + 1.0
    probe_out, new_sfreq = apply_steps(probe, sfreq, records)
    new_shape = tuple(int(d) for d in probe_out.shape[1:])

    def _process(eeg: np.ndarray) -> dict[str, np.ndarray]:
        return {"eeg": apply_steps(np.asarray(eeg, dtype=np.float32), sfreq, records)[0]}

    # Never let `map` write cache files next to an on-disk input: use a private directory instead.
    work_dir = tempfile.mkdtemp(prefix="eeg2img-preprocess-") if _dataset_cache_dirs(ds) else None
    out = {}
    try:
        for name, split in ds.items():
            features = split.features.copy()
            features["eeg"] = Array2D(new_shape, "float32")
            cache = None if work_dir is None else os.path.join(work_dir, f"{name}.arrow")
            out[name] = split.with_format("numpy", columns=["eeg"]).map(
                _process, batched=True, batch_size=batch_size, writer_batch_size=batch_size, input_columns=["eeg"],
                features=features, cache_file_name=cache, load_from_cache_file=False, desc=f"preprocess {name}",
            ).with_format(None)
    except BaseException:
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
        raise
    result = DatasetDict(out)
    info.update(
        n_times=new_shape[1],
        sfreq=new_sfreq,
        preprocessing=list(info.get("preprocessing") or []) + records,
    )
    set_eeg_info(result, info)
    if output_dir is not None:
        result = save_dataset_dict(result, output_dir, source=ds, overwrite=overwrite)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
    return result
