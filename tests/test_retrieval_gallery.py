"""Gallery index (eeg2img_hf.retrieval): exact chunked top-k search, safetensors I/O, refusal of bad indexes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from eeg2img_hf.retrieval import (
    GalleryIndex,
    build_gallery,
    embed_images,
    image_tower_fingerprint,
    normalize_embeddings,
    topk_search,
)

CLASSES = ["Apple", "Car", "Dog"]


@pytest.fixture(scope="module")
def dataset():
    from eeg2img_hf.data import simulate_dataset

    return simulate_dataset("thoughtviz", n_subjects=2, classes=CLASSES, images_per_class=3, image_size=32,
                            trials_per_block=3, n_blocks_per_class=2)


def make_model(seed: int = 0, **overrides):
    from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel

    torch.manual_seed(seed)
    return EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": 14}, **overrides)).eval()


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def index(model, dataset):
    return build_gallery(model, dataset["test"])


def brute_force(queries: torch.Tensor, gallery: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    scores = normalize_embeddings(queries) @ gallery.T
    values, order = torch.sort(scores, dim=1, descending=True, stable=True)  # stable: ties keep ascending index
    return values[:, :k], order[:, :k]


# ---------------------------------------------------------------------------------------------- search


@pytest.mark.parametrize("block", [None, 1, 7, 64, 1000])
def test_search_matches_brute_force(block):
    generator = torch.Generator().manual_seed(0)
    gallery = normalize_embeddings(torch.randn(301, 16, generator=generator))
    queries = torch.randn(23, 16, generator=generator)
    scores, indices = topk_search(queries, gallery, 10, gallery_block_size=block)
    expected_scores, expected_indices = brute_force(queries, gallery, 10)
    assert indices.dtype == torch.int64 and scores.shape == indices.shape == (23, 10)
    assert torch.equal(indices, expected_indices)
    torch.testing.assert_close(scores, expected_scores, atol=1e-6, rtol=0)
    assert bool((scores[:, :-1] >= scores[:, 1:]).all())


@pytest.mark.parametrize("block", [None, 1, 2, 3, 5])
def test_search_ties_lower_index_first(block):
    # rows 0, 2, 5 are e1, rows 1, 3 are e2, row 4 is e3: the query (e1 + e2) ties with all of rows 0-3 and 5
    gallery = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    query = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    scores, indices = topk_search(query, gallery, 4, gallery_block_size=block)
    assert indices[0].tolist() == [0, 1, 2, 3]  # five tied items: the four lowest indices, in order
    assert indices[1].tolist() == [4, 0, 1, 2]  # the best, then the zero-score tie group by index
    assert scores[0].tolist() == [pytest.approx(2**-0.5)] * 4
    all_scores, all_indices = topk_search(query, gallery, 6, gallery_block_size=block)
    assert all_indices[0].tolist() == [0, 1, 2, 3, 5, 4]


def test_float16_prefilter_gives_the_float32_result():
    from eeg2img_hf.retrieval import half_matmul_is_accurate

    if not half_matmul_is_accurate():
        pytest.skip("this torch build's float16 matmul does not accumulate in float32")
    generator = torch.Generator().manual_seed(1)
    gallery = torch.randn(3000, 32, generator=generator)
    gallery[100:110] = gallery[5]  # exact duplicates: ties must come out by ascending index
    gallery = normalize_embeddings(gallery)
    queries = torch.cat([gallery[5:6] + 1e-3 * torch.randn(1, 32, generator=generator),
                         torch.randn(20, 32, generator=generator)])
    index = GalleryIndex(gallery, [str(i) for i in range(3000)], torch.zeros(3000, dtype=torch.int64))
    fast_scores, fast_indices = index.search(queries, 12, prefilter=True)
    scores, indices = index.search(queries, 12, prefilter=False)
    assert torch.equal(fast_indices, indices)
    torch.testing.assert_close(fast_scores, scores, atol=1e-6, rtol=0)
    assert fast_indices[0, :11].tolist() == [5, *range(100, 110)]
    with pytest.raises(ValueError, match="float16 tensor"):
        topk_search(queries, gallery, 3, gallery_half=gallery)
    big = GalleryIndex(torch.randn(1 << 14, 8, generator=generator), [str(i) for i in range(1 << 14)],
                       torch.zeros(1 << 14, dtype=torch.int64))
    query = torch.randn(8, generator=generator)
    automatic = big.search(query, 5)  # single query over >= 16,384 images: pre-filtered by default
    assert big._half is not None
    for a, b in zip(automatic, big.search(query, 5, prefilter=False)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_float16_prefilter_with_many_near_tied_candidates():
    from eeg2img_hf.retrieval import half_matmul_is_accurate

    if not half_matmul_is_accurate():
        pytest.skip("this torch build's float16 matmul does not accumulate in float32")
    # 40 directions 0.004 rad apart in one plane: float16 cannot separate neighbours (scores differ by 1e-5 to
    # 6e-4, inside the pre-filter margin), so dozens of rows per query are re-ranked in float32
    angles = 0.004 * ((torch.arange(3000) * 7) % 40).double()
    gallery = torch.zeros(3000, 32, dtype=torch.float64)
    gallery[:, 0], gallery[:, 1] = torch.cos(angles), torch.sin(angles)
    gallery = gallery.float()
    index = GalleryIndex(gallery, [str(i) for i in range(3000)], torch.zeros(3000, dtype=torch.int64))
    query = torch.zeros(32)
    query[0] = 1.0
    fast_scores, fast_indices = index.search(query, 200, prefilter=True)
    scores, indices = index.search(query, 200, prefilter=False)
    assert torch.equal(fast_indices, indices) and torch.equal(fast_scores, scores)
    order = sorted(range(3000), key=lambda i: (float(angles[i]), i))[:200]  # by angle, then by index
    assert fast_indices.tolist() == order


def test_search_single_query_and_numpy():
    gallery = normalize_embeddings(torch.randn(50, 8))
    query = np.random.default_rng(0).standard_normal(8).astype(np.float32)
    scores, indices = topk_search(query, gallery, 3)
    assert scores.shape == (3,) and indices.shape == (3,)
    expected = brute_force(torch.from_numpy(query)[None], gallery, 3)[1][0]
    assert torch.equal(indices, expected)


@pytest.mark.parametrize(
    ("query", "k", "match"),
    [
        (torch.randn(2, 8), 0, "positive integer"),
        (torch.randn(2, 8), 11, "larger than the gallery"),
        (torch.randn(2, 5), 3, "dim 5"),
        (torch.full((2, 8), float("nan")), 3, "NaN"),
        (torch.zeros(2, 8), 3, "all-zero"),
        (torch.ones(2, 8, dtype=torch.int64), 3, "floating point"),
    ],
)
def test_search_rejects_bad_input(query, k, match):
    with pytest.raises(ValueError, match=match):
        topk_search(query, normalize_embeddings(torch.randn(10, 8)), k)


# ---------------------------------------------------------------------------------------------- building


def test_build_from_dataset_deduplicates_by_image_id(model, dataset, index):
    split = dataset["test"]
    ids = split["image_id"]
    assert index.image_ids == list(dict.fromkeys(ids))  # unique, in order of first appearance
    assert len(index) < len(split) and index.embed_dim == model.config.projection_dim
    label_of = dict(zip(ids, split["label"]))
    assert index.labels.tolist() == [label_of[i] for i in index.image_ids]
    assert index.class_names == CLASSES and index.label_name(0) == CLASSES[int(index.labels[0])]
    torch.testing.assert_close(index.embeddings.norm(dim=1), torch.ones(len(index)))
    first_rows = [ids.index(i) for i in index.image_ids[:3]]
    expected = embed_images(model, [split[r]["image"] for r in first_rows])
    torch.testing.assert_close(index.embeddings[:3], expected)
    assert index.metadata["model_fingerprint"] == image_tower_fingerprint(model)
    assert index.metadata["image_processor"]["crop_size"] == {"height": 32, "width": 32}
    assert index.get_images([0])[0].size == (32, 32) and index.sources["kind"] == "dataset"


def test_build_from_folder_and_list(model, dataset, index, tmp_path):
    split = dataset["test"]
    for image_id, label in zip(split["image_id"], split["label"]):
        folder = tmp_path / CLASSES[label]
        folder.mkdir(exist_ok=True)
        split[split["image_id"].index(image_id)]["image"].save(folder / f"{image_id}.png")
    from_folder = build_gallery(model, tmp_path, batch_size=2)
    assert sorted(from_folder.image_ids) == from_folder.image_ids and len(from_folder) == len(index)
    assert from_folder.class_names == CLASSES and from_folder.sources["kind"] == "folder"
    for i, path in enumerate(from_folder.image_ids):
        j = index.image_ids.index(path.split("/")[1][: -len(".png")])
        torch.testing.assert_close(from_folder.embeddings[i], index.embeddings[j])  # PNG is lossless
        assert from_folder.label_name(i) == path.split("/")[0]
    pictures = [Image.new("RGB", (40, 36), (i * 40, 10, 200)) for i in range(3)]
    from_list = build_gallery(model, pictures)
    assert from_list.image_ids == ["0", "1", "2"] and from_list.label_name(0) is None
    assert from_list.get_images([1])[0].getpixel((0, 0)) == (40, 10, 200)


def test_build_refuses_bad_sources(model, dataset, tmp_path):
    with pytest.raises(ValueError, match="one split"):
        build_gallery(model, dataset)
    with pytest.raises(ValueError, match="no image files"):
        build_gallery(model, tmp_path)
    with pytest.raises(ValueError, match="no 'picture' column"):
        build_gallery(model, dataset["test"], image_column="picture")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        build_gallery(model, tmp_path)
    with pytest.raises(ValueError, match="get_image_features"):
        build_gallery(torch.nn.Linear(2, 2), [Image.new("RGB", (8, 8))], image_processor=object())


def test_index_validates_its_fields():
    embeds = torch.randn(3, 4)
    with pytest.raises(ValueError, match="unique ids"):
        GalleryIndex(embeds, ["a", "a", "b"], torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="int64"):
        GalleryIndex(embeds, ["a", "b", "c"], torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="class names"):
        GalleryIndex(embeds, ["a", "b", "c"], torch.tensor([0, 1, 2]), class_names=["x", "y"])


# ---------------------------------------------------------------------------------------------- I/O


def test_save_load_round_trip(model, index, tmp_path):
    path = tmp_path / "gallery.safetensors"
    index.save(path)
    loaded = GalleryIndex.load(path, model=model)
    assert torch.equal(loaded.embeddings, index.embeddings) and torch.equal(loaded.labels, index.labels)
    assert loaded.image_ids == index.image_ids and loaded.class_names == index.class_names
    assert loaded.metadata == index.metadata and loaded.sources == index.sources
    queries = torch.randn(4, index.embed_dim)
    for a, b in zip(loaded.search(queries, 3), index.search(queries, 3)):
        assert torch.equal(a, b)
    assert not loaded.has_images  # dataset images are not in the file ...
    assert loaded.attach_images(index._images.dataset).get_images([0])[0].size == (32, 32)  # ... but re-attachable


def test_save_never_overwrites(index, tmp_path):
    path = tmp_path / "gallery.safetensors"
    path.write_bytes(b"user data")
    with pytest.raises(ValueError, match="already exists"):
        index.save(path)
    assert path.read_bytes() == b"user data"
    index.save(path, overwrite=True)
    assert len(GalleryIndex.load(path)) == len(index)
    assert [p.name for p in tmp_path.iterdir()] == ["gallery.safetensors"]  # no temporary file left behind


def test_load_refuses_foreign_and_corrupt_files(index, tmp_path):
    from safetensors.torch import save_file

    foreign = tmp_path / "model.safetensors"
    save_file({"weight": torch.randn(3, 3)}, str(foreign))
    with pytest.raises(ValueError, match="not an eeg2img_hf gallery index"):
        GalleryIndex.load(foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 3 + b"hello world" * 10)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        GalleryIndex.load(garbage)
    path = tmp_path / "gallery.safetensors"
    index.save(path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        GalleryIndex.load(truncated)
    flipped = tmp_path / "flipped.safetensors"
    flipped.write_bytes(data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:])
    with pytest.raises(ValueError, match="checksum"):
        GalleryIndex.load(flipped)
    with pytest.raises(ValueError, match="does not exist"):
        GalleryIndex.load(tmp_path / "missing.safetensors")


def test_load_refuses_stale_or_foreign_index(model, index, tmp_path):
    from eeg2img_hf.models.eeg_clip import make_image_processor

    path = tmp_path / "gallery.safetensors"
    index.save(path)
    eeg_retrained = make_model()
    with torch.no_grad():
        eeg_retrained.eeg_projection.weight.add_(1.0)  # EEG side only: image embeddings unchanged
    GalleryIndex.load(path, model=eeg_retrained)
    image_retrained = make_model()
    with torch.no_grad():
        image_retrained.image_projection[1].weight.mul_(0.5)
    with pytest.raises(ValueError, match="stale or foreign gallery index"):
        GalleryIndex.load(path, model=image_retrained)
    with pytest.raises(ValueError, match="stale or foreign"):
        GalleryIndex.load(path, model=make_model(seed=1))
    with pytest.raises(ValueError, match="6-D embeddings .* 5-D"):
        GalleryIndex.load(path, model=make_model(projection_dim=5))
    other_processor = make_image_processor(make_model(image_size=30).config)
    with pytest.raises(ValueError, match="preprocessing"):
        GalleryIndex.load(path, model=model, image_processor=other_processor)
