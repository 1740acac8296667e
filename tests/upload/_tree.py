"""Helpers shared by the uploader tests: local trees and what the server holds."""

from __future__ import annotations

import os
from pathlib import Path

from oxen_async import Author, RemoteRepo

AUTHOR = Author("Ada Lovelace", "ada@example.com")


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def sample_files(n: int = 60, seed: int = 1) -> dict[str, bytes]:
    """Nested text files, an empty file, unicode and spaces, duplicate content."""
    files = {
        f"d{i % 5}/sub {i % 3}/file_{i}.txt": f"line {i} {seed}\n".encode() * (i + 1)
        for i in range(n)
    }
    files["empty.txt"] = b""
    files["ünïcode dir/naïve café.txt"] = "naïve ☕\n".encode()
    files["with space/a b.csv"] = b"a,b\n1,2\n"
    files["dup/one.bin"] = b"same bytes" * 100
    files["dup/two.bin"] = b"same bytes" * 100
    files['odd/%41 quote"s.txt'] = b"percent and quote"
    files["random.bin"] = os.urandom(300_000)
    return files


async def remote_tree(repo: RemoteRepo, branch: str = "main", path: str = "") -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    async for rel, _entry in repo.dirs.walk(branch, path):
        out[rel] = await repo.files.download(branch, rel)
    return out


async def commit_count(repo: RemoteRepo, branch: str = "main") -> int:
    try:
        page = await repo.commits.history_page(branch, page_size=100)
    except LookupError:
        return 0
    return page.total_entries
