"""learnres.lectures.build: the templates (package data) and the pages made from them."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the notebooks extra")

from learnres.lectures import build  # noqa: E402
from learnres.lectures.browser import SLIDE_CHECK_SCRIPT  # noqa: E402
from learnres.lectures.build import TEMPLATES, template_file  # noqa: E402


def test_every_template_named_is_package_data():
    """Every file under learnres/lectures/templates/ is named in the code (nbconvert's
    ``TEMPLATES``, the browser's slide check), and every name is a file there."""
    folder = resources.files("learnres.lectures") / "templates"
    shipped = {str(p.relative_to(folder)) for p in Path(str(folder)).rglob("*") if p.is_file()}
    named = {*TEMPLATES, SLIDE_CHECK_SCRIPT}
    assert shipped == named
    for name in named:
        assert template_file(name).read_text(encoding="utf-8").strip(), name


def test_every_include_names_a_template():
    """What the Jinja templates include is one of ``TEMPLATES`` (nbconvert would fail late)."""
    basenames = {name.rsplit("/", 1)[-1] for name in TEMPLATES}
    for name in TEMPLATES:
        text = template_file(name).read_text(encoding="utf-8")
        for included in re.findall(r"\{%-?\s*include\s+'([^']+)'", text):
            assert included in basenames, f"{name} includes {included}, not in TEMPLATES"


def test_a_missing_template_is_named(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"'learnres_reveal/gone\.css'.*package data"):
        template_file("learnres_reveal/gone.css")
    monkeypatch.setattr(build, "TEMPLATES", (*TEMPLATES, "learnres_lab/gone.js"))
    with pytest.raises(FileNotFoundError, match=r"'learnres_lab/gone\.js'"):
        build._template_dir(tmp_path)


def test_templates_render_a_deck_and_a_page(tmp_path):
    """A one-slide deck and a page from the templates: MathJax 3 from assets/, the deck's
    style sheet and figure fitting inlined, nothing from a CDN."""
    pytest.importorskip("nbconvert", reason="nbconvert is in the notebooks extra")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\n$x$")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    root = build._template_dir(tmp_path / "templates")
    deck = build.export_page(nb, "slides", tmp_path / "t.slides.html", root, "t").read_text()
    page = build.export_page(nb, "html", tmp_path / "t.html", root, "t").read_text()
    css = template_file("learnres_reveal/lecture.css").read_text(encoding="utf-8")
    fit = template_file("learnres_reveal/fit.js").read_text(encoding="utf-8")
    assert f"<style>\n{css}</style>" in deck
    assert f"<script>\n\n{fit}\nrequire(" in deck
    for html in (deck, page):
        assert '<script id="MathJax-script" src="assets/mathjax/tex-svg-full.js">' in html
        assert "cdnjs" not in html and "mermaid.esm" not in html
