"""The main job on the embedded default: simulate data, train and evaluate an EEG encoder, save it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def run_quickstart(output_dir: str | Path = "outputs/quickstart", fast: bool = False) -> dict[str, Any]:
    """Simulate the ThoughtViz-shaped dataset, train the triplet LSTM (`cpu-small`), evaluate, save.

    Args:
        output_dir: everything goes here (dataset, checkpoints, model folder, evaluation JSON, t-SNE PNG).
        fast: a seconds-long run for CI (fewer epochs and trials); figures are then not meaningful.

    Returns:
        A dict with the model folder and the main figures.
    """
    from .data import simulate_dataset
    from .training import EncoderTrainingArguments, evaluate_encoder, train_encoder

    out = Path(output_dir)
    data_dir = out / "dataset_thoughtviz"
    simulate = {"seed": 0, "n_subjects": 4} if fast else {"seed": 0}
    if not (data_dir / "dataset_dict.json").exists():
        print(f"[1/3] simulating the ThoughtViz-shaped dataset -> {data_dir}")
        simulate_dataset("thoughtviz", **simulate).save_to_disk(str(data_dir))
    else:
        print(f"[1/3] reusing the simulated dataset in {data_dir}")
    overrides = {"epochs": 2, "batch_size": 64} if fast else {}
    args = EncoderTrainingArguments.from_preset("cpu-small", dataset=str(data_dir), output_dir=str(out / "encoder"),
                                                resume=True, **overrides)
    print("[2/3] training the EEG encoder (LSTM, triplet loss); resumable with the same command")
    summary = train_encoder(args)
    print("[3/3] evaluating (k-means / SVM / kNN on the test split, t-SNE)")
    result = evaluate_encoder(summary["model_dir"])
    figures = {k: v for k, v in result["seen_classes"].items() if isinstance(v, (int, float))}
    report = {"model_dir": summary["model_dir"], "train_seconds": summary["train_seconds"], "test": figures,
              "eval_json": str(Path(summary["model_dir"]) / "eval_results.json")}
    print(json.dumps(report, indent=2))
    print(f"""
Done. The encoder is a Hugging Face model folder: {summary['model_dir']}
Load it with:
    import eeg2img_hf
    from transformers import AutoModel
    model = AutoModel.from_pretrained("{summary['model_dir']}")
    embeds = model(eeg_values=eeg).eeg_embeds   # eeg: float tensor (batch, 14, 32)
or without this package installed: AutoModel.from_pretrained(path, trust_remote_code=True)""")
    return report
