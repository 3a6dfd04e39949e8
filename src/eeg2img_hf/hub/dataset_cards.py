"""Dataset cards: render `hub_cards/datasets/*.md` templates from a dataset's EEG metadata.

A template is a Jinja markdown file for [`huggingface_hub.DatasetCard.from_template`]. Its YAML front
matter holds the source's fixed metadata (license, pretty name, tags, ...) followed by
`{{ card_data }}`, which receives the metadata computed from the dataset (size category and the
`configs` entry matching the `DatasetDict.push_to_hub` layout). The markdown body receives the
variables documented in [`card_context`], including ready-made markdown tables for the schema and the
splits.

`DatasetCard.validate()` posts the metadata to the Hub (`/api/validate-yaml`), so it needs the network;
[`check_card_metadata`] checks offline the keys these templates use.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from datasets import DatasetDict
from huggingface_hub import DatasetCard, DatasetCardData, RepoCard

from ..data.features import get_eeg_info, validate_eeg_dataset

TEMPLATE_NAMES = ("eegcvpr40", "thoughtviz", "object", "things_eeg2", "simulated", "custom")
"""Templates shipped in `hub_cards/datasets/`, one per source plus `custom` (bring your own data)."""

SIZE_CATEGORIES = (
    "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B",
)
"""The Hub's `size_categories` values, smallest first."""

# Licence ids of the Hub's list that these cards may use (the full list is on the Hub; "other" needs a name).
KNOWN_LICENSES = ("other", "unknown", "cc-by-3.0", "cc-by-4.0", "cc-by-nc-4.0", "cc-by-sa-4.0", "cc0-1.0", "mit",
                  "apache-2.0")
KNOWN_TASK_CATEGORIES = ("other", "feature-extraction", "image-classification", "text-to-image", "image-to-image",
                         "zero-shot-classification", "time-series-forecasting")
METADATA_KEYS = ("license", "license_name", "license_link", "pretty_name", "language", "tags", "task_categories",
                 "task_ids", "size_categories", "source_datasets", "annotations_creators", "configs")
"""Metadata keys that `render_dataset_card` overrides write into the YAML (others go to the template)."""


def templates_dir() -> Path:
    """Return the folder holding the dataset card templates (`hub_cards/datasets`).

    The templates live in the repository's top-level `hub_cards/`; the package reaches them through
    `eeg2img_hf/hub_cards` (a link in the source tree, a copy in built wheels).

    Raises:
        `ValueError`: when the template folder is missing (a broken installation).
    """
    folder = Path(__file__).resolve().parents[1] / "hub_cards" / "datasets"
    if not (folder / "custom.md").is_file():
        raise ValueError(f"dataset card templates not found in {folder}; reinstall eeg2img_hf")
    return folder


def template_for(info: Mapping[str, Any]) -> Path:
    """Pick the template of a dataset from its metadata (`simulated`, then `name`)."""
    name = str(info.get("name") or "").lower()
    if info.get("simulated"):
        key = "simulated"
    elif name.startswith("eegcvpr40") or name.startswith("eeg-cvpr40") or "cvpr40" in name:
        key = "eegcvpr40"
    elif name.startswith("thoughtviz"):
        key = "thoughtviz"
    elif name.startswith("object") or "kaneshiro" in name:
        key = "object"
    elif name.startswith(("things-eeg2", "things_eeg2", "thingseeg2")):
        key = "things_eeg2"
    else:
        key = "custom"
    return templates_dir() / f"{key}.md"


def size_category(n_rows: int) -> str:
    """The Hub `size_categories` value for a number of rows."""
    for exponent, category in enumerate(SIZE_CATEGORIES, start=3):
        if n_rows < 10**exponent:
            return category
    return "n>1T"


# --------------------------------------------------------------------------------------------------
# Context: counts, tables


def _split_counts(ds: DatasetDict) -> dict[str, dict[str, int]]:
    """Trials, images, subjects, blocks and classes per split, read from the small columns only."""
    counts = {}
    for name, split in ds.items():
        small = split.select_columns(["label", "subject", "image_id", "block"]).to_dict()
        subjects = {s for s in small["subject"] if s != 0}
        blocks = {b for b in small["block"] if b != -1}
        counts[name] = {
            "trials": split.num_rows,
            "images": len(set(small["image_id"])),
            "subjects": len(subjects),
            "blocks": len(blocks),
            "classes": len(set(small["label"])),
        }
    return counts


def _recorded_counts(split_info: Any) -> dict[str, dict[str, int]] | None:
    if isinstance(split_info, Mapping) and isinstance(split_info.get("counts"), Mapping):
        return {k: dict(v) for k, v in split_info["counts"].items() if isinstance(v, Mapping)}
    return None


def _markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _schema_table(ds: DatasetDict, info: Mapping[str, Any]) -> str:
    features = next(iter(ds.values())).features
    n_chans, n_times = features["eeg"].shape
    sfreq = info.get("sfreq")
    seconds = f", {n_times / sfreq:.3g} s at {sfreq:g} Hz" if isinstance(sfreq, (int, float)) and sfreq > 0 else ""
    described = {
        "eeg": (f"`Array2D(({n_chans:d}, {n_times:d}), float32)`", f"one trial, channels x samples{seconds}"),
        "image": ("`Image()`", "the stimulus image (or a paired same-class exemplar, see Caveats)"),
        "label": (f"`ClassLabel` ({features['label'].num_classes} classes)", "class of the trial"),
        "subject": ("`int32`", "subject number (0 = unknown)"),
        "image_id": ("`string`", "image identifier; equal ids mean identical pixels"),
        "block": ("`int32`", "recording block / session, unique across the dataset (-1 = unknown)"),
        "official_split": ("`string`", "the split the source distributes (train / validation / test)"),
    }
    rows = []
    for column, feature in features.items():
        dtype, text = described.get(column, (f"`{type(feature).__name__}`", "extra column"))
        rows.append([f"`{column}`", dtype, text])
    return _markdown_table(["column", "type", "description"], rows)


def _splits_table(counts: Mapping[str, Mapping[str, int]]) -> str:
    keys = ("trials", "images", "subjects", "blocks", "classes")
    rows = [[f"`{name}`", *(c.get(k, "n/a") for k in keys)] for name, c in counts.items()]
    totals = ["**total rows**", sum(int(c.get("trials", 0)) for c in counts.values()), "", "", "", ""]
    return _markdown_table(["split", *keys], [*rows, totals])


def _preprocessing_list(steps: Any) -> str:
    if not steps:
        return "- none recorded (the signals are stored as the source distributes them)"
    lines = []
    for step in steps:
        if isinstance(step, Mapping):
            params = ", ".join(f"{k}={json.dumps(v)}" for k, v in step.items() if k != "name")
            lines.append(f"- `{step.get('name', '?')}`" + (f" ({params})" if params else ""))
        else:
            lines.append(f"- {step}")
    return "\n".join(lines)


def _channels_text(ch_names: Any) -> str:
    if not ch_names:
        return "not recorded"
    names = [str(c) for c in ch_names]
    return ", ".join(names) if len(names) <= 32 else ", ".join(names[:16]) + f", ... ({len(names)} channels)"


def card_context(ds: DatasetDict, repo_id: str | None = None) -> dict[str, Any]:
    """Variables available to a dataset card template.

    Args:
        ds (`DatasetDict`): the dataset (package schema, metadata from [`get_eeg_info`]).
        repo_id (`str`, *optional*): Hub id the card is written for (used in the loading snippet).

    Returns:
        `dict` with `info` (the metadata), `name`, `repo_id`, `n_chans`, `n_times`, `eeg_dtype` (storage dtype of
        the `eeg` column), `sfreq`, `channels`,
        `class_rows` (label, name, source id), `class_table`, `schema_table`, `split_strategy`,
        `split_parameters` (JSON), `split_counts`, `splits_table`, `counts_source` ("recorded" or
        "computed"), `total_rows`, `preprocessing_list`, `image_pairing`, `source`, `citation`,
        `converter`, `simulated`.
    """
    info = get_eeg_info(ds)
    features = next(iter(ds.values())).features
    n_chans, n_times = features["eeg"].shape
    names = features["label"].names
    ids = info.get("class_ids") or [None] * len(names)
    class_rows = [(i, n, ids[i] if i < len(ids) else None) for i, n in enumerate(names)]
    split_info = info.get("split")
    recorded = _recorded_counts(split_info)
    counts = recorded if recorded else _split_counts(ds)
    if isinstance(split_info, Mapping):
        strategy = split_info.get("strategy", "unknown")
        parameters = {k: v for k, v in split_info.items() if k not in ("strategy", "counts")}
    else:
        strategy, parameters = (split_info or "unknown"), {}
    pairing = info.get("image_pairing")
    return {
        "info": info,
        "name": info.get("name") or "eeg-image dataset",
        "repo_id": repo_id or "<user>/<dataset>",
        "n_chans": n_chans,
        "n_times": n_times,
        "eeg_dtype": features["eeg"].dtype,
        "sfreq": info.get("sfreq"),
        "channels": _channels_text(info.get("ch_names")),
        "class_rows": class_rows,
        "class_table": _markdown_table(["label", "name", "source id"], [[i, n, f"`{c}`" if c else "-"]
                                                                         for i, n, c in class_rows]),
        "schema_table": _schema_table(ds, info),
        "split_strategy": strategy,
        "split_parameters": json.dumps(parameters, sort_keys=True) if parameters else "",
        "split_counts": counts,
        "splits_table": _splits_table(counts),
        "counts_source": "recorded" if recorded else "computed",
        "total_rows": sum(split.num_rows for split in ds.values()),
        "preprocessing_list": _preprocessing_list(info.get("preprocessing")),
        "image_pairing": pairing if isinstance(pairing, str) else json.dumps(pairing) if pairing else "",
        "source": info.get("source") or "",
        "citation": info.get("citation") or "",
        "converter": info.get("converter") or "",
        "simulated": bool(info.get("simulated")),
    }


# --------------------------------------------------------------------------------------------------
# Rendering and checks


def _dynamic_card_data(ds: DatasetDict, total_rows: int) -> DatasetCardData:
    configs = [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in ds]}]
    return DatasetCardData(size_categories=[size_category(total_rows)], configs=configs)


def render_dataset_card(
    ds: DatasetDict, template: str | os.PathLike | None = None, **overrides: Any
) -> DatasetCard:
    """Render the dataset card of an EEG-image dataset.

    Args:
        ds (`DatasetDict`):
            The dataset in the package schema; its metadata ([`get_eeg_info`]) fills the card.
        template (`str` or `os.PathLike`, *optional*):
            A template file; by default the one matching `info["name"]` (see [`template_for`]).
        overrides:
            Metadata fields (`license`, `license_name`, `pretty_name`, `tags`, ... see `METADATA_KEYS`)
            replace the template's values in the YAML header; any other keyword (e.g. `repo_id`) is a
            template variable overriding [`card_context`].

    Returns:
        `huggingface_hub.DatasetCard` whose metadata passed [`check_card_metadata`].
    """
    if not isinstance(ds, DatasetDict):
        raise ValueError(f"expected a datasets.DatasetDict, got {type(ds).__name__}")
    validate_eeg_dataset(ds)
    path = Path(template) if template is not None else template_for(get_eeg_info(ds))
    if not path.is_file():
        raise ValueError(f"dataset card template {os.fspath(path)!r} does not exist")
    metadata = {k: v for k, v in overrides.items() if k in METADATA_KEYS}
    variables = {k: v for k, v in overrides.items() if k not in METADATA_KEYS}
    context = card_context(ds, repo_id=variables.get("repo_id"))
    context.update(variables)
    card = DatasetCard.from_template(_dynamic_card_data(ds, context["total_rows"]), template_path=str(path), **context)
    for key, value in metadata.items():
        setattr(card.data, key, value)
    if metadata:  # re-serialise so that str(card) carries the overrides
        card = DatasetCard(f"---\n{card.data.to_yaml()}\n---\n{card.text}")
    check_card_metadata(card)
    return card


_LICENSE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


def _card_metadata(card: RepoCard | str) -> dict[str, Any]:
    """The YAML header of a card (or its text) parsed as a mapping; used by the dataset and model card checks."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", str(card), flags=re.S)
    if not match:
        raise ValueError("the card has no YAML metadata header (a block between '---' lines at the top)")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as err:
        raise ValueError(f"the card's YAML metadata does not parse: {err}") from err
    if not isinstance(meta, dict):
        raise ValueError(f"the card's YAML metadata must be a mapping, got {type(meta).__name__}")
    return meta


def check_card_metadata(card: DatasetCard | str) -> dict[str, Any]:
    """Check a dataset card's YAML metadata offline, for the keys the package's templates use.

    Checks that the header parses as a YAML mapping, that `license` is a known Hub licence id (with a
    lowercase `license_name` when it is `other`), `task_categories` and `size_categories` take Hub values,
    `tags` is a list of strings, `pretty_name` is a string and `configs` follows the Hub's
    `config_name` / `data_files` (`split`, `path`) layout. ([`DatasetCard.validate`] would ask the Hub.)

    Args:
        card (`DatasetCard` or `str`): the card or its full text.

    Returns:
        `dict`: the parsed metadata.

    Raises:
        `ValueError`: naming the first problem.
    """
    meta = _card_metadata(card)
    licenses = meta.get("license")
    for lic in licenses if isinstance(licenses, list) else [licenses]:
        if lic not in KNOWN_LICENSES:
            raise ValueError(f"license must be one of {KNOWN_LICENSES}, got {lic!r}")
    if "other" in (licenses if isinstance(licenses, list) else [licenses]):
        name = meta.get("license_name")
        if not isinstance(name, str) or not _LICENSE_NAME.match(name):
            raise ValueError(
                f"license 'other' needs a lowercase license_name such as 'no-license-stated', got {name!r}"
            )
    for key, allowed in (("task_categories", KNOWN_TASK_CATEGORIES), ("size_categories", SIZE_CATEGORIES)):
        values = meta.get(key)
        if not isinstance(values, list) or not values or any(v not in allowed for v in values):
            raise ValueError(f"{key} must be a non-empty list of values from {allowed}, got {values!r}")
    tags = meta.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise ValueError(f"tags must be a list of non-empty strings, got {tags!r}")
    if not isinstance(meta.get("pretty_name"), str):
        raise ValueError(f"pretty_name must be a string, got {meta.get('pretty_name')!r}")
    for config in meta.get("configs") or []:
        files = config.get("data_files") if isinstance(config, dict) else None
        named = isinstance(config, dict) and isinstance(config.get("config_name"), str)
        if not named or not isinstance(files, list):
            raise ValueError(f"each configs entry needs config_name and a data_files list, got {config!r}")
        if not all(isinstance(f, dict) and isinstance(f.get("split"), str) and isinstance(f.get("path"), str)
                   for f in files):
            raise ValueError(f"each data_files entry needs split and path strings, got {files!r}")
    DatasetCardData(**meta)  # the client-side model accepts it
    return meta


__all__ = [
    "SIZE_CATEGORIES",
    "TEMPLATE_NAMES",
    "card_context",
    "check_card_metadata",
    "render_dataset_card",
    "size_category",
    "template_for",
    "templates_dir",
]
