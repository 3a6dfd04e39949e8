"""Tests of the EEGStyleGAN-ADA config, generator and discriminator on the tiny preset."""

from __future__ import annotations

import pathlib

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from eeg2img_hf.models import EEGEncoderConfig, EEGStyleGANModel
from eeg2img_hf.models.eeg_stylegan import (
    STYLEGAN_PRESETS,
    EEGStyleGANConfig,
    EEGStyleGANDiscriminator,
    EEGStyleGANDiscriminatorOutput,
    EEGStyleGANGenerator,
    EEGStyleGANGeneratorOutput,
    modeling_eeg_stylegan,
)
from eeg2img_hf.models.eeg_stylegan.modeling_eeg_stylegan import CONDITION_CENTER_SAMPLES, MappingNetwork
from eeg2img_hf.models.eeg_stylegan.ops_stylegan import FullyConnectedLayer, minibatch_std, setup_filter

from testing_utils import ModelTesterMixin, import_roots

BATCH = 4


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread avoids oversubscription slow-downs (10x for gradcheck on a busy box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**overrides) -> EEGStyleGANConfig:
    return EEGStyleGANConfig.from_preset("tiny", **overrides)


def dummy_inputs(config: EEGStyleGANConfig, batch: int = BATCH, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "latents": torch.randn(batch, config.z_dim, generator=gen),
        "eeg_embeds": torch.randn(batch, config.embed_dim, generator=gen),
    }


def build(model_class, config, seed: int = 0):
    torch.manual_seed(seed)
    return model_class(config).eval()


@pytest.fixture(scope="module")
def config() -> EEGStyleGANConfig:
    return tiny_config()


@pytest.fixture()
def generator(config) -> EEGStyleGANGenerator:
    return build(EEGStyleGANGenerator, config)


@pytest.fixture()
def discriminator(config) -> EEGStyleGANDiscriminator:
    return build(EEGStyleGANDiscriminator, config)


# --------------------------------------------------------------------------------------- config


def test_config_defaults_are_the_paper_values():
    config = EEGStyleGANConfig.from_preset("cifar-128")
    assert (config.img_resolution, config.z_dim, config.w_dim, config.embed_dim) == (128, 512, 512, 128)
    assert (config.mapping_num_layers, config.mapping_lr_multiplier) == (2, 0.01)
    assert (config.synthesis_channel_base, config.synthesis_channel_max, config.conv_clamp) == (32768, 512, 256)
    assert (config.architecture, config.discriminator_architecture) == ("skip", "orig")
    assert (config.mbstd_group_size, config.mbstd_num_channels, config.num_ws) == (32, 1, 12)
    assert config.model_type == "eeg2img_stylegan"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"img_resolution": 48}, "power of 2"),
        ({"img_resolution": 2}, "power of 2"),
        ({"architecture": "fancy"}, "architecture"),
        ({"discriminator_architecture": "skip"}, "discriminator_architecture"),
        ({"conditioning": "text"}, "conditioning"),
        ({"z_dim": 0}, "z_dim"),
        ({"conv_clamp": -1}, "conv_clamp"),
        ({"mapping_w_avg_beta": 1.0}, "mapping_w_avg_beta"),
        ({"mbstd_num_channels": 3}, "mbstd_num_channels"),
        ({"resample_filter": [1, -1]}, "resample_filter"),
        ({"synthesis_channel_base": 8}, "Channel bases"),
        ({"num_fp16_res": -1}, "num_fp16_res"),
        ({"discriminator_class_head": 1}, "discriminator_class_head"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**overrides)


def test_config_presets_and_json_round_trip(tmp_path):
    assert set(STYLEGAN_PRESETS) == {"cifar-128", "cpu-small", "cpu-small-wide", "tiny"}
    with pytest.raises(ValueError, match="unknown EEGStyleGANConfig preset"):
        EEGStyleGANConfig.from_preset("huge")
    config = tiny_config(conditioning="onehot", architecture="resnet")
    config.save_pretrained(tmp_path)
    loaded = EEGStyleGANConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.conditioning_dim == config.num_classes


# ---------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_generator_shapes(architecture):
    config = tiny_config(architecture=architecture)
    model = build(EEGStyleGANGenerator, config)
    out = model(**dummy_inputs(config))
    assert isinstance(out, EEGStyleGANGeneratorOutput)
    assert out.images.shape == (BATCH, 3, 16, 16) and out.images.dtype == torch.float32
    assert out.ws.shape == (BATCH, model.num_ws, config.w_dim) and model.num_ws == config.num_ws == 6
    assert torch.isfinite(out.images).all()
    images, ws = model(**dummy_inputs(config), return_dict=False)
    torch.testing.assert_close(images, out.images)
    torch.testing.assert_close(ws, out.ws)


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
def test_discriminator_shapes(architecture):
    config = tiny_config(discriminator_architecture=architecture)
    model = build(EEGStyleGANDiscriminator, config)
    images = torch.randn(BATCH, 3, 16, 16)
    out = model(images, eeg_embeds=torch.randn(BATCH, config.embed_dim))
    assert isinstance(out, EEGStyleGANDiscriminatorOutput)
    assert out.logits.shape == (BATCH, 1) and torch.isfinite(out.logits).all()
    (logits,) = model(images, eeg_embeds=torch.randn(BATCH, config.embed_dim), return_dict=False)
    assert logits.shape == (BATCH, 1)


def test_discriminator_class_head_reads_the_penultimate_features_and_leaves_the_logits_alone(discriminator, config):
    headed = build(EEGStyleGANDiscriminator, tiny_config(discriminator_class_head=True))
    missing, unexpected = headed.load_state_dict(discriminator.state_dict(), strict=False)
    assert sorted(missing) == ["class_head.bias", "class_head.weight"] and not unexpected
    images, eeg = torch.randn(BATCH, 3, 16, 16), torch.randn(BATCH, config.embed_dim)
    plain, out = discriminator(images, eeg_embeds=eeg), headed(images, eeg_embeds=eeg)
    assert plain.class_logits is None and out.class_logits.shape == (BATCH, config.num_classes)
    torch.testing.assert_close(out.logits, plain.logits, rtol=0, atol=0)
    x = None
    for block in headed.blocks:
        x = block(x, images)
    torch.testing.assert_close(out.class_logits, headed.class_head(headed.epilogue.features(x)))
    logits, class_logits = headed(images, eeg_embeds=eeg, return_dict=False)
    torch.testing.assert_close(class_logits, out.class_logits)


def test_discriminator_projection_conditioning(discriminator, config):
    """The logit is the projection of the image features onto cmap = mapping(conditioning), over sqrt(dim)."""
    images, eeg = torch.randn(BATCH, 3, 16, 16), torch.randn(BATCH, config.embed_dim)
    logits = discriminator(images, eeg_embeds=eeg).logits
    x = None
    for block in discriminator.blocks:
        x = block(x, images)
    epilogue = discriminator.epilogue
    features = epilogue.out(epilogue.fc(epilogue.conv(minibatch_std(x, 2, 1)).flatten(1)))
    cmap = discriminator.mapping(None, eeg)
    assert features.shape == cmap.shape == (BATCH, 16)
    torch.testing.assert_close(logits, (features * cmap).sum(1, keepdim=True) / 4.0)
    assert not torch.allclose(discriminator(images, eeg_embeds=eeg.roll(1, 0)).logits, logits)
    # the EEG embedding's scale does not matter: it is 2nd-moment normalised after the embedding layer
    torch.testing.assert_close(discriminator(images, eeg_embeds=3 * eeg).logits, logits)


def test_resolution_4_and_cpu_small_preset():
    for config in (tiny_config(img_resolution=4), EEGStyleGANConfig.from_preset("cpu-small")):
        generator, discriminator = build(EEGStyleGANGenerator, config), build(EEGStyleGANDiscriminator, config)
        images = generator(**dummy_inputs(config, batch=2)).images
        res = config.img_resolution
        assert images.shape == (2, 3, res, res)
        assert discriminator(images, eeg_embeds=torch.randn(2, config.embed_dim)).logits.shape == (2, 1)


def test_onehot_conditioning():
    config = tiny_config(conditioning="onehot")
    generator, discriminator = build(EEGStyleGANGenerator, config), build(EEGStyleGANDiscriminator, config)
    latents = torch.randn(BATCH, config.z_dim)
    labels = torch.tensor([0, 4, 2, 2])
    by_index = generator(latents, class_labels=labels).images
    by_vector = generator(latents, class_labels=F.one_hot(labels, config.num_classes).float()).images
    assert by_index.shape == (BATCH, 3, 16, 16)
    torch.testing.assert_close(by_index, by_vector)
    assert discriminator(by_index, class_labels=labels).logits.shape == (BATCH, 1)
    with pytest.raises(ValueError, match="needs `class_labels`"):
        generator(latents, eeg_embeds=torch.randn(BATCH, config.embed_dim))
    with pytest.raises(ValueError, match=r"must be in \[0, 5\)"):
        generator(latents, class_labels=torch.tensor([0, 1, 2, 5]))
    with pytest.raises(ValueError, match=r"Expected `class_labels` of shape \(4, 5\), got \(4, 3\)"):
        generator(latents, class_labels=torch.zeros(BATCH, 3))


def test_input_validation(generator, discriminator, config):
    inputs = dummy_inputs(config)
    with pytest.raises(ValueError, match=r"Expected `latents` of shape \(4, 8\), got \(4, 7\)"):
        generator(torch.randn(BATCH, 7), inputs["eeg_embeds"])
    with pytest.raises(ValueError, match=r"Expected `latents` of shape \(batch_size, 8\), got \(8,\)"):
        generator(torch.randn(8), inputs["eeg_embeds"])
    with pytest.raises(ValueError, match=r"Expected `eeg_embeds` of shape \(4, 12\), got \(4, 128\)"):
        generator(inputs["latents"], torch.randn(BATCH, 128))
    with pytest.raises(ValueError, match="needs `eeg_embeds`"):
        generator(inputs["latents"])
    with pytest.raises(ValueError, match="noise_mode"):
        generator(**inputs, noise_mode="loud")
    with pytest.raises(ValueError, match=r"Expected `ws` of shape \(\*, 6, 8\), got \(4, 5, 8\)"):
        generator.synthesis(torch.randn(BATCH, 5, 8))
    with pytest.raises(ValueError, match=r"Expected `images` of shape \(\*, 3, 16, 16\), got \(4, 3, 32, 32\)"):
        discriminator(torch.randn(BATCH, 3, 32, 32), eeg_embeds=inputs["eeg_embeds"])
    with pytest.raises(ValueError, match="divisible by the minibatch-std group size"):
        discriminator(torch.randn(3, 3, 16, 16), eeg_embeds=torch.randn(3, config.embed_dim))


# ------------------------------------------------------------------- weights, buffers, loading


def test_save_and_load_round_trip(tmp_path, config):
    generator, discriminator = build(EEGStyleGANGenerator, config, seed=1), build(EEGStyleGANDiscriminator, config)
    generator.mapping.w_avg.normal_()  # a non-default buffer value must survive too
    for name, model in (("g", generator), ("d", discriminator)):
        model.save_pretrained(tmp_path / name)
        assert (tmp_path / name / "model.safetensors").exists()
        loaded = type(model).from_pretrained(tmp_path / name).eval()
        state, loaded_state = model.state_dict(), loaded.state_dict()
        assert state.keys() == loaded_state.keys()
        for key, value in state.items():
            assert torch.equal(value, loaded_state[key]), key
    keys = set(load_file(tmp_path / "g" / "model.safetensors"))
    assert {"mapping.w_avg", "synthesis.blocks.1.resample_filter", "synthesis.blocks.1.conv0.noise_const"} <= keys
    inputs = dummy_inputs(config)
    reloaded = EEGStyleGANGenerator.from_pretrained(tmp_path / "g").eval()
    assert torch.equal(generator(**inputs, noise_mode="const").images, reloaded(**inputs, noise_mode="const").images)


def test_missing_buffers_are_rebuilt_on_load(tmp_path, config):
    """`from_pretrained` builds on the meta device; `_init_weights` must recreate what the file lacks."""
    generator = build(EEGStyleGANGenerator, config)
    generator.save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    state = {k: v for k, v in load_file(path).items() if not k.endswith(("resample_filter", "w_avg"))}
    save_file(state, path, metadata={"format": "pt"})
    loaded = EEGStyleGANGenerator.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.synthesis.blocks[1].resample_filter, setup_filter([1, 3, 3, 1]))
    assert torch.equal(loaded.synthesis.blocks[1].conv0.resample_filter, setup_filter([1, 3, 3, 1]))
    assert torch.equal(loaded.mapping.w_avg, torch.zeros(config.w_dim))
    inputs = dummy_inputs(config)
    assert torch.equal(loaded(**inputs).images, generator(**inputs).images)


@pytest.mark.parametrize("model_class", [EEGStyleGANGenerator, EEGStyleGANDiscriminator])
def test_init_weights_sets_every_parameter_and_buffer(model_class, config):
    model = build(model_class, config)
    tensors = dict(model.named_parameters()) | {k: v for k, v in model.named_buffers() if v is not None}
    with torch.no_grad():
        for tensor in tensors.values():
            tensor.fill_(float("nan"))
    for module in model.modules():
        model._init_weights(module)
    for name, tensor in tensors.items():
        assert torch.isfinite(tensor).all(), name
        if name.endswith("resample_filter"):
            assert torch.equal(tensor, setup_filter([1, 3, 3, 1])), name
        elif name.endswith(("noise_strength", "w_avg")) or (name.endswith("bias") and "affine" not in name):
            if "mapping" not in name:
                assert torch.count_nonzero(tensor) == 0, name
    for module in model.modules():
        if isinstance(module, FullyConnectedLayer) and module.weight.numel() > 100:
            std = module.weight.std().item() * module.lr_multiplier
            assert 0.8 < std < 1.2, "equalised-lr weights must be N(0, 1) / lr_multiplier"
        if isinstance(module, FullyConnectedLayer) and module.bias_init == 1.0:  # style affines start at 1
            torch.testing.assert_close(module.bias * module.bias_gain, torch.ones_like(module.bias))
    if model_class is EEGStyleGANGenerator:
        assert 0.7 < model.synthesis.blocks[0].const.std().item() < 1.3
        assert torch.isfinite(model(**dummy_inputs(config)).images).all()


def test_no_nan_after_init(generator, discriminator, config):
    for model in (generator, discriminator):
        for name, tensor in model.state_dict().items():
            assert torch.isfinite(tensor).all(), name
    images = generator(**dummy_inputs(config), noise_mode="random").images
    assert torch.isfinite(images).all() and 0.1 < images.std().item() < 10
    assert torch.isfinite(discriminator(images, eeg_embeds=dummy_inputs(config)["eeg_embeds"]).logits).all()


def test_determinism_under_seed(config):
    first, second = build(EEGStyleGANGenerator, config, seed=3), build(EEGStyleGANGenerator, config, seed=3)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    inputs = dummy_inputs(config)
    outs = [first(**inputs, noise_mode="random", generator=torch.Generator().manual_seed(7)).images for _ in range(2)]
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(11)
    global_a = first(**inputs, noise_mode="random").images
    torch.manual_seed(11)
    assert torch.equal(global_a, first(**inputs, noise_mode="random").images)


def test_noise_modes(generator, config):
    with torch.no_grad():
        for module in generator.modules():
            if hasattr(module, "noise_strength"):
                module.noise_strength.fill_(0.5)
    inputs = dummy_inputs(config)
    const = generator(**inputs, noise_mode="const").images
    assert torch.equal(const, generator(**inputs, noise_mode="const").images)
    assert not torch.allclose(const, generator(**inputs, noise_mode="none").images)
    assert not torch.allclose(const, generator(**inputs, noise_mode="random").images)


# ------------------------------------------------------------------ mapping, w space, truncation


def test_mapping_and_synthesis_are_separately_callable(generator, config):
    inputs = dummy_inputs(config)
    ws = generator.mapping(inputs["latents"], inputs["eeg_embeds"])
    assert ws.shape == (BATCH, 6, config.w_dim)
    assert torch.equal(ws[:, 0], ws[:, -1])  # broadcast before truncation
    torch.testing.assert_close(generator.synthesis(ws), generator(**inputs).images)
    mixed = torch.cat([ws[:, :3], ws.roll(1, dims=0)[:, 3:]], dim=1)  # style mixing
    assert generator.synthesis(mixed).shape == (BATCH, 3, 16, 16)
    fused = generator.synthesis(ws, fused_modconv=True)
    torch.testing.assert_close(generator.synthesis(ws, fused_modconv=False), fused, atol=1e-5, rtol=1e-4)


def test_truncation_psi_zero_gives_w_avg_image(generator, config):
    with torch.no_grad():
        generator.mapping.w_avg.normal_()
    eeg = dummy_inputs(config)["eeg_embeds"]
    first = generator(torch.randn(BATCH, config.z_dim), eeg, truncation_psi=0.0)
    second = generator(torch.randn(BATCH, config.z_dim) * 5, eeg.flip(0), truncation_psi=0.0)
    w_avg_ws = generator.mapping.w_avg.expand(BATCH, generator.num_ws, -1)
    torch.testing.assert_close(first.ws, w_avg_ws)
    torch.testing.assert_close(first.images, generator.synthesis(w_avg_ws))
    torch.testing.assert_close(second.images, first.images)


def test_conditional_truncation_keeps_the_condition(generator, config):
    eeg = dummy_inputs(config)["eeg_embeds"]
    center = generator.mapping.condition_center(eeg)
    assert center.shape == (BATCH, config.w_dim)
    torch.testing.assert_close(center, generator.mapping.condition_center(eeg))  # fixed latents: same centre
    fixed = torch.randn(CONDITION_CENTER_SAMPLES, config.z_dim, generator=torch.Generator().manual_seed(0))
    by_hand = torch.stack([generator.mapping(fixed, e.expand(CONDITION_CENTER_SAMPLES, -1))[:, 0].mean(0)
                           for e in eeg])
    torch.testing.assert_close(center, by_hand)  # the mean w of the condition over the fixed latents
    # psi = 0: every latent gives its condition's centre image; different conditions stay different
    first = generator(torch.randn(BATCH, config.z_dim), eeg, truncation_psi=0.0, truncation_center="condition")
    second = generator(torch.randn(BATCH, config.z_dim) * 5, eeg, truncation_psi=0.0, truncation_center="condition")
    torch.testing.assert_close(first.ws, center[:, None].expand(-1, generator.num_ws, -1))
    torch.testing.assert_close(second.images, first.images)
    assert not torch.allclose(first.images[0], first.images[1])
    # psi = 0.5 lies halfway between the untruncated w and the centre; psi = 1 ignores the centre
    latents = torch.randn(BATCH, config.z_dim)
    plain = generator.mapping(latents, eeg)
    half = generator.mapping(latents, eeg, truncation_psi=0.5, truncation_center="condition")
    torch.testing.assert_close(half, (plain + center[:, None]) / 2)
    torch.testing.assert_close(generator.mapping(latents, eeg, truncation_center="condition"), plain)
    with pytest.raises(ValueError, match="truncation_center"):
        generator(latents, eeg, truncation_psi=0.5, truncation_center="class")


def test_truncation_cutoff(generator, config):
    with torch.no_grad():
        generator.mapping.w_avg.normal_()
    inputs = dummy_inputs(config)
    plain = generator(**inputs).ws
    truncated = generator(**inputs, truncation_psi=0.5, truncation_cutoff=2).ws
    w_avg = generator.mapping.w_avg
    torch.testing.assert_close(truncated[:, :2], w_avg + 0.5 * (plain[:, :2] - w_avg))
    torch.testing.assert_close(truncated[:, 2:], plain[:, 2:])


def test_w_avg_ema_updates_only_in_training(generator, config):
    inputs = dummy_inputs(config)
    generator(**inputs)
    assert torch.count_nonzero(generator.mapping.w_avg) == 0
    generator.train()
    ws = generator(**inputs, noise_mode="random").ws
    expected = torch.zeros(config.w_dim).lerp(ws[:, 0].detach().mean(0), 1 - config.mapping_w_avg_beta)
    torch.testing.assert_close(generator.mapping.w_avg, expected)


# --------------------------------------------------------------------- training behaviour


def test_every_parameter_gets_a_gradient(config):
    generator = build(EEGStyleGANGenerator, config).train()
    discriminator = build(EEGStyleGANDiscriminator, config).train()
    inputs = dummy_inputs(config)
    fake = generator(**inputs, noise_mode="random").images
    real = torch.randn(BATCH, 3, 16, 16)
    fake_logits = discriminator(fake, eeg_embeds=inputs["eeg_embeds"]).logits
    real_logits = discriminator(real, eeg_embeds=inputs["eeg_embeds"]).logits
    loss = F.softplus(-fake_logits).mean() + F.softplus(-real_logits).mean()  # non-saturating logistic
    loss.backward()
    for model in (generator, discriminator):
        for name, param in model.named_parameters():
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name
            assert param.grad.abs().sum() > 0, name


def test_fp16_blocks_run_on_cpu():
    config = tiny_config(num_fp16_res=2)
    generator, discriminator = build(EEGStyleGANGenerator, config), build(EEGStyleGANDiscriminator, config)
    assert [b.use_fp16 for b in generator.synthesis.blocks] == [False, True, True]
    inputs = dummy_inputs(config)
    images = generator(**inputs).images
    assert images.dtype == torch.float32 and torch.isfinite(images).all()
    reference = generator.synthesis(generator.mapping(inputs["latents"], inputs["eeg_embeds"]), force_fp32=True)
    torch.testing.assert_close(images, reference, atol=0.05, rtol=0.05)
    assert torch.isfinite(discriminator(images, eeg_embeds=inputs["eeg_embeds"]).logits).all()


def test_generator_can_overfit_a_target(config):
    generator = build(EEGStyleGANGenerator, config).train()
    inputs = dummy_inputs(config, batch=2)
    target = torch.rand(2, 3, 16, 16) * 2 - 1
    before = {k: v.detach().clone() for k, v in generator.named_parameters()}
    optimizer = torch.optim.Adam(generator.parameters(), lr=0.01, betas=(0.0, 0.99))
    losses = []
    for _ in range(40):
        loss = F.mse_loss(generator(**inputs, noise_mode="const").images, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    moved = [k for k, v in generator.named_parameters() if not torch.equal(v, before[k])]
    assert len(moved) == len(before)


def test_modeling_imports_only_torch_transformers_and_siblings():
    path = pathlib.Path(modeling_eeg_stylegan.__file__).parent
    allowed = {"__future__", "math", "collections", "dataclasses", "typing", "inspect", "pathlib", "shutil", "sys",
               "torch", "transformers", "."}
    for name in ("modeling_eeg_stylegan.py", "ops_stylegan.py", "configuration_eeg_stylegan.py"):
        roots = import_roots((path / name).read_text())
        assert roots <= allowed, (name, roots)


def _composite(conditioning: str = "eeg"):
    encoder = EEGEncoderConfig(n_chans=4, n_times=32, lstm_num_layers=1, lstm_hidden_size=10, embed_dim=12)
    config = EEGStyleGANConfig.from_preset("tiny", conditioning=conditioning, encoder_config=encoder)
    torch.manual_seed(0)
    return EEGStyleGANModel(config).eval()


def test_composite_runs_encoder_then_generator():
    model = _composite()
    eeg = torch.randn(3, 4, 32).abs()
    latents = torch.randn(3, 8)
    out = model(eeg_values=eeg, latents=latents)
    embeds = model.eeg_encoder(eeg_values=eeg).eeg_embeds
    torch.testing.assert_close(out.eeg_embeds, embeds)
    torch.testing.assert_close(out.images, model.generator(latents, eeg_embeds=embeds).images)
    torch.testing.assert_close(model(eeg_embeds=embeds, latents=latents).images, out.images)
    seeded = [model(eeg_values=eeg, generator=torch.Generator().manual_seed(5)).images for _ in range(2)]
    assert torch.equal(*seeded)
    with pytest.raises(ValueError, match="not both"):
        model(eeg_values=eeg, eeg_embeds=embeds)
    with pytest.raises(ValueError, match="channels"):
        model(eeg_values=torch.randn(3, 5, 32))


def test_composite_onehot_has_no_encoder():
    model = _composite("onehot")
    assert model.eeg_encoder is None
    assert model(class_labels=torch.tensor([0, 4]), latents=torch.randn(2, 8)).images.shape == (2, 3, 16, 16)


def test_composite_save_load_and_remote_code(tmp_path):
    from testing_utils import run_python

    model = _composite()
    model.save_pretrained(tmp_path)
    assert "class EEGEncoderModel" in (tmp_path / "modeling_eeg_encoder.py").read_text()
    eeg, latents = torch.randn(2, 4, 32).abs(), torch.randn(2, 8)
    expected = model(eeg_values=eeg, latents=latents).images
    loaded = type(model).from_pretrained(tmp_path).eval()
    assert torch.equal(loaded(eeg_values=eeg, latents=latents).images, expected)
    torch.save((eeg, latents, expected), tmp_path / "io.pt")
    proc = run_python(f"""
        import sys
        sys.modules["eeg2img_hf"] = None
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        eeg, latents, expected = torch.load({str(tmp_path / 'io.pt')!r})
        torch.testing.assert_close(model(eeg_values=eeg, latents=latents).images, expected, rtol=1e-5, atol=1e-5)
        print(type(model).__name__)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("EEGStyleGANModel")


def test_conditioning_standardization_is_applied_saved_and_checked(tmp_path):
    torch.manual_seed(0)
    mapping = MappingNetwork(z_dim=4, c_dim=6, w_dim=8, num_ws=None, num_layers=2).eval()
    z, c = torch.randn(3, 4), torch.randn(3, 6)
    shift, scale = torch.randn(6), torch.rand(6) + 0.5
    plain = mapping(z, (c - shift) * scale, update_w_avg=False)
    mapping.set_conditioning_standardization(shift, scale)
    torch.testing.assert_close(mapping(z, c, update_w_avg=False), plain)
    assert {"conditioning_shift", "conditioning_scale"} <= set(mapping.state_dict())
    with pytest.raises(ValueError, match="finite vector of size 6"):
        mapping.set_conditioning_standardization(torch.zeros(5), scale)
    with pytest.raises(ValueError, match="positive"):
        mapping.set_conditioning_standardization(shift, -scale)
    generator = EEGStyleGANGenerator(EEGStyleGANConfig.from_preset("tiny"))
    assert torch.equal(generator.mapping.conditioning_scale, torch.ones(generator.config.conditioning_dim))
    generator.mapping.set_conditioning_standardization(torch.full((12,), 0.1), torch.full((12,), 3.0))
    generator.save_pretrained(tmp_path)
    loaded = EEGStyleGANGenerator.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.mapping.conditioning_scale, torch.full((12,), 3.0))


# ------------------------------------------------------------------------- shared model contract (mixin)


class TestGeneratorContract(ModelTesterMixin):
    model_class = EEGStyleGANGenerator
    output_key = "images"

    def get_config(self):
        return tiny_config()

    def get_inputs(self, batch_size: int = 3) -> dict[str, torch.Tensor]:
        return dummy_inputs(self.get_config(), batch=batch_size)


class TestDiscriminatorContract(ModelTesterMixin):
    model_class = EEGStyleGANDiscriminator
    output_key = "logits"

    def get_config(self):
        return tiny_config()

    def get_inputs(self, batch_size: int = 3) -> dict[str, torch.Tensor]:
        config = self.get_config()
        batch_size += batch_size % config.mbstd_group_size  # minibatch-std groups must divide the batch
        gen = torch.Generator().manual_seed(1)
        images = torch.randn(
            batch_size, config.img_channels, config.img_resolution, config.img_resolution, generator=gen
        )
        return {"images": images, "eeg_embeds": torch.randn(batch_size, config.embed_dim, generator=gen)}


class TestDiscriminatorWithClassHeadContract(TestDiscriminatorContract):
    """The same contract with AC-GAN's class head (its weights saved, loaded and trained like the rest)."""

    def get_config(self):
        return tiny_config(discriminator_class_head=True, num_classes=7)


class TestEEGStyleGANModelContract(ModelTesterMixin):
    model_class = EEGStyleGANModel
    output_key = "images"

    def get_config(self):
        encoder = EEGEncoderConfig(n_chans=5, n_times=32, lstm_num_layers=1, lstm_hidden_size=10, embed_dim=12)
        return EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)

    def get_inputs(self, batch_size: int = 3) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(2)
        return {"eeg_values": torch.rand(batch_size, 5, 32, generator=gen) + 0.1,
                "latents": torch.randn(batch_size, self.get_config().z_dim, generator=gen)}
