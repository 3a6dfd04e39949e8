"""braindecode models as EEG encoder towers (`architecture="braindecode"`).

The default tier checks what needs no braindecode (configuration checks, the refusal when it is missing, the safe
resolution of module types); the integration tier (`make test-integration` installs the `braindecode` extra) checks
that the towers compute braindecode's own forward, survive save / load and remote code, train, inside EEGClip and the
GAN, and start from a model published with braindecode's own `push_to_hub` on the loopback Hub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.hub import render_model_card
from eeg2img_hf.models import (
    EEGClipConfig,
    EEGClipModel,
    EEGEncoderConfig,
    EEGEncoderModel,
    EEGStyleGANConfig,
    EEGStyleGANModel,
)
from eeg2img_hf.models.eeg_encoder.modeling_eeg_encoder import (
    BraindecodeNotInstalledError,
    braindecode_class,
    resolve_module_types,
)
from eeg2img_hf.training import EncoderTrainingArguments
from eeg2img_hf.training.braindecode_init import braindecode_hub_file, load_braindecode_weights
from eeg2img_hf.training.train_encoder import build_encoder

REPO_ROOT = Path(__file__).resolve().parents[1]
N_CHANS = 4
LABRAM_CHANNELS = [{"ch_name": name} for name in ("FP1", "FPZ", "FP2", "AF9")]
# class -> (n_times, extra arguments): the smallest of 16, 32, 64, 96, 128 samples each class accepts at 128 Hz
MODELS = {
    "EEGNet": (32, {}),
    "ShallowFBCSPNet": (128, {}),
    "Deep4Net": (16, {}),
    "EEGConformer": (128, {}),
    "ATCNet": (16, {}),
    "EEGNeX": (32, {}),
    "Labram": (200, {"chs_info": LABRAM_CHANNELS}),  # a foundation model (one 200-sample patch); channel names
}


def braindecode_config(name: str, **overrides) -> EEGEncoderConfig:
    n_times, kwargs = MODELS[name]
    fields = dict(architecture="braindecode", braindecode_model=name, braindecode_kwargs=kwargs, n_chans=N_CHANS,
                  n_times=n_times, sfreq=128.0, embed_dim=12, input_normalization="none")
    return EEGEncoderConfig(**{**fields, **overrides})


# ----------------------------------------------------------------------------------------------------------
# Default tier: no braindecode needed


def test_config_refuses_a_braindecode_tower_without_class_or_with_reserved_arguments():
    with pytest.raises(ValueError, match="needs braindecode_model"):
        EEGEncoderConfig(architecture="braindecode")
    with pytest.raises(ValueError, match=r"must not set \['n_outputs'\]"):
        EEGEncoderConfig(architecture="braindecode", braindecode_model="EEGNet", braindecode_kwargs={"n_outputs": 3})


def test_missing_braindecode_is_refused_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "braindecode", None)  # as if not installed
    with pytest.raises(BraindecodeNotInstalledError, match="pip install braindecode") as info:
        EEGEncoderModel(EEGEncoderConfig(architecture="braindecode", braindecode_model="EEGNet", n_chans=4,
                                         n_times=64))
    assert isinstance(info.value, ImportError) and isinstance(info.value, ValueError)


def test_cli_refuses_braindecode_runs_clearly(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "braindecode", None)
    data = tmp_path / "data"
    simulate_dataset("thoughtviz", seed=0, n_subjects=2, images_per_class=1).save_to_disk(str(data))
    base = ["train-encoder", "--dataset", str(data), "--output-dir", str(tmp_path / "run"), "--max-steps", "1"]
    cases = [
        (["--architecture", "braindecode", "--braindecode-model", "EEGNet"], "pip install braindecode"),
        (["--architecture", "braindecode"], "needs braindecode_model"),
        (["--architecture", "lstm", "--braindecode-model", "EEGNet"], "need architecture 'braindecode'"),
        (["--architecture", "braindecode", "--braindecode-model", "EEGNet", "--braindecode-kwargs", "[1]"],
         "expected a JSON object"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        try:
            status = main(base + extra)
        except SystemExit as exit_:  # argparse refuses the JSON argument itself
            status = exit_.code
        err = capsys.readouterr().err
        assert status == 2 and message in err and "Traceback" not in err, err


def test_module_type_names_resolve_only_to_torch_nn_modules():
    class Model(nn.Module):
        def __init__(self, activation: type[nn.Module] = nn.ELU, name: str = "x") -> None:
            super().__init__()

    resolved = resolve_module_types(Model, {"activation": "torch.nn.modules.activation.GELU", "name": "a.b"})
    assert resolved == {"activation": nn.GELU, "name": "a.b"}  # a plain string argument stays a string
    for bad in ("os.system", "torch.nn.functional.relu", "torch.nn.NoSuchLayer"):
        with pytest.raises(ValueError, match="must name a torch.nn module class"):
            resolve_module_types(Model, {"activation": bad})


def test_init_from_refuses_a_folder_without_braindecode_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        braindecode_hub_file(str(tmp_path), "model.safetensors")


# ----------------------------------------------------------------------------------------------------------
# Integration tier: braindecode installed


def _braindecode_forward(name: str, model: nn.Module, eeg: torch.Tensor) -> torch.Tensor:
    """braindecode's own model of the same class and weights, run as braindecode documents it."""
    n_times, kwargs = MODELS[name]
    reference = braindecode_class(name)(n_chans=N_CHANS, n_times=n_times, n_outputs=12, sfreq=128.0, **kwargs)
    reference.load_state_dict(model.tower.model.state_dict())
    reference.eval()
    if "chs_info" in kwargs:
        return reference(eeg, ch_names=[ch["ch_name"] for ch in kwargs["chs_info"]])
    return reference(eeg)


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(MODELS))
def test_tower_equals_braindecode_forward_and_round_trips(name, tmp_path):
    torch.manual_seed(0)
    model = EEGEncoderModel(braindecode_config(name)).eval()
    eeg = torch.randn(3, N_CHANS, MODELS[name][0])
    with torch.no_grad():
        embeds = model(eeg_values=eeg).eeg_embeds
        expected = F.normalize(model.tower.proj(_braindecode_forward(name, model, eeg)), dim=-1)
    torch.testing.assert_close(embeds, expected, rtol=0, atol=0)
    assert model.config.braindecode_version == __import__("braindecode").__version__
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["braindecode_model"], saved["braindecode_version"]) == (name, model.config.braindecode_version)
    loaded = EEGEncoderModel.from_pretrained(tmp_path).eval()
    state, again = model.state_dict(), loaded.state_dict()
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)
    with torch.no_grad():
        torch.testing.assert_close(loaded(eeg_values=eeg).eeg_embeds, embeds, rtol=0, atol=0)


@pytest.mark.integration
def test_braindecode_initialisation_is_kept():
    """The tower's braindecode model starts from braindecode's initialisation, not the other towers' fan-in uniform
    one: ShallowFBCSPNet's zero convolution and classifier biases stay zero."""
    ours = EEGEncoderModel(braindecode_config("ShallowFBCSPNet")).tower.model.state_dict()
    fresh = braindecode_class("ShallowFBCSPNet")(n_chans=N_CHANS, n_times=128, n_outputs=12).state_dict()
    constant = [k for k, v in fresh.items() if v.is_floating_point() and bool((v == v.flatten()[0]).all())]
    assert {"conv_time_spat.conv_time.bias", "final_layer.conv_classifier.bias"} <= set(constant)
    for key in constant:
        assert torch.equal(ours[key], fresh[key]), key


@pytest.mark.integration
def test_remote_code_loads_with_braindecode_and_refuses_without(tmp_path):
    torch.manual_seed(0)
    model = EEGEncoderModel(braindecode_config("EEGNet")).eval()
    model.save_pretrained(tmp_path)
    eeg = torch.randn(2, N_CHANS, MODELS["EEGNet"][0])
    torch.save(eeg, tmp_path / "x.pt")
    with torch.no_grad():
        expected = model(eeg_values=eeg).eeg_embeds
    load = f"""
        import sys
        sys.modules["eeg2img_hf"] = None  # remote code only
        if sys.argv[-1] == "without":
            sys.modules["braindecode"] = None
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        assert "eeg2img_hf" not in type(model).__module__
        torch.save(model(eeg_values=torch.load({str(tmp_path / 'x.pt')!r})).eeg_embeds, {str(tmp_path / 'out.pt')!r})
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(load), "with"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), expected, rtol=0, atol=0)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(load), "without"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and "pip install braindecode" in proc.stderr, proc.stderr[-3000:]


@pytest.mark.integration
def test_braindecode_tower_inside_eeg_clip_and_the_gan():
    encoder = braindecode_config("EEGNet", n_times=32, embed_dim=12)
    eeg = torch.randn(2, N_CHANS, 32)
    clip = EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config=encoder.to_dict())).eval()
    assert clip.eeg_model.config.architecture == "braindecode"
    assert clip.get_eeg_features(eeg).shape == (2, clip.config.projection_dim)
    gan = EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", conditioning="eeg", encoder_config=encoder)).eval()
    assert type(gan.eeg_encoder.tower.model).__name__ == "EEGNet"
    with torch.no_grad():
        images = gan(eeg_values=eeg, latents=torch.randn(2, gan.config.z_dim)).images
    assert images.shape[0] == 2 and torch.isfinite(images).all()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "thoughtviz"
    simulate_dataset("thoughtviz", seed=3, n_subjects=2, images_per_class=1).save_to_disk(str(path))
    return str(path)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["EEGNet", "EEGNeX"])
def test_train_encoder_cli_trains_a_braindecode_tower(name, data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["train-encoder", "--dataset", data_dir, "--output-dir", str(out), "--architecture",
                   "braindecode", "--braindecode-model", name, "--braindecode-kwargs", '{"drop_prob": 0.1}',
                   "--epochs", "1", "--max-steps", "3", "--batch-size", "16", "--log-with", ""])
    assert status == 0, capsys.readouterr().err
    model = EEGEncoderModel.from_pretrained(out / "model")
    assert model.config.braindecode_model == name and model.config.braindecode_kwargs == {"drop_prob": 0.1}
    assert (model.config.n_chans, model.config.n_times) == (14, 32)  # from the dataset
    fresh = EEGEncoderModel(model.config).state_dict()
    trained = load_file(out / "model" / "model.safetensors")
    assert any(not torch.equal(trained[k], fresh[k]) for k in trained if trained[k].is_floating_point())
    card = render_model_card(out / "model", repo_id="org/bd-encoder").text
    assert f"braindecode's `{name}` (built with braindecode {model.config.braindecode_version})" in card
    assert "pip install braindecode" in card


@pytest.mark.integration
def test_train_clip_cli_trains_a_braindecode_eeg_tower(tmp_path, capsys):
    from eeg2img_hf.models.eeg_clip import EEGClipModel

    data = tmp_path / "things"
    simulate_dataset("things-eeg2", n_subjects=1, n_train_concepts=12, n_test_concepts=4, train_images_per_concept=2,
                     train_repetitions=2, test_repetitions=2, image_size=16).save_to_disk(str(data))
    out = tmp_path / "clip"
    status = main(["train-clip", "--preset", "things-eeg2-sim", "--dataset", str(data), "--subjects", "1",
                   "--architecture", "braindecode", "--braindecode-model", "ShallowFBCSPNet", "--epochs", "1",
                   "--max-steps", "2", "--batch-size", "8", "--log-with", "", "--output-dir", str(out)])
    assert status == 0, capsys.readouterr().err
    tower = EEGClipModel.from_pretrained(out / "model").config.encoder_config
    assert (tower.architecture, tower.braindecode_model, tower.n_chans, tower.n_times) == (
        "braindecode", "ShallowFBCSPNet", 17, 100)
    assert main(["train-clip", "--preset", "things-eeg2-sim", "--dataset", str(data), "--braindecode-model", "EEGNet",
                 "--output-dir", str(tmp_path / "refused")]) == 2
    assert "need --architecture braindecode" in capsys.readouterr().err


PUBLISH = r"""
import sys, warnings
warnings.simplefilter("ignore")
import torch
from braindecode.models import EEGNet
torch.manual_seed(1)
model = EEGNet(n_chans=14, n_times=32, n_outputs=5, sfreq=128.0, F1=4, D=2)
model.push_to_hub(sys.argv[1])  # braindecode's own method (huggingface_hub's PyTorchModelHubMixin)
model.save_pretrained(sys.argv[2])
"""

# Builds the train-encoder model from the published repo and reports how its tensors compare with the published ones.
BUILD = r"""
import json, sys
from safetensors.torch import load_file
import torch
from eeg2img_hf.training import EncoderTrainingArguments
from eeg2img_hf.training.train_encoder import build_encoder
args = EncoderTrainingArguments.from_preset("cpu-small", dataset=sys.argv[2], architecture="braindecode",
                                            braindecode_model="EEGNet", init_from_braindecode=sys.argv[1],
                                            loss="triplet-ms", encoder_config={"embed_dim": 12})
info = {"n_chans": 14, "n_times": 32, "sfreq": 128.0}
model = build_encoder(args, info, [str(i) for i in range(10)])
published = load_file(sys.argv[3] + "/model.safetensors")
ours = model.tower.model.state_dict()
print("RESULT" + json.dumps({
    "equal": sorted(k for k in ours if torch.equal(ours[k], published[k])),
    "head": sorted(k for k in ours if ours[k].shape != published[k].shape),
    "F1": model.config.braindecode_kwargs["F1"], "out": ours["final_layer.conv_classifier.weight"].shape[0]}))
"""


def _run(code: str, args: list[str], env: dict[str, str]) -> dict:
    full_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run([sys.executable, "-c", code, *args], env=full_env, capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    return json.loads(lines[-1][len("RESULT"):]) if lines else {}


@pytest.mark.integration
def test_init_from_a_model_pushed_by_braindecode(hub_server, data_dir, tmp_path):
    local = tmp_path / "published"
    _run(PUBLISH, ["org/bd-eegnet", str(local)], hub_server.client_env(hf_home=tmp_path / "hf-push"))
    published = load_file(local / "model.safetensors")
    env = hub_server.client_env(hf_home=tmp_path / "hf-train")
    for offline in ("0", "1"):  # downloaded once, then from the cache with the Hub unreachable
        result = _run(BUILD, ["org/bd-eegnet", data_dir, str(local)], {**env, "HF_HUB_OFFLINE": offline})
        head = ["final_layer.conv_classifier.bias", "final_layer.conv_classifier.weight"]
        assert result["head"] == head, result  # 12 outputs instead of 5
        assert result["out"] == 12 and result["F1"] == 4  # the published architecture arguments are kept
        assert set(result["equal"]) == set(published) - set(head)


@pytest.mark.integration
def test_init_from_a_folder_with_the_cli_and_refusals(data_dir, tmp_path, capsys):
    import braindecode.models

    folder = tmp_path / "published"
    braindecode.models.EEGNeX(n_chans=14, n_times=32, n_outputs=5, sfreq=128.0, drop_prob=0.3).save_pretrained(folder)
    out = tmp_path / "run"
    status = main(["train-encoder", "--dataset", data_dir, "--output-dir", str(out), "--architecture", "braindecode",
                   "--braindecode-model", "EEGNeX", "--init-from-braindecode", str(folder), "--epochs", "1",
                   "--max-steps", "2", "--batch-size", "16", "--log-with", ""])
    assert status == 0, capsys.readouterr().err
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["braindecode_model"] == "EEGNeX" and saved["braindecode_kwargs"]["drop_prob"] == 0.3
    args = EncoderTrainingArguments.from_preset("cpu-small", dataset=data_dir, architecture="braindecode",
                                                braindecode_model="EEGNeX", init_from_braindecode=str(folder),
                                                loss="triplet-ms")
    model = build_encoder(args, {"n_chans": 14, "n_times": 32, "sfreq": 128.0}, ["a", "b"])
    assert model.tower.model.eval()(torch.randn(2, 14, 32)).shape == (2, model.config.embed_dim)
    with pytest.raises(ValueError, match="was made for n_chans=14, the dataset has n_chans=8"):
        build_encoder(args, {"n_chans": 8, "n_times": 32, "sfreq": 128.0}, ["a", "b"])
    other = EEGEncoderModel(EEGEncoderConfig(architecture="braindecode", braindecode_model="EEGNet", n_chans=14,
                                             n_times=32, sfreq=128.0))
    with pytest.raises(ValueError, match="do not fit braindecode.models.EEGNet"):
        load_braindecode_weights(other, str(folder))
