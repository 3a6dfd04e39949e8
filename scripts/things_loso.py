"""The THINGS-EEG2 leave-one-subject-out table: one fresh EEGClip per held-out subject, scored on that subject.

For every evaluated subject S the script runs two `eeg2img` commands, printed as it runs them (and, with
`--dry-run`, printed without running anything):

    eeg2img train-clip --preset PRESET --dataset DATA --exclude-subjects S --output-dir OUT/heldout-S --seed SEED ...
    eeg2img evaluate-clip OUT/heldout-S/model --dataset DATA --protocol things-zero-shot --subjects S
        --single-trial --output OUT/heldout-S.json --seed SEED

Each fold is a separate `train-clip` run in its own folder: its model is built from the preset and seeded anew, so
no fold starts from another fold's weights. Every fold's model must come out leave-one-subject-out (trained on every
other subject of the dataset, see `eeg2img_hf.evaluation.things_protocol.REGIME_DEFINITIONS`), or the script stops.
The dataset is checked before any training: a concept-disjoint (zero-shot) split, and single trials in its test
split unless `--no-single-trial` (the averaged figures are computed from the single trials at evaluation).

`OUT/loso.json` gets one row per held-out subject (averaged and single-trial top-1 / top-5 of every k-way test), the
mean and standard deviation over subjects, the commands, and the environment (CPU model and instruction-set flags,
torch version, threads, seeds); the last line printed is a JSON summary. An interrupted run resumes when the same
command is run again: finished folds (their `heldout-S.json`) are kept, an unfinished training run resumes from its
last checkpoint. A folder holding a run with other options is refused.

    python scripts/things_loso.py --dataset DATA --output-dir OUT [--preset things-eeg2] [--subjects 1,2,...]
        [--seed 0] [--ways 2,4,10,200] [--device cuda] [--no-single-trial] [--dry-run] [-- TRAIN-CLIP OPTIONS]

Options after `--` go to every `train-clip` command (e.g. `-- --image-features FEATURES --epochs 100`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from eeg2img_hf.cli import main as eeg2img
from eeg2img_hf.data import dataset_subjects, load_eeg_dataset
from eeg2img_hf.evaluation.things_protocol import (
    REGIME_DEFINITIONS,
    check_zero_shot_split,
    single_trial_scoring,
    subject_summary,
)
from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import Eeg2ImgError, RefusedOutputError, run_script
from eeg2img_hf.utils.names import TRAINING_RECORD
from eeg2img_hf.utils.outputs import create_output_dir, prepare_output_dir, read_marker

COMMAND = "things-loso"
PLAN_FILE = "plan.json"
RESULT_FILE = "loso.json"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The script's options and the `train-clip` options given after `--`."""
    args = list(sys.argv[1:] if argv is None else argv)
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(prog="things_loso.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="THINGS-EEG2 dataset folder (or a simulated preset name)")
    parser.add_argument("--output-dir", required=True, help="folder of the fold runs, their results and loso.json")
    parser.add_argument("--preset", default="things-eeg2", help="train-clip preset (default things-eeg2)")
    parser.add_argument("--subjects", help="comma-separated held-out subjects (default: every subject of the dataset)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every fold's training (default 0)")
    parser.add_argument("--ways", default="2,4,10,200", help="k of the k-way tests (default 2,4,10,200)")
    parser.add_argument("--device", help="device of the evaluations, e.g. cuda (default: cpu)")
    parser.add_argument("--no-single-trial", action="store_true", help="averaged figures only")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the commands; run nothing")
    return parser.parse_args(args), extra


def _subject_list(text: str | None, present: list[int]) -> list[int]:
    if text is None:
        return present
    try:
        chosen = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise Eeg2ImgError(f"--subjects must be comma-separated subject numbers, got {text!r}") from None
    unknown = sorted(set(chosen) - set(present))
    if unknown:
        raise Eeg2ImgError(f"--subjects {unknown} are not in the dataset (subjects: {present})")
    return chosen


def check_dataset(ns: argparse.Namespace) -> tuple[list[int], list[int]]:
    """`(held-out subjects, every subject)` after the protocol's preconditions held on the dataset."""
    data = load_eeg_dataset(ns.dataset)
    if "test" not in data:
        raise Eeg2ImgError(f"--dataset {ns.dataset}: no 'test' split (splits: {sorted(data)})")
    check_zero_shot_split(data, "test", f"--dataset {ns.dataset}")
    single_trial_scoring(data["test"], not ns.no_single_trial, f"--dataset {ns.dataset}: split 'test'")
    present = dataset_subjects(data)
    if len(present) < 2:
        raise Eeg2ImgError(f"--dataset {ns.dataset}: leave-one-subject-out needs at least 2 subjects, it has "
                           f"{present}")
    return _subject_list(ns.subjects, present), present


def fold_commands(ns: argparse.Namespace, extra: list[str], subject: int) -> dict[str, Any]:
    """The two `eeg2img` commands of the fold holding out `subject`, and where they write."""
    run = Path(ns.output_dir) / f"heldout-{subject:02d}"
    train = ["train-clip", "--preset", ns.preset, "--dataset", str(ns.dataset), "--exclude-subjects", str(subject),
             "--output-dir", str(run), "--seed", str(ns.seed), *extra]
    evaluate = ["evaluate-clip", str(run / "model"), "--dataset", str(ns.dataset), "--protocol", "things-zero-shot",
                "--subjects", str(subject), "--ways", ns.ways, "--seed", str(ns.seed),
                "--no-single-trial" if ns.no_single_trial else "--single-trial", "--output", f"{run}.json"]
    if ns.device:
        evaluate += ["--device", ns.device]
    return {"subject": subject, "run": str(run), "result": f"{run}.json", "train": train, "evaluate": evaluate}


def prepare_output(ns: argparse.Namespace, plan: dict[str, Any], command: str = COMMAND) -> Path:
    """Create `--output-dir` for a `command` run (or reuse it for the same plan, to resume) and write the plan
    into it."""
    out = prepare_output_dir(ns.output_dir, command=command, kind="run", inputs={"--dataset": ns.dataset},
                             reuse=True, what="--output-dir")
    marker = read_marker(out) if out.is_dir() else None
    if marker is not None and marker.get("command") != command:
        raise RefusedOutputError(f"--output-dir {out} holds a {marker.get('command')} run, not a {command} run",
                                 hint="nothing was changed; choose another folder")
    plan_path = out / PLAN_FILE
    if plan_path.is_file() and json.loads(plan_path.read_text()) != plan:
        raise RefusedOutputError(f"--output-dir {out} holds a {command} run with other options ({plan_path})",
                                 hint="run the same command again to resume it, or choose another folder")
    create_output_dir(out, command=command, kind="run")
    plan_path.write_text(json.dumps(plan, indent=2))
    return out


def run_command(argv: list[str]) -> None:
    print("$ eeg2img " + shlex.join(argv), file=sys.stderr, flush=True)
    status = eeg2img(argv)
    if status == 130:  # the command was interrupted (and said what it kept): so is the table
        raise KeyboardInterrupt
    if status != 0:
        raise Eeg2ImgError(f"`eeg2img {shlex.join(argv)}` failed (exit {status}); its error is printed above",
                           hint="fix it and run this script again with the same options: finished folds are kept")


def run_fold(fold: dict[str, Any]) -> dict[str, Any]:
    """Train (or resume) and evaluate one fold unless its result exists; returns its result JSON."""
    result, run = Path(fold["result"]), Path(fold["run"])
    if not result.is_file():
        if not (run / "model" / TRAINING_RECORD).is_file():
            run_command(fold["train"] + (["--resume"] if run.exists() else []))
        run_command(fold["evaluate"])
    return json.loads(result.read_text())


def fold_row(subject: int, result: dict[str, Any]) -> dict[str, Any]:
    """One table row: the held-out subject's figures, its model's training subjects and regime."""
    figures = result["per_subject"][str(subject)]
    if figures["regime"] != "leave-one-subject-out":
        raise Eeg2ImgError(f"the model of held-out subject {subject} is {figures['regime']!r}, not "
                           f"leave-one-subject-out (trained on {result['train_subjects']}, dataset subjects "
                           f"{result['dataset_subjects']})")
    return {"subject": subject, "train_subjects": result["train_subjects"], "regime": figures["regime"],
            "n_queries": figures["n_queries"],
            **{mode: figures[mode] for mode in ("averaged", "single_trial") if mode in figures}}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over the held-out subjects, per mode and k-way test."""
    modes = [m for m in ("averaged", "single_trial") if all(m in row for row in rows)]
    return {mode: {way: subject_summary([row[mode][way] for row in rows]) for way in rows[0][mode]}
            for mode in modes}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ns, extra = parse_args(argv)
    subjects, present = check_dataset(ns)
    folds = [fold_commands(ns, extra, s) for s in subjects]
    plan = {"script": "things_loso.py", "dataset": str(ns.dataset), "preset": ns.preset, "seed": ns.seed,
            "ways": ns.ways, "single_trial": not ns.no_single_trial, "train_options": extra,
            "dataset_subjects": present, "held_out_subjects": subjects,
            "commands": [["eeg2img", *f[step]] for f in folds for step in ("train", "evaluate")]}
    if ns.dry_run:
        for command in plan["commands"]:
            print(shlex.join(command))
        print(json.dumps({"dry_run": True, **plan}))
        return plan
    out = prepare_output(ns, plan)
    rows = [fold_row(fold["subject"], run_fold(fold)) for fold in folds]
    result = {
        "protocol": "things-zero-shot, leave-one-subject-out: per held-out subject a model trained on every other "
                    "subject, scored on the held-out subject's test trials",
        **plan, "per_subject": rows, "mean_over_subjects": summarize(rows),
        "regime_definitions": REGIME_DEFINITIONS, "fold_results": [f["result"] for f in folds],
        "environment": environment({"train": ns.seed, "evaluate": ns.seed}),
    }
    (out / RESULT_FILE).write_text(json.dumps(result, indent=2))
    print(json.dumps({"output": str(out / RESULT_FILE), "held_out_subjects": subjects,
                      "mean_over_subjects": result["mean_over_subjects"]}))
    return result


if __name__ == "__main__":
    run_script(main, "things_loso.py", "interrupted; run the same command again to resume")
