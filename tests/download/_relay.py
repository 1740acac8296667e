"""A TCP relay in front of a server that dies mid-answer: it relays the first connection until
``cut_after`` bytes of the answer went through, then closes it, and closes every later
connection unanswered. ``connections`` counts what it accepted: one per try of the client's."""

from __future__ import annotations

import asyncio
import contextlib


class DyingRelay:
    def __init__(self, upstream_port: int, *, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.connections = 0
        self.relayed = 0  # answer bytes that reached the client
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> DyingRelay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            if self.connections > 1:
                return  # the server is dead: the client sees its connection closed
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            ask = asyncio.ensure_future(self._pipe_request(reader, up_writer))
            try:
                await self._pipe_answer(up_reader, writer)
            finally:
                ask.cancel()
                await asyncio.gather(ask, return_exceptions=True)
                up_writer.close()
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _pipe_request(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()

    async def _pipe_answer(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while self.relayed < self.cut_after and (
                data := await src.read(min(65536, self.cut_after - self.relayed))
            ):
                dst.write(data)
                await dst.drain()
                self.relayed += len(data)
