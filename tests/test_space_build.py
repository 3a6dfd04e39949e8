"""`eeg2img build-space` / `push-space`: the demo as a self-contained Space folder (card front matter, the package's
source, requirements from the package registries only, the repos the app loads), its refusals, the app reading
the folder's configuration, and (integration tier) an upload to the loopback Hub. Nothing shipped holds a
placeholder.

The fresh-venv install of a built Space and its run in Chromium are in `tests/test_release_install.py`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

import eeg2img_hf
from eeg2img_hf.hub.space import SPACE_CONFIG, build_space, space_requirements, space_template_dir
from eeg2img_hf.utils.errors import RefusedOutputError

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(eeg2img_hf.__file__).resolve().parent
SOURCES = {"model": "org/gan", "clip": "org/clip", "image_to_eeg": "org/i2e", "judge": "org/judge",
           "dataset": "hf://datasets/org/data"}
PLACEHOLDER = re.compile(r"\bORG/|github\.com/ORG|\bTODO\b|\bXXX\b")


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    return build_space(tmp_path_factory.mktemp("space") / "out", **SOURCES)


def _front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


def test_space_folder_is_self_contained(space):
    import gradio

    assert sorted(p.name for p in space.iterdir()) == sorted(
        [".eeg2img-output.json", "README.md", "app.py", "eeg2img_hf", SPACE_CONFIG, "requirements.txt"])
    meta = _front_matter((space / "README.md").read_text())
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["python_version"] == "3.11"
    assert meta["sdk_version"] == gradio.__version__  # the Gradio the app is tested with
    assert meta["models"] == ["org/gan", "org/clip", "org/i2e", "org/judge"] and meta["datasets"] == ["org/data"]
    assert (space / "app.py").read_bytes() == (space_template_dir() / "app.py").read_bytes()
    assert json.loads((space / SPACE_CONFIG).read_text()) == {
        "gan": "org/gan", "clip": "org/clip", "image_to_eeg": "org/i2e", "judge": "org/judge",
        "dataset": "hf://datasets/org/data"}
    # the package's own source travels in the folder (data files included), without bytecode or the template
    assert (space / "eeg2img_hf" / "__init__.py").read_bytes() == (PACKAGE / "__init__.py").read_bytes()
    assert (space / "eeg2img_hf/hub_cards/models/eeg_stylegan.md").is_file()
    assert (space / "eeg2img_hf/evaluate_metrics/eeg2img_fid/eeg2img_fid.py").is_file()
    assert not list(space.rglob("__pycache__")) and not (space / "eeg2img_hf" / "space_template").exists()
    assert not [p for p in space.rglob("*") if p.is_symlink()]


def test_requirements_install_from_the_registries_only(space):
    lines = [line for line in (space / "requirements.txt").read_text().splitlines() if line.strip()]
    requirements = [Requirement(line) for line in lines]  # each line a plain requirement: no path, URL or option
    assert all(r.url is None and r.marker is None for r in requirements)
    names = {r.name for r in requirements}
    assert "eeg2img_hf" not in names and {"torch", "transformers", "gradio", "mne"} <= names
    gradio_version = _front_matter((space / "README.md").read_text())["sdk_version"]
    assert f"gradio=={gradio_version}" in lines
    assert lines == space_requirements(gradio_version)


def test_nothing_shipped_holds_a_placeholder(space):
    shipped = [p for p in PACKAGE.rglob("*") if p.is_file() and p.suffix != ".pyc"]  # package data and sources
    shipped += [p for p in (PACKAGE / "hub_cards").rglob("*") if p.is_file()]  # symlinked data folders
    shipped += [p for p in space_template_dir().iterdir() if p.is_file()]
    shipped += [p for p in space.rglob("*") if p.is_file() and p.suffix != ".pyc"]
    data = [p for p in shipped if p.suffix != ".py" or p.name == "app.py"]  # data files and the Space's app
    assert len(data) > 30
    for path in data:
        found = PLACEHOLDER.findall(path.read_text(encoding="utf-8", errors="replace"))
        assert not found, (path, found)


def test_build_space_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="--model is required"):
        build_space(tmp_path / "a", model="")
    with pytest.raises(ValueError, match="--clip: repo_id must look like 'org/name'"):
        build_space(tmp_path / "a", model="org/gan", clip="just-a-name")
    folder = tmp_path / "model_folder"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a local path; a Space loads its models by Hub repo id"):
        build_space(tmp_path / "a", model=str(folder))
    with pytest.raises(ValueError, match="--dataset"):
        build_space(tmp_path / "a", model="org/gan", dataset=str(folder))
    assert not (tmp_path / "a").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(RefusedOutputError, match="not written by eeg2img_hf"):
        build_space(foreign, model="org/gan")
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(RefusedOutputError, match="not a folder"):
        build_space(tmp_path / "file", model="org/gan")
    out = build_space(tmp_path / "out", model="org/gan")
    assert json.loads((out / SPACE_CONFIG).read_text())["clip"] is None
    assert _front_matter((out / "README.md").read_text())["models"] == ["org/gan"]
    with pytest.raises(RefusedOutputError, match="--overwrite"):
        build_space(out, model="org/other")
    build_space(out, model="org/other", overwrite=True)
    assert json.loads((out / SPACE_CONFIG).read_text())["gan"] == "org/other"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_build_space_cli(tmp_path, capsys):
    from eeg2img_hf.cli import main

    assert main(["build-space", str(tmp_path / "out"), "--model", "org/gan", "--dataset", "thoughtviz"]) == 0
    assert json.loads(capsys.readouterr().out) == {"space": str((tmp_path / "out").resolve())}
    assert "datasets" not in _front_matter((tmp_path / "out" / "README.md").read_text())  # a preset: no Hub dataset
    assert main(["build-space", str(tmp_path / "out"), "--model", "org/gan"]) == 2  # one line, no traceback
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # --model missing: argparse's usage error
        main(["build-space", str(tmp_path / "other")])
    assert exit_info.value.code == 2 and "--model" in capsys.readouterr().err


def test_the_app_loads_what_the_space_folder_names(space, monkeypatch):
    import importlib.util

    from test_space_app import APP_PATH

    spec = importlib.util.spec_from_file_location("eeg2img_built_space_app", space / "app.py")
    app = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, app)
    spec.loader.exec_module(app)
    sources, _ = app.discover_sources({}, search=[])
    assert sources == {"gan": "org/gan", "clip": "org/clip", "image_to_eeg": "org/i2e", "dataset":
                       "hf://datasets/org/data", "gallery": None, "judge": "org/judge"}
    assert app.discover_sources({"EEG2IMG_GAN": "elsewhere/gan"}, search=[])[0]["gan"] == "elsewhere/gan"  # vars win
    assert not (APP_PATH.parent / SPACE_CONFIG).exists()  # the repository's demo has no such file


PUSH = r"""
import json, sys
from eeg2img_hf.cli import main
sys.exit(main(["push-space", "org/demo", *sys.argv[1:]]))
"""


def _push(hub_server, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **hub_server.client_env(hf_home=tmp_path / "hf"),
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(PUSH), *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.integration
def test_push_space_uploads_the_built_folder(hub_server, tmp_path):
    proc = _push(hub_server, tmp_path, "--model", "org/gan")
    assert proc.returncode == 2 and "not on the Hub" in proc.stderr and "org/gan" in proc.stderr  # checked first
    assert ("space", "org/demo") not in hub_server.repos  # nothing created
    hub_server.create_repo("model", "org/gan", private=False)
    proc = _push(hub_server, tmp_path, "--model", "org/gan", "--dataset", "thoughtviz")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == {"space": f"{hub_server.endpoint}/spaces/org/demo"}
    files = set(hub_server.get_repo("space", "org/demo").head().files)
    assert {"README.md", "app.py", SPACE_CONFIG, "requirements.txt", "eeg2img_hf/__init__.py"} <= files
    assert ".eeg2img-output.json" not in files
