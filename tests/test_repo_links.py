"""The repository stands alone: every relative link and every repository path named in the docs, cards, Space,
sources, scripts and tests exists, sections cited in docs/authors-code.md exist, and nothing names a private file,
a folder outside the repository or an issue number.

Rule for "a repository path": a token that starts with one of the repository's top-level folders (`src/`, `docs/`,
`tests/`, ...) at a word boundary. Paths under any other first component (`outputs/quickstart/...`, a temporary
folder, the authors' `Image2EEG/network.py`) are outputs or other repositories, not files of this one. Paths with a
placeholder (`<name>`, `{split}`, `*`, `...`) are patterns and are not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IGNORED = (ROOT / ".gitignore").read_text(encoding="utf-8").split() if (ROOT / ".gitignore").is_file() else []
UNTRACKED_FOLDERS = {".git", "venv", "__pycache__"} | {line.strip("/") for line in IGNORED if line.endswith("/")}
"""Folders that hold no repository files (the ignored ones: outputs and runs of local commands, environments)."""
TOP_FOLDERS = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and p.name not in UNTRACKED_FOLDERS
                     and not p.name.endswith(("_cache", ".egg-info")))
TEXT_SUFFIXES = {".md", ".py", ".txt", ".toml", ".yaml", ".yml", ".cfg", ".json"}

# Written so that these patterns do not match their own source text.
FORBIDDEN = {
    "a private reference file": re.compile(r"reference[-]impl", re.IGNORECASE),
    "a folder outside the repository": re.compile(r"shared[/\\]reference|\.\.[/\\]shared\b", re.IGNORECASE),
    "an issue number": re.compile(r"\bissues?\s*(?:#|no\.?\s*|number\s*)?\d+", re.IGNORECASE),
}
MARKDOWN_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
PLACEHOLDER = re.compile(r"[<>{}*$]|\.\.\.")
AUTHORS_CODE = "docs/authors-code.md"
AUTHORS_CITATION = re.compile(re.escape(AUTHORS_CODE) + r"\W{1,3}'([^']+)'")


def _repo_path_pattern(top_folders: list[str]) -> re.Pattern[str]:
    """A token starting at a word boundary (not inside a longer path) with a top-level folder as first part."""
    tops = "|".join(re.escape(name) for name in top_folders)
    return re.compile(r"(?<![\w./\\-])(?:" + tops + r")/[\w./<>{}*$-]*")


def scanned_files(root: Path = ROOT) -> list[Path]:
    """Docs, cards (and their templates), the Space, sources, scripts and tests; README.md and CHANGELOG.md when
    present."""
    files = [root / name for name in ("README.md", "CHANGELOG.md") if (root / name).is_file()]
    for folder in ("docs", "hub_cards", "spaces", "src", "scripts", "tests"):
        files += sorted(p for p in (root / folder).rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
                        and "__pycache__" not in p.parts and ".egg-info" not in str(p))
    return files


def broken_links(path: Path, text: str, root: Path = ROOT) -> list[str]:
    """Relative links of a Markdown file whose target is missing (anchors and URLs are not followed)."""
    if path.suffix != ".md":
        return []
    problems = []
    for target in MARKDOWN_LINK.findall(text) + HTML_LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith(("#", "//")):
            continue  # a URL, a mail address or an anchor in the same page
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        if not file_part or PLACEHOLDER.search(file_part):
            continue
        resolved = (root / file_part.lstrip("/")) if file_part.startswith("/") else (path.parent / file_part)
        if not resolved.exists():
            problems.append(f"link {target!r}")
    return problems


def missing_paths(text: str, root: Path = ROOT, top_folders: list[str] | None = None) -> list[str]:
    """Repository paths named in `text` (see the module docstring) that do not exist."""
    pattern = _repo_path_pattern(TOP_FOLDERS if top_folders is None else top_folders)
    problems = []
    for match in pattern.finditer(text):
        token = match.group(0).rstrip(".,:;")
        if PLACEHOLDER.search(token):
            continue
        if not (root / token).exists():
            problems.append(f"path {token!r}")
    return problems


def forbidden_names(text: str) -> list[str]:
    return [f"{what}: {m.group(0)!r}" for what, pattern in FORBIDDEN.items() for m in pattern.finditer(text)]


def missing_sections(text: str, headings: set[str]) -> list[str]:
    """Sections cited as the page's path, a comma and the quoted section title that are not headings of that
    page."""
    return [f"section {title!r} of {AUTHORS_CODE}" for title in AUTHORS_CITATION.findall(text)
            if title not in headings]


def _headings(path: Path) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#+\s+(.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)}


def _problems(paths: list[Path]) -> list[str]:
    headings = _headings(ROOT / AUTHORS_CODE)
    problems = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        found = (broken_links(path, text) + missing_paths(text) + forbidden_names(text)
                 + missing_sections(text, headings))
        problems += [f"{path.relative_to(ROOT)}: {p}" for p in found]
    return problems


def test_the_repository_stands_alone():
    problems = _problems([p for p in scanned_files() if p.parent != ROOT])
    assert not problems, "\n".join(problems)


def test_readme_and_changelog_stand_alone():
    """The same checks for the top-level README.md and CHANGELOG.md (when present)."""
    problems = _problems([p for p in scanned_files() if p.parent == ROOT])
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_should(tmp_path):
    (tmp_path / "notes").mkdir()  # a top-level folder that only this test's repository has
    (tmp_path / "notes" / "real.md").write_text("# Real\n")
    page = tmp_path / "notes" / "page.md"
    text = ("[ok](real.md#real) [gone](gone.md) [web](https://example.org/x.md) [anchor](#here) "
            "<img src=\"images/missing.png\"> see notes/real.md and notes/absent.md; outputs/quickstart/notes/x.md "
            "is an output; notes/images/<name>.png is a pattern.")
    assert broken_links(page, text, root=tmp_path) == ["link 'gone.md'", "link 'images/missing.png'"]
    assert missing_paths(text, root=tmp_path, top_folders=["notes"]) == ["path 'notes/absent.md'"]
    for bad in ("see reference" + "-impl.md s8", "../" + "shared/notes.md", "fixed in issue " + "14",
                "Issue #" + "30", "shared/" + "reference/paper.md"):
        assert forbidden_names(bad), bad
    for fine in ("https://github.com/org/repo/issues/30", "tissue 3", "the issue is 3-fold"):
        assert not forbidden_names(fine), fine
    assert missing_sections(f"{AUTHORS_CODE}, 'EEGClip' and {AUTHORS_CODE}, 'Nothing'", {"EEGClip"}) == [
        f"section 'Nothing' of {AUTHORS_CODE}"]


@pytest.mark.parametrize("name", ["README.md", "CHANGELOG.md"])
def test_readme_and_changelog_are_scanned_when_present(name, tmp_path):
    for folder in ("docs", "hub_cards", "spaces", "src", "scripts", "tests"):
        (tmp_path / folder).mkdir()
    assert scanned_files(tmp_path) == []
    (tmp_path / name).write_text("x\n")
    assert scanned_files(tmp_path) == [tmp_path / name]
