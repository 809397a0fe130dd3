"""A student's path through a chapter, in a real JupyterLab driven by headless Chromium.

In a copy of the repository's chapters (a git repository of its own, with the project's
.gitignore), start JupyterLab with the command chapters/README.md gives, on 127.0.0.1 with
a free port and a token; open chapter 1 by double-clicking it in the file browser; check
it opened as a notebook with its kernel started; Run > Run All Cells; check that every code
cell ran and none shows an error; drag the finite-difference slider and check that the
figure is redrawn; save; check that ``git status`` of the copy is clean and the figures
were written beside the chapters. Chapter 1 is the quickest (LEARNRES_QUICK=1 is set for
the kernel); the whole test takes well under two minutes on an idle machine.

Chromium is driven through the DevTools protocol (``websocket-client``); the test is skipped
when Debian's chromium is not installed. ``LEARNRES_LAB_SCREENSHOTS=DIR`` keeps the three
screenshots (opened, after Run All, after the slider moved) in DIR.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from learnres.lectures.browser import CHROMIUM_INSTALL, Browser, find_chromium
from learnres.lectures.build import chapter_paths
from learnres.lectures.config import repo_root

pytest.importorskip("jupyterlab", reason="JupyterLab is in the notebooks extra")
jupytext = pytest.importorskip("jupytext", reason="jupytext is in the notebooks extra")
pytest.importorskip("jupyterlab_jupytext", reason="jupytext's JupyterLab extension is missing")
pytest.importorskip("websocket", reason="websocket-client is in the test extra")
pytestmark = [
    pytest.mark.skipif(find_chromium() is None, reason=f"no chromium: {CHROMIUM_INSTALL}"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git for `git status`"),
]

CHAPTER = chapter_paths(["01"])[0]
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the active tab
PROMPTS = (
    f"Array.from(document.querySelectorAll('{NOTEBOOK} .jp-CodeCell .jp-InputPrompt'))"
    ".map(e => e.textContent.trim())"
)
TRACEBACKS = ("Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
              ".map(e => e.textContent).filter(t => t.includes('Traceback (most recent call last)'))")  # fmt: skip  # noqa: E501
SLIDER = f"document.querySelector('{NOTEBOOK} .widget-interact')"


def documented_command() -> str:
    """The command chapters/README.md tells a student to start JupyterLab with, run from
    chapters/ (``cd chapters && COMMAND``)."""
    readme = (CHAPTER.parent / "README.md").read_text()
    section = readme.split("## Opening them", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^cd chapters && (.*jupyter lab)\s*$", section, re.MULTILINE)
    assert found, "chapters/README.md gives no `cd chapters && ... jupyter lab` command"
    return found.group(1)


class LabBrowser(Browser):
    """learnres's headless Chromium (``learnres.lectures.browser.Browser``) with what a
    student's hands do in JupyterLab: click, drag, type, and wait for the page."""

    def send(self, method: str, **params) -> dict:
        return self.dt.send(method, **params)

    def js(self, expression: str):
        """The JSON value of a JavaScript expression in the page."""
        answer = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails'].get('text')}")
        return answer.get("result", {}).get("value")

    def wait(self, condition: str, timeout: float, what: str) -> None:
        """Poll a JavaScript condition until it is true."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.js(f"!!({condition})"):
                return
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {timeout:.0f} s")

    def center(self, element: str) -> tuple[float, float]:
        """Scroll the element (a JavaScript expression) into view; its centre, once the
        notebook has stopped moving it and it is the element under that point."""
        assert self.js(f"!!({element})"), f"not on the page: {element}"
        self.js(f"({element}).scrollIntoView({{block: 'center'}})")
        where = (
            f"(() => {{ const e = {element}, b = e.getBoundingClientRect();"
            " const x = b.x + b.width / 2, y = b.y + b.height / 2;"
            " const at = document.elementFromPoint(x, y);"
            " return [x, y, !!at && (at === e || e.contains(at))]; })()"
        )
        last = None
        for _ in range(40):
            time.sleep(0.25)
            x, y, on_top = self.js(where)
            if on_top and (x, y) == last:
                return x, y
            last = (x, y)
        raise AssertionError(f"{element} is covered or keeps moving")

    def mouse(self, kind: str, x: float, y: float, clicks: int = 0, buttons: int = 0):
        self.send(
            "Input.dispatchMouseEvent",
            type=kind,
            x=x,
            y=y,
            button="left",
            clickCount=clicks,
            buttons=buttons,
        )

    def click(self, element: str, clicks: int = 1):
        x, y = self.center(element)
        self.mouse("mouseMoved", x, y)
        for n in range(1, clicks + 1):
            self.mouse("mousePressed", x, y, clicks=n, buttons=1)
            self.mouse("mouseReleased", x, y, clicks=n)

    def drag(self, element: str, dx: float):
        x, y = self.center(element)
        self.mouse("mouseMoved", x, y)
        time.sleep(0.2)
        self.mouse("mousePressed", x, y, clicks=1, buttons=1)
        for step in range(1, 9):
            time.sleep(0.1)
            self.mouse("mouseMoved", x + dx * step / 8, y, buttons=1)
        time.sleep(0.2)
        self.mouse("mouseReleased", x + dx, y, clicks=1)

    def key(self, key: str, code: str, keycode: int, modifiers: int = 0):
        for kind in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code,
                windowsVirtualKeyCode=keycode,
                modifiers=modifiers,
            )


def _git(root: Path, *args: str) -> str:
    command = [
        "git",
        "-c",
        "user.name=learnres test",
        "-c",
        "user.email=test@localhost",
        "-c",
        "commit.gpgsign=false",
        *args,
    ]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def student_checkout(tmp_path) -> Path:
    """A git repository holding a copy of chapters/ and the project's .gitignore, all
    committed: what a student has after cloning."""
    root = tmp_path / "student"
    ignore = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__")
    shutil.copytree(CHAPTER.parent, root / "chapters", ignore=ignore)
    shutil.copy2(repo_root() / ".gitignore", root / ".gitignore")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "the chapters")
    assert _git(root, "status", "--porcelain") == ""
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}{path}?token={token}", method=method)
    with urllib.request.urlopen(request, timeout=30) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture
def jupyterlab(student_checkout, tmp_path):
    """``cd chapters && <the README's command>`` in the student's copy, on 127.0.0.1 with a
    free port and a token, JupyterLab's own user folders in tmp_path. Yields
    ``(base URL, token)``; shuts the server (and its kernels) down afterwards."""
    port, token = _free_port(), secrets.token_hex(16)
    flags = [
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--allow-root")
    command = documented_command() + " " + " ".join(shlex.quote(f) for f in flags)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER_", "LEARNRES_")) and k != "IPYTHONDIR"
    }
    env.update(
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        PYTHONPATH=os.pathsep.join(p for p in (str(repo_root()), env.get("PYTHONPATH")) if p),
        LEARNRES_QUICK="1",  # inherited by the kernels
        JUPYTER_CONFIG_DIR=str(tmp_path / "home" / "jupyter"),  # a fresh user: no settings
        JUPYTER_RUNTIME_DIR=str(tmp_path / "home" / "runtime"),
        IPYTHONDIR=str(tmp_path / "home" / "ipython"),
    )
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        ["bash", "-c", command],
        cwd=student_checkout / "chapters",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 120
        while True:
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > end:
                    log.flush()
                    tail = (tmp_path / "jupyterlab.log").read_text()[-3000:]
                    raise AssertionError(f"JupyterLab did not start:\n{tail}")
                time.sleep(0.5)
        yield base, token
    finally:
        try:
            _api(base, token, "/api/shutdown", method="POST")  # stops the kernels too
            server.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


@pytest.mark.timeout(600)
def test_student_opens_runs_and_saves_a_chapter(jupyterlab, student_checkout, tmp_path):
    base, token = jupyterlab
    shots = Path(os.environ.get("LEARNRES_LAB_SCREENSHOTS") or tmp_path / "screenshots")
    chapters = student_checkout / "chapters"
    source = chapters / CHAPTER.name
    original = source.read_bytes()
    times, tic = {}, time.monotonic()
    with LabBrowser(window=(1400, 900), local_server=True) as browser:
        browser.send("Page.navigate", url=f"{base}/lab?token={token}")
        item = ("Array.from(document.querySelectorAll('.jp-DirListing-item')).find(e => "
                f"e.querySelector('.jp-DirListing-itemText').textContent.trim() === '{CHAPTER.name}')")  # fmt: skip  # noqa: E501
        browser.wait(
            f"document.querySelector('.jp-Launcher') && {item}",
            180,
            "JupyterLab showing its launcher and the chapter",
        )
        times["JupyterLab loaded"] = time.monotonic() - tic

        # double-click the chapter: a notebook, with a kernel
        browser.click(item, clicks=2)
        browser.wait(
            f"document.querySelectorAll('{NOTEBOOK} .jp-Notebook .jp-CodeCell').length",
            120,
            "the chapter opened as a notebook",
        )
        tab = browser.js("document.querySelector('.lm-TabBar-tab.jp-mod-current').textContent")
        assert tab.strip() == CHAPTER.name
        assert browser.js(f"!!document.querySelector('{NOTEBOOK}')")
        assert not browser.js("!!document.querySelector('.jp-FileEditor:not(.lm-mod-hidden)')")
        end = time.monotonic() + 120
        while True:
            sessions = [s for s in _api(base, token, "/api/sessions") if s["path"] == CHAPTER.name]
            if sessions and sessions[0]["kernel"]["execution_state"] == "idle":
                break
            assert time.monotonic() < end, f"the chapter's kernel did not start: {sessions}"
            time.sleep(0.5)
        assert sessions[0]["kernel"]["name"] == "python3"
        idle = "document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=idle]')"
        browser.wait(f"{PROMPTS}.length > 5 && {idle}", 60, "the kernel shown idle")
        times["opened, kernel idle"] = time.monotonic() - tic
        browser.screenshot(shots / "1_opened_by_double_click.png")

        # Run > Run All Cells
        browser.click(
            "Array.from(document.querySelectorAll('.lm-MenuBar-item'))"
            ".find(e => e.textContent.trim() === 'Run')"
        )
        browser.click("Array.from(document.querySelectorAll('.lm-Menu-item')).find(e => "
                      "e.querySelector('.lm-Menu-itemLabel').textContent.trim() === 'Run All Cells')")  # fmt: skip  # noqa: E501
        browser.wait(
            f"(() => {{ const p = {PROMPTS}; return !p.includes('[*]:') && "
            f"(p.every(s => /^\\[\\d+\\]:$/.test(s)) || {TRACEBACKS}.length); }})()",
            300,
            "Run All finished",
        )
        times["Run All done"] = time.monotonic() - tic
        tracebacks = browser.js(TRACEBACKS)
        assert tracebacks == [], tracebacks[0][:2000]
        prompts = browser.js(PROMPTS)
        assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts
        assert len(prompts) == sum(c.cell_type == "code" for c in jupytext.read(CHAPTER).cells)
        assert browser.js(f"document.querySelectorAll('{NOTEBOOK} img').length") >= 2
        browser.wait(f"{SLIDER} && {SLIDER}.querySelector('img')", 60, "the slider's figure")
        browser.js(f"{SLIDER}.closest('.jp-Cell').scrollIntoView({{block: 'start'}})")
        time.sleep(0.5)
        browser.screenshot(shots / "2_after_run_all.png")

        # drag the finite-difference slider: the figure is redrawn for the new step
        readout = f"{SLIDER}.querySelector('.widget-readout')"
        image = f"{SLIDER}.querySelector('img').src"
        before_value, before_image = browser.js(f"{readout}.textContent"), browser.js(image)
        assert browser.js(f"{readout}.scrollWidth <= {readout}.clientWidth"), "readout clipped"
        browser.drag(f"{SLIDER}.querySelector('.noUi-handle')", dx=40)
        browser.wait(
            f"{readout}.textContent !== {json.dumps(before_value)}",
            30,
            "the slider's readout changed",
        )
        settled = (
            f"{idle} && {SLIDER}.querySelector('img') && {image} !== {json.dumps(before_image)}"
        )
        browser.wait(settled, 60, "the figure redrawn after the slider moved")
        last = browser.js(image)
        while True:  # the last redraw (each step of the drag asks for one)
            time.sleep(1.0)
            browser.wait(settled, 60, "the figure redrawn after the slider moved")
            now = browser.js(image)
            if now == last:
                break
            last = now
        times["slider redrawn"] = time.monotonic() - tic
        after_value = browser.js(f"{readout}.textContent")
        assert after_value != before_value and last != before_image
        assert browser.js(f"{readout}.scrollWidth <= {readout}.clientWidth"), "readout clipped"
        assert browser.js(TRACEBACKS) == []
        browser.js(f"{SLIDER}.closest('.jp-Cell').scrollIntoView({{block: 'start'}})")
        time.sleep(0.5)
        browser.screenshot(shots / "3_after_slider_move.png")

        # save (Ctrl+S), as a student would before closing
        saved_at = source.stat().st_mtime_ns
        browser.click(f"document.querySelector('{NOTEBOOK} .jp-Cell .jp-InputPrompt')")
        browser.key("s", "KeyS", 83, modifiers=2)
        end = time.monotonic() + 60
        while source.stat().st_mtime_ns == saved_at:
            assert time.monotonic() < end, "Ctrl+S did not save the chapter"
            time.sleep(0.25)
        browser.wait(
            "!document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')",
            30,
            "the tab marked saved",
        )
        times["saved"] = time.monotonic() - tic
    print(
        "student path, seconds since the page was asked for: "
        + ", ".join(f"{k} {v:.1f}" for k, v in times.items())
    )

    saved = source.read_bytes()
    diff = difflib.unified_diff(original.decode().splitlines(True), saved.decode().splitlines(True))
    assert saved == original, "saving changed the chapter:\n" + "".join(list(diff)[:30])
    assert _git(student_checkout, "status", "--porcelain") == ""
    figures = sorted(p.name for p in (chapters / "_build" / "figures").glob("*.png"))
    assert figures == ["01_finite_differences.png", "01_graph.png"]  # beside the chapters
