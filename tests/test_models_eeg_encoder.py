from __future__ import annotations

import copy
import json
import math

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


class TestATMEncoder(TestLSTMEncoder):
    """ATM's tower (`architecture="atm"`), tiny: token size 10 (odd head size 3 with 3 heads), 2 encoder layers, 4
    convolution filters; dropouts off so the contract's determinism and save/load checks compare exact outputs."""

    def get_config(self):
        return tiny_config(architecture="atm", atm_d_model=10, atm_num_heads=3, atm_num_layers=2, atm_ff_dim=7,
                           atm_dropout=0.0, atm_conv_filters=4, atm_conv_kernel_size=3, atm_pool_size=4,
                           atm_pool_stride=2, atm_conv_dropout=0.0, atm_proj_dropout=0.0)

    def test_layout(self):
        tower = self.make_model().tower
        assert tower.token_embedding.weight.shape == (10, N_TIMES)  # one token per channel: its whole time course
        assert tower.subject_token.shape == (1, 1, 10)
        assert tower.layers[0].attention.query.weight.shape == (9, 10)  # 3 heads of 10 // 3 dimensions
        assert tower.spatial.weight.shape == (4, 4, N_CHANS, 1)  # across all channels
        assert tower.proj_in.in_features == 4 * ((10 - 3 + 1 - 4) // 2 + 1)

    def test_subject_token_is_dropped_after_the_transformer(self):
        tower = self.make_model().eval().tower
        assert tower.encode_channels(eeg_batch(2)).shape == (2, N_CHANS, 10)

    def test_positional_encoding_is_the_sinusoid(self):
        from eeg2img_hf.models.eeg_encoder.modeling_eeg_encoder import sinusoidal_positions

        table = sinusoidal_positions(3, 5)
        position, column = 2, 3  # odd column: cos(p / 10000^(2 * 1 / 5))
        torch.testing.assert_close(table[position, column], torch.tensor(math.cos(2 / 10000 ** (2 / 5))))
        torch.testing.assert_close(table[1, 0], torch.tensor(math.sin(1.0)))
        assert table.shape == (3, 5)

    @pytest.mark.parametrize("n_chans, n_times, kernel, pool, stride", [(17, 100, 10, 20, 2), (63, 250, 25, 51, 5)])
    def test_things_eeg2_and_atm_input_shapes_train(self, n_chans, n_times, kernel, pool, stride):
        config = EEGEncoderConfig(architecture="atm", n_chans=n_chans, n_times=n_times, embed_dim=16,
                                  atm_conv_kernel_size=kernel, atm_pool_size=pool, atm_pool_stride=stride,
                                  input_normalization="none", normalize_embeds=False)
        model = EEGEncoderModel(config).train()
        out = model(eeg_values=torch.randn(4, n_chans, n_times)).eeg_embeds
        assert out.shape == (4, 16)
        out.square().sum().backward()
        assert model.tower.proj_in.in_features == 40 * 36  # 100 Hz settings keep ATM's 1440 features
        missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing

    def test_parameter_count_at_atm_input_shape(self):
        """ATM at 63 x 250, 1024-D output. Derivation (Li et al. 2024, the authors' released retrieval model, counting
        the layers its forward pass uses for one subject):
        token embedding 250 x 250 + 250 = 62,750; subject token 250;
        encoder layer: query / key / value 3 x (250 x 248 + 248) = 186,744 (4 heads of 62), output 248 x 250 + 250 =
        62,250, feed-forward 250 x 256 + 256 = 64,256 and 256 x 250 + 250 = 64,250, two layer norms 1,000 (378,500);
        final layer norm 500;
        convolution: temporal 40 x 25 + 40 = 1,040, spatial 40 x 40 x 63 + 40 = 100,840, 1 x 1 40 x 40 + 40 = 1,640,
        two batch norms 160 (103,680);
        projector: 1440 x 1024 + 1024 = 1,475,584 (1440 = 40 filters x 36 pooled steps), 1024 x 1024 + 1024 =
        1,049,600, layer norm 2,048 (2,527,232).
        Total 3,072,912. Their module also holds tensors its forward never uses (a 10-subject embedding table with
        extra shared and mask tokens, two unused subject-wise linear maps, a time-feature embedding) and a logit
        scale, which EEGClip keeps outside the tower."""
        config = EEGEncoderConfig(architecture="atm", n_chans=63, n_times=250, embed_dim=1024)
        model = EEGEncoderModel(config)
        assert sum(p.numel() for p in model.parameters()) == 3_072_912

    @pytest.mark.parametrize("overrides, message", [
        ({"atm_num_heads": 0}, "atm_num_heads must be a positive integer"),
        ({"atm_d_model": 2.5}, "atm_d_model must be a positive integer or None"),
        ({"atm_dropout": 1.0}, r"atm_dropout must be in \[0, 1\)"),
        ({"atm_proj_dropout": -0.1}, r"atm_proj_dropout must be in \[0, 1\)"),
        ({"atm_subject_token": "yes"}, "atm_subject_token must be True or False"),
        ({"atm_pool_size": 200}, "atm pooling window .*atm_pool_size=200"),
        ({"atm_d_model": 2, "atm_num_heads": 4}, r"atm_d_model \(2\) must be at least atm_num_heads \(4\)"),
    ])
    def test_bad_fields_are_refused_by_name(self, overrides, message):
        with pytest.raises(ValueError, match=message):
            tiny_config(architecture="atm", **overrides)

    def test_window_checked_only_for_atm(self):
        with pytest.raises(ValueError, match="atm pooling window"):
            EEGEncoderConfig(architecture="atm", n_chans=17, n_times=60)  # 60 - 25 + 1 = 36 < 51
        EEGEncoderConfig(architecture="lstm", n_times=60)  # the window is ATM's only
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
