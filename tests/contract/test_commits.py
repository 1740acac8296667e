"""Commits: history with pagination, path history, ranges, show one (part 1, section 5)."""

from __future__ import annotations

import re
from datetime import datetime

from oxen_async.hashing import same_hash

from ._wire import Wire, family_a, family_c

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z")


async def test_history_of_empty_repo(wire: Wire) -> None:
    body = (await wire.get("/commits/history/main")).json()
    assert body["commits"] == []
    assert (body["total_entries"], body["total_pages"]) == (0, 1)


async def test_commit_json_shape(wire: Wire) -> None:
    commit = await wire.commit_files({"a.txt": b"a"})
    assert set(commit) == {"id", "parent_ids", "message", "author", "email", "timestamp"}
    assert re.fullmatch(r"[0-9a-f]{1,32}", commit["id"]) and not commit["id"].startswith("0")
    assert _TIMESTAMP.fullmatch(commit["timestamp"]), commit["timestamp"]
    datetime.fromisoformat(commit["timestamp"])
    shown = (await wire.get(f"/commits/{commit['id']}")).json()
    assert shown["commit"] == commit
    padded = (await wire.get(f"/commits/{commit['id'].upper().rjust(32, '0')}")).json()
    assert same_hash(padded["commit"]["id"], commit["id"])


async def test_history_pages(wire: Wire) -> None:
    made = [await wire.commit_files({f"f{i}.txt": bytes([i])}, message=f"c{i}") for i in range(5)]
    body = (await wire.get("/commits/history/main", params={"page": "1", "page_size": "2"})).json()
    # 5 merges plus the initial commit the first workspace made on the empty repo
    assert (body["total_entries"], body["total_pages"], body["page_size"]) == (6, 3, 2)
    assert [c["id"] for c in body["commits"]] == [made[4]["id"], made[3]["id"]]
    last = (await wire.get("/commits/history/main", params={"page": "3", "page_size": "2"})).json()
    assert last["commits"][-1]["parent_ids"] == []
    beyond = (
        await wire.get("/commits/history/main", params={"page": "9", "page_size": "2"})
    ).json()
    assert beyond["commits"] == []
    by_commit = (await wire.get(f"/commits/history/{made[1]['id']}")).json()
    assert by_commit["total_entries"] == 3


async def test_history_page_size_zero_is_400(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    for resource in ("main", "main/a.txt"):
        reply = await wire.get(f"/commits/history/{resource}", params={"page_size": "0"})
        assert family_c(reply, 400, "bad_request")["detail"] == "page_size must be at least 1"


async def test_history_query_errors_are_text(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    for bad in ("abc", "-1"):
        reply = await wire.get("/commits/history/main", params={"page": bad})
        assert reply.status == 400 and reply.content_type.startswith("text/plain")
        assert reply.text.startswith("Query deserialize error")


async def test_path_history(wire: Wire) -> None:
    one = await wire.commit_files({"data/a.txt": b"1"}, message="one")
    await wire.commit_files({"other.txt": b"x"}, message="two")
    three = await wire.commit_files({"data/a.txt": b"3"}, message="three")
    body = (await wire.get("/commits/history/main/data/a.txt")).json()
    assert [c["id"] for c in body["commits"]] == [three["id"], one["id"]]
    # 0.65: a path's history pages by has_more; total_pages and total_entries are gone.
    assert (body["page_number"], body["page_size"], body["has_more"]) == (1, 100, False)
    assert "total_pages" not in body and "total_entries" not in body
    first = (await wire.get("/commits/history/main/data", params={"page_size": "1"})).json()
    assert [c["id"] for c in first["commits"]] == [three["id"]] and first["has_more"] is True
    second = await wire.get("/commits/history/main/data", params={"page_size": "1", "page": "2"})
    assert [c["id"] for c in second.json()["commits"]] == [one["id"]]
    assert second.json()["has_more"] is False
    missing = await wire.get("/commits/history/main/nope.txt")
    family_c(missing, 404, "resource_not_found", "Path not in revision")


async def test_ranges_need_commit_ids(wire: Wire) -> None:
    one = await wire.commit_files({"a.txt": b"1"}, message="one")
    two = await wire.commit_files({"a.txt": b"2"}, message="two")
    three = await wire.commit_files({"a.txt": b"3"}, message="three")
    body = (await wire.get(f"/commits/history/{one['id']}..{three['id']}")).json()
    assert [c["id"] for c in body["commits"]] == [three["id"], two["id"], one["id"]]
    named = await wire.get(f"/commits/history/main..{three['id']}")
    family_c(named, 404, "resource_not_found", "Revision not found")


async def test_unknown_revision_and_commit(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    family_c(
        await wire.get("/commits/history/nope"), 404, "resource_not_found", "Path does not exist"
    )
    family_c(await wire.get("/commits/deadbeef"), 404, "resource_not_found", "Revision not found")
    family_c(await wire.get("/commits/main"), 404, "resource_not_found", "Revision not found")


async def test_commit_complete_echoes_the_commit(wire: Wire) -> None:
    # The official client's workspace commit ends with this call; it must answer.
    commit = await wire.commit_files({"a.txt": b"a"})
    body = {"branch": {"name": "main", "commit_id": commit["id"]}}
    reply = await wire.call("POST", f"/commits/{commit['id']}/complete", json_body=body)
    assert reply.status == 200
    assert reply.json()["commit"] == commit
    missing = await wire.call("POST", "/commits/abc123/complete", json_body=body)
    family_a(missing, 404, "resource_not_found")


async def test_action_hooks_answer(wire: Wire) -> None:
    for state in ("started", "completed"):
        reply = await wire.call("POST", f"/action/{state}/push_workspace")
        assert reply.status == 200
        assert reply.json() == {"action": "push_workspace", "status": "success", "state": state}
