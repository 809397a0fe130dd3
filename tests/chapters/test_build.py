"""learnres.lectures.build: the notebook client that executes chapters."""

from __future__ import annotations

import asyncio
from queue import Empty

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the notebooks extra")

from learnres.lectures.build import _notebook_client_class  # noqa: E402


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
