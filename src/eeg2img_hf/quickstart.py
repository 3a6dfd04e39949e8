"""The main job (`eeg2img quickstart`): every model of the package on the embedded simulated dataset.

Stages, each written into one output folder and each resumable:

1. `simulate`: the ThoughtViz-shaped simulated dataset (`save_to_disk`), used by every later stage (and by the
   Space: one dataset, one EEG shape, so all four models run on the same trials);
2. `encoder`: the temporal-spatial convolution encoder (`cpu-small`: cross-entropy + triplet loss), evaluated with
   k-means / SVM / kNN and a t-SNE plot;
3. `gan`: EEGStyleGAN-ADA (`cpu-small`, a `kimg` budget) conditioned on the frozen encoder, the image-classifier
   "judge" trained once on the real images, `evaluate_gan` with that judge and an image grid PNG;
4. `clip`: EEGClip (`cpu-small`: a tiny ResNet image tower trained from scratch; the EEG tower starts from the
   stage-2 encoder), retrieval and zero-shot / trained-head classification;
5. `image_to_eeg`: the image -> EEG-space model (`cpu-small`, MSE) and the image -> EEG -> image reconstruction
   judged by the same judge;
6. `report`: `results.json` and `results.md` (headline figures, chance levels, seconds per stage), and sample
   inputs for the next steps: `sample_trial.npy` (one test trial), `sample_image.png` (its stimulus) and, when
   mne is installed, `sample_trials-epo.fif` (one test trial per class as MNE epochs with channel names).

Every model folder gets its evaluation JSON (`eval_results.json`) and a model card (`README.md`). A finished stage
leaves `stages/<name>.json` and is skipped on a re-run; an interrupted trainer continues from its Accelerate
checkpoint. Progress lines carry the time left; transformers' and datasets' own progress bars are off. The run ends
by printing code and a command that run as printed (the tests execute them).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import get_eeg_info, load_eeg_dataset, simulate_dataset
from .evaluation import evaluate_clip, evaluate_encoder, evaluate_gan, evaluate_reconstruction
from .evaluation.generate import generate_grids
from .hub import render_model_card
from .metrics.image_classifier import CONFIG_NAME, load_image_classifier, train_image_classifier
from .training import (
    ClipTrainingArguments,
    EncoderTrainingArguments,
    GANTrainingArguments,
    ImageToEEGTrainingArguments,
    train_clip,
    train_encoder,
    train_gan,
    train_image_to_eeg,
)
from .training.common import RUN_ENTRIES, latest_checkpoint, write_json
from .utils.benchmark import environment
from .utils.outputs import create_output_dir, prepare_output_dir
from .utils.progress import quiet_library_progress

__all__ = ["QUICKSTART_OUTPUT_DIR", "QUICKSTART_STAGES", "QUICKSTART_SETTINGS", "find_quickstart_outputs",
           "parse_stages", "quickstart_layout", "results_markdown", "run_quickstart", "usage_text"]

QUICKSTART_OUTPUT_DIR = "outputs/quickstart"
"""Where `eeg2img quickstart` writes by default (relative to the working directory)."""

QUICKSTART_STAGES = ("simulate", "encoder", "gan", "clip", "image_to_eeg", "report")
"""Stage names in run order (`--stages` takes a comma-separated subset)."""

SAMPLE_FILES = {"trial": "sample_trial.npy", "image": "sample_image.png", "epochs": "sample_trials-epo.fif"}
"""Sample inputs the report stage writes into the output folder (the `.fif` file only when mne is installed)."""

_DEPENDS = {"encoder": ("simulate",), "gan": ("simulate", "encoder"), "clip": ("simulate", "encoder"),
            "image_to_eeg": ("simulate", "encoder", "gan")}

QUICKSTART_SETTINGS: dict[str, dict[str, Any]] = {
    # 10-22 minutes on 2 idle CPU cores depending on the CPU (1,283 s on an AVX2-only AMD EPYC, its GAN stage 1,174 s:
    # docs/results/quickstart-idle-machine.json; per stage in results.md).
    "default": {
        "simulate": {"seed": 0},
        "encoder": {"preset": "cpu-small", "overrides": {}},
        "judge": {"epochs": 15},
        "gan": {"preset": "cpu-small", "overrides": {"kimg": 36.0, "checkpoint_ticks": 6, "snapshot_ticks": 0}},
        "evaluate_gan": {"num_fakes": 1000, "batch_size": 64},
        "grid": {"trials_per_class": 8},
        "clip": {"preset": "cpu-small", "overrides": {"positives": "class"}},
        "evaluate_clip": {"head_epochs": 100},
        "image_to_eeg": {"preset": "cpu-small", "overrides": {"epochs": 8}},
        "reconstruction": {"splits": ("train", "validation", "test"), "batch_size": 32},
        # torch CPU threads per stage (others: 1); capped by the cores this process may use, and 1 unless OpenMP
        # waits passively. Two passive threads ran the GAN stage 1.6-3.8x faster than one, with 0, 1 or 2 busy
        # programs beside it (scripts/bench_threads.py); the small encoder, EEGClip and image -> EEG gain nothing.
        "threads": {"gan": 2},
    },
    # CI smoke run: every stage at toy size; the figures mean nothing.
    "fast": {
        "simulate": {"seed": 0, "n_subjects": 4},
        "encoder": {"preset": "cpu-small", "overrides": {"epochs": 2, "batch_size": 64}},
        "judge": {"epochs": 1},
        "gan": {"preset": "tiny", "overrides": {"kimg": 0.032}},
        "evaluate_gan": {"num_fakes": 16, "batch_size": 16, "kid_subsets": 5, "num_is_splits": 2},
        "grid": {"trials_per_class": 2},
        "clip": {"preset": "cpu-small", "overrides": {"positives": "class", "epochs": 1, "max_steps": 2,
                                                      "batch_size": 16}},
        "evaluate_clip": {"head_epochs": 2},
        "image_to_eeg": {"preset": "tiny", "overrides": {"epochs": 1, "max_steps": 2}},
        "reconstruction": {"splits": ("test",), "batch_size": 16},
        "threads": {},
    },
}
"""Sizes of a default and a `--fast` run (training presets plus overrides, evaluation sizes)."""

_SCRATCH_NOTE = (
    "> **Quickstart model.** Written by `eeg2img quickstart` on SIMULATED data (`eeg2img_hf.data.simulate_dataset`, "
    "ThoughtViz-shaped){towers}. The figures show that the pipeline works end to end, not what EEG encodes.\n"
)


_LAYOUT_MARKERS = {"dataset": "dataset_dict.json", "judge": "image_classifier.json", "encoder": "config.json",
                   "gan": "config.json", "clip": "config.json", "image_to_eeg": "config.json"}


def quickstart_layout(output_dir: str | Path = QUICKSTART_OUTPUT_DIR) -> dict[str, Path]:
    """Where a quickstart run keeps its outputs: the simulated `dataset`, the image-classifier `judge` and the
    model folders `encoder`, `gan`, `clip` and `image_to_eeg` (whether or not they exist yet)."""
    out = Path(output_dir)
    return {"dataset": out / "dataset_thoughtviz", "judge": out / "judge", "encoder": out / "encoder" / "model",
            "gan": out / "gan" / "model", "clip": out / "clip" / "model",
            "image_to_eeg": out / "image_to_eeg" / "model"}


def find_quickstart_outputs(output_dir: str | Path = QUICKSTART_OUTPUT_DIR) -> dict[str, str]:
    """The finished outputs of a quickstart run in `output_dir` (the [`quickstart_layout`] entries whose dataset,
    judge or model folder is complete enough to load), as name -> path; `{}` when there is none."""
    return {name: str(path) for name, path in quickstart_layout(output_dir).items()
            if (path / _LAYOUT_MARKERS[name]).is_file()}


def parse_stages(text: str | None) -> list[str]:
    """`"gan,clip"` -> `["gan", "clip"]` in run order; `None` or `""` -> every stage. Unknown names raise."""
    if not text:
        return list(QUICKSTART_STAGES)
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(QUICKSTART_STAGES))
    if unknown or not wanted:
        raise ValueError(f"--stages expects a comma-separated list of {list(QUICKSTART_STAGES)}, got {text!r}")
    return [s for s in QUICKSTART_STAGES if s in wanted]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def results_markdown(results: dict[str, Any]) -> str:
    """The `results.md` table: one row per stage with its headline figures, chance level and seconds."""
    mode = "`--fast` (toy sizes: figures not meaningful)" if results.get("fast") else "default"
    lines = [
        "# eeg2img quickstart results", "",
        f"Simulated ThoughtViz-shaped data (10 classes), {mode} run; the image towers were trained from scratch.",
        "Accuracies are on the test split unless stated; chance = 1 / number of classes. FID is computed on the "
        "judge's features (not Inception: not comparable with the paper).", "",
        "| stage | headline figures | chance | seconds | output |", "|---|---|---|---|---|",
    ]
    for name, stage in results["stages"].items():
        figures = ", ".join(f"{f['name']} {_fmt(f['value'])}" for f in stage.get("figures", [])) or "-"
        seconds = f"{stage.get('seconds', 0.0):.1f}" + (f", {stage['threads']} th." if stage.get("threads") else "")
        seconds += " (earlier run)" if stage.get("reused") else ""
        lines.append(f"| {name} | {figures} | {_fmt(stage.get('chance'))} | {seconds} | `{stage.get('output', '')}` |")
    lines += ["", f"Total: {results.get('total_seconds', 0.0):.1f} s of stage time."]
    return "\n".join(lines) + "\n"


class _Run:
    """State of one quickstart invocation: folders, settings, stage records."""

    def __init__(self, output_dir: Path, fast: bool, gan_kimg: float | None) -> None:
        self.out = output_dir
        self.mode = "fast" if fast else "default"
        self.settings = json.loads(json.dumps(QUICKSTART_SETTINGS[self.mode]))  # deep copy
        if gan_kimg is not None:
            if not gan_kimg > 0:
                raise ValueError(f"--gan-kimg must be > 0, got {gan_kimg}")
            self.settings["gan"]["overrides"]["kimg"] = float(gan_kimg)
        layout = quickstart_layout(self.out)
        self.data_dir = layout["dataset"]
        self.judge_dir = layout["judge"]
        self.model_dirs = {name: layout[name] for name in ("encoder", "gan", "clip", "image_to_eeg")}

    def record_path(self, stage: str) -> Path:
        return self.out / "stages" / f"{stage}.json"

    def finished(self, stage: str) -> dict[str, Any] | None:
        """The record of a finished stage whose outputs still exist, else `None`."""
        path = self.record_path(stage)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); delete it to re-run stage {stage!r}") from None
        if record.get("mode") != self.mode:
            raise ValueError(f"{self.out} holds a {record.get('mode')!r} quickstart run, this is a {self.mode!r} "
                             "run: choose another --output-dir (nothing is overwritten)")
        if all(Path(p).exists() for p in record.get("outputs", [])):
            return record
        return None

    def save(self, stage: str, record: dict[str, Any]) -> dict[str, Any]:
        record = {"stage": stage, "mode": self.mode, **record}
        self.record_path(stage).parent.mkdir(parents=True, exist_ok=True)
        write_json(self.record_path(stage), record)
        return record


def _continue(run_dir: Path) -> dict[str, bool]:
    """How a stage's trainer treats what an earlier, interrupted quickstart left in `run_dir`: continue from its
    latest checkpoint (`resume`), or, when it was stopped before its first checkpoint, start that run anew
    (`overwrite`: the folder is the quickstart's own, and the trainer deletes nothing it did not write)."""
    if latest_checkpoint(run_dir) is not None:
        return {"resume": True}
    return {"overwrite": any((run_dir / name).exists() for name in RUN_ENTRIES)}


def _chance(n_classes: int) -> float:
    return 1.0 / n_classes


def _write_card(model_dir: Path, evaluation: Path, towers: str = "") -> str:
    """Render the model card into `model_dir/README.md` with the quickstart note (simulated data, from-scratch)."""
    card = render_model_card(model_dir, repo_id=str(model_dir), evaluation=evaluation)  # loading code = real path
    note = _SCRATCH_NOTE.format(towers=towers)
    lines = card.text.split("\n")
    heading = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
    card.text = "\n".join(lines[:heading + 1] + ["", note] + lines[heading + 1:])
    card.save(model_dir / "README.md")
    return str(model_dir / "README.md")


# ----------------------------------------------------------------------------------------------------------
# Stages


def _stage_simulate(run: _Run) -> dict[str, Any]:
    if not (run.data_dir / "dataset_dict.json").exists():
        simulate_dataset("thoughtviz", **run.settings["simulate"]).save_to_disk(str(run.data_dir))
    data = load_eeg_dataset(str(run.data_dir))
    info = get_eeg_info(data)
    counts = {split: len(data[split]) for split in data}
    classes = data["train"].features["label"].names
    figures = [{"name": f"{split} trials", "value": n} for split, n in counts.items()]
    figures.append({"name": "EEG shape", "value": f"{info.get('n_chans')} x {info.get('n_times')}"})
    return {"output": str(run.data_dir), "outputs": [str(run.data_dir / "dataset_dict.json")], "figures": figures,
            "chance": _chance(len(classes)), "counts": counts, "classes": classes, "simulated": info.get("simulated")}


def _stage_encoder(run: _Run) -> dict[str, Any]:
    cfg = run.settings["encoder"]
    out = run.out / "encoder"
    args = EncoderTrainingArguments.from_preset(cfg["preset"], dataset=str(run.data_dir), output_dir=str(out),
                                                **_continue(out), **cfg["overrides"])
    summary = train_encoder(args)
    model_dir = Path(summary["model_dir"])
    result = evaluate_encoder(model_dir)
    seen = result["seen_classes"]
    card = _write_card(model_dir, model_dir / "eval_results.json")
    figures = [{"name": "k-means", "value": seen["kmeans_test"]}, {"name": "SVM", "value": seen["svm_train_to_test"]},
               {"name": "kNN-3", "value": seen["knn3_train_to_test"]}]
    return {"output": str(model_dir), "outputs": [str(model_dir / "config.json"), str(model_dir / "eval_results.json"),
                                                   card, str(model_dir / "tsne_test.png")],
            "figures": figures, "chance": seen.get("chance_level"), "train_seconds": summary["train_seconds"],
            "eval_json": str(model_dir / "eval_results.json"), "tsne_png": str(model_dir / "tsne_test.png")}


def _train_judge(run: _Run, image_size: int) -> dict[str, Any]:
    """Train the image-classifier judge once (on the real training images) at the generator's resolution."""

    if (run.judge_dir / CONFIG_NAME).is_file():
        judge = load_image_classifier(run.judge_dir)
        if judge.config.image_size == image_size:
            return {"val_accuracy": judge.config.val_accuracy, "reused": True}
        raise ValueError(f"{run.judge_dir} holds a judge for {judge.config.image_size} px images, the generator "
                         f"makes {image_size} px: choose another --output-dir")
    judge = train_image_classifier(load_eeg_dataset(str(run.data_dir)), image_size=image_size,
                                   output_dir=run.judge_dir, device="cpu", **run.settings["judge"])
    return {"val_accuracy": judge.config.val_accuracy, "reused": False}


def _stage_gan(run: _Run) -> dict[str, Any]:
    cfg = run.settings["gan"]
    args = GANTrainingArguments.from_preset(cfg["preset"], dataset=str(run.data_dir),
                                            encoder=str(run.model_dirs["encoder"]), output_dir=str(run.out / "gan"),
                                            **_continue(run.out / "gan"), **cfg["overrides"])
    summary = train_gan(args)
    model_dir = Path(summary["model_dir"])
    resolution = json.loads((model_dir / "config.json").read_text())["img_resolution"]
    print(f"      training the image-classifier judge on the real training images ({resolution} px)")
    judge = _train_judge(run, resolution)
    print("      evaluate_gan: FID / KID / IS on judge features and generated-image class accuracy")
    result = evaluate_gan(model_dir, dataset=str(run.data_dir), classifier_dir=run.judge_dir, device="cpu",
                          output_json=model_dir / "eval_results.json", **run.settings["evaluate_gan"])
    grid = generate_grids(str(model_dir), output_dir=run.out / "gan" / "samples", dataset=str(run.data_dir),
                          seeds=[0], device="cpu", **run.settings["grid"])
    card = _write_card(model_dir, model_dir / "eval_results.json")
    accuracy = result["class_accuracy"]
    figures = [{"name": "generated-image class accuracy", "value": accuracy["generated"]},
               {"name": "judge on real test images", "value": accuracy["judge_real_accuracy"]},
               {"name": "FID (judge features)", "value": result["fid"]},
               {"name": "kimg", "value": summary["kimg"]}]
    return {"output": str(model_dir), "outputs": [str(model_dir / "config.json"), str(model_dir / "eval_results.json"),
                                                   card, *grid["files"]],
            "figures": figures, "chance": accuracy["chance"], "train_seconds": summary["train_seconds"],
            "sec_per_kimg": summary["sec_per_kimg"], "judge": {"dir": str(run.judge_dir), **judge},
            "grid_png": grid["files"][0], "real_png": grid["files"][1],
            "eval_json": str(model_dir / "eval_results.json")}


def _stage_clip(run: _Run) -> dict[str, Any]:
    cfg = run.settings["clip"]
    args = ClipTrainingArguments.from_preset(cfg["preset"], dataset=str(run.data_dir), simulate={},
                                             encoder=str(run.model_dirs["encoder"]), output_dir=str(run.out / "clip"),
                                             **_continue(run.out / "clip"), **cfg["overrides"])
    summary = train_clip(args)
    model_dir = Path(summary["model_dir"])
    result = evaluate_clip(model_dir, str(run.data_dir), output_json=model_dir / "eval_results.json",
                           **run.settings["evaluate_clip"])
    card = _write_card(model_dir, model_dir / "eval_results.json",
                       towers="; the image tower is a small ResNet trained from scratch (no pretrained backbone "
                              "could be downloaded), where the paper used an ImageNet ResNet-50")
    same = result["eeg_to_image"]["same_class"]
    head = result["trained_head"].get("eeg", {}).get("test", {})
    figures = [{"name": "EEG->image same-class MRR", "value": same["mrr"]},
               {"name": "same-class mAP", "value": same["map"]},
               {"name": "zero-shot EEG top-1", "value": result["zero_shot_classification"]["eeg"]["top1"]},
               {"name": "trained-head EEG top-1", "value": head.get("top1")}]
    return {"output": str(model_dir), "outputs": [str(model_dir / "config.json"), str(model_dir / "eval_results.json"),
                                                   card],
            "figures": figures, "chance": _chance(result["counts"]["classes"]),
            "train_seconds": summary["train_seconds"], "eval_json": str(model_dir / "eval_results.json")}


def _stage_image_to_eeg(run: _Run) -> dict[str, Any]:
    cfg = run.settings["image_to_eeg"]
    args = ImageToEEGTrainingArguments.from_preset(
        cfg["preset"], encoder=str(run.model_dirs["encoder"]), dataset=str(run.data_dir),
        generator=str(run.model_dirs["gan"]), output_dir=str(run.out / "image_to_eeg"),
        **_continue(run.out / "image_to_eeg"), **cfg["overrides"])
    summary = train_image_to_eeg(args)
    model_dir = Path(summary["model_dir"])
    if not (run.judge_dir / "model.safetensors").is_file():
        raise ValueError(f"no judge in {run.judge_dir}: run the 'gan' stage first")
    rec = run.settings["reconstruction"]
    print("      evaluate_reconstruction: image -> EEG embedding -> EEGStyleGAN image, judged by the image classifier")
    result = evaluate_reconstruction(model_dir, str(run.model_dirs["gan"]), str(run.data_dir), str(run.judge_dir),
                                     splits=tuple(rec["splits"]), batch_size=rec["batch_size"],
                                     output_path=model_dir / "eval_results.json")
    card = _write_card(model_dir, model_dir / "eval_results.json",
                       towers="; the image tower is a small ResNet trained from scratch (no pretrained backbone "
                              "could be downloaded)")
    figures = [{"name": "reconstruction class accuracy", "value": result["all"]["reconstruction_class_accuracy"]},
               {"name": "judge on the input images", "value": result["all"]["real_image_judge_accuracy"]},
               {"name": "images", "value": result["all"]["n_images"]},
               {"name": "validation k-means of predicted embeddings", "value": summary["best_validation"]}]
    return {"output": str(model_dir), "outputs": [str(model_dir / "config.json"), str(model_dir / "eval_results.json"),
                                                   card],
            "figures": figures, "chance": result["chance"], "train_seconds": summary["train_seconds"],
            "eval_json": str(model_dir / "eval_results.json")}


_STAGE_FUNCTIONS = {"simulate": _stage_simulate, "encoder": _stage_encoder, "gan": _stage_gan, "clip": _stage_clip,
                    "image_to_eeg": _stage_image_to_eeg}
_TITLES = {"simulate": "simulating the ThoughtViz-shaped dataset",
           "encoder": "training + evaluating the EEG encoder (tsconv, cross-entropy + triplet loss)",
           "gan": "training EEGStyleGAN-ADA on the frozen encoder, judge, evaluate_gan, image grid",
           "clip": "training + evaluating EEGClip (image tower from scratch)",
           "image_to_eeg": "training the image -> EEG model (MSE), image -> EEG -> image reconstruction",
           "report": "writing results.json, results.md and sample inputs"}


# ----------------------------------------------------------------------------------------------------------
# Entry point


def run_quickstart(
    output_dir: str | Path = "outputs/quickstart",
    fast: bool = False,
    stages: list[str] | str | None = None,
    gan_kimg: float | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Simulate data; train, evaluate and card the encoder, EEGStyleGAN-ADA, EEGClip and image -> EEG models.

    Args:
        output_dir (`str` or `Path`, *optional*, defaults to `"outputs/quickstart"`): Everything goes here.
        fast (`bool`, *optional*, defaults to `False`): Toy sizes for CI (seconds per stage; figures meaningless).
        stages (`list[str]` or `str`, *optional*): Stages to run (names of `QUICKSTART_STAGES` or a comma list);
            default all. A stage needs the outputs of the stages it depends on.
        gan_kimg (`float`, *optional*): EEGStyleGAN-ADA training length in thousands of real images (default 36).
        threads (`int`, *optional*): `torch.set_num_threads` for every stage; `0` keeps torch's choice. By default
            (`None`) each stage uses its setting in `QUICKSTART_SETTINGS[...]["threads"]` (the GAN stage 2, the
            others 1), capped by the cores this process may use, and 1 unless OpenMP waits passively
            (`OMP_WAIT_POLICY=PASSIVE`, set by the `eeg2img` command before torch loads): on a CPU that other
            programs use, two spinning OpenMP threads ran the GAN stage 16-56x slower than two passive ones, which
            were the fastest setting with 0, 1 or 2 busy programs beside it (`scripts/bench_threads.py`). The small
            encoder, EEGClip and image -> EEG models gain nothing from more threads. torch's thread count is
            restored at the end.

    Returns:
        `dict`: the content of `results.json` (per-stage figures, chance levels, seconds, folders).
    """
    wanted = parse_stages(stages) if not isinstance(stages, list) else parse_stages(",".join(stages))
    # A non-empty folder must be an earlier quickstart run (its finished stages are reused), never foreign files.
    prepare_output_dir(output_dir, command="quickstart", kind="quickstart", reuse=True, what="--output-dir")
    run = _Run(Path(output_dir), fast, gan_kimg)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise ValueError(f"threads must be an integer >= 0 (0 = torch's choice), got {threads!r}")
    create_output_dir(run.out, command="quickstart", kind="quickstart")
    initial_threads = torch.get_num_threads()
    try:
        with quiet_library_progress():
            records = _run_stages(run, wanted, threads, initial_threads)
    finally:
        torch.set_num_threads(initial_threads)
    results = _report(run, records, wanted)
    if {"encoder", "gan", "clip", "image_to_eeg"} <= set(records):
        print(usage_text(run))
    return results


def _stage_threads(settings: dict[str, Any], stage: str, threads: int | None, default: int) -> int:
    """torch threads for `stage`: `threads` if given (`0` -> `default`, torch's own choice), else the stage's
    entry of `settings["threads"]` (1 when absent) capped by the cores this process may use, and 1 unless OpenMP's
    wait policy is passive (`OMP_WAIT_POLICY=PASSIVE`, which the `eeg2img` command sets before torch loads):
    spinning threads collapse on a CPU that other programs use (scripts/bench_threads.py)."""
    if threads is not None:
        return default if threads == 0 else threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    wanted = max(1, min(int(settings.get("threads", {}).get(stage, 1)), cores))
    if wanted > 1 and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        return 1
    return wanted


def _run_stages(run: _Run, wanted: list[str], threads: int | None, default_threads: int) -> dict[str, dict[str, Any]]:
    """Run (or reuse) every wanted stage in order, each with its thread count; returns the stage records."""
    records: dict[str, dict[str, Any]] = {}
    total = len(QUICKSTART_STAGES)
    for number, stage in enumerate(QUICKSTART_STAGES[:-1], start=1):
        done = run.finished(stage)
        if done is not None:
            print(f"[{number}/{total}] {stage}: reusing the finished stage ({done['output']})", flush=True)
            records[stage] = {**done, "reused": True}
            continue
        if stage not in wanted:
            continue
        missing = [d for d in _DEPENDS.get(stage, ()) if d not in records]
        if missing:
            raise ValueError(f"stage {stage!r} needs the finished stage(s) {missing} in {run.out}; run them first "
                             "(--stages takes a comma-separated list)")
        print(f"[{number}/{total}] {stage}: {_TITLES[stage]}", flush=True)
        n_threads = _stage_threads(run.settings, stage, threads, default_threads)
        torch.set_num_threads(n_threads)
        started = time.perf_counter()
        record = _STAGE_FUNCTIONS[stage](run)
        records[stage] = run.save(stage, {**record, "seconds": round(time.perf_counter() - started, 1),
                                          "threads": n_threads})
        print(f"      done in {records[stage]['seconds']} s ({n_threads} thread{'s' * (n_threads > 1)}): "
              + ", ".join(f"{f['name']} {_fmt(f['value'])}" for f in record["figures"]), flush=True)
    return records


def _report(run: _Run, records: dict[str, dict[str, Any]], wanted: list[str]) -> dict[str, Any]:
    results = {"output_dir": str(run.out), "fast": run.mode == "fast", "settings": run.settings,
               "stages": {name: {k: v for k, v in rec.items() if k not in ("stage", "mode")}
                          for name, rec in records.items()},
               "total_seconds": round(sum(rec.get("seconds", 0.0) for rec in records.values()), 1),
               "environment": {**environment(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")},
               "model_dirs": {k: str(v) for k, v in run.model_dirs.items() if k in records}}
    if "report" in wanted:
        print(f"[{len(QUICKSTART_STAGES)}/{len(QUICKSTART_STAGES)}] report: {_TITLES['report']}", flush=True)
        if "simulate" in records:
            results["samples"] = write_samples(run.data_dir, run.out)
        write_json(run.out / "results.json", results)
        (run.out / "results.md").write_text(results_markdown(results))
        print(results_markdown(results))
    return results


def write_samples(data_dir: str | Path, out: str | Path) -> dict[str, str]:
    """Sample inputs for the next steps, from the test split of the quickstart's dataset: the first test trial as
    `sample_trial.npy` (float32, channels x samples) and its stimulus as `sample_image.png`; with mne installed,
    one test trial per class as `sample_trials-epo.fif` (MNE epochs with the dataset's channel names and sampling
    rate, event ids = class indices). Returns name -> path of the files written."""
    test = load_eeg_dataset(str(data_dir))["test"]
    info = get_eeg_info(test)
    out = Path(out)
    files = {"trial": out / SAMPLE_FILES["trial"], "image": out / SAMPLE_FILES["image"]}
    first = test[0]
    np.save(files["trial"], np.asarray(first["eeg"], dtype=np.float32))
    first["image"].convert("RGB").save(files["image"])
    try:
        import mne
    except ImportError:
        return {k: str(v) for k, v in files.items()}
    labels = np.asarray(test["label"])
    rows = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
    data = np.stack([np.asarray(test[r]["eeg"], dtype=np.float64) for r in rows])
    mne_info = mne.create_info(list(info["ch_names"]), float(info["sfreq"]), ch_types="eeg")
    events = np.stack([np.arange(len(rows)), np.zeros(len(rows), int), labels[rows]], axis=1)
    names = test.features["label"].names
    event_id = {names[c]: int(c) for c in labels[rows]}
    epochs = mne.EpochsArray(data, mne_info, events=events, event_id=event_id, verbose="error")
    files["epochs"] = out / SAMPLE_FILES["epochs"]
    epochs.save(files["epochs"], overwrite=True, verbose="error")
    return {k: str(v) for k, v in files.items()}


def usage_code(output_dir: str | Path) -> str:
    """Python code that loads every quickstart model and runs each pipeline on the sample inputs; it runs as
    printed from the folder the quickstart ran in (a test executes it)."""
    out = Path(output_dir)
    shape = tuple(np.load(out / SAMPLE_FILES["trial"], mmap_mode="r").shape)
    layout = quickstart_layout(out)
    enc, gan, clip, i2e, data = (str(layout[k]) for k in ("encoder", "gan", "clip", "image_to_eeg", "dataset"))
    return f"""import numpy as np
import torch
from PIL import Image
import eeg2img_hf  # makes transformers' AutoModel and pipeline() know this package's models and tasks
from transformers import AutoModel, pipeline

eeg_trial = np.load("{out / SAMPLE_FILES["trial"]}")  # one EEG trial: (channels, samples) = {shape}
encoder = AutoModel.from_pretrained("{enc}")
print(encoder(eeg_values=torch.from_numpy(eeg_trial)[None]).eeg_embeds.shape)  # (1, embedding size)
eeg_to_image = pipeline("eeg-to-image", model="{gan}")
eeg_to_image(eeg_trial, seed=0)["images"][0].save("generated.png")  # one dict per trial: images, eeg_embeds
gallery = eeg2img_hf.load_eeg_dataset("{data}")["test"]  # images to retrieve from
retrieve = pipeline("eeg-image-retrieval", model="{clip}", gallery=gallery)
print([hit["label"] for hit in retrieve(eeg_trial, top_k=3)])  # the 3 closest images' classes
reconstruct = pipeline("image-to-eeg-to-image", model="{i2e}", generator="{gan}")
result = reconstruct(Image.open("{out / SAMPLE_FILES["image"]}"), seed=0)  # the image's predicted EEG embedding
result["images"][0].save("reconstructed.png")  # and the image generated from it
"""


SPACE_APP = (Path(__file__).parent / "space_template" / "app.py").resolve()
"""The Gradio Space's app, shipped with the package (in a checkout, `spaces/eeg2img-demo/app.py`)."""


def _shell_path(path: str | Path) -> str:
    """`path` relative to the working directory when it lies under it, else absolute."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def space_command(output_dir: str | Path) -> str | None:
    """The shell command that starts the Gradio Space on a quickstart run's models, judge and dataset, with the
    Python that runs this code (the Space needs the `space` extra: gradio and mne); `None` where the app is not
    at hand (an installed wheel)."""
    if not SPACE_APP.is_file():
        return None
    output_dir = _shell_path(Path(output_dir).resolve()) if Path(output_dir).is_absolute() else str(output_dir)
    return shlex.join([f"EEG2IMG_QUICKSTART={output_dir}", _shell_path(sys.executable), _shell_path(SPACE_APP)])


def usage_text(run: _Run) -> str:
    """What to do next, with real paths: the Python code of [`usage_code`] and the Space command."""
    text = f"""
Done. Four Hugging Face model folders (safetensors, config, remote code, README.md card, eval_results.json) in
{run.out}; image grid {run.out / "gan" / "samples" / "seed0000.png"}; results {run.out / "results.md"}.

Next, in Python (runs as printed from this folder; without this package installed, add
trust_remote_code=True to from_pretrained):

""" + usage_code(run.out)
    command = space_command(run.out)
    if command is not None:
        text += f"""
The Space (Gradio) on these models, the judge and the test trials; upload {run.out / SAMPLE_FILES["trial"]}
(or {SAMPLE_FILES["epochs"]}) in its EEG -> image tab:

    {command}
"""
    return text
