"""The README is the front door and the docs are linked: README.md stays within 150 lines, names the
two commands, links every topic doc, and every relative link of README.md, docs/*.md and
client/README.md points to a file of the repository (and to a heading there, for ``#anchor``)."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

from tests.project import REPO

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
LINKED = [README, *DOCS, REPO / "client" / "README.md"]
MAX_README_LINES = 150

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines a reader sees as Markdown: without HTML comments, fenced code and inline code."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    lines, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(re.sub(r"`[^`]*`", lambda m: m.group(0).replace("[", "").replace("]", ""), line))
    return lines


def anchors(path: Path) -> set[str]:
    """GitHub's heading ids of a Markdown file: lower case, punctuation dropped, spaces to hyphens,
    a repeated id suffixed ``-1``, ``-2``, ..."""
    seen: dict[str, int] = {}
    for line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def links(path: Path) -> list[str]:
    return [
        target
        for line in prose_lines(path.read_text())
        for target in LINK.findall(line)
        if not SCHEME.match(target)
    ]


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """Each relative link of ``path`` that does not resolve inside ``root``, with the reason."""
    broken = []
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / urllib.parse.unquote(file_part)).resolve() if file_part else path
        if not dest.is_relative_to(root):
            broken.append(f"{target}: outside the repository")
        elif not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(root)}")
    return broken


def test_the_readme_is_a_front_door_of_at_most_150_lines():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines: move reference to docs/"


def test_the_readme_gives_the_two_commands_and_they_exist():
    text = README.read_text()
    for command in ("bash scripts/serve.sh", "bash scripts/test.sh"):
        assert command in text
        assert (REPO / command.split()[1]).is_file()


def test_the_readme_links_every_topic_doc():
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in links(README)}
    missing = [str(doc.relative_to(REPO)) for doc in DOCS if doc.resolve() not in linked]
    assert not missing, f"README.md's Documentation list does not link {missing}"


@pytest.mark.parametrize("path", LINKED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path):
    assert not broken_links(path)


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "other.md").write_text(
        "# Volumes (`POST /volume`)\n\n## Client: `mri-client`\n## Client: `mri-client`\n"
    )
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](other.md#volumes-post-volume) [ok](other.md#client-mri-client-1) [ok](#top)\n"
        "# Top\n[gone](missing.md) [no anchor](other.md#nowhere) [web](https://example.org/x) [up](../x.md)\n"
        "`[code](missing.md)`\n```\n[fenced](missing.md)\n```\n<!-- [comment](missing.md) -->\n"
    )
    assert broken_links(doc, root=tmp_path) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading #nowhere in other.md",
        "../x.md: outside the repository",
    ]
