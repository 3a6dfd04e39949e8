"""`eeg2img convert-checkpoint {encoder,stylegan}`: the authors' checkpoints -> Hugging Face folders."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

_HELP = "convert the authors' published checkpoints (encoder .pth, StyleGAN2-ADA .pkl) to HF folders"


def register(subparsers: Any) -> None:
    """Adds `convert-checkpoint encoder ...` and `convert-checkpoint stylegan ...` to the `eeg2img` CLI."""
    parser = subparsers.add_parser("convert-checkpoint", help=_HELP, description=_HELP)
    kinds = parser.add_subparsers(dest="kind", required=True)
    enc = kinds.add_parser("encoder", help="authors' LSTM encoder .pth (torch.save dict, read weights-only)")
    enc.add_argument("checkpoint", help="the authors' .pth file")
    enc.add_argument("output_dir", help="folder to write (save_pretrained, safetensors)")
    enc.add_argument("--n-chans", type=int, help="expected EEG channels (checked against the weights)")
    enc.add_argument("--n-times", type=int, help="trial length (default: 440 for 128 channels, else 32)")
    gan = kinds.add_parser("stylegan", help="StyleGAN2-ADA network-snapshot-*.pkl (read with a restricted unpickler)")
    gan.add_argument("checkpoint", help="the network-snapshot-*.pkl file")
    gan.add_argument("output_dir", help="folder to write (save_pretrained, safetensors)")
    gan.add_argument("--encoder", help="EEG encoder: a converted encoder folder or the authors' .pth")
    gan.add_argument("--network", choices=["G_ema", "G"], default="G_ema", help="which generator to convert")
    for sub in (enc, gan):
        sub.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output_dir")
        sub.set_defaults(func=cmd_convert_checkpoint, command="convert-checkpoint")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cmd_convert_checkpoint(ns: argparse.Namespace) -> None:
    """Runs the conversion, writes `save_pretrained` output and `conversion.json`, prints a JSON summary."""
    from ..convert.authors_checkpoints import MAPPING_VERSION, convert_authors_encoder, convert_stylegan_snapshot
    from ..utils.outputs import create_output_dir, prepare_output_dir

    source, out = Path(ns.checkpoint), Path(ns.output_dir)
    if not source.is_file():
        raise ValueError(f"{ns.checkpoint}: no such file" if not source.exists() else f"{ns.checkpoint} is a folder, "
                         "expected the checkpoint file")  # fmt: skip
    command = f"convert-checkpoint {ns.kind}"
    prepare_output_dir(out, command=command, kind="model", overwrite=ns.overwrite, what="output_dir",
                       inputs={"checkpoint": ns.checkpoint, "--encoder": getattr(ns, "encoder", None)})  # fmt: skip
    if ns.kind == "encoder":
        model, report = convert_authors_encoder(source, n_chans=ns.n_chans, n_times=ns.n_times, return_report=True)
    else:
        model, report = convert_stylegan_snapshot(source, encoder_path=ns.encoder, network=ns.network,
                                                  return_report=True)  # fmt: skip
    create_output_dir(out, command=command, kind="model")
    model.save_pretrained(out, safe_serialization=True)
    record = {"source_file": source.name, "source_sha256": _sha256(source), "mapping_version": MAPPING_VERSION,
              **report}  # fmt: skip
    if ns.kind == "encoder":
        record["licence"] = "Encoder weights from the authors' EEGStyleGAN-ADA repository; see its licence terms."
    elif ns.encoder:
        record["encoder_source"] = Path(ns.encoder).name
    (out / "conversion.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps({"saved": str(out), "kind": ns.kind, "unmapped_keys": report["unmapped_keys"]}))
