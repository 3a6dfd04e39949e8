"""ImageToEEGModel contract: tiny configs, save/load, frozen eval-mode tower, optional subject, losses, errors."""

from __future__ import annotations

import json

import pytest
import torch

from eeg2img_hf.models import ImageToEEGConfig, ImageToEEGModel
from eeg2img_hf.models.image_to_eeg import cross_modal_triplet_loss

from testing_utils import ModelTesterMixin, run_python

SIZE, EMBED = 16, 12


def tiny_config(**overrides) -> ImageToEEGConfig:
    return ImageToEEGConfig.from_preset("tiny", **overrides)


def pixels(batch_size: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch_size, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


class TestImageToEEGModel(ModelTesterMixin):
    model_class = ImageToEEGModel
    output_key = "eeg_embeds"

    def get_config(self):
        return tiny_config(n_subjects=3)

    def get_inputs(self, batch_size: int = 3):
        return {"pixel_values": pixels(batch_size), "subject": torch.arange(batch_size) % 3 + 1}

    def test_output_shapes_and_unit_norm(self):
        out = self.make_model()(**self.get_inputs())
        assert out.eeg_embeds.shape == (3, EMBED) and out.image_features.shape == (3, 12)
        torch.testing.assert_close(out.eeg_embeds.norm(dim=-1), torch.ones(3))
        assert out.loss is None


def test_default_config_is_the_resnet50_layout():
    config = ImageToEEGConfig()
    assert config.vision_config.model_type == "resnet"
    assert list(config.vision_config.hidden_sizes) == [256, 512, 1024, 2048] and config.feature_dim == 2048
    assert (config.eeg_embed_dim, config.hidden_dim, config.dropout, config.freeze_vision_tower) == (
        128, 1024, 0.05, True
    )
    assert ImageToEEGConfig.from_preset("authors").to_dict() == config.to_dict()
    assert ImageToEEGConfig.from_preset("cpu-small").freeze_vision_tower is False


def test_head_layout_matches_the_authors():
    model = ImageToEEGModel(tiny_config())
    assert model.fc1.in_features == 12 and model.fc1.out_features == 17 and model.fc1.bias is not None
    assert model.fc2.out_features == EMBED and model.fc2.bias is None
    assert isinstance(model.act, torch.nn.LeakyReLU) and model.dropout.p == 0.05


def test_frozen_tower_stays_in_eval_mode_and_gets_no_gradient():
    torch.manual_seed(0)
    model = ImageToEEGModel(tiny_config(freeze_vision_tower=True)).train()
    assert model.training and model.fc1.training
    assert not any(m.training for m in model.vision_model.modules())
    assert not any(p.requires_grad for p in model.vision_model.parameters())
    stats = {k: v.clone() for k, v in model.vision_model.state_dict().items()}
    target = torch.nn.functional.normalize(torch.randn(4, EMBED), dim=-1)
    model(pixel_values=pixels(4), target_embeds=target).loss.backward()
    for key, value in model.vision_model.state_dict().items():  # BatchNorm running stats untouched
        assert torch.equal(value, stats[key]), key
    assert model.fc1.weight.grad is not None
    # features do not depend on the rest of the batch (no batch statistics)
    batch = pixels(4)
    alone = model.get_image_features(batch[:1])
    torch.testing.assert_close(model.get_image_features(batch)[:1], alone)


def test_unfrozen_tower_trains():
    model = ImageToEEGModel(tiny_config(freeze_vision_tower=False)).train()
    assert model.vision_model.training and all(p.requires_grad for p in model.vision_model.parameters())


def test_subject_is_optional_and_missing_uses_the_mean():
    torch.manual_seed(0)
    model = ImageToEEGModel(tiny_config(n_subjects=3)).eval()
    with torch.no_grad():
        model.subject_embedding.weight.copy_(torch.randn(3, 12))
        x = pixels(2)
        none = model(pixel_values=x).eeg_embeds
        unknown = model(pixel_values=x, subject=torch.tensor([-1, -1])).eeg_embeds
        torch.testing.assert_close(none, unknown)
        features = model.get_image_features(x) + model.subject_embedding.weight.mean(0)
        expected = torch.nn.functional.normalize(model.fc2(model.act(model.fc1(features))), dim=-1)
        torch.testing.assert_close(none, expected)
        per_subject = [model(pixel_values=x, subject=torch.tensor([s, s])).eeg_embeds for s in (1, 2, 3)]
        assert not torch.allclose(per_subject[0], per_subject[1])
        mixed = model(pixel_values=x, subject=torch.tensor([2, -1])).eeg_embeds
        torch.testing.assert_close(mixed[0], per_subject[1][0])
        torch.testing.assert_close(mixed[1], none[1])


def test_mse_loss_is_the_mean_squared_error_of_unit_vectors():
    model = ImageToEEGModel(tiny_config()).eval()
    target = torch.nn.functional.normalize(torch.randn(3, EMBED, generator=torch.Generator().manual_seed(1)), dim=-1)
    out = model(pixel_values=pixels(), target_embeds=target)
    torch.testing.assert_close(out.loss, ((out.eeg_embeds - target) ** 2).mean())
    assert model(pixel_values=pixels(), target_embeds=out.eeg_embeds.detach()).loss.item() == pytest.approx(0.0)


def test_cross_modal_triplet_loss_by_hand():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, -1.0]])
    # D (squared): row0 [0, 0, 2]; row1 [2, 2, 4]; row2 [4, 4, 2]
    # anchor 0: d_ap=0, negatives {1: 0, 2: 2}: closest farther = 2 -> max(0, 0 - 2 + 1) = 0
    # anchor 1: d_ap=2, negatives {0: 2, 2: 4}: closest farther = 4 -> max(0, 2 - 4 + 1) = 0
    # anchor 2: d_ap=2, negatives {0: 4, 1: 4}: 4 -> max(0, 2 - 4 + 3) = 1 with margin 3
    assert cross_modal_triplet_loss(anchors, targets, margin=1.0).item() == pytest.approx(0.0)
    assert cross_modal_triplet_loss(anchors, targets, margin=3.0).item() == pytest.approx((1 + 1 + 1) / 3)
    # with labels, rows 0 and 1 share a class: anchor 0 keeps only negative 2 (d=2), anchor 1 only 2 (d=4)
    labels = torch.tensor([0, 0, 1])
    # margin 3: anchor0 max(0, 0-2+3)=1, anchor1 max(0, 2-4+3)=1, anchor2 negatives {0,1}: 4 -> 1
    assert cross_modal_triplet_loss(anchors, targets, labels, margin=3.0).item() == pytest.approx(1.0)
    # no negatives farther than the positive: the farthest negative is used
    assert cross_modal_triplet_loss(targets[[2, 0]], targets[[0, 2]], margin=0.5).item() == pytest.approx(2.5)
    single_class = cross_modal_triplet_loss(anchors, targets, torch.zeros(3, dtype=torch.long))
    assert single_class.item() == 0.0
    with pytest.raises(ValueError, match="margin"):
        cross_modal_triplet_loss(anchors, targets, margin=-1.0)


def test_triplet_loss_trains_through_the_model():
    torch.manual_seed(0)
    model = ImageToEEGModel(tiny_config()).train()
    target = torch.nn.functional.normalize(torch.randn(4, EMBED), dim=-1)
    out = model(pixel_values=pixels(4), target_embeds=target, labels=torch.tensor([0, 0, 1, 1]), loss="triplet")
    out.loss.backward()
    assert out.loss.item() > 0 and model.fc2.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pixel_values": torch.zeros(2, 3, 8, 8)}, "shape"),
        ({"pixel_values": torch.zeros(2, 1, SIZE, SIZE)}, "shape"),
        ({"pixel_values": torch.zeros(2, 3, SIZE, SIZE, dtype=torch.uint8)}, "floating-point"),
        ({"pixel_values": torch.full((2, 3, SIZE, SIZE), float("nan"))}, "NaN"),
        ({"pixel_values": torch.full((2, 3, SIZE, SIZE), 255.0)}, "unnormalised"),
        ({"pixel_values": pixels(2).numpy()}, "torch.Tensor"),
        ({"pixel_values": pixels(2), "subject": torch.tensor([0, 1])}, r"1\.\.3"),
        ({"pixel_values": pixels(2), "subject": torch.tensor([1, 4])}, r"1\.\.3"),
        ({"pixel_values": pixels(2), "subject": torch.tensor([1.0, 2.0])}, "integer"),
        ({"pixel_values": pixels(2), "subject": torch.tensor([1])}, "shape"),
        ({"pixel_values": pixels(2), "target_embeds": torch.zeros(2, 5)}, "target_embeds"),
        ({"pixel_values": pixels(2), "target_embeds": torch.full((2, EMBED), float("nan"))}, "NaN"),
        ({"pixel_values": pixels(2), "target_embeds": torch.zeros(2, EMBED), "loss": "l1"}, "loss"),
    ],
)
def test_bad_inputs(kwargs, match):
    model = ImageToEEGModel(tiny_config(n_subjects=3)).eval()
    with pytest.raises(ValueError, match=match):
        model(**kwargs)


def test_subject_refused_without_conditioning():
    with pytest.raises(ValueError, match="no subject conditioning"):
        ImageToEEGModel(tiny_config()).eval()(pixel_values=pixels(2), subject=torch.tensor([1, 2]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vision_config": {"model_type": None, "hidden_sizes": [8]}}, "model_type"),
        ({"vision_config": 3}, "vision_config"),
        ({"n_subjects": 0}, "n_subjects"),
        ({"eeg_embed_dim": 0}, "eeg_embed_dim"),
        ({"dropout": 1.0}, "dropout"),
        ({"image_mean": [0.5]}, "image_mean"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**kwargs)
    with pytest.raises(ValueError, match="unknown ImageToEEGConfig preset"):
        ImageToEEGConfig.from_preset("huge")


def test_other_backbone_without_pooler_hidden_sizes():
    """Any vision backbone config: a tiny ViT (hidden_size, pooled output)."""
    vit = {"model_type": "vit", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
           "intermediate_size": 20, "image_size": SIZE, "patch_size": 8}
    model = ImageToEEGModel(tiny_config(vision_config=vit)).eval()
    assert model.config.feature_dim == 16
    assert model(pixel_values=pixels(2)).eeg_embeds.shape == (2, EMBED)


def test_image_processor_matches_config(tmp_path):
    import numpy as np
    from PIL import Image

    model = ImageToEEGModel(tiny_config()).eval()
    processor = model.build_image_processor()
    image = Image.fromarray(np.full((40, 30, 3), 255, np.uint8))
    values = processor(image, return_tensors="pt").pixel_values
    assert values.shape == (1, 3, SIZE, SIZE)
    torch.testing.assert_close(values, torch.ones_like(values))  # (1 - 0.5) / 0.5
    processor.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "preprocessor_config.json").read_text())["size"] == {"height": SIZE, "width": SIZE}


def test_config_keeps_vision_config_type_through_json(tmp_path):
    config = tiny_config(n_subjects=2, generator_name_or_path="some/generator")
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["vision_config"]["model_type"] == "resnet" and saved["n_subjects"] == 2
    again = ImageToEEGConfig.from_pretrained(tmp_path)
    assert type(again.vision_config).__name__ == "ResNetConfig" and again.generator_name_or_path == "some/generator"


def test_remote_code_without_the_package(tmp_path):
    torch.manual_seed(0)
    model = ImageToEEGModel(tiny_config(n_subjects=2)).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "modeling_image_to_eeg.py").exists() and (tmp_path / "configuration_image_to_eeg.py").exists()
    x = pixels(2)
    torch.save({"x": x, "y": model(pixel_values=x).eeg_embeds.detach()}, tmp_path / "io.pt")
    proc = run_python(f"""
        import sys
        sys.modules["eeg2img_hf"] = None  # the package must not be needed
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        io = torch.load({str(tmp_path / 'io.pt')!r})
        torch.testing.assert_close(model(pixel_values=io["x"]).eeg_embeds, io["y"])
        print(type(model).__name__, type(model).__module__)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    name, module = proc.stdout.split()[-2:]
    assert name == "ImageToEEGModel" and not module.startswith("eeg2img_hf")


def test_modeling_imports_only_torch_and_transformers():
    import inspect

    from eeg2img_hf.models.image_to_eeg import configuration_image_to_eeg, modeling_image_to_eeg

    from testing_utils import import_roots

    roots = set()
    for module in (configuration_image_to_eeg, modeling_image_to_eeg):
        roots |= import_roots(inspect.getsource(module))
    # torchvision only inside build_torchvision_googlenet (the authors' tower, vision_backbone="torchvision-googlenet")
    assert roots <= {"__future__", "math", "dataclasses", "typing", "torch", "torchvision", "transformers", "."}, roots
