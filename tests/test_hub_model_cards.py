"""Model cards: rendered from templates, metadata checked offline and against the evaluation JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from eeg2img_hf.hub import MODEL_FAMILIES, check_model_card_metadata, evaluation_metrics, render_model_card
from eeg2img_hf.hub.model_cards import GAN_EXTRACTOR_LABELS
from eeg2img_hf.hub.model_summary import model_headline_metrics
from eeg2img_hf.models import EEGClipConfig, EEGClipModel, EEGEncoderConfig, EEGStyleGANConfig, EEGStyleGANModel

ENCODER = EEGEncoderConfig(n_chans=4, n_times=32, lstm_num_layers=1, lstm_hidden_size=10, embed_dim=12)
GAN_EVAL = {"model": "gan", "dataset": "thoughtviz", "reference_split": "test", "fid": 174.13,
            "kid": {"mean": 0.065, "std": 0.01, "num_subsets": 100}, "inception_score": {"mean": 10.82, "std": 0.2},
            "inception_score_real": {"mean": 11.0}, "class_accuracy": {"generated": 0.35, "chance": 0.1,
            "generated_per_class": {"Apple": 0.5}}, "seeds": {"seed": 0}, "n_fake": 50,
            "extractor": {"name": "inception-2015-12-05.pt", "kind": "inception"},
            "paper_protocol": {"metrics": {"fid": False, "kid": False, "inception_score": False},
                               "reasons": ["num_fakes: 50 (paper: 50000)"]}}
CLIP_EVAL = {"dataset": "eegcvpr40", "split": "test", "split_strategy": {"strategy": "by_block"}, "simulated": False,
             "counts": {"eeg_queries": 10}, "eeg_to_image": {"exact_image": {"top1": 0.2, "mrr": 0.31},
             "same_class": {"top1": 0.5, "map": 0.45}}, "zero_shot_classification": {"eeg": {"top1": 0.6}},
             "trained_head": {"skipped": "train_heads=False"}, "paper": {"mrr": 0.7427}}
RECORD = {"dataset": "thoughtviz", "encoder": "org/tiny-encoder", "kimg": 0.1, "steps": 3, "augment_p": 0.0,
          "dataset_info": {"name": "sim-thoughtviz", "simulated": True, "sfreq": 128.0,
                           "split": {"strategy": "by_block", "seed": 0},
                           "preprocessing": [{"name": "bandpass", "low": 5.0, "high": 95.0}]},
          "classes": ["Apple", "Car", "Dog"], "training_args": {"learning_rate": 0.0025}}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cards")
    torch.manual_seed(0)
    EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=ENCODER)).save_pretrained(root / "gan")
    (root / "gan" / "eeg2img_training.json").write_text(json.dumps(RECORD))
    EEGClipModel(EEGClipConfig.from_preset("tiny")).save_pretrained(root / "clip")
    return root


def _meta(card) -> dict:
    return yaml.safe_load(str(card).split("---\n")[1])


def test_gan_card_metadata_matches_evaluation(folders) -> None:
    card = render_model_card(folders / "gan", repo_id="org/eegstylegan-sim", evaluation=GAN_EVAL,
                             dataset_repo_id="org/sim-tv")
    meta = _meta(card)
    assert meta["license"] == "mit" and meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "other"  # not a Hub pipeline tag: the custom task goes under tags
    assert {"eeg", "brain-computer-interface", "stylegan", "eeg-to-image", "eeg2img_hf", "simulated-data"} <= set(
        meta["tags"])
    assert meta["datasets"] == ["org/sim-tv"] and meta["base_model"] == "org/tiny-encoder"
    (index,) = meta["model-index"]
    assert index["name"] == "eegstylegan-sim"
    (result,) = index["results"]
    assert result["task"]["type"] == "eeg-to-image"
    assert result["dataset"] == {"type": "org/sim-tv", "name": "sim-thoughtviz (SIMULATED)", "split": "test",
                                 "args": {"split_strategy": "by_block", "provenance": "simulated"}}
    metrics = {m["name"]: (m["type"], m["value"]) for m in result["metrics"]}
    assert metrics == {"fid": ("fid", GAN_EVAL["fid"]), "kid.mean": ("kid", GAN_EVAL["kid"]["mean"]),
                       "inception_score.mean": ("inception_score", GAN_EVAL["inception_score"]["mean"]),
                       "class_accuracy.generated": ("class_accuracy", GAN_EVAL["class_accuracy"]["generated"])}
    text = card.text
    for section in ("## Intended use", "## How to use", "## Training data and preprocessing", "## Split and leakage",
                    "## Evaluation", "## Limitations", "## Citation", "## License"):
        assert section in text, section
    assert "SIMULATED" in text and "Imagery data" in text and "@inproceedings{singh2024learning" in text
    assert 'pipeline("eeg-to-image", model="org/eegstylegan-sim", trust_remote_code=True)' in text
    assert "`bandpass` (low=5.0, high=95.0)" in text and "| `fid` | `fid` | 174.1 |" in text
    assert "Auxiliary classification loss" not in text  # the record's run did not use it
    assert check_model_card_metadata(card) == meta


def test_gan_card_names_the_class_loss_when_the_run_used_it(folders, tmp_path) -> None:
    shutil.copytree(folders / "gan", tmp_path / "gan")
    record = {**RECORD, "training_args": {"learning_rate": 0.005, "class_loss_weight": 0.3}}
    (tmp_path / "gan" / "eeg2img_training.json").write_text(json.dumps(record))
    text = render_model_card(tmp_path / "gan", repo_id="org/eegstylegan-sim").text
    assert "Auxiliary classification loss (AC-GAN) at weight 0.3, not in the paper" in text


def test_clip_card_real_data_and_default_evaluation_file(folders, tmp_path) -> None:
    (folders / "clip" / "eval_results.json").write_text(json.dumps(CLIP_EVAL))
    try:
        meta = _meta(render_model_card(folders / "clip", repo_id="org/clip"))
    finally:
        (folders / "clip" / "eval_results.json").unlink()
    (result,) = meta["model-index"][0]["results"]
    assert result["dataset"]["args"] == {"split_strategy": "by_block", "provenance": "real"}
    assert {m["name"]: m["value"] for m in result["metrics"]} == {
        "eeg_to_image.exact_image.top1": 0.2, "eeg_to_image.exact_image.mrr": 0.31,
        "eeg_to_image.same_class.top1": 0.5, "eeg_to_image.same_class.map": 0.45,
        "zero_shot_classification.eeg.top1": 0.6}
    assert "simulated-data" not in meta["tags"] and "base_model" not in meta
    no_eval = _meta(render_model_card(folders / "clip", repo_id="org/clip", tags=["eeg", "custom"]))
    assert "model-index" not in no_eval and no_eval["tags"] == ["eeg", "custom"]  # metadata override


def test_evaluation_metrics_skip_counts_and_definitions() -> None:
    family = MODEL_FAMILIES["eeg2img_eeg_encoder"]
    evaluation = {"seen_classes": {"kmeans_test": 0.9, "svm_train_to_test": 0.8, "n_train": 30, "chance_level": 0.1,
                                   "protocols": {"kmeans_test": "..."}},
                  "unseen_classes": {"svm": 0.7, "flag": True, "missing": None}}
    assert evaluation_metrics(evaluation, family) == [
        {"type": "kmeans_test", "name": "seen_classes.kmeans_test", "value": 0.9},
        {"type": "svm_train_to_test", "name": "seen_classes.svm_train_to_test", "value": 0.8},
        {"type": "svm", "name": "unseen_classes.svm", "value": 0.7},
    ]


def test_bad_inputs_are_refused(folders, tmp_path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        render_model_card(tmp_path / "missing")
    with pytest.raises(ValueError, match="no config.json"):
        render_model_card(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type 'bert'"):
        render_model_card(tmp_path)
    (tmp_path / "eval.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        render_model_card(folders / "gan", evaluation=tmp_path / "eval.json")
    with pytest.raises(ValueError, match="is not a file"):
        render_model_card(folders / "gan", evaluation=tmp_path / "nope.json")
    good = str(render_model_card(folders / "gan", repo_id="org/g", evaluation=GAN_EVAL))
    with pytest.raises(ValueError, match="pipeline_tag"):
        check_model_card_metadata(good.replace("pipeline_tag: other", "pipeline_tag: eeg-to-image"))
    with pytest.raises(ValueError, match="license"):
        check_model_card_metadata(good.replace("license: mit", "license: wtfpl"))
    with pytest.raises(ValueError, match="base_model"):
        check_model_card_metadata(good.replace("base_model: org/tiny-encoder", "base_model: /tmp/enc"))
    with pytest.raises(ValueError, match="finite numeric value"):
        check_model_card_metadata(good.replace("value: 174.13", "value: .nan"))
    with pytest.raises(ValueError, match="no YAML metadata"):
        check_model_card_metadata("# no header")


def _gan_evaluation(kind: str | None, comparable: bool) -> dict:
    evaluation = {key: value for key, value in GAN_EVAL.items() if key not in ("extractor", "paper_protocol")}
    if kind is not None:
        evaluation["extractor"] = {"name": f"{kind}-extractor", "kind": kind}
        evaluation["paper_protocol"] = {
            "metrics": {"fid": comparable, "kid": comparable, "inception_score": comparable and kind == "inception"},
            "reasons": [] if comparable else ["num_fakes: 50 (paper: 50000)"]}
    if kind == "inception-pool":  # no 1008-class head: no IS
        evaluation["inception_score"] = None
    return evaluation


def _card_metric_rows(text: str) -> dict[str, list[str]]:
    """Rows of the card's metric table: name -> [type, value, extractor, paper set-up]."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 5:
            rows[cells[0].strip("`")] = [cells[1].strip("`"), *cells[2:]]
    return rows


@pytest.mark.parametrize("kind, comparable", [("judge", False), ("inception", True), ("inception", False),
                                              ("inception-pool", True), ("custom", False), (None, False)])
def test_gan_card_prose_and_metadata_come_from_the_same_values(folders, kind, comparable) -> None:
    card = render_model_card(folders / "gan", repo_id="org/g", evaluation=_gan_evaluation(kind, comparable))
    (result,) = _meta(card)["model-index"][0]["results"]
    rows = _card_metric_rows(card.text)
    suffix = {"judge": "-judge-features", "custom": "-custom-features", None: "-unknown-features"}.get(kind, "")
    names = set()
    for metric in result["metrics"]:
        names.add(metric["name"])
        assert rows[metric["name"]][:2] == [metric["type"], f"{metric['value']:.4g}"]  # table row == metadata
        base = metric["name"].split(".")[0]
        if base == "class_accuracy":
            assert metric["type"] == "class_accuracy" and "args" not in metric
            continue
        assert metric["type"] == base + suffix  # a bare `fid` / `kid` / `inception_score` only for Inception
        flag = metric["args"]["comparable_to_paper"]
        assert flag is (comparable and (base != "inception_score" or kind == "inception"))
        assert rows[metric["name"]][3] == ("yes" if flag else "**no**")
        assert metric["args"].get("extractor_kind") == kind and metric["args"]["n_fake"] == 50
        expected = "computed with the paper's Table 3 set-up" if flag else "**not comparable** with the paper's"
        assert f"- `{base}`: {expected}" in card.text  # the prose says what the metadata says
    assert names == set(rows)
    if kind in (None, "judge", "custom"):
        assert not any(m["type"] in ("fid", "kid", "inception_score") for m in result["metrics"])
    assert f"FID / KID / IS features: **{GAN_EXTRACTOR_LABELS[kind][1]}**" in card.text
    if not comparable:
        assert "Differences from the paper's set-up" in card.text


def test_headline_metrics_name_the_gan_feature_extractor(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "eeg2img_stylegan"}))
    evaluation = {"fid": 9.6, "kid": {"mean": 0.02}, "class_accuracy": {"generated": 0.49},
                  "extractor": {"kind": "judge", "name": "judge"}}
    (tmp_path / "eval_results.json").write_text(json.dumps(evaluation))
    assert model_headline_metrics(tmp_path) == [
        {"name": "fid (judge features)", "value": 9.6}, {"name": "kid.mean (judge features)", "value": 0.02},
        {"name": "class_accuracy.generated", "value": 0.49}]
    evaluation["extractor"] = {"kind": "inception", "name": "inception-v3"}
    (tmp_path / "eval_results.json").write_text(json.dumps(evaluation))
    assert model_headline_metrics(tmp_path)[0] == {"name": "fid", "value": 9.6}  # Inception FID: the plain name
