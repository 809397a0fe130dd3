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

__all__ = ["CHROMIUM_INSTALL", "RenderResult", "find_chromium", "render"]

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


def render(path_or_url, *, screenshot: Path | None = None, window=(1280, 720), settle: float = 4.0,
           wait_for: str | None = None, wait_timeout: float = 30.0,
           before_screenshot: str | None = None,
           chromium: str | None = None) -> RenderResult:  # fmt: skip
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
    binary = chromium or find_chromium()
    if binary is None:
        raise RuntimeError(f"no chromium found; install it with: {CHROMIUM_INSTALL}")
    url = str(path_or_url)
    if "://" not in url:
        url = Path(url).resolve().as_uri()
    result = RenderResult(url)
    with tempfile.TemporaryDirectory(prefix="learnres-chromium-") as profile:
        profile = Path(profile)
        args = [
            binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--no-first-run",
            "--no-default-browser-check", "--metrics-recording-only", "--mute-audio",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--allow-file-access-from-files",
            f"--window-size={window[0]},{window[1]}", f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "about:blank",
        ]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = _wait_for_port(profile, proc, 30)
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.loads(r.read())
            page = next(t for t in targets if t.get("type") == "page")
            dt = _DevTools(page["webSocketDebuggerUrl"])
            try:
                _drive(dt, result, url, window, settle, wait_for, wait_timeout, screenshot,
                       before_screenshot)  # fmt: skip
            finally:
                dt.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return result


def _evaluate(dt: _DevTools, expression: str):
    answer = dt.send(
        "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
    )
    if "exceptionDetails" in answer:
        return {"error": answer["exceptionDetails"].get("text", "exception")}
    return answer.get("result", {}).get("value")


def _drive(dt, result, url, window, settle, wait_for, wait_timeout, screenshot, before_screenshot):
    dt.send("Network.enable")
    dt.send("Runtime.enable")
    dt.send("Log.enable")
    dt.send("Page.enable")
    dt.send("Emulation.setDeviceMetricsOverride", width=window[0], height=window[1],
            deviceScaleFactor=1, mobile=False)  # fmt: skip
    dt.send("Page.navigate", url=url)
    end = time.monotonic() + wait_timeout
    loaded = False
    while time.monotonic() < end and not loaded:
        dt.drain(0.5)
        loaded = any(e.get("method") == "Page.loadEventFired" for e in dt.events)
    dt.drain(settle)
    if wait_for:
        while time.monotonic() < end and not _evaluate(dt, f"!!({wait_for})"):
            dt.drain(0.5)
    result.evaluate_results = {k: _evaluate(dt, js) for k, js in PROBES.items()}
    if screenshot is not None:
        if before_screenshot:
            _evaluate(dt, before_screenshot)
            dt.drain(1.5)
        shot = dt.send("Page.captureScreenshot", format="png")
        screenshot = Path(screenshot)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        result.screenshot = screenshot
    dt.drain(0.2)
    urls = {}
    for event in dt.events:
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
