"""Branches: list, create from a branch or a commit, show, move, delete (part 1, section 4)."""

from __future__ import annotations

import pytest

from ._wire import Wire, family_a, family_c


async def test_empty_repo_has_no_branches(wire: Wire) -> None:
    body = (await wire.get("/branches")).json()
    assert body["branches"] == [] and body["oxen_version"] == "0.65.2"


async def test_create_from_branch_and_list_sorted(wire: Wire) -> None:
    commit = await wire.commit_files({"a.txt": b"a"})
    created = await wire.call(
        "POST", "/branches", json_body={"new_name": "feature/x", "from_name": "main"}
    )
    assert created.status == 200
    assert created.json()["status_message"] == "resource_created"
    assert created.json()["branch"] == {"name": "feature/x", "commit_id": commit["id"]}
    await wire.call("POST", "/branches", json_body={"new_name": "Zeta", "from_name": "main"})
    names = [b["name"] for b in (await wire.get("/branches")).json()["branches"]]
    assert names == ["Zeta", "feature/x", "main"]  # byte order: uppercase first
    shown = (await wire.get("/branches/feature/x")).json()
    assert shown["branch"] == {"name": "feature/x", "commit_id": commit["id"]}
    # %2F is not decoded in /branches/{name}: the handler sees the literal text
    encoded = await wire.get("/branches/feature%2Fx")
    family_c(encoded, 404, "resource_not_found", "Branch does not exist")


async def test_create_existing_from_branch_returns_it_unchanged(wire: Wire) -> None:
    first = await wire.commit_files({"a.txt": b"a"})
    await wire.call("POST", "/branches", json_body={"new_name": "dev", "from_name": "main"})
    await wire.commit_files({"b.txt": b"b"}, message="second")
    again = await wire.call("POST", "/branches", json_body={"new_name": "dev", "from_name": "main"})
    assert again.status == 200
    assert again.json()["status_message"] == "resource_found"
    assert again.json()["branch"]["commit_id"] == first["id"]


async def test_create_errors(wire: Wire) -> None:
    commit = await wire.commit_files({"a.txt": b"a"})
    missing_source = await wire.call(
        "POST", "/branches", json_body={"new_name": "x", "from_name": "nope"}
    )
    family_a(missing_source, 404, "resource_not_found")
    unknown_commit = await wire.call(
        "POST", "/branches", json_body={"new_name": "x", "commit_id": "abc"}
    )
    assert (
        family_c(unknown_commit, 500, "internal_server_error")["title"]
        == "Could not find commit: abc"
    )
    exists = await wire.call(
        "POST", "/branches", json_body={"new_name": "main", "commit_id": commit["id"]}
    )
    assert family_c(exists, 500, "internal_server_error")["title"] == "Branch already exists: main"
    bad_name = await wire.call(
        "POST", "/branches", json_body={"new_name": "a..b", "from_name": "main"}
    )
    assert "not a valid branch name" in family_c(bad_name, 500, "internal_server_error")["title"]
    neither = await wire.call("POST", "/branches", json_body={"new_name": "x"})
    family_a(neither, 400, "Invalid request body")
    garbage = await wire.call("POST", "/branches", data=b"not json")
    family_a(garbage, 400, "Invalid request body")
    assert [b["name"] for b in (await wire.get("/branches")).json()["branches"]] == ["main"]


@pytest.mark.real_differs("the real server keeps the id as sent (padded, uppercase) in the branch")
async def test_create_from_commit_accepts_padded_uppercase_ids(wire: Wire) -> None:
    commit = await wire.commit_files({"a.txt": b"a"})
    padded = commit["id"].upper().rjust(32, "0")
    reply = await wire.call("POST", "/branches", json_body={"new_name": "c", "commit_id": padded})
    assert reply.json()["branch"] == {"name": "c", "commit_id": commit["id"]}


async def test_move_creates_and_moves_backwards(wire: Wire) -> None:
    first = await wire.commit_files({"a.txt": b"a"})
    second = await wire.commit_files({"b.txt": b"b"}, message="two")
    moved = await wire.call("PUT", "/branches/main", json_body={"commit_id": first["id"]})
    assert moved.status == 200
    assert moved.json()["status_message"] == "resource_updated"
    assert await wire.head("main") == first["id"]
    made = await wire.call("PUT", "/branches/new/one", json_body={"commit_id": second["id"]})
    assert made.json()["branch"] == {"name": "new/one", "commit_id": second["id"]}
    unknown = await wire.call("PUT", "/branches/main", json_body={"commit_id": "deadbeef"})
    family_c(unknown, 500, "internal_server_error")
    unparsable = await wire.call("PUT", "/branches/main", json_body={"nope": 1})
    family_c(unparsable, 400, "bad_request")
    assert await wire.head("main") == first["id"]


async def test_show_and_delete(wire: Wire) -> None:
    commit = await wire.commit_files({"a.txt": b"a"})
    family_c(await wire.get("/branches/nope"), 404, "resource_not_found", "Branch does not exist")
    await wire.call("POST", "/branches", json_body={"new_name": "dev", "from_name": "main"})
    deleted = await wire.call("DELETE", "/branches/dev")
    assert deleted.json()["status_message"] == "resource_deleted"
    assert deleted.json()["branch"] == {"name": "dev", "commit_id": commit["id"]}
    family_c(await wire.call("DELETE", "/branches/dev"), 404, "resource_not_found")
    main = await wire.call("DELETE", "/branches/main")
    assert (
        "Cannot delete current checked out branch 'main'"
        in family_c(main, 500, "internal_server_error")["title"]
    )
