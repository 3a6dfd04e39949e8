from __future__ import annotations

import copy
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


def _cnn_pair(norm: str):
    """A small CNN encoder (dropout on) and a copy of it with activation checkpointing in chunks of 3 trials."""
    torch.manual_seed(0)
    plain = EEGEncoderModel(EEGEncoderConfig(architecture="cnn", n_chans=6, n_times=37, cnn_channels=[5, 8, 9],
                                             cnn_dropout=0.3, cnn_norm=norm))
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable()
    checkpointed.tower.checkpoint_chunk_size = 3  # 7 trials: chunks of 3, 3 and 1
    return plain, checkpointed


def _embeds_and_grads(model, eeg, seed: int = 5):
    torch.manual_seed(seed)  # the same dropout draws for both models
    embeds = model(eeg_values=eeg).eeg_embeds
    embeds.square().sum().backward()
    return embeds, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_cnn_checkpointing_gives_the_same_outputs_and_gradients(norm):
    plain, checkpointed = _cnn_pair(norm)
    eeg = torch.randn(7, 6, 37) + 1.0
    embeds, grads = _embeds_and_grads(plain, eeg)
    embeds_ckpt, grads_ckpt = _embeds_and_grads(checkpointed, eeg)
    torch.testing.assert_close(embeds_ckpt, embeds)
    for grad, grad_ckpt in zip(grads, grads_ckpt, strict=True):
        torch.testing.assert_close(grad_ckpt, grad)
    torch.manual_seed(6)  # and the draws differ from step to step, as plain dropout's do
    assert not torch.equal(checkpointed(eeg_values=eeg).eeg_embeds, embeds_ckpt)


def test_cnn_checkpointing_keeps_less_for_the_backward_pass():
    plain, checkpointed = _cnn_pair("instance")
    eeg = torch.randn(7, 6, 37) + 1.0

    def saved_bytes(model) -> int:
        storages = {}

        def pack(tensor):
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(eeg_values=eeg)
        return sum(storages.values())

    # the checkpointed model keeps its inputs (and boolean dropout masks), not the float feature maps
    assert saved_bytes(checkpointed) < saved_bytes(plain) / 2


def test_cnn_in_place_activation_is_exact():
    # LeakyReLU runs in place (one feature map less per block in inference): outputs and gradients equal the
    # out-of-place op's
    plain, _ = _cnn_pair("instance")
    assert all(block.act.inplace for block in plain.tower.blocks)
    reference = copy.deepcopy(plain)
    for block in reference.tower.blocks:
        block.act = torch.nn.LeakyReLU(block.act.negative_slope)
    eeg = torch.randn(7, 6, 37) + 1.0
    embeds, grads = _embeds_and_grads(plain, eeg)
    embeds_ref, grads_ref = _embeds_and_grads(reference, eeg)
    assert torch.equal(embeds, embeds_ref)
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_ref, strict=True))


def test_cnn_checkpointing_off_in_eval_and_refused_with_batch_norm():
    plain, checkpointed = _cnn_pair("instance")
    eeg = torch.randn(7, 6, 37) + 1.0
    with torch.no_grad():
        assert torch.equal(checkpointed.eval()(eeg_values=eeg).eeg_embeds, plain.eval()(eeg_values=eeg).eeg_embeds)
    _, batch_norm = _cnn_pair("batch")
    with pytest.raises(ValueError, match="batch norm"):
        batch_norm(eeg_values=eeg)
    lstm = EEGEncoderModel(tiny_config(architecture="lstm"))
    with pytest.raises(ValueError, match="not compatible with gradient checkpointing"):
        lstm.activation_checkpointing_enable()


def _lstm_ops_and_results(mkldnn: bool):
    """The ATen ops one LSTM encoder training pass runs with oneDNN on or off, its embeddings and gradients."""
    torch.manual_seed(0)
    model = EEGEncoderModel(tiny_config(architecture="lstm"))
    eeg = torch.randn(3, N_CHANS, N_TIMES) + 1.0
    enabled, torch.backends.mkldnn.enabled = torch.backends.mkldnn.enabled, mkldnn
    try:
        with torch.profiler.profile() as prof:
            embeds, grads = _embeds_and_grads(model, eeg)
    finally:
        torch.backends.mkldnn.enabled = enabled
    return {event.key for event in prof.key_averages()}, embeds, grads


def test_lstm_kernel_follows_the_mkldnn_flag():
    # docs/benchmarks.md: the switch that leaves oneDNN's LSTM for PyTorch's own kernel (same results)
    native_ops, embeds, grads = _lstm_ops_and_results(mkldnn=False)
    assert "aten::lstm" in native_ops and not any("mkldnn" in op for op in native_ops)
    if torch.backends.mkldnn.is_available():
        onednn_ops, embeds_onednn, grads_onednn = _lstm_ops_and_results(mkldnn=True)
        assert "aten::mkldnn_rnn_layer" in onednn_ops and "aten::mkldnn_rnn_layer_backward" in onednn_ops
        torch.testing.assert_close(embeds_onednn, embeds)
        for grad, grad_onednn in zip(grads, grads_onednn, strict=True):
            torch.testing.assert_close(grad_onednn, grad)
