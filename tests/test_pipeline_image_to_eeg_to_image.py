"""`image-to-eeg-to-image` pipeline with tiny random ImageToEEG and EEGStyleGAN models (CPU, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

import eeg2img_hf.pipelines  # noqa: F401  (registers the task)
from eeg2img_hf.models import EEGEncoderConfig, EEGStyleGANConfig, EEGStyleGANModel, ImageToEEGConfig, ImageToEEGModel
from eeg2img_hf.pipelines import ImageToEEGToImagePipeline

from testing_utils import PipelineTesterMixin

EMBED, RES, SIZE = 12, 16, 16


def make_generator(seed: int = 0) -> EEGStyleGANModel:
    encoder = EEGEncoderConfig(n_chans=4, n_times=32, lstm_num_layers=1, lstm_hidden_size=10, embed_dim=EMBED)
    torch.manual_seed(seed)
    return EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).eval()


def make_image_model(seed: int = 0, **overrides) -> ImageToEEGModel:
    torch.manual_seed(seed)
    return ImageToEEGModel(ImageToEEGConfig.from_preset("tiny", **overrides)).eval()


@pytest.fixture(scope="module")
def generator_model():
    return make_generator()


@pytest.fixture(scope="module")
def pipe(generator_model):
    return pipeline("image-to-eeg-to-image", model=make_image_model(n_subjects=3), generator=generator_model,
                    device="cpu")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (3, 24, 20, 3), dtype=np.uint8)


def test_task_registered_and_not_a_builtin(pipe):
    from testing_utils import run_python

    assert isinstance(pipe, ImageToEEGToImagePipeline) and pipe.task == "image-to-eeg-to-image"
    proc = run_python("""
        import sys
        sys.modules["eeg2img_hf"] = None  # transformers alone: the task name must not be built in
        from transformers.pipelines import SUPPORTED_TASKS
        print("image-to-eeg-to-image" in SUPPORTED_TASKS, "eeg-to-image" in SUPPORTED_TASKS)
    """)
    assert proc.returncode == 0 and proc.stdout.split() == ["False", "False"], proc.stderr[-2000:]


def _image_dataset(images: np.ndarray):
    from datasets import Dataset, Features
    from datasets import Image as ImageFeature

    features = Features({"image": ImageFeature()})
    return Dataset.from_dict({"image": [Image.fromarray(a) for a in images]}, features=features)


class TestImageToEEGToImageContract(PipelineTesterMixin):
    """The `"eeg-to-image"` result type: one `{"images": [...], "eeg_embeds": ...}` dict per input image."""

    call_options = {"seed": 0, "output_type": "pt"}
    variants = [{"num_images_per_image": 2}, {"output_type": "np"}, {"output_type": "pil"},
                {"truncation_psi": 0.5, "truncation_center": "condition"}, {"subject": -1}]
    bad_options = [({"output_type": "jpg"}, "output_type"), ({"num_images_per_image": 0}, "num_images_per_image"),
                   ({"generator": torch.Generator()}, "not both"),
                   ({"generator": "path/to/gan"}, "building the pipeline"), ({"noise_mode": "loud"}, "noise_mode"),
                   ({"truncation_center": "class"}, "truncation_center"), ({"subject": [1, 2]}, "list of 1 ints"),
                   ({"subject": 1.5}, "int"), ({"batch_size": 0}, "batch_size")]

    def make_pipeline(self):
        return pipeline("image-to-eeg-to-image", model=make_image_model(n_subjects=3), generator=make_generator(),
                        device="cpu")

    def images(self) -> np.ndarray:
        return np.random.default_rng(0).integers(0, 256, (3, 24, 20, 3), dtype=np.uint8)

    def single_inputs(self) -> list:
        images = self.images()
        return [images[0], Image.fromarray(images[0]), {"image": Image.fromarray(images[0])},
                _image_dataset(images)[0]]

    def batch_inputs(self) -> list:
        images, dataset = self.images(), _image_dataset(self.images())
        return [images, list(images), [Image.fromarray(a) for a in images], dataset, dataset[:3],
                [dataset[i] for i in range(3)]]

    def check_item(self, item, options: dict) -> None:
        assert isinstance(item, dict) and set(item) == {"images", "eeg_embeds"}
        images = item["images"]
        assert isinstance(images, list) and len(images) == options.get("num_images_per_image", 1)
        kind = {"pil": Image.Image, "np": np.ndarray, "pt": torch.Tensor}[options.get("output_type", "pil")]
        assert all(isinstance(image, kind) for image in images)
        embed_kind = torch.Tensor if options.get("output_type") == "pt" else np.ndarray
        assert isinstance(item["eeg_embeds"], embed_kind) and tuple(item["eeg_embeds"].shape) == (EMBED,)

    def comparable(self, item) -> torch.Tensor:
        return torch.stack(item["images"])

    def test_paths_are_single_inputs(self, tmp_path):
        path = tmp_path / "a.png"
        Image.fromarray(self.images()[0]).save(path)
        reference = self.run(self.images()[0])
        for form in (str(path), path):
            item = self.run(form)
            self.check_item(item, self.call_options)
            self.assert_same(item, reference)


def test_output_types_and_shapes(pipe, images):
    result = pipe(images[0], seed=0)
    assert set(result) == {"eeg_embeds", "images"}
    (image,) = result["images"]
    assert isinstance(image, Image.Image) and image.size == (RES, RES)
    assert result["eeg_embeds"].shape == (EMBED,) and result["eeg_embeds"].dtype == np.float32
    assert np.linalg.norm(result["eeg_embeds"]) == pytest.approx(1.0, abs=1e-5)
    (array,) = pipe(images[0], seed=0, output_type="np")["images"]
    assert array.shape == (RES, RES, 3) and array.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(image), array)
    pt = pipe(images[0], seed=0, output_type="pt")
    assert pt["images"][0].shape == (3, RES, RES) and pt["images"][0].dtype == torch.float32
    assert isinstance(pt["eeg_embeds"], torch.Tensor) and pt["images"][0].abs().max() <= 1


def test_matches_model_then_generator(pipe, images, generator_model):
    """The embedding is the model's on the processed image; the image equals eeg-to-image with that embedding."""
    result = pipe(images[0], seed=3, output_type="pt")
    pixel_values = pipe.image_processor(Image.fromarray(images[0]), return_tensors="pt").pixel_values
    with torch.no_grad():
        expected = pipe.model(pixel_values=pixel_values).eeg_embeds[0]
    torch.testing.assert_close(result["eeg_embeds"], expected)
    direct = pipeline("eeg-to-image", model=generator_model, device="cpu")(
        eeg_embeds=expected, seed=3, output_type="pt")
    torch.testing.assert_close(result["images"], direct["images"])


def test_num_images_seed_and_batch_size(pipe, images):
    result = pipe(images[:2], num_images_per_image=3, seed=0, output_type="pt")
    assert len(result) == 2 and all(len(r["images"]) == 3 for r in result)
    assert not torch.equal(result[0]["images"][0], result[0]["images"][1])
    again = pipe(images[:2], num_images_per_image=3, seed=0, output_type="pt", batch_size=2)
    for a, b in zip(result, again):
        torch.testing.assert_close(torch.stack(a["images"]), torch.stack(b["images"]), atol=1e-5, rtol=1e-5)
    other = pipe(images[:2], num_images_per_image=3, seed=1, output_type="pt")
    assert not torch.equal(result[0]["images"][0], other[0]["images"][0])
    with_generator = pipe(images[:2], num_images_per_image=3, generator=torch.Generator().manual_seed(0),
                          output_type="pt")
    torch.testing.assert_close(torch.stack(with_generator[1]["images"]), torch.stack(result[1]["images"]))
    same = pipe(images[0], num_images_per_image=2, truncation_psi=0.0, seed=0, output_type="pt")
    torch.testing.assert_close(same["images"][0], same["images"][1])


def test_conditional_truncation_is_passed_to_the_generator(pipe, images):
    kwargs = {"num_images_per_image": 2, "truncation_psi": 0.0, "seed": 0, "output_type": "pt"}
    conditional = pipe(images[0], truncation_center="condition", **kwargs)
    torch.testing.assert_close(conditional["images"][0], conditional["images"][1])  # the embedding's own centre
    expected = pipe.generation(eeg_embeds=conditional["eeg_embeds"], truncation_center="condition", **{
        "num_images_per_eeg": 2, "truncation_psi": 0.0, "seed": 0, "output_type": "pt"})
    torch.testing.assert_close(torch.stack(conditional["images"]), torch.stack(expected["images"]))
    assert not torch.allclose(conditional["images"][0], pipe(images[0], **kwargs)["images"][0])  # not w_avg's


def test_subject_optional_and_changes_the_embedding(pipe, images):
    with torch.no_grad():
        pipe.model.subject_embedding.weight.copy_(torch.randn(3, 12, generator=torch.Generator().manual_seed(0)))
    none = pipe(images[0], seed=0)["eeg_embeds"]
    unknown = pipe(images[0], subject=-1, seed=0)["eeg_embeds"]
    np.testing.assert_allclose(none, unknown, atol=1e-6)
    first = pipe(images[0], subject=1, seed=0)["eeg_embeds"]
    assert not np.allclose(first, none)
    batch = pipe(images[:2], subject=[1, -1], seed=0)
    np.testing.assert_allclose(batch[0]["eeg_embeds"], first, atol=1e-6)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8), np.uint8), "uint8 of shape"),
        (torch.zeros(3, 8, 8), "expected a PIL image"),
        ("missing.png", "does not exist"),
        ({"eeg": 1}, "'image'"),
        ([], "empty"),
    ],
)
def test_bad_inputs(pipe, bad, match):
    with pytest.raises(ValueError, match=match):
        pipe(bad)


def test_unreadable_file(pipe, tmp_path):
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        pipe(str(tmp_path / "x.png"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"output_type": "jpg"}, "output_type"),
        ({"num_images_per_image": 0}, "num_images_per_image"),
        ({"seed": 0, "generator": torch.Generator()}, "not both"),
        ({"generator": "path/to/gan"}, "building the pipeline"),
        ({"noise_mode": "loud"}, "noise_mode"),
        ({"truncation_center": "class"}, "truncation_center"),
        ({"subject": [1]}, "list of 2 ints"),
        ({"subject": 7}, r"1\.\.3"),
        ({"subject": 1.5}, "int"),
    ],
)
def test_bad_options(pipe, images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pipe(images[:2], **kwargs)


def test_generator_resolution(generator_model, tmp_path):
    model = make_image_model()
    with pytest.raises(ValueError, match="No generator"):
        pipeline("image-to-eeg-to-image", model=model, device="cpu")
    with pytest.raises(ValueError, match="12-D"):
        pipeline("image-to-eeg-to-image", model=make_image_model(eeg_embed_dim=7), generator=generator_model)
    with pytest.raises(ValueError, match="EEGStyleGANModel"):
        pipeline("image-to-eeg-to-image", model=model, generator=torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="ImageToEEGModel"):
        ImageToEEGToImagePipeline(model=generator_model, generator=generator_model)
    generator_model.save_pretrained(tmp_path / "gan")
    model.config.generator_name_or_path = str(tmp_path / "gan")
    model.save_pretrained(tmp_path / "image_to_eeg")
    from_config = pipeline("image-to-eeg-to-image", model=str(tmp_path / "image_to_eeg"), device="cpu")
    from_path = pipeline("image-to-eeg-to-image", model=model, generator=str(tmp_path / "gan"), device="cpu")
    image = np.full((SIZE, SIZE, 3), 128, np.uint8)
    a, b = from_config(image, seed=0, output_type="np"), from_path(image, seed=0, output_type="np")
    np.testing.assert_array_equal(a["images"], b["images"])
    direct = pipeline("image-to-eeg-to-image", model=model, generator=generator_model, device="cpu")
    np.testing.assert_array_equal(direct(image, seed=0, output_type="np")["images"], a["images"])
