"""learnres.lectures.kernel: the shell channel that waits for a cell's reply in short polls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from queue import Empty

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the notebooks extra")
kernel = pytest.importorskip("learnres.lectures.kernel", reason="jupyter_client: notebooks extra")

import zmq  # noqa: E402  (jupyter_client's)
import zmq.asyncio  # noqa: E402
from jupyter_client.session import Session  # noqa: E402

from learnres.lectures import build  # noqa: E402

PollingKernelClient = kernel.PollingKernelClient
PollingKernelManager = kernel.PollingKernelManager
PollingShellChannel = kernel.PollingShellChannel


@contextlib.contextmanager
def _shell_pair(polls):
    """A ``PollingShellChannel`` on one end of an in-process socket pair, a sender on the
    other; each poll's timeout (ms) is appended to ``polls``."""

    class RecordingSocket(zmq.asyncio.Socket):
        def poll(self, timeout=None, flags=zmq.POLLIN):
            polls.append(timeout)
            return super().poll(timeout, flags)

    context = zmq.asyncio.Context()
    receiver = context.socket(zmq.PAIR, socket_class=RecordingSocket)
    sender = context.socket(zmq.PAIR)
    receiver.bind("inproc://shell")
    sender.connect("inproc://shell")
    session = Session(key=b"")
    channel = PollingShellChannel(receiver, session)
    channel.poll_interval = 0.05
    try:
        yield channel, lambda: session.send(sender, "execute_reply", {"status": "ok"})
    finally:
        receiver.close(linger=0)
        sender.close(linger=0)
        context.term()


def test_a_reply_is_noticed_in_short_polls():
    """A reply that comes during a cell's long timeout is returned from polls of at most
    ``poll_interval``: one long wait can miss it (nbclient issue #312)."""
    polls = []

    async def run(channel, send):
        asyncio.get_running_loop().call_later(0.3, send)
        return await channel.get_msg(timeout=600)

    with _shell_pair(polls) as (channel, send):
        reply = asyncio.run(run(channel, send))
    assert reply["msg_type"] == "execute_reply" and reply["content"] == {"status": "ok"}
    assert len(polls) >= 3 and all(t is not None and t <= 50 for t in polls), polls


def test_the_timeout_still_applies_to_the_whole_wait():
    polls = []
    with _shell_pair(polls) as (channel, _):
        tic = time.monotonic()
        with pytest.raises(Empty):
            asyncio.run(channel.get_msg(timeout=0.2))
        seconds = time.monotonic() - tic
    assert 0.2 <= seconds < 2.0, seconds
    assert len(polls) >= 2 and all(t <= 50 for t in polls), polls


def test_chapters_run_with_the_polling_channel(tmp_path, monkeypatch):
    """``execute_chapter`` waits for each reply through ``PollingShellChannel`` (public
    jupyter_client classes, configured; nbclient's own methods untouched)."""
    pytest.importorskip("nbclient", reason="nbclient is in the notebooks extra")
    waits = []
    get_msg = PollingShellChannel.get_msg

    async def recording_get_msg(self, timeout=None):
        waits.append(timeout)
        return await get_msg(self, timeout)

    monkeypatch.setattr(PollingShellChannel, "get_msg", recording_get_msg)
    assert PollingKernelManager().client_factory is PollingKernelClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    run = build.execute_chapter(tmp_path / "00_tiny.py", notebook=nb, timeout=60)
    assert run.notebook.cells[0].outputs[0]["text"] == "42\n"
    assert 60 in waits, waits  # the cell's reply, with the cell's timeout
