"""Tests of `eeg2img_hf.data.converters.writer.write_eeg_dataset` (streamed, validated dataset writing)."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from datasets import Image as ImageFeature
from datasets import Value, load_from_disk
from PIL import Image

from eeg2img_hf.data import get_eeg_info, load_eeg_dataset, write_eeg_dataset
from eeg2img_hf.data.converters import encode_image

N_CHANS, N_TIMES = 3, 7
CLASSES = ["cat", "dog"]


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (5, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _rows(n: int, split: str = "train", start: int = 0):
    for i in range(start, start + n):
        yield {"eeg": np.full((N_CHANS, N_TIMES), i, dtype=np.float32) + np.arange(N_TIMES, dtype=np.float32),
               "image": _png((i, 0, 0)), "label": i % 2, "subject": 1 + i % 3, "image_id": f"img{i}", "block": i,
               "official_split": split}


def _write(path, splits=None, **kwargs):
    splits = splits if splits is not None else {"train": _rows(7), "test": _rows(2, "test", start=100)}
    kwargs.setdefault("extra_columns", {"official_split": Value("string")})
    return write_eeg_dataset(path, splits, n_chans=N_CHANS, n_times=N_TIMES, class_names=CLASSES,
                             info={"name": "toy", "sfreq": 10.0}, batch_size=3, **kwargs)


def test_round_trip_values_layout_and_info(tmp_path):
    ds = _write(tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no staging folder left behind
    assert sorted(os.listdir(tmp_path / "out")) == [".eeg2img-output.json", "dataset_dict.json", "test", "train"]
    assert {"state.json", "dataset_info.json"} <= set(os.listdir(tmp_path / "out" / "train"))
    assert {k: len(v) for k, v in ds.items()} == {"train": 7, "test": 2}
    train = ds["train"].with_format("numpy")
    eeg = train[:]["eeg"]
    assert eeg.dtype == np.float32 and eeg.shape == (7, N_CHANS, N_TIMES)
    np.testing.assert_array_equal(eeg[5], np.full((N_CHANS, N_TIMES), 5, np.float32) + np.arange(N_TIMES))
    assert list(ds["train"]["label"]) == [i % 2 for i in range(7)]
    assert list(ds["train"]["subject"]) == [1 + i % 3 for i in range(7)]
    assert list(ds["train"]["block"]) == list(range(7))
    assert list(ds["test"]["image_id"]) == ["img100", "img101"]
    assert set(ds["test"]["official_split"]) == {"test"}
    assert ds["train"].features["label"].names == CLASSES
    raw = ds["train"].cast_column("image", ImageFeature(decode=False))[4]["image"]
    assert raw["bytes"] == _png((4, 0, 0))
    assert ds["train"][4]["image"].getpixel((0, 0)) == (4, 0, 0)
    assert get_eeg_info(ds) == {"name": "toy", "sfreq": 10.0}
    reloaded = load_eeg_dataset(str(tmp_path / "out"))
    assert get_eeg_info(reloaded["test"]) == {"name": "toy", "sfreq": 10.0}
    assert json.loads((tmp_path / "out" / "dataset_dict.json").read_text()) == {"splits": ["train", "test"]}


def test_image_inputs_path_and_pil(tmp_path):
    (tmp_path / "a.jpg").write_bytes(_jpeg())
    rows = [dict(next(_rows(1)), image=str(tmp_path / "a.jpg")), dict(next(_rows(1)), image=Image.new("RGB", (2, 2)))]
    ds = _write(tmp_path / "out", {"train": rows})
    raw = ds["train"].cast_column("image", ImageFeature(decode=False))
    assert raw[0]["image"]["bytes"] == _jpeg()  # files are stored as they are
    assert raw[1]["image"]["bytes"][:8] == b"\x89PNG\r\n\x1a\n"  # PIL images become PNG
    with pytest.raises(ValueError, match="not a readable image"):
        encode_image(b"not an image", where="x")
    with pytest.raises(ValueError, match="does not exist"):
        encode_image(str(tmp_path / "missing.png"))


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 128, 255)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eeg": np.zeros((N_CHANS, N_TIMES + 1), np.float32)}, r"row 4: 'eeg' has shape \(3, 8\)"),
        ({"eeg": np.zeros((N_CHANS, N_TIMES), np.float64)}, "row 4: 'eeg' must be a float32 numpy array"),
        ({"eeg": np.full((N_CHANS, N_TIMES), np.nan, np.float32)}, "split 'train' row 4: 'eeg' contains NaN"),
        ({"label": 2}, r"row 4: label 2 is outside 0..1"),
        ({"label": True}, "row 4: 'label' must be an int"),
        ({"image_id": ""}, "row 4: 'image_id' must be a non-empty str"),
        ({"image": b"garbage"}, "row 4: image is not a readable image"),
        ({"extra": 1}, r"unexpected \['extra'\]"),
    ],
)
def test_invalid_row_names_split_and_row(tmp_path, change, message):
    rows = list(_rows(6))
    rows[4] = {**rows[4], **change}
    with pytest.raises(ValueError, match=message):
        _write(tmp_path / "out", {"train": rows})
    assert os.listdir(tmp_path) == []  # staging removed, nothing written


def test_missing_key_and_bad_arguments(tmp_path):
    row = next(_rows(1))
    del row["block"]
    with pytest.raises(ValueError, match=r"missing \['block'\]"):
        _write(tmp_path / "a", {"train": [row]})
    with pytest.raises(ValueError, match="split names"):
        _write(tmp_path / "b", {"train/../x": []})
    with pytest.raises(ValueError, match="not a datasets feature"):
        _write(tmp_path / "c", {"train": []}, extra_columns={"x": "string"})
    with pytest.raises(ValueError, match="info must be JSON"):
        write_eeg_dataset(tmp_path / "d", {"train": []}, n_chans=1, n_times=1, class_names=["a"], info={"x": {1}})


def test_overwrite_protection_keeps_old_dataset(tmp_path):
    out = tmp_path / "out"
    _write(out, {"train": _rows(2)})
    with pytest.raises(ValueError, match="exists and is not empty; pass overwrite=True"):
        _write(out, {"train": _rows(5)})
    bad = list(_rows(5))
    bad[3] = {**bad[3], "label": 9}
    with pytest.raises(ValueError, match="label 9"):
        _write(out, {"train": bad}, overwrite=True)  # fails midway: the old dataset must survive
    assert len(load_from_disk(str(out))["train"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["out"]
    ds = _write(out, {"train": _rows(5)}, overwrite=True)
    assert len(ds["train"]) == 5 and sorted(os.listdir(tmp_path)) == ["out"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        _write(tmp_path / "file", {"train": _rows(1)}, overwrite=True)


def test_streams_rows_lazily(tmp_path):
    seen = []

    def rows():
        for row in _rows(7):
            seen.append(row["image_id"])
            yield row

    ds = _write(tmp_path / "out", {"train": rows(), "validation": iter([])})
    assert len(seen) == 7 and len(ds["train"]) == 7 and len(ds["validation"]) == 0
