"""Bring-your-own converters: numpy arrays and MNE epochs (a real -epo.fif) plus event -> image mappings."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image

from eeg2img_hf.cli import main
from eeg2img_hf.data import get_eeg_info, validate_eeg_dataset
from eeg2img_hf.data.converters import byo
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
                        blocks=np.arange(30) // 10, seed=1, unit="uV")
    validate_eeg_dataset(ds)
    # per class of 10: 2 test, 2 val
    assert {k: len(v) for k, v in ds.items()} == {"train": 18, "validation": 6, "test": 6}
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
                        image_root=images[0].parent, image_ids=["i0", "i1", "i2", "i3"])
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
                            30: "house", 40: "house"}, subject=7, seed=0)
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
                                                        for i, c in enumerate((10, 20, 30, 40))))
    found, classes = read_event_mapping(csv_path)
    assert found[30] == images[2] and classes == {10: "a", 20: "a", 30: "b", 40: "b"}
    json_path = tmp_path / "img" / "map.json"
    json_path.write_text(
        json.dumps({"face/a": "stim0.png", "face/b": "stim1.png", "30": "stim2.png", "40": "stim3.png"})
    )
    found, classes = read_event_mapping(json_path)
    assert found["face/a"] == images[0] and found[40] == images[3] and classes is None

    parser = __import__("argparse").ArgumentParser()
    byo.add_arguments(parser)
    args = parser.parse_args(["--epochs", str(tmp_path / "x-epo.fif"), "--images", str(csv_path),
                              str(tmp_path / "cli"), "--image-size", "2"])
    summary = run(args)
    assert summary["output"] == str(tmp_path / "cli") and sum(summary["rows"].values()) == 8
    ds = load_from_disk(str(tmp_path / "cli"))
    assert ds["train"].features["label"].names == ["a", "b"] and ds["train"][0]["image"].size == (2, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("code,file\n1,a.png\n")
    with pytest.raises(ValueError, match="must name 'event' and 'image'"):
        read_event_mapping(bad)


def test_cli_arrays_npz(tmp_path, images):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "trials.npz", eeg=rng.normal(size=(12, 2, 5)), labels=np.arange(12) % 2,
             subjects=np.arange(12) // 6 + 1)
    mapping = tmp_path / "img" / "labels.json"
    mapping.write_text(json.dumps({"0": "stim0.png", "1": "stim1.png"}))
    out = tmp_path / "out"
    argv = ["convert", "byo", "--arrays", str(tmp_path / "trials.npz"), "--images", str(mapping), str(out),
            "--sfreq", "50", "--ch-names", "O1,O2", "--class-names", "cat,dog"]
    assert main(argv) == 0
    ds = load_from_disk(str(out))
    assert sum(len(s) for s in ds.values()) == 12 and sorted(set(ds["train"]["subject"])) == [1, 2]
    assert get_eeg_info(ds)["ch_names"] == ["O1", "O2"] and ds["test"].features["label"].names == ["cat", "dog"]
    assert main(argv[:-7] + [str(tmp_path / "o2")]) == 2  # --arrays without --sfreq/--ch-names/--class-names


def _raw_with_stim(n_times=1200, seed=0):
    """Raw EEG (Oz, Pz, Cz, volts) with a stim channel: codes 10/20/30/40 every 100 samples and a stray 99."""
    rng = np.random.default_rng(seed)
    info = mne.create_info(["Oz", "Pz", "Cz", "STI"], sfreq=100.0, ch_types=["eeg", "eeg", "eeg", "stim"])
    data = np.vstack([rng.normal(scale=1e-5, size=(3, n_times)), np.zeros((1, n_times))])
    onsets = np.arange(100, n_times - 100, 100)
    data[3, onsets] = np.array([10, 20, 30, 40])[np.arange(len(onsets)) % 4]
    data[3, 150] = 99  # an event without an image: not epoched
    return mne.io.RawArray(data, info, verbose="error"), onsets


def test_raw_recording_epoched_with_window_baseline_and_picks(tmp_path, images):
    raw, onsets = _raw_with_stim()
    raw.save(tmp_path / "sub-01_raw.fif", verbose="error")
    mapping = dict(zip((10, 20, 30, 40), images))
    ds = convert_mne_epochs(tmp_path / "sub-01_raw.fif", mapping, tmp_path / "out", tmin=-0.1, tmax=0.2,
                            baseline=(None, 0), picks=["Cz", "Oz"], event_id={"a": 10, "b": 20, "c": 30, "d": 40})
    validate_eeg_dataset(ds)
    info = get_eeg_info(ds)
    assert info["ch_names"] == ["Cz", "Oz"] and info["n_times"] == 31 and info["unit"] == "V"
    assert info["source"] == "MNE raw recording (sub-01_raw.fif), epoched" and info["tmin"] == -0.1
    assert info["epoching"] == {"tmin": -0.1, "tmax": 0.2, "baseline": [None, 0], "events_from": "stim",
                                "events_in_recording": len(onsets) + 1, "epoched": len(onsets), "dropped": 0}
    assert ds["train"].features["label"].names == ["a", "b", "c", "d"]
    expected = mne.Epochs(raw, mne.find_events(raw, verbose="error"), event_id={"a": 10, "b": 20, "c": 30, "d": 40},
                          tmin=-0.1, tmax=0.2, baseline=(None, 0), picks=["Cz", "Oz"], preload=True,
                          verbose="error").get_data()
    rows = [r for s in ds.values() for r in s.with_format("numpy")]
    assert len(rows) == len(onsets)
    for row in rows:  # each row is one of MNE's own epochs (baseline-corrected, picked) with its event's image
        (i,) = [k for k in range(len(expected)) if np.allclose(expected[k], row["eeg"], rtol=1e-6, atol=1e-12)]
        assert row["image_id"] == f"stim{i % 4}.png" and row["label"] == i % 4
    assert np.abs(np.stack([r["eeg"][:, :11].mean(axis=1) for r in rows])).max() < 1e-12  # baseline (None, 0)


def test_raw_annotations_and_metadata_image_ids_from_the_cli(tmp_path, images):
    import pandas as pd

    raw, _ = _raw_with_stim()
    raw.pick(["Oz", "Pz", "Cz"])  # no stim channel: events come from the annotations
    raw.set_annotations(mne.Annotations([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 0.0, ["face", "house"] * 4))
    raw.save(tmp_path / "annot_raw.fif", verbose="error")
    mapping = tmp_path / "img" / "map.json"
    mapping.write_text(json.dumps({"face": "stim0.png", "house": "stim1.png"}))
    argv = ["convert", "byo", "--recording", str(tmp_path / "annot_raw.fif"), "--images", str(mapping),
            str(tmp_path / "cli"), "--tmin", "0", "--tmax", "0.1", "--baseline", "none", "--picks", "Pz"]
    assert main(argv) == 0
    ds = load_from_disk(str(tmp_path / "cli"))
    info = get_eeg_info(ds)
    assert info["ch_names"] == ["Pz"] and info["n_times"] == 11 and info["epoching"]["events_from"] == "annotations"
    assert info["baseline"] is None and sum(len(s) for s in ds.values()) == 8
    first = raw.get_data(picks=["Pz"])[:, 100:111].astype(np.float32)  # the 'face' epoch at 1 s, not baseline-corrected
    assert any(np.array_equal(r["eeg"], first) for s in ds.values() for r in s.with_format("numpy"))
    assert main(argv[:-2] + ["--picks", "Fz", "--overwrite"]) == 2  # unknown channel: a readable error
    assert main(argv[:-9] + [str(tmp_path / "o"), "--baseline", "0,x"]) == 2

    epochs, _ = _epochs(n=8)  # metadata names each epoch's image file: no mapping needed
    epochs.metadata = pd.DataFrame({"image_id": [f"stim{(i * 3) % 4}.png" for i in range(8)], "rt": np.arange(8.0)})
    epochs.save(tmp_path / "meta-epo.fif", verbose="error")
    argv = ["convert", "byo", "--recording", str(tmp_path / "meta-epo.fif"), "--image-root", str(images[0].parent),
            str(tmp_path / "meta")]
    assert main(argv) == 0
    ds = load_from_disk(str(tmp_path / "meta"))
    rows = [r for s in ds.values() for r in s.with_format("numpy")]
    _, data = _epochs(n=8)
    for row in rows:
        (i,) = [k for k in range(8) if np.array_equal(data[k].astype(np.float32), row["eeg"])]
        assert row["image_id"] == f"stim{(i * 3) % 4}.png"
        assert np.array_equal(np.asarray(row["image"]), np.asarray(Image.open(images[(i * 3) % 4]).convert("RGB")))
    ids = tmp_path / "img" / "ids.json"  # metadata values looked up in a mapping keyed by image id
    ids.write_text(json.dumps({f"stim{k}.png": f"stim{3 - k}.png" for k in range(4)}))
    ds = convert_mne_epochs(tmp_path / "meta-epo.fif", read_event_mapping(ids)[0], tmp_path / "ids",
                            metadata_image_column="image_id")
    assert sorted(ds["train"]["image_id"])[0].startswith("stim")
    with pytest.raises(ValueError, match=r"no column 'stimulus' \(columns: \['image_id', 'rt'\]\)"):
        convert_mne_epochs(tmp_path / "meta-epo.fif", None, tmp_path / "o3", metadata_image_column="stimulus")
    with pytest.raises(ValueError, match="no images: give an event -> image mapping"):
        convert_mne_epochs(_epochs(n=8)[0], None, tmp_path / "o4")


def test_cli_arrays_unit_and_corrupt_npz(tmp_path, images, capsys):
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "trials.npz", eeg=rng.normal(size=(6, 2, 5)), labels=np.arange(6) % 2)
    mapping = tmp_path / "img" / "labels.json"
    mapping.write_text(json.dumps({"0": "stim0.png", "1": "stim1.png"}))
    argv = ["convert", "byo", "--arrays", str(tmp_path / "trials.npz"), "--images", str(mapping), str(tmp_path / "o"),
            "--sfreq", "50", "--ch-names", "O1,O2", "--class-names", "cat,dog", "--unit", "uV"]
    assert main(argv) == 0
    info = get_eeg_info(load_from_disk(str(tmp_path / "o")))
    assert info["unit"] == "uV" and info["preprocessing"][0]["source_dtype"] == "float64"
    full = (tmp_path / "trials.npz").read_bytes()
    (tmp_path / "trials.npz").write_bytes(full[:-40])
    assert main(argv[:6] + [str(tmp_path / "o2")] + argv[7:]) == 2
    assert "'trials.npz' is corrupt or truncated" in capsys.readouterr().err
