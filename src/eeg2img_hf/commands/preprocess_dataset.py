"""`eeg2img preprocess`: crop / band-pass / resample / z-score / scale every trial of a saved dataset."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..utils.outputs import prepare_output_dir

__all__ = ["register", "parse_range", "run_preprocess"]


def parse_range(text: str, option: str, *, integer: bool, allow_open: bool) -> tuple[Any, Any]:
    """`"20:460"` -> `(20, 460)`; with `allow_open`, `"5:"` / `":95"` leave one end `None`."""
    parts = text.split(":")
    cast = int if integer else float
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = (cast(p) if p.strip() else None for p in parts)
    except ValueError:
        kind = "integers" if integer else "numbers"
        raise ValueError(f"{option} expects two {kind} as LOW:HIGH, got {text!r}") from None
    if (low is None or high is None) and not (allow_open and (low, high) != (None, None)):
        raise ValueError(f"{option} expects LOW:HIGH{' (one side may be empty)' if allow_open else ''}, got {text!r}")
    return low, high


class _StepAction(argparse.Action):
    """Appends a preprocessing record to `namespace.steps`, keeping the command-line order."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        steps = list(getattr(namespace, "steps", None) or [])
        try:
            if self.dest == "crop":
                start, stop = parse_range(values, "--crop", integer=True, allow_open=False)
                steps.append({"name": "crop", "start": start, "stop": stop})
            elif self.dest == "bandpass":
                low, high = parse_range(values, "--bandpass", integer=False, allow_open=True)
                steps.append({"name": "bandpass", "l_freq": low, "h_freq": high})
            elif self.dest == "resample":
                steps.append({"name": "resample", "new_sfreq": float(values)})
            else:
                steps.append({"name": self.dest})
        except ValueError as err:
            parser.error(str(err))
        namespace.steps = steps


def register(subparsers: Any) -> None:
    """Adds the `preprocess` sub-command to the `eeg2img` CLI."""
    p = subparsers.add_parser("preprocess", help="apply preprocessing steps (in the given order) to every split")
    p.add_argument("dataset", help="a saved DatasetDict folder (or a simulation preset name)")
    p.add_argument("--output", required=True, help="folder to write (never the input folder)")
    p.add_argument("--crop", action=_StepAction, metavar="START:STOP", help="keep samples [START, STOP)")
    p.add_argument("--bandpass", action=_StepAction, metavar="LOW:HIGH",
                   help="zero-phase Butterworth band-pass in Hz; '5:' high-pass, ':95' low-pass")
    p.add_argument("--resample", action=_StepAction, metavar="SFREQ", help="new sampling rate in Hz")
    p.add_argument("--zscore", action=_StepAction, nargs=0, dest="zscore_channels",
                   help="per-trial, per-channel z-score over time")
    p.add_argument("--scale-trial-max", action=_StepAction, nargs=0, dest="scale_by_trial_max",
                   help="the authors' per-trial 2x/max - 1 scaling")
    p.add_argument("--batch-size", type=int, default=64, help="trials per processing batch (default: 64)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    p.set_defaults(func=_run, steps=None)


def run_preprocess(
    dataset: str, steps: list[dict], output: str, *, batch_size: int = 64, overwrite: bool = False
) -> dict[str, Any]:
    """Load `dataset`, apply [`preprocess_dataset`], save to `output`; returns a JSON-friendly summary."""
    from ..data import get_eeg_info, load_eeg_dataset
    from ..data.preprocessing import preprocess_dataset

    prepare_output_dir(output, command="preprocess", kind="dataset", inputs={"dataset": dataset}, overwrite=overwrite,
                       what="--output")  # fails before the (slow) processing
    source = load_eeg_dataset(dataset)
    result = preprocess_dataset(source, steps, output, batch_size=batch_size, overwrite=overwrite)
    info = get_eeg_info(result)
    return {"saved": output, "splits": {k: len(v) for k, v in result.items()}, "n_chans": info.get("n_chans"),
            "n_times": info.get("n_times"), "sfreq": info.get("sfreq"),
            "steps": info["preprocessing"][-len(steps):]}


def _run(ns: argparse.Namespace) -> None:
    if not ns.steps:
        raise ValueError("give at least one step: --crop, --bandpass, --resample, --zscore or --scale-trial-max")
    print(json.dumps(run_preprocess(ns.dataset, ns.steps, ns.output, batch_size=ns.batch_size,
                                    overwrite=ns.overwrite)))
