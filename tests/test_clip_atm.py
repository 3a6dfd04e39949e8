"""ATM's recipe for EEGClip: the `"atm"` EEG tower inside EEGClip (save / load, remote code), ATM's CLIP + MSE loss,
its training arguments, and the `things-eeg2-atm-sim` preset on a tiny simulated THINGS-EEG2 set."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.models import EEGClipConfig, EEGClipModel
from eeg2img_hf.models.eeg_clip import clip_loss
from eeg2img_hf.training import ClipTrainingArguments, train_clip
from eeg2img_hf.training.clip_losses import clip_mse_loss
from eeg2img_hf.training.train_clip import make_loss

from testing_utils import run_python

N_CHANS, N_TIMES = 4, 32
TINY_ATM = {"architecture": "atm", "n_chans": N_CHANS, "n_times": N_TIMES, "atm_d_model": 10, "atm_num_heads": 2,
            "atm_ff_dim": 7, "atm_conv_filters": 3, "atm_conv_kernel_size": 3, "atm_pool_size": 4,
            "atm_pool_stride": 2, "embed_dim": 9, "atm_dropout": 0.0, "atm_conv_dropout": 0.0,
            "atm_proj_dropout": 0.0, "input_normalization": "none"}
SIM = {"n_subjects": 2, "n_train_concepts": 16, "n_test_concepts": 6, "train_images_per_concept": 2,
       "train_repetitions": 2, "test_repetitions": 3, "image_size": 32}


def tiny_atm_clip() -> EEGClipModel:
    torch.manual_seed(0)
    return EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config=TINY_ATM)).eval()


def test_clip_mse_loss_matches_a_hand_computation():
    eeg = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    image = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    # squared differences (1, 1) and (0, 0): mean 2 / 4 = 0.5; 0.75 * 2.0 + 0.25 * 0.5 = 1.625
    loss = clip_mse_loss(torch.tensor(2.0), eeg, image, mse_weight=0.25)
    torch.testing.assert_close(loss, torch.tensor(1.625))
    torch.testing.assert_close(clip_mse_loss(torch.tensor(2.0), eeg, image, mse_weight=0.0), torch.tensor(2.0))


@pytest.mark.parametrize("kwargs, message", [
    ({"mse_weight": 1.5}, "mse_weight"),
    ({"contrastive": torch.ones(2)}, "contrastive must be a scalar"),
    ({"image_embeds": torch.zeros(3, 2)}, "must be paired"),
])
def test_clip_mse_loss_refuses_bad_input(kwargs, message):
    base = {"contrastive": torch.tensor(1.0), "eeg_embeds": torch.zeros(2, 2), "image_embeds": torch.zeros(2, 2),
            "mse_weight": 0.5}
    with pytest.raises(ValueError, match=message):
        clip_mse_loss(**{**base, **kwargs})


def test_training_step_uses_atm_loss_on_the_joint_embeddings():
    model = tiny_atm_clip()
    batch = {"eeg_values": torch.randn(3, N_CHANS, N_TIMES), "pixel_values": torch.randn(3, 3, 32, 32)}
    args = ClipTrainingArguments(loss="clip+mse", mse_weight=0.3)
    out = model(**batch)
    expected = 0.7 * clip_loss(out.logits_per_eeg) + 0.3 * (out.eeg_embeds - out.image_embeds).square().mean()
    torch.testing.assert_close(make_loss(args, None, "pixel_values")(model, batch), expected)
    plain = make_loss(ClipTrainingArguments(), None, "pixel_values")(model, batch)
    torch.testing.assert_close(plain, clip_loss(out.logits_per_eeg))


def test_loss_arguments():
    assert ClipTrainingArguments(loss="clip+mse").mse_weight == 0.99  # ATM's weight
    assert ClipTrainingArguments().mse_weight is None
    with pytest.raises(ValueError, match="loss must be one of"):
        ClipTrainingArguments(loss="mse")
    with pytest.raises(ValueError, match="mse_weight .*loss is 'clip'"):
        ClipTrainingArguments(mse_weight=0.5)
    with pytest.raises(ValueError, match="mse_weight"):
        ClipTrainingArguments(loss="clip+mse", mse_weight=float("nan"))
    args = ClipTrainingArguments.from_preset("things-eeg2-atm")
    assert (args.loss, args.mse_weight, args.epochs, args.batch_size, args.learning_rate) == (
        "clip+mse", 0.99, 40, 64, 3e-4)


def test_resume_refuses_another_loss_weight(tmp_path):
    from eeg2img_hf.training.common import prepare_run_dir

    (tmp_path / "data").mkdir()
    run = tmp_path / "run"
    first = ClipTrainingArguments.from_preset("things-eeg2-atm-sim", dataset=str(tmp_path / "data"),
                                              output_dir=str(run))
    prepare_run_dir(first, "train-clip")
    first.save(run / "training_args.json")
    (run / "checkpoints").mkdir()
    other = ClipTrainingArguments.from_preset("things-eeg2-atm-sim", dataset=str(tmp_path / "data"),
                                              output_dir=str(run), resume=True, mse_weight=0.5)
    with pytest.raises(ValueError, match=r"other settings \(mse_weight: run 0.99, now 0.5\)"):
        prepare_run_dir(other, "train-clip")


def test_eeg_clip_with_atm_tower_round_trips(tmp_path):
    from transformers import AutoModel

    import eeg2img_hf.models  # noqa: F401  (registers the Auto classes)

    model = tiny_atm_clip()
    model.save_pretrained(tmp_path)
    eeg, pixels = torch.randn(2, N_CHANS, N_TIMES), torch.randn(2, 3, 32, 32)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert loaded.config.encoder_config.architecture == "atm"
    assert "class EEGATMTower" in (tmp_path / "modeling_eeg_encoder.py").read_text()  # the remote-code copy
    torch.testing.assert_close(loaded(eeg_values=eeg, pixel_values=pixels).logits_per_eeg,
                               model(eeg_values=eeg, pixel_values=pixels).logits_per_eeg)


@pytest.mark.integration
def test_eeg_clip_with_atm_tower_loads_as_remote_code(tmp_path):
    """Without the package installed (a fresh interpreter): the saved folder's own code rebuilds the ATM tower."""
    model = tiny_atm_clip()
    model.save_pretrained(tmp_path)
    eeg, pixels = torch.randn(2, N_CHANS, N_TIMES), torch.randn(2, 3, 32, 32)
    torch.save((eeg, pixels, model(eeg_values=eeg, pixel_values=pixels).logits_per_eeg), tmp_path / "io.pt")
    proc = run_python(f"""
        import sys
        sys.modules["eeg2img_hf"] = None
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        eeg, pixels, expected = torch.load({str(tmp_path / 'io.pt')!r})
        torch.testing.assert_close(model(eeg_values=eeg, pixel_values=pixels).logits_per_eeg, expected)
        print(type(model.eeg_model.tower).__name__)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("EEGATMTower")


def test_atm_sim_preset_trains_on_simulated_things(tmp_path):
    data = tmp_path / "things"
    simulate_dataset("things-eeg2", **SIM).save_to_disk(str(data))
    args = ClipTrainingArguments.from_preset("things-eeg2-atm-sim", dataset=str(data), simulate={},
                                             output_dir=str(tmp_path / "run"), subjects=[1], max_steps=3,
                                             batch_size=8, log_with=["csv"])
    summary = train_clip(args)
    record = json.loads((tmp_path / "run" / "model" / "eeg2img_training.json").read_text())
    assert summary["global_step"] == 3 and record["train_subjects"] == [1]
    assert record["training_args"]["loss"] == "clip+mse" and record["training_args"]["mse_weight"] == 0.99
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    encoder = config["encoder_config"]
    assert (encoder["architecture"], encoder["n_chans"], encoder["n_times"]) == ("atm", 17, 100)
    assert (encoder["atm_conv_kernel_size"], encoder["atm_pool_size"], encoder["atm_pool_stride"]) == (10, 20, 2)
    losses = [float(row.split(",")[2]) for row in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]]
    assert losses and all(loss == loss for loss in losses)  # finite training losses were logged


def test_cli_refuses_an_mse_weight_without_its_loss(tmp_path, capsys):
    from eeg2img_hf.cli import main

    code = main(["train-clip", "--preset", "things-eeg2-sim", "--mse-weight", "0.5",
                 "--output-dir", str(tmp_path / "run")])
    assert code == 2
    assert "mse_weight (CLI --mse-weight)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_mse_pulls_the_embeddings_together():
    """A few Adam steps on ATM's loss with all weight on the MSE term lower the embeddings' mean squared distance."""
    model = tiny_atm_clip().train()
    batch = {"eeg_values": torch.randn(4, N_CHANS, N_TIMES), "pixel_values": torch.randn(4, 3, 32, 32)}
    step = make_loss(ClipTrainingArguments(loss="clip+mse", mse_weight=1.0), None, "pixel_values")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    first = None
    for _ in range(10):
        loss = step(model, batch)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out = model.eval()(**batch)
    assert F.mse_loss(out.eeg_embeds, out.image_embeds).item() < first


def test_things_preset_tower_at_17_x_100():
    """The `things-eeg2-atm` tower at the release's 17 x 100: ATM's layers with token size 100 (4 heads of 25) and
    the 100 Hz convolution (kernel 10, pool 20, stride 2). Count: token embedding 100 x 100 + 100 = 10,100; subject
    token 100; encoder layer 3 x 10,100 + 10,100 + 25,856 + 25,700 + 400 = 92,356; final norm 200; convolution
    440 + 27,240 (40 x 40 x 17 + 40) + 1,640 + 160 = 29,480; projector 1,475,584 + 1,049,600 + 2,048 = 2,527,232
    (36 pooled steps x 40 filters = 1,440 inputs, as at 250 Hz). Total 2,659,468 (docs/things-eeg2.md)."""
    from eeg2img_hf.models import EEGEncoderModel

    config = EEGClipConfig.from_preset("things-eeg2-atm", encoder_config={"n_chans": 17, "n_times": 100})
    tower = EEGEncoderModel(config.encoder_config)
    assert sum(p.numel() for p in tower.parameters()) == 2_659_468
    assert tower.tower.proj_in.in_features == 1440 and config.projection_dim == 1024
