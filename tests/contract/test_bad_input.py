"""Oversized and malformed bodies, unknown names: the real statuses, nothing stored."""

from __future__ import annotations

import json

from ._wire import Wire, family_a, family_b, family_c, family_d


async def test_oversized_string_bodies_are_413_text(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    padding = "x" * (256 * 1024)
    workspace = json.dumps({"workspace_id": "big", "branch_name": "main", "pad": padding})
    family_d(await wire.call("PUT", "/workspaces", data=workspace.encode()), 413)
    family_b(await wire.get("/workspaces/big"), 404)
    branch = json.dumps({"new_name": "big", "from_name": "main", "pad": padding})
    family_d(await wire.call("POST", "/branches", data=branch.encode()), 413)
    family_c(await wire.get("/branches/big"), 404, "resource_not_found")


async def test_oversized_json_array_is_413_text(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    await wire.workspace("w")
    paths = ["a.txt"] + ["p" * 1000] * 2200
    family_d(await wire.call("DELETE", "/workspaces/w/files", json_body=paths), 413)
    staged = (await wire.get("/workspaces/w/changes")).json()["staged"]
    assert staged["removed_files"]["total_entries"] == 0


async def test_invalid_json_bodies(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    family_a(await wire.call("PUT", "/workspaces", data=b"{"), 400)
    await wire.workspace("w")
    await wire.stage("w", {"b.txt": b"b"})
    family_a(await wire.call("POST", "/workspaces/w/merge/main", data=b"[1,2"), 400)
    bad_array = await wire.call(
        "DELETE", "/workspaces/w/changes", data=b"{", headers={"Content-Type": "application/json"}
    )
    family_d(bad_array, 400, "Json deserialize error")
    assert (await wire.get("/workspaces/w/changes")).json()["staged"]["added_files"][
        "total_entries"
    ] == 1


async def test_unknown_names_everywhere(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    family_b(await wire.get("/workspaces/nope/changes"), 404, "Workspace not found: nope")
    family_b(await wire.call("DELETE", "/workspaces/nope/files", json_body=["a.txt"]), 404)
    family_b(await wire.merge("nope"), 404)
    family_c(await wire.get("/commits/abcdef0123"), 404, "resource_not_found")
    family_c(await wire.get("/dir/abcdef0123"), 404, "resource_not_found", "Path does not exist")
    family_b(await wire.get("/api/repos/nobody/nothing/dir/main"), 404)
    family_b(await wire.get("/api/repos/nobody/nothing/workspaces"), 404)
    family_a(await wire.get("/versions/abcdef0123/metadata"), 404, "resource_not_found")


async def test_merge_after_failed_batch_commits_nothing_new(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    head = await wire.head()
    await wire.workspace("w")
    rejected = await wire.stage("w", {"ok.txt": b"ok", "../escape.txt": b"e"})
    family_c(rejected, 400, "bad_request")
    family_a(await wire.merge("w"), 422, "NoChanges")
    assert await wire.head() == head
