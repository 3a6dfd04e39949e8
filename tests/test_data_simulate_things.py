"""The simulated THINGS-EEG2 preset: release shapes, design counts, zero-shot split, determinism,
attribute structure."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Image as ImageFeature

from eeg2img_hf.data import SIMULATION_PRESETS, get_eeg_info, load_eeg_dataset, simulate_dataset, validate_eeg_dataset
from eeg2img_hf.data.converters.things_eeg2 import THINGS_EEG2_CHANNELS
from eeg2img_hf.data.simulate_things import (
    THINGS_EEG2_RELEASE_COUNTS,
    THINGS_SIMULATION_DEFAULTS,
    concept_attributes,
    simulate_things_eeg2,
)

SMALL = {"n_subjects": 2, "n_train_concepts": 12, "n_test_concepts": 5, "train_images_per_concept": 2,
         "train_repetitions": 2, "test_repetitions": 3, "image_size": 16}


@pytest.fixture(scope="module")
def small():
    return simulate_dataset("things-eeg2", **SMALL)


def _columns(split, *names):
    return split.select_columns(list(names)).with_format("numpy")[:]


def test_release_shapes_and_design(small):
    spec = SIMULATION_PRESETS["things-eeg2"]
    assert spec.ch_names == THINGS_EEG2_CHANNELS and (spec.n_chans, spec.n_times, spec.sfreq) == (17, 100, 100.0)
    assert THINGS_EEG2_RELEASE_COUNTS == {"n_subjects": 10, "n_train_concepts": 1654, "n_test_concepts": 200,
                                          "train_images_per_concept": 10, "train_repetitions": 4,
                                          "test_repetitions": 80}
    assert {k: getattr(spec, k) for k in THINGS_SIMULATION_DEFAULTS} == THINGS_SIMULATION_DEFAULTS
    validate_eeg_dataset(small)
    assert list(small) == ["train", "validation", "test"]
    assert small["train"].features["eeg"].shape == (17, 100)
    assert len(small["train"].features["label"].names) == 17
    assert len(small["test"]) == 2 * 5 * 3
    assert len(small["train"]) + len(small["validation"]) == 2 * 12 * 2 * 2
    test = _columns(small["test"], "label", "image_id", "repetition", "subject", "official_split")
    train = _columns(small["train"], "label", "image_id", "repetition")
    val = _columns(small["validation"], "label")
    assert set(test["label"]) == set(range(12, 17)) and len(set(test["image_id"])) == 5
    assert not set(val["label"]) & set(train["label"]) and set(val["label"]) | set(train["label"]) == set(range(12))
    assert len(set(val["label"])) == 2  # round(0.15 * 12)
    assert sorted(set(test["repetition"])) == [0, 1, 2] and set(test["subject"]) == {1, 2}
    assert set(train["repetition"]) == {0, 1} and set(test["official_split"]) == {"test"}
    info = get_eeg_info(small)
    assert info["name"] == "sim-things-eeg2" and info["simulated"] is True and info["times_s"] == [-0.2, 0.79]
    assert info["split"]["strategy"] == "things-zero-shot" and len(info["split"]["test_concepts"]) == 5
    assert info["split"]["counts"]["test"]["trials"] == 30 and info["simulator"]["snr"] == 0.35
    # equal image ids, equal bytes; different images of a concept differ
    raw = small["train"].cast_column("image", ImageFeature(decode=False))
    by_id: dict[str, bytes] = {}
    for image_id, image in zip(raw["image_id"], raw["image"]):
        assert by_id.setdefault(image_id, image["bytes"]) == image["bytes"]
    assert len(set(by_id.values())) == len(by_id)


def test_deterministic_and_seeded(small):
    again = simulate_dataset("things-eeg2", **SMALL)
    np.testing.assert_array_equal(_columns(again["test"], "eeg")["eeg"], _columns(small["test"], "eeg")["eeg"])
    other = simulate_things_eeg2(seed=1, **SMALL)
    assert not np.array_equal(_columns(other["test"], "eeg")["eeg"], _columns(small["test"], "eeg")["eeg"])
    assert load_eeg_dataset("sim:things-eeg2", **SMALL)["test"]["image_id"] == small["test"]["image_id"]


def test_attribute_structure_carries_to_unseen_concepts():
    """A ridge map from the true concept attributes to averaged EEG, fitted on training concepts, identifies the
    unseen test concepts far above chance, yet not perfectly (the concept component)."""
    n_train, n_test = 80, 20
    ds = simulate_things_eeg2(n_subjects=1, n_train_concepts=n_train, n_test_concepts=n_test, train_repetitions=2,
                              test_repetitions=10, image_size=8, val_fraction=0.0)
    att = concept_attributes(n_train + n_test, 0)

    def features(concepts):
        f = np.zeros((len(concepts), 15))
        f[np.arange(len(concepts)), att["shape"][concepts]] = 1
        f[np.arange(len(concepts)), 8 + att["texture"][concepts]] = 1
        f[:, 12], f[:, 13] = np.cos(2 * np.pi * att["hue"][concepts]), np.sin(2 * np.pi * att["hue"][concepts])
        f[:, 14] = att["size"][concepts]
        return f

    def averaged(split):
        d = _columns(ds[split], "eeg", "label")
        labels = np.unique(d["label"])
        return labels, np.stack([d["eeg"][d["label"] == c].mean(0).ravel() for c in labels])

    train_labels, train_eeg = averaged("train")
    test_labels, test_eeg = averaged("test")
    f = features(train_labels)
    weights = np.linalg.solve(f.T @ f + np.eye(15), f.T @ (train_eeg - train_eeg.mean(0)))
    predicted = features(test_labels) @ weights

    def unit(a):
        a = a - a.mean(1, keepdims=True)
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    top1 = float(np.mean((unit(test_eeg) @ unit(predicted).T).argmax(1) == np.arange(n_test)))
    assert 5 / n_test < top1 < 1.0


def test_refuses_block_options_and_bad_counts():
    with pytest.raises(ValueError, match=r"\['split'\] do not apply to the 'things-eeg2' preset"):
        simulate_dataset("things-eeg2", split="paper")
    with pytest.raises(ValueError, match="n_test_concepts must be an int >= 2"):
        simulate_dataset("things-eeg2", n_test_concepts=1)
    with pytest.raises(ValueError, match="unknown simulation arguments"):
        simulate_dataset("thoughtviz", n_test_concepts=3)
    with pytest.raises(ValueError, match="snr"):
        simulate_things_eeg2(snr=-1.0)
