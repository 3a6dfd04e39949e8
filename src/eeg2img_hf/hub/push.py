"""Publish to (and read back from) the Hugging Face Hub.

Datasets go up with `DatasetDict.push_to_hub` (parquet shards under `data/`), then one more commit
adds the dataset card (`README.md`, keeping the `dataset_info` / `configs` metadata that `datasets`
wrote) and `eeg2img_info.json`: `push_to_hub` does not keep `DatasetInfo.description`, where the
package stores its EEG metadata (sfreq, channels, preprocessing, split, ...), so
[`load_eeg_dataset_from_hub`] restores it from that file.

The Hub endpoint and token come from the usual `huggingface_hub` settings (`HF_ENDPOINT`, `HF_TOKEN`,
`hf auth login`) unless `token` is passed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets import DatasetDict, load_dataset
from huggingface_hub import CommitInfo, CommitOperationAdd, DatasetCard, DatasetCardData, HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError

from ..data.features import INFO_KEY, get_eeg_info, set_eeg_info, validate_eeg_dataset
from ..data.loading import load_eeg_dataset
from .dataset_cards import check_card_metadata, render_dataset_card

INFO_FILENAME = "eeg2img_info.json"
"""File next to the data in a pushed dataset repo holding the EEG metadata as `{"eeg2img": info}`."""

HUB_PREFIX = "hf://datasets/"
"""Prefix of a Hub dataset source (`hf://datasets/<org>/<name>`, as in `HfFileSystem`)."""

_CARD_KEYS_FROM_DATASETS = ("dataset_info", "configs")


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
    if isinstance(card, (str, os.PathLike)):
        if not Path(card).is_file():
            raise ValueError(f"card {os.fspath(card)!r} is not a file")
        card = DatasetCard(Path(card).read_text(encoding="utf-8"))
    if not isinstance(card, DatasetCard):
        raise ValueError(f"card must be a DatasetCard or a markdown file, got {type(card).__name__}")
    check_card_metadata(card)
    return card


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
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")
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


def _read_info_file(path: str, repo_id: str) -> dict[str, Any]:
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{INFO_FILENAME} of {repo_id} is not valid JSON: {err}") from err
    info = content.get(INFO_KEY) if isinstance(content, dict) else None
    if not isinstance(info, dict):
        raise ValueError(f"{INFO_FILENAME} of {repo_id} must be a JSON object with an {INFO_KEY!r} object")
    return info


def load_eeg_dataset_from_hub(repo_id: str, *, revision: str | None = None, token: str | None = None) -> DatasetDict:
    """Load a dataset pushed with [`push_dataset`] and restore its EEG metadata.

    Works offline (`HF_HUB_OFFLINE=1`) once the repo is in the local cache.

    Args:
        repo_id (`str`): the dataset repo, `"org/name"` (an `hf://datasets/` prefix is accepted).
        revision (`str`, *optional*): branch or commit (default: `main`).
        token (`str`, *optional*): Hub token for private repos.

    Returns:
        `datasets.DatasetDict` in the package schema, with [`get_eeg_info`] metadata.
    """
    repo_id = repo_id[len(HUB_PREFIX) :] if repo_id.startswith(HUB_PREFIX) else repo_id
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")
    try:
        path = hf_hub_download(repo_id, INFO_FILENAME, repo_type="dataset", revision=revision, token=token)
    except EntryNotFoundError as err:
        raise ValueError(
            f"{repo_id} has no {INFO_FILENAME}: it was not pushed with eeg2img_hf (load it with "
            "datasets.load_dataset and set its metadata with set_eeg_info)"
        ) from err
    info = _read_info_file(path, repo_id)
    loaded = load_dataset(repo_id, revision=revision, token=token)
    if not isinstance(loaded, DatasetDict):
        raise ValueError(f"{repo_id} did not load as a DatasetDict (got {type(loaded).__name__})")
    set_eeg_info(loaded, info)
    validate_eeg_dataset(loaded)
    return loaded


__all__ = ["HUB_PREFIX", "INFO_FILENAME", "commit_files", "load_eeg_dataset_from_hub", "push_dataset"]
