"""Commits: history of a revision (an async iterator over pages) and one commit."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from .. import paths
from ..models import Commit, CommitPage, CommitPageResponse, CommitResponse
from ._scope import RepoScope


class Commits:
    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    async def get(self, commit_id: str) -> Commit:
        path = self._r.path(f"commits/{paths.segment(commit_id)}")
        return (await self._r.session.request("GET", path, CommitResponse)).commit

    async def history_page(
        self, revision: str, path: str = "", *, page: int = 1, page_size: int = 100
    ) -> CommitPage:
        """One page of the history of a branch or commit (of ``path`` within it, if given)."""
        url = self._r.path(f"commits/history/{paths.resource(revision, path)}")
        return await self._r.session.request(
            "GET", url, CommitPageResponse, params={"page": page, "page_size": page_size}
        )

    async def history(
        self, revision: str, path: str = "", *, page_size: int = 100
    ) -> AsyncGenerator[Commit]:
        """Every commit of the history, newest first, fetched a page at a time.

        Pages by ``has_more`` where the server sends it (0.65 path history, which has no
        ``total_pages``), else by ``total_pages`` (0.53.4, and 0.65 branch history).
        """
        page = 1
        while True:
            result = await self.history_page(revision, path, page=page, page_size=page_size)
            for commit in result.commits:
                yield commit
            if not result.commits or _is_last(result, page):
                return
            page += 1


def _is_last(result: CommitPage, page: int) -> bool:
    if result.has_more is not None:
        return not result.has_more
    return page >= result.total_pages
