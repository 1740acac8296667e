"""Multipart bodies as oxen-server reads them.

The server takes a part's ``filename`` literally (no percent-decoding), so filenames are sent
raw with ``"`` and ``\\`` backslash-escaped; aiohttp's default FormData would percent-encode them
and the server would store ``a%2Fb.txt``. A part is gzip only when its Content-Type is exactly
``application/gzip``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aiohttp

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


def unsendable_filename(name: str) -> str | None:
    """Why ``name`` cannot travel as a multipart filename, or None if it can."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "file name contains a control character (newline, tab, ...)"
    return None
