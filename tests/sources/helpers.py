from __future__ import annotations

from oxen_async import Author, RemoteRepo

AUTHOR = Author("Source Test", "source@example.com")


async def branch_files(repo: RemoteRepo, branch: str = "main") -> dict[str, str]:
    """Every file on the branch head: repo path -> content id."""
    return {path: entry.hash async for path, entry in repo.dirs.walk(branch, "")}


async def commit_count(repo: RemoteRepo, branch: str = "main") -> int:
    try:
        page = await repo.commits.history_page(branch, page_size=100)
    except LookupError:
        return 0
    return page.total_entries
