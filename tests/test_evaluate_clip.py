"""evaluate_clip / `eeg2img evaluate-clip` / `eeg2img build-gallery` on a tiny random EEGClip and a tiny dataset.

Metric values themselves are checked on constructed matrices in tests/test_metrics_retrieval.py; here the
protocol is checked: which embeddings go where, keys, ranges, counts, definitions and the paper's figures.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.evaluation import evaluate_clip, train_probe_head
from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel
from eeg2img_hf.retrieval import GalleryIndex

CLASSES = ["Apple", "Car", "Dog"]


@pytest.fixture(scope="module")
def dataset():
    return simulate_dataset("thoughtviz", n_subjects=2, classes=CLASSES, images_per_class=3, image_size=32,
                            trials_per_block=3, n_blocks_per_class=2)


def make_model(seed: int = 0, n_chans: int = 14):
    torch.manual_seed(seed)
    return EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": n_chans})).eval()


@pytest.fixture(scope="module")
def result(dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "clip_eval.json"
    out = evaluate_clip(make_model(), dataset, head_epochs=3, output_json=path)
    return out, path


def _fractions(block: dict) -> list[float]:
    return [v for k, v in block.items() if k.startswith("top") or k in ("mrr", "map")]


def test_result_structure_and_ranges(result, dataset):
    out, path = result
    assert json.loads(path.read_text()) == json.loads(json.dumps(out))
    test = dataset["test"]
    assert out["split"] == "test" and out["split_strategy"] == "within-block" and out["simulated"] is True
    assert out["train_subjects"] is None  # an untrained model records no training subjects
    recorded = make_model()
    recorded.config.train_subjects = [2]
    assert evaluate_clip(recorded, dataset, train_heads=False)["train_subjects"] == [2]
    counts = out["counts"]
    assert counts["eeg_queries"] == len(test) and counts["gallery_images"] == len(set(test["image_id"]))
    assert counts["train_images_for_prototypes"] == len(set(dataset["train"]["image_id"]))
    assert counts["classes"] == 3
    retrieval = out["eeg_to_image"]
    assert set(retrieval["exact_image"]) == {"top1", "top5", "top10", "mrr"}
    assert set(retrieval["same_class"]) == {"top1", "top5", "top10", "mrr", "map"}
    blocks = [retrieval["exact_image"], retrieval["same_class"], *out["zero_shot_classification"].values(),
              *(out["trained_head"][k][s] for k in ("eeg", "image") for s in ("test", "validation"))]
    for block in blocks:
        values = _fractions(block)
        assert values and all(0.0 < v <= 1.0 for v in values)
        tops = [block[f"top{k}"] for k in (1, 5, 10)]
        assert tops == sorted(tops)
    assert retrieval["exact_image"]["top1"] <= retrieval["same_class"]["top1"]  # the exact image is of the class
    assert retrieval["same_class"]["top5"] == 1.0  # 3 classes: some same-class image is always in the top 5
    assert out["zero_shot_classification"]["eeg"]["n_classes"] == 3
    head = out["trained_head"]["eeg"]
    assert 1 <= head["best_epoch"] <= head["epochs"] == 3 and head["n_train"] == len(dataset["train"])


def test_definitions_and_paper_numbers(result):
    out, _ = result
    definitions = out["definitions"]
    for key in ("exact_image.topk", "exact_image.mrr", "same_class.topk", "same_class.mrr", "same_class.map",
                "zero_shot.eeg", "zero_shot.image", "trained_head", "gallery_split", "source"):
        assert definitions.get(key), key
    assert "TRAIN" in definitions["zero_shot.eeg"] and "VALIDATION" in definitions["trained_head"]
    paper = out["paper"]
    assert paper["eeg_classification"] == {"top1": 0.79, "top5": 0.96, "top10": 0.98}
    assert paper["image_classification"] == {"top1": 0.95, "top5": 0.99, "top10": 1.0}
    assert paper["retrieval"] == {"mrr": 0.7427, "map": 0.6689}
    assert any("VALIDATION" in line and "double softmax" in line for line in paper["protocol_differences"])
    assert any("no code" in line for line in paper["protocol_differences"])


def test_probe_head_learns_separable_features():
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[torch.Tensor, np.ndarray]:
        labels = rng.integers(0, 4, n)
        features = np.eye(8, dtype=np.float32)[labels] * 3 + rng.normal(0, 0.1, (n, 8)).astype(np.float32)
        return torch.from_numpy(features), labels

    train, validation, test = split(80), split(40), split(40)
    out = train_probe_head(train, validation, test, n_classes=4, epochs=30, learning_rate=1e-2, ks=(1, 2))
    assert out["test"]["top1"] == 1.0 and out["validation"]["top1"] == 1.0 and set(out["test"]) == {"top1", "top2"}
    again = train_probe_head(train, validation, test, n_classes=4, epochs=30, learning_rate=1e-2, ks=(1, 2))
    assert again == out  # seeded
    with pytest.raises(ValueError, match="NaN"):
        train_probe_head((torch.full((4, 8), float("nan")), np.zeros(4, int)), validation, test, n_classes=4)


def test_bad_inputs(dataset):
    with pytest.raises(ValueError, match="no 'dev' split"):
        evaluate_clip(make_model(), dataset, split="dev", train_heads=False)
    with pytest.raises(ValueError, match=r"expects \(n_chans, n_times\) = \(5, 32\)"):
        evaluate_clip(make_model(n_chans=5), dataset, train_heads=False)
    with pytest.raises(ValueError, match="EEGClip model"):
        evaluate_clip(torch.nn.Linear(2, 2), dataset)
    out = evaluate_clip(make_model(), dataset, split="validation", head_epochs=1)
    assert "skipped" in out["trained_head"]  # train/validation split: the head would be selected on what it reports


def test_cli_evaluate_clip_and_build_gallery(dataset, tmp_path, capsys):
    model_dir, data_dir = tmp_path / "model", tmp_path / "data"
    model = make_model()
    model.save_pretrained(model_dir)
    dataset.save_to_disk(str(data_dir))
    output = tmp_path / "eval.json"
    assert main(["evaluate-clip", str(model_dir), "--dataset", str(data_dir), "--output", str(output),
                 "--head-epochs", "2", "--ks", "1,2"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = json.loads(output.read_text())
    assert line["eeg_to_image"] == saved["eeg_to_image"] and set(line["trained_head"]) == {"eeg", "image"}
    assert set(saved["eeg_to_image"]["exact_image"]) == {"top1", "top2", "mrr"}
    index_path = tmp_path / "gallery.safetensors"
    assert main(["build-gallery", str(model_dir), str(data_dir), "--output", str(index_path)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    index = GalleryIndex.load(index_path, model=model)
    assert summary["images"] == len(index) == saved["counts"]["gallery_images"]
    assert main(["build-gallery", str(model_dir), str(data_dir), "--output", str(index_path)]) == 2  # no overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["evaluate-clip", str(model_dir), "--dataset", str(data_dir), "--split", "dev"]) == 2
