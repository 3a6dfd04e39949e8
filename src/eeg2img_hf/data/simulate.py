"""Simulated EEG-image datasets shaped like EEGCVPR40, ThoughtViz and Object: the package default.

The simulator stands in for the real recordings (which need large manual downloads) so that every
model, trainer and metric of the package can run end to end. A trial is

    eeg = evoked + background + drift, then a positive-maximum guard,

- `evoked`: each class has a few components (a dipole-like spatial pattern over the scalp times a
  Gaussian-windowed oscillation at a class-specific latency in 80..400 ms, scaled to the trial length
  for short trials), plus a weaker component per exemplar image (none for imagery data, where the
  image is paired after the fact); each subject has perturbed topographies, latencies and gains; each
  trial has latency jitter and amplitude variability. Scaled so that RMS(evoked) / RMS(background) is
  close to `snr`. Preset defaults (thoughtviz 0.12, object 0.07, eegcvpr40 0.15) make a linear SVM on
  z-scored flattened trials clearly better than chance and clearly worse than perfect (about 0.56, 0.52
  and 0.46 test accuracy with the within-block split).
- `background` (RMS close to 1, arbitrary units): spatially correlated 1/f (pink) noise (75 % of the
  variance), an alpha rhythm of 8..12 Hz with random phase, stronger over posterior channels (15 %),
  and white sensor noise (10 %).
- `drift` (`block_drift` times the background RMS, 0 = off): a per-block DC offset per channel plus a
  slow (0.05..0.5 Hz) spatially smooth drift, shared by all trials of one recording block, as in the
  block design of EEGCVPR40 (every block holds trials of one class of one subject).
- guard: the authors scale each trial by `2x / max - 1`, which needs max > 0, so any trial whose
  maximum is below 0.1 is shifted up by a constant until its maximum is 0.1 (rare at defaults).

Every random draw comes from `numpy.random.SeedSequence(seed, spawn_key=...)` children, one per
purpose (class templates, each exemplar's EEG component and picture, each subject, the split), so a
dataset is a pure function of its arguments, and `snr` / `block_drift` only rescale components
(the same seed gives the same noise).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
from datasets import Dataset, DatasetDict, DatasetInfo, Features, NamedSplit
from datasets.table import InMemoryTable
from PIL import Image, ImageDraw
from scipy import fft as sp_fft

from ..utils.checks import check_seed
from .features import eeg_arrow, make_features, set_eeg_info
from .splits import SPLIT_GUARANTEES, SPLIT_NAMES, SPLIT_STRATEGIES, check_disjoint, split_trials

# --------------------------------------------------------------------------------------------------
# Presets

EEGCVPR40_CLASSES = (
    ("n02106662", "German shepherd"), ("n02124075", "Egyptian cat"), ("n02281787", "lycaenid butterfly"),
    ("n02389026", "sorrel"), ("n02492035", "capuchin"), ("n02504458", "African elephant"),
    ("n02510455", "giant panda"), ("n02607072", "anemone fish"), ("n02690373", "airliner"),
    ("n02906734", "broom"), ("n02951358", "canoe"), ("n02992529", "cellular telephone"),
    ("n03063599", "coffee mug"), ("n03100240", "convertible"), ("n03180011", "desktop computer"),
    ("n03197337", "digital watch"), ("n03272010", "electric guitar"), ("n03272562", "electric locomotive"),
    ("n03297495", "espresso maker"), ("n03376595", "folding chair"), ("n03445777", "golf ball"),
    ("n03452741", "grand piano"), ("n03584829", "iron"), ("n03590841", "jack-o'-lantern"),
    ("n03709823", "mailbag"), ("n03773504", "missile"), ("n03775071", "mitten"),
    ("n03792782", "mountain bike"), ("n03792972", "mountain tent"), ("n03877472", "pajama"),
    ("n03888257", "parachute"), ("n03982430", "pool table"), ("n04044716", "radio telescope"),
    ("n04069434", "reflex camera"), ("n04086273", "revolver"), ("n04120489", "running shoe"),
    ("n07753592", "banana"), ("n07873807", "pizza"), ("n11939491", "daisy"), ("n13054560", "bolete"),
)
THOUGHTVIZ_CLASSES = ("Apple", "Car", "Dog", "Gold", "Mobile", "Rose", "Scooter", "Tiger", "Wallet", "Watch")
OBJECT_CLASSES = (
    "human body", "human face", "animal body", "animal face", "fruit vegetable", "inanimate object",
)

# Emotiv EPOC order, with approximate azimuthal-equidistant scalp coordinates (x right, y nose; 1 = ear level).
_EMOTIV_LAYOUT = {
    "AF3": (-0.27, 0.78), "F7": (-0.81, 0.59), "F3": (-0.39, 0.52), "FC5": (-0.72, 0.26), "T7": (-1.0, 0.0),
    "P7": (-0.81, -0.59), "O1": (-0.31, -0.95), "O2": (0.31, -0.95), "P8": (0.81, -0.59), "T8": (1.0, 0.0),
    "FC6": (0.72, 0.26), "F4": (0.39, 0.52), "F8": (0.81, 0.59), "AF4": (0.27, 0.78),
}
# The 17 occipital / parietal channels of the preprocessed THINGS-EEG2 release, approximate 10-10 positions (same axes).
_POSTERIOR_1010_LAYOUT = {
    "Pz": (0.0, -0.4), "P1": (-0.19, -0.41), "P2": (0.19, -0.41), "P3": (-0.37, -0.45), "P4": (0.37, -0.45),
    "P5": (-0.55, -0.5), "P6": (0.55, -0.5), "P7": (-0.81, -0.59), "P8": (0.81, -0.59), "POz": (0.0, -0.6),
    "PO3": (-0.25, -0.65), "PO4": (0.25, -0.65), "PO7": (-0.59, -0.81), "PO8": (0.59, -0.81), "O1": (-0.31, -0.95),
    "Oz": (0.0, -1.0), "O2": (0.31, -0.95),
}
IMAGE_PAIRINGS = ("shown", "random")


@dataclass(frozen=True)
class SimulationPreset:
    """Shape and default sizes of one simulated dataset.

    Args:
        name (`str`): preset name.
        class_names (`tuple[str, ...]`): readable class names, in label order.
        class_ids (`tuple[str, ...]`, *optional*): source class ids (WordNet ids), or `None`.
        ch_names (`tuple[str, ...]`): channel names; their number is `n_chans`.
        sfreq (`float`): sampling frequency in Hz.
        n_times (`int`): samples per trial.
        n_subjects (`int`): default number of subjects.
        n_blocks_per_class (`int`): default recording blocks per class and subject.
        trials_per_block (`int`): default trials per block.
        images_per_class (`int`): default exemplar images per class.
        image_pairing (`str`): `"shown"` (each subject sees every exemplar in turn, as in a
            perception experiment) or `"random"` (imagery: a seeded random same-class exemplar).
        snr (`float`): default ratio RMS(evoked) / RMS(background).
        exemplar_weight (`float`): size of the exemplar-specific EEG component relative to the class one.
        trial_interval_s (`float`): onset-to-onset time of trials within a block (for the drift).
    """

    name: str
    class_names: tuple[str, ...]
    class_ids: tuple[str, ...] | None
    ch_names: tuple[str, ...]
    sfreq: float
    n_times: int
    n_subjects: int
    n_blocks_per_class: int
    trials_per_block: int
    images_per_class: int
    image_pairing: str
    snr: float
    exemplar_weight: float
    trial_interval_s: float

    @property
    def n_chans(self) -> int:
        return len(self.ch_names)


SIMULATION_PRESETS: dict[str, SimulationPreset] = {
    "eegcvpr40": SimulationPreset(
        name="eegcvpr40", class_names=tuple(n for _, n in EEGCVPR40_CLASSES),
        class_ids=tuple(i for i, _ in EEGCVPR40_CLASSES), ch_names=tuple(f"E{i}" for i in range(1, 129)),
        sfreq=1000.0, n_times=440, n_subjects=6, n_blocks_per_class=3, trials_per_block=4, images_per_class=12,
        image_pairing="shown", snr=0.15, exemplar_weight=0.3, trial_interval_s=0.5,
    ),
    "thoughtviz": SimulationPreset(
        name="thoughtviz", class_names=THOUGHTVIZ_CLASSES, class_ids=None, ch_names=tuple(_EMOTIV_LAYOUT),
        sfreq=128.0, n_times=32, n_subjects=23, n_blocks_per_class=3, trials_per_block=5, images_per_class=16,
        image_pairing="random", snr=0.12, exemplar_weight=0.0, trial_interval_s=0.25,
    ),
    "object": SimulationPreset(
        name="object", class_names=OBJECT_CLASSES, class_ids=None, ch_names=tuple(f"E{i}" for i in range(1, 125)),
        sfreq=62.5, n_times=32, n_subjects=10, n_blocks_per_class=3, trials_per_block=12, images_per_class=12,
        image_pairing="shown", snr=0.07, exemplar_weight=0.3, trial_interval_s=0.75,
    ),
}
"""Simulation presets by name, mirroring the shapes of the paper's three datasets."""

# --------------------------------------------------------------------------------------------------
# Signal model constants (variances are fractions of the unit background variance)

_PINK_VAR, _ALPHA_VAR, _WHITE_VAR = 0.75, 0.15, 0.10
_N_CLASS_COMPONENTS = 3
_SUBJECT_TOPOGRAPHY_SPREAD = 0.5  # norm of a subject's random pattern change, relative to the class pattern
_SUBJECT_LATENCY_SD_S = 0.010
_TRIAL_JITTER_SD_S = 0.015
_AMPLITUDE_SD = 0.3  # log-normal sd of per-trial component amplitudes
_SPATIAL_LENGTH_RAD = 0.6  # correlation length of the pink background over the scalp
_MAX_SOURCES = 32
_MIN_TRIAL_MAX = 0.1
_SIMULATOR_VERSION = 1
# spawn_key roots of the independent random streams
_KEY_CLASSES, _KEY_EXEMPLAR_EEG, _KEY_EXEMPLAR_IMAGE, _KEY_SUBJECT, _KEY_SPLIT = range(5)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


# --------------------------------------------------------------------------------------------------
# Montage geometry


@dataclass(frozen=True)
class _Geometry:
    distances: np.ndarray  # (C, C) great-circle distances between electrodes, radians
    mixing: np.ndarray  # (C, S) smooth spatial mixing with unit-norm rows
    alpha_pattern: np.ndarray  # (C,) posterior-weighted, RMS 1
    center_prob: np.ndarray  # (C,) where evoked sources sit (posterior-weighted)
    times: np.ndarray  # (T,) seconds
    sfreq: float
    time_scale: float  # latencies/widths are scaled by this for trials shorter than 440 ms
    pink_filter: np.ndarray  # (T // 2 + 1,) amplitude response, unit mean power


def _channel_positions(ch_names: tuple[str, ...]) -> np.ndarray:
    """Unit vectors (x right, y nose, z up): Emotiv or posterior 10-10 layout if known, else an even cap layout."""
    layout = next((known for known in (_EMOTIV_LAYOUT, _POSTERIOR_1010_LAYOUT)
                   if all(name in known for name in ch_names)), None)
    if layout is not None:
        xy = np.array([layout[name] for name in ch_names])
        theta, phi = np.hypot(xy[:, 0], xy[:, 1]) * np.pi / 2, np.arctan2(xy[:, 1], xy[:, 0])
    else:  # Fibonacci points from the vertex down to ~20 degrees below ear level
        i = np.arange(len(ch_names)) + 0.5
        theta = np.arccos(1.0 - 1.35 * i / len(ch_names))
        phi = i * np.pi * (3.0 - math.sqrt(5.0))
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1)


def _pink_filter(n_times: int, sfreq: float) -> np.ndarray:
    freqs = np.fft.rfftfreq(n_times, d=1.0 / sfreq)
    response = np.zeros_like(freqs)
    response[1:] = 1.0 / np.sqrt(freqs[1:])  # 1/f power, no DC
    weights = np.full_like(freqs, 2.0)
    weights[0] = 1.0
    if n_times % 2 == 0:
        weights[-1] = 1.0
    return response / np.sqrt(np.sum(weights * response**2) / n_times)  # unit variance out for unit white in


def _build_geometry(preset: SimulationPreset) -> _Geometry:
    pos = _channel_positions(preset.ch_names)
    distances = np.arccos(np.clip(pos @ pos.T, -1.0, 1.0))
    kernel = np.exp(-0.5 * (distances / _SPATIAL_LENGTH_RAD) ** 2)
    eigvals, eigvecs = np.linalg.eigh(kernel)
    keep = np.argsort(eigvals)[::-1][: min(_MAX_SOURCES, len(pos))]
    mixing = eigvecs[:, keep] * np.sqrt(np.clip(eigvals[keep], 0.0, None))
    mixing /= np.linalg.norm(mixing, axis=1, keepdims=True)
    posterior = 0.25 + 1.0 / (1.0 + np.exp((pos[:, 1] + 0.2) / 0.15))
    duration = preset.n_times / preset.sfreq
    return _Geometry(
        distances=distances,
        mixing=np.ascontiguousarray(mixing, dtype=np.float32),
        alpha_pattern=posterior / np.sqrt(np.mean(posterior**2)),
        center_prob=posterior / posterior.sum(),
        times=np.arange(preset.n_times) / preset.sfreq,
        sfreq=preset.sfreq,
        time_scale=min(1.0, duration / 0.44),
        pink_filter=_pink_filter(preset.n_times, preset.sfreq).astype(np.float32),
    )


# --------------------------------------------------------------------------------------------------
# Evoked components


@dataclass(frozen=True)
class _Components:
    patterns: np.ndarray  # (n, C, K)
    latency: np.ndarray  # (n, K) seconds
    width: np.ndarray  # (n, K) seconds
    freq: np.ndarray  # (n, K) Hz
    phase: np.ndarray  # (n, K) radians

    def take(self, index: np.ndarray) -> _Components:
        return _Components(*(getattr(self, f)[index] for f in ("patterns", "latency", "width", "freq", "phase")))


def _waveforms(times: np.ndarray, latency, width, freq, phase) -> np.ndarray:
    """Gaussian-windowed cosines, shape `latency.shape + (n_times,)`."""
    lag = times - latency[..., None]
    window = np.exp(-0.5 * (lag / width[..., None]) ** 2)
    return (window * np.cos(2 * np.pi * freq[..., None] * lag + phase[..., None])).astype(np.float32)


def _draw_components(rng: np.random.Generator, n: int, n_components: int, geo: _Geometry) -> _Components:
    """`n` sets of `n_components` components, each set scaled to a canonical RMS of 1."""
    size, scale = (n, n_components), geo.time_scale
    centers = rng.choice(len(geo.center_prob), size=size, p=geo.center_prob)
    sinks = rng.integers(0, len(geo.center_prob), size=size)
    spread = rng.uniform(0.35, 0.8, size=size)[..., None]
    ratio, sign = rng.uniform(0.3, 1.0, size=size)[..., None], rng.choice([-1.0, 1.0], size=size)[..., None]
    source = np.exp(-0.5 * (geo.distances[centers] / spread) ** 2)  # (n, K, C)
    sink = np.exp(-0.5 * (geo.distances[sinks] / spread) ** 2)
    patterns = (sign * (source - ratio * sink)).transpose(0, 2, 1)
    comps = _Components(
        patterns=patterns,
        latency=rng.uniform(0.08, 0.40, size=size) * scale,
        width=np.maximum(rng.uniform(0.02, 0.06, size=size) * scale, 1.5 / geo.sfreq),
        freq=rng.uniform(0.0, 8.0, size=size),
        phase=rng.uniform(0.0, 2 * np.pi, size=size),
    )
    canonical = patterns @ _waveforms(geo.times, comps.latency, comps.width, comps.freq, comps.phase)
    rms = np.sqrt(np.mean(canonical**2, axis=(1, 2)))
    return _Components(patterns / rms[:, None, None], comps.latency, comps.width, comps.freq, comps.phase)


def _for_subject(rng: np.random.Generator, comps: _Components, geo: _Geometry) -> _Components:
    """A subject's version of class components: perturbed topographies, latencies and gains."""
    n, _, n_comp = comps.patterns.shape
    noise = np.einsum("cs,nks->nck", geo.mixing, rng.standard_normal((n, n_comp, geo.mixing.shape[1])))
    noise *= np.linalg.norm(comps.patterns, axis=1, keepdims=True) / np.linalg.norm(noise, axis=1, keepdims=True)
    spread = _SUBJECT_TOPOGRAPHY_SPREAD
    gain = rng.lognormal(0.0, 0.15, size=(n, 1, 1))
    patterns = gain * (comps.patterns + spread * noise) / math.sqrt(1.0 + spread**2)
    latency = comps.latency + rng.normal(0.0, _SUBJECT_LATENCY_SD_S * geo.time_scale, size=comps.latency.shape)
    return _Components(patterns, latency, comps.width, comps.freq, comps.phase)


def _evoked(rng: np.random.Generator, comps: _Components, geo: _Geometry) -> np.ndarray:
    """One trial per row of `comps` (already gathered per trial), with jitter and amplitude variability."""
    n, _, n_comp = comps.patterns.shape
    jitter = rng.normal(0.0, _TRIAL_JITTER_SD_S * geo.time_scale, size=(n, 1))
    amplitude = rng.lognormal(-0.5 * _AMPLITUDE_SD**2, _AMPLITUDE_SD, size=(n, n_comp))
    waves = _waveforms(geo.times, comps.latency + jitter, comps.width, comps.freq, comps.phase)
    waves *= amplitude[..., None].astype(np.float32)
    return np.matmul(comps.patterns.astype(np.float32), waves)  # (n, C, T)


# --------------------------------------------------------------------------------------------------
# Background and block drift


def _background(rng: np.random.Generator, n: int, alpha_freq: float, geo: _Geometry) -> np.ndarray:
    """Pink + alpha + white background of `n` trials, RMS close to 1, shape (n, C, T)."""
    n_chans, n_sources = geo.mixing.shape
    n_times = len(geo.times)
    out = rng.standard_normal((n, n_chans, n_times), dtype=np.float32)
    out *= np.float32(math.sqrt(_WHITE_VAR))
    sources = rng.standard_normal((n_sources, n, n_times), dtype=np.float32)
    spectrum = sp_fft.rfft(sources, axis=-1)
    spectrum *= geo.pink_filter * np.float32(math.sqrt(_PINK_VAR))
    sources = sp_fft.irfft(spectrum, n=n_times, axis=-1).reshape(n_sources, n * n_times)
    out += (geo.mixing @ sources).reshape(n_chans, n, n_times).transpose(1, 0, 2)  # one GEMM for all trials
    freq = np.clip(alpha_freq + rng.normal(0.0, 0.4, size=n), 8.0, 12.0)
    phase = rng.uniform(0.0, 2 * np.pi, size=n)
    amp = rng.lognormal(-0.16, 0.4, size=n) * math.sqrt(2.0 * _ALPHA_VAR)  # mean power ~ _ALPHA_VAR
    alpha = amp[:, None] * np.cos(2 * np.pi * freq[:, None] * geo.times + phase[:, None])
    out += geo.alpha_pattern.astype(np.float32)[None, :, None] * alpha.astype(np.float32)[:, None, :]
    return out


def _drift(
    rng: np.random.Generator, block_index: np.ndarray, onset: np.ndarray, n_blocks: int, geo: _Geometry
) -> np.ndarray:
    """Unit-RMS block drift per trial, shape (n, C, T): DC offset per channel + slow smooth drift."""
    n_chans, n_sources = geo.mixing.shape
    offsets = rng.standard_normal((n_blocks, n_chans))
    slow_patterns = rng.standard_normal((n_blocks, n_sources)) @ geo.mixing.T
    freq, phase = rng.uniform(0.05, 0.5, size=n_blocks), rng.uniform(0.0, 2 * np.pi, size=n_blocks)
    clock = onset[:, None] + geo.times  # (n, T) seconds since block start
    slow = np.sin(2 * np.pi * freq[block_index, None] * clock + phase[block_index, None])
    drift = offsets[block_index, :, None] + slow_patterns[block_index, :, None] * slow[:, None, :]
    return (drift / math.sqrt(1.5)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Configuration and trial design


@dataclass(frozen=True)
class _SimConfig:
    preset: SimulationPreset
    seed: int
    snr: float
    block_drift: float
    n_subjects: int
    n_blocks_per_class: int
    trials_per_block: int
    images_per_class: int
    image_size: int
    split: str
    val_fraction: float
    test_fraction: float
    class_indices: tuple[int, ...]  # indices into preset.class_names

    def to_json_dict(self) -> dict:
        params = asdict(self)
        params["preset"] = self.preset.name
        params["classes"] = [self.preset.class_names[i] for i in params.pop("class_indices")]
        return params


def _check_number(name: str, value, minimum: float, integer: bool, maximum: float | None = None) -> None:
    kind = (int,) if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value) and value >= minimum
    if not ok or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" + ("" if maximum is None else f" and <= {maximum}")
        raise ValueError(f"{name} must be {'an int' if integer else 'a finite number'} {bounds}, got {value!r}")


def _resolve_classes(preset: SimulationPreset, classes: list[str] | None) -> tuple[int, ...]:
    if classes is None:
        return tuple(range(len(preset.class_names)))
    if isinstance(classes, str) or not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be a non-empty list of distinct class names, got {classes!r}")
    unknown = [c for c in classes if c not in preset.class_names]
    if unknown:
        raise ValueError(
            f"unknown classes {unknown} for preset {preset.name!r}; expected names from {list(preset.class_names)}"
        )
    return tuple(i for i, name in enumerate(preset.class_names) if name in classes)


def _resolve_config(preset: str, **kwargs) -> _SimConfig:
    if preset not in SIMULATION_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(SIMULATION_PRESETS)}")
    spec = SIMULATION_PRESETS[preset]
    for name in ("snr", "n_subjects", "n_blocks_per_class", "trials_per_block", "images_per_class"):
        if kwargs[name] is None:
            kwargs[name] = getattr(spec, name)
    check_seed(kwargs["seed"], "seed")
    _check_number("snr", kwargs["snr"], 0.0, integer=False)
    _check_number("block_drift", kwargs["block_drift"], 0.0, integer=False)
    for name in ("n_subjects", "n_blocks_per_class", "trials_per_block", "images_per_class"):
        _check_number(name, kwargs[name], 1, integer=True)
    _check_number("image_size", kwargs["image_size"], 8, integer=True, maximum=1024)
    if kwargs["split"] not in SPLIT_STRATEGIES:
        raise ValueError(f"split must be one of {SPLIT_STRATEGIES}, got {kwargs['split']!r}")
    class_indices = _resolve_classes(spec, kwargs.pop("classes"))
    n_values = len(class_indices) * kwargs["n_subjects"] * kwargs["n_blocks_per_class"] * kwargs["trials_per_block"]
    if n_values * spec.n_chans * spec.n_times >= 2**31:
        raise ValueError(
            f"the requested dataset has {n_values} trials of {spec.n_chans} x {spec.n_times} samples, more than "
            "2**31 values; reduce n_subjects, n_blocks_per_class or trials_per_block"
        )
    return _SimConfig(preset=spec, class_indices=class_indices, **kwargs)


def _trial_design(config: _SimConfig) -> dict[str, np.ndarray]:
    """Trial table ordered by (subject, class, block, position); `label` indexes the kept classes."""
    n_classes, n_blocks, n_per_block = len(config.class_indices), config.n_blocks_per_class, config.trials_per_block
    per_subject = n_classes * n_blocks * n_per_block
    design = {
        "subject_index": np.repeat(np.arange(config.n_subjects), per_subject),
        "label": np.tile(np.repeat(np.arange(n_classes), n_blocks * n_per_block), config.n_subjects),
        "block": np.repeat(np.arange(config.n_subjects * n_classes * n_blocks), n_per_block),
        "position": np.tile(np.arange(n_per_block), config.n_subjects * n_classes * n_blocks),
    }
    design["image"] = np.concatenate([_pair_images(config, s) for s in range(config.n_subjects)])
    return design


def _pair_images(config: _SimConfig, subject: int) -> np.ndarray:
    """Exemplar index of each trial of one subject (class-major order, as in `_trial_design`)."""
    rng = _rng(config.seed, _KEY_SUBJECT, subject, 0)
    n_slots, n_images = config.n_blocks_per_class * config.trials_per_block, config.images_per_class
    pairs = []
    for _ in config.class_indices:
        if config.preset.image_pairing == "random":
            pairs.append(rng.integers(0, n_images, size=n_slots))
        else:  # every exemplar shown once before any is repeated, in a fresh order each round
            rounds = [rng.permutation(n_images) for _ in range(-(-n_slots // n_images))]
            pairs.append(np.concatenate(rounds)[:n_slots])
    return np.concatenate(pairs)


# --------------------------------------------------------------------------------------------------
# EEG


def _exemplar_components(config: _SimConfig, geo: _Geometry) -> _Components | None:
    """One component per (kept class, exemplar), in the order label * images_per_class + image."""
    if config.preset.exemplar_weight == 0:
        return None
    parts = [
        _draw_components(_rng(config.seed, _KEY_EXEMPLAR_EEG, c, k), 1, 1, geo)
        for c in config.class_indices
        for k in range(config.images_per_class)
    ]
    fields = ("patterns", "latency", "width", "freq", "phase")
    return _Components(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def _simulate_subject(
    config: _SimConfig,
    subject: int,
    design: dict[str, np.ndarray],
    comps: tuple[_Components, _Components | None],
    geo: _Geometry,
) -> np.ndarray:
    """EEG of one subject's trials (`design` restricted to that subject), shape (n, C, T)."""
    class_comps, exemplar_comps = comps
    topo_rng, evoked_rng, background_rng, drift_rng = (_rng(config.seed, _KEY_SUBJECT, subject, k) for k in range(1, 5))
    subject_comps = _for_subject(topo_rng, class_comps, geo).take(np.asarray(config.class_indices))
    alpha_freq = topo_rng.uniform(8.5, 11.5)
    evoked = _evoked(evoked_rng, subject_comps.take(design["label"]), geo)
    if exemplar_comps is not None:
        weight = config.preset.exemplar_weight
        which = design["label"] * config.images_per_class + design["image"]
        evoked += weight * _evoked(evoked_rng, exemplar_comps.take(which), geo)
        evoked /= math.sqrt(1.0 + weight**2)
    eeg = _background(background_rng, len(design["label"]), alpha_freq, geo)
    eeg += np.float32(config.snr) * evoked
    if config.block_drift > 0:
        blocks, block_index = np.unique(design["block"], return_inverse=True)
        onset = design["position"] * config.preset.trial_interval_s
        eeg += np.float32(config.block_drift) * _drift(drift_rng, block_index, onset, len(blocks), geo)
    return eeg


def _simulate_eeg(config: _SimConfig, design: dict[str, np.ndarray], geo: _Geometry) -> np.ndarray:
    """All trials, float32 (n_trials, n_chans, n_times), with the positive-maximum guard applied."""
    n_classes = len(config.preset.class_names)
    class_comps = _draw_components(_rng(config.seed, _KEY_CLASSES), n_classes, _N_CLASS_COMPONENTS, geo)
    comps = (class_comps, _exemplar_components(config, geo))
    eeg = np.empty((len(design["label"]), config.preset.n_chans, config.preset.n_times), dtype=np.float32)
    for subject in range(config.n_subjects):
        rows = np.flatnonzero(design["subject_index"] == subject)
        subject_design = {key: value[rows] for key, value in design.items()}
        eeg[rows] = _simulate_subject(config, subject, subject_design, comps, geo)
    trial_max = eeg.max(axis=(1, 2))
    low = np.flatnonzero(trial_max < _MIN_TRIAL_MAX)  # the authors' 2x / max - 1 scaling needs max > 0
    eeg[low] += (_MIN_TRIAL_MAX - trial_max[low]).astype(np.float32)[:, None, None]
    return eeg


# --------------------------------------------------------------------------------------------------
# Images

_SHAPES = ("ellipse", "rectangle", "triangle", "star", "cross", "ring", "arrow", "crescent")
_SATURATION = (0.6, 0.95)  # range of an exemplar's colour saturation
_VALUE = (0.65, 0.95)  # range of an exemplar's colour brightness
_HUE_JITTER = 0.02
_HUE_NAMES = ("red", "orange", "yellow", "yellow-green", "green", "spring green", "cyan", "azure", "blue", "violet",
              "magenta", "rose")  # every 30 degrees of the colour wheel


def _class_look(class_index: int, n_classes: int) -> tuple[str, float]:
    """Shape and hue of class `class_index` of a preset with `n_classes` classes: shape `c % 8`, hue `c / n`;
    classes that share a shape differ in hue by at least 8 / n_classes of the colour wheel."""
    return _SHAPES[class_index % len(_SHAPES)], class_index / n_classes


def class_legend(preset: str, classes: Sequence[str] | None = None) -> list[dict[str, str]]:
    """How the simulator draws each class of a preset: `{"class", "shape", "colour", "rgb"}` per class, in label
    order (`classes` keeps only those names).

    `colour` names the hue (nearest of 12 names, 30 degrees apart); `rgb` (`"#rrggbb"`) is that hue at the middle
    of the exemplars' saturation and brightness ranges (each exemplar varies a little around it).
    """
    if preset not in SIMULATION_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(SIMULATION_PRESETS)}")
    names = SIMULATION_PRESETS[preset].class_names
    rows = []
    for c, name in enumerate(names):
        if classes is not None and name not in classes:
            continue
        shape, hue = _class_look(c, len(names))
        rgb = colorsys.hsv_to_rgb(hue, sum(_SATURATION) / 2, sum(_VALUE) / 2)
        rows.append({"class": name, "shape": shape, "colour": _HUE_NAMES[round(hue * 12) % 12],
                     "rgb": "#" + "".join(f"{round(v * 255):02x}" for v in rgb)})
    return rows


def class_shape_svg(shape: str, rgb: str, size: int = 20, key: str = "") -> str:
    """An inline SVG icon of a simulator shape (the polygons the images are drawn with) filled with colour `rgb`;
    `key` makes the id of its hole mask unique on a page."""
    if shape not in _SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {list(_SHAPES)}")
    mask_id = f"eeg2img-shape-{shape}{key}"
    layers = "".join(
        f'<polygon points="{" ".join(f"{x:.3f},{y:.3f}" for x, y in np.asarray(vertices, dtype=float))}" '
        f'fill="{"white" if fill else "black"}"/>' for vertices, fill in _shape_layers(shape))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-1.1 -1.1 2.2 2.2" width="{size}" height="{size}" '
            f'role="img" aria-label="{shape}"><mask id="{mask_id}"><rect x="-2" y="-2" width="4" height="4" '
            f'fill="black"/>{layers}</mask><rect x="-2" y="-2" width="4" height="4" fill="{rgb}" '
            f'mask="url(#{mask_id})"/></svg>')


def class_legend_markdown(preset: str) -> str:
    """[`class_legend`] of a preset as a Markdown table (class, shape, colour, RGB)."""
    lines = ["| class | shape | colour | RGB |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['class']} | {r['shape']} | {r['colour']} | `{r['rgb']}` |" for r in class_legend(preset)]
    return "\n".join(lines)


def _regular(n: int, radius: float = 1.0, offset: float = 0.0) -> np.ndarray:
    angles = offset + 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _shape_layers(shape: str) -> list[tuple[np.ndarray, int]]:
    """Polygons in unit coordinates with the mask value they paint (255 = shape, 0 = hole)."""
    if shape == "ellipse":
        return [(_regular(48) * [1.0, 0.62], 255)]
    if shape == "rectangle":
        return [(np.array([[-1.0, -0.55], [1.0, -0.55], [1.0, 0.55], [-1.0, 0.55]]), 255)]
    if shape == "triangle":
        return [(_regular(3, offset=np.pi / 2), 255)]
    if shape == "star":
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)[:, None]
        return [(_regular(10, offset=np.pi / 2) * radii, 255)]
    if shape == "cross":
        arm = 0.3
        quarter = [[arm, arm], [arm, 1.0], [-arm, 1.0], [-arm, arm]]
        rot = np.array([[0.0, -1.0], [1.0, 0.0]])
        points = [np.array(quarter) @ np.linalg.matrix_power(rot, k).T for k in range(4)]
        return [(np.concatenate(points), 255)]
    if shape == "ring":
        return [(_regular(48), 255), (_regular(48, radius=0.55), 0)]
    if shape == "arrow":
        outline = [[-1, 0.3], [0.15, 0.3], [0.15, 0.75], [1, 0], [0.15, -0.75], [0.15, -0.3], [-1, -0.3]]
        return [(np.array(outline, dtype=float), 255)]
    return [(_regular(48), 255), (_regular(48, radius=0.85) + [0.45, 0.0], 0)]  # crescent


def _background_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    base = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.3), rng.uniform(0.15, 0.55)))
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0.0, 2 * np.pi)
    along = xx * np.cos(angle) + yy * np.sin(angle)
    kind = rng.integers(0, 4)
    if kind == 0:
        texture = np.zeros((size, size))
    elif kind == 1:
        texture = 0.2 * (along - 0.5)
    elif kind == 2:
        texture = 0.08 * np.sin(2 * np.pi * rng.uniform(3.0, 8.0) * along)
    else:
        texture = 0.06 * rng.standard_normal((size, size))
    return np.clip(base + texture[..., None], 0.0, 1.0)


def _render_exemplar(rng: np.random.Generator, shape: str, hue: float, size: int) -> bytes:
    """PNG bytes of one exemplar: a coloured shape on a textured background, randomly placed."""
    background = _background_texture(rng, size)
    saturation, value = rng.uniform(*_SATURATION), rng.uniform(*_VALUE)
    colour = np.array(colorsys.hsv_to_rgb((hue + rng.uniform(-_HUE_JITTER, _HUE_JITTER)) % 1.0, saturation, value))
    big = 2 * size  # draw at 2x and downsample for anti-aliased edges
    radius, angle = rng.uniform(0.25, 0.4) * big, rng.uniform(-np.pi / 4, np.pi / 4)
    center = big / 2 + rng.uniform(-0.15, 0.15, size=2) * big
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    for vertices, fill in _shape_layers(shape):
        points = center + radius * np.asarray(vertices, dtype=float) @ rotation.T
        draw.polygon([tuple(p) for p in points], fill=fill)
    alpha = np.asarray(mask.resize((size, size), Image.Resampling.BOX), dtype=np.float64)[..., None] / 255.0
    pixels = background * (1.0 - alpha) + colour * alpha
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _class_key(preset: SimulationPreset, class_index: int) -> str:
    if preset.class_ids is not None:
        return preset.class_ids[class_index]
    return preset.class_names[class_index].lower().replace(" ", "-")


def _render_images(config: _SimConfig) -> tuple[list[str], list[bytes]]:
    """Image ids and PNG bytes of every exemplar, in the order label * images_per_class + image.

    Each class is drawn as its shape in its colour ([`class_legend`]).
    """
    n_classes = len(config.preset.class_names)
    ids, pngs = [], []
    for c in config.class_indices:
        shape, hue = _class_look(c, n_classes)
        for k in range(config.images_per_class):
            ids.append(f"{_class_key(config.preset, c)}_{k}")
            pngs.append(_render_exemplar(_rng(config.seed, _KEY_EXEMPLAR_IMAGE, c, k), shape, hue, config.image_size))
    return ids, pngs


# --------------------------------------------------------------------------------------------------
# Assembly


def _build_split(columns: dict[str, np.ndarray | list], features: Features, split: str, fingerprint: str) -> Dataset:
    """A `Dataset` straight from Arrow arrays (`Dataset.from_dict` would hash the whole EEG array)."""
    schema = features.arrow_schema
    image_type = schema.field("image").type
    images = pa.StructArray.from_arrays(
        [pa.array(columns["image"], type=pa.binary()), pa.nulls(len(columns["image"]), type=pa.string())],
        fields=list(image_type),
    )
    arrays = {"eeg": eeg_arrow(columns["eeg"], schema.field("eeg").type), "image": images}
    for name in ("label", "subject", "image_id", "block"):
        arrays[name] = pa.array(columns[name], type=schema.field(name).type)
    table = InMemoryTable(pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema))
    info = DatasetInfo(features=features)
    return Dataset(table, info=info, split=NamedSplit(split), fingerprint=fingerprint)


def _eeg_info(config: _SimConfig) -> dict:
    spec = config.preset
    return {
        "name": f"sim-{spec.name}",
        "sfreq": spec.sfreq,
        "ch_names": list(spec.ch_names),
        "n_chans": spec.n_chans,
        "n_times": spec.n_times,
        "class_ids": None if spec.class_ids is None else [spec.class_ids[i] for i in config.class_indices],
        "preprocessing": [],
        "split": config.split,
        "simulated": True,
        "units": "arbitrary (background RMS ~ 1)",
        "image_pairing": spec.image_pairing,
        "simulator": {
            **config.to_json_dict(),
            "exemplar_weight": spec.exemplar_weight,
            "trial_interval_s": spec.trial_interval_s,
            "min_trial_max": _MIN_TRIAL_MAX,
            "version": _SIMULATOR_VERSION,
        },
    }


def _assemble(config: _SimConfig, eeg: np.ndarray, design: dict, images: tuple, splits: dict) -> DatasetDict:
    image_ids, pngs = images
    exemplar = design["label"] * config.images_per_class + design["image"]
    spec = config.preset
    features = make_features(spec.n_chans, spec.n_times, [spec.class_names[i] for i in config.class_indices])
    info = _eeg_info(config)
    digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()
    out = {}
    for name in SPLIT_NAMES:
        index = splits[name]
        columns = {
            "eeg": eeg[index],
            "image": [pngs[i] for i in exemplar[index]],
            "label": design["label"][index],
            "subject": design["subject_index"][index] + 1,
            "image_id": [image_ids[i] for i in exemplar[index]],
            "block": design["block"][index],
        }
        out[name] = _build_split(columns, features, name, fingerprint=f"sim-{digest[:24]}-{name}")
    return set_eeg_info(DatasetDict(out), info)


# --------------------------------------------------------------------------------------------------
# Public API


def simulate_dataset(
    preset: str = "thoughtviz",
    *,
    seed: int = 0,
    snr: float | None = None,
    block_drift: float = 0.0,
    n_subjects: int | None = None,
    n_blocks_per_class: int | None = None,
    trials_per_block: int | None = None,
    images_per_class: int | None = None,
    image_size: int = 64,
    split: str = "within-block",
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    classes: list[str] | None = None,
    **preset_options,
) -> DatasetDict:
    """Simulate an EEG-image dataset shaped like one of the paper's datasets (see the module docstring).

    The `"things-eeg2"` preset (concepts x images x repetitions with unseen test concepts) is simulated by
    [`~eeg2img_hf.data.simulate_things.simulate_things_eeg2`]: `seed`, `snr`, `n_subjects`, `image_size` and
    `val_fraction` apply, its counts come as `preset_options` (`n_train_concepts`, `n_test_concepts`,
    `train_images_per_concept`, `train_repetitions`, `test_repetitions`, `concept_weight`, `image_weight`).

    Every block holds the trials of one class of one subject; each subject has `n_blocks_per_class`
    blocks per class; `block` ids are unique across the dataset. Images are procedural (one shape
    family and hue per class, exemplars varying in position, size, rotation, background and hue);
    trials that share an `image_id` share the exact same PNG bytes. Rows are in recording order
    (subject, class, block, trial): shuffle before training.

    Default sizes (subjects x classes x blocks x trials per block; train/validation/test rows):
    `"thoughtviz"` 23 x 10 x 3 x 5 = 3,450 (2,070/690/690); `"object"` 10 x 6 x 3 x 12 = 2,160
    (1,440/360/360); `"eegcvpr40"` 6 x 40 x 3 x 4 = 2,880 (1,440/720/720, about 650 MB of EEG).

    Args:
        preset (`str`, *optional*, defaults to `"thoughtviz"`):
            One of `SIMULATION_PRESETS`: `"eegcvpr40"` (40 classes, 128 x 440 at 1 kHz, 6 subjects),
            `"thoughtviz"` (10 classes, 14 x 32 at 128 Hz, 23 subjects, imagery: each trial gets a
            seeded random same-class exemplar) or `"object"` (6 classes, 124 x 32 at 62.5 Hz,
            10 subjects, 12 exemplars per class).
        seed (`int`, *optional*, defaults to 0):
            Seed of every random draw, an integer in `[0, 2**32 - 1]`; the same arguments give identical datasets.
        snr (`float`, *optional*):
            RMS(evoked) / RMS(background); defaults to the preset's value. 0 gives pure background.
        block_drift (`float`, *optional*, defaults to 0.0):
            RMS of the per-block offset + slow drift, relative to the background RMS; 0 turns it off.
        n_subjects (`int`, *optional*):
            Number of subjects (preset default if `None`).
        n_blocks_per_class (`int`, *optional*):
            Blocks per class and subject (preset default 3; the block-held-out split needs >= 2 blocks
            per class).
        trials_per_block (`int`, *optional*):
            Trials per block (preset default; the within-block split needs >= 3).
        images_per_class (`int`, *optional*):
            Exemplar images per class (preset default).
        image_size (`int`, *optional*, defaults to 64):
            Side of the square RGB images, in pixels.
        split (`str`, *optional*, defaults to `"within-block"`):
            One of `SPLIT_STRATEGIES` (`"paper"` draws whole exemplar images per class,
            `"subject-held-out"` whole subjects), see [`split_trials`].
        val_fraction (`float`, *optional*, defaults to 0.15):
            Target fraction for the validation split.
        test_fraction (`float`, *optional*, defaults to 0.2):
            Target fraction for the test split.
        classes (`list[str]`, *optional*):
            Keep only these preset class names (labels follow the preset order of the kept classes).

    Returns:
        `datasets.DatasetDict` with splits `train`, `validation`, `test` following
        [`make_features`], and its metadata (see [`get_eeg_info`]) in every split's info.
    """
    if isinstance(SIMULATION_PRESETS.get(preset), ThingsSimulationPreset):
        block_options = {"block_drift": (block_drift, 0.0), "n_blocks_per_class": (n_blocks_per_class, None),
                         "trials_per_block": (trials_per_block, None), "images_per_class": (images_per_class, None),
                         "split": (split, "within-block"), "test_fraction": (test_fraction, 0.2),
                         "classes": (classes, None)}
        unused = sorted(name for name, (value, default) in block_options.items() if value != default)
        if unused:
            raise ValueError(f"{unused} do not apply to the {preset!r} preset (concepts x images x repetitions, "
                             "zero-shot split); its options are n_train_concepts, n_test_concepts, "
                             "train_images_per_concept, train_repetitions, test_repetitions")
        return simulate_things_eeg2(seed=seed, snr=snr, n_subjects=n_subjects, image_size=image_size,
                                    val_fraction=val_fraction, **preset_options)
    if preset_options:
        raise ValueError(f"unknown simulation arguments {sorted(preset_options)} for preset {preset!r}")
    config = _resolve_config(
        preset, seed=seed, snr=snr, block_drift=block_drift, n_subjects=n_subjects,
        n_blocks_per_class=n_blocks_per_class, trials_per_block=trials_per_block, images_per_class=images_per_class,
        image_size=image_size, split=split, val_fraction=val_fraction, test_fraction=test_fraction, classes=classes,
    )
    design = _trial_design(config)
    split_seed = int(np.random.SeedSequence(seed, spawn_key=(_KEY_SPLIT,)).generate_state(1)[0])
    exemplar = design["label"] * config.images_per_class + design["image"]
    arrays = {"blocks": design["block"], "images": exemplar.astype(str), "subjects": design["subject_index"] + 1}
    splits = split_trials(
        design["label"], arrays["blocks"], arrays["images"], strategy=split, val_fraction=val_fraction,
        test_fraction=test_fraction, seed=split_seed, subjects=arrays["subjects"],
    )
    check_disjoint(splits, **{k: v for k, v in arrays.items() if k in SPLIT_GUARANTEES[split]})
    eeg = _simulate_eeg(config, design, _build_geometry(config.preset))
    return _assemble(config, eeg, design, _render_images(config), splits)


# The THINGS-EEG2 simulator builds on the helpers above (imported last: it imports them from this module).
from .simulate_things import THINGS_PRESET, ThingsSimulationPreset, simulate_things_eeg2  # noqa: E402

SIMULATION_PRESETS[THINGS_PRESET.name] = THINGS_PRESET
