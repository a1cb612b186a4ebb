"""The manual's shape: a README that fits on a few screens and links every docs/ page, links
and #anchors that lead somewhere (GitHub's heading anchors), and the test command CI runs
being the one the README's quick start gives."""
import re

import pytest

from conftest import MANUAL_PAGES, ROOT

README = ROOT / "README.md"
# [text](target) and ![alt](target); the text may span lines, the target never does
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchors(markdown):
    """The #anchors GitHub makes for a page's headings (not for '#' lines in code blocks):
    the heading's text lower-cased, punctuation but '-' and '_' dropped, spaces to '-';
    a repeated heading gets -1, -2, ..."""
    anchors, seen, fence = set(), {}, False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        if fence or not re.match(r"#{1,6} ", line):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(page):
    """['target: why', ...] for the page's relative links whose file or heading is missing."""
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in github_anchors(
                dest.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with that anchor in {dest.name}")
    return broken


def test_github_anchors_follow_githubs_rules():
    text = ("# Config reference\n## Real-world photos: `configs/realworld.yml`\n"
            "```bash\n# not a heading\n```\n## LapSRN and single-channel images (microscopy)\n"
            "## Results\n### Results\n#no-space is not a heading\n")
    assert github_anchors(text) == {
        "config-reference", "real-world-photos-configsrealworldyml",
        "lapsrn-and-single-channel-images-microscopy", "results", "results-1"}


def test_broken_links_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Some heading\n")
    (tmp_path / "fig.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text("## Here\n[a](other.md#some-heading) [b](#here) [c](https://x.org/#y)\n"
                    "[d](missing.md) [e](other.md#nowhere) ![f\ng](fig.png)\n")
    assert [b.split(":")[0] for b in broken_links(page)] == ["missing.md", "other.md#nowhere"]


def test_readme_fits_in_300_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 300


@pytest.mark.parametrize("page", MANUAL_PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file_and_heading(page):
    assert broken_links(page) == []


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / t.partition("#")[0]).resolve()
              for t in LINK.findall(README.read_text(encoding="utf-8"))}
    assert [p.name for p in MANUAL_PAGES[1:] if p.resolve() not in linked] == []


def test_ci_runs_the_quick_starts_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r'^TEST_CMD="([^"]+)"', ci, re.M).group(1)
    quick_start = README.read_text(encoding="utf-8").split("\n## Quick start\n", 1)[1]
    assert re.search(rf"^{re.escape(command)}\s", quick_start.split("\n## ", 1)[0], re.M)
