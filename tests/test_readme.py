"""Docs test: every fenced ```python block of README.md and of the `docs/` pages runs, in order, offline, in a
temporary working directory.

How the blocks run:
* One test per block, id `<page>-<heading slug>-<index>`; the blocks of one page share one namespace and run in
  page order (a block selected alone with `-k` first runs the blocks above it on its page, so names they define,
  such as `ds`, exist).
* The working directory is a temporary folder holding what the README's relative paths point at: tiny random
  models saved with `save_pretrained` from `.from_preset("tiny")` configs (`runs/gan/model` EEGStyleGAN-ADA,
  `runs/clip/model` EEGClip + image processor, `runs/i2e/model` image -> EEG + image processor), a tiny
  simulated dataset saved at `data/eegcvpr40-5-95`, and `cat.png`.
  The same models (plus a tiny encoder), dataset and sample trial are also under `outputs/quickstart/` as the
  quickstart writes them, for the README's load-and-generate example and usage code copied from its output.
* Free variables (set in `readme_env`): `eeg` (torch float32 `(2, 14, 32)`), `eeg_trial` (numpy float32
  `(14, 32)`), `imgs` (2 PIL images, paired with `eeg`: the block asks for the loss), `dataset` (a tiny
  simulated ThoughtViz-shaped DatasetDict), `gallery` (its test split), `pil_image`; the tiny models use the
  ThoughtViz shape 14 x 32 so that these fit every block.
* Bare expressions (`ds["train"].features`) are evaluated and kept, so `CHECKS` can compare them with what the
  page's comments claim; tracebacks point at the page's line numbers.

Exclusion rule: blocks with no executable statement (only comments) or written as doctest output (`>>>`
lines) are illustrative; they are reported as skipped. `SKIPS` lists blocks skipped by their text, each with a
reason (currently none).

Patched blocks (`PATCHES`; the block text runs unchanged, a module-level call is made cheap):
* `train_encoder(args)` with `EncoderTrainingArguments.from_preset("cpu-small", ..., epochs=10)`: 10 epochs on
  the full simulated ThoughtViz set plus its evaluation take well over 10 s on 2 cores, so `from_preset` is
  wrapped to force 1 epoch, batch 16, CSV logging only and a 2-subject simulation (`FAST_ENCODER`).

Hub blocks (text contains `your-org/`): `huggingface_hub` reads its endpoint at import time, so these run in
fresh interpreters pointed at the loopback Hub-protocol server (`hub_server` fixture, `client_env`), after the
repos they name (`HUB_REPOS`) were pushed there with `push_dataset` / `push_model`. A hub block that does not
import `eeg2img_hf` runs with the package made unimportable (the README says no package is needed), and must
get the pushed remote code. Names such a block defines do not reach later blocks (another interpreter).
These take 3-10 s each (fresh interpreters import torch + transformers).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from readme_fixtures import ReadmeBlock, describe, execute_block, extract_python_blocks, imports_module

pytestmark = pytest.mark.integration  # README execution: `make test-integration`

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
README = REPO_ROOT / "README.md"
PAGES = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]
"""Every page whose ```python blocks run: the README, then the docs pages in name order."""
N_CHANS, N_TIMES, EMBED = 14, 32, 12  # ThoughtViz shape; EMBED: the tiny GAN's / image -> EEG model's space
TINY_SIM = {"n_subjects": 2, "classes": ["Apple", "Car", "Dog"], "images_per_class": 2, "trials_per_block": 3,
            "n_blocks_per_class": 2, "image_size": 32}

# Blocks skipped by their text: (substring of the block, reason). Keep every entry justified.
SKIPS: list[tuple[str, str]] = []

FAST_ENCODER = {"epochs": 1, "batch_size": 16, "log_with": ["csv"],
                "simulate": {"n_subjects": 2, "images_per_class": 2, "image_size": 32}}


def _fast_encoder_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    from eeg2img_hf.training import EncoderTrainingArguments

    original = EncoderTrainingArguments.from_preset.__func__

    def from_preset(cls, name: str, **overrides: Any):
        return original(cls, name, **{**overrides, **FAST_ENCODER})

    monkeypatch.setattr(EncoderTrainingArguments, "from_preset", classmethod(from_preset))


# Blocks run with a patch applied: (substring of the block, patch(monkeypatch), reason).
PATCHES: list[tuple[str, Callable[[pytest.MonkeyPatch], None], str]] = [
    ("train_encoder(", _fast_encoder_presets,
     "10 encoder epochs on the full simulated set + evaluation take > 10 s: forced to 1 epoch on 2 subjects"),
]

# Hub repo ids the README uses -> (kind, local folder pushed there, relative to the working directory).
HUB_REPOS: dict[str, tuple[str, str]] = {
    "your-org/eegcvpr40-5-95": ("dataset", "data/eegcvpr40-5-95"),
    "your-org/eegstylegan-cvpr40": ("model", "runs/gan/model"),
}


# ------------------------------------------------------------------------------------------------------------
# checks of what the README's comments claim; each applies to the blocks containing its key


def _check_schema(ns: dict, exprs: list) -> None:
    assert set(ns["ds"]) == {"train", "validation", "test"}
    eeg_feature = exprs[0]["eeg"]
    assert tuple(eeg_feature.shape) == (14, 32) and eeg_feature.dtype == "float32"
    assert set(exprs[0]) >= {"eeg", "image", "label", "subject", "image_id", "block"}
    assert exprs[1] == (128.0, ["AF3", "F7", "F3"])


def _check_split(ns: dict, exprs: list) -> None:
    overlaps = exprs[-1]
    assert set(ns["ds"]["test"]["subject"]) == {6}
    assert all(counts["subjects"] == 0 for counts in overlaps.values()), overlaps


def _check_encoder(ns: dict, exprs: list) -> None:
    embeds = ns["embeds"]
    assert embeds.shape == (8, 128)
    torch.testing.assert_close(embeds.norm(dim=-1), torch.ones(8))


def _check_training(ns: dict, exprs: list) -> None:
    model_dir = Path(ns["summary"]["model_dir"])
    assert model_dir.resolve() == (Path.cwd() / "runs/tv/model").resolve()
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "eval_results.json").is_file()
    assert 0.0 <= ns["result"]["seen_classes"]["kmeans_test"] <= 1.0
    assert json.loads((model_dir / "eeg2img_training.json").read_text())["training_args"]["epochs"] == 1  # patched


def _check_gan(ns: dict, exprs: list) -> None:
    assert ns["images"].shape == (ns["eeg"].shape[0], 3, 32, 32)
    assert torch.isfinite(ns["images"]).all()


def _check_eeg_to_image(ns: dict, exprs: list) -> None:
    assert isinstance(ns["image"], Image.Image) and ns["image"].size == (16, 16)  # the tiny GAN's resolution


def _check_load_and_generate(ns: dict, exprs: list) -> None:
    assert tuple(ns["embedding"].shape) == (1, EMBED)
    assert isinstance(ns["image"], Image.Image) and ns["image"].size == (16, 16)
    assert Image.open("generated.png").size == (16, 16)


def _check_clip(ns: dict, exprs: list) -> None:
    out = ns["out"]
    assert out.logits_per_eeg.shape == (len(ns["eeg"]), len(ns["imgs"]))
    assert exprs[-1] is out.logits_per_eeg
    assert out.loss.ndim == 0 and math.isfinite(out.loss.item())


def _check_retrieval(ns: dict, exprs: list) -> None:
    hits = ns["hits"]
    assert len(hits) == 5 and all(set(h) == {"score", "index", "image_id", "label", "image"} for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def _check_image_to_eeg(ns: dict, exprs: list) -> None:
    out = ns["out"]
    assert set(out) == {"eeg_embeds", "images"} and out["eeg_embeds"].shape == (EMBED,)
    assert len(out["images"]) == 4 and all(isinstance(im, Image.Image) for im in out["images"])


def _check_hub_dataset(summary: dict) -> None:
    ds = summary["names"]["ds"]
    assert ds["type"] == "datasets.dataset_dict.DatasetDict" and ds["keys"] == ["test", "train", "validation"]


def _check_hub_model(summary: dict) -> None:
    # run without the package: the model and the pipeline must be the pushed remote code
    assert summary["names"]["model"]["type"].startswith("transformers_modules."), summary
    assert summary["names"]["pipe"]["type"].startswith("transformers_modules."), summary


CHECKS: list[tuple[str, Callable[[dict, list], None]]] = [
    ('simulate_dataset("thoughtviz"', _check_schema),
    ("split_dataset(ds", _check_split),
    ("embeds = model(", _check_encoder),
    ("train_encoder(args)", _check_training),
    ("images = model(eeg_values=eeg", _check_gan),
    ('pipeline("eeg-to-image", model="runs/gan/model")', _check_eeg_to_image),
    ('pipeline("eeg-to-image", model=f"{qs}/gan/model")', _check_load_and_generate),
    ("out.logits_per_eeg", _check_clip),
    ('pipeline("eeg-image-retrieval"', _check_retrieval),
    ('pipeline("image-to-eeg-to-image"', _check_image_to_eeg),
]
HUB_CHECKS: list[tuple[str, Callable[[dict], None]]] = [
    ("load_eeg_dataset(\"hf://datasets/your-org/", _check_hub_dataset),
    ('AutoModel.from_pretrained("your-org/eegstylegan-cvpr40", trust_remote_code=True)', _check_hub_model),
]

PAGE_BLOCKS = {page.relative_to(REPO_ROOT).as_posix(): extract_python_blocks(page.read_text(encoding="utf-8"))
               for page in PAGES}
BLOCKS = [(page, block) for page, blocks in PAGE_BLOCKS.items() for block in blocks]


def _params() -> list:
    params = []
    for page, block in BLOCKS:
        marks = []
        skip = [reason for text, reason in SKIPS if text in block.code]
        if block.is_illustrative:
            marks.append(pytest.mark.skip(reason="illustrative block (comments or >>> output only)"))
        elif skip:
            marks.append(pytest.mark.skip(reason=skip[0]))
        params.append(pytest.param(page, block, id=f"{Path(page).stem}-{block.test_id}", marks=marks))
    return params


# ------------------------------------------------------------------------------------------------------------
# the working directory and the namespace


def _save_tiny_models(root: Path) -> None:
    from eeg2img_hf.models import (
        EEGClipConfig,
        EEGClipModel,
        EEGEncoderConfig,
        EEGEncoderModel,
        EEGStyleGANConfig,
        EEGStyleGANModel,
        ImageToEEGConfig,
        ImageToEEGModel,
        make_image_processor,
    )

    torch.manual_seed(0)
    encoder = EEGEncoderConfig(n_chans=N_CHANS, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10,
                               embed_dim=EMBED)
    EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).save_pretrained(
        root / "runs/gan/model"
    )
    clip = EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": N_CHANS, "n_times": N_TIMES}))
    clip.save_pretrained(root / "runs/clip/model")
    make_image_processor(clip.config).save_pretrained(root / "runs/clip/model")
    i2e = ImageToEEGModel(ImageToEEGConfig.from_preset("tiny", eeg_embed_dim=EMBED))
    i2e.save_pretrained(root / "runs/i2e/model")
    i2e.build_image_processor().save_pretrained(root / "runs/i2e/model")  # as train_image_to_eeg saves it
    # the folders `eeg2img quickstart` writes (its printed usage code may be pasted into the README)
    quickstart = root / "outputs/quickstart"
    EEGEncoderModel(encoder).save_pretrained(quickstart / "encoder/model")
    for name, source in (("gan", "gan"), ("clip", "clip"), ("image_to_eeg", "i2e")):
        shutil.copytree(root / "runs" / source / "model", quickstart / name / "model")


@pytest.fixture(scope="module")
def readme_env(tmp_path_factory) -> dict[str, Any]:
    """The working directory (tiny models, data, a picture) and the namespace the blocks share."""
    from eeg2img_hf.data import simulate_dataset

    root = tmp_path_factory.mktemp("readme")
    _save_tiny_models(root)
    dataset = simulate_dataset("thoughtviz", **TINY_SIM)
    for folder in ("data/eegcvpr40-5-95", "outputs/quickstart/dataset_thoughtviz"):
        dataset.save_to_disk(str(root / folder))
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    picture.save(root / "cat.png")
    eeg_trial = np.asarray(dataset["test"][0]["eeg"], dtype=np.float32)
    np.save(root / "eeg_trial.npy", eeg_trial)
    np.save(root / "outputs/quickstart/sample_trial.npy", eeg_trial)
    free = {
        "eeg": torch.rand(2, N_CHANS, N_TIMES, generator=torch.Generator().manual_seed(0)) + 0.1,
        "eeg_trial": eeg_trial,
        # paired with `eeg` (return_loss=True)
        "imgs": [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(2)],
        "dataset": dataset,
        "gallery": dataset["test"],
        "pil_image": picture,
    }
    return {"root": root, "namespaces": {page: {"__name__": "__readme__", **free} for page in PAGE_BLOCKS},
            "done": set(), "free": set(free)}


def _is_hub_block(block: ReadmeBlock) -> bool:
    return "your-org/" in block.code


def _run_in_process(page: str, block: ReadmeBlock, env: dict[str, Any]) -> None:
    namespace = env["namespaces"][page]
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(env["root"])
        for text, patch, _reason in PATCHES:
            if text in block.code:
                patch(monkeypatch)
        exprs = execute_block(block.code, namespace, filename=page, first_line=block.first_line)
        for text, check in CHECKS:
            if text in block.code:
                check(namespace, exprs)


RUNNER = r"""
import json, sys
spec = json.load(open(sys.argv[1]))
sys.path.insert(0, spec["tests_dir"])
from readme_fixtures import describe, execute_block
if spec["pushes"]:
    from eeg2img_hf.hub import push_dataset, push_model
    for kind, path, repo_id in spec["pushes"]:
        (push_dataset if kind == "dataset" else push_model)(path, repo_id)
if spec["code"] is not None:
    if spec["no_package"]:
        sys.modules["eeg2img_hf"] = None  # the package must not be needed
    import numpy as np
    ns = {"__name__": "__readme__", "eeg_trial": np.load("eeg_trial.npy")}
    exprs = execute_block(spec["code"], ns, filename=spec["page"], first_line=spec["first_line"])
    names = {k: describe(v) for k, v in ns.items() if not k.startswith("__") and type(v).__name__ != "module"}
    print("RESULT" + json.dumps({"names": names, "exprs": [describe(e) for e in exprs]}))
"""


def _subprocess(spec: dict, env: dict[str, str], cwd: Path) -> dict | None:
    spec_path = cwd / f"spec-{os.getpid()}-{len(os.listdir(cwd))}.json"
    spec_path.write_text(json.dumps({"tests_dir": str(TESTS_DIR), **spec}))
    full_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error",
                "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(RUNNER), str(spec_path)], env=full_env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    return json.loads(lines[-1][len("RESULT") :]) if lines else None


def _run_hub_block(page: str, block: ReadmeBlock, env: dict[str, Any], hub, hf_home: Path) -> None:
    named = sorted(set(re.findall(r"your-org/[A-Za-z0-9._-]+", block.code)))
    unmapped = [repo for repo in named if repo not in HUB_REPOS]
    assert not unmapped, f"{page} block {block.test_id} names Hub repos that HUB_REPOS does not map: {unmapped}"
    pushes = [[HUB_REPOS[repo][0], HUB_REPOS[repo][1], repo] for repo in named]
    client = hub.client_env(hf_home=hf_home)
    spec = {"code": block.code, "first_line": block.first_line, "page": page}
    if imports_module(block.code, "eeg2img_hf"):  # the block uses the package: push and run in one interpreter
        summary = _subprocess({**spec, "pushes": pushes, "no_package": False}, client, env["root"])
    else:
        _subprocess({"pushes": pushes, "code": None}, client, env["root"])
        summary = _subprocess({**spec, "pushes": [], "no_package": True}, client, env["root"])
    assert summary is not None
    for text, check in HUB_CHECKS:
        if text in block.code:
            check(summary)


def _run(page: str, block: ReadmeBlock, env: dict[str, Any], request: pytest.FixtureRequest) -> None:
    if _is_hub_block(block):
        hub = request.getfixturevalue("hub_server")
        _run_hub_block(page, block, env, hub, env["root"] / f"hf-home-{Path(page).stem}-{block.index}")
    else:
        _run_in_process(page, block, env)
    env["done"].add((page, block.index))


@pytest.mark.parametrize("page, block", _params())
def test_readme_block(page: str, block: ReadmeBlock, readme_env: dict[str, Any],
                      request: pytest.FixtureRequest) -> None:
    for earlier in PAGE_BLOCKS[page][: block.index]:  # a block selected alone sees the names defined above it
        if (page, earlier.index) in readme_env["done"] or earlier.is_illustrative or _is_hub_block(earlier):
            continue
        if any(text in earlier.code for text, _ in SKIPS):
            continue
        try:
            _run(page, earlier, readme_env, request)
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"{page} block {earlier.test_id} (line {earlier.first_line}), which block "
                        f"{block.test_id} follows, failed: {error!r}")
    _run(page, block, readme_env, request)


# ------------------------------------------------------------------------------------------------------------
# the harness itself


def test_extraction_finds_indented_blocks_headings_and_lines() -> None:
    text = textwrap.dedent("""\
        # Title

        ```bash
        # not a heading
        ```

        ## Part one

        ```python
        x = 1
        ```

        * item

          ```python
          y = x + 1
          ```

        ```python
        # only a comment
        ```
        """)
    blocks = extract_python_blocks(text)
    assert [b.heading for b in blocks] == ["Part one", "Part one", "Part one"]
    assert [b.code for b in blocks] == ["x = 1\n", "y = x + 1\n", "# only a comment\n"]
    assert [b.first_line for b in blocks] == [10, 16, 20]
    assert [b.is_illustrative for b in blocks] == [False, False, True]
    assert blocks[1].test_id == "part-one-1"
    with pytest.raises(ValueError, match="line 1: ```python block is never closed"):
        extract_python_blocks("```python\nx = 1\n")


def test_execute_block_keeps_expressions_and_readme_line_numbers() -> None:
    ns: dict[str, Any] = {}
    assert execute_block("a = 2\na * 3\n[a]\n", ns) == [6, [2]] and ns["a"] == 2
    with pytest.raises(ZeroDivisionError) as info:
        execute_block("b = 1\nb / 0\n", {}, first_line=40)
    assert info.traceback[-1].lineno + 1 == 41 and Path(str(info.traceback[-1].path)).name == "README.md"
    assert describe(torch.zeros(2, 3)) == {"type": "torch.Tensor", "shape": [2, 3]}
    assert imports_module("import eeg2img_hf", "eeg2img_hf")
    assert imports_module("from eeg2img_hf.data import x", "eeg2img_hf")
    assert not imports_module("# `import eeg2img_hf`\nimport eeg2img_hf_other", "eeg2img_hf")


def test_readme_has_python_blocks_and_every_check_matches_one() -> None:
    assert PAGE_BLOCKS["README.md"], "README.md has no ```python block"
    keys = [text for text, *_ in (*CHECKS, *HUB_CHECKS, *PATCHES, *SKIPS)]
    unused = [text for text in keys if not any(text in block.code for _, block in BLOCKS)]
    assert not unused, f"no page contains {unused}: update these checks/patches/skips of test_readme.py"
