"""``/versions``: batch upload, metadata, chunked upload, batch download (part 2, 2-3)."""

from __future__ import annotations

import gzip
import io
import tarfile

import aiohttp

from oxen_async.hashing import hash_bytes

from ._wire import Wire, family_a, family_c, raw_multipart


def _form(parts: list[tuple[str, bytes, str]]) -> aiohttp.FormData:
    """(filename, payload, content type) parts named ``file[]``."""
    form = aiohttp.FormData(quote_fields=False)
    for filename, payload, content_type in parts:
        form.add_field("file[]", payload, filename=filename, content_type=content_type)
    return form


async def test_batch_upload_verifies_hashes(wire: Wire) -> None:
    good, raw, wrong = b"good", b"raw bytes", b"wrong"
    form = _form(
        [
            (hash_bytes(good), gzip.compress(good), "application/gzip"),
            (hash_bytes(raw), raw, "application/octet-stream"),
            (hash_bytes(b"something else"), wrong, "application/octet-stream"),
            ("not-hex!", b"x", "application/octet-stream"),
        ]
    )
    reply = await wire.call("POST", "/versions", data=form)
    assert reply.status == 200
    body = reply.json()
    assert body["status_message"] == "resource_created"
    errors = {e["hash"]: e for e in body["err_files"]}
    assert set(errors) == {hash_bytes(b"something else"), "not-hex!"}
    mismatch = errors[hash_bytes(b"something else")]
    assert mismatch["path"] is None
    assert mismatch["error"].startswith("Failed to store version: Hash mismatch writing")
    assert f"got {hash_bytes(wrong)}" in mismatch["error"]
    for content in (good, raw):
        meta = (await wire.get(f"/versions/{hash_bytes(content)}/metadata")).json()
        assert meta["version"] == {"hash": hash_bytes(content), "size": len(content)}
    family_a(await wire.get(f"/versions/{hash_bytes(wrong)}/metadata"), 404, "resource_not_found")


async def test_unpadded_ids_matter(wire: Wire) -> None:
    content = b"30"
    canonical = hash_bytes(content)
    assert len(canonical) == 31
    padded = canonical.rjust(32, "0")
    reply = await wire.call("POST", "/versions", data=_form([(padded, content, "text/plain")]))
    assert reply.json()["err_files"] == []  # passes: the check is numeric
    assert (await wire.get(f"/versions/{padded}/metadata")).status == 200
    assert (await wire.get(f"/versions/{canonical}/metadata")).status == 404  # stored elsewhere


async def test_gzip_detection_and_cap(wire: Wire) -> None:
    payload = b"p" * 100
    big = b"\0" * (10 * 1024 * 1024 + 1)
    form = _form(
        [
            (hash_bytes(payload), gzip.compress(payload), "application/x-gzip"),
            (hash_bytes(big), gzip.compress(big), "application/gzip"),
            (hash_bytes(b"c"), b"\x1f\x8bcorrupt", "application/gzip"),
        ]
    )
    errors = {
        e["hash"]: e["error"]
        for e in (await wire.call("POST", "/versions", data=form)).json()["err_files"]
    }
    assert "Hash mismatch" in errors[hash_bytes(payload)]
    assert errors[hash_bytes(big)] == (
        "Failed to decompress version: Decompressed size 10485761 exceeds the 10485760 byte limit"
    )
    assert errors[hash_bytes(b"c")].startswith("Failed to decompress version:")


async def test_existing_versions_are_skipped(wire: Wire) -> None:
    content = b"twice"
    name = hash_bytes(content)
    first = await wire.call("POST", "/versions", data=_form([(name, content, "text/plain")] * 2))
    assert first.json()["err_files"] == []
    # Once stored, even wrong bytes under that name are accepted without a check.
    second = await wire.call("POST", "/versions", data=_form([(name, b"different", "text/plain")]))
    assert second.json()["err_files"] == []
    assert (await wire.get(f"/versions/{name}/metadata")).json()["version"]["size"] == 5


async def test_batch_upload_request_errors(wire: Wire) -> None:
    body, content_type = raw_multipart([('Content-Disposition: form-data; name="file[]"', b"x")])
    reply = await wire.call("POST", "/versions", data=body, headers={"Content-Type": content_type})
    assert family_c(reply, 400, "bad_request")["detail"] == "Missing hash in multipart request"
    garbage = await wire.call(
        "POST", "/versions", data=b"garbage", headers={"Content-Type": content_type}
    )
    family_c(garbage, 400, "bad_request")
    missing_repo = await wire.call(
        "POST",
        "/api/repos/ns-x/none-here/versions",
        data=body,
        headers={"Content-Type": content_type},
    )
    assert missing_repo.status == 404


async def test_chunked_upload_and_complete_into_workspace(wire: Wire) -> None:
    content = bytes(range(256)) * 40
    name = hash_bytes(content)
    chunks = [content[i : i + 4000] for i in range(0, len(content), 4000)]
    offsets = [i * 4000 for i in range(len(chunks))]
    for offset, chunk in reversed(list(zip(offsets, chunks, strict=True))):
        put = await wire.call(
            "PUT",
            f"/versions/{name}/chunks",
            data=chunk,
            params={"offset": str(offset), "size": str(len(chunk))},
        )
        assert put.status == 200 and put.json()["status_message"] == "resource_created"
    # first write at an offset wins
    await wire.call("PUT", f"/versions/{name}/chunks", data=b"junk", params={"offset": "0"})
    assert (
        await wire.call("POST", f"/versions/{name}/create", json_body={"hash": name})
    ).status == 200
    await wire.workspace("w")
    request = {
        "files": [
            {"hash": name, "file_name": "big.bin", "dst_dir": "data", "num_chunks": len(chunks)}
        ],
        "workspace_id": "w",
    }
    done = await wire.call("POST", f"/versions/{name}/complete", json_body=request)
    assert done.status == 200 and done.json()["status_message"] == "resource_found"
    assert (await wire.get(f"/versions/{name}/metadata")).json()["version"]["size"] == len(content)
    again = await wire.call("POST", f"/versions/{name}/complete", json_body=request)
    family_c(again, 500, "internal_server_error")  # not idempotent
    await wire.merge("w")
    assert (await wire.download("main", "data/big.bin")).body == content


async def test_complete_errors_and_mismatch_keeps_chunks(wire: Wire) -> None:
    name = hash_bytes(b"expected")
    await wire.call("PUT", f"/versions/{name}/chunks", data=b"other", params={"offset": "0"})
    files = [{"hash": name, "file_name": "f", "num_chunks": 2}]
    count = await wire.call("POST", f"/versions/{name}/complete", json_body={"files": files})
    assert "Number of chunks does not match" in family_a(count, 400)["status_message"]
    files[0]["num_chunks"] = 1
    mismatch = await wire.call("POST", f"/versions/{name}/complete", json_body={"files": files})
    assert "Hash mismatch" in family_c(mismatch, 500, "internal_server_error")["title"]
    retry = await wire.call("POST", f"/versions/{name}/complete", json_body={"files": files})
    assert "Hash mismatch" in family_c(retry, 500, "internal_server_error")["title"]  # chunks kept
    two = await wire.call("POST", f"/versions/{name}/complete", json_body={"files": files * 2})
    family_a(two, 400, "Expected a single file in the request")
    neither = await wire.call(
        "POST",
        f"/versions/{name}/complete",
        json_body={"files": [{"hash": name, "file_name": "f"}]},
    )
    family_c(neither, 400, "bad_request")
    bad = await wire.call("POST", f"/versions/{name}/complete", data=b"{")
    family_a(bad, 400, "Invalid request body")
    offset = await wire.call("PUT", f"/versions/{name}/chunks", data=b"x", params={"offset": "abc"})
    assert offset.status == 400 and offset.content_type.startswith("text/plain")


async def test_batch_download_tar_gz(wire: Wire) -> None:
    contents = [b"one", b"two", b"one"]
    form = _form([(hash_bytes(c), c, "text/plain") for c in contents])
    await wire.call("POST", "/versions", data=form)
    names = [hash_bytes(c) for c in contents]
    request = gzip.compress(("\n".join([*names, "", "zz-not-hex"]) + "\n").encode())
    reply = await wire.call("QUERY", "/versions", data=request)
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(reply.body), mode="r:gz") as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == names  # request order, not de-duplicated
        assert all(m.mode == 0o644 for m in members)
        for member, content in zip(members, contents, strict=True):
            extracted = archive.extractfile(member)
            assert extracted is not None and extracted.read() == content
    missing = gzip.compress(f"{names[0]}\ndeadbeef\n".encode())
    error = family_c(
        await wire.call("QUERY", "/versions", data=missing), 404, "version_blobs_missing"
    )
    assert error["missing_hashes"] == ["deadbeef"]


async def test_download_by_revision_and_path(wire: Wire) -> None:
    commit = await wire.commit_files({"d/a b.txt": b"spaced"})
    reply = await wire.get("/versions/main/d/a%20b.txt")
    assert reply.status == 200 and reply.body == b"spaced"
    assert reply.headers["oxen-revision-id"] == commit["id"]
    family_c(await wire.get("/versions/main/d/none.txt"), 404, "resource_not_found")
