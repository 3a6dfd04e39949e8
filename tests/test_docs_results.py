"""Every figure the docs quote from a committed results file (`docs/results/*.json`, written by the producer the
docs name) equals that file, rounded as the docs round it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def _results(name: str) -> dict:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _find(page: str, pattern: str) -> re.Match:
    match = re.search(pattern, (ROOT / "docs" / page).read_text(encoding="utf-8"), re.S)
    assert match, f"docs/{page} no longer holds the figure {pattern!r}"
    return match


def test_channel_means_svm_figures_equal_their_results_file():
    accuracy = _results("channel-means-svm.json")["test_accuracy"]
    quoted = _find("results.md", r"14 per-channel trial means alone scores (\d\.\d+) on test.*?"
                                 r"z-scoring\s+each channel of each trial over time leaves it at (\d\.\d+)")
    assert (float(quoted[1]), float(quoted[2])) == (round(accuracy["channel_means"], 2),
                                                    round(accuracy["raw_trials_z_scored_per_trial"], 2))
    raw = _find("results.md", r"each z-scored with train-split statistics\) \| - \| - \| (\d\.\d+) \(C=1\)")
    assert float(raw[1]) == round(accuracy["raw_trials"], 3)


def test_things_ridge_figure_equals_its_results_file():
    result = _results("things-ridge-attributes.json")
    (way, figures), = result["test"].items()
    quoted = _find("things-eeg2.md", r"reaches\s+(\d+) %\s+(\d+)-way\s+top-1\s+on\s+the\s+same\s+test\s+concepts")
    assert f"{quoted[2]}-way" == way and int(quoted[1]) == round(100 * figures["top1"])
    assert result["subject"] == 1 and result["simulator"]["preset"] == "things-eeg2"


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_every_results_file_is_listed_with_its_producer(path):
    result = json.loads(path.read_text(encoding="utf-8"))
    assert result["environment"]["cpu_model"] and result["environment"]["torch"]
    listing = _find("results.md", r"## Where each figure comes from\n(.*?)(?:\n## |\Z)")[1]
    line = next((row for row in listing.splitlines() if f"results/{path.name}" in row), None)
    assert line, f"docs/results.md 'Where each figure comes from' does not list {path.name}"
    for script in re.findall(r"scripts/(\w+\.py)", line):
        assert (ROOT / "scripts" / script).is_file(), script


def test_cross_isa_spread_table_equals_its_results_file():
    result = _results("cross-isa-encoder.json")
    for name, figures in result["settings"].items():
        row = _find("results.md", rf"\| {re.escape(name)} \| (\d\.\d+) \| (\d\.\d+) \| (\d\.\d+) \|")
        expected = [figures[f"encoder.{key}.mean"] for key in ("kmeans", "linear_svm", "knn3")]
        assert [float(v) for v in row.groups()] == [round(v, 3) for v in expected], name
    spread = _find("results.md", r"\| spread \(max - min\) \| (\d\.\d+) \| (\d\.\d+) \| (\d\.\d+) \|")
    assert [float(v) for v in spread.groups()] == [round(result["spread"][f"encoder.{k}.mean"], 3)
                                                   for k in ("kmeans", "linear_svm", "knn3")]


ENCODER_ROWS = {"cpu-small": r"\(`cpu-small`: 25 epochs[^|]*\|[^|]*\| \*\*(\d\.\d+) ± (\d\.\d+)\*\* \| \*\*(\d\.\d+) ± "
                             r"(\d\.\d+)\*\* \| \*\*(\d\.\d+) ± (\d\.\d+)\*\* \|",
                "cpu-small-lstm-triplet": r"\(`cpu-small-lstm-triplet`, the former `cpu-small`[^|]*\|[^|]*\| "
                                          r"(\d\.\d+) ± (\d\.\d+) \| (\d\.\d+) ± (\d\.\d+) \| (\d\.\d+) ± "
                                          r"(\d\.\d+) \|"}


@pytest.mark.parametrize("preset", sorted(ENCODER_ROWS))
def test_encoder_preset_rows_equal_their_results_files(preset):
    result = _results(f"encoder-quality-{preset}.json")
    assert result["preset"] == preset and result["seeds"] == [0, 1, 2] and result["threads"] == 1
    row = _find("results.md", ENCODER_ROWS[preset])
    expected = [round(result["encoder"][key][stat], 3) for key in ("kmeans", "linear_svm", "knn3")
                for stat in ("mean", "std")]
    assert [float(v) for v in row.groups()] == expected
    per_seed = " / ".join  # the "Per seed" line: k-means / SVM / 3-NN of seeds 0, 1, 2
    line = _find("results.md", rf"`{re.escape(preset)}` ((?:\d\.\d+ / \d\.\d+ / \d\.\d+(?:, )?){{3}})")[1]
    assert line.rstrip(", ") == ", ".join(per_seed(f"{r[k]:.3f}" for k in ("kmeans", "linear_svm", "knn3"))
                                          for r in result["per_seed"])


def test_raw_trial_svm_reference_equals_its_results_file():
    raw = _results("encoder-quality-cpu-small.json")["raw_zscore_trials"]
    row = _find("results.md", r"\| 0\.494 \(C=1\); (\d\.\d+) \(C=(\d\.\d+), chosen on validation\)")
    assert (float(row[1]), float(row[2])) == (round(raw["linear_svm_c_on_validation"], 3), raw["c_selected"])
    assert round(raw["linear_svm_c1"], 3) == 0.494


def test_bf16_quality_table_equals_its_results_file():
    result = _results("bf16-quality-quickstart-gan.json")
    judge, pixels = result["judge"], result["pixels"]
    row = _find("benchmarks.md", r"\| generated-image class accuracy \(judge; (\d+) fakes[^|]*\| (\d\.\d+) \| "
                                 r"(\d\.\d+) \| (-?\d\.\d+) \|")
    assert int(row[1]) == result["num_fakes"]
    assert [float(v) for v in row.groups()[1:]] == [round(judge["fp32"]["class_accuracy"], 3),
                                                   round(judge["bf16"]["class_accuracy"], 3),
                                                   round(judge["difference"]["class_accuracy"], 3)]
    fid = _find("benchmarks.md", r"\| FID on judge features \(same fakes\) \| (\d+\.\d+) \| (\d+\.\d+) \| "
                                 r"(-?\d+\.\d+) \|")
    assert [float(v) for v in fid.groups()] == [judge[key]["fid_judge_features"] for key in ("fp32", "bf16")] + [
        judge["difference"]["fid_judge_features"]]
    mean_max = _find("benchmarks.md", r"\| mean (\d\.\d+), max (\d\.\d+); no uint8 value off by more than 8 \|")
    assert (float(mean_max[1]), float(mean_max[2])) == (pixels["mean_abs"], round(pixels["max_abs"], 3))
    assert pixels["share_of_uint8_values_off_by_more_than_8"] == 0.0 and pixels["images"] == 64


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _things_cells(summary: dict) -> list[str]:
    """2-way top-1, 4-way top-1, 10-way top-1 / top-5, 50-way top-1 / top-5 of one mode, as the docs write them."""
    return [_pct(summary["2-way"]["top1"]), _pct(summary["4-way"]["top1"]),
            f"{_pct(summary['10-way']['top1'])} / {_pct(summary['10-way']['top5'])}",
            f"{_pct(summary['50-way']['top1'])} / {_pct(summary['50-way']['top5'])}"]


def test_things_recipes_table_equals_its_results_file():
    result = _results("things-recipes-simulated.json")
    assert result["subjects"] == "1,2" and result["dataset"] == "things-eeg2"
    for key, entry in result["recipes"].items():
        averaged = entry["mean_over_subjects"]["averaged"]
        single = entry["mean_over_subjects"]["single_trial"]
        row = _find("things-eeg2.md", rf"\| [^|\n]*\(`{re.escape(key)}`\) \|([^\n]*)\|\n")[1]
        cells = [c.strip() for c in row.split("|")]
        assert cells == [*_things_cells(averaged), _pct(single["50-way"]["top1"])], key
        assert [r["subject"] for r in entry["per_subject"]] == [1, 2]
        assert all(r["regime"] == "subject-dependent" for r in entry["per_subject"])


def test_things_regime_table_equals_its_results_files():
    dependent = _results("things-recipes-simulated.json")["recipes"]["nice"]["mean_over_subjects"]
    heldout = _results("things-simulated-loso.json")["mean_over_subjects"]["leave-one-subject-out"]
    for regime, summary in (("subject-dependent", dependent), ("leave-one-subject-out", heldout)):
        for mode, label in (("averaged", "10 repetitions averaged"), ("single_trial", "single trial")):
            row = _find("things-eeg2.md", rf"\| {regime} \| {label} \|([^\n]*)\|\n")[1]
            assert [c.strip() for c in row.split("|")] == _things_cells(summary[mode]), (regime, mode)


def test_things_per_subject_sentence_equals_its_results_files():
    dependent = _results("things-recipes-simulated.json")["recipes"]["nice"]["per_subject"]
    heldout = _results("things-simulated-loso.json")["per_subject"]
    text = _find("things-eeg2.md", r"Subject-dependent models reach (\d+\.\d) % and (\d+\.\d) % 50-way top-1 "
                                   r"\(subjects 1 and 2; kept at epochs (\d+)\s+and (\d+) of 30\), "
                                   r"leave-one-subject-out models (\d+\.\d) % and (\d+\.\d) % \(kept at epochs "
                                   r"(\d+) and (\d+)\)")
    expected = [*(f"{100 * r['averaged']['50-way']['top1']:.1f}" for r in dependent),
                *(str(r["best_epoch"]) for r in dependent),
                *(f"{100 * r['averaged']['50-way']['top1']:.1f}" for r in heldout),
                *(str(r["best_epoch"]) for r in heldout)]
    assert list(text.groups()) == expected


def test_encoder_ablation_sentence_equals_its_results_files():
    quoted = _find("results.md", r"cross-entropy alone (\d\.\d+) / (\d\.\d+), the triplet term alone (\d\.\d+) / "
                                 r"(\d\.\d+), both \(the preset, seed 0 of the table\s+above\) (\d\.\d+) / (\d\.\d+);"
                                 r".*?instead of the whole trial\s+(\d\.\d+) / (\d\.\d+)\.")
    runs = [_results(f"encoder-ablation-{name}.json") for name in ("cross-entropy", "triplet")]
    [preset_seed0] = [r for r in _results("encoder-quality-cpu-small.json")["per_seed"] if r["seed"] == 0]
    runs.append({"encoder": {key: {"mean": preset_seed0[key]} for key in ("linear_svm", "kmeans")}})
    runs.append(_results("encoder-ablation-pool16.json"))
    expected = [round(r["encoder"][key]["mean"], 3) for r in runs for key in ("linear_svm", "kmeans")]
    assert [float(v) for v in quoted.groups()] == expected
    assert [r.get("overrides", {}).get("loss") for r in runs] == ["supervised", "triplet-ms", None, "supervised"]
    assert runs[3]["overrides"]["encoder_config"]["tsconv_pool_size"] == 16


def test_other_losses_table_equals_its_results_files():
    table = _find("results.md", r"\| encoder \(preset\) \| loss \| k-means \| linear SVM \| 3-NN \| train CPU time \| "
                                r"`--set`, results file \|\n\|[-|]+\|\n(.*?)\n\n")[1]
    rows = [row.split(" | ") for row in table.splitlines()]
    assert len(rows) == 4
    for cells in rows:
        name = re.search(r"`([\w-]+\.json)`", cells[-1])[1]
        [seed0] = [r for r in _results(name)["per_seed"] if r["seed"] == 0]
        quoted = [float(v) for v in cells[2:5]] + [float(cells[5].removesuffix(" s"))]
        expected = [round(seed0[key], 3) for key in ("kmeans", "linear_svm", "knn3")]
        assert quoted == [*expected, round(seed0["train_cpu_seconds"])], name
