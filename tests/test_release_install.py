"""The package the way users receive it: the built wheel, the built metric modules and a built Space, each in a
fresh virtual environment outside the checkout (integration tier).

One environment serves the whole module (torch alone is gigabytes), filled in three steps, each checked first:

1. only the requirements the built `evaluate` metric modules declare: each module loads with `evaluate.load(folder)`
   and computes what the library computes;
2. then only what a built Space folder's `requirements.txt` names (the metric requirements are among them, so the
   environment equals one made from the Space's file alone);
3. then the wheel `python -m build` made from the sdist (`twine check` passes), which adds no other distribution.
   With the working directory in a temporary folder and nothing of the source tree importable, `eeg2img
   quickstart --fast`, the README's load-and-generate example, `AutoModel` and `pipeline` on the quickstart's
   models, `eeg2img convert-checkpoint --help` and `evaluate.load` of a module `eeg2img build-metrics` built run.

The Space is then started as the Hub starts it (`python app.py` in its folder, which imports the package copy the
folder carries) against the loopback Hub serving the quickstart's models, pushed there by the wheel's CLI, and
every tab is driven in Chromium. The tests assume the order of this file (each step checks the environment's state).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import eeg2img_hf
from eeg2img_hf.hub.space import build_space
from eeg2img_hf.metrics.evaluate_modules import EVALUATE_METRICS, build_metric_modules
from test_evaluate_metrics import COMPUTE, _assert_equal, _inputs
from test_space_browser import (
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    chromium_path,  # noqa: F401  (the browser test's fixture: Chromium found, else fail in CI / skip)
    image_sources,
    open_tab,
    screenshot,
    set_number,
)
from test_space_browser import wait_for_text as wait_for_textbox

from readme_fixtures import named_example

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[1]
SPACE_REPOS = {"model": "org/gan", "clip": "org/clip", "image_to_eeg": "org/i2e", "judge": "org/judge",
               "dataset": "hf://datasets/org/data"}
INSTALL_TIMEOUT = 1800  # a cold pip cache downloads torch and its CUDA wheels (several GB)


@dataclass
class Venv:
    """A virtual environment outside the checkout; commands run with a clean environment (no PYTHONPATH)."""

    root: Path
    home: Path

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR") or k.startswith("PIP_")}
        return {**keep, "PATH": f"{self.root / 'bin'}{os.pathsep}/usr/bin:/bin", "HF_HOME": str(self.home / "hf"),
                "HF_HUB_OFFLINE": "1", "HF_UPDATE_DOWNLOAD_COUNTS": "0", "GRADIO_ANALYTICS_ENABLED": "False",
                **(extra or {})}

    def run(self, args: list[str], cwd: Path, extra: dict[str, str] | None = None, timeout: int = 900) -> str:
        proc = subprocess.run(args, cwd=cwd, env=self.env(extra), capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{args[:4]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        return proc.stdout

    def pip(self, *args: str) -> str:
        return self.run([self.python, "-m", "pip", "--disable-pip-version-check", *args], cwd=self.home,
                        timeout=INSTALL_TIMEOUT)

    def distributions(self) -> dict[str, str]:
        """Installed distribution name -> its `pip freeze` line."""
        lines = self.pip("freeze", "--all").splitlines()
        return {re.split(r"[ =@]", line, maxsplit=1)[0].lower().replace("_", "-"): line for line in lines}

    def importable(self, *modules: str, cwd: Path | None = None) -> list[str]:
        code = f"import importlib.util as u; print([m for m in {modules!r} if u.find_spec(m)])"
        return json.loads(self.run([self.python, "-c", code], cwd=cwd or self.home).strip().replace("'", '"'))


@pytest.fixture(scope="module")
def built_metrics(tmp_path_factory) -> Path:
    return next(iter(build_metric_modules(tmp_path_factory.mktemp("metrics") / "built").values())).parent


@pytest.fixture(scope="module")
def built_space(tmp_path_factory) -> Path:
    return build_space(tmp_path_factory.mktemp("space") / "eeg2img-demo", **SPACE_REPOS)


@pytest.fixture(scope="module")
def metric_venv(tmp_path_factory, built_metrics) -> Venv:
    """Step 1: a new environment with only the built metric modules' declared requirements."""
    home = tmp_path_factory.mktemp("venv-home")
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True, timeout=300)
    venv = Venv(home / "venv", home)
    files = [arg for name in EVALUATE_METRICS for arg in ("-r", str(built_metrics / name / "requirements.txt"))]
    venv.pip("install", *files)
    return venv


@pytest.fixture(scope="module")
def space_venv(metric_venv, built_space) -> Venv:
    """Step 2: the Space folder's requirements added (nothing of eeg2img_hf installed yet)."""
    assert metric_venv.importable("eeg2img_hf") == []
    metric_venv.pip("install", "-r", str(built_space / "requirements.txt"))
    return metric_venv


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """`python -m build` (the sdist, then the wheel from it) and `twine check --strict`, as `make dist` runs them."""
    out, source = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("source") / "eeg2img_hf"
    ignore = shutil.ignore_patterns(".git", ".venv", "outputs", "dist", "build", "__pycache__", "*.egg-info")
    shutil.copytree(REPO_ROOT, source, symlinks=True, ignore=ignore)  # the build writes egg-info beside the sources
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], check=True,
                   capture_output=True, timeout=900)
    artefacts = {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, artefacts.values())], check=True,
                   capture_output=True, timeout=300)
    return artefacts


@pytest.fixture(scope="module")
def wheel_venv(space_venv, dist) -> Venv:
    """Step 3: the wheel added; it brings no distribution the Space's requirements did not."""
    before = space_venv.distributions()
    space_venv.pip("install", str(dist["wheel"]))
    after = space_venv.distributions()
    assert set(after) - set(before) == {"eeg2img-hf"}
    assert all(after[name] == line for name, line in before.items())  # nothing else added or changed
    return space_venv


@pytest.fixture(scope="module")
def user_dir(wheel_venv) -> Path:
    """A user's working folder outside the checkout, after `eeg2img quickstart --fast`."""
    work = wheel_venv.home / "work"
    work.mkdir()
    wheel_venv.run(["eeg2img", "quickstart", "--fast"], cwd=work, timeout=1800)
    assert (work / "outputs" / "quickstart" / "gan" / "model" / "config.json").is_file()
    return work


def test_built_metric_modules_load_with_only_their_requirements(metric_venv, built_metrics, tmp_path):
    assert metric_venv.importable("eeg2img_hf", "transformers", "gradio") == []  # step 1: nothing else yet
    expected = _inputs(tmp_path)
    out = metric_venv.run([metric_venv.python, "-c", COMPUTE, str(built_metrics), str(tmp_path), "without-package"],
                          cwd=tmp_path)
    results = json.loads([line for line in out.splitlines() if line.startswith("RESULTS")][-1][len("RESULTS"):])
    _assert_equal(results["results"], expected)
    for name, modules in results["implementations"].items():  # the copies built into each folder computed
        assert modules and not any(m.startswith("eeg2img_hf") for m in modules), (name, modules)


def test_space_requirements_cover_the_metric_requirements(built_space, built_metrics):
    from packaging.requirements import Requirement

    def names(path: Path) -> set[str]:
        return {Requirement(line).name for line in path.read_text().splitlines() if line.strip()}

    assert names(built_metrics / "eeg2img_fid" / "requirements.txt") <= names(built_space / "requirements.txt")


def test_dist_artefacts(dist):
    import tarfile
    import zipfile

    version = eeg2img_hf.__version__
    assert dist["wheel"].name == f"eeg2img_hf-{version}-py3-none-any.whl"
    assert dist["sdist"].name == f"eeg2img_hf-{version}.tar.gz"
    wheel = set(zipfile.ZipFile(dist["wheel"]).namelist())
    package = REPO_ROOT / "src" / "eeg2img_hf"
    needed = {f"eeg2img_hf/{p.relative_to(package)}" for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    needed |= {f"eeg2img_hf/hub_cards/{p.relative_to(package / 'hub_cards')}"
               for p in (package / "hub_cards").rglob("*.md")}
    needed |= {f"eeg2img_hf/space_template/{name}" for name in ("app.py", "README.md")}
    needed |= {f"eeg2img_hf/evaluate_metrics/{n}/{f}" for n in EVALUATE_METRICS for f in (f"{n}.py", "README.md")}
    assert needed - wheel == set()
    with tarfile.open(dist["sdist"]) as sdist:
        assert f"eeg2img_hf-{version}/src/eeg2img_hf/space_template/app.py" in sdist.getnames()


def test_wheel_runs_outside_the_checkout(wheel_venv, user_dir):
    venv = wheel_venv
    located = venv.run([venv.python, "-c", "import eeg2img_hf; print(eeg2img_hf.__file__)"], cwd=user_dir).strip()
    site = venv.run([venv.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=user_dir).strip()
    assert Path(located).is_relative_to(site) and not Path(located).is_relative_to(REPO_ROOT)
    assert site != sysconfig.get_paths()["purelib"]
    assert venv.run(["eeg2img", "--version"], cwd=user_dir).strip() == f"eeg2img_hf {eeg2img_hf.__version__}"
    assert "usage: eeg2img convert-checkpoint" in venv.run(["eeg2img", "convert-checkpoint", "--help"], cwd=user_dir)
    example = named_example((REPO_ROOT / "README.md").read_text(), "load-and-generate")
    (user_dir / "readme_example.py").write_text(example.code)
    venv.run([venv.python, "readme_example.py"], cwd=user_dir)
    out = venv.run([venv.python, "-c", MODELS], cwd=user_dir)
    assert json.loads(out.splitlines()[-1]) == {
        "encoder": "EEGEncoderModel", "gan": "EEGStyleGANModel", "clip": "EEGClipModel",
        "image_to_eeg": "ImageToEEGModel", "images": 2, "image_size": [16, 16]}
    venv.run(["eeg2img", "build-metrics", "metrics", "--metrics", "eeg2img_fid,eeg2img_retrieval"], cwd=user_dir)
    out = venv.run([venv.python, "-c", EVALUATE], cwd=user_dir)
    assert json.loads(out.splitlines()[-1]) == {"same": True}


# The quickstart's models through the Auto classes and the eeg-to-image pipeline.
MODELS = r"""
import json
import numpy as np
from transformers import AutoModel, pipeline
import eeg2img_hf
from eeg2img_hf.data import load_eeg_dataset
eeg2img_hf.register()
from eeg2img_hf.quickstart import quickstart_layout
layout = quickstart_layout()
kinds = {name: type(AutoModel.from_pretrained(str(layout[name]))).__name__
         for name in ("encoder", "gan", "clip", "image_to_eeg")}
eeg = np.asarray(load_eeg_dataset(str(layout["dataset"]))["test"][0]["eeg"], dtype=np.float32)
images = pipeline("eeg-to-image", model=str(layout["gan"]))(eeg, num_images_per_eeg=2)["images"]
print(json.dumps({**kinds, "images": len(images), "image_size": list(images[0].size)}))
"""

# evaluate.load of a module built by the wheel's `eeg2img build-metrics metrics`, against the library.
EVALUATE = r"""
import json
import evaluate
import numpy as np
from eeg2img_hf.metrics import compute_fid
rng = np.random.default_rng(0)
real, fake = rng.normal(size=(20, 4)), rng.normal(size=(20, 4)) + 0.3
got = evaluate.load("metrics/eeg2img_fid").compute(features=np.concatenate([real, fake]),
                                                   is_real=[True] * 20 + [False] * 20)
want = compute_fid(real.astype(np.float32), fake.astype(np.float32))
print(json.dumps({"same": abs(got["fid"] - want) <= 1e-9 * max(1.0, abs(want))}))
"""

PUSH_JUDGE = r"""
import sys
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("org/judge", exist_ok=True)
api.upload_folder(repo_id="org/judge", folder_path=sys.argv[1])
"""


@pytest.fixture(scope="module")
def space_url(chromium_path, wheel_venv, user_dir, built_space, hub_server):  # noqa: F811 (pytest fixtures)
    """The built Space served by `python app.py` in its folder, its repos on the loopback Hub."""
    from test_space_app import free_port

    venv, quickstart = wheel_venv, user_dir / "outputs" / "quickstart"
    hub = hub_server.client_env(hf_home=venv.home / "hf-push")
    for folder, repo in (("gan/model", "org/gan"), ("clip/model", "org/clip"), ("image_to_eeg/model", "org/i2e")):
        venv.run(["eeg2img", "push", str(quickstart / folder), repo], cwd=user_dir, extra=hub)
    venv.run(["eeg2img", "push-dataset", str(quickstart / "dataset_thoughtviz"), "org/data"], cwd=user_dir, extra=hub)
    venv.run([venv.python, "-c", PUSH_JUDGE, str(quickstart / "judge")], cwd=user_dir, extra=hub)
    located = venv.run([venv.python, "-c", "import eeg2img_hf; print(eeg2img_hf.__file__)"], cwd=built_space)
    assert Path(located.strip()) == built_space / "eeg2img_hf" / "__init__.py"  # the copy the folder carries
    port = free_port()
    env = venv.env({**hub_server.client_env(hf_home=venv.home / "hf-space"), "GRADIO_SERVER_NAME": "127.0.0.1",
                    "GRADIO_SERVER_PORT": str(port)})
    log = (venv.home / "space.log").open("w")
    app = subprocess.Popen([venv.python, "app.py"], cwd=built_space, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert app.poll() is None, (venv.home / "space.log").read_text()[-4000:]
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (venv.home / "space.log").read_text()[-4000:]
            time.sleep(2)
        yield url
    finally:
        app.terminate()
        app.wait(timeout=60)
        log.close()


def test_built_space_serves_every_tab_in_chromium(space_url, chromium_path, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            requested = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(space_url, wait_until="networkidle")
            assert "org/gan" in page.locator("#requirements").inner_text()  # the models came from the Hub repos
            _drive_tabs(page)
            screenshot(page, tmp_path, "built-space")
        finally:
            browser.close()
    assert requested and all(url.startswith("http://127.0.0.1:") for url in requested)


def _drive_tabs(page) -> None:
    open_tab(page, "EEG → image")
    set_number(page, "#gen-seed input", 11)
    page.locator("#gen-button").click()
    assert "true class:" in wait_for_textbox(page, "gen-info", "seed 11")
    assert image_sources(page, "gen-gallery") and image_sources(page, "gen-eeg-plot")
    open_tab(page, "EEG → image retrieval")
    page.locator("#ret-button").click()
    assert "is ranked" in wait_for_textbox(page, "ret-info", "Top-")
    assert image_sources(page, "ret-gallery")
    open_tab(page, "Image → EEG → image")
    page.locator("#rec-button").click()
    assert "EEG embedding decodes to" in wait_for_textbox(page, "rec-info", "reconstruction(s)")
    assert image_sources(page, "rec-gallery")
    open_tab(page, "Batch view")
    page.locator("#batch-button").click()
    assert "judge:" in wait_for_textbox(page, "batch-info", "trials of the test split")
    assert image_sources(page, "batch-generated") and image_sources(page, "batch-stimuli")
