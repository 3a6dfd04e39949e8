"""Hub parquet copy (`luigi-s/EEG_Image_CVPR_ALL_subj`) converter on local parquet files written with pyarrow."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from eeg2img_hf.data import get_eeg_info, validate_eeg_dataset
from eeg2img_hf.data.converters.hub_parquet import convert_hub_parquet
from eeg2img_hf.data.simulate import EEGCVPR40_CLASSES

N_TIMES = 20  # 440 in the real files; the layout is what matters
WNIDS = [w for w, _ in EEGCVPR40_CLASSES]
_HF_META = {"info": {"features": {
    "image": {"_type": "Image"},
    "conditioning_image": {"_type": "Array2D", "shape": [128, N_TIMES], "dtype": "float32"},
    "caption": {"_type": "Value", "dtype": "string"}, "label_folder": {"_type": "Value", "dtype": "string"},
    "label": {"_type": "Value", "dtype": "int64"}, "subject": {"_type": "Value", "dtype": "int64"},
}}}


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (5, 4), (value, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _rows(n, seed, time_first=False):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = int(rng.integers(40))
        eeg = rng.normal(size=(128, N_TIMES)).astype(np.float32)
        rows.append({"eeg": eeg.T if time_first else eeg, "label": label, "subject": int(i % 6) + 1,
                     "image": _png(label), "path": f"{WNIDS[label]}_{1000 + i}.JPEG"})
    return rows


def _write_parquet(path, rows, hf_metadata=True, extra_columns=None):
    eeg_type = pa.list_(pa.list_(pa.float32()))
    table = pa.table({
        "image": pa.array([{"bytes": r["image"], "path": r["path"]} for r in rows],
                          type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "conditioning_image": pa.array([r["eeg"].tolist() for r in rows], type=eeg_type),
        "caption": pa.array([f"an image of {EEGCVPR40_CLASSES[r['label']][1]}" for r in rows]),
        "label_folder": pa.array([WNIDS[r["label"]] for r in rows]),
        "label": pa.array([r["label"] for r in rows], type=pa.int64()),
        "subject": pa.array([r["subject"] for r in rows], type=pa.int64()),
        **(extra_columns or {}),
    })
    if hf_metadata:
        table = table.replace_schema_metadata({"huggingface": json.dumps(_HF_META)})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture
def hub_copy(tmp_path):
    root = tmp_path / "EEG_Image_CVPR_ALL_subj"
    splits = {"train": _rows(12, 0), "validation": _rows(6, 1), "test": _rows(6, 2)}
    _write_parquet(root / "data" / "train-00000-of-00002.parquet", splits["train"][:6])
    _write_parquet(root / "data" / "train-00001-of-00002.parquet", splits["train"][6:])
    _write_parquet(root / "data" / "validation-00000-of-00001.parquet", splits["validation"])
    _write_parquet(root / "data" / "test-00000-of-00001.parquet", splits["test"])
    return root, splits


def test_convert_local_folder(tmp_path, hub_copy):
    root, splits = hub_copy
    ds = convert_hub_parquet(root, tmp_path / "out")
    validate_eeg_dataset(ds)
    assert {k: len(v) for k, v in ds.items()} == {"train": 12, "validation": 6, "test": 6}
    for name, source in splits.items():
        split = ds[name].with_format("numpy")
        np.testing.assert_array_equal(split["eeg"], np.stack([r["eeg"] for r in source]))
        np.testing.assert_array_equal(split["label"], [r["label"] for r in source])
        np.testing.assert_array_equal(split["subject"], [r["subject"] for r in source])
        np.testing.assert_array_equal(split["block"], [(r["subject"] - 1) * 40 + r["label"] for r in source])
        assert list(split["image_id"]) == [r["path"][:-5] for r in source]
        assert set(split["official_split"]) == {name}
    row = ds["test"][0]
    assert row["image"].getpixel((0, 0)) == (splits["test"][0]["label"], 0, 0)
    assert row["caption"].startswith("an image of ")
    assert ds["train"].features["label"].names[0] == "German shepherd"
    info = get_eeg_info(ds)
    assert info["class_ids"] == WNIDS and info["n_times"] == N_TIMES and info["sfreq"] == 1000.0
    assert info["preprocessing"][0]["eeg_layout"] == "channels-first" and info["split"]["strategy"] == "paper"


def test_time_first_single_file_with_split_column_and_no_metadata(tmp_path):
    rows = _rows(8, 3, time_first=True)
    split = ["train", "train", "val", "test", "train", "validation", "test", "train"]
    path = tmp_path / "all.parquet"
    _write_parquet(path, rows, hf_metadata=False, extra_columns={"split": pa.array(split)})
    ds = convert_hub_parquet(path, tmp_path / "out")
    assert {k: len(v) for k, v in ds.items()} == {"train": 4, "validation": 2, "test": 2}
    np.testing.assert_array_equal(ds["validation"].with_format("numpy")["eeg"][0], rows[2]["eeg"].T)
    assert get_eeg_info(ds)["preprocessing"][0]["eeg_layout"] == "time-first"


def test_label_from_int_when_no_wordnet_column(tmp_path):
    rows = _rows(4, 4)
    path = tmp_path / "data" / "train-0.parquet"
    _write_parquet(path, rows, hf_metadata=False)
    table = pq.read_table(path).drop_columns(["label_folder"])
    pq.write_table(table, path)
    ds = convert_hub_parquet(tmp_path / "data", tmp_path / "out", image_size=3)
    assert ds["train"]["label"] == [r["label"] for r in rows] and len(ds["test"]) == 0
    assert ds["train"][0]["image"].size == (3, 3)


def test_refuses_bad_sources(tmp_path, hub_copy):
    root, _ = hub_copy
    rows = _rows(3, 5)
    rows[1]["eeg"] = rows[1]["eeg"][:, :-1].copy()
    _write_parquet(tmp_path / "short" / "test-0.parquet", rows, hf_metadata=False)
    with pytest.raises(ValueError, match=r"split 'test' row 1: 'eeg' has shape \(128, 19\)"):
        convert_hub_parquet(tmp_path / "short", tmp_path / "o1")
    rows = _rows(3, 5)
    rows[2]["eeg"][0, 0] = np.nan
    _write_parquet(tmp_path / "nan" / "test-0.parquet", rows, hf_metadata=False)
    with pytest.raises(ValueError, match="row 2: 'eeg' contains NaN"):
        convert_hub_parquet(tmp_path / "nan", tmp_path / "o1")
    square = _rows(2, 6)
    for r in square:
        r["eeg"] = np.zeros((128, 128), np.float32)
    _write_parquet(tmp_path / "square" / "test-0.parquet", square, hf_metadata=False)
    with pytest.raises(ValueError, match="cannot tell channels from samples"):
        convert_hub_parquet(tmp_path / "square", tmp_path / "o2")
    table = pq.read_table(root / "data" / "test-00000-of-00001.parquet").drop_columns(["subject"])
    (tmp_path / "nosub").mkdir()
    pq.write_table(table, tmp_path / "nosub" / "test-0.parquet")
    with pytest.raises(ValueError, match=r"lacks columns \['subject'\]"):
        convert_hub_parquet(tmp_path / "nosub", tmp_path / "o3")
    with pytest.raises(ValueError, match="could not open"):
        convert_hub_parquet(tmp_path / "no-such-folder", tmp_path / "o4")
    for name in ("o1", "o2", "o3", "o4"):
        assert not (tmp_path / name).exists()
