"""Benchmark EEG->image retrieval on CPU: top-k query latency over 10k / 100k galleries and indexing throughput.

Prints one JSON line: per gallery size the median and p95 latency (ms) of single top-10 queries (exact cosine,
`GalleryIndex.search`, default path and float32-only path), batch-query throughput (queries/s), save + verified
load time of the index file, and
the gallery indexing throughput (images/s: image processor + image tower + projection) of an EEGClip model at
the `cpu-small` preset. Target: <= 20 ms per single query at 100k (stated with pass/fail in the JSON).

    python scripts/bench_retrieval.py [--sizes 10000,100000] [--dim 256] [--queries 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel
from eeg2img_hf.retrieval import GalleryIndex, build_gallery, half_matmul_is_accurate, normalize_embeddings
from eeg2img_hf.retrieval.gallery import _PREFILTER_MIN_ITEMS
from eeg2img_hf.utils.benchmark import environment

TARGET_MS_AT_100K = 20.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_search(n_gallery: int, dim: int, n_queries: int, k: int, batch: int) -> dict:
    generator = torch.Generator().manual_seed(n_gallery)
    embeddings = normalize_embeddings(torch.randn(n_gallery, dim, generator=generator))
    ids, labels = [str(i) for i in range(n_gallery)], torch.zeros(n_gallery, dtype=torch.int64)
    index = GalleryIndex(embeddings=embeddings, image_ids=ids, labels=labels)
    queries = torch.randn(n_queries, dim, generator=generator)
    batch_queries = torch.randn(batch, dim, generator=generator)
    prefilter = bool(len(index) >= _PREFILTER_MIN_ITEMS and half_matmul_is_accurate())
    result = {"float16_prefilter_for_single_queries": prefilter}
    for name, prefilter in (("default", None), ("float32_only", False)):
        latencies = _time_queries(index, queries, k, prefilter)
        index.search(batch_queries, k, prefilter=prefilter)
        start = time.perf_counter()
        repeats = 3
        for _ in range(repeats):
            index.search(batch_queries, k, prefilter=prefilter)
        result[name] = {"single_query_ms_median": round(_percentile(latencies, 0.5), 2),
                        "single_query_ms_p95": round(_percentile(latencies, 0.95), 2),
                        "batch_queries_per_s": round(repeats * batch / (time.perf_counter() - start), 1)}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gallery.safetensors"
        start = time.perf_counter()
        index.save(path)
        saved = time.perf_counter() - start
        start = time.perf_counter()
        GalleryIndex.load(path)
        loaded = time.perf_counter() - start
        size_mb = path.stat().st_size / 2**20
    return {**result, "timed_queries": n_queries, "batch_size": batch, "save_s": round(saved, 3),
            "load_verified_s": round(loaded, 3), "file_mb": round(size_mb, 1)}


def _time_queries(index, queries, k: int, prefilter: bool | None) -> list[float]:
    for query in queries[:10]:  # warm-up
        index.search(query, k, prefilter=prefilter)
    latencies = []
    for query in queries:
        start = time.perf_counter()
        index.search(query, k, prefilter=prefilter)
        latencies.append((time.perf_counter() - start) * 1e3)
    return latencies


def bench_indexing(n_images: int, batch_size: int, preset: str) -> dict:
    torch.manual_seed(0)
    config = EEGClipConfig.from_preset(preset)
    model = EEGClipModel(config).eval()
    rng = np.random.default_rng(0)
    side = config.image_size
    images = [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(n_images)]
    build_gallery(model, images[:batch_size], batch_size=batch_size)  # warm-up
    start = time.perf_counter()
    index = build_gallery(model, images, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    return {"preset": preset, "image_size": side, "embed_dim": index.embed_dim, "images": n_images,
            "batch_size": batch_size, "images_per_s": round(n_images / elapsed, 1),
            "vision_parameters": sum(p.numel() for p in model.vision_model.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="gallery sizes, comma-separated")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200, help="single queries timed per gallery")
    parser.add_argument("--batch", type=int, default=256, help="queries per batch for the throughput figure")
    parser.add_argument("--index-images", type=int, default=512, help="images embedded for the indexing figure")
    parser.add_argument("--preset", default="cpu-small", help="EEGClip model preset for indexing")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    search = ("exact cosine top-k (GalleryIndex.search): chunked float32 torch.topk, or for <= 4 queries over "
              ">= 16,384 images a float16 pre-filter with float32 re-ranking (same result)")
    result: dict = {"benchmark": "retrieval", "device": "cpu", "threads": torch.get_num_threads(), "dim": args.dim,
                    "k": args.k, "search": search}
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    result["galleries"] = {str(n): bench_search(n, args.dim, args.queries, args.k, args.batch) for n in sizes}
    if "100000" in result["galleries"]:
        median = result["galleries"]["100000"]["default"]["single_query_ms_median"]
        result["target"] = {"single_query_ms_at_100k": TARGET_MS_AT_100K, "measured_median_ms": median,
                            "pass": median <= TARGET_MS_AT_100K}
    result["indexing"] = bench_indexing(args.index_images, 64, args.preset)
    result["environment"] = environment()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
