"""learnres.lectures.build: the notebook client that executes chapters; the templates."""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from pathlib import Path
from queue import Empty

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the notebooks extra")

from learnres.lectures import build  # noqa: E402
from learnres.lectures.build import TEMPLATES, _notebook_client_class, template_file  # noqa: E402


class _FakeShell:
    """A shell channel whose reply is already waiting but is only seen by a *new* poll (the
    missed wake-up of nbclient issue #312): a poll longer than 1 s never returns it."""

    def __init__(self, msg_id):
        self.timeouts = []
        self.reply = {
            "parent_header": {"msg_id": msg_id},
            "header": {},
            "content": {"status": "ok"},
        }

    async def get_msg(self, timeout=None):
        self.timeouts.append(timeout)
        if timeout is None or timeout > 1.0:
            raise AssertionError(f"one long wait of {timeout} s can miss the reply")
        if len(self.timeouts) < 3:
            raise Empty
        return self.reply


def test_reply_is_polled_in_short_waits():
    client = _notebook_client_class()(nbformat.v4.new_notebook(), record_timing=False)
    shell = _FakeShell("abc")
    client.kc = type("KC", (), {"shell_channel": shell})()

    async def run():
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)  # the iopub side has finished
        alive = asyncio.ensure_future(asyncio.sleep(3600))
        cell = nbformat.v4.new_code_cell("1")
        return await client._async_poll_for_reply("abc", cell, 600, done, alive)

    reply = asyncio.run(run())
    assert reply is shell.reply
    assert len(shell.timeouts) == 3 and all(t <= 1.0 for t in shell.timeouts)


# ---- templates (package data) ----------------------------------------------------------------


def test_every_template_named_is_package_data():
    """``TEMPLATES`` names every file under learnres/lectures/templates/, each one there."""
    folder = resources.files("learnres.lectures") / "templates"
    shipped = {str(p.relative_to(folder)) for p in Path(str(folder)).rglob("*") if p.is_file()}
    assert shipped == set(TEMPLATES)
    for name in TEMPLATES:
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
