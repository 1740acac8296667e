"""Several processes staging into ONE named workspace at once: nothing lost, one merge.

The ground the Dask ingestion stands on (issue 12): shards on different machines add files to
one workspace concurrently and the driver merges once. Each writer is a separate OS process
with its own connections, as a Dask worker is; every writer keeps requests in flight, so the
server sees adds into the same workspace overlapping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
from typing import Any

import aiohttp

from oxen_async.hashing import hash_bytes

from ._wire import Wire, files_form

WRITERS = 4
FILES_EACH = 500
PER_REQUEST = 50
IN_FLIGHT = 2  # requests each writer keeps open at once


def _content(writer: int, index: int) -> bytes:
    return f"writer {writer} file {index}\n".encode() * (1 + index % 5)


def _paths(writer: int) -> dict[str, bytes]:
    # Writers share directories (d0..d9), so their adds meet in the same trees, not only in
    # the same workspace.
    return {f"d{i % 10}/w{writer}-{i}.txt": _content(writer, i) for i in range(FILES_EACH)}


async def _stage_all(repo_url: str, headers: dict[str, str], ws: str, writer: int) -> list[str]:
    files = list(_paths(writer).items())
    chunks = [dict(files[i : i + PER_REQUEST]) for i in range(0, len(files), PER_REQUEST)]
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def post(chunk: dict[str, bytes]) -> list[str]:
            async with (
                gate,
                session.post(
                    f"{repo_url}/workspaces/{ws}/files/", data=files_form(chunk)
                ) as response,
            ):
                body = await response.json()
                assert response.status == 200, body
                paths: list[str] = body["paths"]
                return paths

        replies = await asyncio.gather(*(post(c) for c in chunks))
    return [p for reply in replies for p in reply]


def writer_process(repo_url: str, headers: dict[str, str], ws: str, writer: int) -> list[str]:
    """One writer, in its own process: every file it staged, as the server answered."""
    return asyncio.run(_stage_all(repo_url, headers, ws, writer))


async def _changes(wire: Wire, ws: str) -> tuple[int, list[str]]:
    """(total the server reports, every added path) of the workspace's staged changes.

    In ONE page: oxen-server 0.65.2 pages the staged changes in hash-map order, which differs
    from one request to the next, so pages 1..n of 1000 overlap and miss entries (found here:
    2000 staged, pages of 1000 named 1524 distinct paths; a page of 2000 named all 2000).
    """
    first = await _added_page(wire, ws, 1000)
    total = first["total_entries"]
    listing = first if first["total_pages"] <= 1 else await _added_page(wire, ws, total)
    return total, [e["filename"] for e in listing["entries"]]


async def _added_page(wire: Wire, ws: str, page_size: int) -> dict[str, Any]:
    reply = await wire.get(
        f"/workspaces/{ws}/changes", params={"page": "1", "page_size": str(page_size)}
    )
    assert reply.status == 200, reply.text
    listing: dict[str, Any] = reply.json()["staged"]["added_files"]
    return listing


async def _tree(wire: Wire, revision: str, path: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    suffix = f"/{path}" if path else ""
    reply = await wire.get(f"/dir/{revision}{suffix}", params={"page_size": "10000"})
    assert reply.status == 200, reply.text
    for entry in reply.json()["entries"]:
        child = f"{path}/{entry['filename']}" if path else entry["filename"]
        if entry["is_dir"]:
            out.update(await _tree(wire, revision, child))
        else:
            out[child] = entry["hash"]
    return out


async def test_writer_processes_into_one_workspace_lose_nothing(wire: Wire) -> None:
    await wire.commit_files({"seed.txt": b"seed"})
    ws = "shared-ingest"
    reply = await wire.workspace(ws, name=ws)
    assert reply.status == 200, reply.text
    headers = wire.repo.server.auth_headers()
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(WRITERS, mp_context=context) as pool:
        staged = await asyncio.gather(
            *(
                loop.run_in_executor(pool, writer_process, wire.repo.url, headers, ws, w)
                for w in range(WRITERS)
            )
        )
    wanted = {p: hash_bytes(data) for w in range(WRITERS) for p, data in _paths(w).items()}
    # Each writer was told its files were staged...
    for w, paths in enumerate(staged):
        assert sorted(paths) == sorted(_paths(w)), f"writer {w}"
    # ...and the workspace holds every one of them.
    total, added = await _changes(wire, ws)
    assert total == len(wanted) == WRITERS * FILES_EACH
    assert sorted(added) == sorted(wanted)  # each once
    merged = await wire.merge(ws, message="one merge")
    assert merged.status == 200, merged.text
    commit = merged.json()["commit"]
    assert await wire.head() == commit["id"]
    tree = await _tree(wire, commit["id"])
    assert tree == {**wanted, "seed.txt": hash_bytes(b"seed")}
