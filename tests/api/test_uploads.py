"""The two calls of the parts protocol, as the server answers them (shapes checked on a running
oxen-server 0.65.2; skipped on a server without ``/versions/uploads``)."""

from __future__ import annotations

import os

import pytest

from oxen_async import BadRequestError, NotFoundError, RemoteRepo, hash_bytes
from oxen_async.api.uploads import Uploads, lacks_route, parse_version
from oxen_async.errors import HTTPError
from oxen_async.models import AlreadyStored, AwaitingParts

from .conftest import AUTHOR

MiB = 1024 * 1024


@pytest.fixture
async def uploads(repo: RemoteRepo) -> Uploads:
    calls = Uploads(repo.scope)
    try:
        await calls.begin(hash_bytes(b"probe"), 0)
    except BadRequestError:
        pass  # the route exists and refuses size 0
    except HTTPError as error:
        if lacks_route(error):
            pytest.skip("this server has no /versions/uploads")
        raise
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
    return calls


def _split(data: bytes, start: AwaitingParts) -> list[bytes]:
    return [data[i : i + start.part_size] for i in range(0, len(data), start.part_size)]


async def test_begin_then_parts_store_the_file_and_a_late_part_is_not_found(
    uploads: Uploads, repo: RemoteRepo
) -> None:
    data = os.urandom(10 * MiB + 100)
    content_id = hash_bytes(data)
    start = await uploads.begin(content_id, len(data))
    assert isinstance(start, AwaitingParts)
    assert start.upload_id and start.part_window >= 1
    assert start.num_parts == -(-len(data) // start.part_size) >= 2
    pieces = _split(data, start)
    done = [await uploads.put_part(start.upload_id, n, p) for n, p in enumerate(pieces, 1)]
    assert done == [False] * (len(pieces) - 1) + [True]
    assert (await repo.versions.metadata(content_id)).size == len(data)
    # Once complete the upload is gone: what a client that lost the last answer sees.
    with pytest.raises(NotFoundError):
        await uploads.put_part(start.upload_id, len(pieces), pieces[-1])
    assert isinstance(await uploads.begin(content_id, len(data)), AlreadyStored)


async def test_a_part_sent_again_before_completion_is_accepted(uploads: Uploads) -> None:
    data = os.urandom(10 * MiB + 5)
    start = await uploads.begin(hash_bytes(data), len(data))
    assert isinstance(start, AwaitingParts)
    first, last = _split(data, start)
    assert await uploads.put_part(start.upload_id, 1, first) is False
    assert await uploads.put_part(start.upload_id, 1, first) is False
    assert await uploads.put_part(start.upload_id, 2, last) is True


async def test_a_destination_stages_the_file_and_already_stored_stages_at_once(
    uploads: Uploads, repo: RemoteRepo
) -> None:
    data = os.urandom(10 * MiB + 77)
    content_id = hash_bytes(data)
    ws = await repo.workspaces.get_or_create("main")
    start = await uploads.begin(content_id, len(data), workspace_id=ws.id, path="in/a.bin")
    assert isinstance(start, AwaitingParts)
    for n, piece in enumerate(_split(data, start), 1):
        await uploads.put_part(start.upload_id, n, piece)
    again = await uploads.begin(content_id, len(data), workspace_id=ws.id, path="in/b.bin")
    assert isinstance(again, AlreadyStored)
    await repo.workspaces.merge(ws.id, "main", message="staged by upload", author=AUTHOR)
    for name in ("in/a.bin", "in/b.bin"):
        assert (await repo.dirs.meta("main", name)).hash == content_id
    assert await repo.files.download("main", "in/b.bin") == data


async def test_refusals(uploads: Uploads) -> None:
    with pytest.raises(BadRequestError, match=r"zero bytes|size"):
        await uploads.begin(hash_bytes(b"x"), 0)
    with pytest.raises(BadRequestError, match="hash"):
        await uploads.begin("not-a-hash", 10)
    with pytest.raises(NotFoundError):
        await uploads.begin(hash_bytes(b"x"), 1, workspace_id="no-such-workspace", path="a.bin")
    data = os.urandom(10 * MiB + 1)
    start = await uploads.begin(hash_bytes(data), len(data))
    assert isinstance(start, AwaitingParts)
    with pytest.raises(BadRequestError):  # every part but the last is exactly part_size
        await uploads.put_part(start.upload_id, 1, data[: start.part_size - 1])
    with pytest.raises(BadRequestError):
        await uploads.put_part(start.upload_id, start.num_parts + 1, b"x")
    with pytest.raises(NotFoundError) as caught:
        await uploads.put_part("no-such-upload", 1, b"x")
    assert not lacks_route(caught.value)  # told apart from a server without the route


def test_parse_version() -> None:
    assert parse_version("0.65.2") == (0, 65, 2)
    assert parse_version("0.53.4-beta") == (0, 53, 4)
    assert parse_version(None) is None
    assert parse_version("latest") is None
