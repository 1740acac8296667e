"""Unpack a ``QUERY /versions`` body (a gzipped tar of blobs named by hash) as bytes arrive.

``TarGzReader.feed`` takes whatever the network gave, inflates it in bounded pieces, parses tar
headers, and gives each member to the sink the caller opened for that hash: in one ``land``
call when the whole member is in the piece at hand, else streamed. Nothing but the current
piece and member is held. Blocking (inflate, hashing, disk): run ``feed`` in a worker
thread, a few hundred KiB per hop.

Refused, with nothing of the member written: a member whose name is not one of the requested
hashes (``..``, an absolute path, anything else), a non-regular member, a header with a bad
checksum, an archive that inflates past what the requested sizes allow (a gzip bomb), and bytes
that do not hash to the member's id (that member only: the stream stays in step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from isal import isal_zlib

from ..errors import IntegrityError

BLOCK = 512
# Inflate at most this much per call: memory per stream stays bounded whatever the ratio.
INFLATE_PIECE = 1024 * 1024
# Past the members themselves a tar has two zero blocks, padded by some writers to a 10 KiB
# record; a little more is tolerated, nothing like a bomb.
TRAILER_ALLOWANCE = 32 * 1024
_ZERO_BLOCK = bytes(BLOCK)
_REGULAR = (b"0", b"\0")


class MemberSink(Protocol):
    """Where one member's bytes go. A member wholly inside the piece being unpacked (most small
    files) comes in one ``land`` call, which verifies before anything is written; a bigger one
    streams through ``write`` and then ``commit`` (verify and publish) or ``discard``. Both
    raise IntegrityError for bytes that do not hash to the id."""

    def land(self, data: memoryview) -> None: ...
    def write(self, data: bytes | bytearray | memoryview) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class UnsafeArchive(IntegrityError):
    """The archive itself is not what was asked for: the rest of the batch is refused."""


def _octal(field: bytes) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for big sizes
        value = int.from_bytes(field[1:], "big")
        return value
    text = field.split(b"\0", 1)[0].strip(b" \0")
    return int(text, 8) if text else 0


def _checksum_ok(header: bytes) -> bool:
    field = header[148:156]
    # The checksum counts its own field as eight spaces.
    return _octal(field) == sum(header) - sum(field) + 8 * 0x20


def _refusal(name: str, kind: bytes) -> str:
    """Why a member that is not a requested regular file ends the batch."""
    if name.startswith("/") or ".." in name.split("/") or "\\" in name:
        return f"the batch archive has an unsafe member name {name!r}"
    if kind not in _REGULAR:
        return f"the batch archive member {name!r} is not a regular file"
    return f"the batch archive has a member {name!r} that was not asked for"


class TarGzReader:
    """``open_sink(hash, size)`` gives the sink of a member (it must be a requested hash);
    ``on_done(hash, error)`` is told once per member: None when it landed, else the reason."""

    def __init__(
        self,
        sizes: dict[str, int],
        open_sink: Callable[[str, int], MemberSink],
        on_done: Callable[[str, Exception | None], None],
    ) -> None:
        self._sizes = sizes
        self._open_sink = open_sink
        self._on_done = on_done
        self._inflater = isal_zlib.decompressobj(wbits=31)
        self._limit = TRAILER_ALLOWANCE + sum(
            BLOCK + size + (-size % BLOCK) for size in sizes.values()
        )
        self._inflated = 0
        self._buffer = bytearray()
        self._member: str | None = None
        self._sink: MemberSink | None = None
        self._member_error: Exception | None = None
        self._remaining = 0
        self._padding = 0
        self._seen: set[str] = set()
        self.finished = False  # the end-of-archive blocks were read

    def feed(self, data: bytes) -> None:
        """Inflate and unpack ``data``; UnsafeArchive ends the batch."""
        pending = data
        while pending and not self.finished:
            if self._inflater.eof:
                break  # bytes after the gzip stream: ignored, nothing is read from them
            out = self._inflater.decompress(pending, INFLATE_PIECE)
            pending = self._inflater.unconsumed_tail
            self._inflated += len(out)
            if self._inflated > self._limit:
                raise UnsafeArchive(
                    f"the batch archive inflates past {self._limit} bytes, more than the "
                    "requested files can fill (a gzip bomb?)"
                )
            self._unpack(out)
            if not out and not pending:
                break

    def _unpack(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.finished:
            if self._remaining:
                take = view[: self._remaining]
                self._write(take)
                self._remaining -= len(take)
                view = view[len(take) :]
                if not self._remaining:
                    self._end_member()
            elif self._padding:
                skip = min(self._padding, len(view))
                self._padding -= skip
                view = view[skip:]
            elif not self._buffer and len(view) >= BLOCK:  # a whole header in the piece
                header = bytes(view[:BLOCK])
                view = view[BLOCK:]
                view = view[self._start_member(header, view) :]
            else:  # a header split across pieces
                need = BLOCK - len(self._buffer)
                self._buffer += view[:need]
                view = view[need:]
                if len(self._buffer) == BLOCK:
                    header = bytes(self._buffer)
                    self._buffer.clear()
                    view = view[self._start_member(header, view) :]

    def _start_member(self, header: bytes, following: memoryview) -> int:
        """Read a header; a member wholly in ``following`` lands at once. Returns how much of
        ``following`` was consumed (the member and its padding, or nothing)."""
        if header == _ZERO_BLOCK:
            self.finished = True
            return 0
        if not _checksum_ok(header):
            raise UnsafeArchive("the batch archive has a corrupt tar header")
        name = header[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        kind = header[156:157]
        size = _octal(header[124:136])
        # The name is only ever a key into the requested ids, never a path: one found among
        # them needs no other check (sparing a split per member), and the path rules only say
        # what is wrong with one that is not.
        expected = self._sizes.get(name)
        if expected is None or name in self._seen or kind not in _REGULAR:
            raise UnsafeArchive(_refusal(name, kind))
        self._seen.add(name)
        padding = -size % BLOCK
        error: Exception | None = None
        if size != expected:
            error = IntegrityError(
                f"blob {name}: the archive holds {size} bytes, the listing {expected}"
            )
        if size <= len(following):  # the common case for small files: one call, no state
            if error is None:
                try:
                    self._open_sink(name, size).land(following[:size])
                except Exception as exc:
                    error = exc
            self._on_done(name, error)
            consumed = min(len(following), size + padding)
            self._padding = size + padding - consumed
            return consumed
        self._member = name
        self._remaining = size
        self._padding = padding
        self._member_error = error
        self._sink = None if error is not None else self._open_sink(name, size)
        return 0

    def _write(self, data: memoryview) -> None:
        if self._sink is not None and self._member_error is None:
            try:
                self._sink.write(data)
            except Exception as exc:
                self._member_error = exc

    def _end_member(self) -> None:
        name, sink, error = self._member, self._sink, self._member_error
        self._member = self._sink = None
        assert name is not None
        if sink is not None:
            if error is None:
                try:
                    sink.commit()
                except Exception as exc:
                    error = exc
            else:
                sink.discard()
        self._on_done(name, error)

    def close(self) -> None:
        """Drop a member cut off mid-way (nothing of it stays on disk)."""
        if self._sink is not None:
            self._sink.discard()
            self._sink = None
        self._member = None
