"""A multipart/form-data parser over a fully received body, built for speed and for actix's rules.

The server buffers whole bodies anyway (as the real one does), so parsing a ``bytes`` object with
``bytes.find`` in a worker thread costs far less than aiohttp's per-part async reader. Filenames
are taken literally (no percent-decoding, ``filename*`` ignored, ``\\`` escapes the next
character inside quotes), as actix-web parses Content-Disposition.
"""

from __future__ import annotations

from dataclasses import dataclass


class MultipartError(Exception):
    """A body or header the real server's multipart layer rejects; ``message`` is actix's text."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: memoryview

    @property
    def is_gzip(self) -> bool:
        """The real server's test: type ``application``, subtype ``gzip``, parameters ignored."""
        if self.content_type is None:
            return False
        essence = self.content_type.split(";", 1)[0].strip().lower()
        return essence == "application/gzip"

    def text(self) -> str:
        return bytes(self.data).decode("utf-8")


def boundary_from(content_type: str | None) -> str:
    """The boundary of a ``multipart/form-data`` Content-Type, or the error actix reports."""
    if content_type is None:
        raise MultipartError("Could not find Content-Type header")
    essence, _, params = content_type.partition(";")
    essence = essence.strip().lower()
    if "/" not in essence:
        raise MultipartError("Could not parse Content-Type header")
    if essence != "multipart/form-data":
        raise MultipartError("Parsed Content-Type did not have multipart/form-data type", 415)
    for key, value in _parameters(params):
        if key == "boundary" and value:
            return value
    raise MultipartError("Multipart boundary is not found")


def parse_multipart(body: bytes, boundary: str) -> list[Part]:
    """All parts of ``body``. Raises MultipartError for anything malformed or truncated."""
    delimiter = b"--" + boundary.encode("latin-1")
    separator = b"\r\n" + delimiter
    view = memoryview(body)
    if body.startswith(delimiter):
        position = len(delimiter)
    else:
        first = body.find(separator)
        if first < 0:
            raise MultipartError("Multipart stream is incomplete")
        position = first + len(separator)
    parts: list[Part] = []
    while True:
        if body.startswith(b"--", position):
            return parts
        line_end = body.find(b"\r\n", position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise MultipartError("Multipart stream is incomplete")
        headers_start = line_end + 2
        headers_end = body.find(b"\r\n\r\n", headers_start - 2)
        if headers_end < 0:
            raise MultipartError("Multipart stream is incomplete")
        data_start = headers_end + 4
        data_end = body.find(separator, data_start)
        if data_end < 0:
            raise MultipartError("Multipart stream is incomplete")
        raw_headers = body[headers_start:headers_end] if headers_end >= headers_start else b""
        parts.append(_make_part(raw_headers, view[data_start:data_end]))
        position = data_end + len(separator)


def _make_part(raw_headers: bytes, data: memoryview) -> Part:
    disposition: str | None = None
    content_type: str | None = None
    for line in raw_headers.split(b"\r\n"):
        if not line:
            continue
        key, colon, value = line.partition(b":")
        if not colon or not key.strip():
            raise MultipartError("Error during field parsing")
        lowered = key.strip().lower()
        if lowered == b"content-disposition":
            disposition = value.strip().decode("utf-8", "replace")
        elif lowered == b"content-type":
            content_type = value.strip().decode("latin-1")
    if disposition is None:
        raise MultipartError("No Content-Disposition `form-data` header")
    kind, _, params = disposition.partition(";")
    if kind.strip().lower() != "form-data":
        raise MultipartError("No Content-Disposition `form-data` header")
    name: str | None = None
    filename: str | None = None
    for param, text in _parameters(params):
        if param == "name" and name is None:
            name = text
        elif param == "filename" and filename is None:
            filename = text
    if name is None:
        raise MultipartError("Content-Disposition name parameter not found")
    return Part(name=name, filename=filename, content_type=content_type, data=data)


def _parameters(text: str) -> list[tuple[str, str]]:
    """``; key=value; key="quoted \\" value"`` pairs, keys lowercased."""
    pairs: list[tuple[str, str]] = []
    index, length = 0, len(text)
    while index < length:
        while index < length and text[index] in " \t;":
            index += 1
        equals = text.find("=", index)
        if equals < 0:
            break
        key = text[index:equals].strip().lower()
        index = equals + 1
        while index < length and text[index] in " \t":
            index += 1
        if index < length and text[index] == '"':
            index += 1
            chars: list[str] = []
            while index < length and text[index] != '"':
                if text[index] == "\\" and index + 1 < length:
                    index += 1
                chars.append(text[index])
                index += 1
            index += 1
            value = "".join(chars)
        else:
            end = text.find(";", index)
            end = length if end < 0 else end
            value = text[index:end].strip()
            index = end
        pairs.append((key, value))
    return pairs
