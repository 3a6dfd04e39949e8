from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from eeg2img_hf.models import EEGEncoderConfig, EEGEncoderForClassification, EEGEncoderModel

from testing_utils import ModelTesterMixin, run_python

N_CHANS, N_TIMES = 5, 32


def tiny_config(**kwargs) -> EEGEncoderConfig:
    defaults = dict(n_chans=N_CHANS, n_times=N_TIMES, embed_dim=12, lstm_hidden_size=11, lstm_num_layers=2,
                    cnn_channels=[6, 7, 9], num_labels=3)
    return EEGEncoderConfig(**{**defaults, **kwargs})


def eeg_batch(batch_size: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, N_CHANS, N_TIMES, generator=g) + 0.5


class TestLSTMEncoder(ModelTesterMixin):
    model_class = EEGEncoderModel
    output_key = "eeg_embeds"

    def get_config(self):
        return tiny_config(architecture="lstm")

    def get_inputs(self, batch_size=3):
        return {"eeg_values": eeg_batch(batch_size)}

    def test_output_shape_and_unit_norm(self):
        out = self.make_model()(**self.get_inputs(4)).eeg_embeds
        assert out.shape == (4, 12)
        torch.testing.assert_close(out.norm(dim=-1), torch.ones(4))


class TestCNNEncoder(TestLSTMEncoder):
    def get_config(self):
        return tiny_config(architecture="cnn", cnn_dropout=0.0)


class TestTSConvEncoder(TestLSTMEncoder):
    """The temporal-spatial convolution tower (`architecture="tsconv"`), tiny: 4 temporal kernels of 5 samples, 2
    spatial filters each, pooling 8 / stride 4."""

    def get_config(self):
        return tiny_config(architecture="tsconv", tsconv_filters=4, tsconv_kernel_size=5, tsconv_depth_multiplier=2,
                           tsconv_pool_size=8, tsconv_pool_stride=4, tsconv_dropout=0.0)

    def test_layout_and_things_eeg2_shape(self):
        tower = self.make_model().tower
        assert tower.temporal.weight.shape == (4, 1, 1, 5)  # one temporal kernel shared by the channels
        assert tower.spatial.weight.shape == (8, 1, N_CHANS, 1) and tower.spatial.groups == 4  # depthwise, all channels
        assert tower.proj.in_features == 8 * ((N_TIMES - 8) // 4 + 1)
        config = EEGEncoderConfig(architecture="tsconv", n_chans=17, n_times=100, tsconv_kernel_size=13,
                                  tsconv_pool_size=20, tsconv_pool_stride=5, embed_dim=16)
        out = EEGEncoderModel(config).eval()(eeg_values=torch.randn(2, 17, 100)).eeg_embeds
        assert out.shape == (2, 16)
        with pytest.raises(ValueError, match="tsconv pooling window"):
            EEGEncoderConfig(architecture="tsconv", n_chans=17, n_times=30, tsconv_pool_size=51)
        EEGEncoderConfig(architecture="lstm", n_times=30)  # the tsconv fields are checked only for tsconv


class TestMLPEncoder(TestLSTMEncoder):
    """UBP's projection tower (`architecture="mlp"`), tiny: 5 x 32 -> 12 with a residual block; the mixin checks
    save / load (layer norm included), determinism and gradients."""

    def get_config(self):
        return tiny_config(architecture="mlp", mlp_dropout=0.0)

    def test_layout_matches_the_formula(self):
        model = self.make_model().eval()
        tower = model.tower
        assert tower.proj.weight.shape == (12, N_CHANS * N_TIMES) and tower.residual.weight.shape == (12, 12)
        eeg = self.get_inputs(2)["eeg_values"]
        hidden = eeg.reshape(2, -1) @ tower.proj.weight.T + tower.proj.bias
        expected = torch.nn.functional.layer_norm(
            hidden + torch.nn.functional.gelu(hidden) @ tower.residual.weight.T + tower.residual.bias, (12,),
            tower.norm.weight, tower.norm.bias)
        torch.testing.assert_close(tower(eeg), expected)

    def test_bad_dropout_is_refused(self):
        for bad in (1.0, -0.1, "0.3", True):
            with pytest.raises(ValueError, match="mlp_dropout"):
                tiny_config(architecture="mlp", mlp_dropout=bad)


class TestClassification(ModelTesterMixin):
    model_class = EEGEncoderForClassification
    output_key = "logits"
    auto_class = AutoModelForSequenceClassification

    def get_config(self):
        return tiny_config(architecture="lstm")

    def get_inputs(self, batch_size=3):
        return {"eeg_values": eeg_batch(batch_size)}

    def test_loss_and_shapes(self):
        out = self.make_model()(eeg_values=eeg_batch(4), labels=torch.tensor([0, 1, 2, 1]))
        assert out.logits.shape == (4, 3) and out.loss.ndim == 0 and out.eeg_embeds.shape == (4, 12)

    def test_loads_encoder_weights(self, tmp_path):
        model = self.make_model()
        model.save_pretrained(tmp_path)
        base = EEGEncoderModel.from_pretrained(tmp_path).eval()
        x = eeg_batch()
        torch.testing.assert_close(base(eeg_values=x).eeg_embeds, model(eeg_values=x).eeg_embeds)


def test_lstm_matches_reference_computation():
    """The LSTM tower is: transpose to time-major, LSTM, last layer's final hidden state, projection, L2."""
    model = EEGEncoderModel(tiny_config(input_normalization="none")).eval()
    x = eeg_batch()
    _, (h, _) = model.tower.lstm(x.transpose(1, 2))
    expected = torch.nn.functional.normalize(h[-1] @ model.tower.proj.weight.T, dim=-1)
    torch.testing.assert_close(model(eeg_values=x).eeg_embeds, expected)


def test_trial_max_normalization_is_authors_formula():
    model = EEGEncoderModel(tiny_config(input_normalization="trial_max")).eval()
    ref = EEGEncoderModel(tiny_config(input_normalization="none")).eval()
    ref.load_state_dict(model.state_dict())
    x = eeg_batch()
    scaled = 2 * x / x.amax(dim=(1, 2), keepdim=True) - 1
    torch.testing.assert_close(model(eeg_values=x).eeg_embeds, ref(eeg_values=scaled).eeg_embeds)


def test_trial_max_refuses_non_positive_maximum():
    model = EEGEncoderModel(tiny_config())
    x = eeg_batch()
    x[1] = -x[1].abs() - 1
    with pytest.raises(ValueError, match=r"trials \[1\].*maximum <= 0"):
        model(eeg_values=x)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.randn(N_CHANS, N_TIMES), "2-D tensor"),
        (torch.randn(2, N_CHANS + 1, N_TIMES), f"{N_CHANS} channels"),
        (torch.randn(2, N_CHANS, N_TIMES - 1), f"{N_TIMES} time samples"),
        (torch.ones(2, N_CHANS, N_TIMES, dtype=torch.int64), "floating-point"),
        ("not a tensor", "torch.Tensor"),
    ],
)
def test_bad_input_raises(bad, message):
    with pytest.raises(ValueError, match=message):
        EEGEncoderModel(tiny_config())(eeg_values=bad)


def test_nan_input_names_trial():
    x = eeg_batch()
    x[2, 0, 5] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf.*\[2\]"):
        EEGEncoderModel(tiny_config())(eeg_values=x)


def test_bad_config_values():
    with pytest.raises(ValueError, match="architecture"):
        EEGEncoderConfig(architecture="transformer")
    with pytest.raises(ValueError, match="input_normalization"):
        EEGEncoderConfig(input_normalization="minmax")
    with pytest.raises(ValueError, match="single element"):
        EEGEncoderModel(EEGEncoderConfig(architecture="cnn", n_chans=2, n_times=8, cnn_channels=[4, 4, 4, 4]))


def test_paper_sized_configs_build():
    lstm = EEGEncoderModel(EEGEncoderConfig())
    cnn = EEGEncoderModel(EEGEncoderConfig(architecture="cnn"))
    assert lstm.tower.lstm.num_layers == 4 and lstm.tower.lstm.hidden_size == 128
    assert [b.conv.out_channels for b in cnn.tower.blocks] == [128, 256, 512, 1024]
    assert cnn.tower.proj.weight.shape == (128, 1024) and lstm.tower.proj.bias is None


def test_remote_code_load_without_package(tmp_path):
    model = EEGEncoderModel(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    x = eeg_batch()
    torch.save(x, tmp_path / "x.pt")
    expected = model(eeg_values=x).eeg_embeds
    proc = run_python(f"""
        import sys
        sys.modules["eeg2img_hf"] = None  # make the package unimportable
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        assert "eeg2img_hf" not in type(model).__module__, type(model).__module__
        out = model(eeg_values=torch.load({str(tmp_path / 'x.pt')!r})).eeg_embeds
        torch.save(out, {str(tmp_path / 'out.pt')!r})
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), expected)


@pytest.mark.parametrize("transformers_first", [False, True])
def test_import_is_light_and_enough_for_the_auto_classes(tmp_path, transformers_first):
    """`import eeg2img_hf` loads nothing heavy itself, yet AutoModel / pipeline(task) know the package afterwards,
    whether transformers was imported before or after it; the waiting finder leaves `sys.meta_path`; `register()`
    stays idempotent."""
    EEGEncoderModel(tiny_config()).save_pretrained(tmp_path)
    proc = run_python(f"""
        import sys, json
        {"import transformers; from transformers import AutoModel" if transformers_first else ""}
        loaded = set(sys.modules)
        import eeg2img_hf
        heavy = [m for m in ("torch", "transformers", "datasets", "accelerate", "sklearn")
                 if m in sys.modules and m not in loaded]
        registered_at_import = "eeg2img_hf.models" in sys.modules
        from transformers import AutoConfig, AutoModel
        model = AutoModel.from_pretrained({str(tmp_path)!r})
        config = AutoConfig.from_pretrained({str(tmp_path)!r})
        from transformers.pipelines import PIPELINE_REGISTRY
        eeg2img_hf.register()
        eeg2img_hf.register()  # idempotent
        print(json.dumps({{"heavy": heavy if not registered_at_import else [], "now": registered_at_import,
                          "type": type(model).__name__, "config": type(config).__name__,
                          "task": "eeg-to-image" in PIPELINE_REGISTRY.supported_tasks,
                          "waiting": [type(f).__name__ for f in sys.meta_path if "Registration" in type(f).__name__]}}))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # transformers' Auto classes loaded first: registered at once (which imports the models); else nothing heavy
    assert result == {"heavy": [], "now": transformers_first, "type": "EEGEncoderModel",
                      "config": "EEGEncoderConfig", "task": True, "waiting": []}


class TestCNNBatchNormEncoder(TestLSTMEncoder):
    def get_config(self):
        return tiny_config(architecture="cnn", cnn_dropout=0.0, cnn_norm="batch")


def test_authors_instance_norm_cnn_is_nearly_input_independent_on_tiny_maps():
    """Documented finding: with 2-element final maps, non-affine instance norm + pooling discards the input
    (each normalised pair becomes about (+1, -1) whatever the input; only the eps term leaks through)."""
    torch.manual_seed(0)
    base = dict(architecture="cnn", n_chans=14, n_times=32, cnn_channels=[8, 8, 8, 8], cnn_dropout=0.0)
    x = torch.randn(64, 14, 32) * 3 + 0.5
    spread = {}
    for norm in ("instance", "batch"):
        embeds = EEGEncoderModel(EEGEncoderConfig(**base, cnn_norm=norm)).eval()(eeg_values=x).eeg_embeds
        spread[norm] = (embeds - embeds.mean(0)).norm(dim=1).mean().item()
    assert spread["instance"] < 0.1 < spread["batch"], spread
