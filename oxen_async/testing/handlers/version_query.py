"""``QUERY /versions``: gzip'd newline-separated hashes in, a streamed tar.gz of the blobs out.

As oxen-server 0.65.2 does it (controllers/versions.rs ``batch_download``): lines are trimmed,
empty and non-hex lines dropped; every hash is checked first (404 ``version_blobs_missing``
naming them); then one GNU tar entry per requested hash, in request order, not de-duplicated,
named by the hash, mode 0644, uid/gid 0, gzip-compressed and sent chunked with no length.

The tar is built piece by piece in worker threads (a bounded read of the blob, compressed) and
written as it is made, so a big batch never sits in the server's memory. The download faults
(``FaultController.downloads``) cut the body half-way through a member or change one byte of
a member; ``corrupt_content`` blobs are served complemented.
"""

from __future__ import annotations

import gzip
import string
import tarfile
import zlib
from collections.abc import Iterator

from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.faults import CORRUPT_TABLE, FaultController
from oxen_async.testing.storage import Repository

_READ_PIECE = 1024 * 1024
_BLOCK = 512
_YIELD_AT = 256 * 1024


async def download(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    body = await ctx.body()
    try:
        text = await ctx.offload(gzip.decompress, body)
    except (OSError, EOFError, zlib.error) as error:
        raise wire.internal_error(f"Failed to decompress request body: {error}") from None
    hashes = _hashes_in(text)
    missing = await ctx.offload(_missing, repo, hashes)
    if missing:
        raise wire.structured_error(
            404,
            "version_blobs_missing",
            "Version blobs missing on server",
            f"Server is missing {len(missing)} content blob(s) for this batch download. "
            f"Missing hashes: {', '.join(missing)}",
            "resource_not_found",
            missing_hashes=missing,
        )
    cut_at = ctx.faults.downloads.take_cut()
    response = web.StreamResponse(headers={"Content-Type": "application/gzip"})
    response.enable_chunked_encoding()
    await response.prepare(ctx.request)
    pieces = _tar_gz(repo, hashes, ctx.faults, cut_at)
    sent = 0
    while (piece := await ctx.offload(next, pieces, None)) is not None:
        await response.write(piece)
        sent += len(piece)
    ctx.stats.record_files(ctx.route.name, len(hashes), sent)
    if cut_at is not None and cut_at < len(hashes):
        ctx.faults.downloads.record_cut()
        ctx.stats.record_fault(ctx.route.name)
        transport = ctx.request.transport
        if transport is not None:
            transport.close()
        return response
    await response.write_eof()
    return response


def _hashes_in(text: bytes) -> list[str]:
    hashes = []
    for line in text.decode("utf-8", "replace").splitlines():
        candidate = line.strip()
        if candidate and all(c in string.hexdigits for c in candidate):
            hashes.append(candidate)
    return hashes


def _missing(repo: Repository, hashes: list[str]) -> list[str]:
    return [h for h in dict.fromkeys(hashes) if not repo.versions.has(h)]


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _tar_gz(
    repo: Repository, hashes: list[str], faults: FaultController, cut_at: int | None
) -> Iterator[bytes]:
    """Compressed pieces of the archive (about _YIELD_AT each, one worker-thread hop apiece);
    stops half-way through member ``cut_at``."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = bytearray()
    for index, name in enumerate(hashes):
        reader = repo.versions.open(name)
        try:
            size = reader.size
            budget = size // 2 if index == cut_at else size
            wrong = faults.downloads.wants_wrong_byte(name)
            corrupt = faults.serves_corrupt(name)
            out += packer.compress(_header(name, size))
            offset = 0
            while offset < budget:
                data = reader.read(min(_READ_PIECE, budget - offset))
                if not data:
                    break
                if corrupt:
                    data = data.translate(CORRUPT_TABLE)
                if wrong:
                    data = faults.downloads.apply_wrong_byte(data, offset, size)
                offset += len(data)
                out += packer.compress(data)
                if len(out) >= _YIELD_AT:
                    yield bytes(out)
                    out.clear()
        finally:
            reader.close()
        if index == cut_at:
            yield bytes(out + packer.flush(zlib.Z_SYNC_FLUSH))  # what went out, then the cut
            return
        out += packer.compress(b"\0" * (-size % _BLOCK))
    yield bytes(out + packer.compress(b"\0" * (2 * _BLOCK)) + packer.flush())
