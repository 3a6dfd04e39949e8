"""Helpers of the README docs test (`tests/test_readme.py`): extract the README's fenced Python blocks, run
them statement by statement with README line numbers in tracebacks, and summarise the resulting values.

Only the standard library at import time: hub blocks run in fresh interpreters that import this module
(with the package possibly made unimportable), see `test_readme.py`.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from typing import Any

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*$")
_HEADING = re.compile(r"^(#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_ANY_FENCE = re.compile(r"^[ \t]*```")


@dataclass(frozen=True)
class ReadmeBlock:
    """One fenced ```python block of the README.

    Args:
        index: position among the README's Python blocks (0-based, in file order).
        heading: text of the closest Markdown heading above the block.
        first_line: README line number (1-based) of the block's first code line.
        code: the block's code, dedented (blocks nested in a list item are indented in the README).
    """

    index: int
    heading: str
    first_line: int
    code: str

    @property
    def test_id(self) -> str:
        """`<heading slug>-<index>`: names the block in pytest's output."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-") or "top"
        return f"{slug}-{self.index}"

    @property
    def is_illustrative(self) -> bool:
        """True for blocks holding no executable statement: only comments, or doctest-style `>>>` lines
        (illustrative output). These are listed as skipped rather than run."""
        lines = [line.strip() for line in self.code.splitlines() if line.strip()]
        if not lines:
            return True
        return all(line.startswith("#") for line in lines) or any(line.startswith(">>>") for line in lines)


def extract_python_blocks(markdown: str) -> list[ReadmeBlock]:
    """Every fenced ```python block of `markdown`, in order, with its heading and line number.

    Fences may be indented (a block inside a list item); the closing fence is the next line starting with
    the same indentation followed by ```. Headings inside other fenced blocks (e.g. `# comment` lines of a
    bash block) are ignored. An unterminated Python block raises `ValueError` naming its line.
    """
    lines = markdown.splitlines()
    blocks: list[ReadmeBlock] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _FENCE_OPEN.match(line)
        if match:
            indent = match.group("indent")
            end = i + 1
            while end < len(lines) and not (lines[end].startswith(indent) and lines[end].strip() == "```"):
                end += 1
            if end == len(lines):
                raise ValueError(f"README line {i + 1}: ```python block is never closed")
            code = textwrap.dedent("\n".join(lines[i + 1 : end]))
            blocks.append(ReadmeBlock(len(blocks), heading, i + 2, code + "\n"))
            i = end + 1
            continue
        if _ANY_FENCE.match(line):  # another language (or a plain fence): skip to its end
            i += 1
            while i < len(lines) and not _ANY_FENCE.match(lines[i]):
                i += 1
            i += 1
            continue
        heading_match = _HEADING.match(line)
        if heading_match:
            heading = heading_match.group("title")
        i += 1
    return blocks


def execute_block(code: str, namespace: dict[str, Any], filename: str = "README.md", first_line: int = 1) -> list[Any]:
    """Run `code` in `namespace` one top-level statement at a time and return the values of its bare expressions
    (`ds["train"].features`, ...), which `exec` alone would discard.

    Code objects carry `filename` and README line numbers, so a traceback points at the README line that failed.
    """
    tree = ast.parse(code, filename=filename)
    ast.increment_lineno(tree, first_line - 1)
    values: list[Any] = []
    for statement in tree.body:
        if isinstance(statement, ast.Expr):
            expression = ast.Expression(statement.value)
            values.append(eval(compile(expression, filename, "eval"), namespace))  # noqa: S307 - README code
        else:
            module = ast.Module(body=[statement], type_ignores=[])
            exec(compile(module, filename, "exec"), namespace)  # noqa: S102 - README code
    return values


def describe(value: Any) -> dict[str, Any]:
    """A JSON-able summary of `value`: qualified type, and shape / length / keys where it has them."""
    kind = type(value)
    out: dict[str, Any] = {"type": f"{kind.__module__}.{kind.__qualname__}"}
    shape = getattr(value, "shape", None)
    if shape is not None and not callable(shape):
        if isinstance(shape, dict):  # DatasetDict: {split: (rows, columns)}
            out["shape"] = {str(k): [int(s) for s in v] for k, v in shape.items()}
        else:
            out["shape"] = [int(s) for s in shape]
    if isinstance(value, dict) or hasattr(value, "keys") and callable(value.keys) and hasattr(value, "__getitem__"):
        try:
            out["keys"] = sorted(str(k) for k in value.keys())
        except Exception:  # noqa: BLE001 - a summary, never a failure
            pass
    if isinstance(value, (list, tuple)):
        out["len"] = len(value)
    return out


def imports_module(code: str, module: str) -> bool:
    """Whether `code` imports `module` (or a submodule) in an `import` / `from ... import` statement."""
    for node in ast.walk(ast.parse(code)):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        if any(name == module or name.startswith(module + ".") for name in names):
            return True
    return False


def named_example(markdown: str, name: str) -> ReadmeBlock:
    """The ```python block right after the line `<!-- example: NAME -->` (blank lines may separate them).

    Raises `ValueError` when the marker is missing or not followed by a Python block.
    """
    marker = f"<!-- example: {name} -->"
    lines = markdown.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == marker]
    if len(starts) != 1:
        raise ValueError(f"README must hold the line {marker!r} exactly once (found {len(starts)})")
    fence = starts[0] + 1
    while fence < len(lines) and not lines[fence].strip():
        fence += 1
    block = next((b for b in extract_python_blocks(markdown) if b.first_line == fence + 2), None)
    if block is None:
        raise ValueError(f"README line {starts[0] + 1}: {marker!r} is not followed by a ```python block")
    return block
