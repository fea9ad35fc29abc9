"""docs/console.md shows every page of the console, and every image it links is in the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "console.md"
SHELL = ROOT / "otel_trading" / "console" / "static" / "index.html"


def test_every_linked_image_exists() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", GUIDE.read_text(encoding="utf-8"))
    assert images
    missing = [image for image in images if not (GUIDE.parent / image).is_file()]
    assert missing == []


def test_every_page_of_the_nav_has_a_section_and_a_screenshot() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    pages = re.findall(r'data-page="(\w+)"', SHELL.read_text(encoding="utf-8"))
    assert len(pages) == 7
    for page in pages:
        assert re.search(rf"^### {page}\b", guide, re.IGNORECASE | re.MULTILINE), f"no section for {page}"
        assert f"(console/{page}.png)" in guide, f"no screenshot of {page}"
