"""Check a saved model folder before loading it, and load it strictly.

[`check_model_folder`] reads only `config.json` and the safetensors headers (no torch, no weights): the config must
be a JSON object whose `model_type` is one the command expects, the weights must be `model.safetensors` (or a
sharded safetensors index) with readable headers; pickle-only weights (`.bin`, `.pt`, ...) are refused with a
note on converting them, since the package never unpickles. [`load_model_folder`] runs the check, then
`from_pretrained`, and turns weights that do not fit the model (missing, unexpected or mis-shaped tensors) into a
[`BadModelFolderError`] naming them instead of a silently half-initialised model.

A path that does not exist but looks like a Hub repo id (`org/name`) is left to `from_pretrained`.

This module imports nothing else of the package except the leaves [`eeg2img_hf.utils.errors`],
`eeg2img_hf.utils.names` and [`eeg2img_hf.utils.outputs`].
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInputFileError, BadModelFolderError
from .names import TRAINING_RECORD
from .outputs import own_output_kind

__all__ = [
    "MODEL_TYPE_NAMES",
    "ModelFolder",
    "check_loaded_keys",
    "check_model_folder",
    "load_model_folder",
    "read_safetensors_header",
    "unfinished_run_model",
]

MODEL_TYPE_NAMES = {
    "eeg2img_eeg_encoder": "an EEG encoder (train-encoder)",
    "eeg2img_stylegan": "an EEGStyleGAN-ADA generator (train-gan)",
    "eeg2img_eeg_clip": "an EEGClip model (train-clip)",
    "eeg2img_image_to_eeg": "an image -> EEG model (train-image-to-eeg)",
}
"""The package's `config.json` model types and how messages name them."""

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
_MAX_HEADER = 100 * 1024 * 1024
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

_CONVERT_HINT = ("only safetensors weights are loaded (pickle files can run code); convert with "
                 "`eeg2img convert-checkpoint`, or load the model in trusted code and call save_pretrained")


@dataclass
class ModelFolder:
    """What [`check_model_folder`] found: the folder, its parsed config and the tensor names of its weights."""

    path: Path
    config: dict[str, Any]
    model_type: str
    weight_files: list[Path] = field(default_factory=list)
    tensor_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def tensor_names(self) -> set[str]:
        """Names of the tensors in the weight files."""
        return set(self.tensor_shapes)


def read_safetensors_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype/shape/offsets, plus `__metadata__`).

    Checks that the file is long enough for every tensor the header lists, so a truncated download is caught here.

    Raises:
        [`BadInputFileError`]: the file is missing, truncated or not a safetensors file.
    """
    path = Path(path)
    hint = "re-save it with save_pretrained or download it again"
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise BadInputFileError(f"{os.fspath(path)} is not a safetensors file: it is only {size} bytes long",
                                        hint=hint)
            (length,) = struct.unpack("<Q", prefix)
            if length > min(_MAX_HEADER, size - 8):
                raise BadInputFileError(f"{os.fspath(path)} is not a safetensors file (or is truncated): its header "
                                        f"claims {length} bytes, the file has {size}", hint=hint)
            header = json.loads(handle.read(length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadInputFileError(f"{os.fspath(path)} is not a safetensors file: its header is not JSON",
                                hint=hint) from None
    except IsADirectoryError:
        raise BadInputFileError(f"{os.fspath(path)} is a folder, expected a safetensors file") from None
    except FileNotFoundError:
        raise BadInputFileError(f"{os.fspath(path)}: no such file") from None
    if not isinstance(header, dict):
        raise BadInputFileError(f"{os.fspath(path)} is not a safetensors file: its header is not a JSON object",
                                hint=hint)
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise BadInputFileError(f"{os.fspath(path)} is not a valid safetensors file: tensor {name!r} has no "
                                    "data offsets", hint=hint)
        end = max(end, offsets[1])
    if 8 + length + end > size:
        raise BadInputFileError(f"{os.fspath(path)} is truncated: its tensors need {8 + length + end} bytes, the file "
                                f"has {size}", hint=hint)
    return header


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadModelFolderError(f"{os.fspath(path)} ({what}) is not valid JSON: {err}",
                                  hint="re-save the model with save_pretrained, or restore the file") from None


def _expected_names(expected: tuple[str, ...]) -> str:
    return " or ".join(MODEL_TYPE_NAMES.get(t, f"a {t} model") for t in expected)


def looks_like_hub_id(path: str | os.PathLike) -> bool:
    """`True` for a string that does not exist locally and has the `org/name` form of a Hub repo id."""
    text = os.fspath(path)
    return not os.path.exists(text) and bool(_HUB_ID.match(text)) and not text.startswith((".", "~"))


def check_model_folder(
    path: str | os.PathLike,
    expected: str | tuple[str, ...] | None = None,
    *,
    what: str = "model",
    allow_unfinished: bool = False,
) -> ModelFolder | None:
    """Check that `path` is a saved model folder of one of the `expected` model types, without loading weights.

    Args:
        path: the folder (as written by `save_pretrained`).
        expected: accepted `config.json` model types (default: any of the package's, see [`MODEL_TYPE_NAMES`]).
        what: how messages name the folder (e.g. `"--encoder"`).
        allow_unfinished: accept the `model` folder of a training run that has not finished (see
            [`unfinished_run_model`]); refused by default.

    Returns:
        [`ModelFolder`], or `None` for a Hub repo id (a path that does not exist but reads `org/name`).

    Raises:
        [`BadModelFolderError`]: a missing folder or `config.json`, a config that is not JSON or of another model
        type, missing or pickle-only weights; [`BadInputFileError`]: a truncated or corrupt safetensors file.
    """
    expected = (expected,) if isinstance(expected, str) else tuple(expected or MODEL_TYPE_NAMES)
    folder = Path(os.fspath(path))
    if not folder.exists():
        if looks_like_hub_id(path):
            return None
        raise BadModelFolderError(f"{what} {os.fspath(path)!r}: no such model folder",
                                  hint=f"pass the folder of {_expected_names(expected)}")
    if not folder.is_dir():
        raise BadModelFolderError(f"{what} {os.fspath(path)!r} is a file, expected a model folder (the folder "
                                  "holding config.json and model.safetensors)")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise BadModelFolderError(f"{what} {os.fspath(folder)!r} has no config.json: not a saved model folder",
                                  hint=f"pass the folder of {_expected_names(expected)}")
    config = _read_json(config_path, "the model config")
    if not isinstance(config, dict):
        raise BadModelFolderError(f"{os.fspath(config_path)} must hold a JSON object, got {type(config).__name__}")
    model_type = config.get("model_type")
    if model_type not in expected:
        found = MODEL_TYPE_NAMES.get(model_type, f"a model of type {model_type!r}")
        raise BadModelFolderError(f"{what} {os.fspath(folder)!r} holds {found}, expected "
                                  f"{_expected_names(expected)}", hint="pass a folder of the expected kind")
    if not allow_unfinished and unfinished_run_model(folder):
        raise BadModelFolderError(
            f"{what} {os.fspath(folder)!r} is the model of a training run that has not finished (no {TRAINING_RECORD}; "
            "the run was interrupted or is still running)",
            hint="resume the run with --resume to finish it, or pass --allow-unfinished to use this model anyway")
    files = _weight_files(folder, what)
    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        header = read_safetensors_header(file)
        shapes.update({k: tuple(v.get("shape", ())) for k, v in header.items() if k != "__metadata__"})
    return ModelFolder(folder, config, model_type, files, shapes)


def unfinished_run_model(folder: str | os.PathLike) -> bool:
    """Whether `folder` is the `model` folder of a training run that has not finished: it lies in a training run
    folder (see `eeg2img_hf.utils.outputs.own_output_kind`) and lacks the training record every trainer writes
    there last. Converted checkpoints and Hub downloads lie in no run folder: they are finished models."""
    folder = Path(os.fspath(folder))
    return (folder.name == "model" and not (folder / TRAINING_RECORD).is_file()
            and own_output_kind(folder.parent) == "run")


def _weight_files(folder: Path, what: str) -> list[Path]:
    index = folder / INDEX_NAME
    if index.is_file():
        content = _read_json(index, "the sharded weights index")
        weight_map = content.get("weight_map") if isinstance(content, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise BadModelFolderError(f"{os.fspath(index)} has no weight_map: not a safetensors index")
        files = [folder / name for name in sorted(set(weight_map.values()))]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise BadModelFolderError(f"{what} {os.fspath(folder)!r} lacks the weight shards {missing[:5]} listed in "
                                      f"{INDEX_NAME}", hint="download or copy the complete folder")
        return files
    if (folder / WEIGHTS_NAME).is_file():
        return [folder / WEIGHTS_NAME]
    pickles = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PICKLE_WEIGHT_SUFFIXES)
    if pickles:
        raise BadModelFolderError(f"{what} {os.fspath(folder)!r} holds only pickle weights {pickles[:3]}, no "
                                  f"{WEIGHTS_NAME}", hint=_CONVERT_HINT)
    raise BadModelFolderError(f"{what} {os.fspath(folder)!r} has no {WEIGHTS_NAME}: the weights are missing",
                              hint="copy the complete folder written by save_pretrained")


def _align_prefix(wanted: dict[str, Any], saved: dict[str, Any], prefix: str) -> tuple[dict, dict]:
    """As `from_pretrained` does: a base model loaded from a folder saved with a head compares only the tensors
    under `prefix.`; a model with a head loaded from a base model's folder compares only its base-model tensors."""
    if not prefix:
        return wanted, saved
    head = f"{prefix}."
    saved_prefixed, wanted_prefixed = any(k.startswith(head) for k in saved), any(k.startswith(head) for k in wanted)
    if saved_prefixed and not wanted_prefixed:
        saved = {k[len(head):]: v for k, v in saved.items() if k.startswith(head)}
    elif wanted_prefixed and not saved_prefixed:
        wanted = {k[len(head):]: v for k, v in wanted.items() if k.startswith(head)}
    return wanted, saved


def _listed(kind: str, names: list[str]) -> str:
    return f"{kind} {names[:4]}" + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")


def check_loaded_keys(model: Any, checked: ModelFolder, *, what: str = "model") -> None:
    """Raise [`BadModelFolderError`] unless the tensors of `checked`'s weights are exactly `model`'s state dict
    (names and shapes; see `_align_prefix` for models saved with or without a task head)."""
    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    wanted, saved = _align_prefix(wanted, checked.tensor_shapes, getattr(model, "base_model_prefix", "") or "")
    missing, unexpected = sorted(set(wanted) - set(saved)), sorted(set(saved) - set(wanted))
    reshaped = sorted(k for k in set(wanted) & set(saved) if tuple(wanted[k]) != tuple(saved[k]))
    if missing or unexpected or reshaped:
        parts = [_listed(kind, names) for kind, names in (("missing tensors", missing),
                 ("unexpected tensors", unexpected), ("tensors of another shape", reshaped)) if names]
        raise BadModelFolderError(f"{what} {os.fspath(checked.path)!r}: the weights do not fit its config.json ("
                                  f"{'; '.join(parts)})", hint="re-save the model with save_pretrained, or restore "
                                  "the folder's config.json and weights together")


def _skeleton(model_class: Any, config: Any) -> Any:
    """The model built from `config` on the meta device (no memory, no initialisation), or `None` if it cannot be."""
    import torch

    try:
        with torch.device("meta"):
            return model_class(config)
    except Exception:  # noqa: BLE001 - a model that cannot be built on the meta device is checked after loading
        return None


def load_model_folder(model_class: Any, path: str | os.PathLike, expected: str | tuple[str, ...] | None = None, *,
                      what: str = "model", **kwargs: Any) -> Any:
    """`model_class.from_pretrained(path, **kwargs)` after [`check_model_folder`], refusing weights that do not fit.

    The tensor names and shapes of the weights are compared with the model built from `config.json` before the
    weights are loaded (and again after loading), so a folder whose weights do not fit is refused by name instead
    of loading as a partly random model.

    Args:
        model_class: a `PreTrainedModel` subclass.
        path: the model folder (or a Hub repo id, loaded without the folder checks).
        expected: accepted `config.json` model types (default: `model_class.config_class.model_type`).
        what: how messages name the folder.
        kwargs: passed to `from_pretrained`.

    Raises:
        [`BadModelFolderError`] / [`BadInputFileError`]: see [`check_model_folder`]; also a config that does not
        build the model and weights whose names or shapes do not fit it.
    """
    if expected is None:
        expected = getattr(getattr(model_class, "config_class", None), "model_type", None) or None
    checked = check_model_folder(path, expected, what=what, allow_unfinished=True)  # a command decides that
    if checked is None:
        return model_class.from_pretrained(os.fspath(path), **kwargs)
    config_path = os.fspath(checked.path / "config.json")
    config_class = getattr(model_class, "config_class", None)
    if config_class is not None and "config" not in kwargs:
        try:
            kwargs["config"] = config_class.from_pretrained(os.fspath(checked.path))
        except (TypeError, KeyError, AttributeError, ValueError, OSError) as err:
            raise BadModelFolderError(f"{config_path} is not a valid {checked.model_type} config "
                                      f"({type(err).__name__}: {' '.join(str(err).split())[:300]})",
                                      hint="restore the config.json written by save_pretrained") from err
    skeleton = _skeleton(model_class, kwargs["config"]) if "config" in kwargs else None
    if skeleton is not None:
        check_loaded_keys(skeleton, checked, what=what)
    try:
        model = model_class.from_pretrained(os.fspath(checked.path), **kwargs)
    except (RuntimeError, TypeError, KeyError, AttributeError, ValueError) as err:
        if isinstance(err, RuntimeError) and "mismatch" not in str(err):
            raise
        raise BadModelFolderError(f"{what} {os.fspath(checked.path)!r} does not load: the weights or config do not "
                                  f"fit the model ({type(err).__name__}: {' '.join(str(err).split())[:300]})",
                                  hint="re-save the model with save_pretrained") from err
    check_loaded_keys(model, checked, what=what)
    return model
