"""What the server records about a file when it is staged: size, mime type, data type, metadata.

A small subset of the real server's detection: magic numbers for common media, ``text/markdown``
for ``.md``, ``text/plain`` for valid UTF-8, else ``application/octet-stream``; data type from the
mime type and tabular extensions.
"""

from __future__ import annotations

import codecs
import posixpath
import struct
from typing import Any

import msgspec

TABULAR_EXTENSIONS = frozenset({"csv", "tsv", "parquet", "arrow", "ndjson", "jsonl"})

# (magic prefix, offset, mime type); checked in order.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x1f\x8b", 0, "application/gzip"),
    (b"ID3", 0, "audio/mpeg"),
    (b"fLaC", 0, "audio/x-flac"),
    (b"OggS", 0, "audio/ogg"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
    (b"PAR1", 0, "application/vnd.apache.parquet"),
)


class FileMeta(msgspec.Struct, array_like=True, frozen=True):
    """Facts about one staged or committed file. ``metadata`` is the listing's ``metadata``."""

    hash: str
    size: int
    mime: str
    dtype: str
    metadata: dict[str, Any] | None = None


def extension_of(path: str) -> str:
    name = posixpath.basename(path)
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem else ""


def sniff_mime(head: bytes, extension: str, is_utf8: bool) -> str:
    for magic, offset, mime in _MAGIC:
        if head.startswith(magic, offset):
            if mime == "image/bmp" and len(head) < 26:
                continue
            return mime
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/x-wav"
    if extension.lower() == "md" and is_utf8:
        return "text/markdown"
    return "text/plain" if is_utf8 else "application/octet-stream"


def data_type_of(mime: str, extension: str, head: bytes) -> str:
    major = mime.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    ext = extension.lower()
    if ext in TABULAR_EXTENSIONS or (ext == "json" and head.lstrip()[:1] == b"["):
        return "tabular"
    if major == "text":
        return "text"
    return "binary"


def _image_metadata(mime: str, head: bytes) -> dict[str, Any] | None:
    if mime == "image/png" and len(head) >= 26 and head[12:16] == b"IHDR":
        width, height, _depth, colour = struct.unpack(">IIBB", head[16:26])
        space = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}.get(colour)
        return {"image": {"width": width, "height": height, "color_space": space}}
    if mime == "image/gif" and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return {"image": {"width": width, "height": height, "color_space": "RGB"}}
    return None


def describe_bytes(data: bytes | memoryview, content_hash: str, path: str) -> FileMeta:
    """FileMeta of content held in memory (small files)."""
    raw = data if isinstance(data, bytes) else data.tobytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return _describe(raw[:64], len(raw), content_hash, path, text is not None, raw, text)


def _describe(
    head: bytes,
    size: int,
    content_hash: str,
    path: str,
    is_utf8: bool,
    raw: bytes | None,
    text: str | None,
) -> FileMeta:
    extension = extension_of(path)
    mime = sniff_mime(head, extension, is_utf8)
    dtype = data_type_of(mime, extension, head)
    metadata: dict[str, Any] | None = None
    if dtype == "image":
        metadata = _image_metadata(mime, head)
    elif dtype == "text" and raw is not None and text is not None:
        # Seen on the real server: "two\nlines\n" has 3 lines (the pieces between newlines).
        lines = raw.count(b"\n") + 1 if raw else 0
        metadata = {"text": {"num_lines": lines, "num_chars": len(text)}}
    return FileMeta(content_hash, size, mime, dtype, metadata)


class StreamingDescriber:
    """Builds FileMeta for content seen in pieces (chunked uploads), without holding it all."""

    def __init__(self) -> None:
        self._head = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = True
        self._size = 0

    def update(self, data: bytes) -> None:
        if len(self._head) < 64:
            self._head += data[: 64 - len(self._head)]
        self._size += len(data)
        if self._utf8:
            try:
                self._decoder.decode(data)
            except UnicodeDecodeError:
                self._utf8 = False

    def finish(self, content_hash: str, path: str) -> FileMeta:
        if self._utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._utf8 = False
        return _describe(self._head, self._size, content_hash, path, self._utf8, None, None)
