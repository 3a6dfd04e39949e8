"""`eeg-image-retrieval` pipeline: registration, outputs, gallery forms and caching, input validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import eeg2img_hf.pipelines as pipelines  # registers the task on import
import eeg2img_hf.pipelines.eeg_image_retrieval as module
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel
from eeg2img_hf.retrieval import GalleryIndex

from testing_utils import PipelineTesterMixin

CLASSES = ["Apple", "Car", "Dog"]
N_CHANS, N_TIMES = 14, 32


@pytest.fixture(scope="module")
def dataset():
    return simulate_dataset("thoughtviz", n_subjects=2, classes=CLASSES, images_per_class=3, image_size=32,
                            trials_per_block=3, n_blocks_per_class=2)


def make_model(seed: int = 0):
    torch.manual_seed(seed)
    return EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": N_CHANS})).eval()


@pytest.fixture(scope="module")
def pipe(dataset):
    from transformers import pipeline

    return pipeline("eeg-image-retrieval", model=make_model(), gallery=dataset["test"])


@pytest.fixture(scope="module")
def eeg(dataset):
    return np.asarray(dataset["test"].with_format("numpy")[:4]["eeg"])


class TestEEGImageRetrievalContract(PipelineTesterMixin):
    """Per trial a list of `top_k` hit dicts (best first): one list for a single trial, a list of lists for a
    batch."""

    call_options = {"top_k": 3}
    variants = [{"top_k": 1}, {"return_images": False}]
    bad_options = [({"top_k": 0}, "top_k"), ({"top_k": 1000}, "larger than the gallery"), ({"gallery": 42}, "gallery"),
                   ({"return_images": "yes"}, "return_images"), ({"batch_size": 0}, "batch_size")]

    def dataset(self):
        return simulate_dataset("thoughtviz", n_subjects=2, classes=CLASSES, images_per_class=3, image_size=32,
                                trials_per_block=3, n_blocks_per_class=2)["test"]

    def make_pipeline(self):
        from transformers import pipeline

        return pipeline("eeg-image-retrieval", model=make_model(), gallery=self.dataset())

    def single_inputs(self) -> list:
        split = self.dataset()
        eeg = np.asarray(split.with_format("numpy")[:1]["eeg"])[0]
        return [eeg, torch.from_numpy(eeg), eeg.tolist(), {"eeg": eeg}, split[0]]

    def batch_inputs(self) -> list:
        split = self.dataset()
        eeg = np.asarray(split.with_format("numpy")[:3]["eeg"])
        return [eeg, list(eeg), {"eeg": eeg}, split[:3], split.select(range(3)), [split[i] for i in range(3)]]

    def check_item(self, item, options: dict) -> None:
        assert isinstance(item, list) and len(item) == options.get("top_k", 5)
        keys = {"score", "index", "image_id", "label"} | ({"image"} if options.get("return_images", True) else set())
        assert all(isinstance(hit, dict) and set(hit) == keys for hit in item)
        scores = [hit["score"] for hit in item]
        assert scores == sorted(scores, reverse=True)

    def comparable(self, item) -> torch.Tensor:
        return torch.tensor([[hit["index"], hit["score"]] for hit in item], dtype=torch.float64)


def test_task_is_registered_without_colliding():
    import transformers.pipelines
    from transformers.pipelines import PIPELINE_REGISTRY

    # the built-in task table and aliases are literals in transformers/pipelines/__init__.py (a fresh interpreter
    # would be needed to see the table before our registration, which costs seconds)
    with open(transformers.pipelines.__file__, encoding="utf-8") as source:
        assert "eeg-image-retrieval" not in source.read()
    assert PIPELINE_REGISTRY.supported_tasks["eeg-image-retrieval"]["impl"] is pipelines.EEGImageRetrievalPipeline
    assert PIPELINE_REGISTRY.supported_tasks["eeg-to-image"]["impl"] is pipelines.EEGToImagePipeline


def test_outputs_match_model_and_search(pipe, eeg):
    result = pipe(eeg[0], top_k=3)
    assert isinstance(result, list) and len(result) == 3
    assert set(result[0]) == {"score", "index", "image_id", "label", "image"}
    assert all(isinstance(hit["image"], Image.Image) and hit["label"] in CLASSES for hit in result)
    scores = [hit["score"] for hit in result]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    gallery = pipe._forward_params["gallery"]
    with torch.no_grad():
        embeds = pipe.model.get_eeg_features(torch.from_numpy(eeg[:1]))
    expected_scores, expected_indices = gallery.search(embeds, k=3)
    assert [hit["index"] for hit in result] == expected_indices[0].tolist()
    np.testing.assert_allclose(scores, expected_scores[0].numpy(), atol=1e-6)
    assert [hit["image_id"] for hit in result] == [gallery.image_ids[i] for i in expected_indices[0].tolist()]


def test_batch_list_and_dataset_inputs(pipe, eeg, dataset):
    single = pipe(eeg[0], top_k=2, return_images=False)
    assert "image" not in single[0]
    for batch in (eeg, list(eeg), [dataset["test"][i] for i in range(4)], dataset["test"].select(range(4))):
        result = pipe(batch, top_k=2, return_images=False)
        assert isinstance(result, list) and len(result) == 4 and all(len(hits) == 2 for hits in result)
        assert [h["index"] for h in result[0]] == [h["index"] for h in single]
    chunked = pipe(eeg, top_k=2, return_images=False, batch_size=3)
    assert [[h["index"] for h in hits] for hits in chunked] == [[h["index"] for h in hits] for hits in result]
    gallery = pipe._forward_params["gallery"]
    everything = pipe(eeg[0], top_k=len(gallery), return_images=False)
    assert sorted(h["index"] for h in everything) == list(range(len(gallery)))


def test_eeg_embeds_input(pipe, eeg):
    with torch.no_grad():
        embeds = pipe.model.get_eeg_features(torch.from_numpy(eeg[:2]))
    from_embeds = pipe(eeg_embeds=embeds, top_k=2, return_images=False)
    assert from_embeds == pipe(eeg[:2], top_k=2, return_images=False)


def test_every_gallery_form_gives_the_same_ranking(pipe, eeg, dataset, tmp_path):
    reference = [h["image_id"] for h in pipe(eeg[1], top_k=4)]
    index = pipe._forward_params["gallery"]
    path = index.save(tmp_path / "index.safetensors")
    split = dataset["test"]
    folder = tmp_path / "images"
    folder.mkdir()
    for image_id in index.image_ids:
        split[split["image_id"].index(image_id)]["image"].save(folder / f"{image_id}.png")
    for gallery in (index, path, folder, GalleryIndex.load(path)):
        hits = pipe(eeg[1], top_k=4, gallery=gallery)
        assert [h["image_id"].removesuffix(".png") for h in hits] == reference
    assert isinstance(pipe(eeg[1], top_k=1, gallery=folder)[0]["image"], Image.Image)  # folders give pixels back
    assert "image" not in pipe(eeg[1], top_k=1, gallery=path)[0]  # a bare index file has no pixels


def test_gallery_is_indexed_once(dataset, eeg, monkeypatch):
    from transformers import pipeline

    calls = []
    real = module.build_gallery
    monkeypatch.setattr(module, "build_gallery", lambda *a, **k: calls.append(1) or real(*a, **k))
    retrieval = pipeline("eeg-image-retrieval", model=make_model())
    with pytest.raises(ValueError, match="No gallery"):
        retrieval(eeg[0])
    for _ in range(3):
        retrieval(eeg[0], gallery=dataset["test"], top_k=1)
    assert len(calls) == 1


def test_pipeline_from_a_saved_model_folder(pipe, eeg, dataset, tmp_path):
    from transformers import pipeline

    pipe.model.save_pretrained(tmp_path / "model")
    loaded = pipeline("eeg-image-retrieval", model=str(tmp_path / "model"), gallery=dataset["test"])
    assert loaded(eeg[:2], top_k=3, return_images=False) == pipe(eeg[:2], top_k=3, return_images=False)


def test_stale_index_is_refused(pipe, tmp_path):
    path = pipe._forward_params["gallery"].save(tmp_path / "index.safetensors")
    from transformers import pipeline

    other = pipeline("eeg-image-retrieval", model=make_model(seed=1))
    with pytest.raises(ValueError, match="stale or foreign"):
        other(np.zeros((N_CHANS, N_TIMES), np.float32), gallery=path)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.ones((5, N_TIMES), np.float32), f"n_chans={N_CHANS}"),
        (np.ones((N_CHANS, 31), np.float32), f"n_times={N_TIMES}"),
        (np.ones((N_TIMES, N_CHANS), np.float32), "transposed"),
        (np.full((N_CHANS, N_TIMES), np.nan, np.float32), "NaN"),
        (np.ones((N_CHANS, N_TIMES), np.int64), "int64"),
        (np.ones((1, 1, N_CHANS, N_TIMES), np.float32), "4-D"),
        ({"image": 1}, "'eeg'"),
    ],
)
def test_bad_eeg_is_refused(pipe, bad, match):
    with pytest.raises(ValueError, match=match):
        pipe(bad)


def test_bad_options_are_refused(pipe, eeg):
    with pytest.raises(ValueError, match="top_k"):
        pipe(eeg[0], top_k=0)
    with pytest.raises(ValueError, match="larger than the gallery"):
        pipe(eeg[0], top_k=1000)
    with pytest.raises(ValueError, match="gallery"):
        pipe(eeg[0], gallery=42)
    with pytest.raises(ValueError, match="neither a saved gallery index file nor a folder"):
        pipe(eeg[0], gallery="/nonexistent/gallery.safetensors")
    with pytest.raises(ValueError, match="EEGClip model"):
        from eeg2img_hf.pipelines import EEGImageRetrievalPipeline

        EEGImageRetrievalPipeline(torch.nn.Linear(2, 2))
