"""Fixtures of the data tests: an isolated environment and a file server on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from tests.data import official_format as fmt


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path) -> Path:
    """No LEARNRES_* from the caller's shell, a fresh cache, and no proxy for 127.0.0.1."""
    for name in ("LEARNRES_DATA_DIR", "LEARNRES_DATA_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    cache = tmp_path / "cache"
    monkeypatch.setenv("LEARNRES_CACHE_DIR", str(cache))
    return cache


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture
def file_server(tmp_path):
    """Serve the folder ``tmp_path / "served"`` at ``http://127.0.0.1:<port>/``.

    Yields ``(base_url, folder)``; tests write the files they want served into ``folder``.
    """
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


@pytest.fixture(scope="session")
def cifar10_official():
    """(files, arrays) of a small CIFAR-10 in the official format (20 images per batch)."""
    return fmt.cifar10_files(n_per_batch=20, n_test=20)


@pytest.fixture(scope="session")
def cifar100_official():
    return fmt.cifar100_files(n_train=30, n_test=20)


@pytest.fixture(scope="session")
def fashion_official():
    return fmt.fashion_files(n_train=30, n_test=20)
