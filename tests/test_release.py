"""Release artefacts, default tier: the version has one source, the changelog names it, the wheel's package data
covers every data file of the package, and `make dist` builds and checks. The built wheel itself, installed outside
the checkout, is exercised in `tests/test_release_install.py` (integration tier).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

import eeg2img_hf

from readme_fixtures import named_example

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "src" / "eeg2img_hf"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_the_version_has_one_source():
    assert "version" not in PYPROJECT["project"] and PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "eeg2img_hf.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", eeg2img_hf.__version__)
    written = [p for p in [*PACKAGE.rglob("*.py"), REPO_ROOT / "Makefile"]
               if re.search(r"""(__version__|version)\s*=\s*["']\d+\.\d+\.\d+""", p.read_text())]
    assert written == [PACKAGE / "__init__.py"]


def test_the_changelog_names_this_version():
    changelog = REPO_ROOT / "CHANGELOG.md"
    assert changelog.is_file(), "CHANGELOG.md is missing"
    headings = re.findall(r"^## (\S+) - (\d{4}-\d{2}-\d{2})$", changelog.read_text(), re.M)
    assert headings and headings[0][0] == eeg2img_hf.__version__, headings[:1]


def _data_files() -> list[str]:
    """Every file of the package folder that is not a Python module or bytecode, symlinked folders followed."""
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_symlink() and path.is_dir():
            found += [str(p.relative_to(PACKAGE)) for p in path.rglob("*") if p.is_file()]
    found += [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*") if p.is_file()]
    return sorted({name for name in found if "__pycache__" not in name and not name.endswith(".pyc")
                   and (not name.endswith(".py") or "/" in name and name.split("/")[0] in (
                       "evaluate_metrics", "space_template"))})


def test_package_data_covers_every_data_file():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["eeg2img_hf"]
    files = _data_files()
    assert {"hub_cards/models/eeg_stylegan.md", "space_template/app.py", "space_template/README.md",
            "evaluate_metrics/eeg2img_fid/eeg2img_fid.py", "py.typed"} <= set(files)
    missed = [name for name in files if not any(fnmatch.fnmatch(name, p) and name.count("/") == p.count("/")
                                                for p in patterns)]
    assert missed == [], "add these to [tool.setuptools.package-data]"


def test_make_dist_builds_and_checks():
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = re.search(r"^dist:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "no dist target"
    assert "-m build --outdir dist" in recipe[1] and "twine check --strict" in recipe[1]
    assert {"build", "twine"} <= {re.split(r"[<>=\[ ]", r)[0] for r in PYPROJECT["project"]["optional-dependencies"]
                                  ["test"]}


def test_named_readme_example():
    markdown = "# T\n\n<!-- example: demo -->\n\n```python\nx = 1\n```\n\n```python\ny = 2\n```\n"
    block = named_example(markdown, "demo")
    assert block.code == "x = 1\n" and block.first_line == 6
    with pytest.raises(ValueError, match="exactly once"):
        named_example(markdown, "other")
    with pytest.raises(ValueError, match="not followed by a ```python block"):
        named_example("<!-- example: demo -->\ntext\n```python\nx = 1\n```\n", "demo")
