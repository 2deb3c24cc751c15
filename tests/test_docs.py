"""The documentation stays navigable: a short README, links that reach their files and headings,
error messages that name pages that exist, and the README's test command the one CI runs.

Anchors are checked by the slug rules of both places the pages are read: GitHub (lowercase,
punctuation dropped, each space a hyphen) and mkdocs (Python-Markdown's toc: the same, but ASCII
only and runs of spaces and hyphens collapsed). A link's anchor must be the slug of one heading
under both, so it works on GitHub and in the built site alike.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 200
#: where the code's user-facing strings and docstrings live
CODE = [ROOT / "dlbench", ROOT / "dlbench_backends", ROOT / "plugins"]

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...
DOCS_PATH_IN_CODE = re.compile(r"(?<![\w/.-])docs/[\w./-]+?\.md(?:#[\w-]+)?")
README_SECTION_IN_CODE = re.compile(r"README\s*(?:section\s*)?['\"]([^'\"]+)['\"]")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every markdown link outside code, inline code included."""
    found = []
    for number, line in prose_lines(path):
        text = INLINE_CODE.sub(lambda m: "", line)
        found += [(number, m.group(1)) for m in LINK.finditer(text)]
        definition = REFERENCE_DEFINITION.match(text)
        if definition:
            found.append((number, definition.group(1)))
    return found


def heading_text(raw: str) -> str:
    """A heading as it reads once rendered: links by their text, no code or emphasis markers."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    parts = []
    for i, part in enumerate(re.split(r"(`+[^`]+`+)", text)):
        if i % 2:  # a code span: its text as written
            parts.append(part.strip("`").strip())
        else:  # prose: no tags, no emphasis markers (an underscore inside a word stays)
            part = re.sub(r"<[^>]+>", "", part)
            parts.append(re.sub(r"\*+|(?<!\w)_+|_+(?!\w)", "", part))
    return "".join(parts)


def github_slug(text: str) -> str:
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's ``toc.slugify`` with its defaults (mkdocs uses it unchanged)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    """Slugs that reach a heading of ``path`` both on GitHub and in the mkdocs site."""
    github, mkdocs = [], []
    for _, line in prose_lines(path):
        match = HEADING.match(line)
        if match:
            text = heading_text(match.group(2))
            github.append(github_slug(text))
            mkdocs.append(mkdocs_slug(text))

    def deduplicated(slugs: list[str], separator: str) -> set[str]:
        seen: dict[str, int] = {}
        result = set()
        for slug in slugs:
            if slug in seen:
                seen[slug] += 1
                result.add(f"{slug}{separator}{seen[slug]}")
            else:
                seen[slug] = 0
                result.add(slug)
        return result

    return deduplicated(github, "-") & deduplicated(mkdocs, "_")


def resolve(source: Path, target: str) -> tuple[Path, str]:
    """The file a relative link from ``source`` names (``source`` itself for ``#anchor``), and its anchor."""
    path, _, anchor = target.partition("#")
    return (source if not path else (source.parent / path).resolve()), anchor


def problem(source: Path, target: str) -> str | None:
    """Why ``target``, linked from ``source``, does not resolve; None when it does."""
    path, anchor = resolve(source, target)
    if not path.exists():
        return f"no such file: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
    if not path.is_relative_to(ROOT):
        return "points outside the repository"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"no heading with the anchor #{anchor} in {path.relative_to(ROOT)}"
    return None


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines; keep it under {README_MAX_LINES} and move detail into docs/")


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path):
    broken = []
    for number, target in links(page):
        if EXTERNAL.match(target):
            continue
        why = problem(page, target)
        if why:
            broken.append(f"{page.relative_to(ROOT)}:{number}: ({target}) {why}")
    assert not broken, "\n".join(broken)


def test_every_docs_page_a_message_names_exists():
    named, broken = 0, []
    for folder in CODE:
        for source in sorted(folder.rglob("*.py")):
            text = source.read_text(encoding="utf-8")
            for match in DOCS_PATH_IN_CODE.finditer(text):
                named += 1
                why = problem(ROOT / "README.md", match.group(0))  # relative to the repository root
                if why:
                    broken.append(f"{source.relative_to(ROOT)}: {match.group(0)}: {why}")
            for match in README_SECTION_IN_CODE.finditer(text):
                broken.append(f"{source.relative_to(ROOT)}: names a README section ({match.group(0)}); "
                              "point to the docs/ page that holds it, e.g. docs/clusters.md#across-machines")
    assert not broken, "\n".join(broken)
    assert named, "no docs/ path found in the code: has the pattern gone stale?"


def test_every_docs_page_is_in_the_site_navigation():
    nav = set(re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w./-]+\.md)\s*$",
                         (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.MULTILINE))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert nav == pages, f"in docs/ but not in mkdocs.yml's nav: {sorted(pages - nav)}; " \
                         f"in the nav but not in docs/: {sorted(nav - pages)}"


def test_the_readme_test_command_is_what_ci_runs():
    commands = [line for line in README.read_text(encoding="utf-8").splitlines()
                if line.startswith("python3 -m venv") and ".venv/bin/pytest" in line]
    assert len(commands) == 1, f"expected one test command in README.md, found {commands}"
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert commands[0] in ci, f"README's test command is not a line of .ci/run:\n{commands[0]}"
    assert ci[-1] == commands[0], ".ci/run must end with README's test command"


def test_slugs_follow_both_renderers():
    assert github_slug("Data parallelism on one machine") == "data-parallelism-on-one-machine"
    assert github_slug(heading_text("Statistics: the run is the unit of replication")) == \
        mkdocs_slug("Statistics: the run is the unit of replication") == "statistics-the-run-is-the-unit-of-replication"
    assert github_slug(heading_text("`dlbench doctor`")) == mkdocs_slug(heading_text("`dlbench doctor`")) == "dlbench-doctor"
    # where the two differ, an anchor reaches neither reliably, so the check refuses it
    assert github_slug("Runs: `--replicas N`".replace("`", "")) == "runs---replicas-n"
    assert mkdocs_slug("Runs: --replicas N") == "runs-replicas-n"
