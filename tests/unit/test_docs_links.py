"""README.md and docs/ form one navigable set: every relative link points at a file that exists, and every page
in docs/ is reachable from README by following links."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold examples, not links
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def _target(page: Path, link: str) -> Path:
    return (page.parent / link.split("#", 1)[0]).resolve()


def test_every_relative_link_points_at_an_existing_file():
    dead = [
        f"{p.relative_to(ROOT)} -> {link}"
        for p in PAGES
        for link in _relative_links(p)
        if not _target(p, link).exists()
    ]
    assert dead == []


def test_every_docs_page_is_reachable_from_the_readme():
    seen, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != ".md" or not page.exists():
            continue
        seen.add(page)
        todo += [_target(page, link) for link in _relative_links(page)]
    unreachable = sorted(str(p.relative_to(ROOT)) for p in PAGES if p not in seen)
    assert unreachable == []
