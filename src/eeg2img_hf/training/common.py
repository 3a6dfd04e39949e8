"""Pieces shared by the trainers: batched torch views of datasets, embeddings, logs and checkpoints."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.utils import logging

from ..data import get_eeg_info, load_eeg_dataset
from ..pipelines.precision import ALLOW_EMULATED_VAR, bf16_support
from ..utils.errors import Eeg2ImgError, RefusedOutputError
from ..utils.interrupts import CheckpointClock, TrainingInterrupted, stop_requested
from ..utils.names import TRAINING_RECORD
from ..utils.outputs import clear_own_folder, create_output_dir, prepare_output_dir
from ..utils.progress import progress_bar

logger = logging.get_logger(__name__)


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


TRAINER_STATE = "trainer_state.json"
EPOCH_LOOP_STATE_KEYS = ("epoch", "step_in_epoch", "global_step", "best", "best_epoch")
"""Keys every epoch-loop `trainer_state.json` holds (the first three non-negative integers)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed exactly; the message names the checkpoint folder and the bad file."""


def checkpoint_error(path: Path, name: str, problem: str) -> CheckpointError:
    return CheckpointError(
        f"cannot resume exactly from checkpoint {str(path)!r}: {name} {problem}. Resuming without it would not "
        "continue the interrupted run; delete this checkpoint folder to resume from an earlier one, or start a new "
        "run without --resume"
    )


def _load_checkpoint_file(path: Path, name: str, loader: Any) -> Any:
    """`loader(path / name)`, or a [`CheckpointError`] naming the file when it is missing or unreadable."""
    file = path / name
    if not file.is_file():
        raise checkpoint_error(path, name, "is missing")
    try:
        return loader(file)
    except Exception as err:  # noqa: BLE001 - any reader failure means the file is unusable
        raise checkpoint_error(path, name, f"cannot be read ({type(err).__name__}: {str(err)[:200]})") from err


def check_weights_file(path: Path, name: str, module: torch.nn.Module) -> None:
    """Raises [`CheckpointError`] unless `path / name` is a readable safetensors file whose tensors all belong to
    `module`'s state dict with the same shapes (tied weights may be stored once)."""
    from safetensors.torch import load_file

    weights = _load_checkpoint_file(path, name, lambda f: load_file(str(f), device="cpu"))
    expected = module.state_dict()
    unknown = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(weights) & set(expected) if tuple(weights[k].shape) != tuple(expected[k].shape))
    if unknown or wrong or (expected and not weights):
        raise checkpoint_error(path, name, f"does not match this run's model (unknown tensors {unknown[:5]}, "
                                            f"different shapes {wrong[:5]})")


def _check_rng_states(path: Path, name: str, states: Any, device_type: str) -> None:
    """The states must restore: applied to fresh generators (the global ones are left alone)."""
    import random

    keys = ("random_state", "numpy_random_seed", "torch_manual_seed")
    if not isinstance(states, dict) or any(k not in states for k in keys):
        raise checkpoint_error(path, name, f"does not hold the random states {list(keys)}")
    try:
        random.Random().setstate(states["random_state"])
        np.random.RandomState().set_state(states["numpy_random_seed"])
        torch.Generator().set_state(states["torch_manual_seed"])
    except Exception as err:  # noqa: BLE001
        raise checkpoint_error(path, name, f"holds unusable random states ({type(err).__name__}: {err})") from err
    device_key = f"torch_{device_type}_manual_seed"
    if device_type not in ("cpu", "meta") and device_key not in states:
        raise checkpoint_error(path, name, f"has no {device_type} random state ({device_key})")


def verify_checkpoint(
    accelerator: Any, path: str | Path, state_keys: tuple[str, ...] = EPOCH_LOOP_STATE_KEYS
) -> dict[str, Any]:
    """Check that a checkpoint can be resumed exactly, before anything is loaded; returns its trainer state.

    `accelerator.load_state` only logs a message when a random-state file is missing or unreadable and then
    continues with the current random states, so a resumed run would silently differ from the uninterrupted one.
    Every file a resume needs must therefore exist and load: the weights of each prepared model
    (`model.safetensors`, `model_1.safetensors`, ...; tensors matching the model), each optimizer's and scheduler's
    state (`optimizer.bin`, `scheduler.bin`, ...), the gradient scaler (`scaler.pt`) when there is one, the random
    states of every process (`random_states_<rank>.pkl`), registered custom objects and `trainer_state.json` (a JSON
    object with `state_keys`).

    Raises:
        [`CheckpointError`] (a `ValueError`) naming the checkpoint folder and the bad file.
    """
    from accelerate.utils import load as accelerate_load

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder {str(path)!r} does not exist")
    state = _load_checkpoint_file(path, TRAINER_STATE, lambda f: json.loads(f.read_text()))
    if not isinstance(state, dict) or any(k not in state for k in state_keys):
        raise checkpoint_error(path, TRAINER_STATE, f"does not hold the trainer state keys {list(state_keys)}")
    for key in ("epoch", "step_in_epoch", "global_step", "step", "images_seen", "tick"):
        if key in state_keys and (isinstance(state[key], bool) or not isinstance(state[key], int) or state[key] < 0):
            raise checkpoint_error(path, TRAINER_STATE, f"has {key}={state[key]!r}, not a non-negative integer")
    for i, model in enumerate(accelerator._models):
        check_weights_file(path, "model.safetensors" if i == 0 else f"model_{i}.safetensors", model)
    for i, optimizer in enumerate(accelerator._optimizers):
        name = "optimizer.bin" if i == 0 else f"optimizer_{i}.bin"
        saved = _load_checkpoint_file(path, name, lambda f: accelerate_load(f, map_location="cpu"))
        groups = saved.get("param_groups") if isinstance(saved, dict) else None
        if not isinstance(groups, list) or "state" not in saved or [len(g.get("params", [])) for g in groups] != [
            len(g["params"]) for g in optimizer.param_groups
        ]:
            raise checkpoint_error(path, name, "does not hold this run's optimizer state (parameter groups differ)")
    for i, _ in enumerate(accelerator._schedulers):
        name = "scheduler.bin" if i == 0 else f"scheduler_{i}.bin"
        if not isinstance(_load_checkpoint_file(path, name, accelerate_load), dict):
            raise checkpoint_error(path, name, "does not hold a scheduler state")
    if getattr(accelerator, "scaler", None) is not None:
        _load_checkpoint_file(path, "scaler.pt", lambda f: torch.load(f, weights_only=True))
    for i, _ in enumerate(getattr(accelerator, "_custom_objects", [])):
        _load_checkpoint_file(path, f"custom_checkpoint_{i}.pkl", accelerate_load)
    for rank in range(accelerator.num_processes):
        name = f"random_states_{rank}.pkl"
        _check_rng_states(path, name, _load_checkpoint_file(path, name, accelerate_load), accelerator.device.type)
    return state


def load_checkpoint(accelerator: Any, path: str | Path, state_keys: tuple[str, ...] = EPOCH_LOOP_STATE_KEYS,
                    check_more: Any = None) -> dict[str, Any]:
    """[`verify_checkpoint`] (then `check_more(state, path)` when given, for a trainer's own files), then
    `accelerator.load_state`, then a check that this process's torch random state is the saved one (the exact
    resume `load_state` does not guarantee); returns the trainer state."""
    from accelerate.utils import load as accelerate_load

    path = Path(path)
    state = verify_checkpoint(accelerator, path, state_keys)
    if check_more is not None:
        check_more(state, path)
    try:
        accelerator.load_state(str(path))
    except Exception as err:  # noqa: BLE001 - a file that passed the checks but does not load into this run
        raise checkpoint_error(path, "the accelerator state", f"does not load ({type(err).__name__}: "
                                                               f"{str(err)[:300]})") from err
    name = f"random_states_{accelerator.process_index}.pkl"
    saved = accelerate_load(path / name)
    if not torch.equal(torch.get_rng_state(), saved["torch_manual_seed"]):
        raise checkpoint_error(path, name, "was not restored by accelerator.load_state")
    return state


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


# ----------------------------------------------------------------------------------------------------------
# Run set-up and the epoch loop shared by `train_encoder`, `train_clip` and `train_image_to_eeg`


def _allow_new_precision(mixed_precision: str | None) -> None:
    """Accelerate keeps one process-wide state, and refuses a second `Accelerator` with another mixed precision. In
    a single process (a notebook or the quickstart running one trainer after another) the earlier run is over, so
    its state is reset for the new run; a distributed run keeps Accelerate's refusal. A run that does not ask for a
    precision gets `accelerate launch`'s (`ACCELERATE_MIXED_PRECISION`), else none: never the precision an earlier
    run of the same process asked for."""
    from accelerate.state import AcceleratorState, PartialState

    if not AcceleratorState._shared_state:
        return
    if mixed_precision is None:
        mixed_precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    current = str(AcceleratorState._shared_state.get("_mixed_precision", "no"))
    if current != mixed_precision and PartialState().num_processes == 1:
        AcceleratorState._reset_state()


FP16_ON_CPU = ("{given} fp16 needs a GPU: on {device} Accelerate would compute in float32 while the run records "
               "fp16; use --mixed-precision bf16 (on a CPU with bfloat16 units) or no")
BF16_WITHOUT_UNITS = ("{given} bf16 is refused: {reason}; use --mixed-precision no, or set {var}=1 to train in "
                      "emulated bfloat16 anyway")


def make_accelerator(args: Any, mixed_precision: str | None = None):
    """The trainers' `Accelerator`: trackers from `args.log_with`, logs in `output_dir/logs`, seedable sampler.

    Args:
        args: training arguments with `output_dir`, `log_with`, `seed` and optionally `mixed_precision`.
        mixed_precision (`str`, *optional*): passed to `Accelerator` when given; default `args.mixed_precision`
            (`None` leaves it to `accelerate launch` / the Accelerate config).

    Raises:
        `ValueError`: fp16 on a device without fp16 autocast (the CPU): Accelerate would compute in float32 while
        the run says fp16; bf16 on a device without bfloat16 units (`pipelines.precision.bf16_support`: a CPU
        without the avx512_bf16 / amx_bf16 / bf16 flags emulates it tens of times slower than float32), unless
        `EEG2IMG_ALLOW_EMULATED_BF16=1`.
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

    mixed_precision = mixed_precision if mixed_precision is not None else getattr(args, "mixed_precision", None)
    extra = {} if mixed_precision is None else {"mixed_precision": mixed_precision}
    _allow_new_precision(mixed_precision)
    accelerator = Accelerator(
        **extra,
        log_with=["tensorboard"] if "tensorboard" in args.log_with else None,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=f"{args.output_dir}/logs"),
        dataloader_config=DataLoaderConfiguration(split_batches=True, use_seedable_sampler=True, data_seed=args.seed),
    )
    given = "--mixed-precision" if mixed_precision is not None else "accelerate launch's --mixed_precision"
    if accelerator.mixed_precision != "no" and autocast_precision(accelerator) == "no":
        raise ValueError(FP16_ON_CPU.format(given=given, device=accelerator.device.type))
    if autocast_precision(accelerator) == "bf16":
        supported, reason = bf16_support(accelerator.device)
        if not supported:
            raise ValueError(BF16_WITHOUT_UNITS.format(given=given, reason=reason, var=ALLOW_EMULATED_VAR))
    return accelerator


def autocast_precision(accelerator: Any) -> str:
    """What the run's autocast computes in: `"fp16"`, `"bf16"` or `"no"` (Accelerate keeps its `mixed_precision`
    setting even where it cannot autocast, e.g. fp16 on the CPU, and then computes in float32)."""
    precision = str(accelerator.mixed_precision)
    if precision in ("fp16", "bf16") and not getattr(accelerator, "native_amp", False):
        return "no"
    return precision


def load_train_validation(args: Any, keep: list[str] | None = None, exclude: list[str] | None = None):
    """`(dataset, info)`: `args.dataset` (with `args.simulate`), checked for `train` and `validation` splits, then
    restricted to the classes in `keep` / without those in `exclude` when either is non-empty."""
    dataset = load_eeg_dataset(args.dataset, **args.simulate)
    info = get_eeg_info(dataset)
    for split in ("train", "validation"):
        if split not in dataset:
            raise ValueError(f"the dataset needs a {split!r} split for training, it has {sorted(dataset)}")
    if keep or exclude:
        dataset = select_classes(dataset, keep=list(keep) if keep else None, exclude=list(exclude or []))
    return dataset, info


def check_batch_size(batch_size: int, n_trials: int, num_processes: int) -> None:
    """Raise `ValueError` unless `batch_size` splits evenly over the processes and fits in the training split."""
    if batch_size % num_processes:
        raise ValueError(f"batch_size {batch_size} must be divisible by {num_processes} processes")
    if n_trials < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {n_trials} training trials")


def loader_generator() -> torch.Generator:
    """The random generator of a training `DataLoader`, so that iterating the loader leaves the global one alone.

    Every `iter()` of a `DataLoader` draws a base seed for its workers: from the loader's `generator` when it has
    one, else from the global torch generator. A resumed run restores the global random states of its checkpoint,
    then starts a new iterator over the rest of the epoch ([`train_epochs`]), while the uninterrupted run drew that
    number before the checkpoint: with the global generator, every later dropout mask and augmentation would differ.
    The batch order does not depend on this generator's seed: Accelerate's seedable sampler reseeds it with
    `data_seed + epoch` at the start of every epoch ([`make_accelerator`]), and no worker uses the base seed."""
    return torch.Generator()


def shuffled_loader(dataset: torch.utils.data.Dataset, batch_size: int, num_processes: int):
    """A shuffled `DataLoader` of full batches over a batch-fetching dataset (sizes checked first), with its own
    [`loader_generator`]."""
    check_batch_size(batch_size, len(dataset), num_processes)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                       collate_fn=identity_collate, generator=loader_generator())


RESUME_MAY_CHANGE = frozenset({
    "resume", "overwrite", "output_dir", "epochs", "max_steps", "kimg", "eval_every_epochs", "checkpoint_every_steps",
    "keep_checkpoints", "snapshot_ticks", "checkpoint_ticks", "grid_columns", "log_with", "gradient_checkpointing",
})
"""Training arguments that `resume` may change: the run's length, checkpointing and logging, and activation
checkpointing (memory only: the same results). Every other argument
(dataset, batch size, learning rate, precision, model and architecture, losses, seed, ...) shapes the run, so a
resume with another value is refused rather than recorded while the restored state continues with the old one."""

RUN_ENTRIES = ("training_args.json", "checkpoints", "model")
"""Entries of an output folder that mean it holds a training run (killed or finished)."""


def prepare_run_dir(args: Any, command: str) -> Path:
    """Check `args.output_dir` before a run writes anything, then create it with the ownership marker.

    Refused (see [`eeg2img_hf.utils.outputs`]): an output folder that equals, contains or lies inside the dataset
    folder or a model folder the run reads (`encoder`, `generator`, `vision_model`, `init_from`), a path that is a
    file, a read-only folder, and a non-empty folder that is not a training run written by this package. A folder
    has one run: one that already holds a run (killed or finished) is refused unless `args.resume` (continue it,
    with the same settings: [`check_resume_arguments`]) or `args.overwrite` (delete it and start anew; only a run
    the package wrote and holding no other files). Only the main process creates or clears the folder.
    """
    if getattr(args, "mixed_precision", None) == "fp16" and not torch.cuda.is_available():
        raise ValueError(FP16_ON_CPU.format(given="--mixed-precision", device="cpu"))
    inputs = {name: getattr(args, name, None) for name in ("dataset", "encoder", "generator", "vision_model",
                                                           "init_from")}
    out_dir = prepare_output_dir(args.output_dir, command=command, kind="run", inputs=inputs, reuse=True,
                                 what="output_dir")
    main = os.environ.get("RANK", "0") == "0"
    held = [name for name in RUN_ENTRIES if (out_dir / name).exists()]
    if held and args.resume:
        check_resume_arguments(args, out_dir)
    elif held and getattr(args, "overwrite", False):
        if main:
            clear_own_folder(out_dir, kind="run", command=command, what="output_dir")
    elif held:
        raise RefusedOutputError(
            f"output_dir {str(out_dir)!r} already holds a training run ({', '.join(held)}); a folder holds one run",
            hint="pass --resume (resume=True) to continue it, or --overwrite (overwrite=True) to delete it and start "
                 "a new run, or choose another output_dir")
    if main:
        create_output_dir(out_dir, command=command, kind="run")
    return out_dir


def check_resume_arguments(args: Any, out_dir: Path) -> None:
    """Refuse a resume whose arguments differ from the run's `training_args.json` in anything but
    [`RESUME_MAY_CHANGE`] (paths compared as resolved paths); the message names each argument and both values."""
    saved = _json_file(out_dir / "training_args.json")
    if saved is None:
        return  # a run killed before its arguments were written: nothing was trained yet
    now = json.loads(json.dumps(args.to_dict(), default=_json_default))
    changed = [name for name in sorted(set(now) & set(saved))
               if name not in RESUME_MAY_CHANGE and not _same_setting(now[name], saved[name])]
    if changed:
        shown = "; ".join(f"{name}: run {saved[name]!r}, now {now[name]!r}" for name in changed[:6])
        raise Eeg2ImgError(
            f"--resume of the run in {str(out_dir)!r} with other settings ({shown}): the restored state continues the "
            "recorded run, so the new values would not be used",
            hint="resume with the recorded values (training_args.json), or start a new run with --overwrite or "
                 "another output_dir")


def _json_file(path: Path) -> dict[str, Any] | None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return content if isinstance(content, dict) else None


def _same_setting(now: Any, saved: Any) -> bool:
    if now == saved:
        return True
    if isinstance(now, str) and isinstance(saved, str) and Path(now).exists() and Path(saved).exists():
        return Path(now).resolve() == Path(saved).resolve()
    return False


def start_run(accelerator, args: Any, project: str) -> tuple[Path, MetricsLogger]:
    """Create `output_dir`, save `training_args.json` (with `autocast_precision`: what autocast computes in, see
    [`autocast_precision`]), start the trackers; returns `(output_dir, logger)`."""
    out_dir = Path(args.output_dir)
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "training_args.json", {**args.to_dict(), "autocast_precision":
                                                     autocast_precision(accelerator)})
    accelerator.init_trackers(project, config={k: str(v) for k, v in args.to_dict().items()})
    return out_dir, MetricsLogger(accelerator, out_dir, use_csv="csv" in args.log_with)


def restore_state(accelerator, args: Any, **extra: Any) -> dict[str, Any]:
    """The epoch-loop trainer state of a fresh run (plus `extra` keys), or of the latest checkpoint when
    `args.resume` (the `accelerator` state is loaded too, after [`verify_checkpoint`]: a checkpoint that cannot be
    resumed exactly raises a [`CheckpointError`] naming the folder and the bad file)."""
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": None, "best_epoch": None, **extra}
    path = latest_checkpoint(args.output_dir) if args.resume else None
    if path is None:
        if args.resume:
            if accelerator.is_main_process:
                logger.warning(f"--resume: no checkpoint in {args.output_dir}, starting from scratch")
        return state
    state.update(load_checkpoint(accelerator, path))
    if accelerator.is_main_process:
        logger.info(f"resumed from {path} (epoch {state['epoch']}, step {state['global_step']})")
    return state


def train_epochs(
    accelerator,
    args: Any,
    parts: dict[str, Any],
    state: dict[str, Any],
    logger: MetricsLogger,
    desc: str,
) -> tuple[float, int]:
    """Run the epochs left in `state`: steps, per-step/epoch checkpoints, validation and model selection.

    Args:
        accelerator: the run's `Accelerator`.
        args: training arguments (`epochs`, `max_steps`, `batch_size`, `eval_every_epochs`,
            `checkpoint_every_steps`, `keep_checkpoints`, `output_dir`).
        parts (`dict`): `model`, `optimizer`, `loader` (prepared); `loss` (`(model, batch) -> loss tensor`);
            `validate` (`(unwrapped_model) -> metrics dict`, main process); `selection_key` (metric to maximise);
            `save_best` (`(unwrapped_model, metrics) -> None`, called when it improves); optional `sampler`
            (its `set_epoch` is called) and `epoch_metrics` (`(model) -> dict` added to every epoch row).
        state: trainer state from [`restore_state`], updated in place.
        logger: the run's [`MetricsLogger`].
        desc: progress-bar label.

    Returns:
        `(seconds, samples)`: wall time of the loop and training samples seen.
    """
    model, optimizer, loader = parts["model"], parts["optimizer"], parts["loader"]
    out_dir = Path(args.output_dir)
    total = args.epochs * len(loader) if args.max_steps is None else min(args.max_steps, args.epochs * len(loader))
    check_longer_run(args, state, len(loader), total)
    progress = progress_bar(total, initial=state["global_step"], desc=desc,
                            disable=not accelerator.is_local_main_process)
    clock = CheckpointClock(args.checkpoint_minutes)
    start, seen = time.perf_counter(), 0
    for epoch in range(state["epoch"], args.epochs if state["global_step"] < total else 0):  # a finished run: none
        model.train()
        loader.set_epoch(epoch)
        if parts.get("sampler") is not None:
            parts["sampler"].set_epoch(epoch)
        skip = state["step_in_epoch"] if epoch == state["epoch"] else 0
        batches = accelerator.skip_first_batches(loader, skip) if skip else loader
        losses = list(state.get("epoch_losses") or []) if skip else []  # a mid-epoch checkpoint's losses so far
        for step_in_epoch, batch in enumerate(batches, start=skip):
            loss = parts["loss"](model, batch)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            seen += args.batch_size
            state["global_step"] += 1
            progress.update(1)
            stop, due = poll_stop_and_clock(accelerator, clock)
            every = args.checkpoint_every_steps and state["global_step"] % args.checkpoint_every_steps == 0
            if stop or due or every:
                path = save_checkpoint(accelerator, out_dir, state["global_step"],
                                       {**state, "epoch": epoch, "step_in_epoch": step_in_epoch + 1,
                                        "epoch_losses": losses}, args.keep_checkpoints)
                clock.reset()
                if stop:
                    progress.close()
                    raise TrainingInterrupted(desc.split(" ")[0], path, state["global_step"])
            if state["global_step"] >= total:
                break
        finished = state["global_step"] >= total or epoch == args.epochs - 1
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else math.nan}
        if parts.get("epoch_metrics") is not None:
            row.update(parts["epoch_metrics"](model))
        if (epoch + 1) % args.eval_every_epochs == 0 or finished:
            _validate_and_select(accelerator, parts, state, row, epoch)
        logger.log(row, step=state["global_step"])
        progress.set_postfix({k: round(v, 4) for k, v in row.items() if k != "epoch"})
        state.update(epoch=epoch + 1, step_in_epoch=0, epoch_losses=[])
        if not args.checkpoint_every_steps:
            save_checkpoint(accelerator, out_dir, state["global_step"], state, args.keep_checkpoints)
            clock.reset()
        if finished:
            break
    progress.close()
    return time.perf_counter() - start, seen


def ends_finished_run(output_dir: str | Path, step: int, key: str = "global_step") -> bool:
    """Whether `step` is where the finished run in `output_dir` ended (its training record's `key` says so; a run
    continued past its end and interrupted again ended later)."""
    record = _json_file(Path(output_dir) / "model" / TRAINING_RECORD)
    return record is not None and record.get(key) == step


def longer_run_error(output_dir: str | Path, length: str, step: int, why: str) -> Eeg2ImgError:
    """The refusal of a longer run (`length`, e.g. `"epochs=4, max_steps=None"`) continued from a finished run that
    ended at `step` in a way the longer run would not (`why`)."""
    return Eeg2ImgError(
        f"--resume of the finished run in {str(output_dir)!r} for a longer run ({length}): it ended at step {step} "
        f"{why}, so continuing it would not equal the longer run made in one go",
        hint="start the longer run anew with --overwrite or another output_dir")


def check_longer_run(args: Any, state: dict[str, Any], steps_per_epoch: int, total: int) -> None:
    """Refuse to continue a finished run past its end (a longer `epochs` or `max_steps` on resume) unless it ended
    like any epoch of the longer run: on an epoch boundary, its last epoch logged and validated on schedule
    (`eval_every_epochs`), the checkpoint written after that. Otherwise the finished run's last row, validation and
    model selection would stay in the longer run, which would then differ from the same run made in one go.

    Raises:
        [`Eeg2ImgError`]: naming the run folder, the step it ended at and why it cannot be continued exactly.
    """
    step = state["global_step"]
    closed_early = not state["step_in_epoch"] and step != state["epoch"] * steps_per_epoch  # also without a record
    if step >= total or not (closed_early or ends_finished_run(args.output_dir, step)):
        return  # nothing left to train, or the checkpoint is not where a finished run ended
    epochs_done = step // steps_per_epoch
    if step % steps_per_epoch:
        why = (f"inside epoch {epochs_done + 1} (max_steps), where it logged and validated that epoch after "
               f"{step % steps_per_epoch} of its {steps_per_epoch} steps")
    elif state["step_in_epoch"]:
        why = ("with its last checkpoint written before the last epoch's row and validation (checkpoint_every_steps), "
               "which a resume would log and validate a second time")
    elif epochs_done % args.eval_every_epochs:
        why = (f"after epoch {epochs_done}, which it validated as its last although eval_every_epochs is "
               f"{args.eval_every_epochs}")
    else:
        return
    raise longer_run_error(args.output_dir, f"epochs={args.epochs}, max_steps={args.max_steps}", step, why)


def poll_stop_and_clock(accelerator, clock: CheckpointClock) -> tuple[bool, bool]:
    """`(stop, due)`: whether an interrupt asked the run to stop ([`stop_requested`]) and whether a wall-clock
    checkpoint is due; with several processes, true on every process when true on any (one all-reduce), so they
    all checkpoint at the same step."""
    flags = (stop_requested(), clock.due())
    if accelerator.num_processes > 1:
        summed = accelerator.reduce(torch.tensor(flags, dtype=torch.float32, device=accelerator.device), "sum")
        flags = tuple(bool(v > 0) for v in summed.tolist())
    return flags


def _validate_and_select(accelerator, parts: dict[str, Any], state: dict[str, Any], row: dict[str, Any],
                         epoch: int) -> None:
    """Validation metrics into `row`; `save_best` when `selection_key` improves (main process only)."""
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(parts["model"])
        metrics = parts["validate"](unwrapped)
        row.update(metrics)
        key = parts["selection_key"]
        if state["best"] is None or metrics[key] > state["best"]:
            state["best"], state["best_epoch"] = metrics[key], epoch + 1
            parts["save_best"](unwrapped, metrics)
    accelerator.wait_for_everyone()


def run_record(accelerator, args: Any, state: dict[str, Any], seconds: float, seen: int, selection_metric: str,
               **fields: Any) -> dict[str, Any]:
    """The common head of a training record (model folder, selection, run length, throughput), then `fields`."""
    return {
        "model_dir": str(Path(args.output_dir) / "model"), "selection_metric": selection_metric,
        "best_validation": state["best"], "best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
        "global_step": state["global_step"], "train_seconds": round(seconds, 2),
        "train_samples_per_second": round(seen / max(seconds, 1e-9), 1), "num_processes": accelerator.num_processes,
        "dataset": args.dataset, **fields,
    }


def finish_run(accelerator, record: dict[str, Any], record_name: str) -> dict[str, Any]:
    """Write `record` to `<model_dir>/<record_name>` (main process), wait, end the trackers; returns `record`."""
    if accelerator.is_main_process:
        write_json(Path(record["model_dir"]) / record_name, record)
    accelerator.wait_for_everyone()
    accelerator.end_training()  # closes trackers and, when distributed, the process group
    return record
