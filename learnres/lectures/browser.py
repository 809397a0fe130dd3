"""Opening a built page in headless Chromium: what it rendered, what it asked the network
for, and a screenshot.

The slides' test and the screenshot command use it. It drives Debian's ``chromium``
through the DevTools protocol (a websocket; ``websocket-client`` comes with JupyterLab):

    page = render("chapters/_build/slides/01_autograd.slides.html", screenshot="slide.png")
    page.requests          # every URL the page requested (all file:// when offline-ready)
    page.evaluate_results  # answers to the JavaScript probes (slides, MathJax, widgets)

The browser runs with networking features off (no background downloads, no sync) and
with every host name resolving to nothing, so a page that still needs the internet shows
it: its request is recorded and fails.

Install on Debian: ``apt-get update && apt-get install -y chromium``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from learnres.lectures.build import template_file

__all__ = [
    "CHROMIUM_INSTALL",
    "DECK_READY",
    "Browser",
    "DeckCheck",
    "RenderResult",
    "SlideCheck",
    "check_deck",
    "find_chromium",
    "render",
]

CHROMIUM_INSTALL = "apt-get update && apt-get install -y chromium"

# JavaScript run in the page after it settled; each returns a JSON-able value.
PROBES = {
    "title": "document.title",
    "reveal_ready": "!!(window.Reveal && Reveal.isReady && Reveal.isReady())",
    "slides": "document.querySelectorAll('.reveal .slides > section').length",
    "sections": "document.querySelectorAll('.reveal .slides section').length",
    "present": "document.querySelectorAll('.reveal .slides section.present').length",
    "future": "document.querySelectorAll('.reveal .slides section.future').length",
    "mathjax": "document.querySelectorAll('mjx-container').length",
    "mathjax_errors": "document.querySelectorAll('mjx-merror, [data-mjx-error]').length",
    "widgets": (
        "document.querySelectorAll('.widget-slider, .jupyter-widgets.widget-inline-hbox').length"
    ),
    "widget_views": (
        "document.querySelectorAll("
        "'script[type=\"application/vnd.jupyter.widget-view+json\"]').length"
    ),
    "images": "document.querySelectorAll('img').length",
    "broken_images": (
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"
    ),
}


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary ($CHROMIUM, else chromium, chromium-browser,
    google-chrome on PATH), or None."""
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class RenderResult:
    """What ``render`` saw."""

    url: str
    requests: list = field(default_factory=list)  # every URL requested, in order
    failed: list = field(default_factory=list)  # (url, error) of failed requests
    console: list = field(default_factory=list)  # console messages and JS exceptions
    evaluate_results: dict = field(default_factory=dict)
    screenshot: Path | None = None

    @property
    def external_requests(self) -> list:
        """Requests that would leave the machine (anything but file:, data:, blob:, about:)."""
        local = ("file:", "data:", "blob:", "about:", "chrome", "devtools:")
        return [u for u in self.requests if not u.startswith(local)]


class _DevTools:
    """A minimal DevTools-protocol client over one websocket (a page target)."""

    def __init__(self, ws_url: str):
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list = []

    def send(self, method: str, **params):
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def drain(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        end = time.monotonic() + seconds
        self.ws.settimeout(0.2)
        try:
            while time.monotonic() < end:
                try:
                    self.events.append(json.loads(self.ws.recv()))
                except Exception as e:  # websocket timeout: nothing arrived
                    if type(e).__name__ != "WebSocketTimeoutException":
                        raise
        finally:
            self.ws.settimeout(60)

    def close(self) -> None:
        self.ws.close()


def _wait_for_port(profile: Path, proc, timeout: float) -> int:
    port_file = profile / "DevToolsActivePort"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited early with status {proc.returncode}")
        if port_file.is_file():
            text = port_file.read_text().split()
            if text:
                return int(text[0])
        time.sleep(0.1)
    raise RuntimeError(f"chromium did not open its DevTools port within {timeout:.0f} s")


def _end_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop Chromium and every process it started (they share its process group)."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # the group is gone
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        # the leader has exited; give its children a moment to follow it
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _remove_profile(profile: Path, tries: int = 20) -> None:
    """Delete the throw-away profile, retrying while a late writer finishes; a profile
    still busy after ``tries`` attempts raises, naming it."""
    for attempt in range(tries):
        try:
            shutil.rmtree(profile)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == tries - 1:
                raise
            time.sleep(0.1)


class Browser:
    """One headless Chromium (networking off, host names resolving to nothing) for many
    pages, driven through the DevTools protocol:

        with Browser(window=(1280, 720)) as browser:
            for deck in decks:
                browser.open(deck, wait_for="window.Reveal && Reveal.isReady()")
                answer = browser.evaluate("document.title")
            requests = browser.requests()          # every URL any page asked for
    """

    def __init__(self, window=(1280, 720), chromium: str | None = None, local_server=False):
        self.window = window
        self.local_server = local_server  # let pages reach 127.0.0.1 (a JupyterLab server)
        self.binary = chromium or find_chromium()
        if self.binary is None:
            raise RuntimeError(f"no chromium found; install it with: {CHROMIUM_INSTALL}")
        self._profile = None
        self._proc = None
        self.dt = None

    def __enter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory(prefix="learnres-chromium-")
        profile = Path(self._profile.name)
        w, h = self.window
        args = [
            self.binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--metrics-recording-only",
            "--mute-audio",
            "--host-resolver-rules=MAP * ~NOTFOUND"
            + (", EXCLUDE 127.0.0.1" if self.local_server else ""),
            "--allow-file-access-from-files",
            f"--window-size={w},{h}",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        # Its own process group, so that closing it also ends the renderer, GPU and crash
        # handler processes, which would otherwise go on writing into the profile.
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            port = _wait_for_port(profile, self._proc, 30)
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.loads(r.read())
            page = next(t for t in targets if t.get("type") == "page")
            self.dt = _DevTools(page["webSocketDebuggerUrl"])
            for domain in ("Network", "Runtime", "Log", "Page"):
                self.dt.send(f"{domain}.enable")
            self.dt.send(
                "Emulation.setDeviceMetricsOverride",
                width=w,
                height=h,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.dt is not None:
            self.dt.close()
            self.dt = None
        if self._proc is not None:
            _end_group(self._proc)
            self._proc = None
        if self._profile is not None:
            _remove_profile(Path(self._profile.name))
            self._profile.cleanup()
            self._profile = None

    def open(
        self,
        path_or_url,
        *,
        settle: float = 1.0,
        wait_for: str | None = None,
        wait_timeout: float = 30.0,
    ) -> str:
        """Load a page (a local file or a URL), wait for its load event, ``settle``
        seconds, and until the JavaScript ``wait_for`` is true; returns its URL."""
        url = str(path_or_url)
        if "://" not in url:
            url = Path(url).resolve().as_uri()
        self.dt.events = [e for e in self.dt.events if e.get("method") != "Page.loadEventFired"]
        self.dt.send("Page.navigate", url=url)
        end = time.monotonic() + wait_timeout
        while time.monotonic() < end and not any(
            e.get("method") == "Page.loadEventFired" for e in self.dt.events
        ):
            self.dt.drain(0.2)
        self.dt.drain(settle)
        if wait_for:
            while time.monotonic() < end and not self.evaluate(f"!!({wait_for})"):
                self.dt.drain(0.2)
        return url

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression (promises awaited), or {"error": ...}."""
        return _evaluate(self.dt, expression)

    def screenshot(self, png: Path) -> Path:
        shot = self.dt.send("Page.captureScreenshot", format="png")
        png = Path(png)
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(base64.b64decode(shot["data"]))
        return png

    def collect(self, result: RenderResult) -> RenderResult:
        """Fill ``result``'s requests, failures and console from the events seen so far."""
        _collect(self.dt.events, result)
        return result


def render(
    path_or_url,
    *,
    screenshot: Path | None = None,
    window=(1280, 720),
    settle: float = 4.0,
    wait_for: str | None = None,
    wait_timeout: float = 30.0,
    before_screenshot: str | None = None,
    chromium: str | None = None,
) -> RenderResult:
    """Open ``path_or_url`` in headless Chromium, let its scripts run, probe its DOM.

    Arguments:
        path_or_url: a local HTML file (opened as file://) or a URL.
        screenshot: write a PNG of the viewport here.
        window: viewport size (width, height).
        settle: seconds to keep collecting network events after the page loaded.
        wait_for: a JavaScript expression; wait (up to ``wait_timeout`` s) until it is true.
        before_screenshot: JavaScript to run before the screenshot (e.g. go to a slide).
        chromium: the browser binary (default ``find_chromium()``).

    Returns:
        A ``RenderResult`` with the requests, failures, console messages, the ``PROBES``
        answers and the screenshot path.
    """
    with Browser(window, chromium) as browser:
        result = RenderResult(
            browser.open(path_or_url, settle=settle, wait_for=wait_for, wait_timeout=wait_timeout)
        )
        result.evaluate_results = {k: browser.evaluate(js) for k, js in PROBES.items()}
        if screenshot is not None:
            if before_screenshot:
                browser.evaluate(before_screenshot)
                browser.dt.drain(1.5)
            result.screenshot = browser.screenshot(screenshot)
        browser.dt.drain(0.2)
        return browser.collect(result)


# ---- every slide of a deck ------------------------------------------------------------------

# True once a learnres deck is ready to be looked at: reveal.js laid it out, MathJax has
# typeset, every image has loaded or failed, and the widgets (if any) are drawn.
DECK_READY = (
    "window.Reveal && Reveal.isReady() && window.learnresTypeset === true"
    " && Array.from(document.images).every(i => i.complete)"
    " && (!document.querySelector('script[type=\"application/vnd.jupyter.widget-view+json\"]')"
    "     || !!document.querySelector('.jupyter-widgets:not(script)'))"
)

# The script check_deck runs in a deck (package data, learnres/lectures/templates/): it shows
# every slide with all its fragments and returns, for each, what does not fit.
SLIDE_CHECK_SCRIPT = "slide_check.js"


@dataclass
class SlideCheck:
    """What ``check_deck`` found on one slide (``h``, ``v``: reveal.js indices)."""

    h: int
    v: int
    title: str
    problems: list
    images: int = 0
    math: int = 0
    code: int = 0
    notes: int = 0
    figure_scale: float = 1.0


@dataclass
class DeckCheck:
    """``check_deck``'s report on one deck."""

    path: Path
    slides: list = field(default_factory=list)  # SlideCheck, in order
    page: RenderResult | None = None
    mathjax_errors: int = 0

    @property
    def failures(self) -> list[str]:
        """One line per problem: a slide's, a request that left the machine, a MathJax error."""
        lines = [
            f"{self.path.name} slide {s.h},{s.v} ({s.title or 'untitled'}): {p}"
            for s in self.slides
            for p in s.problems
        ]
        if self.page is not None:
            lines += [
                f"{self.path.name}: request left the machine: {u}"
                for u in self.page.external_requests
            ]
            lines += [
                f"{self.path.name}: {c}" for c in self.page.console if c.startswith("exception")
            ]
        if self.mathjax_errors:
            lines.append(f"{self.path.name}: {self.mathjax_errors} MathJax error(s)")
        if not self.slides:
            lines.append(f"{self.path.name}: no slides found (did reveal.js start?)")
        return lines


def check_deck(browser: Browser, path: Path, wait_timeout: float = 120.0) -> DeckCheck:
    """Open the deck at ``path`` in ``browser`` and look at every slide, all fragments
    shown: nothing may leave the slide's box or be cut off inside it, no code input may
    show unless its cell is tagged ``show-code``, every image must have loaded, MathJax
    must report no error, and no request may leave the machine."""
    path = Path(path)
    browser.dt.events = []
    browser.open(path, settle=0.5, wait_for=DECK_READY, wait_timeout=wait_timeout)
    report = DeckCheck(path)
    answer = browser.evaluate(template_file(SLIDE_CHECK_SCRIPT).read_text(encoding="utf-8"))
    if isinstance(answer, dict) and "error" in answer:
        raise RuntimeError(f"{path.name}: the slide check failed in the page: {answer['error']}")
    report.slides = [SlideCheck(**s) for s in answer or []]
    report.mathjax_errors = browser.evaluate(PROBES["mathjax_errors"]) or 0
    browser.dt.drain(0.2)
    report.page = browser.collect(RenderResult(path.resolve().as_uri()))
    return report


def _evaluate(dt: _DevTools, expression: str):
    answer = dt.send(
        "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
    )
    if "exceptionDetails" in answer:
        return {"error": answer["exceptionDetails"].get("text", "exception")}
    return answer.get("result", {}).get("value")


def _collect(events, result: RenderResult) -> None:
    urls = {}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params.get("requestId")] = params["request"]["url"]
            result.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            result.failed.append((urls.get(params.get("requestId"), "?"), params.get("errorText")))
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
            )
            result.console.append(f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            result.console.append(f"exception: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            result.console.append(
                f"log.{entry.get('level')}: {entry.get('text')} {entry.get('url', '')}"
            )
