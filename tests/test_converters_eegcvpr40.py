"""Tests of the EEGCVPR40 converters (official `.pth` and the authors' per-trial `.npy`) and `eeg2img convert`.

The fixtures are written in the exact distributed formats: `torch.save` of the `dataset`/`labels`/`images`
dict, a `splits` file, a folder of JPEGs, and `np.save(..., allow_pickle=True)` of object arrays.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
import torch
from datasets import Image as ImageFeature
from datasets import load_from_disk
from PIL import Image

from eeg2img_hf.cli import main
from eeg2img_hf.data import get_eeg_info, load_eeg_dataset
from eeg2img_hf.data.converters.authors_npy import convert_authors_npy, load_object_npy
from eeg2img_hf.data.converters.eegcvpr40 import convert_eegcvpr40, load_torch_file

WNIDS = ["n02106662", "n02124075", "n02281787"]  # first three EEGCVPR40 classes
NAMES = ["German shepherd", "Egyptian cat", "lycaenid butterfly"]
N_CHANS = 4
# trial index -> (length, label, image, subject); 1: too short, 2: too long, 3: kept by length but < crop stop
TRIALS = [(500, 0, 0, 1), (440, 1, 2, 1), (700, 2, 4, 1), (455, 0, 1, 2), (500, 1, 2, 2), (520, 2, 4, 2),
          (500, 0, 0, 2), (600, 1, 3, 1), (480, 2, 5, 1), (500, 0, 1, 1)]
IMAGES = ["n02106662_1", "n02106662_2", "n02124075_1", "n02124075_7", "n02281787_3", "n02281787_9"]


def _eeg(index: int, length: int) -> torch.Tensor:
    return torch.arange(N_CHANS * length, dtype=torch.float32).reshape(N_CHANS, length) + 1000 * index


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (seed * 40 % 256, 10, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _official(tmp_path, trials=TRIALS, name="eeg_5_95_std.pth", **save_kwargs):
    dataset = [{"eeg": _eeg(i, length), "label": label, "image": image, "subject": subject}
               for i, (length, label, image, subject) in enumerate(trials)]
    eeg_file = tmp_path / name
    torch.save({"dataset": dataset, "labels": WNIDS, "images": IMAGES}, eeg_file, **save_kwargs)
    splits_file = tmp_path / "block_splits_by_image_all.pth"
    other = {"train": [0], "val": [], "test": []}
    torch.save({"splits": [{"train": [0, 1, 4, 5, 6], "val": [2, 7, 8], "test": [3, 9]}, other]}, splits_file)
    images = tmp_path / "images"
    (images / WNIDS[2]).mkdir(parents=True)
    for k, image in enumerate(IMAGES):
        folder = images / WNIDS[2] if image.startswith(WNIDS[2]) else images
        suffix = ".jpg" if k == 1 else ".JPEG"
        (folder / f"{image}{suffix}").write_bytes(_jpeg(k))
    return eeg_file, splits_file, images


def test_convert_official_fields(tmp_path):
    eeg_file, splits_file, images = _official(tmp_path)
    ds = convert_eegcvpr40(eeg_file, tmp_path / "out", splits_file=splits_file, images_dir=images)
    # train: 1 too short; validation: 2 too long; test: 3 shorter than the crop stop 460
    expected = {"train": [0, 4, 5, 6], "validation": [7, 8], "test": [9]}
    assert {k: len(v) for k, v in ds.items()} == {k: len(v) for k, v in expected.items()}
    for split, indices in expected.items():
        rows = ds[split].with_format("numpy")[:]
        expected_eeg = np.stack([_eeg(i, TRIALS[i][0])[:, 20:460].numpy() for i in indices])
        np.testing.assert_array_equal(rows["eeg"], expected_eeg)
        assert rows["eeg"].shape[1:] == (N_CHANS, 440) and rows["eeg"].dtype == np.float32
        labels = [TRIALS[i][1] for i in indices]
        subjects = [TRIALS[i][3] for i in indices]
        assert list(ds[split]["label"]) == labels
        assert list(ds[split]["subject"]) == subjects
        assert list(ds[split]["block"]) == [(s - 1) * 3 + lab for s, lab in zip(subjects, labels)]
        assert list(ds[split]["image_id"]) == [IMAGES[TRIALS[i][2]] for i in indices]
        assert set(ds[split]["official_split"]) == {split}
        raw = ds[split].cast_column("image", ImageFeature(decode=False))["image"]
        assert [r["bytes"] for r in raw] == [_jpeg(TRIALS[i][2]) for i in indices]  # original JPEG bytes
    assert ds["train"].features["label"].names == NAMES
    info = get_eeg_info(ds)
    assert info["name"] == "eegcvpr40" and info["variant"] == "5-95 Hz" and info["sfreq"] == 1000.0
    assert info["ch_names"] == ["EEG001", "EEG002", "EEG003", "EEG004"] and info["n_times"] == 440
    assert info["class_ids"] == WNIDS and info["simulated"] is False and info["license"] is None
    assert [s["name"] for s in info["preprocessing"]] == ["select_length", "crop"]
    assert info["preprocessing"][1] == {"name": "crop", "start": 20, "stop": 460, "sfreq": 1000.0}
    assert info["split"]["strategy"] == "paper"
    assert info["split"]["source"] == "block_splits_by_image_all.pth[0]"
    assert info["split"]["counts"] == {"train": 4, "validation": 2, "test": 1}
    assert info["split"]["dropped"] == {"not_in_split": 0, "length": {"train": 1, "validation": 1, "test": 0},
                                        "shorter_than_crop": {"train": 0, "validation": 0, "test": 1}}
    load_eeg_dataset(str(tmp_path / "out"))  # schema check


def test_split_index_legacy_file_and_no_crop(tmp_path):
    eeg_file, splits_file, images = _official(tmp_path, _use_new_zipfile_serialization=False)  # not mmappable
    ds = convert_eegcvpr40(eeg_file, tmp_path / "a", splits_file=splits_file, split_index=1, images_dir=images)
    assert {k: len(v) for k, v in ds.items()} == {"train": 1, "validation": 0, "test": 0}
    assert get_eeg_info(ds)["split"]["dropped"]["not_in_split"] == len(TRIALS) - 1
    ds = convert_eegcvpr40(eeg_file, tmp_path / "b", splits_file=splits_file, images_dir=images, crop=None,
                           min_length=500, max_length=500)
    assert ds["train"].features["eeg"].shape == (N_CHANS, 500)
    np.testing.assert_array_equal(ds["train"].with_format("numpy")[0]["eeg"], _eeg(0, 500).numpy())
    with pytest.raises(ValueError, match="split_index must be an int in 0..1"):
        convert_eegcvpr40(eeg_file, tmp_path / "c", splits_file=splits_file, split_index=2, images_dir=images)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_needing_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "eeg_signals_raw_with_mean_std.pth"
    torch.save({"dataset": [_Exploit(marker)], "labels": WNIDS, "images": IMAGES}, bad)
    with pytest.raises(ValueError, match=r"eeg_signals_raw_with_mean_std.pth' was refused for safety: .*can run code"):
        load_torch_file(bad, "EEG file")
    with pytest.raises(ValueError, match="was refused"):
        convert_eegcvpr40(bad, tmp_path / "out", images_dir=tmp_path)
    assert not marker.exists() and not (tmp_path / "out").exists()
    (tmp_path / "junk.pth").write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a readable torch.save file"):
        load_torch_file(tmp_path / "junk.pth")


def test_foreign_and_invalid_files(tmp_path):
    _, splits_file, images = _official(tmp_path)
    cases = {
        "foreign": ({"data": [], "labels": WNIDS}, "expected a dict with keys"),
        "eeg_type": ({"dataset": [{"eeg": torch.zeros(4 * 500), "label": 0, "image": 0, "subject": 1}],
                      "labels": WNIDS, "images": IMAGES}, r"dataset\[0\]\['eeg'\] must be a 2-D float tensor"),
        "numpy": ({"dataset": [{"eeg": np.zeros((4, 500)), "label": 0, "image": 0, "subject": 1}],
                   "labels": WNIDS, "images": IMAGES}, "was refused for safety: it needs Python objects"),
        "label": ({"dataset": [{"eeg": _eeg(0, 500), "label": 3, "image": 0, "subject": 1}],
                   "labels": WNIDS, "images": IMAGES}, r"\['label'\] = 3 is outside 0..2"),
        "subject": ({"dataset": [{"eeg": _eeg(0, 500), "label": 0, "image": 0, "subject": 0}],
                     "labels": WNIDS, "images": IMAGES}, "numbered from 1"),
    }
    for key, (content, message) in cases.items():
        torch.save(content, tmp_path / f"{key}.pth")
        with pytest.raises(ValueError, match=message):
            convert_eegcvpr40(tmp_path / f"{key}.pth", tmp_path / key, images_dir=images)
    nan = _eeg(0, 500)
    nan[1, 100] = float("nan")
    torch.save({"dataset": [{"eeg": nan, "label": 0, "image": 0, "subject": 1}], "labels": WNIDS, "images": IMAGES},
               tmp_path / "nan.pth")
    with pytest.raises(ValueError, match=r"dataset\[0\]\['eeg'\] contains NaN"):
        convert_eegcvpr40(tmp_path / "nan.pth", tmp_path / "nan", images_dir=images)
    torch.save({"splits": [{"train": [0, 1], "val": [1], "test": []}]}, tmp_path / "dup.pth")
    with pytest.raises(ValueError, match="trial 1 is in both 'train' and 'val'"):
        convert_eegcvpr40(tmp_path / "eeg_5_95_std.pth", tmp_path / "dup", splits_file=tmp_path / "dup.pth",
                          images_dir=images)
    assert not any((tmp_path / key).exists() for key in [*cases, "nan", "dup"])


def test_images_required_and_missing_listed(tmp_path):
    eeg_file, splits_file, images = _official(tmp_path)
    with pytest.raises(ValueError, match="images_dir is required"):
        convert_eegcvpr40(eeg_file, tmp_path / "out", splits_file=splits_file)
    (images / "n02106662_2.jpg").unlink()
    (images / WNIDS[2] / "n02281787_9.JPEG").unlink()
    with pytest.raises(ValueError, match=r"2 of 6 images are missing .*\['n02106662_2', 'n02281787_9'\]"):
        convert_eegcvpr40(eeg_file, tmp_path / "out", splits_file=splits_file, images_dir=images)


def test_overwrite_protection_keeps_old_dataset(tmp_path):
    eeg_file, splits_file, images = _official(tmp_path)
    out = tmp_path / "out"
    convert_eegcvpr40(eeg_file, out, splits_file=splits_file, split_index=1, images_dir=images)
    with pytest.raises(ValueError, match="exists and is not empty"):
        convert_eegcvpr40(eeg_file, out, splits_file=splits_file, images_dir=images)
    assert len(load_from_disk(str(out))["train"]) == 1
    ds = convert_eegcvpr40(eeg_file, out, splits_file=splits_file, images_dir=images, overwrite=True)
    assert len(ds["train"]) == 4


def test_cli_convert_eegcvpr40(tmp_path, capsys):
    eeg_file, splits_file, images = _official(tmp_path)
    args = ["convert", "eegcvpr40", "--eeg", str(eeg_file), "--splits", str(splits_file), "--images", str(images),
            "--output", str(tmp_path / "out")]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == {"train": 4, "validation": 2, "test": 1}
    assert summary["dropped"]["length"] == {"train": 1, "validation": 1, "test": 0}
    assert summary["output"] == str(tmp_path / "out")
    assert main(args) == 2  # existing output without --overwrite
    assert "pass overwrite=True" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


# ----------------------------------------------------------------------------------------------------------------
# authors' per-trial .npy folders


def _trial(label: int, subject: int, k: int, eeg_dtype=np.float32) -> np.ndarray:
    image = np.full((6, 5, 3), (label * 50, k * 10 % 256, 7), dtype=np.uint8)
    image[0, 0] = (255, 0, k)
    eeg = (np.arange(N_CHANS * 440, dtype=np.float64).reshape(N_CHANS, 440) / 1000 + label).astype(eeg_dtype)
    record = np.empty(5, dtype=object)
    record[:] = [image, eeg, label, f"{WNIDS[label]}_{k}", subject]
    return record


def _authors_tree(root):
    layout = {"train": [(0, 1, 1), (1, 2, 2), (2, 1, 3)], "val": [(1, 1, 4)], "test": [(0, 2, 1), (2, 2, 5)]}
    for folder, trials in layout.items():
        for n, (label, subject, k) in enumerate(trials):
            target = root / folder / (WNIDS[label] if folder == "val" else "")  # per-class subfolders in val/
            target.mkdir(parents=True, exist_ok=True)
            np.save(target / f"{n}.npy", _trial(label, subject, k), allow_pickle=True)
    return layout


def test_convert_authors_npy(tmp_path):
    root = tmp_path / "eeg_imagenet40_cvpr_2017_raw"
    layout = _authors_tree(root)
    with pytest.raises(ValueError, match=r"pickles.*execute arbitrary code.*trust_pickle=True \(CLI: --trust-pickle\)"):
        convert_authors_npy(root, tmp_path / "out")
    ds = convert_authors_npy(root, tmp_path / "out", trust_pickle=True)
    assert {k: len(v) for k, v in ds.items()} == {"train": 3, "validation": 1, "test": 2}
    assert len(ds["train"].features["label"].names) == 40 and ds["train"].features["label"].names[:3] == NAMES
    for folder, split in (("train", "train"), ("val", "validation"), ("test", "test")):
        trials = layout[folder]
        rows = ds[split].with_format("numpy")[:]
        np.testing.assert_array_equal(rows["eeg"], np.stack([_trial(*t)[1] for t in trials]))
        assert list(ds[split]["label"]) == [t[0] for t in trials]
        assert list(ds[split]["subject"]) == [t[1] for t in trials]
        assert list(ds[split]["block"]) == [(t[1] - 1) * 40 + t[0] for t in trials]
        assert list(ds[split]["image_id"]) == [f"{WNIDS[t[0]]}_{t[2]}" for t in trials]
        assert set(ds[split]["official_split"]) == {split}
        for row, t in zip(ds[split], trials):
            assert row["image"].format == "PNG"
            np.testing.assert_array_equal(np.asarray(row["image"]), _trial(*t)[0])
    info = get_eeg_info(ds)
    assert info["variant"] == "eeg_imagenet40_cvpr_2017_raw" and info["n_times"] == 440
    assert info["split"]["strategy"] == "paper"
    steps = info["preprocessing"]
    assert any(step["name"] == "min_max_normalise" and step["applied_by"] == "authors" for step in steps)


def test_authors_npy_refuses_code_and_bad_content(tmp_path):
    marker = tmp_path / "pwned"
    root = tmp_path / "root"
    (root / "train").mkdir(parents=True)
    record = _trial(0, 1, 1)
    record[3] = _Exploit(marker)
    np.save(root / "train" / "0.npy", record, allow_pickle=True)
    with pytest.raises(ValueError, match="refused global posix.system|refused global os.system"):
        convert_authors_npy(root, tmp_path / "out", trust_pickle=True)
    assert not marker.exists() and not (tmp_path / "out").exists()
    np.save(root / "train" / "0.npy", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="plain float64 array"):
        load_object_npy(root / "train" / "0.npy", trust_pickle=True)
    bad = _trial(0, 1, 1)
    bad[1] = np.full((N_CHANS, 440), np.nan)
    np.save(root / "train" / "0.npy", bad, allow_pickle=True)
    with pytest.raises(ValueError, match="train/0.npy: the EEG contains NaN"):
        convert_authors_npy(root, tmp_path / "out", trust_pickle=True)
    wrong = _trial(1, 1, 1)
    wrong[3] = f"{WNIDS[0]}_1"  # image of class 0 labelled 1
    np.save(root / "train" / "0.npy", wrong, allow_pickle=True)
    with pytest.raises(ValueError, match="pass class_ids"):
        convert_authors_npy(root, tmp_path / "out", trust_pickle=True)


def test_cli_authors_npy_needs_trust_flag(tmp_path, capsys):
    root = tmp_path / "root"
    _authors_tree(root)
    assert main(["convert", "authors-npy", str(root), "--output", str(tmp_path / "out")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    assert main(["convert", "authors-npy", str(root), "--output", str(tmp_path / "out"), "--trust-pickle"]) == 0
    assert json.loads(capsys.readouterr().out.strip())["rows"] == {"train": 3, "validation": 1, "test": 2}
