"""The package's import graph: dependency arrows point one way, and the package's own imports sit at the top.

Layers, lowest first (a module may import its own layer and the layers below it, never a layer above):

    utils  <-  models  <-  pipelines / retrieval  <-  data / metrics / evaluate_metrics
           <-  training / evaluation / convert  <-  hub  <-  quickstart  <-  commands / cli

`utils` imports nothing of the package. `eeg2img_hf/__init__.py` is the lazy facade: it may name any layer
(inside functions), and any module may take `__version__` from it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "eeg2img_hf"

LAYERS = {
    "utils": 0,
    "models": 1,
    "pipelines": 2, "retrieval": 2,
    "data": 3, "metrics": 3, "evaluate_metrics": 3,
    "training": 4, "evaluation": 4, "convert": 4,
    "hub": 5,
    "quickstart": 6,
    "commands": 7, "cli": 7,
}

# Imports of the package's own modules allowed inside functions: each keeps `eeg2img --help` or `import
# eeg2img_hf` light (they pull torch, transformers or datasets).
LAZY_OWN_IMPORTS = {"__init__.py", "cli.py"} | {f"commands/{p.name}" for p in (PACKAGE / "commands").glob("*.py")}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _own_imports(path: Path) -> list[tuple[str, int, bool]]:
    """(first package part imported, line, inside a function) for each import of an `eeg2img_hf` module."""
    rel_parts = path.relative_to(PACKAGE).with_suffix("").parts
    package_parts = list(rel_parts[:-1]) if path.name != "__init__.py" else list(rel_parts[:-1])
    tree = ast.parse(path.read_text())
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function |= {id(child) for child in ast.walk(node) if child is not node}
    found = []
    for node in ast.walk(tree):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                parts = base + (node.module.split(".") if node.module else [])
                targets = [parts] if parts else [[alias.name] for alias in node.names]
            elif node.module and node.module.split(".")[0] == "eeg2img_hf":
                parts = node.module.split(".")[1:]
                targets = [parts] if parts else [[alias.name] for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "eeg2img_hf"]
        for parts in targets:
            if parts:
                found.append((parts[0], node.lineno, id(node) in in_function))
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path):
    if path == PACKAGE / "__init__.py":
        return
    here = _layer(path)
    assert here in LAYERS, f"{path.relative_to(PACKAGE)} is in no layer: add it to LAYERS and the README"
    for target, line, _ in _own_imports(path):
        if target in ("__version__", "register"):
            continue
        assert target in LAYERS, f"{path.name}:{line} imports unknown module {target!r}"
        assert LAYERS[target] <= LAYERS[here], (
            f"{path.relative_to(PACKAGE)}:{line} ({here}, layer {LAYERS[here]}) imports {target} "
            f"(layer {LAYERS[target]}): arrows must point down"
        )


def test_utils_import_nothing_of_the_package():
    for path in (PACKAGE / "utils").glob("*.py"):
        assert [t for t, _, _ in _own_imports(path) if t != "utils"] == [], path.name


def test_own_imports_sit_at_the_top_of_library_modules():
    """Inside-function imports of the package's own modules hide the import graph; only the CLI front (start-up
    time of `eeg2img --help`) and the lazy facade keep them."""
    offenders = []
    for path in _modules():
        rel = str(path.relative_to(PACKAGE))
        if rel in LAZY_OWN_IMPORTS:
            continue
        offenders += [f"{rel}:{line}" for _, line, nested in _own_imports(path) if nested]
    assert offenders == [], f"move these imports to the top of their file: {offenders}"
