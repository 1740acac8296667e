"""What every per-repository call group shares: the session and the repository's base path."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .. import paths
from ..http.session import Session
from ..models import Page


@dataclass(frozen=True)
class RepoScope:
    session: Session
    namespace: str
    name: str

    @property
    def base(self) -> str:
        return f"/api/repos/{paths.segment(self.namespace)}/{paths.segment(self.name)}"

    def path(self, tail: str) -> str:
        """``/api/repos/{ns}/{name}/{tail}``; ``tail`` is already quoted."""
        return f"{self.base}/{tail}"

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


P = TypeVar("P", bound=Page)
T = TypeVar("T")


async def every_item(
    fetch: Callable[[int], Awaitable[P]], items: Callable[[P], Sequence[T]]
) -> AsyncGenerator[T]:
    """Every item of a paginated listing, one page (1-based) fetched at a time."""
    page = 1
    while True:
        result = await fetch(page)
        batch = items(result)
        for item in batch:
            yield item
        if not batch or page >= result.total_pages:
            return
        page += 1
