"""Restarting the bundled server on its data dir keeps repos, refs, commits and workspaces."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from oxen_async.testing import OxenTestServer, RepoHandle, ServerHandle

from ._wire import Wire

pytestmark = pytest.mark.fake_only


def _wire(session: aiohttp.ClientSession, url: str) -> Wire:
    server = ServerHandle(url, None, None, False, None, stop=lambda: None)
    return Wire(session, RepoHandle(server, "keep", "repo"))


async def test_restart_keeps_everything_and_no_token_means_no_auth(tmp_path: Path) -> None:
    first = OxenTestServer(tmp_path)
    url = first.start()
    try:
        async with aiohttp.ClientSession() as session:
            wire = _wire(session, url)
            await wire.call("POST", "/api/repos", json_body={"namespace": "keep", "name": "repo"})
            commit = await wire.commit_files({"a/b.txt": b"b"})
            await wire.call("POST", "/branches", json_body={"new_name": "dev", "from_name": "main"})
            await wire.workspace("named-id", name="named")
            await wire.stage("named", {"first.txt": b"1"})
            moved = (await wire.merge("named")).json()["commit"]
            await wire.stage("named", {"pending.txt": b"p"})
            await wire.call("DELETE", "/workspaces/named/files", json_body=["a/b.txt"])
    finally:
        first.stop()

    second = OxenTestServer(tmp_path)
    url = second.start()
    try:
        async with aiohttp.ClientSession() as session:
            wire = _wire(session, url)
            branches = (await wire.get("/branches")).json()["branches"]
            assert branches == [
                {"name": "dev", "commit_id": commit["id"]},
                {"name": "main", "commit_id": moved["id"]},
            ]
            shown = (await wire.get("/workspaces/named")).json()["workspace"]
            assert (shown["id"], shown["commit"]["id"]) == ("named-id", moved["id"])
            staged = (await wire.get("/workspaces/named/changes")).json()["staged"]
            assert [e["filename"] for e in staged["added_files"]["entries"]] == ["pending.txt"]
            assert [e["filename"] for e in staged["removed_files"]["entries"]] == ["a/b.txt"]
            final = (await wire.merge("named")).json()["commit"]
            names = {
                e["filename"] for e in (await wire.get(f"/dir/{final['id']}")).json()["entries"]
            }
            assert names == {"first.txt", "pending.txt"}
            assert (await wire.download("dev", "a/b.txt")).body == b"b"
    finally:
        second.stop()
