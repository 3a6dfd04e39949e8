"""Pretrained vision towers: loaded WITH their weights (local folder, Hub repo, full CLIP checkpoint), offline from
the cache, saved inside the EEGClip / image -> EEG folder, recorded in configs, training records, evaluation JSONs
and cards; a frozen tower that would stay random is refused unless the run opts in.

The "Hub" is the loopback server (`hub_server.py`) serving a tiny ResNet in the layout of `microsoft/resnet-50`
(`ResNetForImageClassification` weights, `config.json`, a `ConvNextImageProcessor` with `crop_pct`) under that id.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import (
    AutoImageProcessor,
    CLIPImageProcessor,
    ConvNextImageProcessor,
    ResNetConfig,
    ResNetForImageClassification,
)

from eeg2img_hf.cli import main
from eeg2img_hf.data import get_eeg_info, load_eeg_dataset, simulate_dataset
from eeg2img_hf.evaluation import evaluate_clip, evaluate_reconstruction
from eeg2img_hf.hub.model_cards import render_model_card
from eeg2img_hf.metrics.image_classifier import ImageClassifier, ImageClassifierConfig
from eeg2img_hf.models import (
    EEGClipModel,
    EEGEncoderConfig,
    EEGEncoderModel,
    EEGStyleGANConfig,
    EEGStyleGANModel,
    ImageToEEGModel,
    make_image_processor,
)
from eeg2img_hf.models.common import image_settings_from_processor, load_vision_tower
from eeg2img_hf.training import ClipTrainingArguments, ImageToEEGTrainingArguments, train_clip, train_image_to_eeg
from eeg2img_hf.training.train_clip import build_clip_model
from eeg2img_hf.training.vision_towers import RandomFrozenTowerError
from eeg2img_hf.utils.errors import BadModelFolderError, HubAccessError

from testing_utils import save_tiny_clip

REPO_ROOT = Path(__file__).resolve().parents[1]
SIM = {"seed": 3, "n_subjects": 2, "images_per_class": 2, "classes": ["Apple", "Car", "Dog"]}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _served(folder: Path, prefix: str) -> dict[str, torch.Tensor]:
    """The tower's tensors in a served checkpoint: keys under `prefix` (e.g. `resnet.`), prefix removed."""
    weights = load_file(folder / "model.safetensors")
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


def assert_tower_equals(tower: torch.nn.Module, served: dict[str, torch.Tensor]) -> None:
    """Every tensor of the tower (parameters and buffers) equals the served one, and nothing is left out."""
    state = tower.state_dict()
    assert set(state) == set(served), sorted(set(state) ^ set(served))[:5]
    for key, value in served.items():
        assert torch.equal(state[key].cpu(), value), key


@pytest.fixture(scope="module")
def resnet_dir(tmp_path_factory) -> Path:
    """A tiny ResNet saved as microsoft/resnet-50 ships: classification weights + a ConvNeXt processor."""
    folder = tmp_path_factory.mktemp("resnet-50")
    torch.manual_seed(1)
    model = ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 12], depths=[1, 1],
                                                      layer_type="basic", num_labels=5))
    with torch.no_grad():  # non-trivial batch-norm statistics, so buffers are checked too
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    model.save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875, resample=3, image_mean=[0.485, 0.456, 0.406],
                           image_std=[0.229, 0.224, 0.225]).save_pretrained(folder)
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    return folder


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    """A tiny full CLIP checkpoint (text and vision towers) with its processor."""
    return save_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "thoughtviz"
    simulate_dataset("thoughtviz", **SIM).save_to_disk(str(path))
    return str(path)


# ------------------------------------------------------------------------------------------------------------
# Loading


def test_local_resnet_folder_gives_the_served_weights_and_preprocessing(resnet_dir):
    served = _served(resnet_dir, "resnet.")
    clip = EEGClipModel.from_vision_pretrained("tiny", vision_model=str(resnet_dir))
    i2e = ImageToEEGModel.from_vision_pretrained("tiny", vision_model=str(resnet_dir))
    for model in (clip, i2e):
        assert type(model.vision_model).__name__ == "ResNetModel"
        assert_tower_equals(model.vision_model, served)
        config = model.config
        assert config.vision_model_name_or_path == str(resnet_dir) and config.vision_model_revision is None
        assert config.vision_weights_sha256 == _sha256(resnet_dir / "model.safetensors")
        assert config.vision_config.hidden_sizes == [8, 12] and config.vision_config.architectures is None
        # ConvNeXt rule: shortest edge 32 / crop_pct 0.875 = 36, centre crop 32, bicubic, the repo's mean/std
        assert (config.image_size, config.image_resize_size, config.image_resample) == (32, 36, 3)
        assert config.image_std == pytest.approx([0.229, 0.224, 0.225])
    assert clip.config.freeze_vision_tower and not any(p.requires_grad for p in clip.vision_model.parameters())
    # the package's processors give exactly the repo processor's pixels
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8))
    reference = AutoImageProcessor.from_pretrained(resnet_dir)(images=[picture], return_tensors="pt").pixel_values
    for processor in (make_image_processor(clip.config), i2e.build_image_processor()):
        assert torch.equal(processor(images=[picture], return_tensors="pt").pixel_values, reference)
    with torch.no_grad():
        out = clip.eval()(eeg_values=torch.rand(2, 4, 32), pixel_values=reference.repeat(2, 1, 1, 1))
    assert out.logits_per_eeg.shape == (2, 2)


def test_full_clip_checkpoint_loads_only_its_vision_tower(clip_dir):
    served = _served(clip_dir, "vision_model.")
    assert served and not any(k.startswith("text_model") for k in served)
    tower, values, image = load_vision_tower(str(clip_dir))
    assert type(tower).__name__ == "CLIPVisionModel" and values["vision_config"].model_type == "clip_vision_model"
    assert_tower_equals(tower, served)
    model = EEGClipModel.from_vision_pretrained("tiny", vision_model=str(clip_dir))
    assert type(model.vision_model).__name__ == "CLIPVisionModel" and model.config.vision_embed_dim == 24
    assert_tower_equals(model.vision_model, served)
    assert (model.config.image_size, model.config.image_resize_size) == (32, 32)
    assert model.config.image_mean == pytest.approx(list(CLIPImageProcessor().image_mean))
    i2e = ImageToEEGModel.from_vision_pretrained("tiny", vision_model=str(clip_dir))
    assert_tower_equals(i2e.vision_model, served)
    with torch.no_grad():
        assert i2e.eval()(pixel_values=torch.randn(2, 3, 32, 32)).eeg_embeds.shape == (2, 12)


def test_processor_layouts_and_refusals():
    from transformers import SiglipImageProcessor, ViTImageProcessor

    siglip = image_settings_from_processor(SiglipImageProcessor(size={"height": 48, "width": 48}))
    assert (siglip["image_size"], siglip["image_resize_size"], siglip["image_mean"]) == (48, None, [0.5] * 3)
    big = image_settings_from_processor(ConvNextImageProcessor(size={"shortest_edge": 384}))
    assert (big["image_size"], big["image_resize_size"]) == (384, None)  # ConvNeXt warps from 384 up
    with pytest.raises(ValueError, match="square"):
        image_settings_from_processor(CLIPImageProcessor(size={"shortest_edge": 32}, do_center_crop=False))
    with pytest.raises(ValueError, match="rescales"):
        image_settings_from_processor(ViTImageProcessor(rescale_factor=1 / 127.5))
    with pytest.raises(ValueError, match="Hub repo id or a local folder"):
        load_vision_tower("")


def test_checkpoint_without_the_pooler_weights_is_refused(tmp_path):
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=16,
                       patch_size=8)
    ViTForImageClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="pooler.dense"):  # ViTModel's pooler is not in a classifier checkpoint
        EEGClipModel.from_vision_pretrained("tiny", vision_model=str(tmp_path))


# ------------------------------------------------------------------------------------------------------------
# The loopback Hub: served as microsoft/resnet-50, then offline from the cache, then remote code only

ONLINE = r"""
import json, sys
from huggingface_hub import HfApi
from eeg2img_hf.models import EEGClipModel, ImageToEEGModel, make_image_processor
resnet, clip, out = sys.argv[1:4]
api = HfApi()
for repo, folder in (("microsoft/resnet-50", resnet), ("org/tiny-clip", clip)):
    api.create_repo(repo, exist_ok=True)
    api.upload_folder(folder_path=folder, repo_id=repo)
model = EEGClipModel.from_vision_pretrained("tiny", vision_model="microsoft/resnet-50")
model.save_pretrained(out)
make_image_processor(model.config).save_pretrained(out)  # as train_clip saves it
i2e = ImageToEEGModel.from_vision_pretrained("tiny", vision_model="org/tiny-clip")
print("RESULT" + json.dumps({"sha": api.model_info("microsoft/resnet-50").sha, "config": model.config.to_dict(),
                             "i2e_tower": type(i2e.vision_model).__name__,
                             "i2e_revision": i2e.config.vision_model_revision,
                             "clip_sha": api.model_info("org/tiny-clip").sha}))
"""

OFFLINE = r"""
import json, sys
import torch
from safetensors.torch import load_file
from eeg2img_hf.models import EEGClipModel
resnet = sys.argv[1]
served = {k[len("resnet."):]: v for k, v in load_file(resnet + "/model.safetensors").items() if k.startswith("resnet.")}
model = EEGClipModel.from_vision_pretrained("tiny", vision_model="microsoft/resnet-50")  # from the cache only
state = model.vision_model.state_dict()
assert set(state) == set(served) and all(torch.equal(state[k], v) for k, v in served.items())
print("RESULT" + json.dumps({"revision": model.config.vision_model_revision}))
"""

REMOTE_ONLY = r"""
import json, sys
sys.modules["eeg2img_hf"] = None  # the package must not be needed
import torch
from safetensors.torch import load_file
from transformers import AutoImageProcessor, AutoModel
resnet, folder = sys.argv[1:3]
served = {k[len("resnet."):]: v for k, v in load_file(resnet + "/model.safetensors").items() if k.startswith("resnet.")}
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
state = model.vision_model.state_dict()
assert set(state) == set(served) and all(torch.equal(state[k], v) for k, v in served.items())
processor = AutoImageProcessor.from_pretrained(folder)
print("RESULT" + json.dumps({"class": type(model).__module__, "crop": processor.crop_size["height"],
                             "source": model.config.vision_model_name_or_path}))
"""


def _run(code: str, args: list[str], env: dict[str, str]) -> dict:
    full_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=full_env, capture_output=True,
                          text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, f"failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, proc.stdout[-2000:]
    return json.loads(lines[-1][len("RESULT"):])


def test_hub_repo_then_offline_cache_then_remote_code(hub_server, resnet_dir, clip_dir, tmp_path):
    env = hub_server.client_env(hf_home=tmp_path / "hf")
    saved = tmp_path / "eeg_clip"
    online = _run(ONLINE, [str(resnet_dir), str(clip_dir), str(saved)], env)
    config = online["config"]
    assert config["vision_model_name_or_path"] == "microsoft/resnet-50"
    assert config["vision_model_revision"] == online["sha"] and len(online["sha"]) == 40
    assert config["vision_weights_sha256"] == _sha256(resnet_dir / "model.safetensors")
    assert online["i2e_tower"] == "CLIPVisionModel" and online["i2e_revision"] == online["clip_sha"]
    # the saved folder holds the tower: its weights are the served ones, with no download
    served = _served(resnet_dir, "resnet.")
    reloaded = EEGClipModel.from_pretrained(saved)
    assert_tower_equals(reloaded.vision_model, served)
    assert not any(p.requires_grad for p in reloaded.vision_model.parameters())
    # offline, in a fresh process: the cached repo loads at the same revision
    offline = _run(OFFLINE, [str(resnet_dir)], {**env, "HF_HUB_OFFLINE": "1"})
    assert offline["revision"] == online["sha"]
    # remote code only, offline: the folder is self-contained (weights, code, processor)
    remote = _run(REMOTE_ONLY, [str(resnet_dir), str(saved)], {**env, "HF_HUB_OFFLINE": "1"})
    assert remote["class"].startswith("transformers_modules.") and remote["crop"] == 32
    assert remote["source"] == "microsoft/resnet-50"


# ------------------------------------------------------------------------------------------------------------
# Training: the authors' presets, the refusal, the opt-in, and a tiny run with --vision-model


def test_authors_presets_default_to_resnet50_and_other_presets_need_nothing():
    assert ClipTrainingArguments.from_preset("authors").vision_model == "microsoft/resnet-50"
    assert ImageToEEGTrainingArguments.from_preset("authors", encoder="e").vision_model == "microsoft/resnet-50"
    assert ClipTrainingArguments.from_preset("cpu-small").vision_model is None
    with pytest.raises(ValueError, match="vision_revision needs vision_model"):
        ClipTrainingArguments.from_preset("cpu-small", vision_revision="main")
    with pytest.raises(ValueError, match="allow_random_vision_tower"):
        ClipTrainingArguments.from_preset("cpu-small", allow_random_vision_tower="yes")


def test_random_frozen_tower_is_refused_unless_opted_in(data_dir, tmp_path, capsys):
    base = {"dataset": data_dir, "model_preset": "tiny", "simulate": {}, "log_with": ["csv"]}
    with pytest.raises(RandomFrozenTowerError, match="would stay random") as refused:
        train_clip(ClipTrainingArguments.from_preset("cpu-small", output_dir=str(tmp_path / "a"), **base))
    assert "--vision-model" in str(refused.value) and "--allow-random-vision-tower" in str(refused.value)
    assert not (tmp_path / "a").exists()  # refused before anything is written
    info = get_eeg_info(load_eeg_dataset(data_dir))
    args = ClipTrainingArguments.from_preset("cpu-small", output_dir=str(tmp_path / "b"), **base)
    with pytest.raises(RandomFrozenTowerError):
        build_clip_model(args, info, SIM["classes"])
    opted_in = ClipTrainingArguments.from_preset("cpu-small", output_dir=str(tmp_path / "b"),
                                                 allow_random_vision_tower=True, **base)
    assert build_clip_model(opted_in, info, SIM["classes"]).config.vision_model_name_or_path is None
    trained = ClipTrainingArguments.from_preset("cpu-small", output_dir=str(tmp_path / "b"), **{**base,
                                                "model_config": {"freeze_vision_tower": False}})
    assert not build_clip_model(trained, info, SIM["classes"]).config.freeze_vision_tower
    # the command line names the option
    assert main(["train-clip", "--model-preset", "tiny", "--dataset", data_dir, "--output-dir",
                 str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "--vision-model REPO_OR_PATH" in err and "Traceback" not in err

    EEGEncoderModel(EEGEncoderConfig(n_chans=14, n_times=32, lstm_num_layers=1, lstm_hidden_size=8,
                                     embed_dim=12)).save_pretrained(tmp_path / "encoder")
    assert main(["train-image-to-eeg", "--preset", "tiny", "--freeze-vision-tower", "yes", "--encoder",
                 str(tmp_path / "encoder"), "--dataset", data_dir, "--output-dir", str(tmp_path / "d")]) == 2
    assert "--vision-model REPO_OR_PATH" in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_missing_or_unreachable_vision_model_is_named_before_any_data(data_dir, tmp_path):
    base = {"dataset": data_dir, "simulate": {}, "output_dir": str(tmp_path / "out"), "log_with": ["csv"]}
    with pytest.raises(BadModelFolderError, match="no such folder"):
        train_clip(ClipTrainingArguments.from_preset("cpu-small", vision_model=str(tmp_path / "missing"), **base))
    with pytest.raises(HubAccessError, match="'microsoft/resnet-50' \\(--vision-model"):  # offline, nothing cached
        train_clip(ClipTrainingArguments.from_preset("authors", **base))
    assert not (tmp_path / "out").exists()


def test_train_clip_with_a_local_vision_model(resnet_dir, data_dir, tmp_path, capsys):
    source = tmp_path / "resnet"  # a copy, deleted before the saved model is reloaded
    shutil.copytree(resnet_dir, source)
    served = _served(resnet_dir, "resnet.")
    out = tmp_path / "run"
    assert main(["train-clip", "--preset", "cpu-small", "--model-preset", "tiny", "--vision-model", str(source),
                 "--dataset", data_dir, "--output-dir", str(out), "--epochs", "1", "--batch-size", "4",
                 "--log-with", "csv"]) == 0
    capsys.readouterr()
    shutil.rmtree(source)
    model_dir = out / "model"
    model = EEGClipModel.from_pretrained(model_dir)
    assert_tower_equals(model.vision_model, served)  # frozen: training left the pretrained weights as served
    processor = json.loads((model_dir / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": 36} and processor["crop_size"] == {"height": 32, "width": 32}
    assert processor["resample"] == 3 and processor["image_mean"] == pytest.approx([0.485, 0.456, 0.406])
    record = json.loads((model_dir / "eeg2img_training.json").read_text())
    expected = {"model_type": "resnet", "weights": "pretrained", "frozen": True, "name_or_path": str(source),
                "revision": None, "weights_sha256": _sha256(resnet_dir / "model.safetensors")}
    assert record["vision_tower"] == expected
    result = evaluate_clip(model_dir, data_dir, split="test", train_heads=False)
    assert result["vision_tower"] == expected
    card = str(render_model_card(model_dir, evaluation=result))
    assert f"pretrained weights from `{source}`" in card and expected["weights_sha256"] in card


def test_train_image_to_eeg_with_a_local_vision_model(resnet_dir, data_dir, tmp_path):
    encoder = EEGEncoderConfig(n_chans=14, n_times=32, lstm_num_layers=1, lstm_hidden_size=8, embed_dim=12)
    torch.manual_seed(0)
    EEGEncoderModel(encoder).save_pretrained(tmp_path / "encoder")
    args = ImageToEEGTrainingArguments.from_preset(
        "tiny", encoder=str(tmp_path / "encoder"), dataset=data_dir, output_dir=str(tmp_path / "run"), epochs=1,
        vision_model=str(resnet_dir), model_config={"freeze_vision_tower": True})
    summary = train_image_to_eeg(args)
    model_dir = Path(summary["model_dir"])
    model = ImageToEEGModel.from_pretrained(model_dir)
    assert_tower_equals(model.vision_model, _served(resnet_dir, "resnet."))
    assert summary["vision_tower"]["weights"] == "pretrained"
    assert AutoImageProcessor.from_pretrained(model_dir).crop_size["height"] == 32
    generator = EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).eval()
    judge = ImageClassifier(ImageClassifierConfig(classes=SIM["classes"], image_size=16, widths=[4])).eval()
    report = evaluate_reconstruction(model_dir, generator, data_dir, judge, splits=("test",))
    assert report["vision_tower"]["name_or_path"] == str(resnet_dir)
    assert report["vision_tower"]["weights_sha256"] == _sha256(resnet_dir / "model.safetensors")
    assert "pretrained weights from" in str(render_model_card(model_dir))
    # the tiny preset trains its tower from scratch: no option needed, and the card says so
    scratch = ImageToEEGTrainingArguments.from_preset("tiny", encoder=str(tmp_path / "encoder"), dataset=data_dir,
                                                      output_dir=str(tmp_path / "scratch"), epochs=1)
    assert train_image_to_eeg(scratch)["vision_tower"]["weights"] == "trained from scratch"
    assert "trained from scratch" in str(render_model_card(tmp_path / "scratch" / "model"))
