"""Response bodies into typed values: JSON straight into msgspec Structs, error bodies into the
exception that matches their status."""

from __future__ import annotations

from typing import Any, TypeVar

import anyio.to_thread
import msgspec

from ..errors import HTTPError, OxenError, error_for_status
from ..models import ErrorBody
from .body import Body

T = TypeVar("T")

# Bodies above this size are decoded in a worker thread (about 5 ms of decoding on the loop).
DECODE_INLINE_LIMIT = 1024 * 1024

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    dec = _DECODERS.get(tp)
    if dec is None:
        dec = _DECODERS[tp] = msgspec.json.Decoder(tp)
    return dec


def decode(data: Body, tp: type[T]) -> T:
    """Decode JSON bytes straight into ``tp`` (no intermediate dict)."""
    result: T = _decoder(tp).decode(data)
    return result


async def decode_body(method: str, url: str, raw: Body, tp: type[T]) -> T:
    """``decode`` that keeps the loop free for a big body and names the request on failure."""
    try:
        if len(raw) > DECODE_INLINE_LIMIT:
            # A big listing takes long enough to decode to stall the loop: use a thread.
            return await anyio.to_thread.run_sync(decode, raw, tp)
        return decode(raw, tp)
    except msgspec.DecodeError as exc:
        detail = f"unexpected response body ({exc}): {bytes(raw[:200])!r}"
        raise OxenError(f"{method} {url}: {detail}") from None


def error_from_body(
    method: str, url: str, status: int, body: bytes, retry_after: float | None
) -> HTTPError:
    """The typed error for an error answer, with the server's own message when it gave one."""
    message = ""
    error_type: str | None = None
    try:
        parsed = decode(body, ErrorBody)
        message = parsed.message()
        error_type = parsed.error.type if parsed.error else None
    except msgspec.DecodeError:
        message = body[:500].decode("utf-8", "replace").strip()
    # One line whatever the server wrote (a text body, a message with newlines in it).
    message = " ".join(message.split())
    if not message:
        message = {401: "unauthorized: missing or wrong token"}.get(status, f"HTTP {status}")
    return error_for_status(
        method, url, status, message, error_type=error_type, retry_after=retry_after
    )
