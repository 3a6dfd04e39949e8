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


def _num(text: str) -> float:
    return float(text.strip("*"))


def test_gan_conditioning_table_and_figures_equal_their_results_file():
    result = _results("gan-conditioning.json")
    eeg, onehot, probe = result["runs"]["eeg"], result["runs"]["onehot"], result["encoder_probe_test"]
    table = _find("benchmarks.md", r"\| kimg \| EEG: validation \| EEG: test \| FID \(test, judge features\) \| "
                                   r"one-hot: validation \| one-hot: test \|\n\|[-|]+\|\n(.*?)\n\n")[1]
    rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in table.splitlines()]
    snapshots = {s["kimg"]: s for s in eeg["snapshots"]}
    onehot_snapshots = {s["kimg"]: s for s in onehot["snapshots"]}
    assert [int(_num(r[0])) for r in rows] == [*sorted(snapshots), int(eeg["kimg"])]
    for cells in rows:
        kimg = int(_num(cells[0]))
        e, o = (snapshots[kimg], onehot_snapshots[kimg]) if kimg in snapshots else (eeg, onehot)
        expected = [round(e["validation"]["accuracy"], 3), round(e["test"]["accuracy"], 3),
                    round(e["test"]["fid_judge_features"], 2), round(o["validation"]["accuracy"], 3),
                    round(o["test"]["accuracy"], 3)]
        assert [_num(c.split(" (")[0]) for c in cells[1:]] == expected, kimg
    quoted = _find("benchmarks.md", r"ends at \*\*(\d\.\d+)\*\* on test, \*\*(\d\.\d+) x\*\* the encoder's "
                                    r"test\s+linear probe \((\d\.\d+);.*?could reach;\s+the one-hot generator.*?"
                                    r"reaches (\d\.\d+)\.")
    assert [float(v) for v in quoted.groups()] == [
        round(eeg["test"]["accuracy"], 3), round(result["efficiency_psi1"], 2), round(probe["linear_svm"], 3),
        round(onehot["test"]["accuracy"], 3)]
    truncation = eeg["conditional_truncation"]
    sweep = _find("benchmarks.md", r"validation: (\d\.\d+) / (\d\.\d+) / (\d\.\d+) at psi 0\.7 / 0\.5 / 0\.3\) "
                                   r"takes the test accuracy to (\d\.\d+) = (\d\.\d+) x the\s+probe "
                                   r"\(FID (\d+\.\d+), psi (\d\.\d)\)")
    assert [float(v) for v in sweep.groups()] == [
        *(round(truncation["validation_by_psi"][p], 3) for p in ("0.7", "0.5", "0.3")),
        round(truncation["test"]["accuracy"], 3), round(result["efficiency_conditional_truncation"], 2),
        round(truncation["test"]["fid_judge_features"], 2), truncation["psi_chosen_on_validation"]]
    posterior = _find("benchmarks.md", r"puts at \*\*(\d\.\d+)\*\* on test \(its arg-max: (\d\.\d+)\)")
    assert [float(v) for v in posterior.groups()] == [round(probe["logreg_mean_true_class_probability"], 3),
                                                       round(probe["logreg_argmax"], 3)]


def test_gan_without_class_loss_and_second_judge_equal_their_results_files():
    result = _results("gan-conditioning-no-class-loss.json")
    eeg = result["runs"]["eeg"]
    assert eeg["preset_fields"]["class_loss_weight"] == 0 and "onehot" not in result["runs"]
    quoted = _find("benchmarks.md", r"The 90-kimg EEG run reaches (\d\.\d+) on test \(validation (\d\.\d+); "
                                    r"(\d\.\d+) x the probe; FID (\d+\.\d+)\), (\d\.\d+) =\s+(\d\.\d+) x with "
                                    r"conditional truncation at psi (\d\.\d) \(validation (\d\.\d+) / (\d\.\d+) / "
                                    r"(\d\.\d+) at psi 0\.7 / 0\.5 / 0\.3\); per snapshot\s+\(validation / test\): "
                                    r"(.*?)\. On this machine")
    truncation = eeg["conditional_truncation"]
    assert [float(v) for v in quoted.groups()[:10]] == [
        round(eeg["test"]["accuracy"], 3), round(eeg["validation"]["accuracy"], 3),
        round(result["efficiency_psi1"], 2), round(eeg["test"]["fid_judge_features"], 2),
        round(truncation["test"]["accuracy"], 3), round(result["efficiency_conditional_truncation"], 2),
        truncation["psi_chosen_on_validation"],
        *(round(truncation["validation_by_psi"][p], 3) for p in ("0.7", "0.5", "0.3"))]
    per_snapshot = re.findall(r"(\d\.\d+) / (\d\.\d+) at (\d+)", " ".join(quoted[11].split()))
    assert [(float(v), float(t), int(k)) for v, t, k in per_snapshot] == [
        (round(s["validation"]["accuracy"], 3), round(s["test"]["accuracy"], 3), s["kimg"]) for s in eeg["snapshots"]]
    judged = _results("gan-second-judge.json")
    assert judged["judge"]["seed"] == 1 and judged["judge"]["widths"] == [24, 48, 96]
    by_weight = {bool(r["class_loss_weight"]): r["test"]["accuracy"] for r in judged["runs"]}
    second = _find("benchmarks.md", r"\*\*(\d\.\d+)\*\* with the class loss, (\d\.\d+) without "
                                    r"\(1,000 test-trial images")
    assert (float(second[1]), float(second[2])) == (round(by_weight[True], 3), round(by_weight[False], 3))


def test_block_drift_table_equals_its_results_file():
    result = _results("block-drift-thoughtviz.json")
    assert result["simulate"] == {"n_subjects": 4, "trials_per_block": 12, "n_blocks_per_class": 5}
    assert result["epochs"] == 30 and result["seeds"] == [0, 1, 2]
    labels = {"off": "0", "2.0 x background RMS": "2"}
    for drift, split in [("off", "within-block"), ("off", "block-held-out"), ("2.0 x background RMS", "within-block"),
                         ("2.0 x background RMS", "block-held-out")]:
        row = _find("results.md", rf"\| {re.escape(drift)} \| {split}[^|]*\| ([\d.*]+) \| ([\d.*]+) \| ([\d.*]+) \|")
        cell = result["cells"][f"drift={labels[drift]}/{split}"]
        assert [_num(v) for v in row.groups()] == [
            round(cell[k], 3) for k in ("kmeans_test", "svm_train_to_test", "knn3_train_to_test")], (drift, split)
    gap = _find("results.md", r"scores (\d\.\d+) higher in k-means and the")
    assert float(gap[1]) == round(result["kmeans_gap_within-block_minus_block-held-out"]["drift=2"], 2)


def test_block_drift_eegcvpr40_table_equals_its_results_file():
    result = _results("block-drift-eegcvpr40.json")
    assert result["preset"] == "eegcvpr40" and result["drifts"] == [2.0] and result["seeds"] == [0]
    for split, key in [("`paper` (all trials of an image in one split, as EEGCVPR40's official split) | yes", "paper"),
                       ("`block-held-out` | no", "block-held-out")]:
        row = _find("results.md", rf"\| {re.escape(split)} \| ([\d.*]+) \| ([\d.*]+) \| ([\d.*]+) \|")
        cell = result["cells"][f"drift=2/{key}"]
        assert [_num(v) for v in row.groups()] == [
            round(cell[k], 3) for k in ("kmeans_test", "svm_train_to_test", "knn3_train_to_test")], key


def test_readme_quickstart_table_equals_its_results_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    name = re.search(r"committed as `docs/results/(quickstart-[\w-]+\.json)`", readme)
    assert name, "README no longer names the quickstart's committed results file"
    result = _results(name[1])
    assert not result["fast"] and result["environment"]["cpu_model"]
    figures = {stage: {f["name"]: f["value"] for f in info["figures"]} for stage, info in result["stages"].items()}

    def cell(label: str) -> str:
        row = re.search(rf"\| {re.escape(label)} \| ([^|]+) \|\n", readme)
        assert row, label
        return row[1].replace("*", "").strip()

    encoder = figures["encoder"]
    assert cell("k-means / linear SVM / 3-NN accuracy of the embeddings") == " / ".join(
        f"{encoder[k]:.3f}" for k in ("k-means", "SVM", "kNN-3"))
    gan = figures["gan"]
    assert cell("generated-image class accuracy (the judge's class = the EEG trial's class)") == \
        f"{gan['generated-image class accuracy']:.3f}"
    assert cell("FID on the judge's features (not Inception: not comparable with the paper)") == \
        f"{gan['FID (judge features)']:.2f}"
    assert f"EEGStyleGAN-ADA ({gan['kimg']:g} kimg)" in readme
    clip = figures["clip"]
    assert cell("EEG -> image same-class MRR / mAP") == \
        f"{clip['EEG->image same-class MRR']:.3f} / {clip['same-class mAP']:.3f}"
    assert cell("reconstruction class accuracy (judge)") == \
        f"{figures['image_to_eeg']['reconstruction class accuracy']:.3f}"
    total = re.search(r"Measured on an idle 2-core [^,]+, ([\d,]+) s in all", readme)
    assert total and int(total[1].replace(",", "")) == round(result["total_seconds"])


def test_quiet_machine_generation_ratio_equals_its_results_file():
    batch = _results("generate-fp32-batch16.json")["batches"]["16"]
    quoted = _find("benchmarks.md", r"([\d.]+) images/s, \*\*(\d\.\d+) of the paired peak\*\* "
                                    r"\((\d\.\d+) of the best peak,")
    assert [float(v) for v in quoted.groups()] == [batch["images_per_s"], batch["fraction_of_matmul_peak_paired"],
                                                    batch["fraction_of_matmul_peak"]]
