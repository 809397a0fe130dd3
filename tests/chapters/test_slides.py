"""The lecture decks work offline: built with local copies of reveal.js, MathJax, require.js,
jQuery and the widget renderer, and rendered by headless Chromium (Debian's ``chromium``)
with host-name resolution switched off. The browser must show slides laid out by reveal.js,
typeset equations and drawn widgets, and must not have asked the network for anything.

Needs npm (the first build installs the pinned assets into chapters/_build/npm) and
chromium: ``apt-get update && apt-get install -y chromium npm``.
"""

from __future__ import annotations

import re
import shutil

import pytest

from learnres.lectures.browser import CHROMIUM_INSTALL, find_chromium, render
from learnres.lectures.build import (
    ASSET_PACKAGES,
    _npm_dir,
    build_html,
    build_slides,
    chapter_paths,
)

ASSETS_READY = all(
    (_npm_dir() / "node_modules" / p / "package.json").is_file() for p in ASSET_PACKAGES
)
needs_assets = pytest.mark.skipif(
    not ASSETS_READY and shutil.which("npm") is None,
    reason="the slide assets come from npm, which is not installed (apt-get install -y npm)",
)
needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason=f"no chromium: {CHROMIUM_INSTALL}"
)
QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Chapter 1 run in quick mode, saved with its outputs and widget state."""
    import os

    import nbformat

    from learnres.lectures.build import execute_chapter

    folder = tmp_path_factory.mktemp("executed")
    saved = os.environ.get("LEARNRES_FIGURES_DIR")
    os.environ["LEARNRES_FIGURES_DIR"] = str(folder / "figures")
    try:
        run = execute_chapter(chapter_paths(["01"])[0], quick=True)
    finally:
        if saved is None:
            os.environ.pop("LEARNRES_FIGURES_DIR", None)
        else:
            os.environ["LEARNRES_FIGURES_DIR"] = saved
    nbformat.write(run.notebook, folder / "01_autograd.ipynb")
    return folder


def _references(html: str) -> list[str]:
    """Every src= and href= value, and the require() paths of the deck."""
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html)
    refs += re.findall(r'\[\s*"([^"]+\.js)"', html)
    return refs


@needs_assets
def test_slides_reference_only_local_files(tmp_path):
    (deck,) = build_slides(tmp_path, ["01"], **QUIET)
    html = deck.read_text()
    refs = [r for r in _references(html) if not r.startswith(("data:", "#"))]
    assert refs, "the deck loads its scripts and styles"
    for ref in refs:
        assert "://" not in ref and not ref.startswith("//"), f"{ref} is not a local file"
        assert (tmp_path / ref.split("?")[0]).exists(), f"{ref} is missing from the output folder"
    assert "cdnjs" not in html and "unpkg" not in html and "mermaid" not in html
    assert (tmp_path / "index.html").is_file()


@needs_assets
@needs_chromium
@pytest.mark.timeout(300)
def test_deck_renders_offline_in_chromium(tmp_path, executed):
    (deck,) = build_slides(tmp_path / "slides", ["01"], executed_dir=executed, **QUIET)
    page = render(deck, screenshot=tmp_path / "slide.png",
                  before_screenshot="Reveal.slide(1, 1, -1)",
                  wait_for="window.Reveal && Reveal.isReady()")  # fmt: skip
    found = page.evaluate_results
    assert page.external_requests == []
    assert page.failed == []
    assert not [c for c in page.console if c.startswith("exception")], page.console
    assert found["reveal_ready"] is True
    assert found["slides"] >= 5 and found["sections"] > found["slides"]  # slides and subslides
    assert found["present"] >= 1 and found["future"] >= 1  # reveal.js laid out the deck
    assert found["mathjax"] > 10 and found["mathjax_errors"] == 0  # equations typeset
    assert found["widgets"] >= 1 and found["broken_images"] == 0  # the slider and its plot
    assert page.screenshot.stat().st_size > 10_000


@needs_assets
@needs_chromium
@pytest.mark.timeout(300)
def test_html_page_draws_its_widgets_offline(tmp_path, executed):
    (page_path,) = build_html(tmp_path / "html", ["01"], executed_dir=executed, **QUIET)
    page = render(page_path, screenshot=tmp_path / "widget.png", window=(1280, 900),
                  before_screenshot="document.querySelector('.widget-slider').scrollIntoView()",
                  wait_for="document.querySelector('.widget-slider')")  # fmt: skip
    found = page.evaluate_results
    assert page.external_requests == [] and page.failed == []
    assert found["widgets"] >= 1 and found["widget_views"] >= 1
    assert found["mathjax"] > 10 and found["broken_images"] == 0
    assert found["images"] >= 2  # the graph, and the plot inside the widget's output
