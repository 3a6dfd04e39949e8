"""THINGS-EEG2 converter: small files in exactly the official format (np.save'd dicts, concept image folders)."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from datasets import Image as ImageFeature
from datasets import load_from_disk
from PIL import Image

from eeg2img_hf.data import get_eeg_info, validate_eeg_dataset
from eeg2img_hf.data.converters import CONVERTERS
from eeg2img_hf.data.converters.things_eeg2 import (
    THINGS_EEG2_CHANNELS,
    convert_things_eeg2,
    load_things_npy,
)
from eeg2img_hf.hub import render_dataset_card
from eeg2img_hf.utils.errors import BadInputFileError
from eeg2img_hf.utils.safe_pickle import UnsafePickleError

TRAIN_CONCEPTS = ["00001_aardvark", "00002_abacus", "00003_accordion", "00004_acorn", "00005_air_conditioner"]
TEST_CONCEPTS = ["00001_aircraft_carrier", "00002_antelope"]
TRAIN_IMAGES, TRAIN_REPS, TEST_REPS = 2, 4, 5
TIMES = np.round(np.arange(-0.2, 0.8, 0.01), 2)
THINGS_IDS = ["aardvark", "abacus", "accordion", "acorn", "air_conditioner", "aircraft_carrier", "altar", "antelope"]
"""A THINGS concept table in miniature: row i + 1 is THINGS_IDS[i] (the release numbers concepts by this table)."""


def _eeg(rng, n_images, n_reps):
    return rng.normal(size=(n_images, n_reps, len(THINGS_EEG2_CHANNELS), len(TIMES)))  # float64, as released


def make_release(root, subjects=(1, 2), arrays=False, things_numbers=True):
    """`root/eeg/sub-XX/*.npy` and `root/images/{training,test}_images/<concept>/<file>.jpg` + image_metadata.npy
    (with the release's `*_img_concepts_THINGS` entries unless `things_numbers=False`)."""
    meta = {"train_img_concepts": [], "train_img_files": [], "test_img_concepts": [], "test_img_files": []}
    if things_numbers:
        meta.update(train_img_concepts_THINGS=[], test_img_concepts_THINGS=[])
    for part, folder, concepts, n_images in (("train", "training_images", TRAIN_CONCEPTS, TRAIN_IMAGES),
                                             ("test", "test_images", TEST_CONCEPTS, 1)):
        for c, concept in enumerate(concepts):
            name = concept.split("_", 1)[1]
            for k in range(n_images):
                file = f"{name}_{k:02d}{'s' if part == 'test' else 'b'}.jpg"
                (root / "images" / folder / concept).mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (6, 4), (30 * c, 50 * k, 90 if part == "test" else 10)).save(
                    root / "images" / folder / concept / file)
                meta[f"{part}_img_concepts"].append(concept)
                meta[f"{part}_img_files"].append(file)
                if things_numbers:
                    meta[f"{part}_img_concepts_THINGS"].append(f"{THINGS_IDS.index(name) + 1:05d}_{name}")
    if arrays:
        meta = {k: np.array(v) for k, v in meta.items()}
    np.save(root / "images" / "image_metadata.npy", meta)
    data = {}
    for subject in subjects:
        rng = np.random.default_rng(subject)
        folder = root / "eeg" / f"sub-{subject:02d}"
        folder.mkdir(parents=True)
        for name, n_images, n_reps in (("training", len(TRAIN_CONCEPTS) * TRAIN_IMAGES, TRAIN_REPS),
                                       ("test", len(TEST_CONCEPTS), TEST_REPS)):
            content = {"preprocessed_eeg_data": _eeg(rng, n_images, n_reps), "ch_names": list(THINGS_EEG2_CHANNELS),
                       "times": TIMES}
            np.save(folder / f"preprocessed_eeg_{name}.npy", content)
            data[(subject, name)] = content["preprocessed_eeg_data"]
    return root / "eeg", root / "images", data


@pytest.fixture
def release(tmp_path):
    return make_release(tmp_path)


def _columns(split, *names):
    return split.select_columns(list(names)).with_format("numpy")[:]


def test_convert_rows_labels_eeg_and_zero_shot_split(tmp_path, release):
    eeg_dir, images_dir, data = release
    ds = convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out", val_fraction=0.2, seed=3)
    validate_eeg_dataset(ds)
    assert list(ds) == ["train", "validation", "test"]
    names = ds["train"].features["label"].names
    assert names == sorted(["aardvark", "abacus", "accordion", "acorn", "air_conditioner", "aircraft_carrier",
                            "antelope"])
    per_split = {s: {names[i] for i in _columns(ds[s], "label")["label"]} for s in ds}
    assert per_split["test"] == {"aircraft_carrier", "antelope"}
    assert len(per_split["validation"]) == 1 and not per_split["validation"] & per_split["train"]
    assert not (per_split["train"] | per_split["validation"]) & per_split["test"]
    # rows: subjects x images x repetitions
    assert len(ds["test"]) == 2 * 2 * TEST_REPS
    assert len(ds["train"]) + len(ds["validation"]) == 2 * len(TRAIN_CONCEPTS) * TRAIN_IMAGES * TRAIN_REPS
    test = _columns(ds["test"], "eeg", "subject", "repetition", "image_id", "label", "session", "block",
                    "things_index", "official_split")
    assert test["eeg"].shape[1:] == (17, 100) and test["eeg"].dtype == np.float32
    # row order: subject, image, repetition; values are the file's, cast to float32
    np.testing.assert_array_equal(test["eeg"][:TEST_REPS], data[(1, "test")][0].astype(np.float32))
    np.testing.assert_array_equal(test["eeg"][-1], data[(2, "test")][1, -1].astype(np.float32))
    assert test["repetition"].tolist()[:TEST_REPS] == list(range(TEST_REPS)) and set(test["subject"]) == {1, 2}
    assert test["image_id"][0] == "test_images/00001_aircraft_carrier/aircraft_carrier_00s.jpg"
    assert set(test["session"]) == {-1} and set(test["block"]) == {-1}
    # things_index from the release's *_THINGS entries (aircraft_carrier: row 6, antelope: row 8)
    assert test["things_index"].tolist() == ([6] * TEST_REPS + [8] * TEST_REPS) * 2
    assert set(test["official_split"]) == {"test"}
    raw = ds["test"].cast_column("image", ImageFeature(decode=False))[0]["image"]["bytes"]
    assert raw == (images_dir / "test_images" / "00001_aircraft_carrier" / "aircraft_carrier_00s.jpg").read_bytes()
    info = get_eeg_info(ds)
    assert info["name"] == "things-eeg2" and info["sfreq"] == 100.0 and info["ch_names"] == list(THINGS_EEG2_CHANNELS)
    assert info["split"]["strategy"] == "things-zero-shot" and info["split"]["disjoint"] == ["concepts"]
    assert info["split"]["validation"]["concepts"] == sorted(per_split["validation"])
    assert info["split"]["counts"]["test"] == {"trials": 20, "images": 2, "subjects": 2, "blocks": 0, "classes": 2}
    assert info["subjects"] == [1, 2] and info["times_s"] == [-0.2, 0.79]
    assert "CC-BY-4.0" in info["license"] and "THINGS" in info["license"]
    assert info["things_index"].startswith("from image_metadata.npy (train_img_concepts_THINGS")
    assert info["eeg_dtype"]["stored"] == "float32" and info["eeg_dtype"]["source"] == "float64"
    # the validation concepts are a seeded draw
    again = convert_things_eeg2(eeg_dir, images_dir, tmp_path / "again", val_fraction=0.2, seed=3)
    assert get_eeg_info(again)["split"]["validation"]["concepts"] == info["split"]["validation"]["concepts"]


def test_average_subjects_and_things_index(tmp_path, release):
    eeg_dir, images_dir, data = release
    tsv = tmp_path / "things_concepts.tsv"
    ids = ["aardvark", "abacus", "accordion", "acorn", "air_conditioner", "aircraft_carrier", "altar", "antelope"]
    tsv.write_text("Word\tuniqueID\n" + "".join(f"{u.replace('_', ' ')}\t{u}\n" for u in ids))
    assert ids == THINGS_IDS  # the table and the release's *_THINGS numbers agree
    ds = convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out", subjects=[2], average="both", val_fraction=0.0,
                             things_concepts=tsv)
    assert list(ds) == ["train", "test"]
    test = _columns(ds["test"], "eeg", "subject", "repetition", "label", "things_index")
    assert len(test["eeg"]) == 2 and set(test["subject"]) == {2} and set(test["repetition"]) == {-1}
    np.testing.assert_allclose(test["eeg"][1], data[(2, "test")][1].mean(axis=0), rtol=1e-6)
    assert test["things_index"].tolist() == [6, 8]  # aircraft_carrier, antelope rows of the table
    assert len(ds["train"]) == len(TRAIN_CONCEPTS) * TRAIN_IMAGES
    steps = [s["name"] for s in get_eeg_info(ds)["preprocessing"]]
    assert steps == ["from_things_eeg2_preprocessed", "average_repetitions"]
    only_test = convert_things_eeg2(eeg_dir, images_dir, tmp_path / "t", subjects=[1], average="test")
    assert len(only_test["test"]) == 2 and len(only_test["train"]) + len(only_test["validation"]) == 40


def test_things_index_without_things_keys_and_disagreeing_table(tmp_path):
    eeg_dir, images_dir, _ = make_release(tmp_path, subjects=(1,), things_numbers=False)
    ds = convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out", val_fraction=0.0)
    assert set(_columns(ds["test"], "things_index")["things_index"]) == {-1}
    assert get_eeg_info(ds)["things_index"] == "not given (-1)"
    release = make_release(tmp_path / "official", subjects=(1,))
    tsv = tmp_path / "shuffled.tsv"
    tsv.write_text("uniqueID\n" + "".join(f"{u}\n" for u in reversed(THINGS_IDS)))
    with pytest.raises(BadInputFileError, match=r"shuffled.tsv: the rows of concepts \['aardvark', .*differ"):
        convert_things_eeg2(*release[:2], tmp_path / "refused", things_concepts=tsv)
    meta = load_things_npy(release[1] / "image_metadata.npy", [], optional=["train_img_concepts_THINGS"])
    np.save(release[1] / "image_metadata.npy", {**load_things_npy(release[1] / "image_metadata.npy", [
        "train_img_concepts", "train_img_files", "test_img_concepts", "test_img_files"]), **meta})
    with pytest.raises(BadInputFileError, match=r"image_metadata.npy: has 'train_img_concepts_THINGS' but not"):
        convert_things_eeg2(*release[:2], tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_eeg_dtype_float64_keeps_the_release_values(tmp_path, release):
    eeg_dir, images_dir, data = release
    ds = convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out", subjects=[1], val_fraction=0.0,
                             eeg_dtype="float64")
    validate_eeg_dataset(ds)
    assert ds["test"].features["eeg"].dtype == "float64"
    stored = np.array(ds["test"].select(range(TEST_REPS))["eeg"])  # python floats: the stored doubles
    np.testing.assert_array_equal(stored, data[(1, "test")][0])  # exactly the file's values
    assert _columns(ds["test"], "eeg")["eeg"].dtype == np.float32  # the numpy view hands models float32
    info = get_eeg_info(ds)
    assert info["eeg_dtype"]["stored"] == "float64" and info["preprocessing"][0]["dtype"] == "float64"
    assert "EEG values are stored as **float64**" in str(render_dataset_card(ds))
    assert "EEG values are stored as **float32**" in str(render_dataset_card(convert_things_eeg2(
        eeg_dir, images_dir, tmp_path / "narrow", subjects=[1], val_fraction=0.0)))
    with pytest.raises(ValueError, match="eeg_dtype must be one of"):
        convert_things_eeg2(eeg_dir, images_dir, tmp_path / "bad", eeg_dtype="float16")


def test_metadata_as_numpy_string_arrays(tmp_path):
    eeg_dir, images_dir, _ = make_release(tmp_path, subjects=(1,), arrays=True)
    ds = convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out", image_size=8)
    assert ds["test"][0]["image"].size == (8, 8) and len(ds["test"]) == 2 * TEST_REPS


def _npy_with_pickle(path, payload: bytes) -> None:
    """A .npy file whose header announces a 0-d object array, followed by `payload` (as np.save writes it)."""
    from numpy.lib import format as npy_format

    with open(path, "wb") as handle:
        npy_format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
        handle.write(payload)


class _Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_refuses_code_in_a_pickle_and_names_the_file(tmp_path, release):
    eeg_dir, images_dir, _ = release
    marker = tmp_path / "ran"
    target = eeg_dir / "sub-01" / "preprocessed_eeg_test.npy"
    _npy_with_pickle(target, pickle.dumps(np.array({"preprocessed_eeg_data": _Boom(marker)}, dtype=object)))
    with pytest.raises(UnsafePickleError, match=r"preprocessed_eeg_test\.npy: refused global (posix|os)\.system"):
        convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()
    # globals the StyleGAN unpickler allows are refused here too (only numpy reconstructors are)
    from collections import OrderedDict

    _npy_with_pickle(target, pickle.dumps(np.array({"x": OrderedDict(a=1)}, dtype=object)))
    with pytest.raises(UnsafePickleError, match="collections.OrderedDict"):
        load_things_npy(target, ["x"])


def test_refuses_malformed_files(tmp_path, release):
    eeg_dir, images_dir, _ = release
    target = eeg_dir / "sub-02" / "preprocessed_eeg_training.npy"
    np.save(target, np.zeros((3, 4)))
    with pytest.raises(BadInputFileError, match=r"preprocessed_eeg_training\.npy: expected an np\.save of a dict"):
        convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out")
    np.save(target, {"ch_names": list(THINGS_EEG2_CHANNELS), "times": TIMES})
    with pytest.raises(BadInputFileError, match=r"missing keys \['preprocessed_eeg_data'\]"):
        convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out")
    target.write_bytes(b"not a npy file")
    with pytest.raises(BadInputFileError, match="not a .npy file"):
        convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out")
    with pytest.raises(BadInputFileError, match=r"no sub-XX folder for subjects \[7\]"):
        convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out", subjects=[7])
    ds_dir, images, _ = make_release(tmp_path / "wrong_shape", subjects=(1,))
    content = {"preprocessed_eeg_data": np.zeros((3, 5, 17, 100)), "ch_names": list(THINGS_EEG2_CHANNELS),
               "times": TIMES}
    np.save(ds_dir / "sub-01" / "preprocessed_eeg_test.npy", content)
    with pytest.raises(BadInputFileError, match="3 images, but image_metadata.npy lists 2"):
        convert_things_eeg2(ds_dir, images, tmp_path / "out")
    (images / "test_images" / "00002_antelope" / "antelope_00s.jpg").unlink()
    with pytest.raises(BadInputFileError, match="image files listed in image_metadata.npy are missing"):
        convert_things_eeg2(ds_dir, images, tmp_path / "out")


def test_refuses_overlapping_concepts(tmp_path):
    eeg_dir, images_dir, _ = make_release(tmp_path, subjects=(1,))
    meta = load_things_npy(images_dir / "image_metadata.npy", ["train_img_concepts", "train_img_files",
                                                               "test_img_concepts", "test_img_files"])
    meta["test_img_concepts"][0] = "00001_aardvark"
    (images_dir / "test_images" / "00001_aardvark").mkdir()
    (images_dir / "test_images" / "00001_aircraft_carrier" / "aircraft_carrier_00s.jpg").rename(
        images_dir / "test_images" / "00001_aardvark" / "aircraft_carrier_00s.jpg")
    np.save(images_dir / "image_metadata.npy", meta)
    with pytest.raises(BadInputFileError, match=r"test concepts \['aardvark'\] also appear in training"):
        convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out")


def test_cli_convert_things_eeg2(tmp_path, release, capsys):
    from eeg2img_hf.cli import main

    eeg_dir, images_dir, _ = release
    assert "things-eeg2" in CONVERTERS
    out = tmp_path / "out"
    argv = ["convert", "things-eeg2", str(eeg_dir), str(images_dir), str(out), "--subjects", "1", "--average", "train"]
    assert main(argv) == 0
    assert '"rows": {"train": 8, "validation": 2, "test": 10}' in capsys.readouterr().out
    target = eeg_dir / "sub-01" / "preprocessed_eeg_test.npy"
    _npy_with_pickle(target, pickle.dumps(np.array({"x": _Boom(tmp_path / "ran")}, dtype=object)))
    assert main(argv + ["--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "preprocessed_eeg_test.npy" in err[0] and "refused global" in err[0]
    assert not (tmp_path / "ran").exists() and (out / "dataset_dict.json").exists()  # the old dataset is kept
    assert main(["convert", "things-eeg2", str(eeg_dir), str(images_dir), str(eeg_dir / "sub-01" / "x")]) == 2
    assert "destroy the input" in capsys.readouterr().err  # an output inside an input is refused
    wide = tmp_path / "wide"
    assert main(["convert", "things-eeg2", str(eeg_dir), str(images_dir), str(wide), "--subjects", "2",
                 "--eeg-dtype", "float64"]) == 0
    assert get_eeg_info(load_from_disk(str(wide)))["eeg_dtype"]["stored"] == "float64"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # argparse's own refusal: exit 2, usage and one error line
        main(["convert", "things-eeg2", str(eeg_dir), str(images_dir), str(tmp_path / "x"), "--eeg-dtype", "int8"])
    assert exit_info.value.code == 2 and "--eeg-dtype: invalid choice: 'int8'" in capsys.readouterr().err


def test_header_reader_is_numpy_only(tmp_path):
    path = tmp_path / "x.npy"
    _npy_with_pickle(path, io.BytesIO(pickle.dumps(np.array({"a": np.arange(3.0)}, dtype=object))).getvalue())
    assert np.array_equal(load_things_npy(path, ["a"])["a"], np.arange(3.0))
