"""Contract tests of EEGClip: config, model, CLIP loss, image processor, Auto classes and remote code."""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from eeg2img_hf.models.eeg_clip import (
    CLIP_MODEL_PRESETS,
    EEGClipConfig,
    EEGClipModel,
    clip_loss,
    make_image_processor,
    modeling_eeg_clip,
    positives_from_ids,
)

from testing_utils import ModelTesterMixin, import_roots, run_python

N_CHANS, N_TIMES, SIZE = 4, 32, 32


def eeg_batch(batch_size: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch_size, N_CHANS, N_TIMES, generator=g) + 0.1


def pixel_batch(batch_size: int = 3, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, 3, SIZE, SIZE, generator=g)


def tiny(**overrides) -> EEGClipConfig:
    return EEGClipConfig.from_preset("tiny", **overrides)


class TestEEGClipModel(ModelTesterMixin):
    model_class = EEGClipModel
    output_key = "logits_per_eeg"

    def get_config(self):
        return tiny()

    def get_inputs(self, batch_size=3):
        return {"eeg_values": eeg_batch(batch_size), "pixel_values": pixel_batch(batch_size)}

    def test_shapes_norms_and_symmetry(self):
        model = self.make_model()
        out = model(eeg_values=eeg_batch(3), pixel_values=pixel_batch(5), return_dict=True)
        assert out.logits_per_eeg.shape == (3, 5) and out.logits_per_image.shape == (5, 3)
        assert out.eeg_embeds.shape == (3, 6) and out.image_embeds.shape == (5, 6)
        torch.testing.assert_close(out.logits_per_image, out.logits_per_eeg.t())
        torch.testing.assert_close(out.eeg_embeds.norm(dim=-1), torch.ones(3))
        torch.testing.assert_close(out.image_embeds.norm(dim=-1), torch.ones(5))
        expected = math.exp(0.5) * out.eeg_embeds @ out.image_embeds.t()
        torch.testing.assert_close(out.logits_per_eeg, expected)
        torch.testing.assert_close(model.get_eeg_features(eeg_batch(3)), out.eeg_embeds)
        torch.testing.assert_close(model.get_image_features(pixel_batch(5)), out.image_embeds)
        assert out.loss is None

    def test_single_modality_and_loss(self):
        model = self.make_model()
        only_eeg = model(eeg_values=eeg_batch(2))
        assert only_eeg.logits_per_eeg is None and only_eeg.image_embeds is None and only_eeg.eeg_embeds.shape == (2, 6)
        out = model(**self.get_inputs(4), return_loss=True)
        torch.testing.assert_close(out.loss, clip_loss(out.logits_per_eeg))

    def test_towers_and_projection_layout(self):
        model = self.make_model()
        assert model.eeg_projection.bias is None and model.eeg_projection.weight.shape == (6, 12)
        relu, linear = model.image_projection
        assert isinstance(relu, torch.nn.ReLU) and linear.bias is None and linear.weight.shape == (6, 14)
        assert type(model.vision_model).__name__ == "ResNetModel"


def test_config_defaults_are_the_authors_values():
    config = EEGClipConfig()
    assert config.projection_dim == 256 and config.logit_scale_init_value == 0.5
    assert not config.learnable_logit_scale and config.freeze_vision_tower
    assert config.encoder_config.lstm_num_layers == 1 and config.encoder_config.lstm_hidden_size == 128
    assert config.vision_config.model_type == "resnet" and config.vision_embed_dim == 2048
    assert config.vision_config.hidden_sizes == [256, 512, 1024, 2048]
    assert list(config.vision_config.depths) == [3, 4, 6, 3]
    assert (config.image_size, config.image_resize_size) == (224, 232)
    assert EEGClipConfig.from_preset("authors").to_dict() == config.to_dict()


def test_config_presets_overrides_and_json(tmp_path):
    small = EEGClipConfig.from_preset("cpu-small", encoder_config={"n_chans": 14, "n_times": 32})
    assert small.encoder_config.n_chans == 14 and small.encoder_config.lstm_hidden_size == 64
    assert not small.freeze_vision_tower and small.learnable_logit_scale and small.image_size == 64
    assert CLIP_MODEL_PRESETS["cpu-small"]["encoder_config"].get("n_chans") is None  # preset not mutated
    small.save_pretrained(tmp_path)
    again = EEGClipConfig.from_pretrained(tmp_path)
    assert again.to_dict() == small.to_dict()
    assert type(again.vision_config).__name__ == "ResNetConfig"
    with pytest.raises(ValueError, match="unknown EEGClipConfig preset"):
        EEGClipConfig.from_preset("nope")


def test_any_vision_backbone_config():
    from transformers import CLIPVisionConfig

    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=24, num_hidden_layers=1, num_attention_heads=2,
                              image_size=SIZE, patch_size=8)
    config = tiny(vision_config=vision)
    assert config.vision_embed_dim == 16
    as_dict = EEGClipConfig(**{**config.to_dict(), "vision_config": config.vision_config.to_dict()})
    assert type(as_dict.vision_config) is CLIPVisionConfig
    model = EEGClipModel(config).eval()
    assert model(**{"eeg_values": eeg_batch(2), "pixel_values": pixel_batch(2)}).logits_per_eeg.shape == (2, 2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"projection_dim": 0}, "projection_dim"),
        ({"image_size": 40, "image_resize_size": 32}, "image_resize_size"),
        ({"image_mean": [0.5, 0.5]}, "image_mean"),
        ({"image_std": [0.2, 0.0, 0.2]}, "image_std"),
        ({"logit_scale_init_value": float("nan")}, "logit_scale_init_value"),
        ({"vision_config": {"hidden_sizes": [8]}}, "model_type"),
        ({"encoder_config": 3}, "encoder_config"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        EEGClipConfig(**{**CLIP_MODEL_PRESETS["tiny"], **overrides})


def test_clip_loss_hand_computed_2x2():
    logits = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    # rows: CE([2,0],0) = log(1+e^-2); CE([1,3],1) = log(1+e^-2);
    # columns: [2,1] -> 0: log(1+e^-1); [0,3] -> 1: log(1+e^-3)
    rows = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-2))) / 2
    cols = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-3))) / 2
    assert clip_loss(logits).item() == pytest.approx((rows + cols) / 2, rel=1e-6)


def test_clip_loss_hand_computed_3x3_and_multi_positive():
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.0, 1.0]])

    def ce(row, target):
        return -row[target] + math.log(sum(math.exp(v) for v in row))

    rows = [logits[i].tolist() for i in range(3)]
    cols = [logits[:, j].tolist() for j in range(3)]
    expected = (sum(ce(rows[i], i) for i in range(3)) / 3 + sum(ce(cols[j], j) for j in range(3)) / 3) / 2
    assert clip_loss(logits).item() == pytest.approx(expected, rel=1e-6)
    # Items 0 and 2 show the same image: each of their rows/columns has two positives with weight 1/2.
    targets = positives_from_ids(torch.tensor([7, 3, 7]))
    assert targets.tolist() == [[True, False, True], [False, True, False], [True, False, True]]

    def soft(row, positives):
        lse = math.log(sum(math.exp(v) for v in row))
        return -sum(row[p] - lse for p in positives) / len(positives)

    pos = {0: [0, 2], 1: [1], 2: [0, 2]}
    expected_multi = (
        sum(soft(rows[i], pos[i]) for i in range(3)) / 3 + sum(soft(cols[j], pos[j]) for j in range(3)) / 3
    ) / 2
    assert clip_loss(logits, targets).item() == pytest.approx(expected_multi, rel=1e-6)
    assert clip_loss(logits, torch.eye(3)).item() == pytest.approx(expected, rel=1e-6)


def test_clip_loss_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        clip_loss(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        clip_loss(torch.tensor([[0.0, float("nan")], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="at least one positive"):
        clip_loss(torch.zeros(2, 2), torch.tensor([[True, False], [True, False]]))
    with pytest.raises(ValueError, match="shape"):
        clip_loss(torch.zeros(2, 2), torch.eye(3))
    with pytest.raises(ValueError, match="integer"):
        positives_from_ids(torch.tensor([0.5, 1.0]))


def test_frozen_vision_tower_stays_eval_and_gets_no_gradient(tmp_path):
    torch.manual_seed(0)
    model = EEGClipModel(tiny()).train()
    assert model.training and model.eeg_model.training and not model.vision_model.training
    assert not any(p.requires_grad for p in model.vision_model.parameters())
    before = {k: v.clone() for k, v in model.vision_model.state_dict().items()}
    out = model(eeg_values=eeg_batch(4), pixel_values=pixel_batch(4), return_loss=True)
    out.loss.backward()
    assert all(p.grad is None for p in model.vision_model.parameters())
    assert model.image_projection[1].weight.grad is not None and model.eeg_projection.weight.grad is not None
    for key, value in model.vision_model.state_dict().items():  # BN running stats untouched in train mode
        assert torch.equal(value, before[key]), key
    model.save_pretrained(tmp_path)
    loaded = EEGClipModel.from_pretrained(tmp_path).train()
    assert not loaded.vision_model.training and not any(p.requires_grad for p in loaded.vision_model.parameters())


def test_unfrozen_vision_tower_trains():
    model = EEGClipModel(tiny(freeze_vision_tower=False)).train()
    assert model.vision_model.training
    model(eeg_values=eeg_batch(4), pixel_values=pixel_batch(4), return_loss=True).loss.backward()
    assert all(p.grad is not None for p in model.vision_model.parameters())


def test_learnable_vs_fixed_logit_scale(tmp_path):
    fixed = EEGClipModel(tiny())
    assert "logit_scale" in dict(fixed.named_buffers()) and "logit_scale" not in dict(fixed.named_parameters())
    learnable = EEGClipModel(tiny(learnable_logit_scale=True, logit_scale_init_value=math.log(10.0)))
    assert isinstance(learnable.logit_scale, torch.nn.Parameter)
    out = learnable(eeg_values=eeg_batch(3), pixel_values=pixel_batch(3), return_loss=True)
    torch.testing.assert_close(out.logits_per_eeg, 10.0 * out.eeg_embeds @ out.image_embeds.t())
    out.loss.backward()
    assert learnable.logit_scale.grad is not None and learnable.logit_scale.grad.abs() > 0
    with torch.no_grad():
        learnable.logit_scale.fill_(1.25)
    learnable.save_pretrained(tmp_path)
    assert EEGClipModel.from_pretrained(tmp_path).logit_scale.item() == pytest.approx(1.25)
    capped = EEGClipModel(tiny(logit_scale_init_value=10.0)).eval()  # exp(10) is capped at 100
    out = capped(eeg_values=eeg_batch(2), pixel_values=pixel_batch(2))
    torch.testing.assert_close(out.logits_per_eeg, 100.0 * out.eeg_embeds @ out.image_embeds.t())


def test_bad_inputs():
    model = EEGClipModel(tiny()).eval()
    eeg, pix = eeg_batch(2), pixel_batch(2)
    with pytest.raises(ValueError, match="floating-point"):
        model(pixel_values=(pix * 100).to(torch.uint8))
    with pytest.raises(ValueError, match="shape"):
        model(pixel_values=pix[:, :1])
    with pytest.raises(ValueError, match="shape"):
        model(pixel_values=pixel_batch(2)[..., :16, :16])
    with pytest.raises(ValueError, match="NaN"):
        model(pixel_values=pix.clone().index_fill_(0, torch.tensor([1]), float("nan")))
    with pytest.raises(ValueError, match="channels"):
        model(eeg_values=torch.rand(2, 5, N_TIMES))
    with pytest.raises(ValueError, match="NaN"):
        model(eeg_values=eeg.clone().fill_(float("inf")))
    with pytest.raises(ValueError, match="both"):
        model(eeg_values=eeg, return_loss=True)
    with pytest.raises(ValueError, match="pass"):
        model()
    with pytest.raises(ValueError, match="paired"):
        model(eeg_values=eeg_batch(3), pixel_values=pix, return_loss=True)
    with pytest.raises(ValueError, match="return_loss"):
        model(eeg_values=eeg, pixel_values=pix, targets=torch.eye(2))


def test_image_processor_is_deterministic_and_round_trips(tmp_path):
    from transformers import AutoImageProcessor

    config = tiny()
    processor = make_image_processor(config)
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (48, 60, 3), dtype=np.uint8))
    first = processor(images=[image], return_tensors="pt")["pixel_values"]
    assert first.shape == (1, 3, SIZE, SIZE) and first.dtype == torch.float32
    assert torch.equal(first, make_image_processor(config)(images=[image], return_tensors="pt")["pixel_values"])
    # A constant image: rescale 1/255 then normalise with the config's mean/std.
    grey = Image.new("RGB", (50, 40), (51, 102, 204))
    pixels = processor(images=grey, return_tensors="pt")["pixel_values"][0]
    expected = [(v / 255 - m) / s for v, m, s in zip((51, 102, 204), config.image_mean, config.image_std)]
    torch.testing.assert_close(pixels.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-4, rtol=1e-4)
    processor.save_pretrained(tmp_path)
    again = AutoImageProcessor.from_pretrained(tmp_path)
    assert torch.equal(again(images=[image], return_tensors="pt")["pixel_values"], first)
    EEGClipModel(config).eval()(pixel_values=first)  # accepted by the model


def test_modeling_imports_only_torch_transformers_and_siblings():
    path = pathlib.Path(modeling_eeg_clip.__file__).parent
    allowed = {"__future__", "collections", "copy", "dataclasses", "inspect", "math", "pathlib", "shutil", "sys",
               "typing", "torch", "transformers", "."}
    for name in ("modeling_eeg_clip.py", "configuration_eeg_clip.py"):
        roots = import_roots((path / name).read_text())
        assert roots <= allowed, (name, roots)


def test_auto_classes_and_remote_code(tmp_path):
    from transformers import AutoConfig, AutoModel

    import eeg2img_hf.models  # noqa: F401  (registers the Auto classes)

    torch.manual_seed(0)
    model = EEGClipModel(tiny()).eval()
    model.save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is EEGClipConfig
    assert type(AutoModel.from_pretrained(tmp_path)) is EEGClipModel
    assert "class EEGEncoderModel" in (tmp_path / "modeling_eeg_encoder.py").read_text()
    assert "class EEGEncoderConfig" in (tmp_path / "configuration_eeg_encoder.py").read_text()
    eeg, pixels = eeg_batch(2), pixel_batch(2)
    expected = model(eeg_values=eeg, pixel_values=pixels).logits_per_eeg
    torch.save((eeg, pixels, expected), tmp_path / "io.pt")
    proc = run_python(f"""
        import sys
        sys.modules["eeg2img_hf"] = None
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).train()
        eeg, pixels, expected = torch.load({str(tmp_path / 'io.pt')!r})
        assert not model.vision_model.training
        assert not any(p.requires_grad for p in model.vision_model.parameters())
        model.eval()
        torch.testing.assert_close(model(eeg_values=eeg, pixel_values=pixels).logits_per_eeg, expected)
        print(type(model).__name__)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("EEGClipModel")


def test_loss_decreases_on_a_tiny_batch():
    torch.manual_seed(0)
    model = EEGClipModel(tiny(learnable_logit_scale=True, logit_scale_init_value=math.log(10.0))).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs = {"eeg_values": eeg_batch(4), "pixel_values": pixel_batch(4)}
    losses = []
    for _ in range(30):
        loss = model(**inputs, return_loss=True).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert F.cross_entropy(model(**inputs).logits_per_eeg, torch.arange(4)).item() < losses[0]
