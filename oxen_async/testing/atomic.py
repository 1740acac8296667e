"""Crash-safe file writes: a temporary file in the repository's tmp dir, then ``os.replace``.

A server killed at any instant leaves either the old file or the complete new one, never a torn
one. No fsync: these files only need to survive a killed process, not a power cut, and fsync per
blob would make ingestion disk-bound.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path


def write_atomic(target: Path, data: bytes | memoryview, tmp_dir: Path) -> None:
    write_chunks_atomic(target, (data,), tmp_dir)


def write_chunks_atomic(target: Path, chunks: Iterable[bytes | memoryview], tmp_dir: Path) -> None:
    tmp = tmp_dir / uuid.uuid4().hex
    try:
        with open(tmp, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        try:
            os.replace(tmp, target)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_if_absent(target: Path, data: bytes | memoryview, tmp_dir: Path) -> bool:
    """Content-addressed write: skip when ``target`` exists (same name means same bytes)."""
    if target.exists():
        return False
    write_atomic(target, data, tmp_dir)
    return True
