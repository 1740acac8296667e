"""What the filesystem reads: listing entries as fsspec info dicts, byte ranges of a file.

Ranges go through ``GET /chunk/{revision}/{path}?chunk_start=&chunk_size=``. oxen-server
0.65.2 answers 500 "beyond end of file" for any range that runs past the end (even by one
byte), so callers clamp to the listed size first; a long range is split into pieces fetched
concurrently.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..download.blobs import fetch_bytes
from ..download.engine import BATCH_BYTES, BATCH_FILES
from ..download.routes import WHOLE_FILE_BYTES, batched
from ..download.whole import read_verified
from ..errors import IntegrityError
from ..hashing import hash_bytes, same_hash
from ..models import MetadataEntry

if TYPE_CHECKING:
    from ..client import RemoteRepo

RANGE_PIECE = 8 * 1024 * 1024
PIECES_IN_FLIGHT = 4

Info = dict[str, Any]


def entry_info(path: str, entry: MetadataEntry) -> Info:
    """The fsspec info dict of a listing entry at repo path ``path``."""
    info: Info = {
        "name": path,
        "size": entry.size,
        "type": "directory" if entry.is_dir else "file",
        "hash": entry.hash,
    }
    if not entry.is_dir:
        info["mime_type"] = entry.mime_type
    return info


def root_info(name: str) -> Info:
    return {"name": name, "size": 0, "type": "directory", "hash": ""}


async def read_range(repo: RemoteRepo, revision: str, path: str, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of ``path``; ``end`` must not pass the file's end."""
    if end <= start:
        return b""
    if end - start <= RANGE_PIECE:
        return await _chunk(repo, revision, path, start, end - start)
    limit = asyncio.Semaphore(PIECES_IN_FLIGHT)

    async def piece(offset: int) -> bytes:
        async with limit:
            return await _chunk(repo, revision, path, offset, min(RANGE_PIECE, end - offset))

    parts = await asyncio.gather(*(piece(o) for o in range(start, end, RANGE_PIECE)))
    return b"".join(parts)


async def _chunk(repo: RemoteRepo, revision: str, path: str, start: int, size: int) -> bytes:
    return await repo.files.read_range(revision, path, start, size)


async def read_whole(repo: RemoteRepo, revision: str, path: str, info: Info) -> bytes:
    """The whole file, checked against its listed content id: one ranged read up to
    WHOLE_FILE_BYTES (``download.routes``), pieces in flight beyond."""
    size = int(info["size"])
    expected = str(info.get("hash") or "")
    if expected and size <= WHOLE_FILE_BYTES:
        return await read_verified(repo, revision, path, size, expected)
    data = await read_range(repo, revision, path, 0, size)
    if expected:
        digest = await asyncio.to_thread(hash_bytes, data)
        if not same_hash(digest, expected):
            raise IntegrityError(f"{path}: bytes hash to {digest}, the server lists {expected}")
    return data


# ``cat`` of many paths: small files (``download.routes``) go many to a ``QUERY /versions``
# (the download engine's batch), at most BATCH_FILES files or BATCH_BYTES bytes per request
# and BATCHES_IN_FLIGHT requests at once; bigger ones are read alone.
BATCHES_IN_FLIGHT = 4


async def read_many(
    repo: RemoteRepo, revision: str, infos: dict[str, Info]
) -> dict[str, bytes | Exception]:
    """Whole files (repo path -> info), each checked against its id: small ones many per
    request, the rest one by one; a failure is that path's answer, not the others'."""
    out: dict[str, bytes | Exception] = {}
    small = {p: i for p, i in infos.items() if batched(int(i["size"])) and i.get("hash")}
    groups: list[dict[str, Info]] = []
    group: dict[str, Info] = {}
    group_bytes = 0
    for path, info in small.items():
        if group and (len(group) >= BATCH_FILES or group_bytes + int(info["size"]) > BATCH_BYTES):
            groups.append(group)
            group, group_bytes = {}, 0
        group[path] = info
        group_bytes += int(info["size"])
    if group:
        groups.append(group)
    limit = asyncio.Semaphore(BATCHES_IN_FLIGHT)

    async def one(path: str, info: Info) -> None:
        try:
            out[path] = await read_whole(repo, revision, path, info)
        except Exception as exc:  # this path's answer
            out[path] = exc

    async def batch(members: dict[str, Info]) -> None:
        by_id = {str(i["hash"]): (p, int(i["size"])) for p, i in members.items()}
        async with limit:
            try:
                got = await fetch_bytes(
                    repo,
                    {h: size for h, (_, size) in by_id.items()},
                    names={h: p for h, (p, _) in by_id.items()},
                    fallback=lambda h: repo.files.download(revision, by_id[h][0]),
                )
            except Exception:  # one file spoilt the batch: each gets its own answer
                await asyncio.gather(*(one(p, i) for p, i in members.items()))
                return
        for path, info in members.items():
            out[path] = got[str(info["hash"])]

    await asyncio.gather(
        *(batch(g) for g in groups),
        *(one(p, i) for p, i in infos.items() if p not in small),
    )
    return out
