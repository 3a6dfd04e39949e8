"""`eeg2img build-space OUT` / `eeg2img push-space ORG/NAME`: a self-contained Gradio Space folder of the demo.

The Space folder is assembled from the demo shipped with the package (`eeg2img_hf/space_template`, the repository's
`spaces/eeg2img-demo/`):

* `app.py`, the demo, as it is;
* `README.md`, the demo's card with its front matter completed: `sdk: gradio`, `sdk_version` (the Gradio version the
  demo is tested with), `app_file`, `python_version` and the `models:` / `datasets:` the Space loads;
* [`SPACE_CONFIG`], which names the repos the app loads (the app reads it when no `EEG2IMG_*` variable is set);
* `eeg2img_hf/`, the source of this installed package: the Hub's Space builder runs `pip install -r
  requirements.txt` with only `requirements.txt` in place (the Space's other files are copied in after the
  install), so a requirement pointing into the folder (a wheel, `-e .`) cannot install there; the package is
  imported from the app's own folder instead;
* `requirements.txt`: the package's dependencies (those of its `space` extra included), read from the installed
  package's metadata, with Gradio pinned to `sdk_version`: all of them install from the package registries.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import HfApi
from packaging.requirements import Requirement

from ..data.loading import HUB_PREFIX, check_repo_id
from ..utils.outputs import (
    MARKER_NAME,
    make_staging_dir,
    prepare_output_dir,
    remove_staging_dir,
    replace_folder,
    write_marker,
)

__all__ = ["SPACE_CONFIG", "PYTHON_VERSION", "build_space", "push_space", "space_requirements", "space_template_dir"]

SPACE_CONFIG = "eeg2img_space.json"
"""File of a built Space naming the repos its app loads: `{"gan": ..., "clip": ..., "image_to_eeg": ...,
"dataset": ..., "judge": ...}` (`null` = that part is off)."""

PYTHON_VERSION = "3.11"
"""`python_version` of the Space (the oldest Python the package supports)."""

_PACKAGE = Path(__file__).resolve().parents[1]
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)
_MODEL_ROLES = {"gan": "--model", "clip": "--clip", "image_to_eeg": "--image-to-eeg", "judge": "--judge"}


def space_template_dir() -> Path:
    """The demo Space shipped with the package (`app.py` and its card `README.md`)."""
    return _PACKAGE / "space_template"


def _front_matter(card: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(card)
    if match is None:
        raise ValueError(f"{space_template_dir() / 'README.md'} has no YAML front matter; reinstall eeg2img_hf")
    return yaml.safe_load(match[1]), card[match.end():]


def space_requirements(gradio_version: str) -> list[str]:
    """The Space's `requirements.txt` lines: the installed package's dependencies and those of its `space` extra,
    Gradio pinned to `gradio_version`.

    Raises:
        `ValueError`: when the package's metadata cannot be read (it is imported from a source tree, not installed).
    """
    try:
        declared = importlib.metadata.requires("eeg2img_hf") or []
    except importlib.metadata.PackageNotFoundError as err:
        raise ValueError("eeg2img_hf is not installed (no package metadata): install it with pip to build a Space"
                         ) from err
    lines, names = [], set()
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": "space"}):
            continue
        if requirement.name in names:
            continue
        names.add(requirement.name)
        requirement.marker = None
        lines.append(f"gradio=={gradio_version}" if requirement.name == "gradio" else str(requirement))
    if "gradio" not in names:
        lines.append(f"gradio=={gradio_version}")
    return lines


def _check_sources(sources: dict[str, str | None]) -> dict[str, str | None]:
    """Repo ids of the Space's models (`org/name`) and dataset (`hf://datasets/org/name`, or a simulation preset)."""
    if not sources.get("gan"):
        raise ValueError("--model is required: the Hub repo id (org/name) of an EEGStyleGAN-ADA model")
    for role, option in _MODEL_ROLES.items():
        value = sources.get(role)
        if value is None:
            continue
        if os.path.exists(value):
            raise ValueError(f"{option} {value!r} is a local path; a Space loads its models by Hub repo id: push the "
                             f"folder first (`eeg2img push {value} ORG/NAME`) and pass ORG/NAME")
        try:
            check_repo_id(value)
        except ValueError as err:
            raise ValueError(f"{option}: {err}") from None
    dataset = sources.get("dataset")
    if dataset is not None and dataset.startswith(HUB_PREFIX):
        try:
            check_repo_id(dataset[len(HUB_PREFIX):])
        except ValueError as err:
            raise ValueError(f"--dataset: {err}") from None
    elif dataset is not None and (os.path.exists(dataset) or "/" in dataset):
        raise ValueError(f"--dataset {dataset!r}: a Space loads its dataset from the Hub; give "
                         f"{HUB_PREFIX}ORG/NAME (eeg2img push-dataset) or a simulation preset name")
    return sources


def _card(sources: dict[str, str | None]) -> tuple[str, str]:
    """The Space card (front matter completed) and its `sdk_version`."""
    meta, body = _front_matter((space_template_dir() / "README.md").read_text(encoding="utf-8"))
    meta.update({"sdk": "gradio", "app_file": "app.py", "python_version": PYTHON_VERSION})
    meta["models"] = [sources[role] for role in _MODEL_ROLES if sources.get(role)]
    dataset = sources.get("dataset")
    meta.pop("datasets", None)
    if dataset and dataset.startswith(HUB_PREFIX):
        meta["datasets"] = [dataset[len(HUB_PREFIX):]]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n{body}", str(meta["sdk_version"])


def _copy_package(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "space_template")
    shutil.copytree(_PACKAGE, target, ignore=ignore)  # symlinked data folders are copied as files


def build_space(
    output_dir: str | os.PathLike,
    *,
    model: str,
    clip: str | None = None,
    image_to_eeg: str | None = None,
    judge: str | None = None,
    dataset: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Assemble the demo as a self-contained Space folder `output_dir` (see the module documentation); returns it.

    Args:
        output_dir (`str` or `os.PathLike`): New or empty folder (or, with `overwrite`, an earlier build-space output).
        model (`str`): Hub repo id of the EEGStyleGAN-ADA model (EEG -> image, batch view).
        clip (`str`, *optional*): Hub repo id of the EEGClip model (retrieval).
        image_to_eeg (`str`, *optional*): Hub repo id of the ImageToEEG model (image -> EEG -> image).
        judge (`str`, *optional*): Hub repo id of an image-classifier judge folder (`eeg2img quickstart` trains one).
        dataset (`str`, *optional*): `hf://datasets/ORG/NAME` (pushed with `eeg2img push-dataset`) or a simulation
            preset (`thoughtviz`, ...): the trials the app offers.
        overwrite (`bool`, *optional*, defaults to `False`): Replace an earlier build-space output in `output_dir`.

    Raises:
        `ValueError`: a missing `model`, a repo id that is not `org/name`, a local path given for a repo id.
        [`~eeg2img_hf.utils.errors.RefusedOutputError`]: `output_dir` is a file or a non-empty folder this command did
            not write (or did, without `overwrite`).
    """
    sources = _check_sources({"gan": model, "clip": clip, "image_to_eeg": image_to_eeg, "judge": judge,
                              "dataset": dataset})
    out = prepare_output_dir(output_dir, command="build-space", kind="space", overwrite=overwrite, what="OUT")
    card, gradio_version = _card(sources)
    requirements = space_requirements(gradio_version)
    staging = make_staging_dir(out)
    try:
        shutil.copyfile(space_template_dir() / "app.py", staging / "app.py")
        (staging / "README.md").write_text(card, encoding="utf-8")
        (staging / SPACE_CONFIG).write_text(json.dumps(sources, indent=2) + "\n", encoding="utf-8")
        (staging / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        _copy_package(staging / "eeg2img_hf")
        write_marker(staging, command="build-space", kind="space")
        replace_folder(staging, out, kind="space")
    finally:
        remove_staging_dir(staging)  # nothing left when it was moved into place
    return out


def push_space(
    repo_id: str,
    *,
    model: str,
    clip: str | None = None,
    image_to_eeg: str | None = None,
    judge: str | None = None,
    dataset: str | None = None,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> str:
    """Build the Space ([`build_space`]) in a temporary folder and upload it as the Gradio Space `repo_id`.

    The repos the Space loads are checked first: a model or dataset repo that does not exist is refused before
    anything is created. Returns the Space's URL.

    Raises:
        `ValueError`: bad or missing repo ids (as [`build_space`]), or a named repo that is not on the Hub.
    """
    check_repo_id(repo_id)
    sources = _check_sources({"gan": model, "clip": clip, "image_to_eeg": image_to_eeg, "judge": judge,
                              "dataset": dataset})
    api = HfApi(token=token)
    missing = [value for role, value in sources.items()
               if value and role in _MODEL_ROLES and not api.repo_exists(value, repo_type="model")]
    if sources["dataset"] and sources["dataset"].startswith(HUB_PREFIX):
        name = sources["dataset"][len(HUB_PREFIX):]
        if not api.repo_exists(name, repo_type="dataset"):
            missing.append(sources["dataset"])
    if missing:
        raise ValueError(f"not on the Hub (or not readable with this token): {missing}; push them first "
                         "(eeg2img push-model, eeg2img push-dataset)")
    with tempfile.TemporaryDirectory(prefix="eeg2img-space-") as tmp:
        folder = build_space(Path(tmp) / "space", **{"model": model, "clip": clip, "image_to_eeg": image_to_eeg,
                                                     "judge": judge, "dataset": dataset})
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=folder, ignore_patterns=[MARKER_NAME],
                          commit_message=commit_message or "Upload the eeg2img_hf demo Space")
    return str(url)
