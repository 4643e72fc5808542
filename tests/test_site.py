"""The course's static site (`bash docs/build.sh`): built from the committed notebooks, not executed.

One build into a temporary folder, warnings as errors (build.sh passes -W): the README is the front page
with its screenshot, a notebook page shows its figures, the search page and index exist, and no page
loads anything from the network (MathJax is served from `_static/mathjax`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "html"
    result = subprocess.run(["bash", str(ROOT / "docs" / "build.sh"), str(out)], capture_output=True, text=True,
                            timeout=300, env={**_environment(), "PYTHON": sys.executable})
    assert result.returncode == 0, f"site build failed (warnings are errors):\n{result.stdout}\n{result.stderr}"
    assert "WARNING" not in result.stderr, result.stderr
    return out


def _environment() -> dict:
    return {key: value for key, value in os.environ.items() if not key.startswith("SPHINX")}


def _local_images(page: Path) -> list[Path]:
    sources = re.findall(r'<img[^>]*\bsrc="([^"]+)"', page.read_text(encoding="utf-8"))
    return [(page.parent / source).resolve() for source in sources if not source.startswith("data:")]


def test_front_page_is_the_readme_with_its_screenshot(site):
    front = site / "index.html"
    html = front.read_text(encoding="utf-8")
    assert "tinybert-course" in html and "Two commands" in html
    images = _local_images(front)
    assert any(image.name == "08_transfer_explorer.png" for image in images), images
    assert all(image.is_file() for image in images), images


def test_notebook_page_shows_its_figures_and_equations(site):
    page = site / "notebooks" / "01_attention.html"
    images = _local_images(page)
    assert images and all(image.is_file() for image in images), images
    assert all(image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    html = page.read_text(encoding="utf-8")
    assert 'class="math' in html and "_static/mathjax/tex-chtml.js" in html
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_every_notebook_has_a_page(site):
    for notebook in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        assert (site / "notebooks" / f"{notebook.stem}.html").is_file(), notebook.name


def test_widgets_become_a_note_not_a_script(site):
    html = (site / "notebooks" / "01_attention.html").read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-view+json" not in html
    assert "widget-note" in html


def test_search_page_and_index_exist(site):
    assert (site / "search.html").is_file()
    index = (site / "searchindex.js").read_text(encoding="utf-8")
    assert "attention" in index


def test_no_page_loads_from_the_network(site):
    remote = re.compile(r'<(?:script|link|img|iframe)[^>]*\b(?:src|href)="(?:https?:)?//', re.IGNORECASE)
    offending = [page.relative_to(site) for page in site.rglob("*.html") if remote.search(page.read_text("utf-8"))]
    assert not offending, f"pages that load from the network: {offending}"
