"""Publish to the Hugging Face Hub (reading datasets back lives in [`eeg2img_hf.data.loading`]).

Datasets go up with `DatasetDict.push_to_hub` (parquet shards under `data/`), then one more commit
adds the dataset card (`README.md`, keeping the `dataset_info` / `configs` metadata that `datasets`
wrote) and `eeg2img_info.json`: `push_to_hub` does not keep `DatasetInfo.description`, where the
package stores its EEG metadata (sfreq, channels, preprocessing, split, ...), so
[`load_eeg_dataset_from_hub`] restores it from that file.

Models go up with [`push_model`]: a staged copy of the `save_pretrained` folder (safetensors weights, config,
remote-code files, image processor), plus the custom pipeline source and its `custom_pipelines` entry in
`config.json`, the rendered model card (`README.md`) and the evaluation JSON, in one commit. The local folder is
never modified.

The Hub endpoint and token come from the usual `huggingface_hub` settings (`HF_ENDPOINT`, `HF_TOKEN`,
`hf auth login`) unless `token` is passed.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from datasets import DatasetDict
from huggingface_hub import (
    CommitInfo,
    CommitOperationAdd,
    DatasetCard,
    DatasetCardData,
    HfApi,
    ModelCard,
    RepoCard,
    hf_hub_download,
)

from ..data.features import INFO_KEY, get_eeg_info
from ..data.loading import HUB_PREFIX, INFO_FILENAME, check_repo_id, load_eeg_dataset, load_eeg_dataset_from_hub
from ..models import EEGClipConfig, ImageToEEGConfig, ImageToEEGModel, make_image_processor
from ..utils.names import CONVERSION_RECORD, GAN_DISCRIMINATOR_FOLDER, GAN_GENERATOR_FOLDER, GAN_INIT_STATE
from .dataset_cards import check_card_metadata, render_dataset_card
from .model_cards import (
    EVALUATION_FILENAME,
    TRAINING_RECORD,
    ModelFamily,
    check_model_card_metadata,
    model_family,
    render_model_card,
    resolve_evaluation,
)

_CARD_KEYS_FROM_DATASETS = ("dataset_info", "configs")


def _load_card(card: RepoCard | str | os.PathLike, card_class: type[RepoCard], check: Callable[[Any], Any]) -> RepoCard:
    """A user-given card (a `card_class` or a markdown file), its metadata checked with `check`."""
    if isinstance(card, (str, os.PathLike)):
        if not Path(card).is_file():
            raise ValueError(f"card {os.fspath(card)!r} is not a file")
        card = card_class(Path(card).read_text(encoding="utf-8"))
    if not isinstance(card, card_class):
        raise ValueError(f"card must be a {card_class.__name__} or a markdown file, got {type(card).__name__}")
    check(card)
    return card


def commit_files(
    repo_id: str,
    files: Mapping[str, bytes | str | os.PathLike],
    *,
    repo_type: str = "model",
    token: str | None = None,
    commit_message: str = "Upload files with eeg2img_hf",
    parent_commit: str | None = None,
) -> CommitInfo:
    """Add files to an existing Hub repo in one commit.

    Args:
        repo_id (`str`): the repo (`"org/name"`).
        files (`Mapping[str, bytes | str | os.PathLike]`): path in the repo -> content or local file.
        repo_type (`str`, *optional*, defaults to `"model"`): `"model"` or `"dataset"`.
        token (`str`, *optional*): Hub token (default: the configured one).
        commit_message (`str`, *optional*): commit title.
        parent_commit (`str`, *optional*): fail instead of overwriting if the branch moved past it.

    Returns:
        `huggingface_hub.CommitInfo`.
    """
    if not files:
        raise ValueError("files is empty: nothing to commit")
    operations = []
    for path_in_repo, content in files.items():
        if isinstance(content, (str, os.PathLike)) and not Path(content).is_file():
            raise ValueError(f"{path_in_repo}: {os.fspath(content)!r} is not a file")
        source = content if isinstance(content, bytes) else os.fspath(content)
        operations.append(CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=source))
    return HfApi(token=token).create_commit(
        repo_id, operations=operations, repo_type=repo_type, commit_message=commit_message, parent_commit=parent_commit
    )


def _resolve_dataset(dataset: str | os.PathLike | DatasetDict) -> DatasetDict:
    if isinstance(dataset, DatasetDict):
        return load_eeg_dataset(dataset)
    if isinstance(dataset, (str, os.PathLike)):
        if not os.path.isdir(dataset):
            raise ValueError(f"{os.fspath(dataset)!r} is not a directory written by DatasetDict.save_to_disk")
        return load_eeg_dataset(os.path.join(os.fspath(dataset), ""))  # a path, never a preset name
    raise ValueError(f"expected a dataset directory or a datasets.DatasetDict, got {type(dataset).__name__}")


def _resolve_card(card: DatasetCard | str | os.PathLike | None, ds: DatasetDict, repo_id: str) -> DatasetCard:
    if card is None:
        return render_dataset_card(ds, repo_id=repo_id)
    return _load_card(card, DatasetCard, check_card_metadata)


def _merge_card(card: DatasetCard, written_by_datasets: DatasetCard) -> DatasetCard:
    """Our card text and metadata, plus the `dataset_info` / `configs` that `push_to_hub` wrote."""
    metadata = card.data.to_dict()
    hub_metadata = written_by_datasets.data.to_dict()
    for key in _CARD_KEYS_FROM_DATASETS:
        if key in hub_metadata:
            metadata[key] = hub_metadata[key]
    merged = DatasetCard(f"---\n{DatasetCardData(**metadata).to_yaml()}\n---\n{card.text}")
    check_card_metadata(merged)
    return merged


def push_dataset(
    dataset: str | os.PathLike | DatasetDict,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    card: DatasetCard | str | os.PathLike | None = None,
    commit_message: str | None = None,
) -> str:
    """Push an EEG-image dataset, its card and its EEG metadata to a Hub dataset repo.

    Args:
        dataset (`str`, `os.PathLike` or `DatasetDict`):
            A directory written by `DatasetDict.save_to_disk` (e.g. by `eeg2img convert`) or a `DatasetDict`
            in the package schema.
        repo_id (`str`):
            Target dataset repo, `"org/name"` (created if missing).
        token (`str`, *optional*):
            Hub token with write access (default: the configured one).
        private (`bool`, *optional*, defaults to `False`):
            Create the repo as private.
        card (`DatasetCard`, `str` or `os.PathLike`, *optional*):
            The card to publish; rendered with [`render_dataset_card`] by default.
        commit_message (`str`, *optional*):
            Title of the data commit.

    Returns:
        `str`: the URL of the dataset repo.
    """
    check_repo_id(repo_id)
    ds = _resolve_dataset(dataset)
    info = get_eeg_info(ds)
    final_card = _resolve_card(card, ds, repo_id)
    message = commit_message or "Upload EEG-image dataset with eeg2img_hf"
    data_commit = ds.push_to_hub(repo_id, private=private, token=token, commit_message=message)
    readme = hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=data_commit.oid, token=token)
    merged = _merge_card(final_card, DatasetCard.load(readme, repo_type="dataset"))
    payload = json.dumps({INFO_KEY: info}, indent=2, sort_keys=True).encode()
    commit_files(
        repo_id,
        {"README.md": str(merged).encode(), INFO_FILENAME: payload},
        repo_type="dataset",
        token=token,
        commit_message="Add dataset card and eeg2img metadata",
        parent_commit=data_commit.oid,
    )
    return str(data_commit.repo_url)


# --------------------------------------------------------------------------------------------------
# Models

PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy")
"""Weight files refused by [`push_model`]: only safetensors go to the Hub (pickles run code when loaded)."""

_MODEL_FILES = ("config.json", "preprocessor_config.json", "generation_config.json", "model.safetensors.index.json",
                TRAINING_RECORD, CONVERSION_RECORD)
# task -> (pipeline source files copied from eeg2img_hf.pipelines, "module.Class", transformers pipeline type)
_REMOTE_PIPELINES = {
    "eeg-to-image": (("precision.py", "eeg_to_image.py"), "eeg_to_image.EEGToImagePipeline", "multimodal"),
    "image-to-eeg-to-image": (("precision.py", "eeg_to_image.py", "image_to_eeg_to_image.py"),
                              "image_to_eeg_to_image.ImageToEEGToImagePipeline", "image"),
}


def _check_weights(model_dir: Path) -> list[Path]:
    """The safetensors files of `model_dir` (each one's header read), refusing pickle-based weight files."""
    from safetensors import safe_open

    pickles = sorted(p.name for p in model_dir.iterdir() if p.is_file() and p.suffix.lower() in PICKLE_WEIGHT_SUFFIXES)
    if pickles:
        raise ValueError(f"{os.fspath(model_dir)!r} holds pickle-based weight files {pickles}: only safetensors "
                         "weights are pushed (re-save the model with save_pretrained, which writes safetensors)")
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights:
        raise ValueError(f"{os.fspath(model_dir)!r} has no *.safetensors weights (save the model with save_pretrained)")
    for path in weights:
        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except Exception as err:  # safetensors raises its own error types for corrupt headers
            raise ValueError(f"{path.name} in {os.fspath(model_dir)!r} is not a valid safetensors file: {err}") from err
    return weights


def _check_remote_code(folder: Path, config: Mapping[str, Any]) -> None:
    """`auto_map` must name modules present in `folder`, and every `.py` there must import only its siblings
    (single-dot relative imports) and no `eeg2img_hf`, so `trust_remote_code=True` works without the package."""
    auto_map = config.get("auto_map")
    if not isinstance(auto_map, Mapping) or not {"AutoConfig", "AutoModel"} <= set(auto_map):
        raise ValueError(f"config.json in {os.fspath(folder)!r} has no auto_map with AutoConfig and AutoModel: "
                         "save the model with eeg2img_hf's save_pretrained so its remote code is included")
    for name, reference in auto_map.items():
        module = str(reference).split("--")[-1].rsplit(".", 1)[0]
        if not (folder / f"{module}.py").is_file():
            raise ValueError(f"auto_map[{name!r}] names {reference!r} but {module}.py is missing from the folder")
    for source in sorted(folder.glob("*.py")):
        try:
            tree = ast.parse(source.read_text(encoding="utf-8"), filename=source.name)
        except (SyntaxError, UnicodeDecodeError) as err:
            raise ValueError(f"remote-code file {source.name} does not parse: {err}") from err
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 1:
                raise ValueError(f"{source.name} uses a '..' import, which remote code cannot follow")
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                module = (node.module or "").split(".")[0]
                if not (folder / f"{module}.py").is_file():
                    raise ValueError(f"{source.name} imports .{node.module} but {module}.py is not in the folder")
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if any(n == "eeg2img_hf" or n.startswith("eeg2img_hf.") for n in names):
                raise ValueError(f"{source.name} imports eeg2img_hf: the folder is not self-contained for "
                                 "trust_remote_code (save it with the model's save_pretrained)")


def _add_pipeline(staging: Path, config: dict[str, Any], family: ModelFamily) -> None:
    """Copy the family's pipeline source files and declare them in `config["custom_pipelines"]`."""
    if family.task not in _REMOTE_PIPELINES:
        return
    files, impl, kind = _REMOTE_PIPELINES[family.task]
    package_dir = Path(__file__).resolve().parents[1] / "pipelines"
    for name in files:
        shutil.copyfile(package_dir / name, staging / name)
    pipelines = dict(config.get("custom_pipelines") or {})
    pipelines[family.task] = {"impl": impl, "pt": ["AutoModel"], "tf": [], "type": kind}
    config["custom_pipelines"] = pipelines


def _add_image_processor(staging: Path, family: ModelFamily) -> None:
    """Write the model's image processor when the folder lacks one (EEGClip and image->EEG models)."""
    if (staging / "preprocessor_config.json").is_file() or family.key not in ("eeg_clip", "image_to_eeg"):
        return
    from types import SimpleNamespace

    if family.key == "eeg_clip":
        processor = make_image_processor(EEGClipConfig.from_pretrained(staging))
    else:  # the processor depends on the config only
        processor = ImageToEEGModel.build_image_processor(
            SimpleNamespace(config=ImageToEEGConfig.from_pretrained(staging))
        )
    processor.save_pretrained(staging)


TRAINING_STATE_FOLDERS = (GAN_DISCRIMINATOR_FOLDER, GAN_GENERATOR_FOLDER)
"""Sub-folders of a GAN folder that `include_training_state` publishes (`train-gan --init-from` reads them)."""


def _stage_training_state(model_dir: Path, staging: Path, family: ModelFamily) -> None:
    """Copies the GAN's training state (`discriminator/`, `generator/` when present, `gan_init_state.json`): each
    sub-folder's safetensors weights (headers read, pickles refused), `config.json` and remote code."""
    if family.key != "eeg_stylegan" or not (model_dir / GAN_DISCRIMINATOR_FOLDER / "config.json").is_file():
        raise ValueError(f"include_training_state: {os.fspath(model_dir)!r} has no {GAN_DISCRIMINATOR_FOLDER}/ "
                         "folder; only a train-gan model folder or a `convert-checkpoint stylegan-snapshot` folder "
                         "holds a GAN's training state")
    for name in TRAINING_STATE_FOLDERS:
        source = model_dir / name
        if not (source / "config.json").is_file():
            continue
        (staging / name).mkdir()
        for path in [*_check_weights(source), *sorted(source.glob("*.py")), source / "config.json"]:
            shutil.copyfile(path, staging / name / path.name)
    if (model_dir / GAN_INIT_STATE).is_file():
        shutil.copyfile(model_dir / GAN_INIT_STATE, staging / GAN_INIT_STATE)


def _resolve_model_card(card: ModelCard | str | os.PathLike | None, model_dir: Path, repo_id: str,
                        evaluation: Mapping[str, Any] | None, dataset_repo_id: str | None) -> ModelCard:
    if card is None:
        return render_model_card(model_dir, repo_id=repo_id, evaluation=evaluation, dataset_repo_id=dataset_repo_id)
    return _load_card(card, ModelCard, check_model_card_metadata)


def prepare_model_folder(
    model_dir: str | os.PathLike,
    staging_dir: str | os.PathLike,
    *,
    repo_id: str,
    card: ModelCard | str | os.PathLike | None = None,
    evaluation: str | os.PathLike | Mapping[str, Any] | None = None,
    dataset_repo_id: str | None = None,
    include_training_state: bool = False,
) -> list[str]:
    """Write what [`push_model`] uploads into `staging_dir` (an empty or missing folder); `model_dir` is not touched.

    Copies the safetensors weights, `config.json` (plus `custom_pipelines`), the remote-code `.py` files, the image
    processor, the training record (or, for a converted checkpoint, `conversion.json`), the pipeline source,
    `README.md` (the card) and `eval_results.json`.
    Sub-folders (e.g. the GAN's training-only `discriminator/`) are left out unless `include_training_state`: then
    a GAN folder's `discriminator/`, `generator/` (a converted snapshot's G) and `gan_init_state.json` (its ADA
    probability) go too, so `train-gan --init-from ORG/NAME` can continue training from the repo.

    Returns:
        `list[str]`: the staged file and folder names, sorted.
    """
    model_dir = Path(model_dir)
    family = model_family(model_dir)
    weights = _check_weights(model_dir)
    _check_remote_code(model_dir, json.loads((model_dir / "config.json").read_text(encoding="utf-8")))
    staging = Path(staging_dir)
    if staging.exists() and any(staging.iterdir()):
        raise ValueError(f"staging folder {os.fspath(staging)!r} is not empty")
    staging.mkdir(parents=True, exist_ok=True)
    for path in [*weights, *sorted(model_dir.glob("*.py")), *(model_dir / n for n in _MODEL_FILES)]:
        if path.is_file():
            shutil.copyfile(path, staging / path.name)
    config = json.loads((staging / "config.json").read_text(encoding="utf-8"))
    _add_pipeline(staging, config, family)
    (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _check_remote_code(staging, config)
    _add_image_processor(staging, family)
    if include_training_state:
        _stage_training_state(model_dir, staging, family)
    result = resolve_evaluation(model_dir, evaluation)
    final_card = _resolve_model_card(card, model_dir, repo_id, result, dataset_repo_id)
    (staging / "README.md").write_text(str(final_card), encoding="utf-8")
    if result is not None:
        (staging / EVALUATION_FILENAME).write_text(
            json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return sorted(p.name for p in staging.iterdir())


def push_model(
    model_dir: str | os.PathLike,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    card: ModelCard | str | os.PathLike | None = None,
    evaluation: str | os.PathLike | Mapping[str, Any] | None = None,
    commit_message: str | None = None,
    dataset_repo_id: str | None = None,
    include_training_state: bool = False,
) -> str:
    """Push a saved eeg2img_hf model (any family) with its remote code, pipeline, card and evaluation to the Hub.

    After the push, `AutoModel.from_pretrained(repo_id, trust_remote_code=True)` works without the package, and for
    EEGStyleGAN-ADA `pipeline("eeg-to-image", model=repo_id, trust_remote_code=True)` too; with the package
    imported, `EEGStyleGANModel.from_pretrained(repo_id)` and `pipeline("eeg-to-image", model=repo_id)` run the
    installed code (the package's configs drop the `custom_pipelines` entry of their own tasks).

    Args:
        model_dir (`str` or `os.PathLike`):
            A folder written by the model's `save_pretrained` (or a trainer's `output_dir/model`).
        repo_id (`str`):
            Target model repo, `"org/name"` (created if missing).
        token (`str`, *optional*):
            Hub token with write access (default: the configured one).
        private (`bool`, *optional*, defaults to `False`):
            Create the repo as private.
        card (`ModelCard`, `str` or `os.PathLike`, *optional*):
            The card to publish; rendered with [`render_model_card`] by default.
        evaluation (`str`, `os.PathLike` or `dict`, *optional*):
            Evaluation JSON (or its dict) to publish as `eval_results.json` and in the card's `model-index`;
            default `model_dir/eval_results.json` when present.
        commit_message (`str`, *optional*):
            Title of the commit.
        dataset_repo_id (`str`, *optional*):
            Hub id of the training dataset, for the card's metadata.
        include_training_state (`bool`, *optional*, defaults to `False`):
            For a GAN folder, also publish `discriminator/`, `generator/` and `gan_init_state.json` (see
            [`prepare_model_folder`]); refused for folders without a discriminator.

    Returns:
        `str`: the URL of the model repo.

    Raises:
        `ValueError`: for a folder that is not a package model, holds pickle weights, lacks safetensors weights or
        self-contained remote code, or for a bad `repo_id`, card or evaluation file.
    """
    check_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="eeg2img-push-") as tmp:
        staging = Path(tmp) / "repo"
        prepare_model_folder(model_dir, staging, repo_id=repo_id, card=card, evaluation=evaluation,
                             dataset_repo_id=dataset_repo_id, include_training_state=include_training_state)
        api = HfApi(token=token)
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=staging,
                          commit_message=commit_message or "Upload eeg2img_hf model with card and remote code")
    return str(url)


__all__ = [
    "HUB_PREFIX",
    "INFO_FILENAME",
    "PICKLE_WEIGHT_SUFFIXES",
    "commit_files",
    "load_eeg_dataset_from_hub",
    "prepare_model_folder",
    "push_dataset",
    "push_model",
]
