"""The Oxen HTTP requests the wire-limit runs send, spoken with aiohttp directly.

Nothing here imports oxen_async: the wire limit is the ceiling every contender is measured
against, so it must not move when the client's own code is rewritten. Wire shapes are those of
the running oxen-server 0.65.2 (checked on it) and 0.53.4 (shared/oxen-api parts 1-3).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import resource
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import xxhash

# The server refuses (426) a User-Agent naming "oxen" without a version after the slash; this
# one names neither.
USER_AGENT = "bench-wire/1.0.0"
MiB = 1024 * 1024
# Above this a file cannot travel as a gzip part (the server's inflate cap) and is sent in parts.
LARGE_FILE = 10 * MiB


def content_id(data: bytes) -> str:
    """The server's content id: xxh3-128, lowercase hex, not zero-padded."""
    return format(xxhash.xxh3_128_intdigest(data), "x")


def cpu_seconds() -> float:
    """User + system CPU of this process so far, every thread included."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def process_cpu(pid: int) -> float:
    """User + system CPU so far of process ``pid`` and any children it runs (a server: the
    real and bundled ones run none today), every thread included."""
    import psutil

    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
    return total


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _quoted(value: str) -> str:
    # The server reads filenames raw (no percent-decoding), undoing only backslash escapes.
    return value.replace("\\", "\\\\").replace('"', '\\"')


def multipart(parts: list[tuple[str, bytes, bool]]) -> tuple[bytes, str]:
    """One ``multipart/form-data`` body of ``file[]`` parts (path, bytes, gzipped) and its
    Content-Type. Built by hand: aiohttp's FormData percent-encodes filenames."""
    boundary = uuid.uuid4().hex
    pieces: list[bytes] = []
    for path, data, gzipped in parts:
        kind = "application/gzip" if gzipped else "application/octet-stream"
        head = (
            f"--{boundary}\r\nContent-Type: {kind}\r\n"
            f'Content-Disposition: form-data; name="file[]"; filename="{_quoted(path)}"\r\n\r\n'
        )
        pieces += [head.encode(), data, b"\r\n"]
    pieces.append(f"--{boundary}--\r\n".encode())
    return b"".join(pieces), f"multipart/form-data; boundary={boundary}"


def gzip_if_smaller(data: bytes) -> tuple[bytes, bool]:
    """gzip level 6 (the official client's) when it saves at least a tenth, else the bytes."""
    packed = gzip.compress(data, 6)
    return (packed, True) if len(packed) < 0.9 * len(data) else (data, False)


class WireError(RuntimeError):
    pass


@dataclass
class Repo:
    """One repository on one server, over one aiohttp session."""

    session: aiohttp.ClientSession
    url: str  # {host}/api/repos/{namespace}/{name}

    @classmethod
    def session_for(cls, token: str, connections: int = 64) -> aiohttp.ClientSession:
        headers = {"User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
        return aiohttp.ClientSession(
            headers=headers,
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=connections),
            # The ceiling reads with the same socket buffer as our client (aiohttp's 64 KiB
            # default pauses the socket every ~128 KiB on large downloads).
            read_bufsize=256 * 1024,
        )

    async def _json(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, **kw) as resp:
            body = await resp.read()
            if resp.status == 429:  # a busy server says when to come back
                await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                return await self._json(method, path, **kw)
            try:
                return resp.status, json.loads(body) if body else None
            except ValueError:
                return resp.status, body.decode(errors="replace")

    async def _ok(self, method: str, path: str, **kw: Any) -> Any:
        status, body = await self._json(method, path, **kw)
        if status != 200:
            raise WireError(f"{method} {path}: {status} {str(body)[:300]}")
        return body

    async def new_workspace(self, branch: str) -> str:
        body = {"branch_name": branch, "workspace_id": str(uuid.uuid4())}
        answer = await self._ok("PUT", "/workspaces", json=body)
        return str(answer["workspace"]["id"])

    async def add_files(self, workspace: str, directory: str, body: bytes, ctype: str) -> None:
        await self._ok(
            "POST",
            f"/workspaces/{workspace}/files/{directory}",
            data=body,
            headers={"Content-Type": ctype},
        )

    async def merge(self, workspace: str, branch: str, message: str) -> None:
        commit = {"message": message, "author": "Bench", "email": "bench@example.com"}
        await self._ok("POST", f"/workspaces/{workspace}/merge/{branch}", json=commit)

    async def begin_upload(self, digest: str, size: int, workspace: str, path: str) -> Any:
        """``POST /versions/uploads`` (0.65): the answer, or None where the route is absent."""
        body = {
            "hash": digest,
            "size": size,
            "destination": {"workspace_id": workspace, "path": path},
        }
        status, answer = await self._json("POST", "/versions/uploads", json=body)
        if status in (404, 405):
            return None
        if status != 200:
            raise WireError(f"POST /versions/uploads: {status} {str(answer)[:300]}")
        return answer

    async def put_part(self, upload_id: str, number: int, data: bytes) -> bool:
        answer = await self._ok(
            "PUT",
            f"/versions/uploads/{upload_id}/parts/{number}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return bool(answer.get("completed"))

    async def put_legacy_chunk(self, digest: str, offset: int, data: bytes) -> None:
        await self._ok(
            "PUT",
            f"/versions/{digest}/chunks",
            params={"offset": str(offset), "size": str(len(data))},
            data=data,
        )

    async def complete_legacy(self, digest: str, chunks: int, path: str, workspace: str) -> None:
        directory, _, name = path.rpartition("/")
        one = {
            "hash": digest,
            "file_name": name,
            "dst_dir": directory or None,
            "num_chunks": chunks,
        }
        await self._ok(
            "POST", f"/versions/{digest}/complete", json={"files": [one], "workspace_id": workspace}
        )

    async def drain(self, method: str, path: str, **kw: Any) -> int | None:
        """Send a request and read its body to the end without keeping it: the byte count, or
        None for a 404/405 (a route this server lacks)."""
        async with self.session.request(method, self.url + path, **kw) as resp:
            if resp.status in (404, 405):
                await resp.read()
                return None
            if resp.status != 200:
                raise WireError(f"{method} {path}: {resp.status} {(await resp.text())[:300]}")
            received = 0
            async for block in resp.content.iter_any():
                received += len(block)
            return received
