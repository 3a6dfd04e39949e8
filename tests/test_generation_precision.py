"""Generation precision (`precision="fp32"|"bf16"`): the support rule, the refusals (API, CLI, Space) and the
bfloat16 path itself (run here with the support check patched: on a CPU without bfloat16 units PyTorch emulates it,
slowly but with the same rounding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

import eeg2img_hf.pipelines  # noqa: F401  (registers the tasks)
from eeg2img_hf.cli import main
from eeg2img_hf.evaluation.evaluate_gan import evaluate_gan
from eeg2img_hf.models import EEGEncoderConfig, EEGStyleGANConfig, EEGStyleGANModel
from eeg2img_hf.pipelines import precision

N_CHANS, N_TIMES, EMBED_DIM = 4, 32, 12


@pytest.fixture
def no_bf16(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_bf16_units", lambda: [])


@pytest.fixture
def with_bf16(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_bf16_units", lambda: ["amx_tile"])


@pytest.fixture(scope="module")
def model() -> EEGStyleGANModel:
    encoder = EEGEncoderConfig(n_chans=N_CHANS, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10,
                               embed_dim=EMBED_DIM)
    torch.manual_seed(0)
    return EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).eval()


@pytest.fixture(scope="module")
def eeg() -> np.ndarray:
    return torch.rand(3, N_CHANS, N_TIMES, generator=torch.Generator().manual_seed(0)).numpy()


def test_support_follows_the_cpu_flags():
    supported, reason = precision.bf16_support("cpu")
    flags = precision._cpuinfo_flags()
    if flags:  # Linux: the answer agrees with what the kernel reports (torch's own probe may add AMX detection)
        assert supported == bool(precision._cpu_bf16_units())
        if {"avx512_bf16", "amx_bf16"} & flags:
            assert supported
    assert ("has bfloat16 units" in reason) == supported
    assert precision.bf16_support("meta")[0] is False


def test_check_precision_values_and_refusal(no_bf16, with_bf16, monkeypatch):
    assert precision.check_precision("fp32", "cpu") == "fp32"
    assert precision.check_precision("bf16", "cpu") == "bf16"  # with_bf16 is active last
    with pytest.raises(ValueError, match=r"`--precision` must be one of \('fp32', 'bf16'\), got 'fp16'"):
        precision.check_precision("fp16", "cpu", name="--precision")
    monkeypatch.setattr(precision, "_cpu_bf16_units", lambda: [])
    with pytest.raises(ValueError, match=r"--precision 'bf16' is refused: this CPU .* has no bfloat16 units.*"
                                         r"Use 'fp32' \(the default\)"):
        precision.check_precision("bf16", "cpu", name="--precision")


def test_autocast_context():
    assert precision.generation_autocast("fp32", "cpu").__class__.__name__ == "nullcontext"
    with precision.generation_autocast("bf16", "cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.generation_autocast("half", "cpu")


def test_pipeline_refuses_bf16_without_units(no_bf16, model, eeg):
    pipe = pipeline("eeg-to-image", model=model, device="cpu")
    with pytest.raises(ValueError, match="precision 'bf16' is refused: this CPU"):
        pipe(eeg[0], seed=0, precision="bf16")
    with pytest.raises(ValueError, match="precision` must be one of"):
        pipe(eeg[0], seed=0, precision="float16")


def test_pipeline_bf16_path_is_rounding_close_to_fp32_and_reproducible(with_bf16, model, eeg):
    pipe = pipeline("eeg-to-image", model=model, device="cpu")
    reference = torch.stack([r["images"][0] for r in pipe(eeg, seed=0, output_type="pt")])
    low = torch.stack([r["images"][0] for r in pipe(eeg, seed=0, output_type="pt", precision="bf16")])
    again = torch.stack([r["images"][0] for r in pipe(eeg, seed=0, output_type="pt", precision="bf16")])
    chunked = torch.stack([r["images"][0] for r in pipe(eeg, seed=0, output_type="pt", precision="bf16",
                                                        batch_size=1)])
    assert low.dtype == torch.float32 and low.shape == reference.shape
    difference = (low - reference).abs()
    assert 0 < difference.mean() < 0.05 and difference.max() < 0.5  # bfloat16 rounding, not another image
    assert torch.equal(again, low)  # the same call, the same bytes
    # batch 1 takes the fused modulated convolution: another summation order, so other bfloat16 roundings only
    torch.testing.assert_close(chunked, low, rtol=0, atol=0.1)
    assert not torch.is_autocast_enabled("cpu")  # the context does not leak out of the call


def test_image_to_eeg_to_image_passes_precision_on(no_bf16):
    from eeg2img_hf.models import ImageToEEGConfig, ImageToEEGModel

    torch.manual_seed(0)
    gan = EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=EEGEncoderConfig(
        n_chans=N_CHANS, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10, embed_dim=EMBED_DIM))).eval()
    image_model = ImageToEEGModel(ImageToEEGConfig.from_preset("tiny", eeg_embed_dim=EMBED_DIM)).eval()
    pipe = pipeline("image-to-eeg-to-image", model=image_model, generator=gan, device="cpu")
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="precision 'bf16' is refused"):
        pipe(image, seed=0, precision="bf16")
    assert len(pipe(image, seed=0, precision="fp32")["images"]) == 1


def test_generate_cli_refuses_bf16_before_writing(no_bf16, model, eeg, tmp_path, capsys):
    model.save_pretrained(tmp_path / "model")
    np.save(tmp_path / "trial.npy", eeg[0])
    out = tmp_path / "out"
    argv = ["generate", str(tmp_path / "model"), "--eeg", str(tmp_path / "trial.npy"), "--output-dir", str(out)]
    assert main([*argv, "--precision", "bf16", "--allow-unfinished"]) == 2
    err = capsys.readouterr().err
    assert "--precision 'bf16' is refused" in err and "Traceback" not in err
    assert not out.exists()


def test_generate_cli_records_bf16_where_supported(with_bf16, tmp_path):
    from eeg2img_hf.data import simulate_dataset

    data = simulate_dataset("thoughtviz", n_subjects=1, n_blocks_per_class=2, trials_per_block=5, image_size=16)
    data.save_to_disk(str(tmp_path / "data"))
    n_chans, n_times = data["test"].features["eeg"].shape
    encoder = EEGEncoderConfig(n_chans=n_chans, n_times=n_times, lstm_num_layers=1, lstm_hidden_size=10,
                               embed_dim=EMBED_DIM)
    EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).save_pretrained(tmp_path / "model")
    out = tmp_path / "grids"
    assert main(["generate", str(tmp_path / "model"), "--dataset", str(tmp_path / "data"), "--classes", "2",
                 "--trials-per-class", "2", "--precision", "bf16", "--allow-unfinished",
                 "--output-dir", str(out)]) == 0
    import json

    assert json.loads((out / "manifest.json").read_text())["precision"] == "bf16"


def test_evaluate_gan_refuses_and_records(no_bf16, model):
    with pytest.raises(ValueError, match="precision 'bf16' is refused"):
        evaluate_gan(model, dataset="thoughtviz", num_fakes=4, precision="bf16", device="cpu")


def test_emulated_bf16_is_allowed_only_when_asked(no_bf16, monkeypatch):
    monkeypatch.delenv(precision.ALLOW_EMULATED_VAR, raising=False)
    assert precision.bf16_support("cpu")[0] is False
    monkeypatch.setenv(precision.ALLOW_EMULATED_VAR, "1")
    supported, reason = precision.bf16_support("cpu")
    assert supported and "emulated (EEG2IMG_ALLOW_EMULATED_BF16=1)" in reason
    assert precision.check_precision("bf16", "cpu") == "bf16"


def test_evaluate_gan_cli_refuses_bf16_in_one_line(no_bf16, model, tmp_path, capsys):
    model.save_pretrained(tmp_path / "model")
    assert main(["evaluate-gan", str(tmp_path / "model"), "--dataset", "thoughtviz", "--num-fakes", "4",
                 "--precision", "bf16", "--allow-unfinished", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "precision 'bf16' is refused" in err and "Traceback" not in err
