"""Pieces shared by the trainers: batched torch views of datasets, embeddings, logs and checkpoints."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch


class EEGBatchDataset(torch.utils.data.Dataset):
    """A map-style torch view of a `datasets.Dataset` in the package schema, fetched a batch at a time.

    `__getitems__` lets `DataLoader` read a whole batch with one Arrow slice (memory-mapped, no copy of
    the dataset in RAM); pair it with `collate_fn=identity_collate`.

    Args:
        dataset: a split with an `eeg` column and, optionally, `label` and others.
        columns: mapping from dataset column to batch key.
    """

    def __init__(self, dataset, columns: dict[str, str] | None = None) -> None:
        self.columns = columns or {"eeg": "eeg_values", "label": "labels"}
        self.dataset = dataset.select_columns(list(self.columns)).with_format("numpy")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        rows = self.dataset[list(indices)]
        return {key: torch.as_tensor(np.asarray(rows[col])) for col, key in self.columns.items()}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


def identity_collate(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Collate function for `EEGBatchDataset` (the batch is already stacked)."""
    return batch


@torch.no_grad()
def compute_embeddings(model: torch.nn.Module, dataset, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Embed every trial of a split with an EEG encoder in eval mode. Returns `(embeds, labels)` arrays."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    view = EEGBatchDataset(dataset)
    embeds, labels = [], []
    for start in range(0, len(view), batch_size):
        batch = view.__getitems__(range(start, min(start + batch_size, len(view))))
        out = model(eeg_values=batch["eeg_values"].to(device))
        embeds.append(out.eeg_embeds.float().cpu().numpy())
        labels.append(batch["labels"].numpy())
    model.train(was_training)
    if not embeds:
        raise ValueError("cannot compute embeddings of an empty split")
    return np.concatenate(embeds), np.concatenate(labels)


def select_classes(dataset_dict, keep: list[str] | None = None, exclude: list[str] | None = None):
    """Keep only some classes of a DatasetDict and re-index labels 0..K-1 (ClassLabel names updated)."""
    from datasets import ClassLabel

    names = dataset_dict[next(iter(dataset_dict))].features["label"].names
    chosen = [n for n in names if (keep is None or n in keep) and n not in (exclude or [])]
    missing = sorted((set(keep or []) | set(exclude or [])) - set(names))
    if missing:
        raise ValueError(f"unknown class names {missing}; the dataset has {names}")
    if len(chosen) < 2:
        raise ValueError(f"need at least 2 classes after selection, got {chosen}")
    old_to_new = {names.index(n): i for i, n in enumerate(chosen)}

    def relabel(labels: list[int]) -> dict[str, list]:
        return {"label": [old_to_new[v] for v in labels]}

    out = {}
    for split, ds in dataset_dict.items():
        ds = ds.filter(lambda labels: [v in old_to_new for v in labels], batched=True, input_columns=["label"])
        features = ds.features.copy()
        features["label"] = ClassLabel(names=chosen)
        out[split] = ds.map(relabel, batched=True, input_columns=["label"], features=features)
    return type(dataset_dict)(out)


class MetricsLogger:
    """Appends rows to `<dir>/metrics.csv` and forwards them to the Accelerate trackers (main process only)."""

    def __init__(self, accelerator, output_dir: str | Path, use_csv: bool = True) -> None:
        self.accelerator = accelerator
        self.path = Path(output_dir) / "metrics.csv" if use_csv else None
        self.fields: list[str] | None = None

    def log(self, values: dict[str, Any], step: int) -> None:
        numeric = {k: v for k, v in values.items() if isinstance(v, (int, float))}
        self.accelerator.log(numeric, step=step)
        if self.path is None or not self.accelerator.is_main_process:
            return
        row = {"step": step, **values}
        if self.fields is None:
            self.fields = list(row) if not self.path.exists() else self.path.read_text().splitlines()[0].split(",")
        new = [k for k in row if k not in self.fields]
        if new:  # a new column: rewrite the file with the wider header
            self.fields += new
            old = list(csv.DictReader(self.path.open())) if self.path.exists() else []
            with self.path.open("w", newline="") as f:
                writer = csv.DictWriter(f, self.fields)
                writer.writeheader()
                writer.writerows(old)
        with self.path.open("a", newline="") as f:
            if f.tell() == 0:
                csv.DictWriter(f, self.fields).writeheader()
            csv.DictWriter(f, self.fields).writerow(row)


def save_checkpoint(accelerator, output_dir: str | Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """`accelerator.save_state` into `checkpoints/step_<N>` plus our trainer state JSON; prune old ones."""
    root = Path(output_dir) / "checkpoints"
    path = root / f"step_{step:08d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / "trainer_state.json").write_text(json.dumps(state, indent=2))
        for old in sorted(root.glob("step_*"))[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder (one with `trainer_state.json`), or `None`."""
    done = [p for p in sorted((Path(output_dir) / "checkpoints").glob("step_*")) if (p / "trainer_state.json").exists()]
    return done[-1] if done else None


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write a JSON file atomically (write to a temporary name, then rename)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default))
    tmp.replace(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (np.ndarray, tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
