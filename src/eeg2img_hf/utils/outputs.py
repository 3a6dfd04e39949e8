"""Output paths that never destroy data: every command that writes a folder or a file checks it here first.

Rules (the same for the command line and the Python API):

* an output that equals, contains or lies inside one of the command's inputs is refused (symlinks resolved);
* an output folder path that is an existing file (or an output file path that is a folder) is refused;
* an existing, non-empty output is replaced or written into only when it is recognised as this package's own
  earlier output of the same kind, and only with `overwrite` (replace) or `reuse` (write into: resume a training
  run, re-run the quickstart, add images); anything else is refused with a message saying why and what to do.

Every folder a command creates gets an ownership marker, [`MARKER_NAME`] (a small JSON file naming the command
and the kind of output). Folders written before the marker existed are recognised by their layout: a dataset
folder by `dataset_dict.json`, a model folder by a `config.json` of one of the package's model types, a training
run by `training_args.json`, a quickstart folder by its `stages/` records, an image folder by its file names.
[`replace_folder`] checks ownership once more right before it deletes anything, so a folder the package did not
write is never deleted; and an own folder is replaced only when it holds no file the package did not write there (the
marker lists the entries the package put in place; folders without that list are checked against the names the
package writes). A read-only output folder is refused before anything is written (the user protected it).

Folders are built beside their target in a hidden staging folder ([`make_staging_dir`], named
`.<target>.tmp-<pid>-<random>` and holding a staging record with the process id and host). A process killed with
`kill -9` cannot remove its staging folder; the next command writing the same target removes such leftovers, but
only those whose name, staging record and process (dead, on this host) prove them its own.

This module imports nothing else of the package except the leaf [`eeg2img_hf.utils.errors`].
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import RefusedOutputError

__all__ = [
    "RESERVED_FILE_NAMES",
    "prepare_result_json",
    "MARKER_NAME",
    "OUTPUT_KINDS",
    "check_inputs",
    "check_writable",
    "clear_own_folder",
    "create_output_dir",
    "foreign_entries",
    "make_staging_dir",
    "output_dir_while_working",
    "own_output_kind",
    "prepare_output_dir",
    "prepare_output_file",
    "read_marker",
    "remove_stale_staging",
    "remove_staging_dir",
    "replace_folder",
    "write_marker",
]

MARKER_NAME = ".eeg2img-output.json"
"""File written into every folder a command creates: `{"written_by": "eeg2img_hf", "command": ..., "kind": ...}`."""

WRITER = "eeg2img_hf"

OUTPUT_KINDS = {
    "dataset": "an EEG-image dataset",
    "model": "a saved model",
    "run": "a training run",
    "quickstart": "a quickstart run",
    "images": "generated image grids",
    "metrics": "built evaluate metric modules",
    "space": "a built Space folder",
}
"""Kinds of output folders and how messages describe them."""

MODEL_TYPES = ("eeg2img_eeg_encoder", "eeg2img_stylegan", "eeg2img_eeg_clip", "eeg2img_image_to_eeg")
"""`config.json` model types of the package (a folder holding one is the package's model output)."""

STAGING_NAME = ".eeg2img-staging.json"
"""Record inside a staging folder (process id, host): proves a leftover staging folder is the package's own."""

_IMAGE_FILE = re.compile(r"^(eeg_)?seed\d+(_real)?\.png$|^manifest\.json$")
_DATASET_EXTRA = {MARKER_NAME, "dataset_dict.json", "README.md", ".gitattributes"}
_OWN_NAMES = {
    # the names the package writes into its folders (beside the marker's own list of entries): model folders get
    # weights, configs, remote code, records, a card and, later, evaluation results; runs get the trainers' entries
    "model": re.compile(r"^[\w.-]+\.safetensors(\.index\.json)?$|^(config|preprocessor_config|generation_config|"
                        r"conversion|eeg2img_\w+|eval_results|gan_init_state|image_classifier)\.json$|"
                        r"^((configuration|modeling|ops|allocator)_\w+|common)\.py$|^README\.md$|"
                        r"^\.gitattributes$|^tsne_test\.png$|^(discriminator|generator)$"),
    "run": re.compile(r"^(training_args\.json|metrics\.csv|checkpoints|logs|model|embeddings|grids|snapshots)$"),
    "images": _IMAGE_FILE,
}

PathLike = str | os.PathLike
Inputs = Mapping[str, Any] | Iterable[Any] | None


# --------------------------------------------------------------------------------------------------
# Ownership marker and recognition


def write_marker(folder: PathLike, *, command: str, kind: str) -> Path:
    """Write the ownership marker into `folder` (which must exist); returns the marker's path."""
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"unknown output kind {kind!r}; expected one of {sorted(OUTPUT_KINDS)}")
    path = Path(folder) / MARKER_NAME
    record = {"written_by": WRITER, "command": command, "kind": kind,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    # Written beside the folder and renamed into it: another process never sees a half-written marker.
    handle, tmp = tempfile.mkstemp(prefix=f".{Path(folder).name}.marker-", dir=Path(folder).resolve().parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_marker(folder: PathLike) -> dict[str, Any] | None:
    """The ownership marker of `folder`, or `None` when it has none (or an unreadable one)."""
    try:
        record = json.loads((Path(folder) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("written_by") != WRITER or record.get("kind") not in OUTPUT_KINDS:
        return None
    return record


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return content if isinstance(content, dict) else None


def _is_model_folder(folder: Path) -> bool:
    config = _json_object(folder / "config.json")
    if config is not None and config.get("model_type") in MODEL_TYPES:
        return True
    return (folder / "image_classifier.json").is_file() and (folder / "model.safetensors").is_file()


def _is_dataset_folder(folder: Path) -> bool:
    """A `DatasetDict.save_to_disk` folder: `dataset_dict.json` listing splits, each a folder with its metadata."""
    listed = _json_object(folder / "dataset_dict.json")
    splits = listed.get("splits") if listed is not None else None
    return isinstance(splits, list) and bool(splits) and all(
        isinstance(s, str) and (folder / s / "dataset_info.json").is_file() for s in splits)


def _is_run_folder(folder: Path) -> bool:
    """A training run of an earlier version: trainer checkpoints, or only the GAN / image -> EEG embedding cache
    (written before the rest of the run)."""
    if any(folder.glob("checkpoints/step_*/trainer_state.json")):
        return True
    entries = list(folder.iterdir())
    return bool(entries) and all(p.name in ("embeddings", "logs") and p.is_dir() for p in entries) and any(
        folder.glob("embeddings/*/meta.json"))


def own_output_kind(folder: PathLike) -> str | None:
    """The kind of output (see [`OUTPUT_KINDS`]) if `folder` is recognised as written by this package, else `None`.

    The ownership marker decides; without one, the layouts written by earlier versions of the package are
    recognised (see the module documentation).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    marker = read_marker(folder)
    if marker is not None:
        return marker["kind"]
    if _is_dataset_folder(folder):
        return "dataset"
    if _is_model_folder(folder):
        return "model"
    if (folder / "training_args.json").is_file() or _is_run_folder(folder):
        return "run"
    stages = folder / "stages"
    if stages.is_dir() and any(stages.glob("*.json")) and all(p.suffix == ".json" for p in stages.iterdir()):
        return "quickstart"
    names = [p.name for p in folder.iterdir()]
    if names and all(_IMAGE_FILE.match(name) for name in names):
        return "images"
    return None


def foreign_entries(folder: PathLike, kind: str) -> list[str]:
    """Entries of the own output `folder` of `kind` that the package did not write there (sorted names).

    An entry is the package's own when the marker lists it (written when the folder was put in place) or when its
    name is one the package writes into folders of this kind (a dataset's splits, a model's weights, configs,
    records and evaluation results, a run's checkpoints and logs, generated images). Sub-folders of a model folder
    (the discriminator of a GAN) are checked the same way.
    """
    folder = Path(folder)
    if kind == "dataset":
        return _foreign_dataset_entries(folder)
    pattern = _OWN_NAMES.get(kind)
    if pattern is None:
        return []
    listed = set((read_marker(folder) or {}).get("files") or [])
    foreign = []
    for entry in folder.iterdir():
        if entry.name in (MARKER_NAME, STAGING_NAME) or entry.name in listed:
            continue
        if not pattern.match(entry.name):
            foreign.append(entry.name)
        elif kind == "model" and entry.is_dir():
            foreign += [f"{entry.name}/{name}" for name in foreign_entries(entry, "model")]
    return sorted(foreign)


def _foreign_dataset_entries(folder: Path) -> list[str]:
    listed = _json_object(folder / "dataset_dict.json") or {}
    splits = {str(s) for s in listed.get("splits", [])} if isinstance(listed.get("splits"), list) else set()
    foreign = []
    for entry in folder.iterdir():
        if entry.name in _DATASET_EXTRA and entry.is_file():
            continue
        if entry.is_dir() and entry.name in splits and (entry / "dataset_info.json").is_file():
            continue
        foreign.append(entry.name)
    return sorted(foreign)


def _refuse_foreign(folder: Path, kind: str, what: str) -> None:
    foreign = foreign_entries(folder, kind)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise RefusedOutputError(f"{what} {_shown(folder)} holds files eeg2img_hf did not write: {shown}",
                                 hint="nothing was changed; move them out of the folder, or choose another folder")


def check_writable(folder: PathLike, *, what: str = "output folder") -> None:
    """Refuse (with [`RefusedOutputError`]) an existing `folder` that is read-only, or holds read-only folders:
    replacing or writing into it would fail half-way, and a read-only folder is one the user protected."""
    folder = Path(folder)
    for root, _dirs, _files in os.walk(folder):
        # the mode bits say what the user meant (root may write anyway); os.access what this process may do
        if not os.stat(root).st_mode & stat.S_IWUSR or not os.access(root, os.W_OK | os.X_OK):
            inner = "" if Path(root) == folder else f" (its folder {_shown(Path(root))} is read-only)"
            raise RefusedOutputError(f"{what} {_shown(folder)} is not writable{inner}",
                                     hint="nothing was changed; make it writable (chmod -R u+w) or choose another "
                                          "folder")


# --------------------------------------------------------------------------------------------------
# Checks


def _resolved(path: PathLike) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _named_inputs(inputs: Inputs) -> list[tuple[str, Path]]:
    if inputs is None:
        return []
    pairs = inputs.items() if isinstance(inputs, Mapping) else (("input", value) for value in inputs)
    named = []
    for name, value in pairs:
        values = value if isinstance(value, (list, tuple, set)) else [value]
        for item in values:
            if isinstance(item, (str, os.PathLike)) and os.fspath(item) and os.path.lexists(os.fspath(item)):
                named.append((name, _resolved(item)))
    return named


def _shown(path: Path) -> str:
    return repr(os.fspath(path))


def check_inputs(output: PathLike, inputs: Inputs, *, what: str = "output") -> Path:
    """Refuse an `output` that equals, contains or lies inside an existing input path; returns it resolved.

    Args:
        output: the path the command will write.
        inputs: the command's inputs, as paths or as `{argument name: path or list of paths}` (names appear in
            the message). Values that are not existing paths (preset names, Hub ids, `None`) are ignored.
        what: how the message names the output (e.g. `"--output-dir"`).
    """
    out = _resolved(output)
    for name, source in _named_inputs(inputs):
        if out == source and source.is_dir():
            relation = f"holds the input {name}'s files" if name.isidentifier() else f"holds the files of input {name}"
        elif out == source:
            relation = f"is the input {name}"
        elif source in out.parents:
            relation = f"is inside the input {name} ({_shown(source)})"
        elif out in source.parents:
            relation = f"contains the input {name} ({_shown(source)})"
        else:
            continue
        raise RefusedOutputError(f"{what} {_shown(out)} {relation}: writing there could destroy the input",
                                 hint="choose a new or empty folder outside the inputs")
    return out


def prepare_output_dir(
    path: PathLike,
    *,
    command: str,
    kind: str,
    inputs: Inputs = None,
    overwrite: bool = False,
    reuse: bool = False,
    what: str = "output folder",
) -> Path:
    """Check that a command may write the folder `path`; returns it resolved. Nothing is created or deleted.

    Args:
        path: the output folder.
        command: the command name (for messages).
        kind: the kind of output the command writes (a key of [`OUTPUT_KINDS`]).
        inputs: the command's inputs (see [`check_inputs`]).
        overwrite: an existing own output of this kind may be replaced as a whole (the caller replaces it with
            [`replace_folder`]).
        reuse: an existing own output of this kind may be written into (resume, re-run, more files).
        what: how messages name the output (e.g. `"--output-dir"`).

    Raises:
        [`RefusedOutputError`]: the path is an input or overlaps one, is a file, or is a non-empty folder that is
        not this package's output of this kind (or is, but neither `overwrite` nor `reuse` allows writing there).
    """
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"unknown output kind {kind!r}; expected one of {sorted(OUTPUT_KINDS)}")
    out = check_inputs(path, inputs, what=what)
    if os.path.lexists(out) and not out.is_dir():
        raise RefusedOutputError(f"{what} {_shown(out)} exists and is not a folder (it is a file)",
                                 hint="choose a folder path; the file was left unchanged")
    if not out.is_dir() or not any(out.iterdir()):
        return out
    owner = own_output_kind(out)
    if owner is None:
        names = sorted(p.name for p in out.iterdir())
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise RefusedOutputError(
            f"{what} {_shown(out)} is not empty and was not written by eeg2img_hf (it holds {shown})",
            hint="nothing was changed; choose a new or empty folder (only folders eeg2img_hf wrote are replaced)",
        )
    if owner != kind:
        raise RefusedOutputError(f"{what} {_shown(out)} holds {OUTPUT_KINDS[owner]}, not {OUTPUT_KINDS[kind]}",
                                 hint="nothing was changed; choose another folder")
    if overwrite:
        _refuse_foreign(out, kind, what)
        check_writable(out, what=what)
        return out
    if reuse:
        check_writable(out, what=what)
        return out
    raise RefusedOutputError(
        f"{what} {_shown(out)} exists and is not empty; pass overwrite=True (--overwrite) to replace it",
        hint=f"it holds {OUTPUT_KINDS[kind]} written earlier by eeg2img_hf; or choose another folder",
    )


def create_output_dir(path: PathLike, *, command: str, kind: str) -> Path:
    """Create the folder `path` (and parents) if needed and mark it as written by `command`; returns it."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    if read_marker(out) is None:
        write_marker(out, command=command, kind=kind)
    return out


@contextlib.contextmanager
def output_dir_while_working(path: PathLike, *, command: str, kind: str) -> Iterator[Path]:
    """[`create_output_dir`] for the time of a block: when the block fails and the folder was created here, holds
    nothing but its marker, it is removed again (a refused command leaves no empty output folder behind)."""
    out = Path(path)
    existed = os.path.lexists(out)
    create_output_dir(out, command=command, kind=kind)
    try:
        yield out
    except BaseException:
        if not existed and {p.name for p in out.iterdir()} <= {MARKER_NAME}:
            shutil.rmtree(out, ignore_errors=True)
        raise


def prepare_output_file(
    path: PathLike,
    *,
    inputs: Inputs = None,
    overwrite: bool = False,
    is_own: Callable[[Path], bool] | None = None,
    what: str = "output file",
) -> Path:
    """Check that a command may write the file `path`; returns it resolved. Nothing is created or deleted.

    An existing file is replaced only with `overwrite` and only when `is_own(path)` recognises it as this
    package's output of the same kind (e.g. a gallery index); a folder at `path` is always refused.
    """
    out = check_inputs(path, inputs, what=what)
    if out.is_dir():
        raise RefusedOutputError(f"{what} {_shown(out)} is an existing folder, expected a file path",
                                 hint="choose a file name (the folder was left unchanged)")
    if not os.path.lexists(out):
        return out
    if not overwrite:
        raise RefusedOutputError(f"{what} {_shown(out)} already exists; pass overwrite=True (--overwrite) to "
                                 "replace it")
    if is_own is not None and not is_own(out):
        raise RefusedOutputError(f"{what} {_shown(out)} exists and was not written by eeg2img_hf",
                                 hint="nothing was changed; choose another file name")
    return out


RESERVED_FILE_NAMES = frozenset({
    "config.json", "preprocessor_config.json", "generation_config.json", "model.safetensors.index.json",
    "training_args.json", "trainer_state.json", "eeg2img_training.json", "dataset_dict.json", "state.json",
    "dataset_info.json", MARKER_NAME,
})
"""JSON files of model, dataset and run folders that a result file must never replace."""


def prepare_result_json(path: PathLike, *, what: str = "result JSON") -> Path:
    """Check that an evaluation may write its JSON result to `path`; returns it resolved.

    A new file, or an existing JSON object file (an earlier result), is fine; anything else is refused: a folder,
    a file of another kind (weights, images, a config), or one of the reserved files of a model, dataset or run
    folder ([`RESERVED_FILE_NAMES`]). Nothing is created or deleted.
    """
    out = _resolved(path)
    if out.is_dir():
        raise RefusedOutputError(f"{what} {_shown(out)} is an existing folder, expected a .json file path")
    if out.name in RESERVED_FILE_NAMES or out.suffix.lower() != ".json":
        raise RefusedOutputError(f"{what} {_shown(out)} must be a .json file that is not {out.name!r} of a model, "
                                 "dataset or run folder", hint="choose another file name (nothing was written)")
    if out.exists() and _json_object(out) is None:
        raise RefusedOutputError(f"{what} {_shown(out)} exists and is not a JSON result; it was left unchanged",
                                 hint="choose another file name")
    return out


# --------------------------------------------------------------------------------------------------
# Replacement


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _write_staging_record(folder: Path) -> None:
    record = {"written_by": WRITER, "pid": os.getpid(), "host": socket.gethostname()}
    (folder / STAGING_NAME).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _staging_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-(\d+)-[\w-]+$")


def remove_stale_staging(target: PathLike) -> list[Path]:
    """Remove the leftover staging folders of `target` that a killed process of this package left beside it.

    A folder is removed only when all of these prove it the package's own: its name is `.<target>.tmp-<pid>-...` or
    `.<target>.old-<pid>-...`, it holds a staging record naming the same process id and this host, and that process
    is no longer running. Returns the removed folders.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern, removed = _staging_pattern(target), []
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        record = _json_object(entry / STAGING_NAME) or {}
        pid = int(match.group(2))
        if (record.get("written_by") != WRITER or record.get("pid") != pid
                or record.get("host") != socket.gethostname() or _process_alive(pid)):
            continue
        _remove_tree(entry)
        removed.append(entry)
    return removed


def make_staging_dir(target: PathLike) -> Path:
    """A new hidden staging folder beside `target` (`.<target>.tmp-<pid>-<random>`, with the usual permissions and a
    staging record) to build an output in; stale staging folders of earlier killed runs are removed first (see
    [`remove_stale_staging`]). [`replace_folder`] moves it into place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the output gets the usual permissions
    _write_staging_record(staging)
    return staging


def remove_staging_dir(staging: PathLike) -> None:
    """Delete a staging folder of [`make_staging_dir`] that was not moved into place (nothing if it was)."""
    staging = Path(staging)
    if staging.is_dir() and not staging.is_symlink():
        _remove_tree(staging)


def _remove_tree(folder: Path) -> None:
    """Delete an own folder completely, also when some of its folders were made read-only."""

    def retry(function: Callable[..., Any], path: str, _: Any) -> None:
        parent = os.path.dirname(path)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
        function(path)

    if sys.version_info >= (3, 12):  # `onerror` is deprecated from 3.12 on
        shutil.rmtree(folder, onexc=retry)
    else:
        shutil.rmtree(folder, onerror=retry)


def _move_aside(target: Path) -> Path:
    """Rename the own folder `target` to a hidden `.<target>.old-<pid>-<random>` staging name beside it."""
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
    old.rmdir()
    target.rename(old)
    _write_staging_record(old)
    return old


def _record_entries(folder: Path) -> None:
    """Add the list of `folder`'s entries to its marker (the files the package put there)."""
    marker = read_marker(folder)
    if marker is None:
        return
    marker["files"] = sorted(p.name for p in folder.iterdir() if p.name not in (MARKER_NAME, STAGING_NAME))
    (folder / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def replace_folder(new: PathLike, target: PathLike, *, kind: str) -> None:
    """Move the finished folder `new` to `target`, replacing an existing `target` only if it is own output.

    An existing `target` is moved aside first and deleted only once `new` is in place (it is restored when the
    move fails). Ownership of `target` is checked again here, right before anything is deleted: a non-empty
    folder that is not this package's output of `kind`, holds files the package did not write, or is read-only is
    refused. The marker of `new` records its entries; its staging record is removed.
    """
    new, target = Path(new), Path(target)
    if os.path.lexists(target) and (not target.is_dir() or target.is_symlink()):
        raise RefusedOutputError(f"output {_shown(target)} is not a folder; it was left unchanged")
    replacing = os.path.lexists(target) and any(target.iterdir())
    if replacing:
        if own_output_kind(target) != kind:
            raise RefusedOutputError(f"output folder {_shown(target)} was not written by eeg2img_hf as "
                                     f"{OUTPUT_KINDS[kind]}; it was left unchanged")
        _refuse_foreign(target, kind, "output folder")
        check_writable(target)
    (new / STAGING_NAME).unlink(missing_ok=True)
    _record_entries(new)
    if not replacing:
        if os.path.lexists(target):
            target.rmdir()
        new.rename(target)
        return
    old = _move_aside(target)
    try:
        new.rename(target)
    except BaseException:
        (old / STAGING_NAME).unlink(missing_ok=True)
        old.rename(target)
        raise
    _remove_tree(old)


def clear_own_folder(folder: PathLike, *, kind: str, command: str, what: str = "output folder") -> Path:
    """Empty the own output `folder` of `kind` for a fresh start (a training run with `overwrite`), keeping nothing.

    Refused like [`replace_folder`]: a folder that is not own output of `kind`, holds files the package did not
    write, or is read-only is left unchanged. The old content is moved aside first, a new marked folder takes its
    place, then the old content is deleted.
    """
    folder = Path(folder)
    if own_output_kind(folder) != kind:
        raise RefusedOutputError(f"{what} {_shown(folder)} was not written by eeg2img_hf as {OUTPUT_KINDS[kind]}; "
                                 "it was left unchanged")
    _refuse_foreign(folder, kind, what)
    check_writable(folder, what=what)
    remove_stale_staging(folder)
    old = _move_aside(folder)
    create_output_dir(folder, command=command, kind=kind)
    _remove_tree(old)
    return folder
