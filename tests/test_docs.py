"""The README is the front door and the docs are linked: README.md stays within 150 lines, names the
two commands, links every topic doc, and every relative link of README.md, docs/*.md and
client/README.md points to a file of the repository (and to a heading there, for ``#anchor``).

Figures cannot go stale unnoticed: every figure measured with the models (a table, an example
answer, a constant) carries a marker naming the model files it was measured with and their
versions, ``<!-- measured-with: models/joint.keras@d8b95dc7b783 -->`` in Markdown (``#
measured-with: ...`` in code), the version being the content hash the service reports
(:func:`contract.spec.file_version`). A marker whose files are not the served ones any more fails
:func:`test_every_measured_figure_was_measured_with_the_served_models`: re-measure with the command
the section names, then write the new versions into the marker."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

from contract.spec import file_version
from tests.project import REPO

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
LINKED = [README, *DOCS, REPO / "client" / "README.md"]
MAX_README_LINES = 150

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
MEASURED_WITH = re.compile(r"measured-with:((?:\s+[\w./-]+@[0-9a-f]{12})+)")
#: Where measured figures live: the docs (the client's README included), and the code whose constants
#: were measured.
FIGURES = [README, *DOCS, REPO / "client" / "README.md", *sorted((REPO / "service").rglob("*.py"))]
#: Figures known to be measured with models no longer served, by (file, section): each to be
#: re-measured with the command its section names (then its marker updated and its entry removed).
STALE = {}


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


def stale_figures(paths: list[Path], root: Path = REPO) -> dict[tuple[str, str], list[str]]:
    """``(file, section) -> reasons`` for every ``measured-with`` marker of ``paths`` naming a file
    (relative to ``root``) that is missing or whose version is not the recorded one; the section is
    the Markdown heading above the marker (``""`` in code)."""
    stale: dict[tuple[str, str], list[str]] = {}
    for path in paths:
        section = ""
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            heading = HEADING.match(line) if path.suffix == ".md" else None
            if heading:
                section = heading.group(1)
            marker = MEASURED_WITH.search(line)
            if not marker:
                continue
            for token in marker.group(1).split():
                name, _, version = token.rpartition("@")
                source = root / name
                now = file_version(source) if source.is_file() else "missing"
                if now != version:
                    where = (str(path.relative_to(root)), section)
                    stale.setdefault(where, []).append(f"line {number}: {name} was {version}, now {now}")
    return stale


def test_every_measured_figure_was_measured_with_the_served_models():
    marked = [path for path in FIGURES if MEASURED_WITH.search(path.read_text())]
    assert README in marked and len(marked) >= 6, "the measured figures lost their markers"
    stale = stale_figures(FIGURES)
    new = {where: why for where, why in stale.items() if where not in STALE}
    assert not new, f"figures measured with other models: re-measure them, then update their markers: {new}"
    fixed = sorted(set(STALE) - set(stale))
    assert not fixed, f"no longer stale (their markers name the served models): remove from STALE: {fixed}"


def test_a_figure_measured_with_other_models_is_found(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.keras").write_bytes(b"today's model")
    served = file_version(tmp_path / "models" / "m.keras")
    doc = tmp_path / "doc.md"
    doc.write_text(
        f"# Fresh\n<!-- measured-with: models/m.keras@{served} -->\n| a |\n"
        "## Old\n<!-- measured-with: models/m.keras@0123456789ab models/gone.keras@0123456789ab -->\n"
    )
    code = tmp_path / "budget.py"
    code.write_text("#: 160 bytes per pixel (measured-with: models/m.keras@0123456789ab)\nX = 160\n")
    assert stale_figures([doc, code], root=tmp_path) == {
        ("doc.md", "Old"): [
            f"line 5: models/m.keras was 0123456789ab, now {served}",
            "line 5: models/gone.keras was 0123456789ab, now missing",
        ],
        ("budget.py", ""): [f"line 1: models/m.keras was 0123456789ab, now {served}"],
    }
