"""``/file``: download (GET/HEAD), branch upload (PUT), remove (DELETE) (part 1, section 7)."""

from __future__ import annotations

import aiohttp
import pytest

from oxen_async.hashing import hash_bytes

from ._wire import Wire, branch_form, family_c, family_d, raw_multipart


async def test_download_headers_and_head(wire: Wire) -> None:
    commit = await wire.commit_files({"d/a.txt": b"hello", "d/b.bin": b"\x00\x01\xff"})
    reply = await wire.download("main", "d/a.txt")
    assert reply.status == 200 and reply.body == b"hello"
    assert reply.headers["Content-Type"] == "text/plain"
    assert reply.headers["Content-Length"] == "5"
    assert reply.headers["oxen-revision-id"] == commit["id"]
    assert reply.headers["Access-Control-Expose-Headers"] == "content-length"
    binary = await wire.download("main", "d/b.bin")
    assert binary.headers["Content-Type"] == "application/octet-stream"
    head = await wire.call("HEAD", "/file/main/d/a.txt")
    assert head.status == 200 and head.body == b"" and head.headers["Content-Length"] == "5"
    ranged = await wire.get("/file/main/d/a.txt", headers={"Range": "bytes=0-1"})
    assert ranged.status == 200 and ranged.body == b"hello"  # no Range support


async def test_download_errors(wire: Wire) -> None:
    await wire.commit_files({"d/a.txt": b"hello"})
    family_c(await wire.get("/file/main/d"), 404, "resource_not_found", "Path does not exist")
    family_c(await wire.get("/file/main"), 404, "resource_not_found", "Path does not exist")
    family_c(await wire.get("/file/main/nope"), 404, "resource_not_found", "Path does not exist")
    family_c(await wire.get("/file/nope/a"), 404, "resource_not_found", "Path does not exist")


async def test_first_upload_on_empty_repo_creates_branch(wire: Wire) -> None:
    reply = await wire.call(
        "PUT", "/file/main/docs", data=branch_form({"a.txt": b"A", "b.txt": b"B"})
    )
    assert reply.status == 200, reply.text
    commit = reply.json()["commit"]
    assert commit["parent_ids"] == [] and commit["message"] == "Initial commit"
    assert reply.json()["status_message"] == "resource_created"
    assert await wire.head("main") == commit["id"]
    assert (await wire.download("main", "docs/b.txt")).body == b"B"


@pytest.mark.real_differs(
    "after a first commit through PUT /file the real server treats the repo as non-empty: "
    "a second PUT to that branch is an ordinary upload (200), not the first-commit path"
)
async def test_first_upload_takes_first_component_as_branch(wire: Wire) -> None:
    form = branch_form({"x.txt": b"x"}, field="file")
    reply = await wire.call("PUT", "/file/dev/some/x.txt", data=form)
    assert reply.status == 200, reply.text
    assert [b["name"] for b in (await wire.get("/branches")).json()["branches"]] == ["dev"]
    assert (await wire.download("dev", "some/x.txt")).body == b"x"
    # HEAD (main) still has no commit, so a second upload takes the same path again
    again = await wire.call(
        "PUT", "/file/dev/y.txt", data=branch_form({"y.txt": b"y"}, field="file")
    )
    assert family_c(again, 500, "internal_server_error")["title"] == "Branch already exists: dev"


async def test_first_upload_file_mode_needs_a_path(wire: Wire) -> None:
    reply = await wire.call("PUT", "/file/main", data=branch_form({"x.txt": b"x"}, field="file"))
    assert "full file path" in family_c(reply, 400, "bad_request")["detail"]


async def test_upload_to_existing_branch_modes(wire: Wire) -> None:
    first = await wire.commit_files({"d/old.txt": b"old"})
    into_dir = await wire.call(
        "PUT", "/file/main/d", data=branch_form({"sub/new.txt": b"n"}, field="file", message="m1")
    )
    assert into_dir.status == 200, into_dir.text
    commit = into_dir.json()["commit"]
    assert commit["parent_ids"] == [first["id"]] and commit["message"] == "m1"
    assert (await wire.download("main", "d/subnew.txt")).body == b"n"  # '/' sanitised away
    exact = await wire.call(
        "PUT", "/file/main/d/renamed.txt", data=branch_form({"ignored": b"r"}, field="file")
    )
    assert exact.json()["commit"]["message"] == "Auto-commit files to d/renamed.txt"
    assert (await wire.download("main", "d/renamed.txt")).body == b"r"
    many = await wire.call(
        "PUT", "/file/main/new/dir", data=branch_form({"1.txt": b"1", "2.txt": b"2"})
    )
    assert many.status == 200
    assert (await wire.download("main", "new/dir/2.txt")).body == b"2"


async def test_upload_traversal_is_refused(wire: Wire) -> None:
    await wire.commit_files({"d/a.txt": b"a"})
    traversal = await wire.call("PUT", "/file/main/d/%2E%2E/x", data=branch_form({"x": b"x"}))
    family_c(traversal, 400, "bad_request")


async def test_upload_errors(wire: Wire) -> None:
    await wire.commit_files({"d/a.txt": b"a"})
    head = await wire.head()
    no_name = await wire.call("PUT", "/file/main/d", data=branch_form({"x": b"x"}, name=None))
    assert family_c(no_name, 400, "bad_request")["detail"] == "Name is required"
    no_email = await wire.call("PUT", "/file/main/d", data=branch_form({"x": b"x"}, email=None))
    assert family_c(no_email, 400, "bad_request")["detail"] == "Email is required"
    neither = await wire.call("PUT", "/file/main/d", data=branch_form({}))
    assert "Missing file data" in family_c(neither, 400, "bad_request")["detail"]
    both = branch_form({"x": b"x"})
    both.add_field("file", b"y", filename="y")
    assert (
        "Ambiguous"
        in family_c(await wire.call("PUT", "/file/main/d", data=both), 400, "bad_request")["detail"]
    )
    onto_file = await wire.call("PUT", "/file/main/d/a.txt", data=branch_form({"x": b"x"}))
    assert "must be a directory" in family_c(onto_file, 400, "bad_request")["detail"]
    under_file = await wire.call(
        "PUT", "/file/main/d/a.txt/deeper.txt", data=branch_form({"x": b"x"}, field="file")
    )
    assert "must be a directory" in family_c(under_file, 400, "bad_request")["detail"]
    commit_id = await wire.call("PUT", f"/file/{head}/d", data=branch_form({"x": b"x"}))
    family_c(commit_id, 404, "resource_not_found", "Branch does not exist")
    unknown = await wire.call("PUT", "/file/nope/d", data=branch_form({"x": b"x"}))
    family_c(unknown, 404, "resource_not_found", "Path does not exist")
    same = await wire.call("PUT", "/file/main/d", data=branch_form({"a.txt": b"a"}))
    family_c(same, 422, "no_changes")
    assert await wire.head() == head


async def test_upload_form_extractor_errors_are_text(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    family_d(
        await wire.call("PUT", "/file/main", data=b"x", headers={"Content-Type": "text/plain"}), 415
    )
    missing = await wire.call("PUT", "/file/main", data=b"", no_content_type=True)
    family_d(missing, 400, "Content-Type")
    body, content_type = raw_multipart([('Content-Disposition: form-data; name="name"', b"Ada")])
    truncated = body[: len(body) // 2]
    family_d(
        await wire.call(
            "PUT", "/file/main", data=truncated, headers={"Content-Type": content_type}
        ),
        400,
    )


async def test_upload_body_cap_is_about_two_mib(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    head = await wire.head()
    big = branch_form({"big.bin": b"\x01" * (2 * 1024 * 1024 + 10)})
    try:
        reply = await wire.call("PUT", "/file/main", data=big)
    except aiohttp.ClientError:
        reply = None  # the real server may reset the connection instead of answering
    if reply is not None:
        family_d(reply, 400, "Payload error")
    assert await wire.head() == head
    fits = await wire.call(
        "PUT", "/file/main", data=branch_form({"ok.bin": b"\x02" * (1024 * 1024)})
    )
    assert fits.status == 200


async def test_upload_stores_content_hash(wire: Wire) -> None:
    await wire.commit_files({"a.txt": b"a"})
    await wire.call("PUT", "/file/main", data=branch_form({"b.txt": b"bee"}))
    entry = (await wire.get("/meta/main/b.txt")).json()["entry"]
    assert entry["hash"] == hash_bytes(b"bee")


async def test_delete_file_and_directory(wire: Wire) -> None:
    files = {"d/a.txt": b"a", "d/c.txt": b"c", "d/e/b.txt": b"b", "keep.txt": b"k"}
    await wire.commit_files(files)
    # 0.65.2 takes a form without any part (0.53.4 refused it): the default message, no author.
    empty_form = aiohttp.FormData(default_to_multipart=True)
    emptied = await wire.call("DELETE", "/file/main/d/c.txt", data=empty_form)
    assert emptied.status == 200, emptied.text
    commit = emptied.json()["commit"]
    assert (commit["message"], commit["author"], commit["email"]) == ("Remove d/c.txt", "", "")
    only_message = aiohttp.FormData(default_to_multipart=True)
    only_message.add_field("message", "bye a")
    removed = await wire.call("DELETE", "/file/main/d/a.txt", data=only_message)
    assert removed.status == 200, removed.text
    assert removed.json()["commit"]["message"] == "bye a"
    assert removed.json()["status_message"] == "resource_deleted"
    whole = await wire.call("DELETE", "/file/main/d", data=branch_form({}))
    assert whole.status == 200
    names = [e["filename"] for e in (await wire.get("/dir/main")).json()["entries"]]
    assert names == ["keep.txt"]
    family_c(await wire.call("DELETE", "/file/main/nope", data=branch_form({})), 422, "no_changes")
    urlencoded = await wire.call("DELETE", "/file/main/keep.txt", data={"name": "x"})
    family_d(urlencoded, 415)
