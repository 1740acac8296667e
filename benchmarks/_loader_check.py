"""What a loader run must prove before its time counts: every file once, every byte right.
Shared by both loader runners (the official one runs in its own Python: stdlib only here)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def expected_digest(dataset: str) -> tuple[int, int, str]:
    """(files, bytes, order-free digest) of the local copy of the dataset."""
    root = Path(dataset)
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return len(files), sum(p.stat().st_size for p in files), _digest(p.read_bytes() for p in files)


def _digest(blobs: object) -> str:
    total = 0
    for data in blobs:  # type: ignore[attr-defined]
        total ^= int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")
    return f"{total:032x}"


def check(samples: list[bytes], dataset: str) -> str | None:
    files, size, digest = expected_digest(dataset)
    got = (len(samples), sum(len(s) for s in samples), _digest(samples))
    if got != (files, size, digest):
        return (
            f"loaded {got[0]} samples / {got[1]} bytes (digest {got[2][:8]}), "
            f"expected {files} / {size} ({digest[:8]})"
        )
    return None


def workers() -> int:
    return int(os.environ.get("BENCH_LOADER_WORKERS", "4"))


def context() -> str:
    """The official loader's worker start method (``fork`` to see it hang)."""
    return os.environ.get("BENCH_LOADER_OFFICIAL_START", "spawn")
