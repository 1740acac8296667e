"""A TCP relay in front of a server that calls back once a byte count has passed through:
the test's way to kill the server at a known point of a transfer (an event, not a sleep)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class TripwireProxy:
    """Relays 127.0.0.1:<port> to ``upstream_port``; ``trip()`` runs once ``limit`` bytes went
    the watched way (``upstream``: client to server, else server to client)."""

    def __init__(self, upstream_port: int, *, limit: int, upstream: bool, trip: Callable[[], None]):
        self.upstream_port = upstream_port
        self.limit = limit
        self.watch_upstream = upstream
        self.trip = trip
        self.counted = 0
        self.fired = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> TripwireProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def disarm(self, upstream_port: int) -> None:
        """Point at a restarted server, with the tripwire off."""
        self.upstream_port = upstream_port
        self.limit = 1 << 62

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except OSError:
                return  # the server is gone: the client sees its connection closed
            await asyncio.gather(
                self._pipe(reader, up[1], self.watch_upstream),
                self._pipe(up[0], writer, not self.watch_upstream),
                return_exceptions=True,
            )
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, watched: bool
    ) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
                if watched:
                    self.counted += len(data)
                    if not self.fired and self.counted >= self.limit:
                        self.fired = True
                        self.trip()
        finally:
            with contextlib.suppress(OSError):
                dst.close()
