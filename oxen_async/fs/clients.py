"""One ``OxenClient`` per process and event loop, never carried across a fork.

An aiohttp session belongs to the loop it was made on, and its pooled sockets to the process
that opened them: a forked child that reused them would interleave its requests with the
parent's on the same connections. So the client is keyed on ``os.getpid()`` and the running
loop. A child drops what it inherited without touching it: closing an inherited TLS connection
would send the peer a close_notify on the parent's behalf, so those objects are only parked
(kept referenced, never finalized) and a fresh client is made.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client import OxenClient

# Clients inherited through fork(): referenced so that no finalizer runs on them in the child.
_PARKED: list[Any] = []


class ClientPerLoop:
    """Hands out the client for the calling process and event loop, made on first use."""

    def __init__(self, make: Callable[[], OxenClient]) -> None:
        self._make = make
        self._pid = os.getpid()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OxenClient] = (
            weakref.WeakKeyDictionary()
        )

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            _PARKED.append(dict(self._clients))
            self._clients = weakref.WeakKeyDictionary()
            self._pid = os.getpid()

    async def get(self) -> OxenClient:
        """The client for the running loop, opened on it."""
        self._check_fork()
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._make()
            # Opening binds the session to this loop before its first await, so a concurrent
            # caller that finds the client in the table meanwhile finds it open.
            await client.__aenter__()
        return client

    def forget_after_fork(self) -> None:
        self._check_fork()

    async def close_current(self) -> None:
        """Close the running loop's client (the next call makes a new one)."""
        self._check_fork()
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def close_on(self, loop: asyncio.AbstractEventLoop, timeout: float = 5.0) -> None:
        """Close ``loop``'s client from another thread (fsspec's loop thread at shutdown)."""
        if self._pid != os.getpid() or loop.is_closed() or not loop.is_running():
            return
        client = self._clients.pop(loop, None)
        if client is None:
            return
        future = asyncio.run_coroutine_threadsafe(client.close(), loop)
        try:
            future.result(timeout)
        except Exception:  # closing at exit is best effort: the process is going away
            future.cancel()
