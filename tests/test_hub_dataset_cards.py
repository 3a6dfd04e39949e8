"""Dataset cards: template choice, rendered metadata and sections, offline metadata checks."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
import yaml
from datasets import Dataset, DatasetDict
from PIL import Image

from eeg2img_hf.data import convert_things_eeg2, get_eeg_info, make_features, set_eeg_info, simulate_dataset
from eeg2img_hf.hub import check_card_metadata, render_dataset_card, size_category, template_for, templates_dir

SECTIONS = ("## Schema", "## Splits", "## Caveats", "## Citation")


def _metadata(card) -> dict:
    return yaml.safe_load(str(card).split("---\n")[1])


@pytest.fixture(scope="module")
def sim_ds() -> DatasetDict:
    return simulate_dataset("thoughtviz", n_subjects=2, n_blocks_per_class=1, trials_per_block=3, images_per_class=2,
                            image_size=8, classes=["Apple", "Car", "Dog"])


def _handmade(name: str, split_info, n_chans: int = 4, n_times: int = 8, **extra) -> DatasetDict:
    """Tiny dataset: 2 classes, 2 subjects, block = (subject - 1) * 2 + label, 12 rows."""
    features = make_features(n_chans, n_times, ["German shepherd", "Egyptian cat"])
    rng = np.random.default_rng(0)
    buf = BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(buf, format="PNG")
    png = buf.getvalue()
    splits = {}
    for split, subjects in (("train", (1, 2)), ("validation", (1,)), ("test", (2,))):
        rows = [(s, lab, k) for s in subjects for lab in (0, 1) for k in range(2 if split == "train" else 1)]
        splits[split] = Dataset.from_dict(
            {
                "eeg": rng.standard_normal((len(rows), n_chans, n_times)).astype(np.float32),
                "image": [{"bytes": png, "path": None}] * len(rows),
                "label": [r[1] for r in rows],
                "subject": [r[0] for r in rows],
                "image_id": [f"img{r[1]}_{r[2]}" for r in rows],
                "block": [(r[0] - 1) * 2 + r[1] for r in rows],
            },
            features=features,
        )
    ds = DatasetDict(splits)
    info = {"name": name, "sfreq": 1000.0, "ch_names": [f"EEG{i:03d}" for i in range(1, n_chans + 1)],
            "n_chans": n_chans, "n_times": n_times, "class_ids": ["n02106662", "n02124075"],
            "preprocessing": [{"name": "crop", "start": 20, "stop": 28},
                              {"name": "bandpass", "l_freq": 5, "h_freq": 95}],
            "split": split_info, "simulated": False, **extra}
    return set_eeg_info(ds, info)


def test_templates_found_and_chosen_by_name() -> None:
    folder = templates_dir()
    assert sorted(p.stem for p in folder.glob("*.md")) == ["custom", "eegcvpr40", "object", "simulated", "things_eeg2",
                                                           "thoughtviz"]
    assert template_for({"name": "eegcvpr40-5-95"}).stem == "eegcvpr40"
    assert template_for({"name": "thoughtviz"}).stem == "thoughtviz"
    assert template_for({"name": "object"}).stem == "object"
    assert template_for({"name": "things-eeg2"}).stem == "things_eeg2"
    assert template_for({"name": "sim-things-eeg2", "simulated": True}).stem == "simulated"
    assert template_for({"name": "sim-eegcvpr40", "simulated": True}).stem == "simulated"
    assert template_for({"name": "my-lab-data"}).stem == "custom"
    assert template_for({}).stem == "custom"
    assert [size_category(n) for n in (0, 999, 1000, 11964, 10**6)] == ["n<1K", "n<1K", "1K<n<10K", "10K<n<100K",
                                                                         "1M<n<10M"]


def test_simulated_card(sim_ds: DatasetDict) -> None:
    card = render_dataset_card(sim_ds, repo_id="org/sim-tv")
    meta = _metadata(card)
    assert meta["license"] == "mit"
    assert {"eeg", "brain-computer-interface", "neuroscience", "simulated", "synthetic"} <= set(meta["tags"])
    assert meta["size_categories"] == ["n<1K"]
    assert "SIMULATED" in meta["pretty_name"]
    assert meta["configs"] == [{"config_name": "default", "data_files": [
        {"split": s, "path": f"data/{s}-*"} for s in ("train", "validation", "test")]}]
    text = card.text
    for section in SECTIONS:
        assert section in text
    assert "This dataset is simulated" in text and 'load_dataset("org/sim-tv")' in text
    assert "| `eeg` | `Array2D((14, 32), float32)` |" in text and "128.0 Hz" in text and "AF3, F7" in text
    for name, split in sim_ds.items():  # computed counts: trials, images, subjects, blocks, classes
        row = (f"| `{name}` | {split.num_rows} | {len(set(split['image_id']))} | {len(set(split['subject']))} | "
               f"{len(set(split['block']))} | {len(set(split['label']))} |")
        assert row in text
    assert f"| **total rows** | {sum(s.num_rows for s in sim_ds.values())} |" in text
    assert '"snr": 0.12' in text  # simulator parameters recorded
    assert card.data.license == "mit"


def test_eegcvpr40_card_uses_recorded_split_counts() -> None:
    counts = {"train": {"trials": 8, "images": 4, "subjects": 2, "blocks": 4, "classes": 2},
              "validation": {"trials": 2, "images": 2, "subjects": 1, "blocks": 2, "classes": 2},
              "test": {"trials": 2, "images": 2, "subjects": 1, "blocks": 2, "classes": 2}}
    split_info = {"strategy": "subject-held-out", "test_subjects": [2], "counts": counts, "disjoint": ["subjects"]}
    ds = _handmade("eegcvpr40-5-95", split_info, source="eeg_5_95_std.pth + block_splits_by_image_all.pth",
                   converter="eeg2img_hf.data.converters.eegcvpr40")
    card = render_dataset_card(ds, repo_id="org/cvpr")
    meta = _metadata(card)
    assert meta["license"] == "other" and meta["license_name"] == "no-license-stated"
    assert {"eeg", "brain-computer-interface", "neuroscience"} <= set(meta["tags"])
    assert meta["task_categories"] == ["other"] and meta["size_categories"] == ["n<1K"]
    text = card.text
    for section in SECTIONS + ("## Source and conversion",):
        assert section in text
    assert "Strategy: **subject-held-out**" in text and '"test_subjects": [2]' in text
    assert "Counts per split (recorded" in text
    assert "| `train` | 8 | 4 | 2 | 4 | 2 |" in text and "| `test` | 2 | 2 | 1 | 2 | 2 |" in text
    assert "| **total rows** | 12 |" in text
    assert "| 0 | German shepherd | `n02106662` |" in text
    assert '- `crop` (start=20, stop=28)' in text and '- `bandpass` (l_freq=5, h_freq=95)' in text
    assert "Li et al. (2020" in text and "Block design" in text
    assert "spampinato2017deep" in text and "singh2024learning" in text
    assert "eeg_5_95_std.pth" in text and "`eeg2img_hf.data.converters.eegcvpr40`" in text
    assert "4 channels x 8 samples at 1000.0 Hz" in text and "EEG001, EEG002" in text
    check_card_metadata(card)


def test_thoughtviz_and_object_cards() -> None:
    tv = render_dataset_card(_handmade("thoughtviz", "paper", image_pairing="seeded same-class rule, seed 0"))
    assert _metadata(tv)["license"] == "other"
    assert "Imagery, not perception" in tv.text and "seeded same-class rule, seed 0" in tv.text
    assert "kumar2018envisioned" in tv.text and "tirupattur2018thoughtviz" in tv.text
    assert "Strategy: **paper**" in tv.text and "Counts per split (computed" in tv.text
    obj = render_dataset_card(_handmade("object", {"strategy": "exemplar-disjoint"}))
    assert _metadata(obj)["license"] == "cc-by-3.0"
    assert "Exemplar reuse" in obj.text and "kaneshiro2015representational" in obj.text
    assert "Strategy: **exemplar-disjoint**" in obj.text


def test_overrides_and_explicit_template(tmp_path) -> None:
    ds = _handmade("my-lab-data", "within-block")
    card = render_dataset_card(ds, license="cc-by-4.0", pretty_name="My lab", repo_id="lab/eeg")
    meta = _metadata(card)
    assert meta["license"] == "cc-by-4.0" and meta["pretty_name"] == "My lab"
    assert 'load_dataset("lab/eeg")' in card.text and "## Caveats" in card.text
    template = tmp_path / "mine.md"
    header = "---\npretty_name: mine\nlicense: mit\ntask_categories:\n- other\ntags:\n- eeg\n{{ card_data }}\n---\n"
    template.write_text(header + "# {{ name }} has {{ total_rows }} rows via {{ split_strategy }}\n")
    mine = render_dataset_card(ds, template=template)
    assert mine.text.strip() == "# my-lab-data has 12 rows via within-block"
    assert get_eeg_info(ds)["name"] == "my-lab-data"  # rendering never changes the dataset
    with pytest.raises(ValueError, match="does not exist"):
        render_dataset_card(ds, template=tmp_path / "missing.md")
    with pytest.raises(ValueError, match="DatasetDict"):
        render_dataset_card(ds["train"])


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("license: gpl-9\n", "license must be one of"),
        ("license: other\n", "license_name"),
        ("license: mit\ntask_categories: [other]\nsize_categories: [huge]\n", "size_categories"),
        ("license: mit\ntask_categories: [other]\nsize_categories: [n<1K]\ntags: eeg\n", "tags must be"),
        ("license: mit\ntask_categories: [other]\nsize_categories: [n<1K]\ntags: [eeg]\npretty_name: x\n"
         "configs:\n- config_name: default\n  data_files: data/*\n", "configs entry"),
        ("[1, 2]\n", "must be a mapping"),
        ("license: [unclosed\n", "does not parse"),
    ],
)
def test_check_card_metadata_rejects(yaml_text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_card_metadata(f"---\n{yaml_text}---\n# text\n")


def test_check_card_metadata_needs_header() -> None:
    with pytest.raises(ValueError, match="no YAML metadata header"):
        check_card_metadata("# just text\n")


def test_things_eeg2_card(tmp_path):
    from test_converters_things_eeg2 import make_release

    eeg_dir, images_dir, _ = make_release(tmp_path, subjects=(1,))
    ds = convert_things_eeg2(eeg_dir, images_dir, tmp_path / "out", average="train")
    card = render_dataset_card(ds, repo_id="org/things-eeg2")
    meta = _metadata(card)
    assert meta["license"] == "other" and meta["license_name"] == "cc-by-4.0-eeg-things-images"
    assert {"eeg", "zero-shot", "things"} <= set(meta["tags"])
    text = card.text
    for section in SECTIONS + ("## Benchmark", "## Source and conversion"):
        assert section in text
    assert "CC BY 4.0" in text and "The **images are not CC BY**" in text and "THINGS terms of use" in text
    assert "Strategy: **things-zero-shot**" in text and "15.6 % top-1 / 42.8 % top-5" in text
    assert "| `repetition` |" in text and "17 channels x 100 samples at 100.0 Hz" in text and "Pz, P3, P7" in text
    assert "| `test` | 10 | 2 | 1 | 0 | 2 |" in text  # recorded counts: 1 subject x 2 images x 5 repetitions
    check_card_metadata(card)
