"""The kernel that runs a chapter, with a shell channel that polls in short waits.

nbclient waits for a cell's ``execute_reply`` with one ``shell_channel.get_msg(timeout=<the
cell's whole timeout>)``. After a cell that displays widgets, that one long wait sometimes
misses the reply's arrival and only returns when the timeout expires (nbclient issue #312;
seen here as a 600 s pause after an ``interact`` cell, then the run goes on; nbclient's
maintainers place the fix in jupyter_client's ``get_msg``). ``PollingShellChannel.get_msg``
waits in polls of at most a second, so the reply is noticed within one; the timeout still
applies to the wait as a whole.

It is wired in through public, configurable classes: the kernel client's
``shell_channel_class``, the kernel manager's ``client_factory`` and nbclient's
``NotebookClient(kernel_manager_class=PollingKernelManager)`` (see
``learnres.lectures.build.execute_chapter``). Needs jupyter_client (the notebooks extra).
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

__all__ = ["PollingKernelClient", "PollingKernelManager", "PollingShellChannel"]


class PollingShellChannel(AsyncZMQSocketChannel):
    """The shell channel: ``get_msg(timeout)`` waits in polls of at most ``poll_interval``
    seconds until a message comes (returned) or ``timeout`` seconds have passed (``Empty``,
    as jupyter_client's); ``timeout=None`` waits for ever."""

    poll_interval = 1.0

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait = self.poll_interval if left is None else min(self.poll_interval, left)
            try:
                return await super().get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class PollingKernelClient(AsyncKernelClient):
    """jupyter_client's asynchronous kernel client with the ``PollingShellChannel``."""

    shell_channel_class = Type(PollingShellChannel)


class PollingKernelManager(AsyncKernelManager):
    """jupyter_client's asynchronous kernel manager, whose clients are ``PollingKernelClient``."""

    client_factory = Type(PollingKernelClient, klass=AsyncKernelClient)
