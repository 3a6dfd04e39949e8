"""`eeg2img convert-checkpoint KIND CHECKPOINT OUTPUT_DIR`: the authors' checkpoints -> Hugging Face model folders.

Kinds: `encoder` (LSTM or CNN `.pth`), `stylegan` (G_ema or G of a `network-snapshot-*.pkl`), `stylegan-snapshot`
(G_ema, G, D and the ADA state: a `train-gan --init-from` starting point), `eeg-clip` and `image-to-eeg` (`.pth`).
Every output folder holds safetensors weights, `config.json`, the remote code, `conversion.json` (source file name,
its sha256, the name mapping version and what was mapped) and a model card (`README.md`) naming the source file and
its sha256. `--push-to-hub ORG/NAME` publishes the folder in the same command.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..utils.names import CONVERSION_RECORD
from ..utils.outputs import make_staging_dir, prepare_output_dir, remove_staging_dir, replace_folder, write_marker

_HELP = ("convert the authors' published checkpoints (encoder, EEGClip and image -> EEG .pth files, StyleGAN2-ADA "
         ".pkl snapshots) to Hugging Face model folders")
KINDS = ("encoder", "stylegan", "stylegan-snapshot", "eeg-clip", "image-to-eeg")


def register(subparsers: Any) -> None:
    """Adds `convert-checkpoint {encoder,stylegan,stylegan-snapshot,eeg-clip,image-to-eeg} ...` to the CLI."""
    parser = subparsers.add_parser("convert-checkpoint", help=_HELP, description=_HELP)
    kinds = parser.add_subparsers(dest="kind", required=True)
    enc = kinds.add_parser("encoder", help="authors' LSTM or CNN encoder .pth (torch.save dict, read weights-only)")
    enc.add_argument("--n-chans", type=int, help="EEG channels: checked against an LSTM, required for a CNN "
                                                 "(128 EEGCVPR40, 14 ThoughtViz, 124 Object)")
    enc.add_argument("--normalize-embeds", action=argparse.BooleanOptionalAction, default=None,
                     help="L2-normalise the embeddings (default: yes, except the 14-channel ThoughtViz CNN)")
    gan = kinds.add_parser("stylegan", help="the generator of a StyleGAN2-ADA network-snapshot-*.pkl (restricted "
                                            "unpickler): an inference model")
    gan.add_argument("--network", choices=["G_ema", "G"], default="G_ema", help="which generator to convert")
    snap = kinds.add_parser("stylegan-snapshot", help="G_ema, G, D and the ADA state of a network-snapshot-*.pkl: "
                                                      "a starting point for `train-gan --init-from`")
    clip = kinds.add_parser("eeg-clip", help="authors' EEGClip .pth (1-layer LSTM, torchvision ResNet-50)")
    clip.add_argument("--n-chans", type=int, help="expected EEG channels (checked against the LSTM)")
    image = kinds.add_parser("image-to-eeg", help="authors' image -> EEG encoder .pth (torchvision GoogLeNet, "
                                                  "subject planes)")
    image.add_argument("--generator", help="EEGStyleGANModel folder or Hub id the image-to-eeg-to-image pipeline "
                                           "uses by default (recorded in the config)")
    for sub in (enc, gan, snap, clip, image):
        sub.add_argument("checkpoint", help="the authors' checkpoint file")
        sub.add_argument("output_dir", help="folder to write (safetensors, config, remote code, model card)")
        if sub in (gan, snap):
            sub.add_argument("--encoder", help="EEG encoder packed into the model: a converted encoder folder or the "
                                               "authors' .pth")
            sub.add_argument("--n-chans", type=int, help="the --encoder's EEG channels: required for an authors' CNN "
                                                         ".pth (128 EEGCVPR40, 14 ThoughtViz, 124 Object), checked "
                                                         "otherwise")
        if sub in (enc, clip, gan, snap):
            sub.add_argument("--n-times", type=int, help="trial length (default: 440 for 128 channels, else 32)")
        sub.add_argument("--overwrite", action="store_true", help="replace an output_dir written earlier by eeg2img")
        sub.add_argument("--push-to-hub", metavar="ORG/NAME", help="also publish the folder to this Hub model repo "
                                                                   "(as `eeg2img push`; stylegan-snapshot: with its "
                                                                   "training state, D, G and ADA p)")
        sub.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")
        sub.add_argument("--token", help="with --push-to-hub: Hub token (default: HF_TOKEN or the saved login)")
        sub.set_defaults(func=cmd_convert_checkpoint, command="convert-checkpoint")


def _convert(ns: argparse.Namespace, source: Path) -> tuple[Any, dict[str, Any]]:
    """The converted object (anything with `save_pretrained`) and its report."""
    if ns.kind == "encoder":
        from ..convert.authors_checkpoints import convert_authors_encoder

        return convert_authors_encoder(source, n_chans=ns.n_chans, n_times=ns.n_times, return_report=True,
                                       normalize_embeds=ns.normalize_embeds)
    if ns.kind == "stylegan":
        from ..convert.authors_checkpoints import convert_stylegan_snapshot

        return convert_stylegan_snapshot(source, encoder_path=ns.encoder, network=ns.network, return_report=True,
                                         n_chans=ns.n_chans, n_times=ns.n_times)
    if ns.kind == "stylegan-snapshot":
        from ..convert.stylegan_snapshot import convert_stylegan_training_snapshot

        snapshot = convert_stylegan_training_snapshot(source, encoder_path=ns.encoder, n_chans=ns.n_chans,
                                                      n_times=ns.n_times)
        return snapshot, snapshot.report
    if ns.kind == "eeg-clip":
        from ..convert.authors_image_models import convert_authors_eeg_clip

        return convert_authors_eeg_clip(source, n_chans=ns.n_chans, n_times=ns.n_times, return_report=True)
    from ..convert.authors_image_models import convert_authors_image_to_eeg

    return convert_authors_image_to_eeg(source, generator=ns.generator, return_report=True)


def cmd_convert_checkpoint(ns: argparse.Namespace) -> None:
    """Converts, writes the folder (staged next to it, then moved into place), optionally pushes; prints one JSON
    line: `{"saved", "kind", "unmapped_keys"[, "url", "repo_id"]}`."""
    from ..convert.authors_checkpoints import MAPPING_VERSION
    from ..convert.authors_image_models import file_sha256
    from ..convert.licences import checkpoint_licence
    from ..data.loading import check_repo_id
    from ..hub.model_cards import render_model_card

    source, out = Path(ns.checkpoint), Path(ns.output_dir)
    if not source.is_file():
        raise ValueError(f"{ns.checkpoint}: no such file" if not source.exists() else f"{ns.checkpoint} is a folder, "
                         "expected the checkpoint file")
    if ns.push_to_hub:
        check_repo_id(ns.push_to_hub)
    command = f"convert-checkpoint {ns.kind}"
    inputs = {"checkpoint": ns.checkpoint, "--encoder": getattr(ns, "encoder", None),
              "--generator": getattr(ns, "generator", None)}
    out = prepare_output_dir(out, command=command, kind="model", overwrite=ns.overwrite, what="output_dir",
                             inputs=inputs)
    converted, report = _convert(ns, source)
    record = {"source_file": source.name, "source_sha256": file_sha256(source), "mapping_version": MAPPING_VERSION,
              "command": command, **checkpoint_licence(ns.kind), **report}
    if getattr(ns, "encoder", None):
        record["encoder_source"] = Path(ns.encoder).name
    staging = make_staging_dir(out)
    try:
        write_marker(staging, command=command, kind="model")
        converted.save_pretrained(staging)
        if ns.kind == "eeg-clip":  # the image preprocessing travels with the model, as trainers save it
            from ..models import make_image_processor

            make_image_processor(converted.config).save_pretrained(staging)
        elif ns.kind == "image-to-eeg":
            converted.build_image_processor().save_pretrained(staging)
        (staging / CONVERSION_RECORD).write_text(json.dumps(record, indent=2, default=str) + "\n")
        card = render_model_card(staging, repo_id=ns.push_to_hub)
        (staging / "README.md").write_text(str(card), encoding="utf-8")
        replace_folder(staging, out, kind="model")
    except BaseException:
        remove_staging_dir(staging)
        raise
    summary = {"saved": str(out), "kind": ns.kind, "unmapped_keys": report.get("unmapped_keys", [])}
    if ns.push_to_hub:
        from ..hub.push import push_model

        message = f"Convert {source.name} with eeg2img convert-checkpoint"
        summary["url"] = push_model(out, ns.push_to_hub, token=ns.token, private=ns.private, commit_message=message,
                                    include_training_state=ns.kind == "stylegan-snapshot")  # its D, G and ADA p
        summary["repo_id"] = ns.push_to_hub
    print(json.dumps(summary))
