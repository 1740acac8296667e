"""A test's own aiohttp application on a loopback port: for a server that answers oddly or
with hostile data (a listing that escapes its folder, a tar cut short), spoken to over real
HTTP like the bundled one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer


@asynccontextmanager
async def loopback_app(app: web.Application) -> AsyncIterator[TestServer]:
    """``async with loopback_app(app) as server:`` ``server.make_url("")`` is its base URL;
    the server is closed on the way out, also when the body raises."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()
