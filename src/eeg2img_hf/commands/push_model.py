"""`eeg2img push MODEL_DIR REPO_ID`: publish a saved model with its card, remote code and evaluation to the Hub."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..utils.model_folders import check_model_folder
from ._hub_options import add_hub_push_arguments
from ._run_options import add_allow_unfinished_option

_HELP = ("push a saved model folder (any eeg2img_hf family) with its model card, remote code, custom pipeline and "
         "evaluation JSON to a Hub model repo")


def register(subparsers: Any) -> None:
    """Adds `push MODEL_DIR REPO_ID [--private] [--token TOKEN] [--message MSG] [--card FILE] [--evaluation JSON]
    [--dataset-repo-id ID] [--include-training-state]`."""
    parser = subparsers.add_parser("push", help=_HELP, description=_HELP)
    parser.add_argument("model_dir", help="folder written by save_pretrained (e.g. a trainer's output_dir/model)")
    add_hub_push_arguments(parser, repo_help="target model repo, org/name (created if missing)",
                           message_help="commit message",
                           card_help="markdown model card to publish instead of the rendered template")
    parser.add_argument("--evaluation", help="evaluation JSON (default: MODEL_DIR/eval_results.json when present)")
    parser.add_argument("--dataset-repo-id", help="Hub id of the training dataset, for the card's metadata")
    parser.add_argument("--include-training-state", action="store_true",
                        help="GAN folders: also publish discriminator/, generator/ and gan_init_state.json, so "
                             "`train-gan --init-from ORG/NAME` can continue training from the repo")
    add_allow_unfinished_option(parser)
    parser.set_defaults(func=cmd_push_model, command="push")


def cmd_push_model(ns: argparse.Namespace) -> None:
    """Pushes the model and prints `{"url": ..., "repo_id": ...}` as one JSON line."""
    from ..hub.push import push_model

    # config, model type and safetensors headers
    check_model_folder(ns.model_dir, what="model_dir", allow_unfinished=ns.allow_unfinished)
    url = push_model(ns.model_dir, ns.repo_id, token=ns.token, private=ns.private, card=ns.card,
                     evaluation=ns.evaluation, commit_message=ns.message, dataset_repo_id=ns.dataset_repo_id,
                     include_training_state=ns.include_training_state)
    print(json.dumps({"url": url, "repo_id": ns.repo_id}))
