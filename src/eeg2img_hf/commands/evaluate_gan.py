"""`eeg2img evaluate-gan` (FID / KID / IS and generated-image class accuracy) and `eeg2img train-image-classifier`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..utils.allocator import fast_cpu_generation
from ..utils.model_folders import check_model_folder
from ..utils.outputs import create_output_dir, prepare_output_dir
from ._run_options import add_allow_unfinished_option
from .evaluate_clip import _csv_ints

DEFAULT_RESULT_NAME = "gan_eval_results.json"


def cmd_evaluate_gan(ns: argparse.Namespace) -> None:
    """Run [`evaluate_gan`] (inside [`fast_cpu_generation`]) and print the headline figures as one JSON line."""
    from ..evaluation.evaluate_gan import evaluate_gan

    check_model_folder(ns.model, "eeg2img_stylegan", allow_unfinished=ns.allow_unfinished)
    output = ns.output or (str(Path(ns.model) / DEFAULT_RESULT_NAME) if Path(ns.model).is_dir() else None)
    train = ns.train_classifier or ns.classifier is None
    with fast_cpu_generation():  # this process's own allocator policy: large blocks reuse freed heap memory
        result = evaluate_gan(
            ns.model, dataset=ns.dataset, split=ns.split, num_fakes=ns.num_fakes, extractor=ns.extractor,
            classifier_dir=None if train else ns.classifier, classifier_output_dir=ns.classifier if train else None,
            seed=ns.seed, batch_size=ns.batch_size, output_json=output, truncation_psi=ns.truncation_psi,
            noise_mode=ns.noise_mode, classifier_epochs=ns.classifier_epochs, device=ns.device,
            truncation_center=ns.truncation_center, precision=ns.precision,
        )
    inception = result["inception_score"]
    print(json.dumps({
        "output": output, "extractor": result["extractor"]["name"], "fid": result["fid"],
        "kid": result["kid"]["mean"], "inception_score": inception["mean"] if inception else None,
        "class_accuracy": result["class_accuracy"]["generated"],
        "judge_real_accuracy": result["class_accuracy"]["judge_real_accuracy"],
        "chance": result["class_accuracy"]["chance"],
        "comparable_to_paper": result["paper_protocol"]["metrics"],
        "not_comparable_because": result["paper_protocol"]["reasons"],
    }))


def cmd_train_image_classifier(ns: argparse.Namespace) -> None:
    """Train the judge on a dataset's real images and save it (safetensors + JSON)."""
    from ..data import load_eeg_dataset
    from ..metrics.image_classifier import train_image_classifier

    prepare_output_dir(ns.output_dir, command="train-image-classifier", kind="model", reuse=True,
                       inputs={"dataset": ns.dataset}, what="output_dir")
    create_output_dir(ns.output_dir, command="train-image-classifier", kind="model")
    model = train_image_classifier(
        load_eeg_dataset(ns.dataset), image_size=ns.image_size, epochs=ns.epochs, batch_size=ns.batch_size,
        learning_rate=ns.lr, patience=ns.patience, widths=ns.widths, seed=ns.seed, output_dir=ns.output_dir,
        device=ns.device,
    )
    print(json.dumps({"saved": ns.output_dir, "val_accuracy": model.config.val_accuracy,
                      "best_epoch": model.config.training["best_epoch"]}))


def register(subparsers) -> None:
    """Add `evaluate-gan` and `train-image-classifier` to the `eeg2img` sub-commands."""
    p = subparsers.add_parser("evaluate-gan", help="FID/KID/IS and generated-image class accuracy of a generator")
    p.add_argument("model", help="EEGStyleGANModel folder (save_pretrained)")
    p.add_argument("--dataset", help="preset name, sim:<preset> or saved DatasetDict (default: recorded with model)")
    p.add_argument("--split", default="test", help="reference split: reals and conditioning trials (default test)")
    p.add_argument("--num-fakes", type=int, default=50_000, help="generated images (paper: 50,000)")
    p.add_argument("--extractor", default="classifier",
                   help="'classifier' (judge features, default, NOT comparable to the paper), 'fid-helper' "
                        "(pip install eeg2img_hf[fid]) or a TorchScript Inception file (inception-2015-12-05.pt)")
    p.add_argument("--classifier", metavar="DIR", help="saved image classifier (judge) folder")
    p.add_argument("--train-classifier", action="store_true",
                   help="train the judge on the dataset's real images (saved to --classifier DIR when given)")
    p.add_argument("--classifier-epochs", type=int, default=30, help="max epochs when training the judge")
    p.add_argument("--output", help=f"result JSON (default <MODEL>/{DEFAULT_RESULT_NAME})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--truncation-psi", type=float, default=1.0)
    p.add_argument("--truncation-center", choices=["average", "condition"], default="average",
                   help="with --truncation-psi below 1: towards w_avg (default, StyleGAN2-ADA) or each trial's own "
                        "mean w (conditional truncation)")
    p.add_argument("--noise-mode", choices=["random", "const", "none"], default="random",
                   help="per-layer noise of the fakes (default random: StyleGAN2-ADA's metric code, the paper's)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="precision of the generator: fp32 (default) or bf16 (bfloat16 autocast, faster where the CPU "
                        "has bfloat16 units or on a GPU; refused elsewhere); the judge stays float32")
    p.add_argument("--device", help="e.g. cuda or cpu (default: cuda when available)")
    add_allow_unfinished_option(p)
    p.set_defaults(func=cmd_evaluate_gan)

    p = subparsers.add_parser("train-image-classifier", help="train the class-accuracy judge on real images")
    p.add_argument("dataset", help="preset name, sim:<preset> or saved DatasetDict folder")
    p.add_argument("output_dir", help="folder for model.safetensors + image_classifier.json")
    p.add_argument("--image-size", type=int, default=64, help="input side; use the generator's resolution")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--patience", type=int, default=5, help="early stopping on validation accuracy")
    p.add_argument("--widths", type=_csv_ints, default=(32, 64, 128), help="conv stage widths, e.g. 32,64,128")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.set_defaults(func=cmd_train_image_classifier)
