"""Multipart bodies as oxen-server reads them.

The server takes a part's ``filename`` literally (no percent-decoding), so filenames are sent
raw with ``"`` and ``\\`` backslash-escaped; aiohttp's default FormData would percent-encode them
and the server would store ``a%2Fb.txt``. A part is gzip only when its Content-Type is exactly
``application/gzip``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import anyio.to_thread

from .payload import Segments

GZIP = "application/gzip"
RAW = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file part: ``filename`` is a relative path (workspace) or a hash (/versions)."""

    filename: str
    data: bytes
    gzipped: bool = False


def form(
    parts: Iterable[FilePart],
    *,
    field: str = "file[]",
    text: Mapping[str, str] | None = None,
) -> aiohttp.MultipartWriter:
    """A ``multipart/form-data`` body of text fields followed by file parts."""
    writer = aiohttp.MultipartWriter("form-data")
    for key, value in (text or {}).items():
        text_part = aiohttp.payload.StringPayload(value, content_type="text/plain; charset=utf-8")
        text_part.set_content_disposition("form-data", quote_fields=False, name=key)
        writer.append_payload(text_part)
    for part in parts:
        file_part = aiohttp.payload.BytesPayload(
            part.data, content_type=GZIP if part.gzipped else RAW
        )
        file_part.set_content_disposition(
            "form-data", quote_fields=False, name=field, filename=part.filename
        )
        writer.append_payload(file_part)
    return writer


@dataclass(frozen=True, slots=True)
class EncodedForm:
    """A whole ``multipart/form-data`` body, cheap to send again on a retry: its segments are
    the file bytes as given plus the small framing between them, never one copy of it all."""

    segments: Segments
    content_type: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type}

    @property
    def size(self) -> int:
        return sum(len(s) for s in self.segments)

    @property
    def body(self) -> bytes:
        """The body as one buffer (a copy: sending uses ``segments``)."""
        return b"".join(self.segments)


def _quoted(value: str) -> str:
    # What the server's parser undoes: backslash escapes inside a quoted string, raw UTF-8.
    return value.replace("\\", "\\\\").replace('"', '\\"')


# File bytes this large travel as their own segment; smaller pieces are joined (fewer writes).
_OWN_SEGMENT = 64 * 1024
_JOINED_SEGMENT = 256 * 1024


def encode(
    parts: Iterable[FilePart],
    *,
    field: str = "file[]",
    text: Mapping[str, str] | None = None,
) -> EncodedForm:
    """The same body as ``form()``, encoded in one pass (blocking; see ``encode_async``).

    aiohttp's MultipartWriter spends about 20 us of event-loop time per part; a batch of
    thousands of files is better encoded in a worker thread.
    """
    boundary = uuid.uuid4().hex
    dash = f"--{boundary}\r\n".encode()
    segments: list[bytes] = []
    small: list[bytes] = []
    small_size = 0

    def add(piece: bytes) -> None:
        nonlocal small_size
        if len(piece) >= _OWN_SEGMENT:
            if small:
                segments.append(b"".join(small))
                small.clear()
                small_size = 0
            segments.append(piece)
            return
        small.append(piece)
        small_size += len(piece)
        if small_size >= _JOINED_SEGMENT:
            segments.append(b"".join(small))
            small.clear()
            small_size = 0

    for key, value in (text or {}).items():
        head = (
            "Content-Type: text/plain; charset=utf-8\r\n"
            f'Content-Disposition: form-data; name="{_quoted(key)}"\r\n\r\n'
        )
        for piece in (dash, head.encode(), value.encode(), b"\r\n"):
            add(piece)
    for part in parts:
        head = (
            f"Content-Type: {GZIP if part.gzipped else RAW}\r\n"
            f'Content-Disposition: form-data; name="{_quoted(field)}"; '
            f'filename="{_quoted(part.filename)}"\r\n\r\n'
        )
        for piece in (dash, head.encode(), part.data, b"\r\n"):
            add(piece)
    small.append(f"--{boundary}--\r\n".encode())
    segments.append(b"".join(small))
    return EncodedForm(tuple(segments), f"multipart/form-data; boundary={boundary}")


# Below this many parts and bytes, encoding inline costs less than a thread hop.
_INLINE_PARTS = 64
_INLINE_BYTES = 256 * 1024


async def encode_async(
    parts: Sequence[FilePart],
    *,
    field: str = "file[]",
    text: Mapping[str, str] | None = None,
) -> EncodedForm:
    """``encode`` off the event loop when the form is big."""
    if len(parts) <= _INLINE_PARTS and sum(len(p.data) for p in parts) <= _INLINE_BYTES:
        return encode(parts, field=field, text=text)
    return await anyio.to_thread.run_sync(lambda: encode(parts, field=field, text=text))


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def unsendable_filename(name: str) -> str | None:
    """Why ``name`` cannot travel as a multipart filename, or None if it can."""
    if _CONTROL.search(name):
        return "file name contains a control character (newline, tab, ...)"
    return None
