"""The simulated THINGS-EEG2 table: subject-dependent and leave-one-subject-out EEGClip models, mean over subjects.

For every subject S of `--subjects` the script trains two fresh models and scores each on subject S's test trials,
with the `eeg2img` commands it prints as it runs them (with `--dry-run`: prints them, runs nothing):

    eeg2img train-clip --preset PRESET --dataset DATA --subjects S --output-dir OUT/dependent-S --seed SEED ...
    eeg2img evaluate-clip OUT/dependent-S/model --dataset DATA --protocol things-zero-shot --subjects S
        --ways WAYS --seed SEED --single-trial --output OUT/dependent-S.json
    eeg2img train-clip ... --exclude-subjects S --output-dir OUT/heldout-S ...    (leave-one-subject-out)
    eeg2img evaluate-clip OUT/heldout-S/model ... --output OUT/heldout-S.json

Each model must come out in its regime (see `eeg2img_hf.evaluation.things_protocol.REGIME_DEFINITIONS`), or the
script stops. The runs, resuming and refusals are those of `scripts/things_loso.py` (same helpers): the same command
again keeps finished runs and resumes an unfinished training; a folder holding other options is refused.

`OUT/table.json` (or `--output`) gets per regime and subject the averaged and single-trial top-1 / top-5 of every
k-way test with the selected epoch, the mean (and standard deviation) over subjects, the commands and the
environment; the last line printed is a JSON summary of the means.

    python scripts/things_simulated_table.py --output-dir OUT [--dataset things-eeg2] [--preset things-eeg2-sim]
        [--subjects 1,2] [--regimes subject-dependent,leave-one-subject-out] [--seed 0] [--ways 2,4,10,50]
        [--output FILE] [--dry-run] [-- TRAIN-CLIP OPTIONS]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from eeg2img_hf.evaluation.things_protocol import REGIME_DEFINITIONS
from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import Eeg2ImgError, run_script
from eeg2img_hf.utils.names import TRAINING_RECORD
from eeg2img_hf.utils.outputs import prepare_result_json

COMMAND = "things-simulated-table"
RESULT_FILE = "table.json"
REGIMES = {"subject-dependent": ("--subjects", "dependent"), "leave-one-subject-out": ("--exclude-subjects", "heldout")}
"""Regime: (the train-clip option that selects its training subjects, the prefix of its run folders)."""


def _things_loso():
    """`scripts/things_loso.py`, whose fold runner, summary and output-folder checks this script reuses."""
    spec = importlib.util.spec_from_file_location("things_loso", Path(__file__).with_name("things_loso.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


loso = _things_loso()


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The script's options and the `train-clip` options given after `--`."""
    args = list(sys.argv[1:] if argv is None else argv)
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(prog="things_simulated_table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="things-eeg2", help="simulated preset name or dataset folder")
    parser.add_argument("--output-dir", required=True, help="folder of the runs and their results")
    parser.add_argument("--output", type=Path, help="the table JSON (default OUTPUT_DIR/table.json)")
    parser.add_argument("--preset", default="things-eeg2-sim", help="train-clip preset (default things-eeg2-sim)")
    parser.add_argument("--subjects", help="comma-separated subjects (default: every subject of the dataset)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every training and evaluation (default 0)")
    parser.add_argument("--ways", default="2,4,10,50", help="k of the k-way tests (default 2,4,10,50)")
    parser.add_argument("--regimes", default=",".join(REGIMES),
                        help=f"comma-separated regimes to run (default: {','.join(REGIMES)})")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the commands; run nothing")
    ns = parser.parse_args(args)
    ns.regimes = [r.strip() for r in ns.regimes.split(",") if r.strip()]
    unknown = sorted(set(ns.regimes) - set(REGIMES))
    if unknown or not ns.regimes:
        parser.error(f"--regimes: choose from {', '.join(REGIMES)}; got {unknown or 'none'}")
    ns.device, ns.no_single_trial = None, False  # what the shared dataset check and commands read
    return ns, extra


def run_commands(ns: argparse.Namespace, extra: list[str], subject: int, regime: str) -> dict[str, Any]:
    """The two `eeg2img` commands of `subject` in `regime`, and where they write."""
    option, prefix = REGIMES[regime]
    run = Path(ns.output_dir) / f"{prefix}-{subject:02d}"
    train = ["train-clip", "--preset", ns.preset, "--dataset", str(ns.dataset), option, str(subject),
             "--output-dir", str(run), "--seed", str(ns.seed), *extra]
    evaluate = ["evaluate-clip", str(run / "model"), "--dataset", str(ns.dataset), "--protocol", "things-zero-shot",
                "--subjects", str(subject), "--ways", ns.ways, "--seed", str(ns.seed), "--single-trial",
                "--output", f"{run}.json"]
    return {"subject": subject, "regime": regime, "run": str(run), "result": f"{run}.json", "train": train,
            "evaluate": evaluate}


def run_row(fold: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """One subject's figures in one regime, with the epoch its model was kept at."""
    figures = result["per_subject"][str(fold["subject"])]
    if figures["regime"] != fold["regime"]:
        raise Eeg2ImgError(f"the {fold['regime']} model of subject {fold['subject']} is {figures['regime']!r} "
                           f"(trained on {result['train_subjects']}, dataset subjects {result['dataset_subjects']})")
    record = json.loads((Path(fold["run"]) / "model" / TRAINING_RECORD).read_text(encoding="utf-8"))
    return {"subject": fold["subject"], "train_subjects": result["train_subjects"], "regime": figures["regime"],
            "best_epoch": record.get("best_epoch"), "epochs_run": record.get("epochs_run"),
            "n_queries": figures["n_queries"], "averaged": figures["averaged"],
            "single_trial": figures["single_trial"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ns, extra = parse_args(argv)
    output = prepare_result_json(ns.output or Path(ns.output_dir) / RESULT_FILE, what="--output")
    subjects, present = loso.check_dataset(ns)
    folds = [run_commands(ns, extra, s, regime) for regime in ns.regimes for s in subjects]
    plan = {"script": "things_simulated_table.py", "dataset": str(ns.dataset), "preset": ns.preset,
            "regimes": ns.regimes,
            "seed": ns.seed, "ways": ns.ways, "train_options": extra, "dataset_subjects": present,
            "subjects": subjects, "commands": [["eeg2img", *f[step]] for f in folds for step in ("train", "evaluate")]}
    if ns.dry_run:
        for command in plan["commands"]:
            print(shlex.join(command))
        print(json.dumps({"dry_run": True, **plan}))
        return plan
    loso.prepare_output(ns, plan, command=COMMAND)
    rows = [run_row(fold, loso.run_fold(fold)) for fold in folds]
    result = {
        "protocol": "things-zero-shot: per subject a subject-dependent model (trained on that subject) and a "
                    "leave-one-subject-out model (trained on every other subject), each scored on that subject's "
                    "test trials (exact k-way means), averaged over repetitions and per single trial",
        **plan, "per_subject": rows,
        "mean_over_subjects": {regime: loso.summarize([r for r in rows if r["regime"] == regime])
                               for regime in ns.regimes},
        "regime_definitions": REGIME_DEFINITIONS, "run_results": [f["result"] for f in folds],
        "environment": environment({"train": ns.seed, "evaluate": ns.seed}),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"output": str(output), "subjects": subjects, "mean_over_subjects": result["mean_over_subjects"]}))
    return result


if __name__ == "__main__":
    run_script(main, "things_simulated_table.py", "interrupted; run the same command again to resume")
