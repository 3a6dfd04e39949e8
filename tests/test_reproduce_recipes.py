"""docs/reproduce.md cannot rot: every recipe block runs, in document order, on small files in the official formats.

The official-format builders follow tests/test_converters_*.py (a `torch.save` dict + split file + JPEGs for
EEGCVPR40, a protocol-2 pickle + class folders for ThoughtViz, `scipy.io.savemat` files + stimuli for Object).
The commands run as written through bash, with the recipe's input variables pointing at those files and tiny
settings appended to each `eeg2img` call (argparse keeps the last value of an option), see `TINY`. Two
substitutions keep the run offline and on CPU: `RESNET50` is a tiny local ResNet in `microsoft/resnet-50`'s
layout, `INCEPTION` is the judge (`classifier`) instead of NVIDIA's file, and the GAN runs compute in float32
without float16 layers instead of the GPU's fp16 (bfloat16 autocast would run too, but on a CPU without
bfloat16 units a 128 px convolution in bfloat16 takes about 80x its float32 time: measured 2.8 s against 0.034 s
on an AVX2-only CPU, which turned these two GAN steps into tens of minutes). The THINGS-EEG2 release is the
converter tests' miniature (tests/test_converters_things_eeg2.py; 10 subjects, 5 + 2 concepts) and `CLIP_L14` a tiny
local CLIP checkpoint in `openai/clip-vit-large-patch14`'s layout; the image features and evaluation run on the CPU.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eeg2img_hf.data.converters.thoughtviz import THOUGHTVIZ_CLASS_NAMES

from testing_utils import save_tiny_clip

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "reproduce.md"
RECIPES = ("encoders", "gan", "eegclip", "image-to-eeg", "things-atm", "things-ubp")

# Appended to each eeg2img sub-command of the recipes (dry run: a couple of steps, small batches, no trackers).
TINY = {
    "train-encoder": "--epochs 1 --max-steps 2 --batch-size 8 --log-with ''",
    "train-gan": "--max-steps 2 --batch-size 8 --log-with '' --num-fp16-res 0 --mixed-precision no",
    "evaluate-gan": "--num-fakes 8 --batch-size 8 --classifier-epochs 1",
    "train-clip": "--epochs 1 --max-steps 2 --batch-size 8 --log-with ''",
    "evaluate-clip": "--head-epochs 1 --device cpu",
    "image-features": "--device cpu",
    "train-image-to-eeg": "--epochs 1 --max-steps 2 --batch-size 8",
    "train-image-classifier": "--epochs 1",
}
# EEGCVPR40 classes of the small file: the 6 unseen classes of Table 1 and 3 seen ones.
WNIDS = ["n02106662", "n02124075", "n02607072", "n02951358", "n03445777", "n03982430", "n02281787", "n02389026",
         "n02492035"]  # fmt: skip
# 3 blocks per class (block-held-out needs one per split), >= 5 test trials per class (the 5-fold kNN)
IMAGES_PER_CLASS, SUBJECTS, N_CHANS, LENGTH = 6, (1, 2, 3), 8, 500


def recipes(text: str) -> dict[str, list[str]]:
    """`{name: commands}` of the blocks after `<!-- recipe: name -->`, continuation lines joined, comments dropped."""
    found = {}
    for name, block in re.findall(r"<!-- recipe: ([\w-]+) -->\s*```bash\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        found[name] = [" ".join(line.split()) for line in joined.splitlines()
                       if line.strip() and not line.lstrip().startswith("#")]  # fmt: skip
    return found


def _variables(text: str) -> list[str]:
    block = re.search(r"## Inputs.*?```bash\n(.*?)```", text, re.S)[1]
    return [line.split("=")[0] for line in block.splitlines() if "=" in line]


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 16), (seed * 37 % 256, seed * 11 % 256, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _eegcvpr40(root: Path, name: str, offset: float) -> Path:
    rng = np.random.default_rng(int(offset * 10))
    images = [f"{w}_{k + 1}" for w in WNIDS for k in range(IMAGES_PER_CLASS)]
    dataset, splits = [], {"train": [], "val": [], "test": []}
    for image_index, _image in enumerate(images):
        label, k = divmod(image_index, IMAGES_PER_CLASS)
        for subject in SUBJECTS:
            eeg = rng.normal(size=(N_CHANS, LENGTH)) + offset + 0.5 * label
            splits[("train", "train", "train", "val", "test", "test")[k]].append(len(dataset))
            dataset.append({"eeg": torch.from_numpy(eeg.astype(np.float32)), "label": label, "image": image_index,
                            "subject": subject})
    torch.save({"dataset": dataset, "labels": WNIDS, "images": images}, root / name)
    torch.save({"splits": [splits]}, root / "block_splits_by_image_all.pth")
    folder = root / "imagenet40"
    folder.mkdir(exist_ok=True)
    for index, image in enumerate(images):
        (folder / f"{image}.JPEG").write_bytes(_jpeg(index))
    return root / name


def _thoughtviz(root: Path) -> tuple[Path, Path]:
    from test_converters_thoughtviz import _make_data, _py2_pickle

    pkl = root / "thoughtviz" / "data.pkl"
    pkl.parent.mkdir(parents=True)
    pkl.write_bytes(_py2_pickle(_make_data(n_train=60, n_test=60)))
    images = root / "thoughtviz" / "ImageNet-Filtered"
    for i, name in enumerate(THOUGHTVIZ_CLASS_NAMES):
        (images / name).mkdir(parents=True)
        for j in range(3):
            Image.new("RGB", (16, 16), (25 * i, 60 * j, 7)).save(images / name / f"img_{j}.png")
    return pkl, images


def _object(root: Path) -> tuple[Path, Path]:
    from test_converters_object import N_EXEMPLARS, _write_subject

    mat_dir, images = root / "object" / "mat", root / "object" / "stimuli"
    mat_dir.mkdir(parents=True)
    images.mkdir(parents=True)
    for subject in SUBJECTS:
        _write_subject(mat_dir, subject)
    for e in range(1, N_EXEMPLARS + 1):
        Image.new("RGB", (16, 16), (3 * e, 2 * e, 40)).save(images / f"stim{e:02d}.png")
    return mat_dir, images


def _tiny_resnet(root: Path) -> Path:
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    folder = root / "resnet-50"
    torch.manual_seed(1)
    ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 12], depths=[1, 1],
                                              layer_type="basic", num_labels=5)).save_pretrained(folder)  # fmt: skip
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875, resample=3, image_mean=[0.485, 0.456, 0.406],
                           image_std=[0.229, 0.224, 0.225]).save_pretrained(folder)  # fmt: skip
    return folder


def _things_eeg2(root: Path) -> tuple[Path, Path, Path]:
    from test_converters_things_eeg2 import THINGS_IDS, make_release

    eeg, images, _ = make_release(root / "things-eeg2", subjects=range(1, 11))
    concepts = root / "things_concepts.tsv"
    concepts.write_text("Word\tuniqueID\n" + "".join(f"{u.replace('_', ' ')}\t{u}\n" for u in THINGS_IDS))
    return eeg, images, concepts


def _tiny(command: str) -> str:
    words = shlex.split(command)
    assert words[0] == "eeg2img", command
    return f"{command} {TINY.get(words[1], '')}".rstrip()


def test_the_document_has_a_recipe_per_table_with_the_papers_numbers():
    text = DOC.read_text()
    found = recipes(text)
    assert tuple(found) == RECIPES
    for name, commands in found.items():
        assert commands and all(c.startswith("eeg2img ") for c in commands), name
        for command in commands:
            assert shlex.split(command)[1] in (*TINY, "convert", "split", "evaluate-encoder", "evaluate-reconstruction")
    everything = " ".join(c for commands in found.values() for c in commands)
    for sub in ("convert eegcvpr40", "convert thoughtviz", "convert object", "split", "train-encoder",
                "evaluate-encoder", "train-gan", "evaluate-gan", "train-clip", "evaluate-clip", "train-image-to-eeg",
                "evaluate-reconstruction", "convert things-eeg2", "image-features"):
        assert f"eeg2img {sub}" in everything, sub
    assert "--protocol things-zero-shot" in " ".join(found["things-atm"])
    for value in ("0.961", "0.98", "0.983", "0.72", "0.40", "0.93", "0.86", "0.625", "10.82", "174.13", "0.065",
                  "9.23", "109.49", "0.039", "0.79 / 0.96 / 0.98", "0.95 / 0.99 / 1.0", "0.64 / 0.86 / 0.92",
                  "0.94 / 0.98 / 0.99", "0.7427", "0.6689", "28.5 % / 60.4 %"):
        assert value in text, value
    assert "50.9 % / 79.7 %" in text  # UBP
    assert text.count("Expected time on one GPU (estimate") == 6 and text.count("Caveats:") == 6
    assert set(_variables(text)) == {"EEG_RAW", "EEG_5_95", "SPLITS", "IMAGENET", "TV_PKL", "TV_IMAGES", "OBJECT_MAT",
                                     "OBJECT_IMAGES", "INCEPTION", "RESNET50", "THINGS_EEG", "THINGS_IMAGES",
                                     "THINGS_CONCEPTS", "CLIP_L14"}


@pytest.mark.integration
def test_every_recipe_runs_on_official_format_files(tmp_path):
    text = DOC.read_text()
    inputs = tmp_path / "official"
    inputs.mkdir()
    tv_pkl, tv_images = _thoughtviz(inputs)
    object_mat, object_images = _object(inputs)
    things_eeg, things_images, things_concepts = _things_eeg2(inputs)
    variables = {
        "EEG_RAW": _eegcvpr40(inputs, "eeg_signals_raw_with_mean_std.pth", offset=3.0),
        "EEG_5_95": _eegcvpr40(inputs, "eeg_5_95_std.pth", offset=1.0),
        "SPLITS": inputs / "block_splits_by_image_all.pth", "IMAGENET": inputs / "imagenet40",
        "TV_PKL": tv_pkl, "TV_IMAGES": tv_images, "OBJECT_MAT": object_mat, "OBJECT_IMAGES": object_images,
        "INCEPTION": "classifier", "RESNET50": _tiny_resnet(inputs), "THINGS_EEG": things_eeg,
        "THINGS_IMAGES": things_images, "THINGS_CONCEPTS": things_concepts,
        "CLIP_L14": save_tiny_clip(inputs / "clip-l14"),
    }  # fmt: skip
    assert set(variables) == set(_variables(text))
    env = {**os.environ, **{k: str(v) for k, v in variables.items()}, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    for name, commands in recipes(text).items():
        script = "set -euo pipefail\n" + "\n".join(_tiny(c) for c in commands) + "\n"
        proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, f"recipe {name!r} failed:\n{proc.stderr[-3000:]}"
    outputs = ["runs/eegcvpr40-lstm/model/eval_results.json", "runs/eegcvpr40-unseen-lstm/model/eval_results.json",
               "runs/object-cnn/model/eval_results.json", "runs/gan-eegcvpr40/inception_results.json",
               "runs/gan-thoughtviz/inception_results.json", "runs/clip-5-95/eval_results.json",
               "runs/image-to-eeg/reconstruction.json", "runs/things-atm/dep-1.json",
               "runs/things-ubp/sub-10.json"]  # fmt: skip
    for output in outputs:
        assert (work / output).is_file(), output
