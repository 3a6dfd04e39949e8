"""Every `eeg2img ...` command shown in a shell block of README.md or a docs/ page parses with the CLI's own parser:
its sub-command exists and every option and argument is accepted as written (the commands are not run: they
need data or the Hub; the quickstart's and the trainers' commands are run by other tests)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from eeg2img_hf.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SHELL_FENCE = re.compile(r"^[ \t]*```(bash|sh|shell|console)?[ \t]*$")


def shell_commands(text: str) -> list[tuple[int, str]]:
    """`(line, command)` for every `eeg2img` command of the page's shell blocks: continuation lines joined,
    comments and leading environment assignments dropped."""
    commands, block, joined, start = [], None, "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        fence = _SHELL_FENCE.match(line)
        if line.strip().startswith("```"):
            block = (fence.group(1) or "bash") if fence and block is None and fence.group(1) else None
            continue
        if block is None:
            continue
        code = line.split(" #")[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not joined:
            start = number
        joined += code[:-1] + " " if code.endswith("\\") else code
        if code.endswith("\\"):
            continue
        words = shlex.split(joined) if joined.strip() else []
        joined = ""
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)
        if words[:1] == ["eeg2img"]:
            commands.append((start, shlex.join(words)))
    return commands


CASES = [pytest.param(page, line, command, id=f"{page.name}:{line}")
         for page in PAGES for line, command in shell_commands(page.read_text(encoding="utf-8"))]


def test_the_pages_show_eeg2img_commands():
    pages = [case.values[0].name for case in CASES]
    assert len(pages) >= 20 and "README.md" in pages


@pytest.mark.parametrize("page, line, command", CASES)
def test_command_parses(page: Path, line: int, command: str):
    args = shlex.split(command)[1:]
    args = [re.sub(r"\$\{?\w+\}?", "1", a) for a in args]  # shell variables of a loop: any value parses
    try:
        build_parser().parse_args(args)
    except SystemExit as exit_:
        pytest.fail(f"{page.name} line {line}: `{command}` does not parse (exit {exit_.code})")


def test_the_extractor_joins_continuations_and_drops_comments_and_variables():
    text = "```bash\n# a comment\nFOO=1 eeg2img simulate thoughtviz \\\n    --output data  # why\nls\n```\n"
    assert shell_commands(text) == [(3, "eeg2img simulate thoughtviz --output data")]
    assert shell_commands("```python\neeg2img = 1\n```\n") == []
