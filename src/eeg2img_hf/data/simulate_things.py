"""A simulated THINGS-EEG2: many concepts, few images each, repetitions, and test concepts never seen in training.

Shapes follow the preprocessed THINGS-EEG2 release (17 occipital / parietal channels, 100 samples at 100 Hz from
-0.2 s) and its design (training concepts x images x repetitions, test concepts x 1 image x many repetitions,
several subjects); the counts default to a scaled-down version that simulates in seconds (see
[`THINGS_SIMULATION_DEFAULTS`]; the release's counts are in [`THINGS_EEG2_RELEASE_COUNTS`]).

Zero-shot transfer is possible but not trivial because concepts share visual attributes:

- every concept draws a shape family (8), a hue (continuous), a background texture kind (4: flat, gradient,
  stripes, speckle) and an object size (continuous); its images are that shape in that hue on that texture,
  varying in position, rotation, size, hue (slightly) and background colour;
- the evoked response of a concept is a sum of ATTRIBUTE components (a template per shape family and per
  texture kind, two hue templates weighted by the cosine and sine of the hue angle, a size template weighted
  by the size), plus a CONCEPT component that no image attribute predicts, plus a weaker IMAGE component;
  each subject sees perturbed templates (topographies, latencies, gains), each trial has latency jitter and
  amplitude variability, and background noise as in [`simulate_dataset`] (pink + alpha + white, RMS about 1);
- so an image tower that encodes the attributes maps unseen test concepts near their EEG, while the concept
  component (`concept_weight`) and the noise (`snr`, repetitions) keep the task hard.

Evoked latencies are 80..400 ms after stimulus onset (sample 20). Every random draw comes from
`numpy.random.SeedSequence(seed, spawn_key=...)` children, one per purpose, so a dataset is a pure function of
its arguments. The schema is that of the `things-eeg2` converter (extra columns `repetition`, `session`,
`things_index`, `official_split`), split `things-zero-shot`: `train` / `validation` (concept-disjoint, carved
from the training concepts) / `test` (the test concepts).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from datasets import Dataset, DatasetDict, DatasetInfo, NamedSplit, Value
from datasets.table import InMemoryTable
from PIL import Image, ImageDraw

from ..utils.checks import check_seed
from .features import eeg_arrow, make_features, set_eeg_info
from .simulate import (
    _SHAPES,
    _background,
    _build_geometry,
    _Components,
    _draw_components,
    _evoked,
    _for_subject,
    _rng,
    _shape_layers,
)

__all__ = ["THINGS_EEG2_RELEASE_COUNTS", "THINGS_SIMULATION_DEFAULTS", "ThingsSimulationPreset",
           "concept_attributes", "simulate_things_eeg2"]

THINGS_CHANNELS = ("Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz", "PO4", "PO8",
                   "P6", "P2")
TEXTURES = ("flat", "gradient", "stripes", "speckle")


@dataclass(frozen=True)
class ThingsSimulationPreset:
    """Shape and default sizes of the simulated THINGS-EEG2 (a fixed reference once shipped).

    Args:
        name (`str`): preset name.
        ch_names (`tuple[str, ...]`): channel names (the release's 17).
        sfreq (`float`): sampling frequency in Hz.
        n_times (`int`): samples per trial.
        t_min (`float`): time of the first sample, seconds from stimulus onset.
        n_subjects, n_train_concepts, n_test_concepts, train_images_per_concept, train_repetitions,
            test_repetitions (`int`): default counts (scaled down from the release).
        snr (`float`): default RMS(evoked) / RMS(background) of a single trial.
        concept_weight (`float`): size of the concept component that no image attribute predicts, relative to the
            attribute components together.
        image_weight (`float`): size of the image-specific component, relative to the attribute components.
    """

    name: str
    ch_names: tuple[str, ...]
    sfreq: float
    n_times: int
    t_min: float
    n_subjects: int
    n_train_concepts: int
    n_test_concepts: int
    train_images_per_concept: int
    train_repetitions: int
    test_repetitions: int
    snr: float
    concept_weight: float
    image_weight: float

    @property
    def n_chans(self) -> int:
        return len(self.ch_names)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Concept names of the default counts with seed 0 (names carry the seed's attributes)."""
        return tuple(_concept_names(self.n_train_concepts + self.n_test_concepts, self.name, 0))


THINGS_PRESET = ThingsSimulationPreset(
    name="things-eeg2", ch_names=THINGS_CHANNELS, sfreq=100.0, n_times=100, t_min=-0.2, n_subjects=2,
    n_train_concepts=150, n_test_concepts=50, train_images_per_concept=4, train_repetitions=2, test_repetitions=10,
    snr=0.35, concept_weight=0.6, image_weight=0.3,
)

THINGS_SIMULATION_DEFAULTS = {
    "n_subjects": 2, "n_train_concepts": 150, "n_test_concepts": 50, "train_images_per_concept": 4,
    "train_repetitions": 2, "test_repetitions": 10,
}
"""Default counts of the simulated preset: 2 x (150 x 4 x 2 + 50 x 1 x 10) = 3,400 trials, seconds to simulate."""

THINGS_EEG2_RELEASE_COUNTS = {
    "n_subjects": 10, "n_train_concepts": 1654, "n_test_concepts": 200, "train_images_per_concept": 10,
    "train_repetitions": 4, "test_repetitions": 80,
}
"""The counts of the real release (pass them to simulate a full-size dataset: about 820,000 trials)."""

_KEY_TEMPLATES, _KEY_CONCEPTS, _KEY_CONCEPT_EEG, _KEY_IMAGE_EEG, _KEY_IMAGE, _KEY_SUBJECT, _KEY_SPLIT = range(7)
_SIZE_RANGE = (0.22, 0.42)  # object radius / image side
_VERSION = 1


def _concept_names(n: int, preset: str, seed: int) -> list[str]:
    attributes = concept_attributes(n, seed)
    return [f"c{c + 1:04d}-{_SHAPES[s]}-{TEXTURES[t]}" for c, (s, t) in
            enumerate(zip(attributes["shape"], attributes["texture"]))]


def concept_attributes(n: int, seed: int) -> dict[str, np.ndarray]:
    """Shape family, hue, texture kind and size of `n` concepts (concept c's draw depends on c and seed only)."""
    out: dict[str, list] = {"shape": [], "hue": [], "texture": [], "size": [], "texture_param": []}
    for c in range(n):
        rng = _rng(seed, _KEY_CONCEPTS, c)
        out["shape"].append(int(rng.integers(len(_SHAPES))))
        out["hue"].append(float(rng.uniform()))
        out["texture"].append(int(rng.integers(len(TEXTURES))))
        out["size"].append(float(rng.uniform(*_SIZE_RANGE)))
        out["texture_param"].append(float(rng.uniform()))
    return {k: np.asarray(v) for k, v in out.items()}


# --------------------------------------------------------------------------------------------------
# Images


def _texture(kind: int, param: float, rng: np.random.Generator, size: int) -> np.ndarray:
    """Background of one image: a random dark base colour with the concept's texture kind."""
    base = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.35), rng.uniform(0.2, 0.5)))
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = 2 * np.pi * param + rng.normal(0.0, 0.2)
    along = xx * np.cos(angle) + yy * np.sin(angle)
    if kind == 0:
        texture = np.zeros((size, size))
    elif kind == 1:
        texture = 0.45 * (along - 0.5)
    elif kind == 2:
        texture = 0.22 * np.sign(np.sin(2 * np.pi * (3.0 + 4.0 * param) * along))
    else:
        texture = 0.18 * rng.standard_normal((size, size))
    return np.clip(base + texture[..., None], 0.0, 1.0)


def _render(rng: np.random.Generator, shape: int, hue: float, radius: float, kind: int, param: float,
            size: int) -> bytes:
    """PNG bytes of one image of a concept."""
    background = _texture(kind, param, rng, size)
    colour = np.array(colorsys.hsv_to_rgb((hue + rng.normal(0.0, 0.015)) % 1.0, rng.uniform(0.65, 0.95),
                                          rng.uniform(0.7, 0.95)))
    big = 2 * size
    r = radius * rng.uniform(0.9, 1.1) * big
    angle = rng.uniform(-np.pi / 4, np.pi / 4)
    center = big / 2 + rng.uniform(-0.12, 0.12, size=2) * big
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    for vertices, fill in _shape_layers(_SHAPES[shape]):
        points = center + r * np.asarray(vertices, dtype=float) @ rotation.T
        draw.polygon([tuple(p) for p in points], fill=fill)
    alpha = np.asarray(mask.resize((size, size), Image.Resampling.BOX), dtype=np.float64)[..., None] / 255.0
    pixels = background * (1.0 - alpha) + colour * alpha
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# EEG


def _stack(parts: list[tuple[_Components, np.ndarray]], onset: float) -> _Components:
    """Per-concept components: one single-component set per part, patterns scaled by the part's weights."""
    return _Components(
        patterns=np.concatenate([c.patterns * w[:, None, None] for c, w in parts], axis=2),
        latency=np.concatenate([c.latency for c, _ in parts], axis=1) + onset,
        width=np.concatenate([c.width for c, _ in parts], axis=1),
        freq=np.concatenate([c.freq for c, _ in parts], axis=1),
        phase=np.concatenate([c.phase for c, _ in parts], axis=1),
    )


def _concept_components(templates: _Components, concepts: _Components, attributes: dict[str, np.ndarray],
                        concept_weight: float, onset: float) -> _Components:
    """Attribute templates (8 shapes, 4 textures, hue cos, hue sin, size) gathered per concept + its own component.

    The five attribute parts have unit weight in total (each 1 / sqrt(5) on average); the concept component has
    `concept_weight`.
    """
    n_shapes, n_textures = len(_SHAPES), len(TEXTURES)
    hue, size = 2 * np.pi * attributes["hue"], attributes["size"]
    size_z = (size - np.mean(_SIZE_RANGE)) / ((_SIZE_RANGE[1] - _SIZE_RANGE[0]) / math.sqrt(12))
    unit = 1.0 / math.sqrt(5.0)
    parts = [
        (templates.take(attributes["shape"]), np.full(len(hue), unit)),
        (templates.take(n_shapes + attributes["texture"]), np.full(len(hue), unit)),
        (templates.take(np.full(len(hue), n_shapes + n_textures)), unit * math.sqrt(2) * np.cos(hue)),
        (templates.take(np.full(len(hue), n_shapes + n_textures + 1)), unit * math.sqrt(2) * np.sin(hue)),
        (templates.take(np.full(len(hue), n_shapes + n_textures + 2)), unit * size_z),
        (concepts, np.full(len(hue), concept_weight)),
    ]
    return _stack(parts, onset)


@dataclass(frozen=True)
class _ThingsConfig:
    seed: int
    snr: float
    n_subjects: int
    n_train_concepts: int
    n_test_concepts: int
    train_images_per_concept: int
    train_repetitions: int
    test_repetitions: int
    image_size: int
    val_fraction: float
    concept_weight: float
    image_weight: float


def _design(config: _ThingsConfig) -> dict[str, np.ndarray]:
    """Trial table ordered by (subject, part, concept, image, repetition); images indexed globally."""
    rows: dict[str, list] = {k: [] for k in ("subject", "concept", "image", "repetition", "test")}
    n_train, n_img = config.n_train_concepts, config.train_images_per_concept
    for subject in range(config.n_subjects):
        for c in range(n_train + config.n_test_concepts):
            test = c >= n_train
            images = [n_train * n_img + (c - n_train)] if test else [c * n_img + k for k in range(n_img)]
            for image in images:
                for rep in range(config.test_repetitions if test else config.train_repetitions):
                    for key, value in zip(rows, (subject, c, image, rep, test)):
                        rows[key].append(value)
    return {k: np.asarray(v) for k, v in rows.items()}


def _simulate_eeg(config: _ThingsConfig, design: dict[str, np.ndarray], attributes: dict[str, np.ndarray],
                  n_images: int) -> np.ndarray:
    geo = _build_geometry(THINGS_PRESET)
    n_concepts = config.n_train_concepts + config.n_test_concepts
    n_templates = len(_SHAPES) + len(TEXTURES) + 3
    templates = _draw_components(_rng(config.seed, _KEY_TEMPLATES), n_templates, 1, geo)
    concepts = _draw_components(_rng(config.seed, _KEY_CONCEPT_EEG), n_concepts, 1, geo)
    images = _draw_components(_rng(config.seed, _KEY_IMAGE_EEG), n_images, 1, geo)
    onset = -THINGS_PRESET.t_min
    images = _Components(images.patterns, images.latency + onset, images.width, images.freq, images.phase)
    scale = math.sqrt(1.0 + config.concept_weight**2 + config.image_weight**2)
    eeg = np.empty((len(design["subject"]), THINGS_PRESET.n_chans, THINGS_PRESET.n_times), dtype=np.float32)
    for subject in range(config.n_subjects):
        rows = np.flatnonzero(design["subject"] == subject)
        topo, evoked_rng, background_rng = (_rng(config.seed, _KEY_SUBJECT, subject, k) for k in range(3))
        subject_templates = _for_subject(topo, templates, geo)
        subject_concepts = _for_subject(topo, concepts, geo)
        per_concept = _concept_components(subject_templates, subject_concepts, attributes, config.concept_weight,
                                          onset)
        evoked = _evoked(evoked_rng, per_concept.take(design["concept"][rows]), geo)
        evoked += config.image_weight * _evoked(evoked_rng, images.take(design["image"][rows]), geo)
        evoked /= np.float32(scale)
        out = _background(background_rng, len(rows), topo.uniform(8.5, 11.5), geo)
        out += np.float32(config.snr) * evoked
        eeg[rows] = out
    return eeg


# --------------------------------------------------------------------------------------------------
# Public API


def _check_count(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def simulate_things_eeg2(
    *,
    seed: int = 0,
    snr: float | None = None,
    n_subjects: int | None = None,
    n_train_concepts: int | None = None,
    n_test_concepts: int | None = None,
    train_images_per_concept: int | None = None,
    train_repetitions: int | None = None,
    test_repetitions: int | None = None,
    image_size: int = 64,
    val_fraction: float = 0.15,
    concept_weight: float | None = None,
    image_weight: float | None = None,
) -> DatasetDict:
    """Simulate a THINGS-EEG2-shaped dataset with a zero-shot split (see the module docstring).

    Defaults (preset `"things-eeg2"`): 2 subjects; 150 training concepts x 4 images x 2 repetitions and 50 test
    concepts x 1 image x 10 repetitions per subject (3,400 trials); 15 % of the training concepts for validation;
    single-trial SNR 0.35. Pass [`THINGS_EEG2_RELEASE_COUNTS`] for the release's sizes.

    Args:
        seed (`int`, *optional*, defaults to 0): seed of every random draw, in `[0, 2**32 - 1]`.
        snr (`float`, *optional*): RMS(evoked) / RMS(background) of one trial (default 0.35).
        n_subjects, n_train_concepts, n_test_concepts, train_images_per_concept, train_repetitions,
            test_repetitions (`int`, *optional*): counts (defaults above).
        image_size (`int`, *optional*, defaults to 64): side of the square RGB images.
        val_fraction (`float`, *optional*, defaults to 0.15): share of the training concepts for validation
            (concept-disjoint, seeded; at least one when > 0).
        concept_weight (`float`, *optional*): the attribute-free concept component (default 0.6).
        image_weight (`float`, *optional*): the image-specific component (default 0.3).

    Returns:
        `datasets.DatasetDict` with `train`, `validation` (when `val_fraction` > 0) and `test`; EEG `(17, 100)`.
    """
    spec = THINGS_PRESET
    values = {"n_subjects": n_subjects, "n_train_concepts": n_train_concepts, "n_test_concepts": n_test_concepts,
              "train_images_per_concept": train_images_per_concept, "train_repetitions": train_repetitions,
              "test_repetitions": test_repetitions}
    values = {k: getattr(spec, k) if v is None else v for k, v in values.items()}
    for name, value in values.items():
        _check_count(name, value, 2 if name in ("n_train_concepts", "n_test_concepts") else 1)
    check_seed(seed, "seed")
    _check_count("image_size", image_size, 8)
    floats = {"snr": spec.snr if snr is None else snr,
              "concept_weight": spec.concept_weight if concept_weight is None else concept_weight,
              "image_weight": spec.image_weight if image_weight is None else image_weight}
    for name, value in floats.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    n_trials = values["n_subjects"] * (values["n_train_concepts"] * values["train_images_per_concept"]
                                       * values["train_repetitions"] + values["n_test_concepts"]
                                       * values["test_repetitions"])
    if n_trials * spec.n_chans * spec.n_times >= 2**31:
        raise ValueError(f"the requested dataset has {n_trials} trials, more than 2**31 values; reduce the counts")
    config = _ThingsConfig(seed=seed, image_size=image_size, val_fraction=float(val_fraction),
                           **{k: float(v) for k, v in floats.items()}, **values)

    n_concepts = config.n_train_concepts + config.n_test_concepts
    attributes = concept_attributes(n_concepts, seed)
    names = _concept_names(n_concepts, spec.name, seed)
    n_val = 0 if val_fraction <= 0 else int(min(max(1, np.floor(val_fraction * config.n_train_concepts + 0.5)),
                                                config.n_train_concepts - 1))
    order = _rng(seed, _KEY_SPLIT).permutation(config.n_train_concepts)
    val_concepts = set(order[:n_val].tolist())
    n_images = config.n_train_concepts * config.train_images_per_concept + config.n_test_concepts
    image_concept = np.concatenate([np.repeat(np.arange(config.n_train_concepts), config.train_images_per_concept),
                                    np.arange(config.n_train_concepts, n_concepts)])
    image_ids, pngs = [], []
    for i, c in enumerate(image_concept):
        k = i - c * config.train_images_per_concept if c < config.n_train_concepts else 0
        folder = "test_images" if c >= config.n_train_concepts else "training_images"
        image_ids.append(f"{folder}/{names[c]}/{k:02d}")
        pngs.append(_render(_rng(seed, _KEY_IMAGE, i), int(attributes["shape"][c]), float(attributes["hue"][c]),
                            float(attributes["size"][c]), int(attributes["texture"][c]),
                            float(attributes["texture_param"][c]), image_size))
    design = _design(config)
    eeg = _simulate_eeg(config, design, attributes, n_images)
    split_of = np.where(design["test"], 2, np.where(np.isin(design["concept"], list(val_concepts)), 1, 0))
    split_names = ["train", "validation", "test"] if n_val else ["train", "test"]
    features = make_features(spec.n_chans, spec.n_times, names)
    extra = {"repetition": Value("int32"), "session": Value("int32"), "things_index": Value("int32"),
             "official_split": Value("string")}
    for column, feature in extra.items():
        features[column] = feature
    concepts_in = {"train": sorted(set(range(config.n_train_concepts)) - val_concepts),
                   "validation": sorted(val_concepts),
                   "test": list(range(config.n_train_concepts, n_concepts))}
    info = {
        "name": f"sim-{spec.name}", "sfreq": spec.sfreq, "ch_names": list(spec.ch_names), "n_chans": spec.n_chans,
        "n_times": spec.n_times, "class_ids": None,
        "times_s": [spec.t_min, spec.t_min + (spec.n_times - 1) / spec.sfreq],
        "preprocessing": [],
        "split": {"strategy": "things-zero-shot", "disjoint": ["concepts"], "validation": {
                      "from": "training concepts", "fraction": float(val_fraction), "seed": seed,
                      "concepts": [names[c] for c in sorted(val_concepts)],
                      "rule": "the first max(1, round(fraction * n_train_concepts)) of numpy.random.default_rng("
                              "SeedSequence(seed, spawn_key=(6,))).permutation(n_train_concepts)"},
                  "test_concepts": [names[c] for c in concepts_in["test"]],
                  "counts": {s: {"trials": int((split_of == k).sum()), "classes": len(concepts_in[s]),
                                 "images": int(len(np.unique(design["image"][split_of == k]))),
                                 "subjects": config.n_subjects, "blocks": 0}
                             for k, s in enumerate(("train", "validation", "test")) if s in split_names}},
        "simulated": True, "units": "arbitrary (background RMS ~ 1)", "image_pairing": "shown",
        "subjects": list(range(1, config.n_subjects + 1)),
        "repetitions": {"train": config.train_repetitions, "test": config.test_repetitions,
                        "averaged": {"training": False, "test": False}},
        "concept_attributes": {"shapes": list(_SHAPES), "textures": list(TEXTURES),
                               "rule": "each concept: shape family, hue, texture kind and size drawn from "
                                       "SeedSequence(seed, spawn_key=(1, concept))"},
        "simulator": {"preset": spec.name, **{k: getattr(config, k) for k in config.__dataclass_fields__},
                      "t_min": spec.t_min, "version": _VERSION},
    }
    digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()
    out = {}
    for k, split in enumerate(("train", "validation", "test")):
        if split not in split_names:
            continue
        index = np.flatnonzero(split_of == k)
        columns = {
            "eeg": eeg[index], "image": [{"bytes": pngs[i], "path": None} for i in design["image"][index]],
            "label": design["concept"][index], "subject": design["subject"][index] + 1,
            "image_id": [image_ids[i] for i in design["image"][index]], "block": np.full(len(index), -1),
            "repetition": design["repetition"][index], "session": np.full(len(index), -1),
            "things_index": np.full(len(index), -1),
            "official_split": ["test" if split == "test" else "train"] * len(index),
        }
        out[split] = _arrow_split(columns, features, split, f"sim-things-{digest[:24]}-{split}")
    return set_eeg_info(DatasetDict(out), info)


def _arrow_split(columns: dict[str, Any], features: Any, split: str, fingerprint: str) -> Dataset:
    """A `Dataset` straight from Arrow arrays (no hashing of the EEG block)."""
    schema = features.arrow_schema
    image_type = schema.field("image").type
    images = pa.StructArray.from_arrays(
        [pa.array([c["bytes"] for c in columns["image"]], type=pa.binary()),
         pa.nulls(len(columns["image"]), type=pa.string())], fields=list(image_type))
    arrays = {"eeg": eeg_arrow(np.ascontiguousarray(columns["eeg"]), schema.field("eeg").type), "image": images}
    for name in schema.names:
        if name not in arrays:
            arrays[name] = pa.array(columns[name], type=schema.field(name).type)
    table = InMemoryTable(pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema))
    return Dataset(table, info=DatasetInfo(features=features), split=NamedSplit(split), fingerprint=fingerprint)
