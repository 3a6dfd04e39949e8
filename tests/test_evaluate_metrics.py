"""The package's metrics as `evaluate` metric modules: one implementation with the library, assembled from the
library's sources by `eeg2img build-metrics`, loadable from a built folder and, after `eeg2img push-metrics`, from
the (loopback) Hub without the package.

`import evaluate` costs 6-16 s, so every `evaluate.load` runs in the integration tier, in subprocesses with their
own `HF_HOME` (evaluate reads its cache paths and `HF_ENDPOINT` at import time). The default tier checks what
evaluate's loader relies on without importing it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from eeg2img_hf.metrics import (
    class_accuracy,
    class_topk_retrieval,
    compute_fid,
    compute_inception_score,
    compute_kid,
    kmeans_accuracy,
    mean_average_precision,
    mean_reciprocal_rank,
    topk_accuracy,
)
from eeg2img_hf.metrics.evaluate_modules import (
    EVALUATE_METRICS,
    METRIC_REQUIREMENTS,
    build_metric_module,
    build_metric_modules,
    evaluate_metric_dir,
    evaluate_metrics_root,
)
from eeg2img_hf.utils.errors import RefusedOutputError

REPO_ROOT = Path(__file__).resolve().parents[1]
LIBRARY_CALLS = {  # the library functions each module's _compute must call
    "eeg2img_kmeans_accuracy": {"kmeans_accuracy"},
    "eeg2img_retrieval": {"topk_accuracy", "class_topk_retrieval", "mean_reciprocal_rank", "mean_average_precision"},
    "eeg2img_fid": {"compute_fid"},
    "eeg2img_kid": {"compute_kid"},
    "eeg2img_inception_score": {"compute_inception_score"},
    "eeg2img_class_accuracy": {"class_accuracy"},
}
# evaluate 0.4.6's loader (loading.get_imports): column-0 imports; a leading dot = a file it copies beside the script
_EVALUATE_IMPORT = re.compile(r"^(?:import|from)\s+(\.?)([^\s\.]+)")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Every metric module, built by `build_metric_modules` (as `eeg2img build-metrics OUT` does)."""
    out = tmp_path_factory.mktemp("metrics") / "built"
    assert build_metric_modules(out) == {name: out / name for name in EVALUATE_METRICS}
    return out


def test_the_package_keeps_only_each_modules_own_files():
    for name in EVALUATE_METRICS:  # the library modules are copied in at build time, never committed
        assert {p.name for p in evaluate_metric_dir(name).iterdir() if p.name != "__pycache__"} == {
            f"{name}.py", "README.md"}
    assert {p.name for p in evaluate_metrics_root().iterdir() if p.is_dir()} == set(EVALUATE_METRICS)


@pytest.mark.parametrize("name", sorted(EVALUATE_METRICS))
def test_built_folder_is_what_evaluates_loader_needs(name, built):
    folder = built / name
    for module in EVALUATE_METRICS[name]:  # the library's own source, as installed
        assert (folder / f"{module}.py").read_bytes() == (REPO_ROOT / "src/eeg2img_hf/metrics" / f"{module}.py"
                                                         ).read_bytes()
    assert (folder / "requirements.txt").read_text().split() == list(METRIC_REQUIREMENTS)
    script = (folder / f"{name}.py").read_text()
    imports = [_EVALUATE_IMPORT.match(line) for line in script.splitlines()]
    local = {m[2] for m in imports if m and m[1]}
    libraries = {m[2] for m in imports if m and not m[1]}
    assert local == set(EVALUATE_METRICS[name])  # every copy is copied by the loader, and only copies
    assert not any(m and m[1] and "#" in m.string for m in imports)  # the loader reads a trailing comment as a URL
    assert "eeg2img_hf" not in libraries  # the Hub copy must not require the package
    assert {p.stem for p in folder.glob("*.py")} == {name, *EVALUATE_METRICS[name]}
    tree = ast.parse(script)
    metric_class = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    compute = next(n for n in metric_class.body if isinstance(n, ast.FunctionDef) and n.name == "_compute")
    called = {n.func.id for n in ast.walk(compute) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert LIBRARY_CALLS[name] <= called
    card = (folder / "README.md").read_text()
    assert f'metric = evaluate.load("metrics/{name}")' in card  # as `eeg2img build-metrics metrics` writes it
    meta = yaml.safe_load(card.split("---\n")[1])
    assert {"evaluate", "metric"} <= set(meta["tags"]) and meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    for section in ("## Metric description", "## How to use", "### Inputs", "### Output values", "### Examples",
                    "## Limitations and bias", "## Citation"):
        assert section in card, (name, section)
    assert _examples(card) == _examples(script)  # the card shows the script's own examples


def _examples(text: str) -> list[tuple[str, str]]:
    """(call, expected output) of each `>>> metric.compute(...)` example."""
    found = []
    for match in re.finditer(r">>> (metric\.compute\(.*?\))\n\s*(\{.*?\})", text, re.S):
        call = " ".join(line.strip().removeprefix("...").strip() for line in match[1].splitlines())
        found.append((call, match[2]))
    assert found, "no example"
    return found


def test_package_data_ships_the_module_folders():
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert '"evaluate_metrics/*/*.py"' in pyproject and '"evaluate_metrics/*/*.md"' in pyproject


def _import_built(folder: Path, module: str):
    """Imports `folder/<module>.py` as a module of a package made of `folder` alone (as evaluate's cache does)."""
    import importlib.util
    import types

    package = f"built_{folder.name}"
    sys.modules.setdefault(package, types.ModuleType(package)).__path__ = [str(folder)]
    spec = importlib.util.spec_from_file_location(f"{package}.{module}", folder / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def test_built_modules_compute_what_the_library_computes(built, tmp_path):
    expected = _inputs(tmp_path)
    data = np.load(tmp_path / "io.npz")
    features = _import_built(built / "eeg2img_kmeans_accuracy", "features")
    retrieval = _import_built(built / "eeg2img_retrieval", "retrieval")
    generative = _import_built(built / "eeg2img_fid", "generative")
    assert retrieval.__name__ == "built_eeg2img_retrieval.retrieval"
    assert not features.__name__.startswith("eeg2img_hf") and not generative.__name__.startswith("eeg2img_hf")
    scores, query_labels, gallery_labels = data["scores"], data["query_labels"], data["gallery_labels"]
    got = {
        "kmeans": {"kmeans_accuracy": features.kmeans_accuracy(data["embeds"], data["labels"])},
        "retrieval_class": {**retrieval.class_topk_retrieval(scores, query_labels, gallery_labels, ks=(1, 5)),
                            "mrr": retrieval.mean_reciprocal_rank(scores, query_labels, gallery_labels),
                            "map": retrieval.mean_average_precision(scores, query_labels, gallery_labels)},
        "retrieval_exact": {**retrieval.topk_accuracy(scores, data["targets"], ks=(1, 5)),
                            "mrr": retrieval.mean_reciprocal_rank(scores, targets=data["targets"])},
        "fid": {"fid": generative.compute_fid(data["real"], data["fake"])},
        "kid": dict(zip(("kid_mean", "kid_std"), generative.compute_kid(data["real"], data["fake"], num_subsets=20,
                                                                       max_subset_size=15, seed=3))),
        "inception_score": dict(zip(("inception_score_mean", "inception_score_std"),
                                    generative.compute_inception_score(data["probs"], num_splits=4))),
        "class_accuracy": {"class_accuracy": generative.class_accuracy(data["pred"], data["true"]), "chance": 0.25},
    }
    _assert_equal(got, {key: value for key, value in expected.items() if not key.startswith("example:")})


def test_build_metric_modules_refuses_what_it_did_not_write(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(RefusedOutputError, match="not written by eeg2img_hf"):
        build_metric_modules(foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(RefusedOutputError, match="not a folder"):
        build_metric_modules(a_file)
    with pytest.raises(ValueError, match="unknown metric modules"):
        build_metric_modules(tmp_path / "new", ["bleu"])
    assert not (tmp_path / "new").exists()
    out = tmp_path / "built"
    build_metric_modules(out, ["eeg2img_fid"])
    with pytest.raises(RefusedOutputError, match="--overwrite"):  # an own output is replaced only when asked
        build_metric_modules(out, ["eeg2img_kid"])
    assert build_metric_modules(out, ["eeg2img_kid"], overwrite=True) == {"eeg2img_kid": out / "eeg2img_kid"}
    assert sorted(p.name for p in out.iterdir()) == [".eeg2img-output.json", "eeg2img_kid"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    with pytest.raises(ValueError, match="not an empty folder"):
        build_metric_module("eeg2img_kid", out)


def test_build_metrics_cli(tmp_path, capsys):
    from eeg2img_hf.cli import main

    assert main(["build-metrics", str(tmp_path / "out"), "--metrics", "eeg2img_retrieval"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"metrics": {"eeg2img_retrieval": str((tmp_path / "out" / "eeg2img_retrieval").resolve())}}
    assert main(["build-metrics", str(tmp_path / "out")]) == 2  # no traceback: a one-line error
    assert "--overwrite" in capsys.readouterr().err


def test_prepare_metric_space_and_refusals(tmp_path):
    from eeg2img_hf.hub import prepare_metric_space, push_metrics

    files = prepare_metric_space("eeg2img_retrieval", tmp_path, "org/eeg2img_retrieval")
    assert files == ["README.md", "app.py", "eeg2img_retrieval.py", "features.py", "requirements.txt", "retrieval.py"]
    assert 'evaluate.load("org/eeg2img_retrieval")' in (tmp_path / "app.py").read_text()
    card = (tmp_path / "README.md").read_text()  # the Space's card loads the Space, not a local folder
    assert 'metric = evaluate.load("org/eeg2img_retrieval")' in card and "metrics/eeg2img_retrieval" not in card
    with pytest.raises(ValueError, match="unknown metric modules"):
        push_metrics("org", ["accuracy"])
    with pytest.raises(ValueError, match="org/name"):
        push_metrics("a/b", ["eeg2img_fid"])
    with pytest.raises(ValueError, match="unknown metric module"):
        evaluate_metric_dir("bleu")


# ---------------------------------------------------------------------------------------------- integration

# Computes every module on the inputs in io.npz and its card's examples; prints the results as JSON.
COMPUTE = r"""
import json, sys
source, out = sys.argv[1], sys.argv[2]
if sys.argv[3] == "without-package":
    sys.modules["eeg2img_hf"] = None
import numpy as np
import evaluate
data = np.load(f"{out}/io.npz")
examples = json.loads(open(f"{out}/examples.json").read())
def load(name):
    return evaluate.load(f"{source}/{name}")
results, implementations = {}, {}
m = load("eeg2img_kmeans_accuracy")
results["kmeans"] = m.compute(predictions=data["embeds"], references=data["labels"])
m = load("eeg2img_retrieval")
results["retrieval_class"] = m.compute(predictions=data["scores"], references=data["query_labels"],
                                       gallery_labels=data["gallery_labels"].tolist(), ks=[1, 5])
results["retrieval_exact"] = m.compute(predictions=data["scores"], references=data["targets"], ks=[1, 5])
features = np.concatenate([data["real"], data["fake"]])
is_real = [True] * len(data["real"]) + [False] * len(data["fake"])
results["fid"] = load("eeg2img_fid").compute(features=features, is_real=is_real)
kid = load("eeg2img_kid")
for start in range(0, len(features), 7):  # add_batch, then compute
    kid.add_batch(features=features[start:start + 7], is_real=is_real[start:start + 7])
results["kid"] = kid.compute(num_subsets=20, max_subset_size=15, seed=3)
results["inception_score"] = load("eeg2img_inception_score").compute(probabilities=data["probs"], num_splits=4)
results["class_accuracy"] = load("eeg2img_class_accuracy").compute(predictions=data["pred"], references=data["true"],
                                                                   num_classes=4)
for name, calls in examples.items():
    metric = load(name)
    for index, (call, _) in enumerate(calls):
        results[f"example:{name}:{index}"] = eval(call, {"metric": metric})
    module = sys.modules[type(metric).__module__]
    implementations[name] = sorted({getattr(module, f).__module__ for f in dir(module) if f in LIBRARY_CALLS})
print("RESULTS" + json.dumps({"results": results, "implementations": implementations}))
""".replace("LIBRARY_CALLS", repr(sorted(set().union(*LIBRARY_CALLS.values()))))

PUSH = r"""
import json, sys
from eeg2img_hf.cli import main
assert main(["push-metrics", "org"]) == 0
"""


def _inputs(out: Path) -> dict:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 6)
    embeds = (np.eye(4)[labels] * 3 + rng.normal(size=(24, 4))).astype(np.float32)
    scores = np.round(rng.normal(size=(10, 8)), 1)  # rounded: many ties
    query_labels, gallery_labels = rng.integers(0, 4, 10), np.arange(8) % 4
    targets = rng.integers(0, 8, 10)
    real = rng.normal(size=(30, 5)).astype(np.float32)
    fake = (rng.normal(size=(25, 5)) + 0.5).astype(np.float32)
    probs = rng.dirichlet(np.ones(6), size=20).astype(np.float32)
    pred, true = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
    np.savez(out / "io.npz", embeds=embeds, labels=labels, scores=scores, query_labels=query_labels,
             gallery_labels=gallery_labels, targets=targets, real=real, fake=fake, probs=probs, pred=pred, true=true)
    examples = {name: _examples((evaluate_metric_dir(name) / f"{name}.py").read_text()) for name in EVALUATE_METRICS}
    (out / "examples.json").write_text(json.dumps(examples))
    expected = {
        "kmeans": {"kmeans_accuracy": kmeans_accuracy(embeds, labels)},
        "retrieval_class": {**class_topk_retrieval(scores, query_labels, gallery_labels, ks=(1, 5)),
                            "mrr": mean_reciprocal_rank(scores, query_labels, gallery_labels),
                            "map": mean_average_precision(scores, query_labels, gallery_labels)},
        "retrieval_exact": {**topk_accuracy(scores, targets, ks=(1, 5)),
                            "mrr": mean_reciprocal_rank(scores, targets=targets)},
        "fid": {"fid": compute_fid(real, fake)},
        "kid": dict(zip(("kid_mean", "kid_std"), compute_kid(real, fake, num_subsets=20, max_subset_size=15, seed=3))),
        "inception_score": dict(zip(("inception_score_mean", "inception_score_std"),
                                    compute_inception_score(probs, num_splits=4))),
        "class_accuracy": {"class_accuracy": class_accuracy(pred, true), "chance": 0.25},
    }
    for name, calls in examples.items():
        for index, (_, output) in enumerate(calls):
            expected[f"example:{name}:{index}"] = ast.literal_eval(output)
    return expected


def _run(script: str, args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS")]
    return json.loads(lines[-1][len("RESULTS"):]) if lines else {}


def _assert_equal(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key  # the same computation, bit for bit


@pytest.mark.integration
def test_evaluate_load_of_built_modules_equals_the_library(tmp_path, built):
    expected = _inputs(tmp_path)
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HF_UPDATE_DOWNLOAD_COUNTS": "0"}
    out = _run(COMPUTE, [str(built), str(tmp_path), "with-package"], env)
    _assert_equal(out["results"], expected)
    for name, modules in out["implementations"].items():  # the package's own functions ran
        assert modules and all(m.startswith("eeg2img_hf.metrics.") for m in modules), (name, modules)


@pytest.mark.integration
def test_push_metrics_then_load_from_the_hub_without_the_package(tmp_path, hub_server):
    expected = _inputs(tmp_path)
    _run(PUSH, [], hub_server.client_env(hf_home=tmp_path / "hf-push"))
    for name in EVALUATE_METRICS:
        repo = hub_server.get_repo("space", f"org/{name}")
        assert set(repo.head().files) >= {f"{name}.py", "README.md", "app.py", "requirements.txt",
                                          *(f"{m}.py" for m in EVALUATE_METRICS[name])}
    env = {**hub_server.client_env(hf_home=tmp_path / "hf-load"), "HF_UPDATE_DOWNLOAD_COUNTS": "0"}
    out = _run(COMPUTE, ["org", str(tmp_path), "without-package"], env)
    _assert_equal(out["results"], expected)
    for name, modules in out["implementations"].items():  # the bundled copies ran
        assert modules and not any(m.startswith("eeg2img_hf") for m in modules), (name, modules)
    # a second push of unchanged files is accepted (exist_ok) and keeps the Spaces loadable
    _run(PUSH, [], hub_server.client_env(hf_home=tmp_path / "hf-push"))
