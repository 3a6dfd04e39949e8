"""Frozen-encoder EEG embeddings, computed once per (encoder, dataset) and cached next to a run.

EEGStyleGAN-ADA conditions on the 128-D embedding of each trial from a frozen encoder, computed once at
dataset load (docs/authors-code.md, 'GAN conditioning'). `add_eeg_embeddings` adds them as an `eeg_embeds` column; the
column is saved with `save_to_disk` under `cache_dir/<key>/<split>`, where the key hashes the encoder's
configuration and weights and the dataset's fingerprints, so a rerun or resume reuses them and a
different encoder (or dataset) recomputes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .common import compute_embeddings, write_json

EMBEDS_COLUMN = "eeg_embeds"
_IGNORED_CONFIG_KEYS = ("_name_or_path", "transformers_version", "_commit_hash", "architectures", "auto_map")


def encoder_fingerprint(encoder: torch.nn.Module) -> str:
    """SHA-256 of an encoder's configuration (minus bookkeeping keys) and of every tensor of its state dict."""
    digest = hashlib.sha256()
    config = getattr(encoder, "config", None)
    if config is not None:
        values = {k: v for k, v in config.to_dict().items() if k not in _IGNORED_CONFIG_KEYS}
        digest.update(json.dumps(values, sort_keys=True, default=str).encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return digest.hexdigest()


def dataset_fingerprint(dataset_dict) -> str:
    """SHA-256 of the split names, sizes and `datasets` fingerprints of a DatasetDict."""
    parts = [(name, len(ds), getattr(ds, "_fingerprint", None)) for name, ds in sorted(dataset_dict.items())]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def embeddings_cache_key(encoder: torch.nn.Module, dataset_dict) -> str:
    """Cache key of the embeddings of `dataset_dict` by `encoder` (16 hex digits)."""
    both = encoder_fingerprint(encoder) + dataset_fingerprint(dataset_dict)
    return hashlib.sha256(both.encode()).hexdigest()[:16]


def _compute_and_save(encoder: torch.nn.Module, dataset_dict, folder: Path, batch_size: int) -> None:
    from datasets import Dataset, Features, Sequence, Value

    for split, ds in dataset_dict.items():
        embeds, _ = compute_embeddings(encoder, ds, batch_size=batch_size)
        features = Features({EMBEDS_COLUMN: Sequence(Value("float32"), length=embeds.shape[1])})
        column = Dataset.from_dict({EMBEDS_COLUMN: embeds.astype(np.float32)}, features=features)
        column.save_to_disk(str(folder / split))
    meta = {"splits": sorted(dataset_dict), "embed_dim": int(getattr(encoder.config, "embed_dim", embeds.shape[1])),
            "encoder": str(getattr(encoder.config, "_name_or_path", "")), "dataset": dataset_fingerprint(dataset_dict)}
    write_json(folder / "meta.json", meta)  # written last: marks the cache as complete


def add_eeg_embeddings(
    dataset_dict, encoder: torch.nn.Module, cache_dir: str | Path, batch_size: int = 256
) -> tuple[Any, dict[str, Any]]:
    """Return `dataset_dict` with an `eeg_embeds` column from a frozen `encoder`, using the on-disk cache.

    Args:
        dataset_dict: a `DatasetDict` in the package schema (`eeg` column).
        encoder: an `EEGEncoderModel` (run in eval mode on its current device).
        cache_dir: folder of the cache (one sub-folder per key).
        batch_size: trials per encoder forward pass.

    Returns:
        `(dataset_dict_with_column, info)` where info has `key`, `path` and `reused` (whether the cache was used).
    """
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    if EMBEDS_COLUMN in next(iter(dataset_dict.values())).column_names:
        raise ValueError(f"the dataset already has an {EMBEDS_COLUMN!r} column")
    key = embeddings_cache_key(encoder, dataset_dict)
    folder = Path(cache_dir) / key
    reused = (folder / "meta.json").exists()
    if not reused:
        folder.mkdir(parents=True, exist_ok=True)
        _compute_and_save(encoder, dataset_dict, folder, batch_size)
    out = {}
    for split, ds in dataset_dict.items():
        column = load_from_disk(str(folder / split))
        if len(column) != len(ds):
            raise ValueError(f"cached embeddings in {folder} have {len(column)} rows for {split!r}, expected {len(ds)}")
        out[split] = concatenate_datasets([ds, column], axis=1)
    return DatasetDict(out), {"key": key, "path": str(folder), "reused": reused}
