"""A source listed once, cut into the shards' shares: what a Dask shard stages instead of
walking the whole source itself (N shards walking an ``s3://`` source made N times its LIST
requests).

- ``list_shares`` (driver): the pipeline's own walker (``scan.scan`` for a folder,
  ``RemoteSource.pieces`` for a URL), each directory piece split by ``Shard.of`` (the one hash
  rule) and appended to its shard's share as it comes: a share is a zlib stream of
  length-framed msgpack pieces, so the driver holds compressed bytes, never the listing's
  objects, and each task carries only its own share (no shared storage needed).
- ``share_pieces`` (worker): the share back as the scan's ``(rel_dir, items)`` pieces, the
  same pieces the shard's own walk would have kept, so piece fingerprints and resumed state
  match a walk's. A folder's files are stat'ed again (a file gone since the listing is a
  failure by path, ``scan.VANISHED``); a URL's objects keep the listing's size and change
  token, which every read is checked against (a deleted object fails its read, by path).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import anyio.to_thread
import msgspec
from anyio.abc import ObjectSendStream

from ..errors import ConfigError
from .counters import Counters
from .scan import LocalFile, Problem, ScanItem, SkippedSymlinkDir, scan, stat_listed
from .settings import Shard
from .sources.remote import RemoteSource, is_url, open_source

FRAME = struct.Struct(">I")  # each piece's encoded length, before it
READ_SIZE = 64 * 1024  # compressed bytes inflated at a time on the worker


class ListedFile(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A file as the driver listed it (its path is the source's root + ``/`` + ``rel``)."""

    rel: str
    size: int
    mtime_ns: int
    inode: int  # a local inode, or a URL object's change token


class SharePiece(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One directory piece's entries that hash to one shard."""

    rel_dir: str
    files: list[ListedFile]
    problems: list[tuple[str, str]]
    symlink_dirs: list[str]


class ShareBuilder:
    """The shards' shares, built a directory piece at a time."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.files = [0] * count  # entries per share
        self._out = [bytearray() for _ in range(count)]
        # A small window and state (~48 KiB a shard, not zlib's 256): many shards stay cheap.
        self._zip = [zlib.compressobj(6, zlib.DEFLATED, 13, 5) for _ in range(count)]
        self._encoder = msgspec.msgpack.Encoder()

    def add(self, rel_dir: str, items: list[ScanItem]) -> None:
        split: list[list[ScanItem]] = [[] for _ in range(self.count)]
        for item in items:
            split[Shard.of(item.rel_path, self.count)].append(item)
        for index, mine in enumerate(split):
            if mine:
                self._append(index, _piece(rel_dir, mine))
                self.files[index] += len(mine)

    def _append(self, index: int, piece: SharePiece) -> None:
        data = self._encoder.encode(piece)
        self._out[index] += self._zip[index].compress(FRAME.pack(len(data)) + data)

    def finish(self) -> list[bytes]:
        """Each shard's share (an empty share is a few bytes: its shard stages nothing)."""
        shares = [bytes(out + z.flush()) for out, z in zip(self._out, self._zip, strict=True)]
        self._out = []
        return shares


def _piece(rel_dir: str, items: list[ScanItem]) -> SharePiece:
    piece = SharePiece(rel_dir, [], [], [])
    for item in items:
        if isinstance(item, LocalFile):
            piece.files.append(ListedFile(item.rel_path, item.size, item.mtime_ns, item.inode))
        elif isinstance(item, Problem):
            piece.problems.append((item.rel_path, item.reason))
        else:
            piece.symlink_dirs.append(item.rel_path)
    return piece


async def list_shares(
    source: str,
    count: int,
    *,
    storage_options: Mapping[str, Any] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> ShareBuilder:
    """List ``source`` (an absolute local folder or a URL) once, into ``count`` shares.
    ``exclude``: absolute folders a local walk leaves out (the workers' upload state)."""
    builder = ShareBuilder(count)
    async for rel_dir, items in _walk(source, storage_options, exclude):
        builder.add(rel_dir, items)
    return builder


async def _walk(
    source: str, storage_options: Mapping[str, Any] | None, exclude: frozenset[str]
) -> AsyncIterator[tuple[str, list[ScanItem]]]:
    if is_url(source):
        async for piece in open_source(source, storage_options).pieces():
            yield piece
        return
    walker = scan(source, exclude)
    while True:
        found = await anyio.to_thread.run_sync(next, walker, None)
        if found is None:
            return
        yield found


def decode_share(share: bytes) -> Iterator[SharePiece]:
    """The pieces of a share, inflated a slice at a time (never the whole listing at once).
    Raises ConfigError for bytes that are not a whole share."""
    try:
        yield from _pieces(share)
    except (zlib.error, msgspec.DecodeError, struct.error) as exc:
        raise ConfigError(f"a shard's share of the listing is corrupt: {exc}") from None


def _pieces(share: bytes) -> Iterator[SharePiece]:
    decoder = msgspec.msgpack.Decoder(SharePiece)
    inflate = zlib.decompressobj()
    buffer = bytearray()
    for start in range(0, len(share), READ_SIZE):
        buffer += inflate.decompress(share[start : start + READ_SIZE])
        while len(buffer) >= FRAME.size:
            (length,) = FRAME.unpack_from(buffer)
            if len(buffer) < FRAME.size + length:
                break
            yield decoder.decode(buffer[FRAME.size : FRAME.size + length])
            del buffer[: FRAME.size + length]
    if buffer or not inflate.eof:
        raise ConfigError("a shard's share of the listing is truncated")


def items_of(piece: SharePiece, root: str, source: RemoteSource | None) -> list[ScanItem]:
    """A piece's entries as the scan yields them; a folder's files stat'ed again now
    (blocking for a folder: call it in a worker thread)."""
    items: list[ScanItem] = [Problem(rel, reason) for rel, reason in piece.problems]
    items += [SkippedSymlinkDir(rel) for rel in piece.symlink_dirs]
    for f in piece.files:
        path = f"{root}/{f.rel}"
        if source is None:
            items.append(stat_listed(path, f.rel))
        else:
            items.append(LocalFile(f.rel, path, f.size, f.mtime_ns, f.inode))
    return items


async def scan_share(
    share: bytes,
    root: str,
    source: RemoteSource | None,
    out: ObjectSendStream[tuple[str, list[ScanItem]]],
    counters: Counters,
) -> None:
    """The share's pieces into the planners, in place of the source's walk."""
    pieces = decode_share(share)
    async with out:
        while True:
            piece = await anyio.to_thread.run_sync(next, pieces, None)
            if piece is None:
                break
            if source is None:
                items = await anyio.to_thread.run_sync(items_of, piece, root, None)
            else:
                items = items_of(piece, root, source)
            await out.send((piece.rel_dir, items))
    counters.progress.scan_done = True
    counters.emit()
