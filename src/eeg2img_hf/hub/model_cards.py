"""Model cards: render `hub_cards/models/*.md` templates from a saved model folder and its evaluation JSON.

A model folder is what `save_pretrained` (or a trainer) wrote: `config.json`, `model.safetensors`, the remote-code
files and, from the trainers, `eeg2img_training.json` (dataset, its EEG metadata, training arguments). The model
family is read from `config.json`'s `model_type` and picks the template (one per family, see [`MODEL_FAMILIES`]).

The YAML metadata is built as `huggingface_hub.ModelCardData`: license, `library_name: transformers`, a Hub
`pipeline_tag` (the package's own task names, e.g. `eeg-to-image`, are not Hub pipeline tags, so they go under
`tags`), tags, datasets, `base_model` when a Hub id is recorded, and `model-index` results whose metrics come
from the evaluation JSON (with dataset, split, split strategy and provenance: simulated or real).

`ModelCard.validate()` posts to the Hub; [`check_model_card_metadata`] checks the same keys offline.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..utils.names import CONVERSION_RECORD, TRAINING_RECORD
from ..utils.vision_towers import describe_vision_tower, vision_tower_record
from .dataset_cards import _LICENSE_NAME, KNOWN_LICENSES, _card_metadata, _markdown_table, _preprocessing_list

EVALUATION_FILENAME = "eval_results.json"
"""Name of the evaluation JSON in a pushed repo (and the default one looked up in a model folder)."""

HUB_PIPELINE_TAGS = ("feature-extraction", "image-feature-extraction", "image-to-image", "image-classification",
                     "zero-shot-image-classification", "unconditional-image-generation", "text-to-image", "other")
"""Hub pipeline tags the model cards may use (a subset of the Hub's list)."""

BASE_TAGS = ("eeg", "brain-computer-interface", "neuroscience", "eeg2img_hf")


@dataclass(frozen=True)
class ModelFamily:
    """What the card and the push need to know about one model family."""

    key: str  # template name in hub_cards/models/
    model_type: str
    pretty_name: str
    pipeline_tag: str  # a Hub pipeline tag
    tags: tuple[str, ...]
    task: str | None  # the package's pipeline task, if any
    metric_roots: tuple[tuple[str, ...], ...]  # where the metrics sit in the evaluation JSON


MODEL_FAMILIES: dict[str, ModelFamily] = {
    f.model_type: f
    for f in (
        ModelFamily("eeg_encoder", "eeg2img_eeg_encoder", "EEG encoder", "feature-extraction",
                    ("eeg-encoder", "lstm", "triplet-loss", "representation-learning"), None,
                    (("seen_classes",), ("unseen_classes",))),
        ModelFamily("eeg_stylegan", "eeg2img_stylegan", "EEGStyleGAN-ADA", "other",
                    ("stylegan", "stylegan2-ada", "gan", "eeg-to-image", "image-generation"), "eeg-to-image",
                    (("fid",), ("kid", "mean"), ("inception_score", "mean"), ("class_accuracy", "generated"))),
        ModelFamily("eeg_clip", "eeg2img_eeg_clip", "EEGClip", "feature-extraction",
                    ("clip", "contrastive-learning", "retrieval", "eeg-image-retrieval"), "eeg-image-retrieval",
                    (("eeg_to_image",), ("zero_shot_classification",), ("trained_head", "eeg"),
                     ("trained_head", "image"))),
        ModelFamily("image_to_eeg", "eeg2img_image_to_eeg", "Image-to-EEG encoder", "image-to-image",
                    ("image-to-eeg", "image-to-eeg-to-image", "reconstruction"), "image-to-eeg-to-image",
                    ((),)),
    )
}
"""`model_type` -> [`ModelFamily`]."""

_SKIPPED_METRICS = {"chance", "chance_level", "majority_baseline", "std", "seed", "batch_size", "epochs", "best_epoch",
                    "learning_rate", "elapsed_seconds", "subset_size", "image_size", "num_classes", "k"}
_SKIPPED_SUBTREES = {"definitions", "paper", "paper_protocol", "seeds", "counts", "dataset_info", "protocols",
                     "extractor", "judge",
                     "per_class", "generated_per_class", "settings", "training_args", "checkpoint",
                     "vision_tower"}
_MAX_METRICS = 40

CITATION = """@inproceedings{singh2024learning,
  title     = {Learning Robust Deep Visual Representations from {EEG} and Brain Recordings},
  author    = {Singh, Prajwal and Dalal, Dwip and Vashishtha, Gautam and Miyapuram, Krishna and Raman, Shanmuganathan},
  booktitle = {IEEE/CVF Winter Conference on Applications of Computer Vision (WACV)},
  year      = {2024},
  eprint    = {2310.16532},
  archivePrefix = {arXiv}
}"""

METADATA_KEYS = ("license", "license_name", "license_link", "pipeline_tag", "tags", "datasets", "base_model",
                 "language", "model_name", "library_name")
"""Metadata keys that `render_model_card` overrides write into the YAML (others become template variables)."""


def templates_dir() -> Path:
    """Return the folder holding the model card templates (`hub_cards/models`).

    Raises:
        `ValueError`: when the template folder is missing (a broken installation).
    """
    folder = Path(__file__).resolve().parents[1] / "hub_cards" / "models"
    if not all((folder / f"{f.key}.md").is_file() for f in MODEL_FAMILIES.values()):
        raise ValueError(f"model card templates not found in {folder}; reinstall eeg2img_hf")
    return folder


# --------------------------------------------------------------------------------------------------
# Reading a model folder


def read_json_file(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """Read a JSON object from `path`, with a `ValueError` naming `what` when it is not one."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{what} {os.fspath(path)!r} is not a readable JSON file: {err}") from err
    if not isinstance(content, dict):
        raise ValueError(f"{what} {os.fspath(path)!r} must hold a JSON object, got {type(content).__name__}")
    return content


def model_family(model_dir: str | os.PathLike) -> ModelFamily:
    """The [`ModelFamily`] of a saved model folder, from `config.json`'s `model_type`.

    Raises:
        `ValueError`: when the folder has no `config.json` or its `model_type` is not one of the package's.
    """
    config_path = Path(model_dir) / "config.json"
    if not Path(model_dir).is_dir():
        raise ValueError(f"{os.fspath(model_dir)!r} is not a directory (expected a save_pretrained model folder)")
    if not config_path.is_file():
        raise ValueError(f"{os.fspath(model_dir)!r} has no config.json: not a save_pretrained model folder")
    model_type = read_json_file(config_path, "config").get("model_type")
    if model_type not in MODEL_FAMILIES:
        raise ValueError(f"config.json of {os.fspath(model_dir)!r} has model_type {model_type!r}; expected one of "
                         f"{sorted(MODEL_FAMILIES)} (a model of eeg2img_hf)")
    return MODEL_FAMILIES[model_type]


def resolve_evaluation(
    model_dir: str | os.PathLike, evaluation: str | os.PathLike | Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The evaluation result: `evaluation` (a dict or a JSON file), else `model_dir/eval_results.json` if present."""
    if isinstance(evaluation, Mapping):
        return dict(evaluation)
    if evaluation is not None:
        if not Path(evaluation).is_file():
            raise ValueError(f"evaluation {os.fspath(evaluation)!r} is not a file")
        return read_json_file(evaluation, "evaluation")
    default = Path(model_dir) / EVALUATION_FILENAME
    return read_json_file(default, "evaluation") if default.is_file() else None


def _is_metric_value(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _flatten(node: Any, path: tuple[str, ...], out: list[tuple[tuple[str, ...], float]]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            key = str(key)
            if key in _SKIPPED_SUBTREES or key in _SKIPPED_METRICS or key.startswith(("n_", "num_")):
                continue
            _flatten(value, (*path, key), out)
    elif _is_metric_value(node) and path:
        out.append((path, float(node)))


def evaluation_metrics(evaluation: Mapping[str, Any], family: ModelFamily) -> list[dict[str, Any]]:
    """The headline metrics of an evaluation JSON, as `{"type", "name", "value"}` dicts.

    Each family names where its metrics sit (`ModelFamily.metric_roots`); numeric leaves below them become
    metrics named by their dotted path (counts, seeds, chance levels and definitions are left out).
    """
    found: list[tuple[tuple[str, ...], float]] = []
    for root in family.metric_roots:
        node: Any = evaluation
        for key in root:
            node = node.get(key) if isinstance(node, Mapping) else None
        if root and _is_metric_value(node):
            found.append((root, float(node)))
        elif isinstance(node, Mapping):
            _flatten(node, root, found)
    protocol = gan_protocol(evaluation) if family.key == "eeg_stylegan" else None
    metrics = []
    for path, value in found[:_MAX_METRICS]:
        leaf = path[-1] if path[-1] not in ("mean", "generated") or len(path) == 1 else path[-2]
        metric_type = re.sub(r"[^a-z0-9_]+", "_", leaf.lower()).strip("_") or "metric"
        metric = {"type": metric_type, "name": ".".join(path), "value": value}
        if protocol is not None and path[0] in protocol["comparable"]:
            metric["type"] += protocol["type_suffix"]
            metric["args"] = {"extractor": protocol["extractor"], "extractor_kind": protocol["kind"],
                              "comparable_to_paper": protocol["comparable"][path[0]], **protocol["settings"]}
        metrics.append(metric)
    return metrics


GAN_EXTRACTOR_LABELS: dict[str | None, tuple[str, str]] = {
    "inception": ("", "Inception-v3"),
    "inception-pool": ("", "Inception-v3 pool features"),
    "judge": ("-judge-features", "judge classifier features, not Inception"),
    "classifier": ("-classifier-features", "image-classifier features, not Inception"),
    "custom": ("-custom-features", "custom extractor, not Inception"),
    None: ("-unknown-features", "extractor not recorded, not known to be Inception"),
}
"""Extractor kind (`evaluate-gan`'s `extractor.kind`) -> (suffix of the model-index metric type, label)."""


def gan_protocol(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """What a GAN evaluation's FID / KID / IS are: extractor, model-index type suffix and label, comparability.

    The single source of a GAN card's metric types and `args` in the YAML metadata and of its Evaluation
    prose: `kind` (extractor kind, `None` if not recorded), `label`, `type_suffix` (`""` for Inception-v3, e.g.
    `-judge-features` otherwise, so a type `fid` always means Inception FID), `extractor` (its name),
    `comparable` (`{"fid", "kid", "inception_score"}` -> bool, from `paper_protocol`; all `False` when not
    recorded), `reasons` (why not) and `settings` (number of fakes, resolution, noise mode, split).
    """
    extractor = evaluation.get("extractor") if isinstance(evaluation.get("extractor"), Mapping) else {}
    kind = extractor.get("kind") if extractor.get("kind") in GAN_EXTRACTOR_LABELS else None
    suffix, label = GAN_EXTRACTOR_LABELS[kind]
    recorded = evaluation.get("paper_protocol") if isinstance(evaluation.get("paper_protocol"), Mapping) else {}
    flags = recorded.get("metrics") if isinstance(recorded.get("metrics"), Mapping) else {}
    comparable = {m: flags.get(m) is True for m in ("fid", "kid", "inception_score")}
    reasons = [str(r) for r in recorded.get("reasons", [])] if recorded else ["no paper_protocol in the evaluation"]
    settings = {k: evaluation[k] for k in ("n_fake", "image_size", "noise_mode", "reference_split")
                if isinstance(evaluation.get(k), (str, int, float)) and not isinstance(evaluation.get(k), bool)}
    return {"kind": kind, "label": label, "type_suffix": suffix, "extractor": str(extractor.get("name") or "unknown"),
            "comparable": comparable, "reasons": reasons, "settings": settings}


def _split_strategy(*sources: Mapping[str, Any] | None) -> str:
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        for key in ("split_strategy", "split"):
            value = source.get(key)
            if isinstance(value, Mapping) and value.get("strategy"):
                return str(value["strategy"])
            if key == "split_strategy" and isinstance(value, str) and value:
                return value
        info = source.get("dataset_info")
        if isinstance(info, Mapping) and isinstance(info.get("split"), Mapping) and info["split"].get("strategy"):
            return str(info["split"]["strategy"])
    return "unknown"


def _simulated(*sources: Mapping[str, Any] | None) -> bool | None:
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        if isinstance(source.get("simulated"), bool):
            return source["simulated"]
        info = source.get("dataset_info")
        if isinstance(info, Mapping) and isinstance(info.get("simulated"), bool):
            return info["simulated"]
    return None


def _evaluated_split(evaluation: Mapping[str, Any]) -> str:
    for key in ("split", "reference_split"):
        if isinstance(evaluation.get(key), str):
            return evaluation[key]
    return "test"


def _hub_id(value: Any) -> str | None:
    """`value` if it looks like a Hub repo id (`org/name`) and is not a local path, else None."""
    if not isinstance(value, str) or os.path.exists(value) or value.startswith((".", "/", "~")):
        return None
    return value if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", value) else None


def _eval_results(evaluation: Mapping[str, Any], family: ModelFamily, context: Mapping[str, Any]) -> list[EvalResult]:
    simulated = context["simulated"]
    dataset = str(evaluation.get("dataset") or context["dataset_name"])
    dataset_name = context["dataset_pretty"] + (" (SIMULATED)" if simulated else "")
    provenance = "simulated" if simulated else "real" if simulated is False else "unknown"
    args = {"split_strategy": context["split_strategy"], "provenance": provenance}
    return [
        EvalResult(task_type=family.task or family.pipeline_tag, task_name=family.task or family.pretty_name,
                   dataset_type=context["dataset_repo_id"] or dataset, dataset_name=dataset_name,
                   dataset_split=_evaluated_split(evaluation), dataset_args=args, metric_type=m["type"],
                   metric_name=m["name"], metric_value=m["value"], metric_args=m.get("args"))
        for m in context["metrics"]
    ]


# --------------------------------------------------------------------------------------------------
# Context and rendering


def _config_summary(config: Mapping[str, Any], family: ModelFamily) -> str:
    keys = {
        "eeg_encoder": ("architecture", "n_chans", "n_times", "sfreq", "embed_dim", "input_normalization"),
        "eeg_stylegan": ("img_resolution", "img_channels", "z_dim", "w_dim", "embed_dim", "conditioning"),
        "eeg_clip": ("projection_dim", "image_size", "logit_scale_init_value"),
        "image_to_eeg": ("image_size", "eeg_embed_dim", "hidden_dim", "n_subjects", "freeze_vision_tower"),
    }[family.key]
    rows = [[f"`{k}`", f"`{json.dumps(config[k])}`"] for k in keys if k in config]
    for sub in ("encoder_config", "eeg_config"):
        if isinstance(config.get(sub), Mapping):
            enc = config[sub]
            rows += [[f"`{sub}.{k}`", f"`{json.dumps(enc[k])}`"] for k in ("architecture", "n_chans", "n_times",
                                                                          "embed_dim") if k in enc]
    if isinstance(config.get("vision_config"), Mapping):
        rows.append(["`vision_config.model_type`", f"`{config['vision_config'].get('model_type')}`"])
    return _markdown_table(["setting", "value"], rows) if rows else "not recorded"


def _metrics_table(metrics: list[dict[str, Any]]) -> str:
    """The card's metric table, from the same dicts as the `model-index` metadata (type, name, value, args)."""
    if not metrics:
        return ""
    if not any("args" in m for m in metrics):
        return _markdown_table(["metric", "value"], [[f"`{m['name']}`", f"{m['value']:.4g}"] for m in metrics])
    rows = []
    for m in metrics:
        args = m.get("args") or {}
        comparable = {True: "yes", False: "**no**"}.get(args.get("comparable_to_paper"), "")
        rows.append([f"`{m['name']}`", f"`{m['type']}`", f"{m['value']:.4g}", args.get("extractor", ""), comparable])
    return _markdown_table(["metric", "type", "value", "extractor", "paper's Table 3 set-up"], rows)


def model_card_context(
    model_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    evaluation: str | os.PathLike | Mapping[str, Any] | None = None,
    dataset_repo_id: str | None = None,
) -> dict[str, Any]:
    """Variables available to a model card template.

    Returns:
        `dict` with `family` (key), `pretty_name`, `repo_id`, `task`, `config` (config.json), `config_table`,
        `training` (the training record or `{}`), `training_args` (JSON), `evaluation` (or `None`), `metrics`,
        `metrics_table`, `dataset_name`, `dataset_pretty`, `dataset_repo_id`, `dataset_info`, `simulated`
        (`True` / `False` / `None` = unknown), `provenance`, `split_strategy`, `split_parameters`,
        `evaluated_split`, `preprocessing_list`, `sfreq`, `n_chans`, `n_times`, `classes`, `base_model`, `braindecode`
        (class and version of a braindecode EEG tower, else `None`),
        `base_model_local`, `imagery`, `block_design`, `citation`, and for models with an image tower
        `vision_tower` (`utils.vision_towers.vision_tower_record` of `config.json`: tower type, pretrained repo /
        path, revision, weights sha256, or random init / trained from scratch) and `vision_tower_text` (one
        sentence); both `None` for the other families; `conversion` (the `conversion.json` of a model converted
        from an authors' checkpoint, else `None`) and `conversion_section` (its Markdown section, else `""`).
    """
    family = model_family(model_dir)
    config = read_json_file(Path(model_dir) / "config.json", "config")
    record_path = Path(model_dir) / TRAINING_RECORD
    training = read_json_file(record_path, "training record") if record_path.is_file() else {}
    result = resolve_evaluation(model_dir, evaluation)
    info = training.get("dataset_info") if isinstance(training.get("dataset_info"), Mapping) else None
    if info is None and isinstance(result, Mapping) and isinstance(result.get("dataset_info"), Mapping):
        info = result["dataset_info"]
    info = dict(info or {})
    simulated = _simulated(result, training, {"dataset_info": info})
    dataset_name = str(info.get("name") or training.get("dataset") or (result or {}).get("dataset") or "unknown")
    split_info = info.get("split") if isinstance(info.get("split"), Mapping) else {}
    encoder = config.get("encoder_config") or config.get("eeg_config") or config
    recorded_base = training.get("encoder") or config.get("generator_name_or_path")
    base_model = _hub_id(recorded_base)
    name = dataset_name.lower()
    imagery = "thoughtviz" in name or info.get("image_pairing") == "random"
    tower = vision_tower_record(config) if isinstance(config.get("vision_config"), Mapping) else None
    context: dict[str, Any] = {
        "family": family.key,
        "pretty_name": family.pretty_name,
        "repo_id": repo_id or "<user>/<model>",
        "task": family.task,
        "config": config,
        "config_table": _config_summary(config, family),
        "training": training,
        "training_args": json.dumps(training.get("training_args"), indent=2, sort_keys=True)
        if training.get("training_args") else "",
        "evaluation": result,
        "dataset_name": dataset_name,
        "dataset_pretty": dataset_name,
        "dataset_repo_id": dataset_repo_id,
        "dataset_info": info,
        "simulated": simulated,
        "provenance": "SIMULATED" if simulated else "real recordings" if simulated is False else "not recorded",
        "split_strategy": _split_strategy(result, training, {"dataset_info": info}),
        "split_parameters": json.dumps({k: v for k, v in split_info.items() if k not in ("strategy", "counts")},
                                       sort_keys=True),
        "evaluated_split": _evaluated_split(result) if result else None,
        "preprocessing_list": _preprocessing_list(info.get("preprocessing")),
        "sfreq": info.get("sfreq") or (encoder.get("sfreq") if isinstance(encoder, Mapping) else None),
        "n_chans": encoder.get("n_chans") if isinstance(encoder, Mapping) else None,
        "n_times": encoder.get("n_times") if isinstance(encoder, Mapping) else None,
        "classes": training.get("classes") or (result or {}).get("classes") or [],
        "base_model": base_model,
        "base_model_local": recorded_base if recorded_base and not base_model else None,
        "imagery": imagery,
        "block_design": "cvpr40" in name or bool(info.get("block_drift")),
        "citation": CITATION,
        "vision_tower": tower,
        "vision_tower_text": describe_vision_tower(tower) if tower else None,
        "braindecode": _braindecode_tower(encoder),
    }
    context["metrics"] = evaluation_metrics(result, family) if result else []
    context["metrics_table"] = _metrics_table(context["metrics"])
    context["gan_protocol"] = gan_protocol(result) if result and family.key == "eeg_stylegan" else None
    conversion_path = Path(model_dir) / CONVERSION_RECORD
    context["conversion"] = read_json_file(conversion_path, "conversion record") if conversion_path.is_file() else None
    context["conversion_section"] = conversion_section(context["conversion"]) if context["conversion"] else ""
    return context


def _braindecode_tower(encoder: Any) -> dict[str, Any] | None:
    """`{"model": class name, "version": braindecode version}` of a braindecode EEG tower, else `None`."""
    if not isinstance(encoder, Mapping) or encoder.get("architecture") != "braindecode":
        return None
    return {"model": encoder.get("braindecode_model"), "version": encoder.get("braindecode_version") or "unknown"}


def conversion_section(record: Mapping[str, Any]) -> str:
    """The model card's "Source checkpoint" section for a `conversion.json` record (`convert-checkpoint`)."""
    unmapped = record.get("unmapped_keys") or []
    skipped = f" Tensors of the file not loaded: {', '.join(f'`{k}`' for k in unmapped[:8])}." if unmapped else ""
    lines = [
        "## Source checkpoint", "",
        f"Converted with `eeg2img {record.get('command') or 'convert-checkpoint'}` from the authors' checkpoint "
        f"`{record.get('source_file')}` (sha256 `{record.get('source_sha256')}`), name mapping version "
        f"{record.get('mapping_version')}; `conversion.json` records what was mapped.{skipped}", "",
        "The conversion was verified on files written in the official layout (the same key names and file "
        "structure) from this package's own models; equality with the authors' original code on this published "
        "file itself was not checked.",
    ]
    if record.get("kind") == "stylegan-snapshot":
        lines += ["", "The conversion also wrote `discriminator/`, `generator/` and `gan_init_state.json` beside the "
                  "model (not uploaded to the Hub): the starting point of `eeg2img train-gan --init-from`."]
    if record.get("licence"):
        lines += ["", f"Weights licence: {record['licence']}"]
    return "\n".join(lines) + "\n"


def _card_data(family: ModelFamily, context: Mapping[str, Any]) -> ModelCardData:
    tags = [*BASE_TAGS, *family.tags]
    if context["simulated"]:
        tags += ["simulated-data"]
    datasets = [context["dataset_repo_id"]] if context["dataset_repo_id"] else None
    repo_name = context["repo_id"].split("/")[-1]
    results = _eval_results(context["evaluation"], family, context) if context["evaluation"] else None
    conversion = context.get("conversion") or {}
    licence = {"license": "other", "license_name": conversion["license_name"]} if conversion.get("license_name") \
        else {"license": "mit"}
    return ModelCardData(
        **licence, library_name="transformers", pipeline_tag=family.pipeline_tag, tags=tags, datasets=datasets,
        base_model=context["base_model"], model_name=repo_name if results else None, eval_results=results or None,
    )


def render_model_card(
    model_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    evaluation: str | os.PathLike | Mapping[str, Any] | None = None,
    dataset_repo_id: str | None = None,
    **overrides: Any,
) -> ModelCard:
    """Render the model card of a saved eeg2img_hf model folder.

    Args:
        model_dir (`str` or `os.PathLike`):
            A folder written by `save_pretrained` / a trainer (its `model_type` picks the template).
        repo_id (`str`, *optional*):
            Hub id the card is written for (used in the loading code and as `model-index` name).
        evaluation (`str`, `os.PathLike` or `dict`, *optional*):
            Evaluation result (a JSON file written by `evaluate_encoder` / `evaluate_gan` / `evaluate_clip` /
            `evaluate_reconstruction`, or its dict); default `model_dir/eval_results.json` when present.
        dataset_repo_id (`str`, *optional*):
            Hub id of the training dataset (goes to `datasets` and the `model-index` dataset type).
        overrides:
            Metadata fields (`license`, `pipeline_tag`, `tags`, `base_model`, ... see `METADATA_KEYS`) replace
            the computed ones in the YAML header; any other keyword is a template variable.

    Returns:
        `huggingface_hub.ModelCard` whose metadata passed [`check_model_card_metadata`].
    """
    family = model_family(model_dir)
    metadata = {k: v for k, v in overrides.items() if k in METADATA_KEYS}
    variables = {k: v for k, v in overrides.items() if k not in METADATA_KEYS}
    context = model_card_context(model_dir, repo_id=repo_id, evaluation=evaluation, dataset_repo_id=dataset_repo_id)
    context.update(variables)
    data = _card_data(family, context)
    for key, value in metadata.items():
        setattr(data, key, value)
    template = templates_dir() / f"{family.key}.md"
    card = ModelCard.from_template(data, template_path=str(template), **context)
    check_model_card_metadata(card)
    return card


def check_model_card_metadata(card: ModelCard | str) -> dict[str, Any]:
    """Check a model card's YAML metadata offline, for the keys the package's cards use.

    Checks that the header parses as a YAML mapping, `license` is a known Hub licence id (`other` needs a lowercase
    `license_name`), `library_name` is `transformers`, `pipeline_tag` is a Hub pipeline tag, `tags` / `datasets` are
    lists of strings, `base_model` is a Hub id, and `model-index` results have a task type, a dataset (`type`,
    `name`) and metrics with a `type` and a finite numeric `value`; then `ModelCardData` parses it.
    ([`ModelCard.validate`] would ask the Hub.)

    Raises:
        `ValueError`: naming the first problem.
    """
    meta = _card_metadata(card)
    if meta.get("license") not in KNOWN_LICENSES:
        raise ValueError(f"license must be one of {KNOWN_LICENSES}, got {meta.get('license')!r}")
    if meta["license"] == "other" and not _LICENSE_NAME.match(str(meta.get("license_name") or "")):
        raise ValueError(f"license 'other' needs a lowercase license_name, got {meta.get('license_name')!r}")
    if meta.get("library_name") != "transformers":
        raise ValueError(f"library_name must be 'transformers', got {meta.get('library_name')!r}")
    if meta.get("pipeline_tag") not in HUB_PIPELINE_TAGS:
        raise ValueError(f"pipeline_tag must be a Hub pipeline tag {HUB_PIPELINE_TAGS} (custom task names go "
                         f"under tags), got {meta.get('pipeline_tag')!r}")
    for key in ("tags", "datasets"):
        values = meta.get(key, [] if key == "datasets" else None)
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"{key} must be a list of non-empty strings, got {values!r}")
    if "base_model" in meta and _hub_id(meta["base_model"]) is None:
        raise ValueError(f"base_model must be a Hub model id 'org/name', got {meta['base_model']!r}")
    for entry in meta.get("model-index") or []:
        _check_model_index_entry(entry)
    ModelCardData(**meta)  # the client-side model accepts it (and parses model-index)
    return meta


def _check_model_index_entry(entry: Any) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("results"),
                                                                                             list):
        raise ValueError(f"each model-index entry needs a name and a results list, got {entry!r}")
    for result in entry["results"]:
        task, dataset, metrics = result.get("task"), result.get("dataset"), result.get("metrics")
        if not isinstance(task, dict) or not isinstance(task.get("type"), str):
            raise ValueError(f"a model-index result needs task.type, got {task!r}")
        if not isinstance(dataset, dict) or not all(isinstance(dataset.get(k), str) for k in ("type", "name")):
            raise ValueError(f"a model-index result needs dataset.type and dataset.name, got {dataset!r}")
        if not isinstance(metrics, list) or not metrics:
            raise ValueError(f"a model-index result needs a non-empty metrics list, got {metrics!r}")
        for metric in metrics:
            if not isinstance(metric, dict) or not isinstance(metric.get("type"), str) or not _is_metric_value(
                metric.get("value")
            ):
                raise ValueError(f"each metric needs a type and a finite numeric value, got {metric!r}")


__all__ = [
    "CITATION",
    "EVALUATION_FILENAME",
    "GAN_EXTRACTOR_LABELS",
    "HUB_PIPELINE_TAGS",
    "MODEL_FAMILIES",
    "ModelFamily",
    "TRAINING_RECORD",
    "check_model_card_metadata",
    "conversion_section",
    "evaluation_metrics",
    "gan_protocol",
    "model_card_context",
    "model_family",
    "render_model_card",
    "resolve_evaluation",
]
