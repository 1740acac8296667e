"""Workspaces: get-or-create, show/list/delete, staging, changes, merge (part 2, section 4)."""

from __future__ import annotations

import gzip
import uuid

import aiohttp
import pytest

from oxen_async.hashing import hash_bytes

from ._wire import Wire, family_a, family_b, family_c, files_form, raw_multipart


def _id() -> str:
    return str(uuid.uuid4())


async def test_get_or_create_on_empty_repo_makes_initial_commit(wire: Wire) -> None:
    reply = await wire.workspace("w1")
    assert reply.status == 200
    body = reply.json()
    assert body["status_message"] == "resource_created"
    workspace = body["workspace"]
    assert (workspace["id"], workspace["name"]) == ("w1", None)
    assert workspace["commit"]["message"] == "Initialized Repo 🐂"
    assert workspace["commit"]["author"] == "Oxen" and workspace["commit"]["parent_ids"] == []
    assert await wire.head("main") == workspace["commit"]["id"]
    again = await wire.workspace("w1")
    assert again.json()["status_message"] == "resource_found"


async def test_found_by_name_echoes_the_requested_id(wire: Wire) -> None:
    await wire.workspace("stored-id", name="shared")
    found = (await wire.workspace("another-id", name="shared")).json()
    assert found["status_message"] == "resource_found"
    assert found["workspace"]["id"] == "another-id"  # the trap: not the stored id
    family_b(await wire.get("/workspaces/another-id"), 404, "Workspace not found: another-id")
    by_name = (await wire.get("/workspaces/shared")).json()
    assert by_name["workspace"]["id"] == "stored-id"
    listed = (await wire.get("/workspaces", params={"name": "shared"})).json()
    assert listed["status_message"] == "resource_created"
    assert [w["id"] for w in listed["workspaces"]] == ["stored-id"]
    assert (await wire.get("/workspaces", params={"name": "zzz"})).json()["workspaces"] == []


async def test_aliases_and_errors(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    post = await wire.call(
        "POST", "/workspaces", json_body={"workspace_id": "p", "branch_name": "main"}
    )
    assert post.status == 200
    missing_branch = await wire.workspace("x", "nope")
    assert family_a(missing_branch, 400)["status_message"].startswith("Branch not found: nope.")
    missing_field = await wire.call("PUT", "/workspaces", json_body={"workspace_id": "x"})
    assert "branch_name" in family_a(missing_field, 400)["status_message"]
    family_b(await wire.get("/workspaces/nope"), 404, "Workspace not found: nope")


@pytest.mark.fake_only  # our addition: the real server routes only PUT /workspaces
async def test_documented_get_or_create_alias(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    alias = await wire.call(
        "PUT", "/workspaces/get_or_create", json_body={"workspace_id": "g", "branch_name": "main"}
    )
    assert alias.status == 200 and alias.json()["workspace"]["id"] == "g"


async def test_delete_echoes_path_id(wire: Wire) -> None:
    await wire.workspace("dw", name="named")
    deleted = await wire.call("DELETE", "/workspaces/named")
    assert deleted.status == 200
    assert deleted.json()["status_message"] == "resource_created"
    assert deleted.json()["workspace"]["id"] == "named"
    family_b(await wire.get("/workspaces/dw"), 404)
    family_b(await wire.call("DELETE", "/workspaces/dw"), 404)


async def test_stage_gzip_and_raw_parts_with_normalised_paths(wire: Wire) -> None:
    await wire.workspace("w")
    form = files_form({"./a//b.txt": b"gz"})
    form.add_field("file", b"raw", filename="c.txt", content_type="application/octet-stream")
    form.add_field("other", b"ignored", filename="ignored.txt")
    reply = await wire.call("POST", "/workspaces/w/files/data/./sub", data=form)
    assert reply.status == 200, reply.text
    assert reply.json()["paths"] == ["data/sub/a/b.txt", "data/sub/c.txt"]
    assert reply.json()["status_message"] == "resource_created"
    root = await wire.stage("w", {"top.txt": b"t"})  # trailing slash = repo root
    assert root.json()["paths"] == ["top.txt"]
    family_a(await wire.call("POST", "/workspaces/w/files", data=files_form({"x": b"x"})), 404)
    merged = await wire.merge("w")
    assert merged.status == 200
    assert (await wire.download("main", "data/sub/a/b.txt")).body == b"gz"
    assert (await wire.download("main", "data/sub/c.txt")).body == b"raw"


async def test_traversal_rejects_the_whole_batch(wire: Wire) -> None:
    await wire.workspace("w")
    cases = [("data", "../x.txt"), ("data", "/abs.txt"), ("", "a/../../x.txt"), ("", "./")]
    for directory, bad in cases:
        reply = await wire.stage("w", {"fine.txt": b"f", bad: b"b"}, directory)
        detail = family_c(reply, 400, "bad_request", "Bad Request")["detail"]
        assert detail.startswith("Invalid staging path"), detail
    changes = (await wire.get("/workspaces/w/changes")).json()["staged"]
    assert changes["added_files"]["entries"] == []
    family_a(await wire.merge("w"), 422, "NoChanges")


async def test_missing_filename_and_malformed_multipart(wire: Wire) -> None:
    await wire.workspace("w")
    body, content_type = raw_multipart([('Content-Disposition: form-data; name="file[]"', b"x")])
    reply = await wire.call(
        "POST", "/workspaces/w/files/", data=body, headers={"Content-Type": content_type}
    )
    # 0.65.2 names the filename (0.53.4 said "Missing hash"); POST /versions still says hash.
    assert family_c(reply, 400, "bad_request")["detail"] == "Missing filename in multipart request"
    truncated = await wire.call(
        "POST", "/workspaces/w/files/", data=body[:20], headers={"Content-Type": content_type}
    )
    family_c(truncated, 400, "bad_request")
    family_b(await wire.stage("nope", {"a": b"a"}), 404, "Workspace not found: nope")


async def test_failures_are_silently_missing_from_paths(wire: Wire) -> None:
    await wire.workspace("w")
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(
        "file[]", b"not gzip at all", filename="corrupt.txt", content_type="application/gzip"
    )
    big = gzip.compress(b"\0" * (10 * 1024 * 1024 + 1))
    form.add_field("file[]", big, filename="too-big.bin", content_type="application/gzip")
    exact = gzip.compress(b"\0" * (10 * 1024 * 1024))
    form.add_field("file[]", exact, filename="at-cap.bin", content_type="application/gzip")
    xgzip = gzip.compress(b"payload")
    form.add_field("file[]", xgzip, filename="x-gzip.txt", content_type="application/x-gzip")
    form.add_field(
        "file[]", gzip.compress(b"ok"), filename="ok.txt", content_type="application/gzip; q=1"
    )
    reply = await wire.call("POST", "/workspaces/w/files/", data=form)
    assert reply.json()["paths"] == ["at-cap.bin", "x-gzip.txt", "ok.txt"]
    await wire.merge("w")
    stored = (await wire.download("main", "x-gzip.txt")).body
    assert stored == xgzip  # only exactly application/gzip is inflated
    assert (await wire.download("main", "ok.txt")).body == b"ok"


async def test_unchanged_content_is_listed_but_not_staged(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"same"})
    await wire.workspace("w")
    reply = await wire.stage("w", {"a.txt": b"same"})
    assert reply.json()["paths"] == ["a.txt"]
    family_a(await wire.merge("w"), 422, "NoChanges")
    assert (await wire.get("/workspaces/w")).status == 200  # kept after a failed merge


async def test_changes_and_unstaging(wire: Wire) -> None:
    await wire.commit_files({"old.txt": b"o", "gone.txt": b"g", "d/x.txt": b"x", "d/y.txt": b"y"})
    await wire.workspace("w")
    await wire.stage("w", {"old.txt": b"modified", "new/a.txt": b"a", "new/b.txt": b"b"})
    removed = await wire.call("DELETE", "/workspaces/w/files", json_body=["gone.txt", "d"])
    assert removed.json()["status_message"] == "resource_deleted"
    partial = await wire.call("DELETE", "/workspaces/w/files", json_body=["nope.txt"])
    assert partial.status == 206 and partial.json()["paths"] == ["nope.txt"]
    not_json = await wire.call(
        "DELETE", "/workspaces/w/files", data=b'["a"]', headers={"Content-Type": "text/plain"}
    )
    assert not_json.status == 400 and not_json.content_type.startswith("text/plain")
    staged = (await wire.get("/workspaces/w/changes")).json()["staged"]
    # Order is the server's business (the real one lists b before a).
    assert sorted(e["filename"] for e in staged["added_files"]["entries"]) == [
        "new/a.txt",
        "new/b.txt",
    ]
    assert [e["filename"] for e in staged["modified_files"]["entries"]] == ["old.txt"]
    assert sorted(e["filename"] for e in staged["removed_files"]["entries"]) == [
        "d/x.txt",
        "d/y.txt",
        "gone.txt",
    ]
    assert staged["added_files"]["entries"][0]["hash"] == ""
    pages = [
        (await wire.get("/workspaces/w/changes", params={"page_size": "1", "page": n})).json()
        for n in ("1", "2")
    ]
    for page in pages:  # one per page; the real server's order is not even stable across calls
        entries = page["staged"]["added_files"]["entries"]
        assert len(entries) == 1 and entries[0]["filename"] in {"new/a.txt", "new/b.txt"}
        assert page["staged"]["added_files"]["total_pages"] == 2
    assert (await wire.get("/workspaces/w/changes", params={"page_size": "0"})).status == 400
    sub = (await wire.get("/workspaces/w/changes/new")).json()["staged"]
    assert sub["modified_files"]["total_entries"] == 0 and sub["added_files"]["total_entries"] == 2
    unstaged = await wire.call(
        "DELETE", "/workspaces/w/changes", json_body=["new/a.txt", "not-staged"]
    )
    assert unstaged.json()["status_message"] == "resource_deleted"
    assert (await wire.call("DELETE", "/workspaces/w/changes/gone.txt")).status == 200
    family_a(await wire.call("DELETE", "/workspaces/w/changes/gone.txt"), 404, "resource_not_found")
    commit = (await wire.merge("w")).json()["commit"]
    names = {e["filename"] for e in (await wire.get(f"/dir/{commit['id']}")).json()["entries"]}
    assert names == {"old.txt", "gone.txt", "new"}
    assert (await wire.download("main", "old.txt")).body == b"modified"


async def test_unnamed_workspace_is_deleted_after_merge_named_moves(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    await wire.workspace("anon")
    await wire.stage("anon", {"b.txt": b"b"})
    first = (await wire.merge("anon")).json()["commit"]
    family_b(await wire.get("/workspaces/anon"), 404)
    family_b(await wire.merge("anon"), 404)
    await wire.workspace("nid", name="keeper")
    await wire.stage("keeper", {"c.txt": b"c"})
    second = (await wire.merge("keeper")).json()["commit"]
    assert second["parent_ids"] == [first["id"]]
    kept = (await wire.get("/workspaces/keeper")).json()["workspace"]
    assert kept["commit"]["id"] == second["id"]
    family_a(await wire.merge("keeper"), 422, "NoChanges")


async def test_merge_rebases_or_conflicts(wire: Wire) -> None:
    await wire.commit_files({"shared.txt": b"v1", "other.txt": b"o"})
    await wire.workspace("late", name="late")
    await wire.stage("late", {"mine.txt": b"m", "shared.txt": b"late edit"})
    moved = await wire.commit_files({"shared.txt": b"v2"}, message="moved on")
    check = (await wire.get("/workspaces/late/merge/main")).json()
    assert check["is_mergeable"] is False and check["conflicts"] == [{"path": "shared.txt"}]
    assert check["commits"][0]["id"] == moved["id"]
    conflict = await wire.merge("late")
    error = family_c(conflict, 409, "conflict", "Workspace is behind")
    assert "is behind on branch 'main'" in error["detail"]
    assert (await wire.get("/workspaces/late")).status == 200
    await wire.call("DELETE", "/workspaces/late/changes/shared.txt")
    rebased = (await wire.merge("late")).json()["commit"]
    assert rebased["parent_ids"] == [moved["id"]]
    assert (await wire.download("main", "shared.txt")).body == b"v2"
    assert (await wire.download("main", "mine.txt")).body == b"m"


async def test_merge_errors_and_deprecated_route(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    await wire.workspace("w")
    await wire.stage("w", {"b.txt": b"b"})
    missing_field = await wire.call(
        "POST", "/workspaces/w/merge/main", json_body={"message": "m", "author": "a"}
    )
    assert "email" in family_a(missing_field, 400)["status_message"]
    no_branch = await wire.merge("w", "nope")
    family_b(no_branch, 404, "nope")
    assert family_b(no_branch, 404)["status_message"] == "resource_not_found"
    family_c(await wire.get("/workspaces/w/merge/nope"), 404, "resource_not_found")
    body = {"message": "old route", "author": "a", "email": "e"}
    via_commit = await wire.call("POST", "/workspaces/w/commit/main", json_body=body)
    assert via_commit.status == 200 and via_commit.json()["commit"]["message"] == "old route"


@pytest.mark.real_differs(
    "listing a workspace id on the real server shows the base commit's hash for a modified file"
)
async def test_workspace_as_revision_and_file_get(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a", "b.txt": b"b"})
    await wire.workspace("w")
    await wire.stage("w", {"a.txt": b"changed", "c.txt": b"c"})
    listing = (await wire.get("/dir/w")).json()
    assert listing["resource"]["version"] == "w"
    entries = {e["filename"]: e for e in listing["entries"]}
    assert set(entries) == {"a.txt", "b.txt", "c.txt"}
    assert entries["a.txt"]["hash"] == hash_bytes(b"changed")
    assert (await wire.download("w", "a.txt")).body == b"changed"
    assert (await wire.get("/workspaces/w/files/b.txt")).body == b"b"
    assert (await wire.get("/workspaces/w/files/c.txt")).body == b"c"
    assert (await wire.download("main", "a.txt")).body == b"a"
    assert (await wire.call("POST", "/workspaces/w/validate", json_body={"size": 1})).status == 200
    family_a(await wire.get("/commits/history/w"), 404, "resource_not_found")


async def test_backslash_and_quote_in_filenames(wire: Wire) -> None:
    await wire.workspace("w")
    reply = await wire.stage("w", {'q"uote\\back.txt': b"x"})
    assert reply.json()["paths"] == ['q"uote\\back.txt']
    quoted = aiohttp.FormData()  # aiohttp's default percent-encodes filenames
    quoted.add_field("file[]", b"y", filename="a b/c.txt", content_type="application/octet-stream")
    literal = await wire.call("POST", "/workspaces/w/files/", data=quoted)
    assert literal.json()["paths"] == ["a%20b%2Fc.txt"]
