"""What stands for a local file's (mtime, inode) when the file is an object in a store.

The upload state keys its hash cache and its directory fingerprints on (path, size, mtime_ns,
inode). A source fills the last two from the listing's ``info``:

- a content token (an ETag, an MD5, a generation or version id: it changes with every write
  of other bytes) goes into ``inode`` (hashed to an integer) with ``mtime_ns`` 0: such a token
  is never "racy" (a write within the same clock tick still changes it);
- else a modification time goes into both, and the racy rule of local files applies;
- else nothing tells a change: ``mtime_ns`` is now, so nothing about the file is ever cached
  or trusted, and it is hashed whenever the branch has it.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import xxhash

# In the order they are trusted. ETag first: S3 and most S3-compatible stores, Azure.
CONTENT_KEYS = ("ETag", "etag", "md5Hash", "md5", "crc32c", "generation", "VersionId")
TIME_KEYS = ("LastModified", "last_modified", "mtime", "updated", "modified", "created")


def token_int(text: str) -> int:
    """A positive, non-zero 62-bit integer for a token (SQLite's INTEGER holds it)."""
    return (xxhash.xxh64_intdigest(text.encode("utf-8", "surrogateescape")) >> 2) | 1


def content_token(info: Mapping[str, Any]) -> int | None:
    """The content token of an object's info (or of a GET's response headers), as an int."""
    for key in CONTENT_KEYS:
        value = info.get(key)
        if value not in (None, ""):
            return token_int(f"{key}={str(value).strip(chr(34))}")
    return None


def _time_ns(value: Any) -> int | None:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return int(value.timestamp() * 1e9)
    if isinstance(value, int | float):
        return int(value * 1e9) if value < 1e11 else int(value)  # seconds, or already ns
    if isinstance(value, str):
        try:
            return _time_ns(datetime.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def change_token(info: Mapping[str, Any]) -> tuple[int, int]:
    """(mtime_ns, inode) standing for an object's version in the upload state."""
    token = content_token(info)
    if token is not None:
        return 0, token
    for key in TIME_KEYS:
        ns = _time_ns(info.get(key))
        if ns is not None:
            return ns, token_int(f"mtime={ns}")
    return time.time_ns(), token_int("unknown")
