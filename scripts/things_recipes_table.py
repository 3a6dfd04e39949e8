"""Every THINGS-EEG2 recipe through the same protocol on the simulated THINGS preset: one comparison table.

The recipes (`RECIPES`): the NICE-level temporal-spatial convolution tower, ATM, UBP (and UBP without its blur
prior), and two braindecode towers (EEGNet, ShallowFBCSPNet) in the NICE-level recipe's place, each at its CPU preset
on the simulated data. For every recipe and subject of `--subjects` a fresh subject-dependent model is trained and
scored by `scripts/things_simulated_table.py --regimes subject-dependent` (the same `eeg2img train-clip` / `eeg2img
evaluate-clip --protocol things-zero-shot` commands, printed as they run; `--dry-run` prints them only), in
`OUT/<recipe>/`. Re-running the same command keeps finished runs and resumes an unfinished one.

`OUT/recipes.json` (or `--output`) gets per recipe the mean over subjects of the averaged and single-trial top-1 /
top-5 of every k-way test, the per-subject rows, the commands and the environment; the last line printed is a JSON
summary. The braindecode recipes need `pip install "eeg2img_hf[braindecode]"`.

Simulated data: the table shows that each recipe runs end to end and how the recipes rank here, not their accuracy
on the real recordings.

    python scripts/things_recipes_table.py --output-dir OUT [--recipes nice,atm,ubp,ubp-noblur,eegnet,shallow]
        [--dataset things-eeg2] [--subjects 1,2] [--seed 0] [--ways 2,4,10,50] [--output FILE] [--dry-run]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

from eeg2img_hf.utils.benchmark import environment
from eeg2img_hf.utils.errors import run_script
from eeg2img_hf.utils.outputs import prepare_result_json

RESULT_FILE = "recipes.json"
BRAINDECODE_TOWER = ["--architecture", "braindecode", "--braindecode-model"]
RECIPES: dict[str, dict[str, Any]] = {
    "nice": {"name": "NICE-level: temporal-spatial convolution tower (things-eeg2-sim)",
             "options": ["--preset", "things-eeg2-sim"]},
    "atm": {"name": "ATM: channel-wise transformer + temporal-spatial convolution + MLP projector, "
                    "contrastive + MSE (things-eeg2-atm-sim)",
            "options": ["--preset", "things-eeg2-atm-sim"]},
    "ubp": {"name": "UBP: uncertainty-aware blur prior on the image side (things-eeg2-ubp-sim)",
            "options": ["--preset", "things-eeg2-ubp-sim"]},
    "ubp-noblur": {"name": "UBP without its blur prior (things-eeg2-ubp-sim --blur-sigmas none)",
                   "options": ["--preset", "things-eeg2-ubp-sim", "--", "--blur-sigmas", "none"]},
    "eegnet": {"name": "braindecode EEGNet tower in the NICE-level recipe",
               "options": ["--preset", "things-eeg2-sim", "--", *BRAINDECODE_TOWER, "EEGNet"]},
    "shallow": {"name": "braindecode ShallowFBCSPNet tower in the NICE-level recipe",
                "options": ["--preset", "things-eeg2-sim", "--", *BRAINDECODE_TOWER, "ShallowFBCSPNet"]},
}
"""Recipe key -> its description and the `things_simulated_table.py` options that select it (after `--`: options
of `train-clip`)."""


def _table_script():
    """`scripts/things_simulated_table.py`, which trains and scores one recipe."""
    spec = importlib.util.spec_from_file_location("things_simulated_table",
                                                  Path(__file__).with_name("things_simulated_table.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


table = _table_script()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="things_recipes_table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True, help="folder of the runs (one sub-folder per recipe)")
    parser.add_argument("--output", type=Path, help="the comparison JSON (default OUTPUT_DIR/recipes.json)")
    parser.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--dataset", default="things-eeg2", help="simulated preset name or dataset folder")
    parser.add_argument("--subjects", default="1,2", help="comma-separated subjects (default 1,2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every training and evaluation (default 0)")
    parser.add_argument("--ways", default="2,4,10,50", help="k of the k-way tests (default 2,4,10,50)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands; run nothing")
    ns = parser.parse_args(argv)
    ns.recipes = [r.strip() for r in ns.recipes.split(",") if r.strip()]
    unknown = sorted(set(ns.recipes) - set(RECIPES))
    if unknown or not ns.recipes:
        parser.error(f"--recipes: choose from {', '.join(RECIPES)}; got {unknown or 'none'}")
    return ns


def recipe_argv(ns: argparse.Namespace, key: str) -> list[str]:
    """The `things_simulated_table.py` arguments of one recipe (subject-dependent only)."""
    options = RECIPES[key]["options"]
    head, tail = (options[:options.index("--")], options[options.index("--"):]) if "--" in options else (options, [])
    argv = ["--dataset", str(ns.dataset), "--output-dir", str(Path(ns.output_dir) / key), "--subjects", ns.subjects,
            "--regimes", "subject-dependent", "--seed", str(ns.seed), "--ways", ns.ways, *head]
    return [*argv, "--dry-run", *tail] if ns.dry_run else [*argv, *tail]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ns = parse_args(argv)
    output = prepare_result_json(ns.output or Path(ns.output_dir) / RESULT_FILE, what="--output")
    runs = {key: table.main(recipe_argv(ns, key)) for key in ns.recipes}
    if ns.dry_run:
        return runs
    result = {
        "what": "every THINGS-EEG2 recipe on the simulated THINGS preset, subject-dependent, same protocol",
        "dataset": str(ns.dataset), "subjects": ns.subjects, "seed": ns.seed, "ways": ns.ways,
        "protocol": "things-zero-shot: per subject a model trained on that subject's training concepts, scored on its "
                    "test trials (unseen concepts; exact k-way means), repetitions averaged and single trial",
        "recipes": {key: {"name": RECIPES[key]["name"], "options": RECIPES[key]["options"],
                          "mean_over_subjects": runs[key]["mean_over_subjects"]["subject-dependent"],
                          "per_subject": runs[key]["per_subject"], "commands": runs[key]["commands"]}
                    for key in ns.recipes},
        "environment": environment({"train": ns.seed, "evaluate": ns.seed}),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    summary = {key: {mode: {way: figures["top1"] for way, figures in entry["mean_over_subjects"][mode].items()}
                     for mode in ("averaged", "single_trial")} for key, entry in result["recipes"].items()}
    print(json.dumps({"output": str(output), "top1_mean_over_subjects": summary}))
    return result


if __name__ == "__main__":
    run_script(main, "things_recipes_table.py", "interrupted; run the same command again to resume")
