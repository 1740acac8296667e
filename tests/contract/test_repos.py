"""Repositories: create (JSON and multipart), show, delete, list (part 1, section 3)."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp

from oxen_async.hashing import hash_bytes

from ._wire import Wire, family_a, family_b, family_c, raw_multipart


def _name() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


async def test_create_is_200_resource_found_without_oxen_version(wire: Wire) -> None:
    name = _name()
    reply = await wire.call("POST", "/api/repos", json_body={"namespace": "ns1", "name": name})
    assert reply.status == 200
    body = reply.json()
    assert body["status_message"] == "resource_found"
    assert "oxen_version" not in body
    repository = body["repository"]
    assert (repository["namespace"], repository["name"]) == ("ns1", name)
    assert repository["latest_commit"] is None
    assert repository["min_version"] == "0.36.0"
    assert repository["storage_kind"] == "local"
    # 0.65: a repo_uuid (a UUID, the same on every read); merkle_node_backend is no longer shown.
    assert str(uuid.UUID(repository["repo_uuid"])) == repository["repo_uuid"]
    assert "merkle_node_backend" not in repository
    shown = (await wire.get(f"/api/repos/ns1/{name}")).json()["repository"]
    assert shown["repo_uuid"] == repository["repo_uuid"]
    again = await wire.call("POST", "/api/repos", json_body={"namespace": "ns1", "name": name})
    family_a(again, 409, "Repo already exists.")


async def test_create_with_seed_files_commits_them(wire: Wire) -> None:
    name = _name()
    files = [
        {"path": "a.txt", "contents": "hello", "user": {"name": "Ada", "email": "a@x"}},
        {"path": "dir/b.txt", "contents": "world\n", "user": {"name": "Bob", "email": "b@x"}},
    ]
    body = {"namespace": "ns1", "name": name, "files": files}
    created = (await wire.call("POST", "/api/repos", json_body=body)).json()
    commit = created["repository"]["latest_commit"]
    assert commit["parent_ids"] == [] and commit["message"] == "Initial commit"
    assert commit["author"] == "Ada"
    listing = (await wire.get(f"/api/repos/ns1/{name}/dir/main/dir")).json()
    assert [e["filename"] for e in listing["entries"]] == ["b.txt"]
    assert listing["entries"][0]["hash"] == hash_bytes(b"world\n")


async def test_create_validation_errors(wire: Wire) -> None:
    bad_json = await wire.call(
        "POST", "/api/repos", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert family_c(bad_json, 400, "bad_request")["detail"] == "Invalid JSON"
    missing = await wire.call("POST", "/api/repos", json_body={"namespace": "ns1"})
    assert family_c(missing, 400, "bad_request")["detail"] == "Invalid JSON"
    for bad in ("a", "-ab", "has space", "ünï", "a/b"):
        reply = await wire.call("POST", "/api/repos", json_body={"namespace": "ns1", "name": bad})
        message = family_a(reply, 400)["status_message"]
        assert message == f"Invalid repository name '{bad}'. Must match [a-zA-Z0-9][a-zA-Z0-9_.-]+"
    # 0.65: namespaces must match ^[A-Za-z0-9][A-Za-z0-9_-]{1,49}$ (no dots, at most 50).
    for bad in ("a", "a.b", "-ab", "x" * 51, "ünï"):
        body = {"namespace": bad, "name": _name()}
        message = family_a(await wire.call("POST", "/api/repos", json_body=body), 400)
        assert message["status_message"] == (
            f"Invalid namespace name '{bad}'. Must match [a-zA-Z0-9][a-zA-Z0-9_-]{{1,49}}"
        )
    both_bad = {"namespace": "a.b", "name": "-x"}  # the repository name is checked first
    reply = await wire.call("POST", "/api/repos", json_body=both_bad)
    assert family_a(reply, 400)["status_message"].startswith("Invalid repository name '-x'")
    for good in ("ab", "A_b-9", "x" * 50):
        created = await wire.call(
            "POST", "/api/repos", json_body={"namespace": good, "name": _name()}
        )
        assert created.status == 200, created.text
        await wire.call("DELETE", f"/api/repos/{good}/{created.json()['repository']['name']}")
    s3 = await wire.call(
        "POST", "/api/repos", json_body={"namespace": "ns1", "name": _name(), "storage_kind": "s3"}
    )
    assert "not enabled" in family_c(s3, 400, "bad_request")["detail"]
    no_type = await wire.call("POST", "/api/repos", data=b"{}", no_content_type=True)
    assert family_c(no_type, 400, "bad_request")["detail"] == "Unsupported Content-Type"


async def test_json_with_charset_is_parsed_as_multipart(wire: Wire) -> None:
    body = json.dumps({"namespace": "ns1", "name": _name()}).encode()
    reply = await wire.call(
        "POST", "/api/repos", data=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    family_a(reply, 400, "bad_request")


async def test_create_multipart(wire: Wire) -> None:
    name = _name()
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("new_repo", json.dumps({"namespace": "ns1", "name": name}))
    form.add_field("name", "Ada")
    form.add_field("email", "ada@example.com")
    form.add_field("file", b"seed", filename="sub/seed.txt", content_type="text/plain")
    created = (await wire.call("POST", "/api/repos", data=form)).json()
    assert created["repository"]["latest_commit"]["author"] == "Ada"
    listing = (await wire.get(f"/api/repos/ns1/{name}/dir/main")).json()
    assert [e["filename"] for e in listing["entries"]] == ["subseed.txt"]  # '/' sanitised away

    missing, content_type = raw_multipart([('Content-Disposition: form-data; name="x"', b"1")])
    reply = await wire.call(
        "POST", "/api/repos", data=missing, headers={"Content-Type": content_type}
    )
    family_a(reply, 400, "Missing new_repo field")


async def test_show_empty_and_populated(wire: Wire) -> None:
    empty = (await wire.get("")).json()["repository"]
    assert empty["is_empty"] is True and empty["branch_count"] == 0
    assert empty["size"] == 0 and empty["data_types"] == []
    assert "default_resource" not in empty
    commit = await wire.commit_files({"a.txt": b"abc", "b.bin": b"\x00\xff"})
    shown = (await wire.get("")).json()
    assert "oxen_version" not in shown
    repo = shown["repository"]
    assert repo["is_empty"] is False and repo["branch_count"] == 1
    assert repo["size"] == 5
    assert sorted((t["data_type"], t["count"]) for t in repo["data_types"]) == [
        ("binary", 1),
        ("text", 1),
    ]
    assert repo["default_resource"]["commit"]["id"] == commit["id"]
    assert repo["default_resource"]["branch"] == {"name": "main", "commit_id": commit["id"]}


async def test_unknown_repo_and_bad_segments(wire: Wire) -> None:
    family_b(
        await wire.get("/api/repos/ns1/nope-nope"), 404, "Repository 'ns1/nope-nope' not found"
    )
    family_b(await wire.get("/api/repos/ns1/nope-nope/branches"), 404)
    family_b(await wire.get("/api/repos/ns1/../branches"), 400)
    family_a(await wire.call("DELETE", "/api/repos/ns1/nope-nope"), 404, "resource_not_found")


async def test_delete_then_gone(wire: Wire) -> None:
    name = _name()
    await wire.call("POST", "/api/repos", json_body={"namespace": "ns2", "name": name})
    deleted = await wire.call("DELETE", f"/api/repos/ns2/{name}")
    assert deleted.status == 200
    assert deleted.json()["status_message"] == "resource_deleted"
    # The real server deletes in the background: the repository goes away soon, not at once.
    for _ in range(100):
        gone = await wire.get(f"/api/repos/ns2/{name}")
        if gone.status == 404:
            break
        await asyncio.sleep(0.1)
    family_b(gone, 404)


async def test_list_namespace(wire: Wire) -> None:
    names = sorted(_name() for _ in range(3))
    namespace = f"ns-{uuid.uuid4().hex[:6]}"
    for name in names:
        await wire.call("POST", "/api/repos", json_body={"namespace": namespace, "name": name})
    body = (await wire.get(f"/api/repos/{namespace}")).json()
    assert sorted(r["name"] for r in body["repositories"]) == names
    assert all(
        r == {"namespace": namespace, "name": r["name"], "min_version": "0.36.0"}
        for r in body["repositories"]
    )
    empty = (await wire.get("/api/repos/never-used-namespace")).json()
    assert empty["repositories"] == []
