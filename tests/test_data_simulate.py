"""Tests of the dataset schema, the simulated default dataset, the simple splits and the loader."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from datasets import Array2D, Dataset, DatasetDict, Image, Value

from eeg2img_hf.data import (
    SIMULATION_PRESETS,
    check_disjoint,
    class_legend,
    class_legend_markdown,
    class_shape_svg,
    get_eeg_info,
    load_eeg_dataset,
    make_features,
    set_eeg_info,
    simulate_dataset,
    split_trials,
    validate_eeg_dataset,
)

SMALL = {
    "eegcvpr40": {"n_subjects": 1, "n_blocks_per_class": 1, "trials_per_block": 3, "images_per_class": 3},
    "thoughtviz": {"n_subjects": 3},
    "object": {"n_subjects": 2, "n_blocks_per_class": 2, "trials_per_block": 6},
}


def columns(ds: Dataset, *names: str) -> dict[str, np.ndarray]:
    return ds.select_columns(list(names)).with_format("numpy")[:]


def concat(dd: DatasetDict, *names: str) -> dict[str, np.ndarray]:
    parts = [columns(dd[split], *names) for split in ("train", "validation", "test")]
    return {name: np.concatenate([p[name] for p in parts]) for name in names}


def image_bytes(ds: Dataset) -> list[bytes]:
    return [row["bytes"] for row in ds.cast_column("image", Image(decode=False))["image"]]


@pytest.fixture(scope="module")
def thoughtviz_small() -> DatasetDict:
    return simulate_dataset("thoughtviz", **SMALL["thoughtviz"])


@pytest.fixture(scope="module")
def thoughtviz_default() -> DatasetDict:
    return simulate_dataset("thoughtviz")


# ----------------------------------------------------------------------------------------------- schema


@pytest.mark.parametrize("preset", sorted(SMALL))  # the block-design presets (things-eeg2: its own tests)
def test_schema_per_preset(preset):
    spec = SIMULATION_PRESETS[preset]
    dd = simulate_dataset(preset, **SMALL[preset])
    assert list(dd) == ["train", "validation", "test"]
    validate_eeg_dataset(dd)
    features = dd["train"].features
    assert features["eeg"] == Array2D((spec.n_chans, spec.n_times), "float32")
    assert isinstance(features["image"], Image)
    assert features["label"].names == list(spec.class_names)
    assert features["subject"] == Value("int32") and features["block"] == Value("int32")
    assert features["image_id"] == Value("string")
    eeg = columns(dd["test"], "eeg")["eeg"]
    assert eeg.dtype == np.float32 and eeg.shape[1:] == (spec.n_chans, spec.n_times)
    row = dd["train"][0]
    assert row["image"].size == (64, 64) and row["image"].mode == "RGB"
    info = get_eeg_info(dd)
    assert info["name"] == f"sim-{preset}" and info["simulated"] is True and info["split"] == "within-block"
    assert info["sfreq"] == spec.sfreq and info["ch_names"] == list(spec.ch_names)
    assert (info["n_chans"], info["n_times"]) == (spec.n_chans, spec.n_times)
    assert info["class_ids"] == (None if spec.class_ids is None else list(spec.class_ids))
    assert isinstance(info["preprocessing"], list) and info["simulator"]["seed"] == 0
    assert all(get_eeg_info(split) == info for split in dd.values())


def test_eegcvpr40_keeps_wordnet_ids_and_names():
    spec = SIMULATION_PRESETS["eegcvpr40"]
    assert len(spec.class_ids) == 40 and list(spec.class_ids) == sorted(spec.class_ids)
    assert spec.class_ids[0] == "n02106662" and spec.class_names[0] == "German shepherd"
    assert spec.class_ids[-1] == "n13054560" and spec.class_names[-1] == "bolete"
    assert len(spec.ch_names) == 128 and SIMULATION_PRESETS["object"].n_chans == 124
    assert SIMULATION_PRESETS["thoughtviz"].ch_names[:3] == ("AF3", "F7", "F3")


def test_make_features_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_chans"):
        make_features(0, 32, ["a"])
    with pytest.raises(ValueError, match="class_names"):
        make_features(4, 32, [])
    with pytest.raises(ValueError, match="unique"):
        make_features(4, 32, ["a", "a"])


def test_validate_rejects_wrong_columns(thoughtviz_small):
    with pytest.raises(ValueError, match="missing \\['eeg'\\]"):
        validate_eeg_dataset(thoughtviz_small.remove_columns("eeg"))
    features = make_features(2, 3, ["a", "b"])
    features["eeg"] = Array2D((2, 3), "float16")  # float32 and float64 (a float64 release kept exactly) only
    rows = {"eeg": np.zeros((2, 2, 3), np.float16), "image": [None, None], "label": [0, 1], "subject": [1, 1],
            "image_id": ["a", "b"], "block": [0, 0]}
    wrong = Dataset.from_dict(rows, features=features)
    with pytest.raises(ValueError, match="float32"):
        validate_eeg_dataset(wrong)
    features["eeg"] = Array2D((2, 3), "float64")
    validate_eeg_dataset(Dataset.from_dict({**rows, "eeg": np.zeros((2, 2, 3))}, features=features))
    with pytest.raises(ValueError, match="ClassLabel"):
        validate_eeg_dataset(wrong.cast_column("eeg", Array2D((2, 3), "float32")).cast_column("label", Value("int64")))
    with pytest.raises(ValueError, match="Dataset or datasets.DatasetDict"):
        validate_eeg_dataset({"train": None})


def test_info_helpers_keep_text_and_reject_non_json(thoughtviz_small):
    ds = thoughtviz_small["validation"].select(range(4))
    ds.info.description = "plain text"
    set_eeg_info(ds, {"name": "x"})
    assert get_eeg_info(ds) == {"name": "x"} and "plain text" in ds.info.description
    with pytest.raises(ValueError, match="JSON"):
        set_eeg_info(ds, {"sfreq": np.float32(1.0)})
    with pytest.raises(ValueError, match="n_chans"):
        validate_eeg_dataset(set_eeg_info(ds, {"n_chans": 3}))


def test_info_round_trip_through_disk(thoughtviz_small, tmp_path):
    thoughtviz_small.save_to_disk(str(tmp_path / "tv"))
    loaded = load_eeg_dataset(str(tmp_path / "tv"))
    assert get_eeg_info(loaded) == get_eeg_info(thoughtviz_small)
    assert loaded["test"].features == thoughtviz_small["test"].features
    expected = columns(thoughtviz_small["test"], "eeg")["eeg"]
    np.testing.assert_array_equal(columns(loaded["test"], "eeg")["eeg"], expected)


# ------------------------------------------------------------------------------------------- simulator


def test_determinism_and_seed_dependence():
    kwargs = {"n_subjects": 2, "images_per_class": 4}
    first, second = simulate_dataset("object", **kwargs), simulate_dataset("object", **kwargs)
    other = simulate_dataset("object", seed=1, **kwargs)
    a, b, c = (concat(d, "eeg", "image_id") for d in (first, second, other))
    np.testing.assert_array_equal(a["eeg"], b["eeg"])
    np.testing.assert_array_equal(a["image_id"], b["image_id"])
    assert image_bytes(first["train"]) == image_bytes(second["train"])
    assert not np.allclose(a["eeg"], c["eeg"])
    assert image_bytes(first["train"]) != image_bytes(other["train"])


def test_class_subset_keeps_preset_order():
    dd = simulate_dataset("thoughtviz", classes=["Tiger", "Apple"], n_subjects=2)
    assert dd["train"].features["label"].names == ["Apple", "Tiger"]
    data = concat(dd, "label", "image_id")
    assert set(data["label"]) == {0, 1}
    prefixes = {label: {i.rsplit("_", 1)[0] for i in data["image_id"][data["label"] == label]} for label in (0, 1)}
    assert prefixes == {0: {"apple"}, 1: {"tiger"}}
    cvpr = simulate_dataset("eegcvpr40", classes=["pizza", "canoe"], **SMALL["eegcvpr40"])
    assert get_eeg_info(cvpr)["class_ids"] == ["n02951358", "n07873807"]


def test_block_design(thoughtviz_small):
    spec, n_subjects = SIMULATION_PRESETS["thoughtviz"], SMALL["thoughtviz"]["n_subjects"]
    data = concat(thoughtviz_small, "block", "label", "subject")
    blocks = np.unique(data["block"])
    assert len(blocks) == n_subjects * len(spec.class_names) * spec.n_blocks_per_class
    for block in blocks:
        rows = data["block"] == block
        assert rows.sum() == spec.trials_per_block
        assert len(np.unique(data["label"][rows])) == 1 and len(np.unique(data["subject"][rows])) == 1
    pairs = {(s, lab) for s, lab in zip(data["subject"], data["label"])}
    assert len(pairs) == n_subjects * len(spec.class_names)
    per_pair = {p: len(np.unique(data["block"][(data["subject"] == p[0]) & (data["label"] == p[1])])) for p in pairs}
    assert set(per_pair.values()) == {spec.n_blocks_per_class}


def test_trial_maxima_positive():
    dd = simulate_dataset("thoughtviz", n_subjects=3, block_drift=4.0, snr=0.0, seed=3)
    eeg = concat(dd, "eeg")["eeg"]
    assert (eeg.max(axis=(1, 2)) > 0).all()


@pytest.mark.parametrize("snr", [0.5, 2.0])
def test_snr_sets_evoked_to_background_ratio(snr):
    kwargs = {"n_subjects": 2, "seed": 5}
    background = concat(simulate_dataset("object", snr=0.0, **kwargs), "eeg")["eeg"]
    full = concat(simulate_dataset("object", snr=snr, **kwargs), "eeg")["eeg"]
    evoked = full - background  # same seed: identical background, only the evoked scale changes
    ratio = np.sqrt(np.mean(evoked**2)) / np.sqrt(np.mean(background**2))
    assert 0.75 * snr < ratio < 1.25 * snr


def _block_offset_similarity(dd: DatasetDict) -> tuple[float, float]:
    """Mean correlation of per-trial channel means: same block vs other blocks of the same class."""
    data = concat(dd, "eeg", "block", "label")
    means = data["eeg"].mean(axis=2)
    means -= means.mean(axis=1, keepdims=True)
    corr = np.corrcoef(means)
    same_block = data["block"][:, None] == data["block"][None, :]
    same_class = data["label"][:, None] == data["label"][None, :]
    off_diagonal = ~np.eye(len(means), dtype=bool)
    return corr[same_block & off_diagonal].mean(), corr[same_class & ~same_block].mean()


def test_block_drift_shared_within_block_only():
    kwargs = {"n_subjects": 2, "seed": 2}
    within, across = _block_offset_similarity(simulate_dataset("object", block_drift=2.0, **kwargs))
    assert within > 0.6 and abs(across) < 0.2
    within_off, across_off = _block_offset_similarity(simulate_dataset("object", block_drift=0.0, **kwargs))
    assert abs(within_off - across_off) < 0.15


def test_images_reused_and_class_specific():
    dd = simulate_dataset("eegcvpr40", classes=["banana", "daisy", "canoe"], **SMALL["eegcvpr40"])
    train = dd["train"]
    ids, raw = train["image_id"], image_bytes(train)
    by_id: dict[str, bytes] = {}
    for image_id, png in zip(ids, raw):
        assert by_id.setdefault(image_id, png) == png
    pixels = {i: np.asarray(train[ids.index(i)]["image"], dtype=float) for i in by_id}
    assert len(set(by_id.values())) == len(by_id)
    classes = {i.rsplit("_", 1)[0] for i in by_id}
    assert len(classes) == 3
    first = [pixels[i] for i in by_id if i.startswith("n07753592")]
    second = [pixels[i] for i in by_id if i.startswith("n11939491")]
    assert np.abs(first[0] - second[0]).mean() > 5.0


def test_learnable_but_not_trivial(thoughtviz_default):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train = columns(thoughtviz_default["train"], "eeg", "label")
    test = columns(thoughtviz_default["test"], "eeg", "label")
    x_train, x_test = train["eeg"].reshape(len(train["eeg"]), -1), test["eeg"].reshape(len(test["eeg"]), -1)
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(C=0.01, max_iter=500).fit(scaler.transform(x_train), train["label"])
    accuracy = model.score(scaler.transform(x_test), test["label"])
    chance = 1.0 / len(SIMULATION_PRESETS["thoughtviz"].class_names)
    assert 2 * chance < accuracy < 0.95
    assert len(thoughtviz_default["train"]) + len(thoughtviz_default["test"]) > 2000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"preset": "mnist"}, "eegcvpr40"),
        ({"snr": -1.0}, "snr"),
        ({"snr": float("nan")}, "snr"),
        ({"block_drift": -0.1}, "block_drift"),
        ({"n_subjects": 0}, "n_subjects"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"image_size": 4}, "image_size"),
        ({"split": "random"}, "split"),
        ({"val_fraction": 0.9}, "val_fraction"),
        ({"classes": ["banana"]}, "unknown classes"),
        ({"classes": "Apple"}, "classes"),
        ({"trials_per_block": 2}, "at least 3 trials per block"),
        ({"n_subjects": 1, "n_blocks_per_class": 1, "split": "block-held-out"}, "at least 2 blocks per class"),
    ],
)
def test_simulate_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_dataset(**{"preset": "thoughtviz", **kwargs})


# ---------------------------------------------------------------------------------------------- splits


def test_within_block_split_covers_blocks_and_classes(thoughtviz_small):
    data = {name: columns(split, "block", "label") for name, split in thoughtviz_small.items()}
    all_blocks = np.unique(np.concatenate([d["block"] for d in data.values()]))
    for d in data.values():
        np.testing.assert_array_equal(np.unique(d["block"]), all_blocks)
        assert len(np.unique(d["label"])) == 10


def test_block_held_out_split_keeps_blocks_apart():
    dd = simulate_dataset("thoughtviz", n_subjects=3, split="block-held-out")
    assert get_eeg_info(dd)["split"] == "block-held-out"
    data = {name: columns(split, "block", "label") for name, split in dd.items()}
    for first, second in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not set(data[first]["block"]) & set(data[second]["block"])
    for name in ("train", "test"):
        assert len(np.unique(data[name]["label"])) == 10


def test_split_trials_directly():
    labels = np.repeat(np.arange(4), 12)
    blocks = np.repeat(np.arange(16), 3)
    images = [f"img{i}" for i in range(len(labels))]
    within = split_trials(labels, blocks, images, "within-block", 0.15, 0.2, seed=0)
    check_disjoint(within)
    assert sum(len(v) for v in within.values()) == len(labels)
    for idx in within.values():
        assert set(blocks[idx]) == set(blocks)
    held = split_trials(labels, blocks, images, "block-held-out", 0.25, 0.25, seed=0)
    check_disjoint(held, blocks)
    for label in range(4):
        assert all(label in labels[held[name]] for name in ("train", "validation", "test"))
    again = split_trials(labels, blocks, images, "block-held-out", 0.25, 0.25, seed=0)
    assert all(np.array_equal(held[k], again[k]) for k in held)


def test_split_rejects_bad_inputs():
    labels, blocks = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="strategy"):
        split_trials(labels, blocks, strategy="by-image")
    with pytest.raises(ValueError, match="single class"):
        split_trials(labels, np.zeros(6, dtype=int))
    with pytest.raises(ValueError, match="one entry per trial"):
        split_trials(labels, blocks, ["a"])
    with pytest.raises(ValueError, match="share trial indices"):
        check_disjoint({"train": np.array([0, 1]), "test": np.array([1, 2])})
    with pytest.raises(ValueError, match="share blocks"):
        check_disjoint({"train": np.array([0]), "test": np.array([1])}, blocks=np.array([7, 7]))


# ---------------------------------------------------------------------------------------------- loader


def test_loader_sources(thoughtviz_small, tmp_path):
    simulated = load_eeg_dataset("sim:thoughtviz", n_subjects=1, seed=4)
    assert get_eeg_info(simulated)["simulator"]["n_subjects"] == 1
    assert load_eeg_dataset(thoughtviz_small) is thoughtviz_small
    with pytest.raises(ValueError, match="only apply to simulated"):
        load_eeg_dataset(thoughtviz_small, seed=1)
    with pytest.raises(ValueError, match="eegcvpr40"):
        load_eeg_dataset("sim:cifar")
    with pytest.raises(ValueError, match="object"):
        load_eeg_dataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="save_to_disk"):
        load_eeg_dataset(str(tmp_path / "empty"))
    thoughtviz_small["test"].save_to_disk(str(tmp_path / "single"))
    with pytest.raises(ValueError, match="expected a DatasetDict"):
        load_eeg_dataset(str(tmp_path / "single"))
    DatasetDict({"train": thoughtviz_small["test"].remove_columns("eeg")}).save_to_disk(str(tmp_path / "no_eeg"))
    with pytest.raises(ValueError, match="eeg"):
        load_eeg_dataset(str(tmp_path / "no_eeg"))


def test_data_package_imports_neither_torch_nor_models():
    code = "import sys, eeg2img_hf.data; print('torch' in sys.modules, 'eeg2img_hf.models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ----------------------------------------------------------------------------------------------- class legend


def _hue_of(rgb: np.ndarray) -> np.ndarray:
    """Hue in [0, 1) of float RGB pixels in [0, 1] (the HSV definition)."""
    import colorsys

    return np.array([colorsys.rgb_to_hsv(*pixel)[0] for pixel in rgb])


def _circular_distance(a: float, b: float) -> float:
    return abs((a - b + 0.5) % 1.0 - 0.5)


def test_class_legend_matches_the_drawn_images():
    """The legend's colour is the colour the simulator paints each class with (its saturated pixels), and its shapes
    follow the documented rule (shape c mod 8)."""
    import colorsys
    import io

    from PIL import Image as PILImage

    data = simulate_dataset("thoughtviz", n_subjects=2, images_per_class=2, image_size=32, trials_per_block=3,
                            n_blocks_per_class=2)
    legend = class_legend("thoughtviz")
    names = data["train"].features["label"].names
    assert [row["class"] for row in legend] == names
    shapes = ["ellipse", "rectangle", "triangle", "star", "cross", "ring", "arrow", "crescent"]
    assert [row["shape"] for row in legend] == [shapes[c % 8] for c in range(len(names))]
    rows = {}
    for split in data.values():
        for row in split.select_columns(["label", "image"]).cast_column("image", Image(decode=False)):
            rows.setdefault(row["label"], row["image"]["bytes"])
    assert sorted(rows) == list(range(len(names)))
    for label, png in rows.items():
        pixels = np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255
        value = pixels.max(1)
        saturation = (value - pixels.min(1)) / np.maximum(value, 1e-9)  # the background's is at most 0.3
        shape_pixels = pixels[(saturation > 0.5) & (value > 0.6)]
        assert len(shape_pixels) > 20, names[label]
        hues = _hue_of(shape_pixels)
        mean_hue = (np.angle(np.exp(2j * np.pi * hues).mean()) / (2 * np.pi)) % 1.0
        legend_hue = colorsys.rgb_to_hsv(*(int(legend[label]["rgb"][i:i + 2], 16) / 255 for i in (1, 3, 5)))[0]
        assert _circular_distance(mean_hue, legend_hue) < 0.04, (names[label], mean_hue, legend_hue)
    assert [row["class"] for row in class_legend("thoughtviz", ["Dog", "Apple"])] == ["Apple", "Dog"]
    assert legend[names.index("Dog")]["shape"] == "triangle" and legend[names.index("Dog")]["colour"] == "yellow"
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        class_legend("nope")


def test_docs_show_the_simulators_legend():
    """docs/simulated-data.md holds the generated legend of every preset, unchanged."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "simulated-data.md").read_text(encoding="utf-8")
    tables = dict(re.findall(r"<!-- legend: ([\w-]+) -->\n(.*?)\n<!-- /legend -->", text, re.DOTALL))
    assert set(tables) == set(SIMULATION_PRESETS)
    for preset, table in tables.items():
        assert table == class_legend_markdown(preset), f"regenerate the {preset} legend in docs/simulated-data.md"


def test_class_shape_svg_draws_the_simulators_polygons():
    import xml.etree.ElementTree as ET

    ns = {"svg": "http://www.w3.org/2000/svg"}
    ring = ET.fromstring(class_shape_svg("ring", "#2ecccc", size=24, key="-5"))
    assert ring.get("width") == "24" and ring.get("aria-label") == "ring"
    mask = ring.find("svg:mask", ns)
    assert mask.get("id") == "eeg2img-shape-ring-5"
    assert [p.get("fill") for p in mask.findall("svg:polygon", ns)] == ["white", "black"]  # the ring's hole
    assert ring.findall("svg:rect", ns)[-1].get("fill") == "#2ecccc"
    triangle = ET.fromstring(class_shape_svg("triangle", "#accc2e"))
    assert len(triangle.find("svg:mask", ns).find("svg:polygon", ns).get("points").split()) == 3
    with pytest.raises(ValueError, match="unknown shape 'blob'"):
        class_shape_svg("blob", "#000000")
