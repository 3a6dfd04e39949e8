"""Benchmark how much of its EEG condition a generator turns into images (GAN conditioning efficiency).

The figure is the generated-image class accuracy (the share of images, generated from the EEG of held-out trials,
that a judge trained on the real training images assigns to the trial's class) over the encoder's test linear
probe (LinearSVC, C = 1, fitted on the train embeddings, scored on the test embeddings: the `evaluate-encoder`
figure). The class-label (`onehot`) run of the same preset is the generator's own upper bound.

Without `--eeg-run` the script prepares what it is not given under `--work-dir`: the simulated dataset
(`--dataset`, simulator seed 0, the package's default split), a `train-encoder` model (`--encoder-preset`), the
judge (an image classifier trained on the real training images at the GAN's resolution, 15 epochs as in the
quickstart), then trains `train-gan --preset PRESET --kimg KIMG` with EEG conditioning and (unless `--no-onehot`)
with class labels, one after the other, each on `--threads` threads (`--snapshot-kimg K`: a snapshot every K kimg).
With `--eeg-run` (and `--onehot-run`) it scores existing `train-gan` output folders instead; their dataset and
encoder come from the run's training record. A second invocation can share the first one's inputs while it trains
(`--dataset WORK/dataset --encoder WORK/encoder/model --judge WORK/judge`): they are all written before any GAN run.

Every generator is scored on the validation and the test split (`--num-fakes` fakes, random noise, psi 1, FID on
judge features). `--truncation-psi 0.3,0.5` adds conditional truncation (`truncation_center="condition"`) at those
psi: the psi is chosen on validation and only its test figure is reported beside psi 1. `--score-snapshots` also
scores every snapshot the runs hold (validation and test, psi 1). Prints one JSON line, with the environment, and
writes it to `--output` when given.

`--second-judge-runs RUN [RUN ...]` scores existing `train-gan` output folders (of one dataset) with a second judge
instead, trained independently of the first (`--second-judge-seed`, default 1; `--second-judge-widths`, default
24,48,96 against the first judge's 32,64,128; trained under WORK_DIR unless `--second-judge DIR` holds it): the test
accuracy of each run's images at psi 1. It writes WORK_DIR/second_judge.json with the environment and prints it as
one JSON line; nothing is trained but the judge.

    python scripts/bench_gan_conditioning.py [--work-dir DIR] [--preset cpu-small] [--kimg 90] [--threads 1]
        [--dataset thoughtviz | FOLDER] [--encoder FOLDER] [--set class_loss_weight=0 ...] [--no-onehot]
        [--truncation-psi 0.3,0.5,0.7] [--snapshot-kimg 15 --score-snapshots] [--output FILE]
    python scripts/bench_gan_conditioning.py --eeg-run RUN [--onehot-run RUN] [--judge DIR] --work-dir DIR
    python scripts/bench_gan_conditioning.py --second-judge-runs RUN [RUN ...] --work-dir DIR [--second-judge DIR]
        [--second-judge-seed 1] [--second-judge-widths 24,48,96]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from eeg2img_hf.data import get_eeg_info, load_eeg_dataset, simulate_dataset
from eeg2img_hf.evaluation import evaluate_gan
from eeg2img_hf.metrics import evaluate_features
from eeg2img_hf.metrics.image_classifier import CONFIG_NAME, train_image_classifier
from eeg2img_hf.models import EEGEncoderModel, EEGStyleGANConfig
from eeg2img_hf.training import EncoderTrainingArguments, GANTrainingArguments, train_encoder, train_gan
from eeg2img_hf.training.common import compute_embeddings
from eeg2img_hf.utils.allocator import fast_cpu_generation
from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import run_script
from eeg2img_hf.utils.model_folders import load_model_folder
from eeg2img_hf.utils.names import TRAINING_RECORD
from eeg2img_hf.utils.outputs import prepare_output_dir, prepare_result_json

JUDGE_EPOCHS = 15
"""Epochs of the judge trained here (the quickstart's value)."""
SECOND_JUDGE_FILE = "second_judge.json"


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_record(run: Path) -> dict[str, Any]:
    """The training record of a `train-gan` output folder (`RUN/model/eeg2img_training.json`)."""
    path = run / "model" / TRAINING_RECORD
    if not path.is_file():
        raise SystemExit(f"error: {run} is not a finished train-gan output folder (no model/{TRAINING_RECORD})")
    return json.loads(path.read_text(encoding="utf-8"))


def prepare_inputs(work: Path, dataset: str, encoder: str | None, encoder_preset: str) -> tuple[str, str]:
    """The dataset (a saved folder as it is; a simulated preset saved under `work` once) and the encoder (given, or
    trained under `work` once and reused afterwards)."""
    data_dir, encoder_dir = work / "dataset", work / "encoder"
    if Path(dataset).is_dir():
        data_dir = Path(dataset)
    elif not (data_dir / "dataset_dict.json").is_file():
        prepare_output_dir(data_dir, command="bench_gan_conditioning", kind="dataset", what="--work-dir dataset")
        simulate_dataset(dataset, seed=0).save_to_disk(str(data_dir))
    if encoder is not None:
        return str(data_dir), encoder
    if not (encoder_dir / "model" / "config.json").is_file():
        train_encoder(EncoderTrainingArguments.from_preset(encoder_preset, dataset=str(data_dir),
                                                           output_dir=str(encoder_dir), log_with=[]))
    return str(data_dir), str(encoder_dir / "model")


def run_arguments(work: Path, name: str, preset: str, kimg: float, dataset: str, encoder: str | None,
                  overrides: dict[str, Any], snapshot_kimg: float = 0.0) -> GANTrainingArguments:
    """The `train_gan` arguments of one run: the preset, `kimg`, a snapshot every `snapshot_kimg` kimg (0: none)."""
    args = GANTrainingArguments.from_preset(preset, dataset=dataset, encoder=encoder, output_dir=str(work / name),
                                            kimg=kimg, log_with=["csv"], checkpoint_ticks=0, **overrides)
    ticks = snapshot_kimg / args.tick_kimg
    if snapshot_kimg and (ticks < 1 or abs(ticks - round(ticks)) > 1e-9):
        raise ValueError(f"--snapshot-kimg {snapshot_kimg:g} is not a multiple of the preset's tick "
                         f"({args.tick_kimg:g} kimg)")
    args.snapshot_ticks = round(ticks) if snapshot_kimg else 0
    return args


def train_run(args: GANTrainingArguments) -> Path:
    run = Path(args.output_dir)
    if run.exists():
        flag = "--onehot-run" if args.conditioning == "onehot" else "--eeg-run"
        raise SystemExit(f"error: {run} exists; score it with {flag} {run} or choose another --work-dir")
    train_gan(args)
    return run


def judge_resolution(args: GANTrainingArguments) -> int:
    """The image size the runs of `args` will generate (their StyleGAN preset's)."""
    return EEGStyleGANConfig.from_preset(args.stylegan_preset).img_resolution


def linear_probe(encoder: str, data: Any) -> dict[str, float]:
    """The encoder's test linear probe (`evaluate_features`, as `evaluate-encoder` computes it) and the
    faithful-sampler ceiling: the mean probability of the true class under a logistic regression (C = 1) fitted on
    the standardised train embeddings."""
    model = load_model_folder(EEGEncoderModel, encoder, what="encoder")
    (x_train, y_train), (x_test, y_test) = (compute_embeddings(model, data[s]) for s in ("train", "test"))
    seen = evaluate_features(x_train, y_train, x_test, y_test)
    scaler = StandardScaler().fit(x_train)
    logreg = LogisticRegression(C=1.0, max_iter=5000).fit(scaler.transform(x_train), y_train)
    proba = logreg.predict_proba(scaler.transform(x_test))
    true_class = proba[np.arange(len(y_test)), np.searchsorted(logreg.classes_, y_test)]
    return {"linear_svm": round(seen["svm_train_to_test"], 4), "kmeans": round(seen["kmeans_test"], 4),
            "logreg_argmax": round(float((logreg.predict(scaler.transform(x_test)) == y_test).mean()), 4),
            "logreg_mean_true_class_probability": round(float(true_class.mean()), 4)}


def ensure_judge(judge: Path, dataset: str, resolution: int, epochs: int = JUDGE_EPOCHS, seed: int = 0,
                 widths: tuple[int, ...] = (32, 64, 128)) -> Path:
    """The judge saved in `judge`, trained there first if it is not (on the real training images, at `resolution`)."""
    if not (judge / CONFIG_NAME).is_file():
        train_image_classifier(load_eeg_dataset(dataset), image_size=resolution, output_dir=judge, device="cpu",
                               epochs=epochs, seed=seed, widths=widths)
    return judge


def evaluate_split(run: Path, tag: str, dataset: str, judge: Path, work: Path, num_fakes: int, split: str,
                   psi: float = 1.0, center: str = "average", model_dir: Path | None = None) -> dict[str, Any]:
    """Generated-image class accuracy and FID on judge features of `run`'s generator (or of `model_dir`, one of its
    snapshots) on `split` (its evaluation JSON goes to `WORK/evaluations/TAG[_psiP_CENTER].json`)."""
    tag += "" if psi == 1.0 else f"_psi{psi}_{center}"
    with fast_cpu_generation():
        r = evaluate_gan(str(model_dir or run / "model"), dataset=dataset, split=split, classifier_dir=judge,
                         device="cpu",
                         num_fakes=num_fakes, batch_size=64, truncation_psi=psi, truncation_center=center,
                         output_json=work / "evaluations" / f"{tag}.json")
    return {"accuracy": r["class_accuracy"]["generated"], "fid_judge_features": round(r["fid"], 3),
            "judge_real_accuracy": round(r["class_accuracy"]["judge_real_accuracy"], 4)}


def score_snapshots(run: Path, name: str, dataset: str, judge: Path, work: Path, num_fakes: int) -> list[dict]:
    """Validation and test accuracy / FID at psi 1 of every snapshot under `RUN/snapshots` (`kimg_NNNNNN`), in
    training order."""
    rows = []
    for snapshot in sorted((run / "snapshots").glob("kimg_*")):
        kimg = int(snapshot.name.split("_")[1])
        scores = {split: evaluate_split(run, f"{name}_kimg{kimg}_{split}", dataset, judge, work, num_fakes, split,
                                        model_dir=snapshot) for split in ("validation", "test")}
        rows.append({"kimg": kimg, **scores})
    return rows


def score_run(run: Path, name: str, dataset: str, judge: Path, work: Path, num_fakes: int,
              psis: list[float]) -> dict[str, Any]:
    """Validation and test accuracy / FID at psi 1 and, with `psis`, conditional truncation chosen on validation."""
    record = read_record(run)

    def evaluate(split: str, psi: float = 1.0, center: str = "average") -> dict[str, Any]:
        return evaluate_split(run, f"{name}_{split}", dataset, judge, work, num_fakes, split, psi, center)

    args = record["training_args"]
    out: dict[str, Any] = {
        "run": str(run), "conditioning": record["conditioning"], "preset_fields": {
            k: args.get(k) for k in ("stylegan_preset", "batch_size", "learning_rate", "class_loss_weight", "seed")},
        "kimg": record["kimg"], "train_seconds": record["train_seconds"], "sec_per_kimg": record["sec_per_kimg"],
        "validation": evaluate("validation"), "test": evaluate("test"),
    }
    if psis:
        sweep = {psi: evaluate("validation", psi, "condition")["accuracy"] for psi in psis}
        best = max(psis, key=lambda p: (sweep[p], p))  # ties: the larger psi (more diversity)
        out["conditional_truncation"] = {"validation_by_psi": {str(p): a for p, a in sweep.items()},
                                         "psi_chosen_on_validation": best,
                                         "test": evaluate("test", best, "condition")}
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default="outputs/bench_gan_conditioning", type=Path)
    parser.add_argument("--dataset", default="thoughtviz",
                        help="simulated preset (simulator seed 0) or a saved DatasetDict folder; without --eeg-run")
    parser.add_argument("--encoder", help="a trained EEGEncoderModel folder (default: train --encoder-preset)")
    parser.add_argument("--encoder-preset", default="cpu-small")
    parser.add_argument("--preset", default="cpu-small", help="train-gan preset")
    parser.add_argument("--kimg", type=float, default=90.0, help="training length of each GAN run")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a GAN training argument (VALUE parsed as JSON when it can be)")
    parser.add_argument("--no-onehot", action="store_true", help="skip the class-label ablation")
    parser.add_argument("--eeg-run", type=Path, help="score this existing train-gan output folder (EEG conditioning)")
    parser.add_argument("--onehot-run", type=Path, help="score this existing class-label train-gan output folder")
    parser.add_argument("--judge", type=Path, help="a saved judge (default: WORK_DIR/judge, trained if missing)")
    parser.add_argument("--num-fakes", type=int, default=1000)
    parser.add_argument("--truncation-psi", default="", help="comma-separated psi for conditional truncation")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--judge-epochs", type=int, default=JUDGE_EPOCHS, help="epochs of a judge trained here")
    parser.add_argument("--snapshot-kimg", type=float, default=0.0,
                        help="when training: a snapshot every this many kimg (default 0: none)")
    parser.add_argument("--score-snapshots", action="store_true",
                        help="also score every snapshot the runs hold (validation and test, psi 1)")
    parser.add_argument("--output", type=Path, help="also write the JSON line to this file")
    parser.add_argument("--second-judge-runs", type=Path, nargs="+", metavar="RUN",
                        help="score these existing train-gan output folders with a second judge (test split, psi 1)")
    parser.add_argument("--second-judge", type=Path,
                        help="the second judge (default: WORK_DIR/second_judge, trained if missing)")
    parser.add_argument("--second-judge-seed", type=int, default=1, help="seed of the second judge (default 1)")
    parser.add_argument("--second-judge-widths", default="24,48,96",
                        help="conv widths of the second judge (default 24,48,96)")
    ns = parser.parse_args(argv)
    try:
        ns.second_widths = tuple(int(w) for w in ns.second_judge_widths.split(","))
    except ValueError:
        parser.error(f"--second-judge-widths takes comma-separated integers, got {ns.second_judge_widths!r}")
    if ns.second_judge_runs and (ns.eeg_run is not None or ns.onehot_run is not None or ns.set):
        parser.error("--second-judge-runs scores existing runs: no --eeg-run, --onehot-run or --set with it")
    if ns.judge_epochs < 1 or any(w < 1 for w in ns.second_widths):
        parser.error("--judge-epochs and every --second-judge-widths value must be >= 1")
    try:
        ns.psis = [float(p) for p in ns.truncation_psi.split(",") if p.strip()]
    except ValueError:
        parser.error(f"--truncation-psi takes comma-separated numbers, got {ns.truncation_psi!r}")
    if any(not 0.0 <= p < 1.0 for p in ns.psis):
        parser.error(f"--truncation-psi takes values in [0, 1), got {ns.truncation_psi!r}")
    if ns.num_fakes < 2 or ns.threads < 1 or ns.kimg <= 0 or ns.snapshot_kimg < 0:
        parser.error("--num-fakes must be >= 2, --threads >= 1, --kimg > 0 and --snapshot-kimg >= 0")
    if ns.snapshot_kimg and (ns.eeg_run is not None or ns.second_judge_runs):
        parser.error("--snapshot-kimg applies to runs trained here: not with --eeg-run or --second-judge-runs")
    ns.overrides = {}
    for item in ns.set:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            parser.error(f"--set takes FIELD=VALUE, got {item!r}")
        ns.overrides[field.strip()] = parse_value(value)
    if ns.eeg_run is not None and (ns.overrides or (ns.onehot_run is None and not ns.no_onehot)):
        parser.error("with --eeg-run pass --onehot-run RUN or --no-onehot, and no --set (nothing is trained)")
    if ns.eeg_run is None and ns.onehot_run is not None:
        parser.error("--onehot-run needs --eeg-run")
    return ns


def score_with_second_judge(ns: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Test accuracy at psi 1 of every `--second-judge-runs` folder under a second, independently trained judge."""
    if len(set(ns.second_judge_runs)) != len(ns.second_judge_runs):
        raise ValueError(f"--second-judge-runs names a run more than once: {[str(r) for r in ns.second_judge_runs]}")
    records = {run: read_record(run) for run in ns.second_judge_runs}
    datasets = sorted({record["dataset"] for record in records.values()})
    if len(datasets) != 1:
        raise ValueError(f"--second-judge-runs were trained on different datasets ({datasets}); score each alone")
    dataset = datasets[0]
    resolutions = {json.loads((run / "model" / "config.json").read_text(encoding="utf-8"))["img_resolution"]
                   for run in records}
    if len(resolutions) != 1:
        raise ValueError(f"--second-judge-runs generate images of different sizes ({sorted(resolutions)})")
    judge = ensure_judge(ns.second_judge or work / "second_judge", dataset, resolutions.pop(), ns.judge_epochs,
                         ns.second_judge_seed, ns.second_widths)
    config = json.loads((judge / CONFIG_NAME).read_text(encoding="utf-8"))
    trained = {"seed": config.get("training", {}).get("seed"), "widths": tuple(config.get("widths", ()))}
    if trained != {"seed": ns.second_judge_seed, "widths": ns.second_widths}:
        raise ValueError(f"--second-judge {judge} holds a judge with seed {trained['seed']} and widths "
                         f"{trained['widths']}, not seed {ns.second_judge_seed} and widths {ns.second_widths}")
    runs = []
    for i, (run, record) in enumerate(records.items()):
        args = record["training_args"]
        runs.append({"run": str(run), "conditioning": record["conditioning"], "kimg": record["kimg"],
                     "class_loss_weight": args.get("class_loss_weight"), "seed": args.get("seed"),
                     "test": evaluate_split(run, f"second_judge_{i}", dataset, judge, work, ns.num_fakes, "test")})
    return {
        "benchmark": "gan_conditioning_second_judge", "dataset": dataset, "num_fakes": ns.num_fakes,
        "judge": {"dir": str(judge), "seed": ns.second_judge_seed, "widths": list(ns.second_widths),
                  "val_accuracy": config.get("val_accuracy")},
        "protocol": "generated-image class accuracy on the test split at psi 1, judged by a second image classifier "
                    "trained independently of the first (other seed and widths) on the real training images; "
                    "judge_real_accuracy is the same judge on the real test images (per trial)",
        "runs": runs, "environment": environment({"second_judge": ns.second_judge_seed, "evaluation": 0}),
    }


def write_result(result: dict[str, Any], output: Path | None) -> None:
    """Print `result` as one JSON line and write it to `output` (checked by `prepare_result_json` before any work)."""
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result), flush=True)


def existing_runs(ns: argparse.Namespace) -> tuple[str, str, dict[str, Path]]:
    """The dataset, encoder and runs of `--eeg-run` / `--onehot-run` (from the EEG run's training record)."""
    record = read_record(ns.eeg_run)
    if record["conditioning"] != "eeg":
        raise ValueError(f"--eeg-run {ns.eeg_run} was trained with {record['conditioning']!r} conditioning")
    runs = {"eeg": ns.eeg_run}
    if ns.onehot_run is not None:
        runs["onehot"] = ns.onehot_run
    return record["dataset"], record["encoder"], runs


def trained_runs(ns: argparse.Namespace, work: Path) -> tuple[str, str, dict[str, Path], Path]:
    """Prepare the dataset, encoder and judge, then train the EEG run and (unless `--no-onehot`) its one-hot
    ablation; returns the dataset, encoder, runs and judge."""
    dataset, encoder = prepare_inputs(work, ns.dataset, ns.encoder, ns.encoder_preset)
    planned = {"eeg": run_arguments(work, "gan_eeg", ns.preset, ns.kimg, dataset, encoder, ns.overrides,
                                    ns.snapshot_kimg)}
    if not ns.no_onehot:
        planned["onehot"] = run_arguments(work, "gan_onehot", ns.preset, ns.kimg, dataset, None,
                                          {**ns.overrides, "conditioning": "onehot"}, ns.snapshot_kimg)
    judge = ensure_judge(ns.judge or work / "judge", dataset, judge_resolution(planned["eeg"]), ns.judge_epochs)
    return dataset, encoder, {name: train_run(args) for name, args in planned.items()}, judge


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ns = parse_args(argv)
    if ns.output is not None:  # refused before hours of training, not after
        ns.output = prepare_result_json(ns.output, what="--output")
    torch.set_num_threads(ns.threads)
    work = ns.work_dir
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if ns.second_judge_runs:
        result = {**score_with_second_judge(ns, work), "seconds": round(time.perf_counter() - started, 1)}
        (work / SECOND_JUDGE_FILE).write_text(json.dumps(result, indent=2))
        write_result(result, ns.output)
        return result
    if ns.eeg_run is not None:
        dataset, encoder, runs = existing_runs(ns)
        resolution = json.loads((runs["eeg"] / "model" / "config.json").read_text(encoding="utf-8"))["img_resolution"]
        judge = ensure_judge(ns.judge or work / "judge", dataset, resolution, ns.judge_epochs)
    else:
        dataset, encoder, runs, judge = trained_runs(ns, work)
    data = load_eeg_dataset(dataset)
    probe = linear_probe(encoder, data)
    scored = {name: score_run(run, name, dataset, judge, work, ns.num_fakes, ns.psis if name == "eeg" else [])
              for name, run in runs.items()}
    if ns.score_snapshots:
        for name, run in runs.items():
            scored[name]["snapshots"] = score_snapshots(run, name, dataset, judge, work, ns.num_fakes)
    eeg = scored["eeg"]
    info = get_eeg_info(data)
    result = {
        "benchmark": "gan_conditioning", "dataset": dataset, "split": info.get("split"),
        "simulator_seed": info.get("simulator", {}).get("seed"), "encoder": encoder, "threads": ns.threads,
        "judge": str(judge), "num_fakes": ns.num_fakes,
        "protocol": "generated-image class accuracy = share of images generated from the EEG of a split's trials "
                    "(random trials, random z and noise) that the judge (image classifier trained on the real "
                    "training images) assigns to the trial's class; probe = LinearSVC C=1 fitted on train "
                    "embeddings, scored on test; truncation psi chosen on validation only",
        "encoder_probe_test": probe,
        "efficiency_psi1": round(eeg["test"]["accuracy"] / probe["linear_svm"], 4),
        "runs": scored,
    }
    if "conditional_truncation" in eeg:
        result["efficiency_conditional_truncation"] = round(
            eeg["conditional_truncation"]["test"]["accuracy"] / probe["linear_svm"], 4)
    result["environment"] = environment({"simulator": 0, "evaluation": 0})
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_result(result, ns.output)
    return result


if __name__ == "__main__":
    run_script(main, "bench_gan_conditioning.py")
