"""Local trees and what the server holds, for the sharded ingestion tests.

(This folder is not called ``tests/dask``: as a test package it would shadow the dask library.)
"""

from __future__ import annotations

from pathlib import Path

from oxen_async import Author, RemoteRepo

AUTHOR = Author("Ada Lovelace", "ada@example.com")


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def many_files(n: int, tops: int = 4) -> dict[str, bytes]:
    """``n`` small files under ``tops`` top-level folders, each with its own content."""
    return {
        f"top{i % tops}/d{i % 7}/f{i}.txt": f"file {i}\n".encode() * (1 + i % 9) for i in range(n)
    }


async def tree_ids(repo: RemoteRepo, revision: str) -> dict[str, str]:
    """path -> content id of every file at ``revision``."""
    return {path: entry.hash async for path, entry in repo.dirs.walk(revision)}


async def commit_count(repo: RemoteRepo, branch: str = "main") -> int:
    page = await repo.commits.history_page(branch, page_size=100)
    return page.total_entries
