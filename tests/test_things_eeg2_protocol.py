"""THINGS-EEG2 with EEGClip: k-way zero-shot scores, precomputed image features, subject regimes, the CLI path."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from datasets import DatasetDict, concatenate_datasets

from eeg2img_hf.cli import main
from eeg2img_hf.data import dataset_subjects, simulate_dataset
from eeg2img_hf.evaluation.evaluate_clip import evaluate_clip
from eeg2img_hf.evaluation.things_protocol import (
    PUBLISHED_THINGS_EEG2,
    REGIME_DEFINITIONS,
    subject_regime,
    way_accuracy,
)
from eeg2img_hf.models import EEGClipConfig, EEGClipModel, make_image_processor
from eeg2img_hf.training.image_features import compute_image_features, load_image_features
from eeg2img_hf.utils.errors import BadInputFileError, Eeg2ImgError

from testing_utils import save_tiny_clip

SIM = {"n_subjects": 2, "n_train_concepts": 16, "n_test_concepts": 6, "train_images_per_concept": 2,
       "train_repetitions": 2, "test_repetitions": 3, "image_size": 32}


def _brute_force(scores, target, k):
    """Mean top-1 / top-5 over every set of k - 1 distractors (all candidates of other concepts)."""
    top1, top5 = [], []
    for q, t in enumerate(target):
        others = [g for g in range(scores.shape[1]) if g != t]
        for chosen in itertools.combinations(others, k - 1):
            beaten = sum(scores[q, g] >= scores[q, t] for g in chosen)
            top1.append(beaten == 0)
            top5.append(beaten <= 4)
    return float(np.mean(top1)), float(np.mean(top5))


def test_exact_k_way_equals_the_mean_over_all_distractor_sets():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(9, 8))
    target = rng.integers(0, 8, size=9)
    scores[0, 1] = scores[0, target[0]]  # a tie counts against the query
    concept = np.arange(8)
    for k in (2, 4, 7, 8):
        exact = way_accuracy(scores, target, concept, k)
        top1, top5 = _brute_force(scores, target, k)
        assert exact["top1"] == pytest.approx(top1)
        assert exact["top5"] == (pytest.approx(top5) if k > 5 else None)
    sampled = way_accuracy(scores, target, concept, 4, n_draws=3000, seed=1)
    assert sampled["top1"] == pytest.approx(way_accuracy(scores, target, concept, 4)["top1"], abs=0.03)
    assert sampled == way_accuracy(scores, target, concept, 4, n_draws=3000, seed=1)
    assert sampled != way_accuracy(scores, target, concept, 4, n_draws=3000, seed=2)
    # the hypergeometric draw matches drawing the distractor sets themselves (and the exact mean), top-5 too
    rng = np.random.default_rng(5)
    many, targets, concepts = rng.normal(size=(40, 12)), rng.integers(0, 12, 40), np.arange(12) // 2
    for k in (3, 7):
        drawn = _drawn_sets(many, targets, concepts, k, draws=1500, rng=np.random.default_rng(6))
        sampled = way_accuracy(many, targets, concepts, k, n_draws=1500, seed=3)
        exact = way_accuracy(many, targets, concepts, k)
        for key in ("top1", "top5") if k > 5 else ("top1",):
            assert sampled[key] == pytest.approx(drawn[key], abs=0.02) and exact[key] == pytest.approx(
                drawn[key], abs=0.02)
    with pytest.raises(ValueError, match="9-way needs 2 <= k <= 8"):
        way_accuracy(scores, target, concept, 9)
    # other images of the query's concept are never distractors
    two = np.array([0, 0, 1, 2])
    assert way_accuracy(np.array([[1.0, 5.0, 0.0, 0.0]]), np.array([0]), two, 3)["top1"] == 1.0
    assert PUBLISHED_THINGS_EEG2["results"][0]["top1"] == 0.156 and PUBLISHED_THINGS_EEG2["chance"]["top1"] == 0.005


def _drawn_sets(scores, target, concept, k, draws, rng) -> dict[str, float]:
    """k-way top-1 / top-5 by drawing `draws` uniform distractor sets per query (the definition, slowly)."""
    hits1, hits5 = [], []
    for q in range(len(target)):
        pool = np.flatnonzero(concept != concept[target[q]])
        for _ in range(draws):
            beaten = (scores[q, rng.choice(pool, k - 1, replace=False)] >= scores[q, target[q]]).sum()
            hits1.append(beaten == 0)
            hits5.append(beaten <= 4)
    return {"top1": float(np.mean(hits1)), "top5": float(np.mean(hits5))}


def _tiny_model(n_chans=17, n_times=100, **overrides) -> EEGClipModel:
    torch.manual_seed(0)
    config = EEGClipConfig.from_preset("things-eeg2-tsconv", encoder_config={"n_chans": n_chans, "n_times": n_times},
                                       vision_config={"model_type": "resnet", "embedding_size": 8,
                                                      "hidden_sizes": [8, 12], "depths": [1, 1],
                                                      "layer_type": "basic"}, image_size=32, **overrides)
    return EEGClipModel(config).eval()


def test_precomputed_vision_features_give_the_pixel_path():
    model = _tiny_model()
    pixels, eeg = torch.randn(4, 3, 32, 32), torch.randn(4, 17, 100)
    features = model.get_vision_features(pixels)
    assert features.shape == (4, model.config.vision_embed_dim)
    torch.testing.assert_close(model.get_image_features(vision_features=features), model.get_image_features(pixels))
    a = model(eeg_values=eeg, pixel_values=pixels, return_loss=True)
    b = model(eeg_values=eeg, vision_features=features, return_loss=True)
    torch.testing.assert_close(a.loss, b.loss)
    with pytest.raises(ValueError, match="exactly one"):
        model.get_image_features(pixels, vision_features=features)
    with pytest.raises(ValueError, match="frozen vision tower"):
        _tiny_model(freeze_vision_tower=False)(eeg_values=eeg, vision_features=features)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """A tiny full CLIP checkpoint (text and vision towers) with its processor, standing in for a Hub CLIP."""
    return save_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "things"
    simulate_dataset("things-eeg2", **SIM).save_to_disk(str(path))
    return path


def test_image_features_file_round_trip_and_refusals(clip_dir, data_dir, tmp_path):
    model = EEGClipModel.from_vision_pretrained("things-eeg2-tsconv", vision_model=str(clip_dir))
    out = tmp_path / "features.safetensors"
    summary = compute_image_features(model, str(data_dir), out)
    assert summary["n_images"] == 16 * 2 + 6 and summary["dim"] == 24
    features, rows, meta = load_image_features(out, model.config)
    assert features.shape == (38, 24) and meta["vision_model_name_or_path"] == json.dumps(str(clip_dir))
    split = simulate_dataset("things-eeg2", **SIM)["test"]
    first = split.select([0])
    pixels = EEGClipModel.from_vision_pretrained("things-eeg2-tsconv", vision_model=str(clip_dir))

    processed = make_image_processor(model.config)(images=[first[0]["image"].convert("RGB")], return_tensors="pt")
    torch.testing.assert_close(features[rows[first[0]["image_id"]]], pixels.get_vision_features(
        processed["pixel_values"])[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(Eeg2ImgError, match="already exists"):
        compute_image_features(model, str(data_dir), out)
    compute_image_features(model, str(data_dir), out, overwrite=True, splits=["test"])
    other = EEGClipConfig.from_dict({**model.config.to_dict(), "image_mean": [0.5, 0.5, 0.5]})
    with pytest.raises(BadInputFileError, match="another image_mean"):
        load_image_features(out, other)
    other = EEGClipConfig.from_dict({**model.config.to_dict(), "vision_weights_sha256": "0" * 64})
    with pytest.raises(BadInputFileError, match="another vision_weights_sha256"):
        load_image_features(out, other)
    with pytest.raises(Eeg2ImgError, match="vision_weights_sha256"):
        compute_image_features(_tiny_model(), str(data_dir), tmp_path / "random.safetensors")
    (tmp_path / "not.safetensors").write_bytes(b"junk")
    with pytest.raises(BadInputFileError, match="not a readable safetensors"):
        load_image_features(tmp_path / "not.safetensors", model.config)


def _cli(args, capsys) -> dict:
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_features_train_subject_regimes_and_zero_shot_protocol(clip_dir, data_dir, tmp_path, capsys):
    features = tmp_path / "features.safetensors"
    summary = _cli(["image-features", "--dataset", str(data_dir), "--output", str(features), "--vision-model",
                    str(clip_dir)], capsys)
    assert summary["n_images"] == 38
    common = ["train-clip", "--preset", "things-eeg2", "--dataset", str(data_dir), "--vision-model", str(clip_dir),
              "--image-features", str(features), "--epochs", "2", "--batch-size", "8", "--log-with", ""]
    _cli([*common, "--output-dir", str(tmp_path / "dep"), "--subjects", "1"], capsys)
    _cli([*common, "--output-dir", str(tmp_path / "loso"), "--exclude-subjects", "1"], capsys)
    record = json.loads((tmp_path / "dep" / "model" / "eeg2img_training.json").read_text())
    assert record["train_subjects"] == [1] and record["image_features"] == str(features)
    assert json.loads((tmp_path / "loso" / "model" / "eeg2img_training.json").read_text())["train_subjects"] == [2]
    for run, trained in (("dep", [1]), ("loso", [2])):  # the model's own config records its training subjects
        config = json.loads((tmp_path / run / "model" / "config.json").read_text())
        assert config["train_subjects"] == trained and config["dataset_subjects"] == [1, 2]
    results = {}
    for run in ("dep", "loso"):
        out = tmp_path / f"{run}.json"
        line = _cli(["evaluate-clip", str(tmp_path / run / "model"), "--dataset", str(data_dir), "--protocol",
                     "things-zero-shot", "--subjects", "1", "--output", str(out)], capsys)
        assert line["mean_over_subjects"]["averaged"]["2-way"]["top1"] is not None and line["train_subjects"]
        results[run] = json.loads(out.read_text())
    assert results["dep"]["regime"] == "subject-dependent" and results["loso"]["regime"] == "leave-one-subject-out"
    dep = results["dep"]
    assert dep["ways"] == [2, 4, 6] and dep["ways_requested"] == [2, 4, 10, 200]  # capped at the 6 test images
    assert dep["counts"] == {"test_images": 6, "test_concepts": 6, "test_concepts_seen_in_training": 0}
    assert dep["per_subject"]["1"]["n_queries"] == {"averaged": 6, "single_trial": 18}
    assert dep["chance"]["2-way"] == {"top1": 0.5, "top5": None} and dep["chance"]["6-way"]["top5"] == 5 / 6
    assert "k_way" in dep["definitions"] and dep["draws"]["method"].startswith("exact")
    assert dep["published_reference"]["results"][1]["method"] == "UBP" and dep["simulated"] is True
    assert (dep["mean_over_subjects"]["averaged"]["6-way"]["top1"]
            == dep["per_subject"]["1"]["averaged"]["6-way"]["top1"])
    # a features file of another tower is refused before training starts
    other = tmp_path / "other"
    other.mkdir()

    assert main([*common[:5], "--vision-model", str(clip_dir), "--image-features", str(tmp_path / "dep.json"),
                 "--output-dir", str(other / "run"), "--epochs", "1"]) == 2
    assert "image-features" in capsys.readouterr().err


def test_regime_labels_follow_the_literature():
    everyone = [1, 2, 3, 4]
    assert subject_regime([2], everyone, 2) == "subject-dependent"
    assert subject_regime([1, 3, 4], everyone, 2) == "leave-one-subject-out"
    assert subject_regime([1], everyone, 3) == "cross-subject"  # one other subject is not "every other subject"
    assert subject_regime([1, 3], everyone, 2) == "cross-subject"
    assert subject_regime([1, 2, 3, 4], everyone, 2) == "joint" and subject_regime([2, 3], everyone, 2) == "joint"
    assert subject_regime(None, everyone, 2) == "unknown" and subject_regime([], everyone, 2) == "unknown"
    # subjects the model was trained on count as the dataset's even when the evaluated dataset lacks them
    assert subject_regime([1, 3, 4], [2], 2) == "leave-one-subject-out"
    assert set(REGIME_DEFINITIONS) >= {"subject-dependent", "leave-one-subject-out", "cross-subject", "joint",
                                       "unknown"}


def _things_data(n_subjects=3):
    return simulate_dataset("things-eeg2", **{**SIM, "n_subjects": n_subjects})


def test_regimes_come_from_the_model_config_and_unknown_without_a_record(tmp_path):
    data = _things_data()
    model = _tiny_model()
    result = evaluate_clip(model, data, protocol="things-zero-shot", subjects=[1, 2, 3])
    assert result["regime"] == "unknown" and result["train_subjects"] is None
    assert {r["regime"] for r in result["per_subject"].values()} == {"unknown"}
    model.config.train_subjects, model.config.dataset_subjects = [1], [1, 2, 3]
    model.save_pretrained(tmp_path / "dep")
    result = evaluate_clip(str(tmp_path / "dep"), data, protocol="things-zero-shot", output_json=tmp_path / "r.json")
    regimes = {s: r["regime"] for s, r in result["per_subject"].items()}
    assert regimes == {"1": "subject-dependent", "2": "cross-subject", "3": "cross-subject"}
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["train_subjects"] == [1] and written["dataset_subjects"] == [1, 2, 3]
    assert written["regime"] == ["cross-subject", "subject-dependent"] and "joint" in written["regime_definitions"]
    model.config.train_subjects = [2, 3]
    assert evaluate_clip(model, data, protocol="things-zero-shot", subjects=[1])["regime"] == "leave-one-subject-out"
    only_one = DatasetDict({"test": data["test"].filter(lambda s: s == 1, input_columns="subject")})
    assert dataset_subjects(only_one) == [1, 2, 3]  # the metadata's subjects count, not only the rows present
    assert evaluate_clip(model, data, protocol="things-zero-shot", subjects=[2])["regime"] == "joint"


def test_single_trial_figures_on_averaged_rows_are_refused():
    data = _things_data(2)
    first = data["test"].filter(lambda r: r == 0, input_columns="repetition")  # one row per subject and image
    averaged = DatasetDict({**data, "test": first})
    model = _tiny_model()
    with pytest.raises(Eeg2ImgError, match="one row per subject and image") as refusal:
        evaluate_clip(model, averaged, protocol="things-zero-shot", single_trial=True)
    assert "--average train" in str(refusal.value) and "--no-single-trial" in str(refusal.value)
    result = evaluate_clip(model, averaged, protocol="things-zero-shot")  # default: scored only when present
    assert result["single_trial"] is False and list(result["mean_over_subjects"]) == ["averaged"]
    assert result["per_subject"]["1"]["n_queries"] == {"averaged": 6}
    full = evaluate_clip(model, data, protocol="things-zero-shot", single_trial=True)
    assert full["single_trial"] is True and full["per_subject"]["1"]["n_queries"]["single_trial"] == 18


def test_zero_shot_preconditions_refuse_seen_concepts_and_unmarked_splits(tmp_path, capsys):
    data = _things_data(2)
    model = _tiny_model()
    leaky = DatasetDict({**data, "test": concatenate_datasets([data["test"], data["train"].select(range(3))])})
    names = data["train"].features["label"].names
    leaked = sorted({names[i] for i in data["train"].select(range(3))["label"]})
    with pytest.raises(Eeg2ImgError, match=rf"{len(leaked)} of the {6 + len(leaked)} concepts of split 'test' also "
                                           rf"appear in train / validation \(e.g. {leaked[0]}"):
        evaluate_clip(model, leaky, protocol="things-zero-shot")
    with pytest.raises(Eeg2ImgError, match="split 'validation' is a training split"):
        evaluate_clip(model, data, split="validation", protocol="things-zero-shot")
    # a ThoughtViz-shaped dataset: its 10 test concepts are all in training, and its split is not concept-disjoint
    thoughtviz = simulate_dataset("thoughtviz", n_subjects=2, trials_per_block=3, n_blocks_per_class=1, image_size=32)
    folder = tmp_path / "tv-model"
    _tiny_model(n_chans=14, n_times=32).save_pretrained(folder)
    data_dir = tmp_path / "tv"
    thoughtviz.save_to_disk(str(data_dir))
    assert main(["evaluate-clip", str(folder), "--dataset", str(data_dir), "--protocol", "things-zero-shot"]) == 2
    err = capsys.readouterr().err
    assert "10 of the 10 concepts of split 'test' also appear in train / validation" in err
    assert "not marked as a THINGS-style zero-shot split" in err and "Traceback" not in err
    unmarked = DatasetDict({"test": thoughtviz["test"]})
    with pytest.raises(Eeg2ImgError, match=r"split \('within-block'\) is not marked as a THINGS-style zero-shot"):
        evaluate_clip(str(folder), unmarked, protocol="things-zero-shot")
