"""Split strategies on constructed arrays (known answers, disjointness proofs, refusals), on datasets, and the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from datasets import Value, load_from_disk

from eeg2img_hf.cli import main
from eeg2img_hf.data import get_eeg_info, simulate_dataset
from eeg2img_hf.data.splits import (
    SPLIT_GUARANTEES,
    SPLIT_STRATEGIES,
    check_disjoint,
    split_dataset,
    split_report,
    split_trials,
)


def _design(n_classes: int = 4, n_images: int = 5, n_subjects: int = 3, repeats: int = 2) -> dict[str, np.ndarray]:
    """Every subject sees every image of every class `repeats` times; block = (subject - 1) * n_classes + label."""
    axes = (np.arange(n_classes), np.arange(n_images), np.arange(1, n_subjects + 1), np.arange(repeats))
    label, image, subject = (a.ravel() for a in np.meshgrid(*axes, indexing="ij")[:3])
    return {
        "labels": label,
        "images": np.array([f"c{c}_i{i}" for c, i in zip(label, image)]),
        "subjects": subject,
        "blocks": (subject - 1) * n_classes + label,
    }


def _values(d: dict, key: str, splits: dict, name: str) -> set:
    return set(d[key][splits[name]].tolist())


def _assert_partition(splits: dict, n: int) -> None:
    check_disjoint(splits)
    assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(n))


# ------------------------------------------------------------------------------------------ strategies


def test_paper_by_image_keeps_images_together_and_shares_blocks():
    d = _design()
    splits = split_trials(d["labels"], d["blocks"], d["images"], "paper", 0.2, 0.2, seed=0)
    _assert_partition(splits, len(d["labels"]))
    check_disjoint(splits, images=d["images"])
    # 5 images per class: 1 test, 1 validation, 3 train; each image has 3 subjects x 2 repeats = 6 trials.
    assert {k: len(v) for k, v in splits.items()} == {"train": 72, "validation": 24, "test": 24}
    for label in range(4):
        for name, n_images in (("train", 3), ("validation", 1), ("test", 1)):
            assert len(set(d["images"][splits[name]][d["labels"][splits[name]] == label])) == n_images
    for name in splits:  # all trials of an image, every subject, in one split
        assert _values(d, "subjects", splits, name) == {1, 2, 3}
    assert _values(d, "blocks", splits, "train") & _values(d, "blocks", splits, "test")  # the block confound


def test_paper_uses_official_split_and_carves_validation_by_image():
    d = _design()
    official = np.where(d["images"] == "c0_i0", "test", "train").astype(object)
    official[np.isin(d["images"], ["c1_i0", "c2_i0", "c3_i0"])] = "test"
    official[np.isin(d["images"], ["c0_i1", "c1_i1"])] = "validation"
    given = split_trials(d["labels"], d["blocks"], d["images"], "paper", official=official)
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(given[name], np.flatnonzero(official == name))
    no_val = np.where(official == "validation", "train", official)
    carved = split_trials(d["labels"], d["blocks"], d["images"], "paper", 0.25, seed=3, official=no_val)
    np.testing.assert_array_equal(carved["test"], np.flatnonzero(no_val == "test"))
    check_disjoint(carved, images=d["images"])
    for label in range(4):  # 4 official train images per class: round(0.25 * 4) = 1 goes to validation
        val_images = set(d["images"][carved["validation"]][d["labels"][carved["validation"]] == label])
        assert len(val_images) == 1
    again = split_trials(d["labels"], d["blocks"], d["images"], "paper", 0.25, seed=3, official=no_val)
    assert all(np.array_equal(carved[k], again[k]) for k in carved)
    assert len(split_trials(d["labels"], d["blocks"], d["images"], "paper", 0.0, official=no_val)["validation"]) == 0
    with pytest.raises(ValueError, match="official split names must be one of"):
        split_trials(d["labels"], d["blocks"], d["images"], "paper", official=np.where(official == "validation",
                                                                                      "val", official))
    with pytest.raises(ValueError, match="train and test"):
        split_trials(d["labels"], d["blocks"], d["images"], "paper", official=np.full(len(no_val), "train"))
    with pytest.raises(ValueError, match="only apply to the 'paper'"):
        split_trials(d["labels"], d["blocks"], d["images"], "exemplar-disjoint", official=no_val)


def test_exemplar_disjoint_and_refusals():
    d = _design(n_images=3)
    splits = split_trials(d["labels"], d["blocks"], d["images"], "exemplar-disjoint", 0.2, 0.2, seed=1)
    _assert_partition(splits, len(d["labels"]))
    check_disjoint(splits, images=d["images"])
    for name in splits:  # 3 images per class: one per split, so every class is in every split
        assert len(_values(d, "images", splits, name)) == 4 and len(_values(d, "labels", splits, name)) == 4
    two = _design(n_images=2)  # >= 1 image in train and test, none left for validation
    splits = split_trials(two["labels"], two["blocks"], two["images"], "exemplar-disjoint", 0.2, 0.2)
    assert len(splits["validation"]) == 0 and len(_values(two, "labels", splits, "test")) == 4
    one = _design(n_images=1)
    with pytest.raises(ValueError, match="at least 2 images per class.*class 0 has 1"):
        split_trials(one["labels"], one["blocks"], one["images"], "exemplar-disjoint")
    shared = d["images"].copy()
    shared[d["images"] == "c1_i0"] = "c0_i0"
    with pytest.raises(ValueError, match=r"single class; images \['c0_i0'\]"):
        split_trials(d["labels"], d["blocks"], shared, "exemplar-disjoint")
    with pytest.raises(ValueError, match="needs the image id"):
        split_trials(d["labels"], d["blocks"], None, "exemplar-disjoint")


def test_subject_held_out():
    d = _design(n_subjects=4)
    splits = split_trials(d["labels"], d["blocks"], strategy="subject-held-out", subjects=d["subjects"],
                          test_subjects=[2])
    _assert_partition(splits, len(d["labels"]))
    check_disjoint(splits, subjects=d["subjects"], blocks=d["blocks"])
    assert _values(d, "subjects", splits, "test") == {2}
    assert len(_values(d, "subjects", splits, "validation")) == 1  # round(0.15 * 4) = 1 subject
    assert len(_values(d, "subjects", splits, "train")) == 2
    drawn = split_trials(d["labels"], d["blocks"], strategy="subject-held-out", subjects=d["subjects"],
                         n_test_subjects=2, seed=5)
    assert len(_values(d, "subjects", drawn, "test")) == 2
    again = split_trials(d["labels"], d["blocks"], strategy="subject-held-out", subjects=d["subjects"],
                         n_test_subjects=2, seed=5)
    assert all(np.array_equal(drawn[k], again[k]) for k in drawn)
    kwargs = {"strategy": "subject-held-out", "subjects": d["subjects"]}
    with pytest.raises(ValueError, match="subjects in the data"):
        split_trials(d["labels"], d["blocks"], test_subjects=[9], **kwargs)
    with pytest.raises(ValueError, match="not both"):
        split_trials(d["labels"], d["blocks"], test_subjects=[1], n_test_subjects=1, **kwargs)
    with pytest.raises(ValueError, match=r"n_test_subjects must be an int in \[1, 3\]"):
        split_trials(d["labels"], d["blocks"], n_test_subjects=4, **kwargs)
    unknown = np.where(d["subjects"] == 3, 0, d["subjects"])
    with pytest.raises(ValueError, match="subject = 0"):
        split_trials(d["labels"], d["blocks"], strategy="subject-held-out", subjects=unknown)
    two = _design(n_subjects=2)
    with pytest.raises(ValueError, match=">= 3 subjects"):
        split_trials(two["labels"], two["blocks"], strategy="subject-held-out", subjects=two["subjects"])
    no_val = split_trials(two["labels"], two["blocks"], strategy="subject-held-out", subjects=two["subjects"],
                          val_fraction=0.0)
    assert len(no_val["validation"]) == 0 and len(_values(two, "subjects", no_val, "test")) == 1
    with pytest.raises(ValueError, match="only apply to 'subject-held-out'"):
        split_trials(d["labels"], d["blocks"], d["images"], "paper", test_subjects=[1])


def test_block_strategies_refuse_unknown_blocks():
    d = _design()
    blocks = np.full(len(d["labels"]), -1)
    for strategy in ("within-block", "block-held-out"):
        with pytest.raises(ValueError, match="block = -1"):
            split_trials(d["labels"], blocks, d["images"], strategy)
    # strategies that do not use blocks accept unknown ones
    splits = split_trials(d["labels"], blocks, d["images"], "exemplar-disjoint")
    _assert_partition(splits, len(d["labels"]))


def test_check_disjoint_images_and_subjects():
    splits = {"train": np.array([0, 1]), "test": np.array([2])}
    with pytest.raises(ValueError, match=r"share images \['a'\]"):
        check_disjoint(splits, images=np.array(["a", "b", "a"]))
    with pytest.raises(ValueError, match=r"share subjects \[4\]"):
        check_disjoint(splits, subjects=np.array([4, 5, 4]))
    check_disjoint(splits, images=np.array(["a", "a", "b"]), subjects=np.array([4, 4, 5]))


def test_strategy_names_agree():
    assert set(SPLIT_GUARANTEES) == set(SPLIT_STRATEGIES)


# -------------------------------------------------------------------------------------------- datasets


@pytest.fixture(scope="module")
def tiny():
    return simulate_dataset("thoughtviz", n_subjects=3, trials_per_block=3, images_per_class=4, image_size=8)


@pytest.mark.parametrize("strategy", SPLIT_STRATEGIES)
def test_split_dataset_records_info_and_proves_disjointness(tiny, strategy):
    description = tiny["train"].info.description
    out = split_dataset(tiny, strategy, seed=2)
    assert tiny["train"].info.description == description  # input untouched
    info = get_eeg_info(out)["split"]
    assert info["strategy"] == strategy and info["seed"] == 2 and info["official"] is False
    assert info["disjoint"] == list(SPLIT_GUARANTEES[strategy])
    assert sum(c["trials"] for c in info["counts"].values()) == sum(len(s) for s in tiny.values())
    report = split_report(out)
    assert report["counts"] == info["counts"] and report["overlaps"] == info["overlaps"]
    for pair in report["overlaps"].values():
        for column in ("images", "subjects", "blocks"):
            if column in SPLIT_GUARANTEES[strategy]:
                assert pair[column] == 0
    assert {k: len(v) for k, v in out.items()} == {k: c["trials"] for k, c in info["counts"].items()}
    for name, split in out.items():  # rows travel with their columns
        assert len(set(split["image_id"])) == info["counts"][name]["images"]
    again = split_dataset(tiny, strategy, seed=2)
    assert all(out[k]["image_id"] == again[k]["image_id"] for k in out)


def test_split_dataset_paper_uses_official_column(tiny):
    labelled = {}
    for name, split in tiny.items():
        official = "validation" if name == "validation" else name
        labelled[name] = split.add_column("official_split", [official] * len(split),
                                          feature=Value("string"))
    from datasets import DatasetDict

    out = split_dataset(DatasetDict(labelled), "paper")
    assert get_eeg_info(out)["split"]["official"] is True and get_eeg_info(out)["split"]["disjoint"] == ["trials"]
    for name in out:
        assert out[name]["image_id"] == tiny[name]["image_id"]
        assert set(out[name]["official_split"]) == {name}


def test_split_report_and_refusals(tiny):
    report = split_report(tiny["train"])
    assert list(report["counts"]) == ["dataset"] and report["overlaps"] == {}
    assert report["counts"]["dataset"]["subjects"] == 3 and report["counts"]["dataset"]["classes"] == 10
    with pytest.raises(ValueError, match="strategy must be one of"):
        split_dataset(tiny, "random")


def test_simulate_accepts_every_strategy():
    for strategy in SPLIT_STRATEGIES:
        ds = simulate_dataset("thoughtviz", n_subjects=3, trials_per_block=3, images_per_class=4, image_size=8,
                              split=strategy)
        assert get_eeg_info(ds)["split"] == strategy and all(len(s) for s in ds.values())


# ------------------------------------------------------------------------------------------------- CLI


def _listing(path) -> dict:
    return {os.path.join(r, f): os.stat(os.path.join(r, f)).st_mtime_ns for r, _, fs in os.walk(path) for f in fs}


def test_split_and_preprocess_cli(tiny, tmp_path, capsys):
    source = str(tmp_path / "source")
    tiny.save_to_disk(source)
    before = _listing(source)
    out = str(tmp_path / "held")
    assert main(["split", source, "--strategy", "subject-held-out", "--output", out, "--test-subjects", "2"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["strategy"] == "subject-held-out" and printed["disjoint"] == ["trials", "subjects"]
    assert printed["overlaps"]["train/test"]["subjects"] == 0
    saved = load_from_disk(out)
    assert set(saved["test"]["subject"]) == {2} and get_eeg_info(saved)["split"]["test_subjects"] == [2]
    assert main(["split", source, "--strategy", "paper", "--output", out]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["split", source, "--strategy", "paper", "--output", out, "--overwrite"]) == 0
    assert get_eeg_info(load_from_disk(out))["split"]["strategy"] == "paper"
    assert main(["split", source, "--strategy", "paper", "--output", source, "--overwrite"]) == 2
    assert "input dataset's files" in capsys.readouterr().err
    assert main(["split", source, "--strategy", "paper", "--output", os.path.join(source, "inner")]) == 2
    assert "inside the input dataset" in capsys.readouterr().err
    assert main(["split", source, "--strategy", "paper", "--output", out, "--test-subjects", "x"]) == 2
    assert _listing(source) == before

    processed = str(tmp_path / "processed")
    argv = ["preprocess", source, "--output", processed, "--crop", "2:30", "--bandpass", "5:", "--zscore"]
    assert main(argv) == 0
    capsys.readouterr()
    info = get_eeg_info(load_from_disk(processed))
    assert [s["name"] for s in info["preprocessing"]] == ["crop", "bandpass", "zscore_channels"]
    assert info["preprocessing"][1] == {"name": "bandpass", "l_freq": 5.0, "h_freq": None, "sfreq": 128.0}
    assert info["n_times"] == 28 and load_from_disk(processed)["train"].features["eeg"].shape == (14, 28)
    assert main(["preprocess", source, "--output", str(tmp_path / "none")]) == 2
    assert "at least one step" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["preprocess", source, "--output", str(tmp_path / "bad"), "--crop", "2-30"])
    assert _listing(source) == before


def test_a_split_that_leaves_a_part_empty_is_refused():
    """Two recording blocks per class cannot give train, validation and test blocks: refused, nothing written."""
    ds = simulate_dataset("thoughtviz", n_subjects=1, n_blocks_per_class=2, trials_per_block=3, image_size=8)
    with pytest.raises(ValueError, match="'block-held-out' split leaves validation empty"):
        split_dataset(ds, "block-held-out")
