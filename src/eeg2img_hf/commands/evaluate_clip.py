"""`eeg2img evaluate-clip`: EEG->image retrieval and zero-shot / trained-head classification of an EEGClip model."""

from __future__ import annotations

import argparse
import json

from ..utils.model_folders import check_model_folder
from ._run_options import add_allow_unfinished_option


def _csv_ints(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from err


def cmd_evaluate_clip(ns: argparse.Namespace) -> None:
    """Run [`evaluate_clip`], write the full JSON (with `--output`) and print the headline figures as one line."""
    from ..evaluation.evaluate_clip import evaluate_clip

    check_model_folder(ns.model, "eeg2img_eeg_clip", allow_unfinished=ns.allow_unfinished)
    result = evaluate_clip(
        ns.model, ns.dataset, split=ns.split, ks=ns.ks, batch_size=ns.batch_size, head_epochs=ns.head_epochs,
        head_learning_rate=ns.head_lr, train_heads=not ns.no_heads, seed=ns.seed, output_json=ns.output,
        device=ns.device, protocol=ns.protocol, subjects=list(ns.subjects) if ns.subjects else None, ways=ns.ways,
        n_draws=ns.n_draws, single_trial=True if ns.single_trial else False if ns.no_single_trial else None,
    )
    if ns.protocol == "things-zero-shot":
        print(json.dumps({"output": ns.output, "protocol": result["protocol"], "regime": result["regime"],
                          "train_subjects": result["train_subjects"],
                          "evaluated_subjects": result["evaluated_subjects"], "counts": result["counts"],
                          "mean_over_subjects": result["mean_over_subjects"]}))
        return
    head = result["trained_head"]
    print(json.dumps({
        "output": ns.output, "split": result["split"], "split_strategy": result["split_strategy"],
        "counts": result["counts"], "eeg_to_image": result["eeg_to_image"],
        "zero_shot_classification": result["zero_shot_classification"],
        "trained_head": {k: head[k]["test"] for k in ("eeg", "image") if k in head} or head,
    }))


def register(subparsers) -> None:
    """Add `evaluate-clip` to the `eeg2img` sub-commands."""
    p = subparsers.add_parser("evaluate-clip", help="EEG->image retrieval, MRR/mAP and top-k classification of EEGClip")
    p.add_argument("model", help="EEGClipModel folder (save_pretrained)")
    p.add_argument("--dataset", required=True, help="preset name, sim:<preset> or a saved DatasetDict folder")
    p.add_argument("--split", default="test", help="evaluated split: EEG queries and image gallery (default test)")
    p.add_argument("--output", help="write the full result (every metric with its definition) to this JSON file")
    p.add_argument("--ks", type=_csv_ints, default=(1, 5, 10), help="top-k cut-offs (default 1,5,10)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--head-epochs", type=int, default=100, help="epochs of the trained-head protocol")
    p.add_argument("--head-lr", type=float, default=1e-3, help="Adam learning rate of the heads")
    p.add_argument("--no-heads", action="store_true", help="skip the trained-head protocol")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="e.g. cuda or cpu (default: cpu)")
    p.add_argument("--protocol", choices=["default", "things-zero-shot"], default="default",
                   help="things-zero-shot: N-way identification of unseen test concepts (THINGS-EEG2), repetitions "
                        "averaged and single trials, per subject")
    p.add_argument("--subjects", type=_csv_ints, help="things-zero-shot: evaluated subjects (default: all)")
    p.add_argument("--ways", type=_csv_ints, default=(2, 4, 10, 200),
                   help="things-zero-shot: k of the k-way tests (default 2,4,10,200; capped at the test images)")
    p.add_argument("--n-draws", type=int, default=0,
                   help="things-zero-shot: distractor sets drawn per query (default 0: exact mean over all sets)")
    trials = p.add_mutually_exclusive_group()
    trials.add_argument("--single-trial", action="store_true",
                        help="things-zero-shot: require the single-trial scores (refused on averaged rows; default: "
                             "scored when the split has single trials)")
    trials.add_argument("--no-single-trial", action="store_true", help="things-zero-shot: skip the single-trial scores")
    add_allow_unfinished_option(p)
    p.set_defaults(func=cmd_evaluate_clip)
