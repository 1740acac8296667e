"""Directory listing, ``/meta`` and resource parsing (part 1, sections 0 and 6)."""

from __future__ import annotations

import struct
import zlib

from oxen_async.hashing import hash_bytes

from ._wire import Wire, encode_path, family_c


def _png(width: int, height: int) -> bytes:
    """A valid RGBA PNG (real servers decode images for their metadata)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x80\x40\x20\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = _png(3, 2)


async def test_root_listing_shape(wire: Wire) -> None:
    commit = await wire.commit_files(
        {"b.txt": b"two\nlines\n", "A.txt": b"x", "sub/c.bin": b"\x00\xff", "img.png": PNG}
    )
    body = (await wire.get("/dir/main")).json()
    names = [(e["filename"], e["is_dir"]) for e in body["entries"]]
    assert names == [("sub", True), ("A.txt", False), ("b.txt", False), ("img.png", False)]
    assert body["dir"]["filename"] == "" and body["dir"]["is_dir"] is True
    assert body["dir"]["resource"]["resource"] == "main/"
    assert body["resource"] == {"path": "", "version": "main"}
    assert (body["total_entries"], body["total_pages"], body["page_number"]) == (4, 1, 1)
    text = body["entries"][2]
    assert text["hash"] == hash_bytes(b"two\nlines\n")
    assert (text["mime_type"], text["data_type"], text["extension"]) == (
        "text/plain",
        "text",
        "txt",
    )
    assert text["metadata"] == {"text": {"num_lines": 3, "num_chars": 10}}
    assert text["latest_commit"]["id"] == commit["id"]
    assert text["resource"]["path"] == "b.txt" and text["resource"]["branch"]["name"] == "main"
    image = body["entries"][3]
    assert (image["mime_type"], image["data_type"]) == ("image/png", "image")
    assert image["metadata"]["image"]["width"] == 3
    assert image["metadata"]["image"]["height"] == 2
    sub = body["entries"][0]
    assert (sub["mime_type"], sub["data_type"], sub["size"]) == ("inode/directory", "dir", 2)
    assert sub["metadata"] == {"dir": {"data_types": [{"count": 1, "data_type": "binary"}]}}
    assert "children" not in sub


async def test_latest_commit_is_the_last_change(wire: Wire) -> None:
    first = await wire.commit_files({"keep.txt": b"k", "d/x.txt": b"1"}, message="one")
    second = await wire.commit_files({"d/x.txt": b"2"}, message="two")
    entries = {e["filename"]: e for e in (await wire.get("/dir/main")).json()["entries"]}
    assert entries["keep.txt"]["latest_commit"]["id"] == first["id"]
    assert entries["d"]["latest_commit"]["id"] == second["id"]
    download = await wire.download("main", "keep.txt")
    assert download.headers["oxen-revision-id"] == first["id"]


async def test_directory_hash_changes_with_content(wire: Wire) -> None:
    await wire.commit_files({"d/x.txt": b"1", "e/y.txt": b"1"})
    before = {e["filename"]: e["hash"] for e in (await wire.get("/dir/main")).json()["entries"]}
    await wire.commit_files({"d/x.txt": b"2"}, message="change d")
    after = {e["filename"]: e["hash"] for e in (await wire.get("/dir/main")).json()["entries"]}
    assert before["d"] != after["d"]
    assert before["e"] == after["e"]


async def test_pagination_and_depth(wire: Wire) -> None:
    await wire.commit_files({f"d/f{i:02}.txt": b"x" for i in range(7)} | {"d/s/inner.txt": b"i"})
    page = (await wire.get("/dir/main/d", params={"page": "2", "page_size": "3"})).json()
    assert (page["total_entries"], page["total_pages"]) == (8, 3)
    assert [e["filename"] for e in page["entries"]] == ["f02.txt", "f03.txt", "f04.txt"]
    beyond = (await wire.get("/dir/main/d", params={"page": "5", "page_size": "3"})).json()
    assert beyond["entries"] == []
    deep = (await wire.get("/dir/main", params={"depth": "2"})).json()
    inner = deep["entries"][0]["children"][0]
    assert inner["filename"] == "s" and inner["children"][0]["filename"] == "inner.txt"
    reversed_ = (await wire.get("/dir/main/d", params={"reverse": "true"})).json()
    assert [e["filename"] for e in reversed_["entries"]][:2] == ["s", "f06.txt"]
    bad = await wire.get("/dir/main", params={"sort_by": "size"})
    assert "sort_by" in family_c(bad, 400, "bad_request")["detail"]
    text = await wire.get("/dir/main", params={"reverse": "1"})
    assert text.status == 400 and text.content_type.startswith("text/plain")


async def test_branch_with_slash_longest_prefix(wire: Wire) -> None:
    await wire.commit_files({"x/in-main.txt": b"m"})
    await wire.call("POST", "/branches", json_body={"new_name": "feature", "from_name": "main"})
    await wire.call("POST", "/branches", json_body={"new_name": "feature/x", "from_name": "main"})
    await wire.commit_files({"deep/f.txt": b"f"}, branch="feature/x", message="on fx")
    listing = (await wire.get("/dir/feature/x/deep")).json()
    assert listing["resource"] == {"path": "deep", "version": "feature/x"}
    # x/... on branch "feature" is shadowed by branch "feature/x"
    family_c(await wire.get("/dir/feature/x/in-main.txt"), 404, "resource_not_found")
    encoded = (await wire.get("/dir/feature%2Fx/deep")).json()
    assert encoded["resource"]["version"] == "feature/x"


async def test_commit_id_as_revision(wire: Wire) -> None:
    commit = await wire.commit_files({"a.txt": b"a"})
    await wire.commit_files({"b.txt": b"b"}, message="later")
    body = (await wire.get(f"/dir/{commit['id']}")).json()
    assert [e["filename"] for e in body["entries"]] == ["a.txt"]
    assert body["resource"]["version"] == commit["id"]
    assert body["entries"][0]["resource"]["branch"] is None


async def test_dir_errors(wire: Wire) -> None:
    family_c(await wire.get("/dir/main"), 404, "resource_not_found", "Path does not exist")
    await wire.commit_files({"a.txt": b"a"})
    family_c(await wire.get("/dir/main/a.txt"), 404, "resource_not_found", "Resource not found")
    family_c(await wire.get("/dir/main/nope"), 404, "resource_not_found", "Resource not found")
    family_c(await wire.get("/dir/nope"), 404, "resource_not_found", "Path does not exist")
    family_c(await wire.get("/dir/"), 404, "resource_not_found", "Path does not exist")


async def test_odd_names_round_trip_when_encoded_once(wire: Wire) -> None:
    names = ["sp ace.txt", "pct%41.txt", "plus+.txt", "hash#.txt", "q?.txt", "ünï.txt"]
    await wire.commit_files({f"odd/{n}": n.encode() for n in names})
    listed = [e["filename"] for e in (await wire.get("/dir/main/odd")).json()["entries"]]
    assert sorted(listed) == sorted(names)
    for name in names:
        reply = await wire.download("main", f"odd/{name}")
        assert reply.status == 200 and reply.body == name.encode(), name


async def test_meta(wire: Wire) -> None:
    await wire.commit_files({"d/a.txt": b"abc"})
    entry = (await wire.get("/meta/main/d/a.txt")).json()["entry"]
    assert (entry["filename"], entry["size"], entry["hash"]) == ("a.txt", 3, hash_bytes(b"abc"))
    assert entry["resource"]["path"] == "d/a.txt"
    directory = (await wire.get("/meta/main/d")).json()["entry"]
    assert directory["is_dir"] is True and directory["size"] == 3
    family_c(await wire.get("/meta/main/nope"), 404, "resource_not_found", "Resource not found")
    family_c(await wire.get("/meta/nope/x"), 404, "resource_not_found", "Path does not exist")


async def test_same_name_as_parent_quirk(wire: Wire) -> None:
    await wire.commit_files({"data/data": b"x"})
    entry = (await wire.get("/dir/main/data")).json()["entries"][0]
    assert entry["filename"] == "data"
    assert entry["resource"]["path"] == "data"  # the real server drops the file name here


async def test_encode_path_helper_matches_server_decoding(wire: Wire) -> None:
    await wire.commit_files({"a b/c.txt": b"c"})
    assert (await wire.get(f"/dir/main/{encode_path('a b')}")).status == 200
