"""Push every model family to the loopback Hub-protocol server, then load it by repo id in fresh processes:
with the package, with remote code only (the package made unimportable), and offline from the cache.

`huggingface_hub` reads `HF_ENDPOINT` at import time, so every client runs in a subprocess with
`hub_server.client_env(...)` and its own `HF_HOME`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import eeg2img_hf.pipelines  # noqa: F401  (registers the pipeline tasks used below)
from eeg2img_hf.hub.push import prepare_model_folder
from eeg2img_hf.models import (
    EEGClipConfig,
    EEGClipModel,
    EEGEncoderConfig,
    EEGEncoderModel,
    EEGStyleGANConfig,
    EEGStyleGANDiscriminator,
    EEGStyleGANGenerator,
    EEGStyleGANModel,
    ImageToEEGConfig,
    ImageToEEGModel,
)
from eeg2img_hf.training.train_gan import resolve_init_from
from eeg2img_hf.utils.errors import BadModelFolderError, HubAccessError

REPO_ROOT = Path(__file__).resolve().parents[1]
N_CHANS, N_TIMES = 4, 32

GAN_EVAL = {"model": "gan", "dataset": "thoughtviz", "reference_split": "test", "fid": 201.5,
            "kid": {"mean": 0.081, "std": 0.01, "num_subsets": 10}, "inception_score": {"mean": 1.9, "std": 0.1},
            "class_accuracy": {"generated": 0.4, "chance": 0.1}}
GAN_RECORD = {"dataset": "thoughtviz", "encoder": "org/tiny-encoder", "kimg": 0.032, "steps": 4, "augment_p": 0.0,
              "dataset_info": {"name": "sim-thoughtviz", "simulated": True, "sfreq": 128.0,
                               "split": {"strategy": "by_block", "seed": 0}}}

PUSH = r"""
import json, sys
from eeg2img_hf.cli import main
from eeg2img_hf.hub import push_model
root = sys.argv[1]
assert main(["push", f"{root}/gan", "org/gan", "--evaluation", f"{root}/gan_eval.json", "--message", "first push",
             "--dataset-repo-id", "org/sim-tv"]) == 0
urls = {name: push_model(f"{root}/{name}", f"org/{name}") for name in ("encoder", "clip", "i2e")}
print("URLS" + json.dumps(urls))
"""

# Loads each pushed repo by id and checks its outputs against the local models' (saved in io.npz).
LOAD = r"""
import json, sys
if sys.argv[2] == "remote-only":
    sys.modules["eeg2img_hf"] = None  # the package must not be needed
import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, pipeline
io = np.load(sys.argv[1] + "/io.npz")
eeg = io["eeg"]
out = {}
def check(name, got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
    out[name] = "ok"
if sys.argv[2] == "package":
    from eeg2img_hf import EEGStyleGANModel
    gan = EEGStyleGANModel.from_pretrained("org/gan").eval()
    auto = AutoModel.from_pretrained("org/gan")
    out["auto_class"] = type(auto).__module__ + "." + type(auto).__name__
    pipe = pipeline("eeg-to-image", model="org/gan", device="cpu")  # the installed pipeline, no remote code
    out["pipeline_class"] = type(pipe).__module__
    np.testing.assert_array_equal(pipe(eeg[0], seed=0, output_type="np")["images"][0], io["images"])
    out["pipeline"] = "ok"
else:
    gan = AutoModel.from_pretrained("org/gan", trust_remote_code=True).eval()
    pipe = pipeline("eeg-to-image", model="org/gan", trust_remote_code=True, device="cpu")
    out["pipeline_class"] = type(pipe).__module__
    np.testing.assert_array_equal(pipe(eeg[0], seed=0, output_type="np")["images"][0], io["images"])
    out["pipeline"] = "ok"
out["gan_class"] = type(gan).__module__
with torch.no_grad():
    check("gan", gan(eeg_values=torch.from_numpy(eeg), latents=torch.from_numpy(io["latents"])).images.numpy(),
          io["gan_images"])
    trust = sys.argv[2] == "remote-only"
    encoder = AutoModel.from_pretrained("org/encoder", trust_remote_code=trust).eval()
    check("encoder", encoder(eeg_values=torch.from_numpy(eeg)).eeg_embeds.numpy(), io["encoder_embeds"])
    clip = AutoModel.from_pretrained("org/clip", trust_remote_code=trust).eval()
    check("clip", clip.get_eeg_features(torch.from_numpy(eeg)).numpy(), io["clip_embeds"])
    processor = AutoImageProcessor.from_pretrained("org/clip")
    out["clip_processor"] = type(processor).__name__
    i2e = AutoModel.from_pretrained("org/i2e", trust_remote_code=trust).eval()
    check("i2e", i2e(pixel_values=torch.from_numpy(io["pixels"])).eeg_embeds.numpy(), io["i2e_embeds"])
if trust:
    recon = pipeline("image-to-eeg-to-image", model="org/i2e", generator=gan, trust_remote_code=True, device="cpu")
    image = Image.fromarray(io["picture"])
    out["i2e_pipeline"] = type(recon).__module__
    result = recon(image, seed=0, output_type="np")
    np.testing.assert_array_equal(result["images"][0], io["reconstruction"])
    out["i2e_reconstruction"] = "ok"
print("RESULT" + json.dumps(out))
"""


def _run(code: str, args: list[str], env: dict[str, str], marker: str = "RESULT") -> dict:
    full_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=full_env, capture_output=True,
                          text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith(marker)]
    assert lines, f"no {marker} line:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1][len(marker) :])


def _repo_files(hub, repo_id: str) -> list[str]:
    with urllib.request.urlopen(f"{hub.endpoint}/api/models/{repo_id}/tree/main?recursive=true") as resp:
        return sorted(e["path"] for e in json.load(resp) if e["type"] == "file")


def _read(hub, repo_id: str, path: str) -> str:
    with urllib.request.urlopen(f"{hub.endpoint}/{repo_id}/resolve/main/{path}") as resp:
        return resp.read().decode()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """Tiny models of all four families saved with save_pretrained, plus their expected outputs."""
    from transformers import pipeline

    root = tmp_path_factory.mktemp("push-model")
    torch.manual_seed(0)
    enc_config = EEGEncoderConfig(n_chans=N_CHANS, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10,
                                  embed_dim=12)
    encoder = EEGEncoderModel(enc_config).eval()
    gan = EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=enc_config)).eval()
    clip = EEGClipModel(EEGClipConfig.from_preset("tiny")).eval()
    i2e = ImageToEEGModel(ImageToEEGConfig.from_preset("tiny", eeg_embed_dim=12)).eval()
    for name, model in (("encoder", encoder), ("gan", gan), ("clip", clip), ("i2e", i2e)):
        model.save_pretrained(root / name)
    (root / "gan" / "eeg2img_training.json").write_text(json.dumps(GAN_RECORD))
    (root / "gan_eval.json").write_text(json.dumps(GAN_EVAL))
    generator = torch.Generator().manual_seed(1)
    eeg = torch.rand(2, N_CHANS, N_TIMES, generator=generator) + 0.1
    latents = torch.randn(2, gan.config.z_dim, generator=generator)
    size = i2e.config.image_size
    pixels = torch.randn(2, 3, size, size, generator=generator)
    pipe = pipeline("eeg-to-image", model=gan, device="cpu")
    picture = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    recon = pipeline("image-to-eeg-to-image", model=i2e, generator=gan, device="cpu")
    with torch.no_grad():
        np.savez(root / "io.npz", eeg=eeg.numpy(), latents=latents.numpy(), pixels=pixels.numpy(),
                 images=pipe(eeg[0].numpy(), seed=0, output_type="np")["images"][0],
                 gan_images=gan(eeg_values=eeg, latents=latents).images.numpy(),
                 encoder_embeds=encoder(eeg_values=eeg).eeg_embeds.numpy(),
                 clip_embeds=clip.get_eeg_features(eeg).numpy(),
                 i2e_embeds=i2e(pixel_values=pixels).eeg_embeds.numpy(),
                 picture=picture, reconstruction=recon(Image.fromarray(picture), seed=0, output_type="np")["images"][0])
    return root


@pytest.mark.integration
def test_push_then_load_with_package_remote_code_and_offline(hub_server, models, tmp_path) -> None:
    before = sorted(p.name for p in (models / "gan").iterdir())
    urls = _run(PUSH, [str(models)], hub_server.client_env(hf_home=tmp_path / "hf-push"), marker="URLS")
    assert urls == {name: f"{hub_server.endpoint}/org/{name}" for name in ("encoder", "clip", "i2e")}
    assert sorted(p.name for p in (models / "gan").iterdir()) == before  # the local folder is not modified

    gan_files = _repo_files(hub_server, "org/gan")
    assert {"README.md", "config.json", "model.safetensors", "eval_results.json", "eeg_to_image.py", "precision.py",
            "modeling_eeg_stylegan.py", "configuration_eeg_stylegan.py", "ops_stylegan.py",
            "modeling_eeg_encoder.py", "configuration_eeg_encoder.py", "eeg2img_training.json"} <= set(gan_files)
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in gan_files)
    config = json.loads(_read(hub_server, "org/gan", "config.json"))
    assert config["custom_pipelines"]["eeg-to-image"]["impl"] == "eeg_to_image.EEGToImagePipeline"
    assert config["auto_map"]["AutoModel"] == "modeling_eeg_stylegan.EEGStyleGANModel"
    assert json.loads(_read(hub_server, "org/gan", "eval_results.json")) == GAN_EVAL
    readme = _read(hub_server, "org/gan", "README.md")
    assert "value: 201.5" in readme and "base_model: org/tiny-encoder" in readme and "SIMULATED" in readme
    assert {"preprocessor_config.json", "image_to_eeg_to_image.py", "eeg_to_image.py", "precision.py"} <= set(
        _repo_files(hub_server, "org/i2e"))
    assert "preprocessor_config.json" in _repo_files(hub_server, "org/clip")
    assert "custom_pipelines" not in json.loads(_read(hub_server, "org/clip", "config.json"))

    # (a) with the package, online
    package = _run(LOAD, [str(models), "package"], hub_server.client_env(hf_home=tmp_path / "hf-package"))
    assert package["auto_class"].startswith("eeg2img_hf.") and package["gan_class"].startswith("eeg2img_hf.")
    assert package["pipeline_class"].startswith("eeg2img_hf.")
    assert {package[k] for k in ("pipeline", "gan", "encoder", "clip", "i2e")} == {"ok"}
    # (b) remote code only, online; (c) the same again offline from that cache
    env = hub_server.client_env(hf_home=tmp_path / "hf-remote")
    for offline in ("0", "1"):
        remote = _run(LOAD, [str(models), "remote-only"], {**env, "HF_HUB_OFFLINE": offline})
        assert remote["pipeline_class"].startswith("transformers_modules."), remote
        assert remote["gan_class"].startswith("transformers_modules.")
        assert {remote[k] for k in ("pipeline", "gan", "encoder", "clip", "i2e")} == {"ok"}
        assert remote["i2e_pipeline"].startswith("transformers_modules.")
        assert remote["i2e_reconstruction"] == "ok" and remote["clip_processor"].startswith("CLIPImageProcessor")


def test_push_model_refuses_bad_folders(models, tmp_path) -> None:
    from eeg2img_hf.hub import push_model
    from eeg2img_hf.hub.push import prepare_model_folder

    with pytest.raises(ValueError, match="org/name"):
        push_model(models / "gan", "no-namespace")
    with pytest.raises(ValueError, match="not a directory"):
        push_model(tmp_path / "missing", "org/x")
    bad = tmp_path / "pickled"
    bad.mkdir()
    for name in ("config.json", "model.safetensors", "modeling_eeg_encoder.py", "configuration_eeg_encoder.py"):
        (bad / name).write_bytes((models / "encoder" / name).read_bytes())
    (bad / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match="pickle-based weight files"):
        push_model(bad, "org/x")
    (bad / "pytorch_model.bin").unlink()
    (bad / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a valid safetensors"):
        push_model(bad, "org/x")
    (bad / "model.safetensors").write_bytes((models / "encoder" / "model.safetensors").read_bytes())
    (bad / "modeling_eeg_encoder.py").write_text("from eeg2img_hf.models import EEGEncoderModel\n")
    with pytest.raises(ValueError, match="imports eeg2img_hf"):
        push_model(bad, "org/x")
    (bad / "modeling_eeg_encoder.py").write_text("from .helpers import x\n")
    with pytest.raises(ValueError, match="helpers.py is not in the folder"):
        push_model(bad, "org/x")
    with pytest.raises(ValueError, match="not empty"):
        prepare_model_folder(models / "encoder", models / "gan", repo_id="org/x")


def test_prepare_model_folder_stages_pipeline_and_processor(models, tmp_path) -> None:
    from eeg2img_hf.hub.push import prepare_model_folder

    staged = prepare_model_folder(models / "i2e", tmp_path / "i2e", repo_id="org/i2e")
    assert {"README.md", "config.json", "model.safetensors", "preprocessor_config.json", "eeg_to_image.py",
            "image_to_eeg_to_image.py", "modeling_image_to_eeg.py"} <= set(staged)
    config = json.loads((tmp_path / "i2e" / "config.json").read_text())
    assert config["custom_pipelines"]["image-to-eeg-to-image"]["impl"] == (
        "image_to_eeg_to_image.ImageToEEGToImagePipeline")
    assert "preprocessor_config.json" not in os.listdir(models / "i2e")  # written to the staging copy only
    staged = prepare_model_folder(models / "encoder", tmp_path / "enc", repo_id="org/enc")
    assert staged == ["README.md", "config.json", "configuration_eeg_encoder.py", "model.safetensors",
                      "modeling_eeg_encoder.py"]


def test_staged_pipeline_folder_runs_installed_pipeline_without_remote_code(models, tmp_path) -> None:
    from transformers import pipeline

    from eeg2img_hf.hub.push import prepare_model_folder
    from eeg2img_hf.pipelines import EEGToImagePipeline

    prepare_model_folder(models / "gan", tmp_path / "gan", repo_id="org/gan")
    assert "eeg-to-image" in json.loads((tmp_path / "gan" / "config.json").read_text())["custom_pipelines"]
    # With the package installed its own registered pipeline runs: no trust_remote_code needed.
    pipe = pipeline("eeg-to-image", model=str(tmp_path / "gan"), device="cpu")
    assert type(pipe) is EEGToImagePipeline
    assert "custom_pipelines" not in pipe.model.config.to_dict()
    eeg = np.random.default_rng(0).standard_normal((N_CHANS, N_TIMES)).astype(np.float32)
    image = pipe(eeg, seed=0, output_type="np")["images"][0]
    assert image.ndim == 3 and np.isfinite(image).all()


# --------------------------------------------------------------------------------------- a GAN's training state


@pytest.fixture(scope="module")
def gan_with_state(models, tmp_path_factory) -> Path:
    """The tiny GAN folder plus what `convert-checkpoint stylegan-snapshot` adds: D, G and the ADA probability."""
    folder = tmp_path_factory.mktemp("gan-state") / "gan"
    shutil.copytree(models / "gan", folder)
    config = EEGStyleGANConfig.from_pretrained(folder)
    torch.manual_seed(3)
    EEGStyleGANDiscriminator(config).save_pretrained(folder / "discriminator")
    EEGStyleGANGenerator(config).save_pretrained(folder / "generator")
    (folder / "gan_init_state.json").write_text(json.dumps({"augment_p": 0.25}))
    return folder


def test_training_state_is_staged_only_when_asked(models, gan_with_state, tmp_path) -> None:
    plain = prepare_model_folder(gan_with_state, tmp_path / "plain", repo_id="org/gan")
    assert not {"discriminator", "generator", "gan_init_state.json"} & set(plain)  # the default: inference only
    staged = prepare_model_folder(gan_with_state, tmp_path / "state", repo_id="org/gan", include_training_state=True)
    assert {"discriminator", "generator", "gan_init_state.json"} <= set(staged)
    for name in ("discriminator", "generator"):
        files = {p.name for p in (tmp_path / "state" / name).iterdir()}
        assert files == {p.name for p in (gan_with_state / name).iterdir()} and "model.safetensors" in files
        assert (tmp_path / "state" / name / "model.safetensors").read_bytes() == (
            gan_with_state / name / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="has no discriminator/ folder"):
        prepare_model_folder(models / "gan", tmp_path / "no-d", repo_id="org/gan", include_training_state=True)
    with pytest.raises(ValueError, match="has no discriminator/ folder"):
        prepare_model_folder(models / "encoder", tmp_path / "enc", repo_id="org/enc", include_training_state=True)
    pickled = tmp_path / "pickled"
    shutil.copytree(gan_with_state, pickled)
    (pickled / "discriminator" / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match="pickle-based weight files"):
        prepare_model_folder(pickled, tmp_path / "p", repo_id="org/gan", include_training_state=True)


def test_init_from_refuses_what_is_neither_folder_nor_reachable_repo(tmp_path, monkeypatch) -> None:
    with pytest.raises(BadModelFolderError, match="neither a folder nor a Hub model repo id"):
        resolve_init_from(str(tmp_path / "missing" / "deeper"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(HubAccessError, match="could not be downloaded"):
        resolve_init_from("org/never-pushed")


INIT_FROM = r"""
import json, sys
import torch
from safetensors.torch import load_file
from eeg2img_hf.training.train_gan import load_starting_point
local = sys.argv[1]
start = load_starting_point("org/gan-state")
same = {}
for name, state in (("discriminator", start.discriminator), ("generator", start.generator)):
    expected = load_file(f"{local}/{name}/model.safetensors")
    same[name] = sorted(expected) == sorted(state) and all(torch.equal(expected[k], state[k]) for k in expected)
print("RESULT" + json.dumps({**same, "augment_p": start.augment_p, "source": start.generator_source}))
"""


@pytest.mark.integration
def test_push_with_training_state_then_init_from_the_repo(hub_server, gan_with_state, tmp_path) -> None:
    code = "import sys\nfrom eeg2img_hf.cli import main\n" \
           "sys.exit(main(['push', sys.argv[1], 'org/gan-state', '--include-training-state']))\n"
    proc = subprocess.run([sys.executable, "-c", code, str(gan_with_state)], capture_output=True, text=True,
                          env={**os.environ, **hub_server.client_env(hf_home=tmp_path / "hf-push")}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = _repo_files(hub_server, "org/gan-state")
    assert {"discriminator/model.safetensors", "discriminator/config.json", "generator/model.safetensors",
            "gan_init_state.json", "model.safetensors"} <= set(files)
    env = hub_server.client_env(hf_home=tmp_path / "hf-train")
    for offline in ("0", "1"):  # downloaded once, then from the cache with the Hub unreachable
        result = _run(INIT_FROM, [str(gan_with_state)], {**env, "HF_HUB_OFFLINE": offline})
        assert result == {"discriminator": True, "generator": True, "augment_p": 0.25, "source": "generator"}
