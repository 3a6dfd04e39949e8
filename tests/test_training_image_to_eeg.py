"""`train_image_to_eeg` (tiny run, resume, triplet + subjects), its CLI, and `evaluate_reconstruction`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.evaluation import evaluate_reconstruction
from eeg2img_hf.metrics.image_classifier import ImageClassifier, ImageClassifierConfig
from eeg2img_hf.models import (
    EEGEncoderConfig,
    EEGEncoderModel,
    EEGStyleGANConfig,
    EEGStyleGANModel,
    ImageToEEGConfig,
    ImageToEEGModel,
)
from eeg2img_hf.pipelines import ImageToEEGToImagePipeline
from eeg2img_hf.training import ImageToEEGTrainingArguments, train_image_to_eeg
from eeg2img_hf.training.train_gan import load_frozen_encoder
from eeg2img_hf.training.train_image_to_eeg import load_image_to_eeg_data

EMBED, CLASSES = 12, ["Apple", "Car", "Dog"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("image_to_eeg")
    dataset = simulate_dataset("thoughtviz", n_subjects=2, n_blocks_per_class=2, trials_per_block=5, image_size=16,
                               classes=CLASSES)
    dataset.save_to_disk(str(root / "data"))
    torch.manual_seed(0)
    EEGEncoderModel(EEGEncoderConfig(n_chans=14, n_times=32, lstm_num_layers=1, lstm_hidden_size=8,
                                     embed_dim=EMBED)).save_pretrained(root / "encoder")
    return root, dataset


def tiny_args(root, output_dir, **overrides) -> ImageToEEGTrainingArguments:
    values = {"encoder": str(root / "encoder"), "dataset": str(root / "data"), "output_dir": str(output_dir)}
    return ImageToEEGTrainingArguments.from_preset("tiny", **{**values, **overrides})


def test_tiny_run_saves_model_processor_and_resumes(setup, tmp_path):
    root, dataset = setup
    first = train_image_to_eeg(tiny_args(root, tmp_path, epochs=1))
    model_dir = tmp_path / "model"
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "eeg2img_training.json"):
        assert (model_dir / name).exists(), name
    assert not list(model_dir.glob("*.bin"))
    assert first["epochs_run"] == 1 and first["selection_metric"] == "val_kmeans"
    assert 0.0 <= first["best_validation"] <= 1.0
    assert first["n_train_trials"] == len(dataset["train"])
    assert first["n_train_images"] == len(set(dataset["train"]["image_id"]))
    steps_per_epoch = first["global_step"]
    resumed = train_image_to_eeg(tiny_args(root, tmp_path, epochs=2, resume=True))
    assert resumed["epochs_run"] == 2 and resumed["global_step"] == 2 * steps_per_epoch
    assert resumed["embeddings_cache"]["reused"]  # targets computed once per (encoder, dataset)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(0 <= float(r["val_kmeans"]) <= 1 and -1 <= float(r["val_cosine"]) <= 1 for r in rows)
    model = ImageToEEGModel.from_pretrained(model_dir)
    assert model.config.eeg_embed_dim == EMBED and model.config.n_subjects is None
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(model_dir)
    pixels = processor(dataset["test"][0]["image"], return_tensors="pt").pixel_values
    assert pixels.shape == (1, 3, model.config.image_size, model.config.image_size)
    assert torch.isfinite(model.eval()(pixel_values=pixels).eeg_embeds).all()


def test_targets_are_the_frozen_encoders_embeddings(setup, tmp_path):
    root, dataset = setup
    args = tiny_args(root, tmp_path)
    encoder = load_frozen_encoder(args.encoder, torch.device("cpu"))

    class _Accelerator:
        def main_process_first(self):
            import contextlib

            return contextlib.nullcontext()

    data = load_image_to_eeg_data(args, encoder, _Accelerator())
    eeg = torch.as_tensor(np.asarray(dataset["train"].with_format("numpy")[:4]["eeg"]))
    expected = encoder(eeg_values=eeg).eeg_embeds
    got = torch.as_tensor(np.asarray(data["dataset"]["train"].with_format("numpy")[:4]["eeg_embeds"]))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert data["n_subjects"] == 2


def test_triplet_loss_subjects_and_cosine_selection(setup, tmp_path):
    root, _ = setup
    summary = train_image_to_eeg(tiny_args(root, tmp_path, loss="triplet", subject_conditioning=True,
                                           selection="cosine", max_steps=2, margin=0.5))
    assert summary["global_step"] == 2 and summary["selection_metric"] == "val_cosine"
    model = ImageToEEGModel.from_pretrained(tmp_path / "model")
    assert model.config.n_subjects == 2 and model.subject_embedding is not None


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"encoder": None}, "encoder"),
        ({"loss": "l1"}, "loss"),
        ({"selection": "fid"}, "selection"),
        ({"batch_size": 1}, "batch_size"),
        ({"colour": 1}, "unknown"),
    ],
)
def test_bad_arguments(setup, tmp_path, overrides, match):
    root, _ = setup
    with pytest.raises(ValueError, match=match):
        tiny_args(root, tmp_path, **overrides)


def test_missing_encoder_folder_and_oversized_batch(setup, tmp_path):
    root, _ = setup
    with pytest.raises(ValueError, match="does not exist"):
        train_image_to_eeg(tiny_args(root, tmp_path, encoder=str(tmp_path / "nope")))
    with pytest.raises(ValueError, match="exceeds"):
        train_image_to_eeg(tiny_args(root, tmp_path / "b", batch_size=10_000))


def test_cli(setup, tmp_path, capsys):
    root, _ = setup
    argv = ["train-image-to-eeg", "--preset", "tiny", "--encoder", str(root / "encoder"), "--dataset",
            str(root / "data"), "--output-dir", str(tmp_path), "--loss", "mse", "--max-steps", "1"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["model_dir"] == str(tmp_path / "model") and (tmp_path / "model" / "model.safetensors").exists()
    assert main(["train-image-to-eeg", "--encoder", str(root / "encoder"), "--preset", "huge"]) == 2


def _constant_judge(label: int, size: int = 16):
    """A real `ImageClassifier` whose head always prefers `label` (zero weights, one-hot bias)."""
    judge = ImageClassifier(ImageClassifierConfig(classes=CLASSES, image_size=size, widths=[4])).eval()
    with torch.no_grad():
        judge.fc.weight.zero_()
        judge.fc.bias.copy_(torch.nn.functional.one_hot(torch.tensor(label), len(CLASSES)).float())
    return judge


@pytest.fixture(scope="module")
def tiny_models():
    torch.manual_seed(0)
    image_model = ImageToEEGModel(ImageToEEGConfig.from_preset("tiny")).eval()
    encoder = EEGEncoderConfig(n_chans=14, n_times=32, lstm_num_layers=1, lstm_hidden_size=8, embed_dim=EMBED)
    generator = EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).eval()
    return image_model, generator


def test_evaluate_reconstruction_known_answer(setup, tiny_models, tmp_path):
    """With a judge that always answers class 1, accuracy = share of class-1 images, per seen/unseen group."""
    _, dataset = setup
    image_model, generator = tiny_models
    report = evaluate_reconstruction(image_model, generator, dataset, _constant_judge(1), num_images_per_image=2,
                                     output_path=tmp_path / "report.json")
    train_ids = set(dataset["train"]["image_id"])
    label_of = {}
    for split in ("train", "validation", "test"):
        for image_id, label in zip(dataset[split]["image_id"], dataset[split]["label"]):
            label_of.setdefault(image_id, label)
    seen = [label_of[i] for i in label_of if i in train_ids]
    unseen = [label_of[i] for i in label_of if i not in train_ids]
    assert report["seen"]["n_images"] == len(seen) and report["unseen"]["n_images"] == len(unseen)
    assert report["all"]["n_images"] == len(label_of) and report["all"]["n_reconstructions"] == 2 * len(label_of)
    assert len(unseen) > 0 and len(seen) > 0
    assert report["seen"]["reconstruction_class_accuracy"] == pytest.approx(np.mean(np.asarray(seen) == 1))
    assert report["unseen"]["reconstruction_class_accuracy"] == pytest.approx(np.mean(np.asarray(unseen) == 1))
    assert report["unseen"]["real_image_judge_accuracy"] == pytest.approx(np.mean(np.asarray(unseen) == 1))
    assert report["chance"] == pytest.approx(1 / 3)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["seen"] == report["seen"] and "unseen" in saved["definitions"]


def test_evaluate_reconstruction_judges_the_generated_images(setup, tiny_models):
    """The judge sees exactly the pipeline's reconstructions (uint8), in image order, then the real images."""
    _, dataset = setup
    image_model, generator = tiny_models
    judge, calls = _constant_judge(0), []
    original = judge.predict
    judge.predict = lambda images, **kw: calls.append(images.clone()) or original(images, **kw)
    evaluate_reconstruction(image_model, generator, dataset, judge, splits=("test",), seed=3)
    ids = list(dict.fromkeys(dataset["test"]["image_id"]))
    first_rows = [list(dataset["test"]["image_id"]).index(i) for i in ids]
    pictures = list(dataset["test"].select(first_rows)["image"])
    pipe = ImageToEEGToImagePipeline(model=image_model, generator=generator, device="cpu")
    expected = torch.stack([torch.from_numpy(r["images"][0]).permute(2, 0, 1)
                            for r in pipe(pictures, seed=3, output_type="np")])
    assert len(calls) == 2 and torch.equal(calls[0], expected)
    real = torch.stack([torch.from_numpy(np.array(p.convert("RGB"))).permute(2, 0, 1) for p in pictures])
    assert torch.equal(calls[1], real)  # the simulated images are already at the judge's 16 px


def test_evaluate_reconstruction_errors(setup, tiny_models):
    _, dataset = setup
    image_model, generator = tiny_models
    other = ImageClassifier(ImageClassifierConfig(classes=["x", "y"], image_size=16, widths=[4]))
    with pytest.raises(ValueError, match="classes"):
        evaluate_reconstruction(image_model, generator, dataset, other)
    with pytest.raises(ValueError, match="unknown splits"):
        evaluate_reconstruction(image_model, generator, dataset, _constant_judge(0), splits=("holdout",))
    with pytest.raises(ValueError, match="'train' split"):
        evaluate_reconstruction(image_model, generator, type(dataset)({"test": dataset["test"]}), _constant_judge(0))
