"""0.65's uploads in parts: ``POST /versions/uploads``, ``PUT /versions/uploads/{id}/parts/{n}``.

Shapes and numbers as the running 0.65.2 answers (10 MiB parts, a window of 102 parts).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from oxen_async.hashing import hash_bytes

from ._wire import Reply, Wire, family_b, family_c

PART = 10 * 1024 * 1024
WINDOW = 102


async def begin(wire: Wire, data_hash: str, size: int, **destination: str) -> Reply:
    body: dict[str, Any] = {"hash": data_hash, "size": size}
    if destination:
        body["destination"] = destination
    return await wire.call("POST", "/versions/uploads", json_body=body)


async def put_part(wire: Wire, upload_id: str, number: int | str, data: Any) -> Reply:
    return await wire.call(
        "PUT",
        f"/versions/uploads/{upload_id}/parts/{number}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def awaiting(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert (body["status"], body["status_message"]) == ("success", "resource_created")
    assert body["file"] == "awaiting_parts"
    assert set(body) >= {"upload_id", "part_size", "num_parts", "part_window", "oxen_version"}
    return body


def completed(reply: Reply) -> bool:
    assert reply.status == 200, reply.text
    body = reply.json()
    assert body["status_message"] == "resource_created"
    flag: bool = body["completed"]
    return flag


async def staged_paths(wire: Wire, workspace_id: str) -> list[str]:
    changes = (await wire.get(f"/workspaces/{workspace_id}/changes")).json()["staged"]
    return sorted(entry["filename"] for entry in changes["added_files"]["entries"])


async def test_parts_out_of_order_complete_and_stage(wire: Wire) -> None:
    await wire.workspace("w")
    data = os.urandom(2 * PART + 1234)
    started = awaiting(
        await begin(wire, hash_bytes(data), len(data), workspace_id="w", path="big/f.bin")
    )
    assert (started["part_size"], started["num_parts"], started["part_window"]) == (PART, 3, WINDOW)
    upload = started["upload_id"]
    assert completed(await put_part(wire, upload, 3, data[2 * PART :])) is False
    assert completed(await put_part(wire, upload, 2, data[PART : 2 * PART])) is False
    # Re-sent once stored: accepted and ignored, whatever it carries.
    assert completed(await put_part(wire, upload, 2, b"not the part")) is False
    assert completed(await put_part(wire, upload, 1, data[:PART])) is True
    gone = await put_part(wire, upload, 1, data[:PART])
    family_b(gone, 404, f"Version upload {upload} not found")
    assert await staged_paths(wire, "w") == ["big/f.bin"]
    merged = await wire.merge("w", message="big")
    assert merged.status == 200, merged.text
    assert (await wire.download("main", "big/f.bin")).body == data
    # The store has it now: a new upload needs no parts and stages at once.
    await wire.workspace("w2")
    again = await begin(wire, hash_bytes(data), len(data), workspace_id="w2", path="copy.bin")
    assert again.status == 200
    assert again.json()["file"] == "already_stored"
    assert again.json()["status_message"] == "resource_found"
    assert await staged_paths(wire, "w2") == ["copy.bin"]


async def test_upload_without_destination_stores_the_blob(wire: Wire) -> None:
    data = os.urandom(5000)
    started = awaiting(await begin(wire, hash_bytes(data).upper(), len(data)))
    assert started["num_parts"] == 1
    assert completed(await put_part(wire, started["upload_id"], 1, data)) is True
    # Stored under the canonical spelling of the hash.
    meta = await wire.get(f"/versions/{hash_bytes(data)}/metadata")
    assert meta.status == 200 and meta.json()["version"]["size"] == len(data)
    stored = await begin(wire, hash_bytes(data), len(data))
    assert stored.json()["file"] == "already_stored"


async def test_begin_refusals(wire: Wire) -> None:
    await wire.workspace("w")
    family_b(
        await begin(wire, "zz", 10), 400, "Version upload refused: 'zz' is not a version file hash"
    )
    zero = await begin(wire, hash_bytes(b""), 0)
    family_b(zero, 400, "Version upload refused: a file of zero bytes has no parts")
    huge = await begin(wire, hash_bytes(b"a"), (1 << 40) + 1)
    assert "larger than the 1099511627776 bytes" in family_b(huge, 400)["status_description"]
    nowhere = await begin(wire, hash_bytes(b"a"), 1, workspace_id="nope", path="a.txt")
    assert (
        family_c(nowhere, 404, "resource_not_found")["detail"] == "Could not find workspace: nope"
    )
    reasons = {
        "../x": "it has a `..` component",
        "a/../b": "it has a `..` component",
        "/abs": "it is absolute",
        ".oxen/x": "it is inside a .oxen directory",
        "d/.OXEN/x": "it is inside a .oxen directory",
    }
    for path, reason in reasons.items():
        reply = await begin(wire, hash_bytes(b"a"), 1, workspace_id="w", path=path)
        detail = family_c(reply, 400, "bad_request")["detail"]
        assert detail == f"Invalid destination path: {path} is outside the working tree: {reason}"
    empty = await begin(wire, hash_bytes(b"a"), 1, workspace_id="w", path="")
    assert (
        family_c(empty, 400, "bad_request")["detail"]
        == "Invalid destination path: path cannot be empty"
    )
    missing = await wire.call("POST", "/versions/uploads", json_body={"size": 1})
    assert missing.status == 400 and missing.text.startswith("Json deserialize error")


async def test_destination_path_is_normalised(wire: Wire) -> None:
    await wire.workspace("w")
    for path in ("a//b.bin", "./c.bin"):
        data = os.urandom(100) + path.encode()
        started = awaiting(
            await begin(wire, hash_bytes(data), len(data), workspace_id="w", path=path)
        )
        assert completed(await put_part(wire, started["upload_id"], 1, data)) is True
    assert await staged_paths(wire, "w") == ["a/b.bin", "c.bin"]


async def test_part_refusals(wire: Wire) -> None:
    data = os.urandom(PART + 10)
    upload = awaiting(await begin(wire, hash_bytes(data), len(data)))["upload_id"]
    for number in (0, 3):
        reply = await put_part(wire, upload, number, b"x")
        assert family_b(reply, 400)["status_description"] == (
            f"Version upload refused: part {number} is not between 1 and 2 (upload {upload})"
        )
    family_c(await put_part(wire, upload, "abc", b"x"), 400, "bad_request")
    short = await put_part(wire, upload, 1, data[: PART - 1])
    assert family_b(short, 400)["status_description"] == (
        f"Version upload refused: part 1 is {PART - 1} bytes, not {PART} (upload {upload})"
    )
    long = await put_part(wire, upload, 2, data[PART:] + b"!")
    assert "part 2 is longer than 10 bytes" in family_b(long, 400)["status_description"]
    # A refused part may be sent again, right this time.
    assert completed(await put_part(wire, upload, 1, data[:PART])) is False
    assert completed(await put_part(wire, upload, 2, data[PART:])) is True
    family_b(
        await put_part(wire, "no-such-upload", 1, b"x"),
        404,
        "Version upload no-such-upload not found",
    )


async def test_hash_mismatch_ends_the_upload(wire: Wire) -> None:
    claimed = hash_bytes(b"some other file")
    upload = awaiting(await begin(wire, claimed, 100))["upload_id"]
    wrong = await put_part(wire, upload, 1, os.urandom(100))
    description = family_b(wrong, 400)["status_description"]
    assert description.startswith("Version upload refused: the file's 100 bytes hash to ")
    assert description.endswith(f", not {claimed} (upload {upload})")
    family_b(await put_part(wire, upload, 1, b"x" * 100), 404)
    assert (await wire.get(f"/versions/{claimed}/metadata")).status == 404


async def test_part_beyond_the_window_is_deferred(wire: Wire) -> None:
    size = (WINDOW + 1) * PART + 1  # parts 1..104; part 103 is the first past the window
    upload = awaiting(await begin(wire, hash_bytes(b"never sent"), size))["upload_id"]
    deferred = await put_part(wire, upload, WINDOW + 1, b"x")
    assert deferred.headers["Retry-After"] == "1"
    detail = family_c(deferred, 429, "upload_part_deferred", "Part cannot be stored yet")["detail"]
    assert detail == (
        f"Part {WINDOW + 1} of version upload {upload} cannot be stored yet: "
        f"the upload accepts {WINDOW} parts at once, starting at part 1"
    )
    assert deferred.json()["status_message"] == "too_many_requests"
    # The last part inside the window is admitted (and then refused for its length only).
    inside = await put_part(wire, upload, WINDOW, b"x")
    assert "is 1 bytes, not" in family_b(inside, 400)["status_description"]


async def test_part_resent_while_first_copy_is_stored_is_deferred(wire: Wire) -> None:
    data = os.urandom(PART + 1)
    upload = awaiting(await begin(wire, hash_bytes(data), len(data)))["upload_id"]
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield data[: PART // 2]
        await release.wait()
        yield data[PART // 2 : PART]

    # Two copies of part 1, both held mid-body: whichever the server admits first is being
    # stored, so the other is deferred at once (no timing guess about which one that is).
    copies = [asyncio.create_task(put_part(wire, upload, 1, held_body())) for _ in range(2)]
    try:
        done, _ = await asyncio.wait(copies, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1, "neither copy was deferred"
        deferred_copy = done.pop()
        second = deferred_copy.result()
        detail = family_c(second, 429, "upload_part_deferred")["detail"]
        assert detail.endswith("cannot be stored yet: an earlier copy of it is still being stored")
        assert second.headers["Retry-After"] == "1"
    finally:
        release.set()
    (stored_copy,) = [copy for copy in copies if copy is not deferred_copy]
    assert completed(await stored_copy) is False
    assert completed(await put_part(wire, upload, 2, data[PART:])) is True
