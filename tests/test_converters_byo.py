"""Bring-your-own converters: numpy arrays and MNE epochs (a real -epo.fif) plus event -> image mappings."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image

from eeg2img_hf.data import get_eeg_info, validate_eeg_dataset
from eeg2img_hf.data.converters.byo import convert_arrays, convert_mne_epochs, read_event_mapping, run


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "img"
    folder.mkdir()
    paths = []
    for i in range(4):
        Image.new("RGB", (4, 4), (40 * i, 0, 0)).save(folder / f"stim{i}.png")
        paths.append(folder / f"stim{i}.png")
    return paths


def _epochs(n=24, n_chans=3, n_times=10, seed=0):
    rng = np.random.default_rng(seed)
    info = mne.create_info(["Oz", "Pz", "Cz"][:n_chans], sfreq=100.0, ch_types="eeg")
    codes = np.array([10, 20, 30, 40])[np.arange(n) % 4]
    events = np.column_stack([np.arange(n) * 50 + 100, np.zeros(n, int), codes])
    data = rng.normal(scale=1e-5, size=(n, n_chans, n_times))  # volts
    event_id = {"face/a": 10, "face/b": 20, "house/a": 30, "house/b": 40}
    return mne.EpochsArray(data, info, events=events, event_id=event_id, tmin=-0.1, verbose="error"), data


def test_convert_arrays_label_mapping_and_split(tmp_path, images):
    rng = np.random.default_rng(0)
    eeg = rng.normal(size=(30, 2, 8))
    labels = np.arange(30) % 3
    ds = convert_arrays(eeg, labels, {0: images[0], "b": images[1], 2: images[2]}, tmp_path / "out", sfreq=250,
                        ch_names=["C3", "C4"], class_names=["a", "b", "c"], subjects=np.arange(30) % 2 + 1,
                        blocks=np.arange(30) // 10, seed=1, unit="uV")  # fmt: skip
    validate_eeg_dataset(ds)
    assert {k: len(v) for k, v in ds.items()} == {"train": 18, "validation": 6, "test": 6}  # per class of 10: 2 test, 2 val
    all_rows = {tuple(np.asarray(r["eeg"]).ravel()[:2]): r for s in ds.values() for r in s.with_format("numpy")}
    for i in range(30):
        row = all_rows[tuple(eeg[i].astype(np.float32).ravel()[:2])]
        np.testing.assert_array_equal(row["eeg"], eeg[i].astype(np.float32))
        assert row["label"] == labels[i] and row["subject"] == i % 2 + 1 and row["block"] == i // 10
        assert row["image_id"] == f"stim{labels[i]}.png"
    info = get_eeg_info(ds)
    assert info["sfreq"] == 250.0 and info["ch_names"] == ["C3", "C4"] and info["unit"] == "uV"
    assert info["split"]["strategy"] == "random-trial" and "leakage-safe" in info["split"]["caveat"]
    assert info["preprocessing"][0]["source_dtype"] == "float64"


def test_convert_arrays_per_trial_images_and_user_split(tmp_path, images):
    eeg = np.ones((4, 1, 3), np.float32) * np.arange(4)[:, None, None]
    ds = convert_arrays(eeg, ["x", "y", "x", "y"], [p.name for p in images], tmp_path / "out", sfreq=10,
                        ch_names=["Fz"], class_names=["x", "y"], split=["train", "val", "test", "train"],
                        image_root=images[0].parent, image_ids=["i0", "i1", "i2", "i3"])  # fmt: skip
    assert ds["train"]["image_id"] == ["i0", "i3"] and ds["validation"]["label"] == [1]
    assert ds["test"]["official_split"] == ["test"] and ds["test"][0]["image"].getpixel((0, 0)) == (80, 0, 0)
    assert ds["train"]["subject"] == [0, 0] and ds["train"]["block"] == [-1, -1]


def test_convert_arrays_refuses_bad_input(tmp_path, images):
    eeg = np.zeros((4, 2, 3))
    kwargs = {"sfreq": 10, "ch_names": ["a", "b"], "class_names": ["x", "y"]}
    with pytest.raises(ValueError, match="floating-point"):
        convert_arrays(eeg.astype(int), [0, 1, 0, 1], images[:4], tmp_path / "o", **kwargs)
    bad = eeg.copy()
    bad[2, 1, 1] = np.inf
    with pytest.raises(ValueError, match="trial 2 contains NaN or infinite"):
        convert_arrays(bad, [0, 1, 0, 1], images[:4], tmp_path / "o", **kwargs)
    with pytest.raises(ValueError, match="label 5 of trial 1 is outside 0..1"):
        convert_arrays(eeg, [0, 5, 0, 1], images[:4], tmp_path / "o", **kwargs)
    with pytest.raises(ValueError, match="ch_names lists 1 channels but eeg has 2"):
        convert_arrays(eeg, [0, 1, 0, 1], images[:4], tmp_path / "o", **{**kwargs, "ch_names": ["a"]})
    with pytest.raises(ValueError, match=r"images has no entry for labels \['1 \(y\)'\]"):
        convert_arrays(eeg, [0, 1, 0, 1], {0: images[0]}, tmp_path / "o", **kwargs)
    with pytest.raises(ValueError, match="does not exist"):
        convert_arrays(eeg, [0, 1, 0, 1], {0: images[0], 1: "missing.png"}, tmp_path / "o", **kwargs)
    assert not (tmp_path / "o").exists()


def test_convert_mne_epochs_from_fif(tmp_path, images):
    epochs, data = _epochs()
    path = tmp_path / "sub-01-epo.fif"
    epochs.save(path, verbose="error")
    mapping = {10: images[0], 20: images[1], "house/a": images[2], "house/b": images[3]}
    ds = convert_mne_epochs(path, mapping, tmp_path / "out", class_of_event={"face/a": "face", "face/b": "face",
                            30: "house", 40: "house"}, subject=7, seed=0)  # fmt: skip
    validate_eeg_dataset(ds)
    assert ds["train"].features["label"].names == ["face", "house"]
    info = get_eeg_info(ds)
    assert info["sfreq"] == 100.0 and info["ch_names"] == ["Oz", "Pz", "Cz"] and info["unit"] == "V"
    assert info["event_id"]["house/b"] == 40 and info["source"] == "MNE epochs (sub-01-epo.fif)"
    rows = [r for s in ds.values() for r in s.with_format("numpy")]
    assert len(rows) == 24
    for row in rows:  # find each epoch back by its data (float32 volts)
        (i,) = [k for k in range(24) if np.array_equal(data[k].astype(np.float32), row["eeg"])]
        assert row["image_id"] == f"stim{i % 4}.png" and row["label"] == (i % 4) // 2 and row["subject"] == 7


def test_event_names_as_default_classes_and_missing_event(tmp_path, images):
    epochs, _ = _epochs(n=8)
    ds = convert_mne_epochs(epochs, dict(zip((10, 20, 30, 40), images)), tmp_path / "out", picks=["Oz", "Cz"])
    assert ds["train"].features["label"].names == ["face/a", "face/b", "house/a", "house/b"]
    assert get_eeg_info(ds)["ch_names"] == ["Oz", "Cz"]
    with pytest.raises(ValueError, match=r"epoch 3: event 40 \['house/b'\] has no image"):
        convert_mne_epochs(epochs, dict(zip((10, 20, 30), images)), tmp_path / "o2")


def test_mapping_files_and_cli(tmp_path, images):
    epochs, _ = _epochs(n=8)
    epochs.save(tmp_path / "x-epo.fif", verbose="error")
    csv_path = tmp_path / "img" / "map.csv"
    csv_path.write_text("event,image,class\n" + "".join(f"{c},stim{i}.png,{'ab'[i // 2]}\n"
                                                        for i, c in enumerate((10, 20, 30, 40))))  # fmt: skip
    found, classes = read_event_mapping(csv_path)
    assert found[30] == images[2] and classes == {10: "a", 20: "a", 30: "b", 40: "b"}
    json_path = tmp_path / "img" / "map.json"
    json_path.write_text(json.dumps({"face/a": "stim0.png", "face/b": "stim1.png", "30": "stim2.png", "40": "stim3.png"}))
    found, classes = read_event_mapping(json_path)
    assert found["face/a"] == images[0] and found[40] == images[3] and classes is None
    from eeg2img_hf.data.converters import byo

    parser = __import__("argparse").ArgumentParser()
    byo.add_arguments(parser)
    args = parser.parse_args(["--epochs", str(tmp_path / "x-epo.fif"), "--images", str(csv_path),
                              str(tmp_path / "cli"), "--image-size", "2"])  # fmt: skip
    summary = run(args)
    assert summary["output"] == str(tmp_path / "cli") and sum(summary["rows"].values()) == 8
    ds = load_from_disk(str(tmp_path / "cli"))
    assert ds["train"].features["label"].names == ["a", "b"] and ds["train"][0]["image"].size == (2, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("code,file\n1,a.png\n")
    with pytest.raises(ValueError, match="must name 'event' and 'image'"):
        read_event_mapping(bad)


def test_cli_arrays_npz(tmp_path, images):
    from eeg2img_hf.cli import main

    rng = np.random.default_rng(1)
    np.savez(tmp_path / "trials.npz", eeg=rng.normal(size=(12, 2, 5)), labels=np.arange(12) % 2,
             subjects=np.arange(12) // 6 + 1)  # fmt: skip
    mapping = tmp_path / "img" / "labels.json"
    mapping.write_text(json.dumps({"0": "stim0.png", "1": "stim1.png"}))
    out = tmp_path / "out"
    argv = ["convert", "byo", "--arrays", str(tmp_path / "trials.npz"), "--images", str(mapping), str(out),
            "--sfreq", "50", "--ch-names", "O1,O2", "--class-names", "cat,dog"]  # fmt: skip
    assert main(argv) == 0
    ds = load_from_disk(str(out))
    assert sum(len(s) for s in ds.values()) == 12 and sorted(set(ds["train"]["subject"])) == [1, 2]
    assert get_eeg_info(ds)["ch_names"] == ["O1", "O2"] and ds["test"].features["label"].names == ["cat", "dog"]
    assert main(argv[:-7] + [str(tmp_path / "o2")]) == 2  # --arrays without --sfreq/--ch-names/--class-names
