"""The lecture decks: offline, and fit for a lecture hall.

Offline: built with local copies of reveal.js, MathJax, require.js, jQuery and the widget
renderer, and rendered by headless Chromium (Debian's ``chromium``) with host-name
resolution switched off; no request may leave the machine.

Fit: every chapter is run once in quick mode with the answers to its questions (one
notebook per chapter serves both builds: the student's deck is the same notebook without
the answers), every deck is built, and one browser session looks at every slide of every
deck, all fragments shown (``learnres.lectures.browser.check_deck``): nothing leaves the
1280x720 slide or is cut off inside it, no code input shows unless its cell is tagged
``show-code``, every image has loaded, MathJax reports no error. A deck with planted
faults proves the check fails when it should.

Time (2 CPU cores): the chapters' quick runs dominate, about as long as
``test_execute.py`` takes for all six; the slide check itself takes a few seconds per deck.

Needs npm (the first build installs the pinned assets into chapters/_build/npm) and
chromium: ``apt-get update && apt-get install -y chromium npm``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the notebooks extra")

from learnres.lectures import data_dir  # noqa: E402
from learnres.lectures.browser import (  # noqa: E402
    CHROMIUM_INSTALL,
    DECK_READY,
    Browser,
    check_deck,
    find_chromium,
    render,
)
from learnres.lectures.build import (  # noqa: E402
    ASSET_PACKAGES,
    _npm_dir,
    _template_dir,
    build_answers,
    build_html,
    build_slides,
    chapter_paths,
    execute_chapter,
    export_page,
    install_assets,
    read_chapter,
)
from learnres.lectures.deck import read_answers, with_answers, without_answers  # noqa: E402

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


def _cells(deck: Path) -> str:
    """A deck's HTML without its style sheets (whose rules name the cell tags too)."""
    return re.sub(r"<style\b.*?</style>", "", deck.read_text(), flags=re.S)


def _chapters_to_run():
    """Every chapter; without the CIFAR-10 subset, those that do not train on it."""
    paths = chapter_paths()
    if data_dir() is None:
        paths = [p for p in paths if "load_cifar10" not in p.read_text()]
    return paths


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every chapter run once in quick mode with its answers, saved twice: as the
    instructor's ``NN_name.answers.ipynb`` and the student's ``NN_name.ipynb`` (the same
    notebook without the answers). Figures go to a temporary folder; the stored runs are
    the repository's, as a lecturer's build would see them."""
    folder = tmp_path_factory.mktemp("executed")
    saved = os.environ.get("LEARNRES_FIGURES_DIR")
    os.environ["LEARNRES_FIGURES_DIR"] = str(folder / "figures")
    try:
        for path in _chapters_to_run():
            nb = with_answers(read_chapter(path), read_answers(path))
            nb = execute_chapter(path, quick=True, notebook=nb).notebook
            nbformat.write(nb, folder / f"{path.stem}.answers.ipynb")
            nbformat.write(without_answers(nb), folder / f"{path.stem}.ipynb")
    finally:
        if saved is None:
            os.environ.pop("LEARNRES_FIGURES_DIR", None)
        else:
            os.environ["LEARNRES_FIGURES_DIR"] = saved
    return folder


def _references(html: str) -> list[str]:
    """Every src= and href= value, and the require() paths of the deck."""
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html)
    refs += re.findall(r'\[\s*"([^"]+\.js)"', html)
    return refs


@needs_assets
def test_slides_reference_only_local_files(tmp_path):
    (deck,) = build_slides(tmp_path, ["01"], execute=False, **QUIET)
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
@pytest.mark.timeout(2400)  # with the fixture's chapter runs: minutes on CI, more when loaded
def test_every_slide_of_every_deck_fits(tmp_path, executed):
    """The decks of a lecturer (student decks) and of an instructor (with answers), every
    slide checked in one browser session."""
    names = [p.stem for p in _chapters_to_run()]
    student = build_slides(tmp_path / "slides", names, executed_dir=executed, **QUIET)
    instructor = [
        p
        for p in build_answers(tmp_path / "answers", names, executed_dir=executed, **QUIET)
        if p.name.endswith(".slides.html")
    ]
    failures, checked = [], {}
    with Browser(window=(1280, 720)) as browser:
        for deck in student + instructor:
            report = check_deck(browser, deck)
            failures += report.failures
            checked[deck.name] = report
    print(
        "\n".join(
            f"{name}: {len(r.slides)} slides, {len(r.failures)} failures, smallest "
            f"figure scale {min(s.figure_scale for s in r.slides):.2f}"
            for name, r in checked.items()
        )
    )
    assert failures == [], "\n".join(failures)
    for deck in student:
        report, html = checked[deck.name], _cells(deck)
        assert len(report.slides) >= 10, deck.name
        first = html[html.index("<section") : html.index("</section>")]  # the first slide
        assert "celltag_title" in first, "a title slide opens the deck"
        assert "**Covers" not in html and "Covers" in first
        last = html.rsplit("<section", 2)[-1]
        assert "celltag_question" in last, "the deck ends with the chapter's questions"
        assert "celltag_answer" not in html and "Answer to Q" not in html, deck.name
        assert sum(s.images for s in report.slides) >= 1, deck.name
        assert sum(s.math for s in report.slides) >= 1, deck.name
    for deck in instructor:
        html = _cells(deck)
        asked = len(re.findall(r"celltag_question", html))
        assert asked >= 4 and len(re.findall(r"Answer to Q\d", html)) == asked, deck.name
    shown = [s for r in checked.values() for s in r.slides if s.code]
    assert shown, "some slides show code tagged show-code"
    assert any(s.notes for r in checked.values() for s in r.slides), "speaker notes exist"


@needs_assets
@needs_chromium
@pytest.mark.timeout(300)
def test_the_slide_check_catches_planted_faults(tmp_path):
    """A deck with one fault per slide: the check names each, and only those."""
    md = nbformat.v4.new_markdown_cell
    code = nbformat.v4.new_code_cell
    slide = {"slideshow": {"slide_type": "slide"}}
    rows = "\n".join(f"| row {i} | {i * i} |" for i in range(40))
    cells = [
        md("# A clean slide\n\n$$ y = \\mathcal F(x) + x $$", metadata=slide),
        md("## Too tall\n\n| a | b |\n|---|---|\n" + rows, metadata=slide),
        md("## Too wide\n\n<div style='width: 2400px'>wide</div>", metadata=slide),
        md("## Broken image\n\n<img src='missing.png'>", metadata=slide),
        md("## Bad TeX\n\n$\\sqrt{x}}$ and $\\begin{aligned} x \\end{matrix}$", metadata=slide),
        md("## Raw TeX\n\n$\\frac{1}{$ is never typeset", metadata=slide),
        md("## Leaves the machine\n\n<img src='https://example.com/x.png'>", metadata=slide),
        md("## Planted code", metadata=slide),
        code("x = 1", metadata={"tags": ["show-code"]}),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    install_assets(tmp_path, log=QUIET["log"])
    with tempfile.TemporaryDirectory() as templates:
        deck = export_page(
            nb,
            "slides",
            tmp_path / "planted.slides.html",
            _template_dir(Path(templates)),
            "planted",
        )
    # a code input shown WITHOUT the tag: take the tag off in the HTML
    html = deck.read_text().replace("celltag_show-code", "celltag_other")
    deck.write_text(html)
    with Browser() as browser:
        report = check_deck(browser, deck, wait_timeout=20)
    by_title = {s.title: s.problems for s in report.slides}
    assert by_title["A clean slide"] == []
    assert any("px tall" in p for p in by_title["Too tall"]), by_title["Too tall"]
    assert any("wide" in p or "outside" in p for p in by_title["Too wide"]), by_title["Too wide"]
    assert any("image not loaded" in p for p in by_title["Broken image"])
    assert any("2 MathJax error(s)" in p for p in by_title["Bad TeX"]), by_title["Bad TeX"]
    assert any("TeX left untypeset" in p for p in by_title["Raw TeX"]), by_title["Raw TeX"]
    assert any("code shown without the show-code tag" in p for p in by_title["Planted code"])
    assert any("example.com" in line for line in report.failures)
    assert len([f for f in report.failures if "A clean slide" in f]) == 0


@needs_assets
@needs_chromium
@pytest.mark.timeout(300)
def test_deck_renders_offline_in_chromium(tmp_path, executed):
    (deck,) = build_slides(tmp_path / "slides", ["01"], executed_dir=executed, **QUIET)
    page = render(
        deck,
        screenshot=tmp_path / "slide.png",
        before_screenshot="Reveal.slide(1, 1, -1)",
        wait_for=DECK_READY,
    )
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
    page = render(
        page_path,
        screenshot=tmp_path / "widget.png",
        window=(1280, 900),
        before_screenshot="document.querySelector('.widget-slider').scrollIntoView()",
        wait_for="document.querySelector('.widget-slider')",
    )
    found = page.evaluate_results
    assert page.external_requests == [] and page.failed == []
    assert found["widgets"] >= 1 and found["widget_views"] >= 1
    assert found["mathjax"] > 10 and found["broken_images"] == 0
    assert found["images"] >= 2  # the graph, and the plot inside the widget's output
    assert "Answer to Q" not in page_path.read_text()  # a student's page: no answers
