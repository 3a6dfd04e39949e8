"""EEGStyleGAN-ADA training: losses, EMA, embedding cache, one-tick runs, resume, one-hot, 2 CPU processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from eeg2img_hf.data import get_eeg_info, load_eeg_dataset, simulate_dataset
from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderModel, EEGStyleGANDiscriminator, EEGStyleGANModel
from eeg2img_hf.training.ema import ema_beta, update_ema
from eeg2img_hf.training.embeddings import EMBEDS_COLUMN, add_eeg_embeddings
from eeg2img_hf.training.gan_losses import (
    classification_loss,
    discriminator_loss,
    generator_loss,
    path_length_penalty,
    r1_loss,
    r1_penalty,
)
from eeg2img_hf.training.train_gan import GAN_PRESETS, GANTrainingArguments, setup_gan_training, train_gan

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("gan-data") / "thoughtviz"
    simulate_dataset("thoughtviz", n_subjects=2, images_per_class=2, image_size=16).save_to_disk(str(path))
    return str(path)


def _save_encoder(data_dir: str, path, seed: int) -> str:
    info = get_eeg_info(load_eeg_dataset(data_dir))
    torch.manual_seed(seed)
    config = EEGEncoderConfig(n_chans=int(info["n_chans"]), n_times=int(info["n_times"]), lstm_num_layers=1,
                              lstm_hidden_size=8, embed_dim=12)
    EEGEncoderModel(config).save_pretrained(str(path))
    return str(path)


@pytest.fixture(scope="module")
def encoder_dir(data_dir, tmp_path_factory):
    return _save_encoder(data_dir, tmp_path_factory.mktemp("encoder"), seed=0)


def tiny_args(data_dir: str, output_dir, **overrides) -> GANTrainingArguments:
    base = {"dataset": data_dir, "output_dir": str(output_dir), "log_with": ["csv"], "keep_checkpoints": 10}
    return GANTrainingArguments.from_preset("tiny", **{**base, **overrides})


@pytest.fixture(scope="module")
def eeg_run(data_dir, encoder_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("gan-run")
    return out, train_gan(tiny_args(data_dir, out, encoder=encoder_dir))


# ---------------------------------------------------------------------------------------------- losses, EMA


def test_non_saturating_losses_are_softplus_forms():
    real, fake = torch.randn(7, 1), torch.randn(7, 1)
    torch.testing.assert_close(generator_loss(fake), -F.logsigmoid(fake).mean())
    expected = -torch.log(1 - torch.sigmoid(fake)).mean() - F.logsigmoid(real).mean()
    torch.testing.assert_close(discriminator_loss(real, fake), expected)
    torch.testing.assert_close(discriminator_loss(None, fake), F.softplus(fake).mean())
    with pytest.raises(ValueError, match="needs real_logits"):
        discriminator_loss(None, None)


def test_classification_loss_is_the_mean_negative_log_likelihood_of_the_label():
    logits, labels = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    expected = -torch.stack([torch.log_softmax(logits[i], 0)[labels[i]] for i in range(5)]).mean()
    torch.testing.assert_close(classification_loss(logits, labels), expected)
    sure = torch.full((2, 3), -20.0).scatter(1, torch.tensor([[1], [2]]), 20.0)
    assert float(classification_loss(sure, torch.tensor([1, 2]))) < 1e-8  # confident and right: ~0


def test_r1_matches_autograd_on_quadratic_discriminator():
    a = torch.tensor(0.7, requires_grad=True)
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    logits = (a * x.square()).flatten(1).sum(1, keepdim=True)  # grad_x = 2 a x
    penalty = r1_penalty(logits, x)
    torch.testing.assert_close(penalty, (2 * a * x).square().flatten(1).sum(1))
    loss = r1_loss((a * x.square()).flatten(1).sum(1, keepdim=True), x, gamma=0.01, interval=16)
    torch.testing.assert_close(loss, penalty.mean() * 0.005 * 16)
    loss.backward()  # d/da of gamma/2 * 16 * mean(4 a^2 ||x||^2) = 0.08 * 8 a * mean(||x||^2)
    torch.testing.assert_close(a.grad, 0.08 * 8 * a.detach() * x.detach().square().flatten(1).sum(1).mean())
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(logits, x.detach())


def test_path_length_penalty_of_a_linear_map():
    ws = torch.randn(3, 2, 4, requires_grad=True)
    images = (ws.sum(1) * 2.0).view(3, 1, 2, 2)  # J^T y = 2 y for each of the 2 ws
    noise = torch.randn(3, 1, 2, 2) / 2
    penalty, new_mean = path_length_penalty(images, ws, torch.tensor(0.0), decay=0.5, noise=noise)
    lengths = (2 * noise).flatten(1).square().sum(1).sqrt()
    torch.testing.assert_close(new_mean, 0.5 * lengths.mean())
    torch.testing.assert_close(penalty, (lengths - new_mean).square())


def test_ema_beta_with_rampup_and_update():
    assert ema_beta(64, 0, 500, 0.05) == 0.0  # first step: EMA = G
    assert ema_beta(64, 100_000, 500, 0.05) == pytest.approx(0.5 ** (64 / 5000))  # ramp-up limits
    assert ema_beta(64, 10**9, 500, 0.05) == pytest.approx(0.5 ** (64 / 500_000))  # ema_kimg limits
    assert ema_beta(64, 0, 500, None) == pytest.approx(0.5 ** (64 / 500_000))
    ema, model = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.fill_(2.0)
        model.running_mean.fill_(5.0)
    update_ema(ema, model, 0.25)
    torch.testing.assert_close(ema.weight, torch.full((3,), 2.0 + 0.25 * (1.0 - 2.0)))
    torch.testing.assert_close(ema.running_mean, torch.full((3,), 5.0))
    with pytest.raises(ValueError):
        ema_beta(0, 0, 1.0)


def test_ema_rampup_defaults_to_the_presets_for_fresh_runs_and_off_for_init_from(data_dir):
    from eeg2img_hf.cli import build_parser
    from eeg2img_hf.commands.train_gan import _overrides

    fresh = GANTrainingArguments.from_preset("paper-eegcvpr40", encoder="enc")
    assert fresh.ema_rampup == 0.05 and GANTrainingArguments.from_preset("tiny", encoder="enc").ema_rampup == 0.05
    assert GANTrainingArguments.from_preset("tiny", encoder="enc", init_from="start").ema_rampup is None
    assert GANTrainingArguments.from_preset("tiny", encoder="enc", init_from="start", ema_rampup=0.1).ema_rampup == 0.1
    assert GANTrainingArguments.from_preset("tiny", encoder="enc", ema_rampup=None).ema_rampup is None
    parser = build_parser()
    for value, expected in (("off", None), ("0.2", 0.2)):
        ns = parser.parse_args(["train-gan", "--encoder", "enc", "--ema-rampup", value])
        assert _overrides(ns)["ema_rampup"] == expected
    assert "ema_rampup" not in _overrides(parser.parse_args(["train-gan", "--encoder", "enc"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["train-gan", "--ema-rampup", "-1"])
    with pytest.raises(ValueError, match="ema_rampup"):
        GANTrainingArguments.from_preset("tiny", encoder="enc", ema_rampup="sometimes")


# ---------------------------------------------------------------------------------------------- embeddings


def test_embedding_cache_reused_and_keyed_by_encoder(data_dir, encoder_dir, tmp_path):
    dataset = load_eeg_dataset(data_dir)
    encoder = EEGEncoderModel.from_pretrained(encoder_dir).eval()
    first, info1 = add_eeg_embeddings(dataset, encoder, tmp_path)
    again, info2 = add_eeg_embeddings(dataset, EEGEncoderModel.from_pretrained(encoder_dir).eval(), tmp_path)
    assert not info1["reused"] and info2["reused"] and info1["key"] == info2["key"]
    emb = torch.as_tensor(first["train"].with_format("numpy")[EMBEDS_COLUMN][:5])
    with torch.no_grad():
        expected = encoder(eeg_values=torch.as_tensor(dataset["train"].with_format("numpy")["eeg"][:5])).eeg_embeds
    torch.testing.assert_close(emb, expected, rtol=1e-5, atol=1e-6)
    assert again["validation"][3][EMBEDS_COLUMN] == first["validation"][3][EMBEDS_COLUMN]
    other = EEGEncoderModel.from_pretrained(_save_encoder(data_dir, tmp_path / "other", seed=1)).eval()
    _, info3 = add_eeg_embeddings(dataset, other, tmp_path)
    assert not info3["reused"] and info3["key"] != info1["key"]


# ---------------------------------------------------------------------------------------------- training runs


def test_one_tick_run_writes_grid_metrics_and_loadable_model(eeg_run, data_dir):
    from transformers import AutoModel

    out, summary = eeg_run
    assert summary["steps"] == 4 and summary["kimg"] == pytest.approx(0.032) and summary["ticks"] == 2
    assert (out / "grids" / "tick_00001.png").read_bytes()[:8] == PNG
    rows = (out / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert len(rows) == 3
    assert {"loss_G", "loss_D", "r1_penalty", "augment_p", "r_t", "kimg", "sec_per_kimg"} <= set(header)
    assert list((out / "snapshots").glob("kimg_*/model.safetensors"))
    record = json.loads((out / "model" / "eeg2img_training.json").read_text())
    assert record["conditioning"] == "eeg" and record["training_args"]["stylegan_preset"] == "tiny"
    model = EEGStyleGANModel.from_pretrained(out / "model").eval()
    auto = AutoModel.from_pretrained(out / "model").eval()
    eeg = torch.as_tensor(load_eeg_dataset(data_dir)["test"].with_format("numpy")["eeg"][:3])
    latents = torch.randn(3, model.config.z_dim)
    images = model(eeg_values=eeg, latents=latents).images
    assert images.shape == (3, 3, 16, 16) and torch.isfinite(images).all()
    torch.testing.assert_close(auto(eeg_values=eeg, latents=latents).images, images)
    ema = load_file(out / "checkpoints" / "step_00000004" / "generator_ema" / "model.safetensors")
    for key, value in model.generator.state_dict().items():
        torch.testing.assert_close(value, ema[key])
    assert (out / "model" / "discriminator" / "model.safetensors").exists()
    # The EEG conditioning is standardised with the training embeddings' mean and RMS, stored with the weights.
    from eeg2img_hf.training.embeddings import EMBEDS_COLUMN, add_eeg_embeddings

    encoder = model.eeg_encoder
    embedded, _ = add_eeg_embeddings(load_eeg_dataset(data_dir), encoder, out / "embeddings")
    train_embeds = torch.as_tensor(np.asarray(embedded["train"].with_format("numpy")[EMBEDS_COLUMN]))
    mapping = model.generator.mapping
    torch.testing.assert_close(mapping.conditioning_shift, train_embeds.mean(0))
    centred = (train_embeds - train_embeds.mean(0)) * mapping.conditioning_scale
    torch.testing.assert_close(centred.square().mean(), torch.tensor(1.0))
    discriminator = load_file(out / "model" / "discriminator" / "model.safetensors")
    torch.testing.assert_close(discriminator["mapping.conditioning_shift"], mapping.conditioning_shift)


def test_rerun_reuses_embedding_cache(eeg_run, data_dir, encoder_dir, tmp_path):
    out, summary = eeg_run
    assert not summary["embeddings_cache"]["reused"]
    shutil.copytree(out / "embeddings", tmp_path / "embeddings")  # a rerun in the same folder, minus the rest
    again = train_gan(tiny_args(data_dir, tmp_path, encoder=encoder_dir, max_steps=1))
    cache = again["embeddings_cache"]
    assert cache["reused"] and cache["key"] == summary["embeddings_cache"]["key"]


def test_resume_matches_uninterrupted_run(data_dir, encoder_dir, tmp_path, eeg_run):
    straight, _ = eeg_run
    train_gan(tiny_args(data_dir, tmp_path, encoder=encoder_dir, max_steps=2))
    assert not (tmp_path / "checkpoints" / "step_00000004").exists()
    summary = train_gan(tiny_args(data_dir, tmp_path, encoder=encoder_dir, resume=True))
    assert summary["steps"] == 4 and summary["ticks"] == 2
    for name in ("model.safetensors", "model_1.safetensors", "generator_ema/model.safetensors"):
        a = load_file(straight / "checkpoints" / "step_00000004" / name)
        b = load_file(tmp_path / "checkpoints" / "step_00000004" / name)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.integration
def test_resume_of_an_init_from_run_matches_its_uninterrupted_run(data_dir, encoder_dir, tmp_path, eeg_run):
    """An --init-from run (no EMA ramp-up, the starting point's pipe and p) resumes exactly, too."""
    start = str(eeg_run[0] / "model")
    train_gan(tiny_args(data_dir, tmp_path / "straight", encoder=encoder_dir, init_from=start))
    train_gan(tiny_args(data_dir, tmp_path / "split", encoder=encoder_dir, init_from=start, max_steps=2))
    summary = train_gan(tiny_args(data_dir, tmp_path / "split", encoder=encoder_dir, init_from=start, resume=True))
    assert summary["steps"] == 4 and summary["training_args"]["ema_rampup"] is None
    for name in ("model.safetensors", "model_1.safetensors", "generator_ema/model.safetensors"):
        a = load_file(tmp_path / "straight" / "checkpoints" / "step_00000004" / name)
        b = load_file(tmp_path / "split" / "checkpoints" / "step_00000004" / name)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_onehot_conditioning_without_encoder(data_dir, tmp_path):
    summary = train_gan(tiny_args(data_dir, tmp_path, conditioning="onehot", max_steps=2, augment_p=0.5))
    assert summary["augment_p"] == 0.5 and summary["embeddings_cache"] is None
    model = EEGStyleGANModel.from_pretrained(tmp_path / "model").eval()
    assert model.eeg_encoder is None and model.config.num_classes == 10
    images = model(class_labels=torch.tensor([0, 9])).images
    assert images.shape == (2, 3, 16, 16) and (tmp_path / "grids" / "tick_00001.png").exists()


def test_path_length_style_mixing_and_bf16_autocast(data_dir, encoder_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EEG2IMG_ALLOW_EMULATED_BF16", "1")  # the wiring, on any CPU
    args = tiny_args(data_dir, tmp_path, encoder=encoder_dir, max_steps=2, pl_weight=2.0, style_mixing_prob=0.9,
                     mixed_precision="bf16", stylegan_config={"num_fp16_res": 1})
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # mixed precision is fixed per process otherwise
    try:
        assert train_gan(args)["steps"] == 2
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "pl_penalty" in header
    model = EEGStyleGANModel.from_pretrained(tmp_path / "model")
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.integration
def test_two_cpu_processes_with_accelerate_launch(data_dir, encoder_dir, tmp_path):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29541",
           "--module", "eeg2img_hf.cli", "train-gan", "--preset", "tiny", "--dataset", data_dir,
           "--encoder", encoder_dir, "--output-dir", str(tmp_path), "--log-with", "csv"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, proc.stdout  # printed by rank 0 only
    summary = json.loads(lines[0])
    assert summary["num_processes"] == 2 and summary["steps"] == 4
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert EEGStyleGANModel.from_pretrained(tmp_path / "model").config.conditioning == "eeg"


def test_class_loss_trains_a_discriminator_class_head_on_real_labels(eeg_run, data_dir, encoder_dir, tmp_path):
    summary = train_gan(tiny_args(data_dir, tmp_path, encoder=encoder_dir, max_steps=3, class_loss_weight=2.0))
    assert summary["training_args"]["class_loss_weight"] == 2.0
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert {"loss_G_class", "loss_D_class"} <= set(header)
    values = dict(zip(header, rows[-1].split(","), strict=True))
    assert 0 < float(values["loss_G_class"]) < 20 and 0 < float(values["loss_D_class"]) < 20
    D = EEGStyleGANDiscriminator.from_pretrained(tmp_path / "model" / "discriminator")
    assert D.config.discriminator_class_head and D.class_head.weight.shape[0] == 10
    plain = EEGStyleGANDiscriminator.from_pretrained(eeg_run[0] / "model" / "discriminator")
    assert plain.class_head is None and not plain.config.discriminator_class_head  # the default: no head
    # the loss reaches G through the head: one step with it moves G differently from one without
    G_with = EEGStyleGANModel.from_pretrained(tmp_path / "model").generator.state_dict()
    train_gan(tiny_args(data_dir, tmp_path / "without", encoder=encoder_dir, max_steps=3))
    G_without = EEGStyleGANModel.from_pretrained(tmp_path / "without" / "model").generator.state_dict()
    assert any(not torch.equal(G_with[k], G_without[k]) for k in G_with)


def test_init_from_a_folder_with_or_without_the_class_head(eeg_run, data_dir, encoder_dir, tmp_path):
    plain = eeg_run[0] / "model"
    _, _, config, _, loop, _ = setup_gan_training(
        tiny_args(data_dir, tmp_path / "a", encoder=encoder_dir, init_from=str(plain), class_loss_weight=1.0))
    assert config.discriminator_class_head and loop.D_net.class_head is not None  # new head, fresh weights
    start = EEGStyleGANDiscriminator.from_pretrained(plain / "discriminator").state_dict()
    assert all(torch.equal(v, loop.D_net.state_dict()[k]) for k, v in start.items())
    headed = tmp_path / "headed"
    train_gan(tiny_args(data_dir, headed, encoder=encoder_dir, max_steps=1, class_loss_weight=1.0))
    _, _, config, _, loop, _ = setup_gan_training(
        tiny_args(data_dir, tmp_path / "b", encoder=encoder_dir, init_from=str(headed / "model")))
    assert not config.discriminator_class_head and loop.D_net.class_head is None  # the unused head is left out


# ---------------------------------------------------------------------------------------------- bad input


def test_bad_arguments(data_dir, encoder_dir, tmp_path):
    assert {"paper-eegcvpr40", "paper-thoughtviz", "cpu-small", "tiny"} <= set(GAN_PRESETS)
    assert GAN_PRESETS["paper-thoughtviz"]["kimg"] == 6500 and GAN_PRESETS["paper-eegcvpr40"]["kimg"] == 5500
    with pytest.raises(ValueError, match="unknown GAN preset"):
        GANTrainingArguments.from_preset("nope")
    with pytest.raises(ValueError, match="unknown GAN training arguments"):
        GANTrainingArguments.from_preset("tiny", learning_rat=1.0)
    with pytest.raises(ValueError, match="needs `encoder`"):
        GANTrainingArguments.from_preset("tiny", conditioning="eeg")
    with pytest.raises(ValueError, match="conditioning"):
        GANTrainingArguments.from_preset("tiny", conditioning="text", encoder=encoder_dir)
    with pytest.raises(ValueError, match="augment_p"):
        GANTrainingArguments.from_preset("tiny", conditioning="onehot", augment_p=2.0)
    with pytest.raises(ValueError, match="does not exist"):
        train_gan(tiny_args(data_dir, tmp_path, encoder=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="exceeds"):
        train_gan(tiny_args(data_dir, tmp_path, conditioning="onehot", batch_size=1024))
    with pytest.raises(ValueError, match="class_loss_weight"):
        GANTrainingArguments.from_preset("tiny", conditioning="onehot", class_loss_weight=-1.0)
    with pytest.raises(ValueError, match="needs the discriminator's class head"):
        train_gan(tiny_args(data_dir, tmp_path, conditioning="onehot", class_loss_weight=1.0,
                            stylegan_config={"discriminator_class_head": False}))


def test_paper_presets_feed_raw_embeddings_as_the_authors_and_the_deviation_is_listed():
    from pathlib import Path

    from eeg2img_hf.cli import build_parser
    from eeg2img_hf.commands.train_gan import _overrides

    for name in ("paper-eegcvpr40", "paper-thoughtviz"):
        assert GAN_PRESETS[name]["standardize_conditioning"] is False, name
        assert GANTrainingArguments.from_preset(name, conditioning="onehot").class_loss_weight == 0.0, name  # paper
    assert GANTrainingArguments.from_preset("cpu-small", conditioning="onehot").class_loss_weight == 0.3
    assert GANTrainingArguments.from_preset("cpu-small", conditioning="onehot").standardize_conditioning is True
    deviations = (Path(__file__).resolve().parents[1] / "docs" / "deviations.md").read_text()
    assert "`standardize_conditioning`" in deviations and "paper-*" in deviations
    assert "`class_loss_weight`" in deviations
    parse = build_parser().parse_args
    assert "standardize_conditioning" not in _overrides(parse(["train-gan", "--preset", "paper-thoughtviz"]))
    assert _overrides(parse(["train-gan", "--standardize-conditioning"]))["standardize_conditioning"] is True
    assert _overrides(parse(["train-gan", "--no-standardize-conditioning"]))["standardize_conditioning"] is False
