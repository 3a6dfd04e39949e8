"""ThoughtViz converter: a Python-2-style protocol-2 `data.pkl` and class image folders -> package schema."""

from __future__ import annotations

import io
import pickle
import struct

import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image

from eeg2img_hf.data import get_eeg_info, validate_eeg_dataset
from eeg2img_hf.data.converters.thoughtviz import (
    THOUGHTVIZ_CHANNELS,
    THOUGHTVIZ_CLASS_NAMES,
    convert_thoughtviz,
    load_thoughtviz_pickle,
)
from eeg2img_hf.utils.safe_pickle import UnsafePickleError


class _Py2Pickler(pickle._Pickler):
    """Writes `bytes` the way Python 2 writes `str` (SHORT_BINSTRING / BINSTRING), as in the real data.pkl."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def _py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def _make_data(n_train=40, n_test=20, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y_train = np.eye(10)[np.arange(n_train) % 10]
    y_test = np.eye(10)[rng.permutation(np.arange(n_test) % 10)]
    return {
        b"x_train": rng.normal(size=(n_train, 14, 32, 1)).astype(dtype),
        b"y_train": y_train,
        b"x_test": rng.normal(size=(n_test, 14, 32, 1)).astype(dtype),
        b"y_test": y_test,
    }


@pytest.fixture
def images_dir(tmp_path):
    root = tmp_path / "images" / "ImageNet-Filtered"
    for i, name in enumerate(THOUGHTVIZ_CLASS_NAMES):
        folder = root / (name.lower() if i % 2 else name)  # case-insensitive class folders
        folder.mkdir(parents=True)
        for j in range(3):
            Image.new("RGB", (8, 6), (20 * i, 10 * j, 7)).save(folder / f"img_{j}.png")
        (folder / "notes.txt").write_text("not an image")
    return tmp_path / "images"


def _write(tmp_path, data, name="data.pkl") -> str:
    path = tmp_path / name
    path.write_bytes(_py2_pickle(data))
    return str(path)


def test_py2_pickle_is_really_py2_style(tmp_path):
    raw = _py2_pickle(_make_data(n_train=10, n_test=10))
    assert raw[:2] == b"\x80\x02" and b"U\x07x_train" in raw and b"_codecs" not in raw
    loaded = load_thoughtviz_pickle(_write(tmp_path, _make_data(n_train=10, n_test=10)))
    assert sorted(loaded) == ["x_test", "x_train", "y_test", "y_train"]
    np.testing.assert_array_equal(loaded["x_train"], _make_data(n_train=10, n_test=10)[b"x_train"])


def test_convert_fields_splits_and_info(tmp_path, images_dir):
    data = _make_data()
    ds = convert_thoughtviz(_write(tmp_path, data), images_dir, tmp_path / "out", seed=3, val_fraction=0.25)
    validate_eeg_dataset(ds)
    assert set(ds) == {"train", "validation", "test"}
    assert (len(ds["train"]), len(ds["validation"]), len(ds["test"])) == (30, 10, 20)
    assert ds["train"].features["label"].names == list(THOUGHTVIZ_CLASS_NAMES)
    assert ds["train"].features["eeg"].shape == (14, 32)
    assert set(ds["validation"]["official_split"]) == {"train"} and set(ds["test"]["official_split"]) == {"test"}
    assert sorted(ds["validation"]["label"]) == list(range(10))  # stratified: one per class
    # every test row is the matching x_test trial, in order, with its one-hot label
    test = ds["test"].with_format("numpy")
    np.testing.assert_array_equal(test["eeg"], data[b"x_test"][..., 0].astype(np.float32))
    np.testing.assert_array_equal(test["label"], data[b"y_test"].argmax(1))
    # train + validation are exactly the x_train trials
    seen = np.concatenate([ds[s].with_format("numpy")["eeg"] for s in ("train", "validation")])
    assert sorted(map(bytes, seen)) == sorted(map(bytes, data[b"x_train"][..., 0].astype(np.float32)))
    row = ds["train"][0]
    assert row["subject"] == 0 and row["block"] == -1
    label = row["label"]
    assert row["image_id"].split("/")[0].lower() == THOUGHTVIZ_CLASS_NAMES[label].lower()
    assert row["image"].size == (8, 6) and row["image"].getpixel((0, 0))[0] == 20 * label
    info = get_eeg_info(ds)
    assert info["sfreq"] == 128.0 and info["ch_names"] == list(THOUGHTVIZ_CHANNELS) and info["n_times"] == 32
    assert info["simulated"] is False and info["split"]["counts"] == {"train": 30, "validation": 10, "test": 20}
    assert info["image_pairing"]["seed"] == 3 and "default_rng([seed, s])" in info["image_pairing"]["rule"]
    assert info["preprocessing"][0]["source_dtype"] == "float64"


def test_pairing_is_deterministic_and_seeded(tmp_path, images_dir):
    path = _write(tmp_path, _make_data())
    a = convert_thoughtviz(path, images_dir, tmp_path / "a", seed=1)
    b = convert_thoughtviz(path, images_dir / "ImageNet-Filtered", tmp_path / "b", seed=1)
    c = convert_thoughtviz(path, images_dir, tmp_path / "c", seed=2)
    assert a["train"]["image_id"] == b["train"]["image_id"]
    assert a["train"]["image_id"] != c["train"]["image_id"]
    # the documented rule, recomputed by hand for the test split
    rng = np.random.default_rng([1, 2])
    expected = []
    for label in a["test"]["label"]:
        name = THOUGHTVIZ_CLASS_NAMES[label]
        expected.append(f"{name if label % 2 == 0 else name.lower()}/img_{int(rng.integers(3))}.png")
    assert a["test"]["image_id"] == expected


def test_image_resize_and_reload(tmp_path, images_dir):
    out = tmp_path / "out"
    convert_thoughtviz(_write(tmp_path, _make_data(n_train=20, n_test=10)), images_dir, out, image_size=4)
    ds = load_from_disk(str(out))
    assert ds["test"][0]["image"].size == (4, 4)
    assert get_eeg_info(ds)["preprocessing"][-1]["name"] == "resize_image"


def test_refuses_malformed_inputs(tmp_path, images_dir):
    data = _make_data()
    bad = {**data, b"y_train": data[b"y_train"] * 2}
    with pytest.raises(ValueError, match="one-hot"):
        convert_thoughtviz(_write(tmp_path, bad, "a.pkl"), images_dir, tmp_path / "o1")
    bad = {**data, b"x_test": data[b"x_test"][:, :, :16]}
    with pytest.raises(ValueError, match=r"x_test must have shape \(N, 14, 32, 1\)"):
        convert_thoughtviz(_write(tmp_path, bad, "b.pkl"), images_dir, tmp_path / "o2")
    nan = data[b"x_train"].copy()
    nan[5, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="x_train row 5 contains NaN"):
        convert_thoughtviz(_write(tmp_path, {**data, b"x_train": nan}, "c.pkl"), images_dir, tmp_path / "o3")
    missing = {k: v for k, v in data.items() if k != b"y_test"}
    with pytest.raises(ValueError, match=r"missing keys \['y_test'\]"):
        convert_thoughtviz(_write(tmp_path, missing, "d.pkl"), images_dir, tmp_path / "o4")
    (images_dir / "ImageNet-Filtered" / "tiger").rename(images_dir / "ImageNet-Filtered" / "Tigers")
    with pytest.raises(ValueError, match=r"lacks class folders \['Tiger'\]"):
        convert_thoughtviz(_write(tmp_path, data, "e.pkl"), images_dir, tmp_path / "o5")
    assert not (tmp_path / "o5").exists()


def test_refuses_malicious_pickle(tmp_path, images_dir):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"x_train": Evil()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="refused global"):
        convert_thoughtviz(path, images_dir, tmp_path / "out")
    assert not (tmp_path / "pwned").exists()
    # torch tensors are allowed by the checkpoint unpickler but not in data.pkl
    import torch

    path.write_bytes(pickle.dumps({"x_train": torch.zeros(2)}, protocol=2))
    with pytest.raises(UnsafePickleError, match="only numpy arrays"):
        load_thoughtviz_pickle(path)


def test_existing_output_is_kept(tmp_path, images_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(ValueError, match="not empty"):
        convert_thoughtviz(_write(tmp_path, _make_data()), images_dir, out)
    assert (out / "keep.txt").read_text() == "user data"


def test_cli_convert_thoughtviz(tmp_path, images_dir, capsys):
    from eeg2img_hf.cli import main

    path = _write(tmp_path, _make_data(n_train=100, n_test=10))
    out = tmp_path / "cli"
    assert main(["convert", "thoughtviz", path, str(images_dir), str(out), "--seed", "5", "--val-fraction", "0.1"]) == 0
    assert '"rows": {"train": 90, "validation": 10, "test": 10}' in capsys.readouterr().out
    assert get_eeg_info(load_from_disk(str(out)))["image_pairing"]["seed"] == 5
    assert main(["convert", "thoughtviz", path, str(images_dir), str(out)]) == 2  # exists: refused, kept
    assert "not empty" in capsys.readouterr().err and (out / "dataset_dict.json").exists()
