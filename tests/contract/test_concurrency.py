"""Concurrent writers: nothing lost, no commit lost when merges race on one branch."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from oxen_async.hashing import hash_bytes

from ._wire import Wire, branch_form


def _content(client: int, index: int) -> bytes:
    return f"client {client} file {index}\n".encode() * (1 + index % 7)


async def _all_files(wire: Wire, path: str = "") -> dict[str, str]:
    """path -> hash of every file on main, walking the listing."""
    out: dict[str, str] = {}
    suffix = f"/{path}" if path else ""
    listing = (await wire.get(f"/dir/main{suffix}", params={"page_size": "10000"})).json()
    for entry in listing["entries"]:
        child = f"{path}/{entry['filename']}" if path else entry["filename"]
        if entry["is_dir"]:
            out.update(await _all_files(wire, child))
        else:
            out[child] = entry["hash"]
    return out


@pytest.mark.fake_only  # their merges race on the real server (no branch lock): commits are lost
async def test_many_clients_uploading_at_once_lose_nothing(wire: Wire) -> None:
    clients, batches, per_batch = 6, 4, 30
    await wire.commit_files({"seed.txt": b"seed"})

    async def client(number: int) -> str:
        async with aiohttp.ClientSession(headers=wire.repo.server.auth_headers()) as session:
            mine = Wire(session, wire.repo)
            workspace = f"client-{number}"
            assert (await mine.workspace(workspace)).status == 200

            async def batch(b: int) -> list[str]:
                files = {
                    f"c{number}/b{b}/f{i}.txt": _content(number, b * per_batch + i)
                    for i in range(per_batch)
                }
                reply = await mine.stage(workspace, files)
                assert reply.status == 200, reply.text
                paths: list[str] = reply.json()["paths"]
                return paths

            staged = await asyncio.gather(*(batch(b) for b in range(batches)))
            assert sum(len(p) for p in staged) == batches * per_batch
            merged = await mine.merge(workspace, message=f"client {number}")
            assert merged.status == 200, merged.text
            commit_id: str = merged.json()["commit"]["id"]
            return commit_id

    commit_ids = await asyncio.gather(*(client(n) for n in range(clients)))
    files = await _all_files(wire)
    assert len(files) == clients * batches * per_batch + 1
    for n in range(clients):
        for b in range(batches):
            for i in range(per_batch):
                assert files[f"c{n}/b{b}/f{i}.txt"] == hash_bytes(_content(n, b * per_batch + i))
    history = (await wire.get("/commits/history/main", params={"page_size": "100"})).json()
    assert set(commit_ids) <= {c["id"] for c in history["commits"]}
    parents = [c["parent_ids"] for c in history["commits"]]
    assert all(len(p) <= 1 for p in parents)  # a straight line: every merge built on the last


@pytest.mark.fake_only  # the real server has no branch lock and can lose one (documented)
async def test_two_merges_into_one_branch_at_the_same_moment(wire: Wire) -> None:
    base = await wire.commit_files({"base.txt": b"base"})
    for name in ("left", "right"):
        await wire.workspace(name)
        await wire.stage(name, {f"{name}.txt": name.encode()})
    left, right = await asyncio.gather(wire.merge("left"), wire.merge("right"))
    assert left.status == right.status == 200
    commits = {c["id"]: c for c in (left.json()["commit"], right.json()["commit"])}
    head = await wire.head()
    assert head in commits
    other = next(c for c in commits.values() if c["id"] != head)
    assert commits[head]["parent_ids"] == [other["id"]]
    assert other["parent_ids"] == [base["id"]]
    files = await _all_files(wire)
    assert set(files) == {"base.txt", "left.txt", "right.txt"}


async def test_concurrent_batches_into_one_workspace(wire: Wire) -> None:
    await wire.workspace("shared")
    replies = await asyncio.gather(
        *(
            wire.stage("shared", {f"b{b}/f{i}.txt": _content(b, i) for i in range(20)})
            for b in range(8)
        )
    )
    assert all(r.status == 200 for r in replies)
    assert (await wire.merge("shared")).status == 200
    assert len(await _all_files(wire)) == 160


@pytest.mark.fake_only  # PUT /file on the real server races the same way
async def test_concurrent_branch_uploads_all_land(wire: Wire) -> None:
    await wire.commit_files({"seed.txt": b"s"})
    replies = await asyncio.gather(
        *(
            wire.call("PUT", f"/file/main/u{i}", data=branch_form({"x.txt": bytes([i])}))
            for i in range(6)
        )
    )
    assert all(r.status == 200 for r in replies), [r.text for r in replies]
    files = await _all_files(wire)
    assert {f"u{i}/x.txt" for i in range(6)} <= set(files)
