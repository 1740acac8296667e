"""A loopback HTTP proxy in front of the server under test (bundled or real) that can play an
older server: hide the parts routes the way an unrouted path is answered, and name another
version on ``/api/version``. It counts what crosses it and how many parts were in flight at
once, which works the same in front of a real oxen-server.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import yarl
from aiohttp import web

PARTS_ROUTE = re.compile(r"/versions/uploads(/|$)")
PART_PUT = re.compile(r"/versions/uploads/[^/]+/parts/\d+$")
_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class ProxyLog:
    requests: Counter[str] = field(default_factory=Counter)
    """``"METHOD /tail"`` with the repository prefix and ids stripped, e.g. ``"PUT parts"``."""
    parts_in_flight: int = 0
    max_parts_in_flight: int = 0

    def count(self, kind: str) -> int:
        return self.requests[kind]


def _kind(method: str, path: str) -> str:
    if PART_PUT.search(path):
        return f"{method} parts"
    if path.endswith("/versions/uploads"):
        return f"{method} begin"
    if "/chunks" in path:
        return f"{method} chunks"
    if path.endswith("/complete"):
        return f"{method} complete"
    if path == "/api/version":
        return f"{method} version"
    return f"{method} other"


@asynccontextmanager
async def proxy(
    upstream: str,
    *,
    hide_parts: bool = False,
    hidden_status: int = 404,
    version: str | None = None,
    part_latency: float = 0.0,
    hide_completion: bool = False,
) -> AsyncIterator[tuple[str, ProxyLog]]:
    """Serve on 127.0.0.1 (a free port) until the block ends; yields (url, log)."""
    log = ProxyLog()
    client = aiohttp.ClientSession(auto_decompress=False)

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        log.requests[_kind(request.method, path)] += 1
        if version is not None and path == "/api/version":
            return web.json_response(
                {"status": "success", "status_message": "resource_found", "oxen_version": version}
            )
        if hide_parts and PARTS_ROUTE.search(path):
            if hidden_status == 405:
                # 0.53.4 routes GET /versions/{resource:.*}: another method there is 405.
                return web.Response(status=405)
            # What oxen-server 0.65.2 answers for a path it does not route (observed).
            return web.json_response(
                {"status": "error", "status_message": "resource_not_found"}, status=404
            )
        is_part = PART_PUT.search(path) is not None
        if is_part:
            log.parts_in_flight += 1
            log.max_parts_in_flight = max(log.max_parts_in_flight, log.parts_in_flight)
        try:
            body = await request.read()
            if is_part and part_latency:
                await asyncio.sleep(part_latency)  # a slower link: lets overlap show
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
            url = yarl.URL(upstream + request.raw_path, encoded=True)
            async with client.request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            ) as answer:
                payload = await answer.read()
                if is_part and hide_completion:
                    # The file completed, but this client is never told so.
                    payload = payload.replace(b'"completed":true', b'"completed":false')
                out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
                return web.Response(status=answer.status, body=payload, headers=out)
        finally:
            if is_part:
                log.parts_in_flight -= 1

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        await runner.cleanup()
        await client.close()
