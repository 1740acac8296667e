"""What changed from 0.53.4 to 0.65.2 outside the uploads: path refusals, HEAD, removed routes,
workspace fields and merging."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from oxen_async.hashing import hash_bytes

from ._wire import Wire, branch_form, family_a, family_b, family_c

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


async def test_file_routes_refuse_dotdot_and_dot_oxen(wire: Wire) -> None:
    await wire.commit_files({"d/a.txt": b"a"})
    reasons = {
        "d/../d/a.txt": ("main/d/../d/a.txt", "it has a `..` component"),
        "%2E%2E/x": ("main/../x", "it has a `..` component"),
        ".oxen/HEAD": ("main/.oxen/HEAD", "it is inside a .oxen directory"),
        "d/.Oxen": ("main/d/.Oxen", "it is inside a .oxen directory"),
    }
    for path, (shown, reason) in reasons.items():
        expected = f"Invalid resource: {shown} is outside the working tree: {reason}"
        got = await wire.get(f"/file/main/{path}")
        assert family_c(got, 400, "bad_request")["detail"] == expected
        put = await wire.call("PUT", f"/file/main/{path}", data=branch_form({"x.txt": b"x"}))
        assert family_c(put, 400, "bad_request")["detail"] == expected
        removed = await wire.call("DELETE", f"/file/main/{path}", data=branch_form({}))
        assert family_c(removed, 400, "bad_request")["detail"] == expected
    # A name that merely starts with .oxen is an ordinary path.
    family_c(await wire.get("/file/main/.oxenrc"), 404, "resource_not_found")


async def test_staging_into_dot_oxen_is_refused(wire: Wire) -> None:
    await wire.workspace("w")
    reply = await wire.stage("w", {"e.txt": b"e"}, ".oxen")
    assert family_c(reply, 400, "bad_request")["detail"] == (
        'Invalid staging path (directory ".oxen", file "e.txt"): .oxen/e.txt is outside the '
        "working tree: it is inside a .oxen directory"
    )


async def test_legacy_chunk_completion_refuses_dotdot(wire: Wire) -> None:
    await wire.workspace("w")
    data = b"chunk" * 50
    content = hash_bytes(data)
    await wire.call("PUT", f"/versions/{content}/chunks?offset=0", data=data)
    body = {
        "files": [{"hash": content, "file_name": "../x", "num_chunks": 1}],
        "workspace_id": "w",
    }
    reply = await wire.call("POST", f"/versions/{content}/complete", json_body=body)
    detail = family_c(reply, 400, "bad_request")["detail"]
    assert (
        detail
        == "Invalid destination path: ../x is outside the working tree: it has a `..` component"
    )


async def test_head_file_is_headers_only(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"hello"})
    reply = await wire.call("HEAD", "/file/main/a.txt")
    assert reply.status == 200
    assert reply.body == b""
    assert reply.headers["Content-Length"] == "5"


async def test_stage_by_hash_endpoint_is_gone(wire: Wire) -> None:
    await wire.workspace("w")
    reply = await wire.call("POST", "/workspaces/w/versions/d", json_body=[])
    family_a(reply, 404, "resource_not_found")


async def test_workspaces_carry_created_at(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    created = (await wire.workspace("w", name="named")).json()["workspace"]
    assert RFC3339.fullmatch(created["created_at"]), created
    shown = (await wire.get("/workspaces/w")).json()["workspace"]
    assert shown["created_at"] == created["created_at"]
    listed = (await wire.get("/workspaces")).json()["workspaces"]
    assert [w["created_at"] for w in listed if w["id"] == "w"] == [created["created_at"]]


async def test_named_workspace_survives_its_merge(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    await wire.workspace("keep", name="keeper")
    await wire.stage("keep", {"b.txt": b"b"})
    merged = await wire.merge("keep", message="b")
    assert merged.status == 200, merged.text
    shown = await wire.get("/workspaces/keep")
    assert shown.status == 200
    assert shown.json()["workspace"]["commit"]["id"] == merged.json()["commit"]["id"]
    assert (await wire.get("/workspaces/keep/changes")).json()["staged"]["added_files"][
        "entries"
    ] == []
    await wire.workspace("once")
    await wire.stage("once", {"c.txt": b"c"})
    assert (await wire.merge("once", message="c")).status == 200
    family_b(await wire.get("/workspaces/once"), 404)
    family_b(await wire.merge("once", message="again"), 404)


async def test_conflicts_follow_the_065_rule(wire: Wire) -> None:
    await wire.commit_files({"base.txt": b"base", "gone.txt": b"g"})
    for workspace_id in ("both-add", "same", "deleted", "mod"):
        await wire.workspace(workspace_id, name=workspace_id)
    await wire.stage("both-add", {"new.txt": b"mine"})
    await wire.stage("same", {"new.txt": b"theirs"})
    await wire.stage("deleted", {"gone.txt": b"changed"})
    await wire.stage("mod", {"base.txt": b"mine"})
    # The branch moves: adds new.txt, removes gone.txt.
    await wire.commit_files({"new.txt": b"theirs"}, message="theirs")
    removed = await wire.call("DELETE", "/file/main/gone.txt", data=branch_form({}))
    assert removed.status == 200, removed.text
    # Added on both sides with other content: a conflict now (0.53.4 let it through).
    family_c(await wire.merge("both-add"), 409, "conflict", "Workspace is behind")
    # The branch already holds what is staged: no conflict.
    assert (await wire.merge("same", message="same")).status == 200
    # Removed on the branch, modified in the workspace: a conflict.
    family_c(await wire.merge("deleted"), 409, "conflict")
    # Untouched by the branch: merges onto the new head.
    merged = await wire.merge("mod", message="mod")
    assert merged.status == 200, merged.text
    assert (await wire.download("main", "base.txt")).body == b"mine"


async def test_files_staged_while_a_merge_runs_stay_staged(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    await wire.workspace("busy", name="busy")
    await wire.stage("busy", {f"f{i}.txt": bytes([i]) * 64 for i in range(200)})
    merging = asyncio.create_task(wire.merge("busy", message="many"))
    late = await wire.stage("busy", {"late.txt": b"late"})
    merged = await merging
    assert merged.status == 200 and late.status == 200, (merged.text, late.text)
    commit = merged.json()["commit"]["id"]
    in_commit = (await wire.get(f"/file/{commit}/late.txt")).status == 200
    staged = [
        e["filename"]
        for e in (await wire.get("/workspaces/busy/changes")).json()["staged"]["added_files"][
            "entries"
        ]
    ]
    # Either the merge took it, or it waits for the next one: never lost, never both.
    assert in_commit != (staged == ["late.txt"]), (in_commit, staged)


async def test_head_on_a_refused_path_is_status_only(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    try:
        reply = await wire.call("HEAD", "/file/main/.oxen/x")
    except aiohttp.ClientError as error:
        raise AssertionError(f"HEAD on a refused path broke the connection: {error}") from None
    assert reply.status == 400 and reply.body == b""
