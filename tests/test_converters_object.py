"""Object (Kaneshiro 2015) converter: `S<n>.mat` files written with scipy.io.savemat + stimulus images."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from PIL import Image

from eeg2img_hf.data import get_eeg_info, validate_eeg_dataset
from eeg2img_hf.data.converters.object import OBJECT_CLASS_NAMES, convert_object, read_object_mat

N_CHANS, N_TIMES, N_EXEMPLARS = 124, 32, 72  # the official geometry; few trials per subject keep it small


def _write_subject(folder, subject, n_trials=144, seed=0, **overrides):
    rng = np.random.default_rng(seed + subject)
    exemplars = rng.permutation(np.arange(n_trials) % N_EXEMPLARS) + 1  # 1..72, each twice
    categories = (exemplars - 1) // 12 + 1  # exemplars 1-12 are category 1, ...
    content = {
        "X_3D": rng.normal(size=(N_CHANS, N_TIMES, n_trials)),  # float64, as MATLAB saves it
        "X_2D": np.zeros((n_trials, 8)),
        "categoryLabels": categories.reshape(1, -1).astype(np.float64),
        "exemplarLabels": exemplars.reshape(1, -1).astype(np.float64),
        **overrides,
    }
    scipy.io.savemat(folder / f"S{subject}.mat", content)
    return content


@pytest.fixture
def source(tmp_path):
    mat_dir, images_dir = tmp_path / "mat", tmp_path / "stimuli"
    mat_dir.mkdir()
    images_dir.mkdir()
    contents = {s: _write_subject(mat_dir, s) for s in (1, 2)}
    for e in range(1, N_EXEMPLARS + 1):
        Image.new("RGB", (6, 6), (e, 2 * e, 0)).save(images_dir / f"stim{e:02d}.png")
    return mat_dir, images_dir, contents


def test_convert_fields_and_exemplar_disjoint_split(tmp_path, source):
    mat_dir, images_dir, contents = source
    ds = convert_object(mat_dir, images_dir, tmp_path / "out", seed=4)
    validate_eeg_dataset(ds)
    assert sum(len(s) for s in ds.values()) == 2 * 144
    assert "official_split" not in ds["train"].column_names
    ids = {name: set(split["image_id"]) for name, split in ds.items()}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"]
    assert not ids["validation"] & ids["test"]
    # per category: round(0.2*12)=2, round(0.15*12)=2
    assert len(ids["test"]) == 6 * 2 and len(ids["validation"]) == 6 * 2
    for split in ds.values():  # each split has every category
        assert sorted(set(split["label"])) == list(range(6))
    assert ds["train"].features["label"].names == list(OBJECT_CLASS_NAMES)
    # every row matches its source trial: eeg X_3D[:, :, t], label category-1, image of the exemplar
    test = ds["test"].with_format("numpy")
    for k in (0, len(test) - 1):
        subject, exemplar = int(test["subject"][k]), int(test["image_id"][k])
        source_x = contents[subject]["X_3D"]
        trials = np.flatnonzero(contents[subject]["exemplarLabels"][0] == exemplar)
        matches = [t for t in trials if np.array_equal(source_x[:, :, t].astype(np.float32), test["eeg"][k])]
        assert len(matches) == 1
        assert test["label"][k] == (exemplar - 1) // 12
    row = ds["test"][0]
    assert row["image"].getpixel((0, 0)) == (int(row["image_id"]), 2 * int(row["image_id"]), 0)
    assert row["block"] == -1 and row["subject"] in (1, 2)
    info = get_eeg_info(ds)
    assert info["sfreq"] == 62.5 and info["n_chans"] == 124 and info["ch_names"][:2] == ["EEG001", "EEG002"]
    assert info["license"] == "CC-BY-3.0" and "Kaneshiro" in info["citation"]
    assert info["split"]["strategy"] == "exemplar-disjoint" and "random trial split" in info["split"]["paper_split"]
    assert sorted(map(int, ids["test"])) == info["split"]["exemplars"]["test"]
    assert info["image_files"]["7"] == "stim07.png"


def test_split_is_seeded(tmp_path, source):
    mat_dir, images_dir, _ = source
    a = convert_object(mat_dir, images_dir, tmp_path / "a", seed=1, subjects=[2])
    b = convert_object(mat_dir, images_dir, tmp_path / "b", seed=1, subjects=[2])
    c = convert_object(mat_dir, images_dir, tmp_path / "c", seed=2, subjects=[2])
    assert set(a["train"]["subject"]) == {2}
    assert a["test"]["image_id"] == b["test"]["image_id"]
    assert get_eeg_info(a)["split"]["exemplars"] != get_eeg_info(c)["split"]["exemplars"]


def test_image_pattern(tmp_path, source):
    mat_dir, images_dir, _ = source
    for e in range(1, N_EXEMPLARS + 1):
        (images_dir / f"stim{e:02d}.png").rename(images_dir / f"object_{e}_x2.png")
    with pytest.raises(ValueError, match="several image files match|no image file numbered"):
        convert_object(mat_dir, images_dir, tmp_path / "a")  # the last number is 2 for every file
    ds = convert_object(mat_dir, images_dir, tmp_path / "b", image_pattern="object_{exemplar}_x2.png", subjects=[1])
    assert get_eeg_info(ds)["image_files"]["72"] == "object_72_x2.png"
    with pytest.raises(ValueError, match="no image for exemplars"):
        convert_object(mat_dir, images_dir, tmp_path / "c", image_pattern="{exemplar}.jpg")


def test_refuses_malformed_files(tmp_path, source):
    mat_dir, images_dir, _ = source
    _write_subject(mat_dir, 3, categoryLabels=np.full((1, 144), 7.0))
    with pytest.raises(ValueError, match=r"S3.mat: categoryLabels must be in 1..6"):
        convert_object(mat_dir, images_dir, tmp_path / "a")
    _write_subject(mat_dir, 3, X_3D=np.zeros((N_CHANS, N_TIMES, 10)))
    with pytest.raises(ValueError, match=r"S3.mat: X_3D must be a float array \(n_chans, n_times, 144\)"):
        convert_object(mat_dir, images_dir, tmp_path / "b", subjects=[3])
    bad = _write_subject(mat_dir, 3)
    bad["X_3D"][5, 5, 0] = np.nan
    scipy.io.savemat(mat_dir / "S3.mat", bad)
    with pytest.raises(ValueError, match="NaN"):
        convert_object(mat_dir, images_dir, tmp_path / "c", subjects=[3])
    scipy.io.savemat(mat_dir / "S4.mat", {"X_3D": np.zeros((2, 2, 2))})
    with pytest.raises(ValueError, match=r"S4.mat: missing variables \['categoryLabels', 'exemplarLabels'\]"):
        read_object_mat(mat_dir / "S4.mat")
    (mat_dir / "S5.mat").write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64" + b"\0" * 200)
    with pytest.raises(ValueError, match="v7.3 \\(HDF5\\)"):
        read_object_mat(mat_dir / "S5.mat")
    with pytest.raises(ValueError, match=r"no S<n>.mat file for subjects \[9\]"):
        convert_object(mat_dir, images_dir, tmp_path / "d", subjects=[9])
    for name in ("a", "b", "c", "d"):
        assert not (tmp_path / name).exists()
