"""Repositories: create, get, exists, delete, list a namespace; the namespace rule."""

from __future__ import annotations

import contextlib
import re

from .. import paths
from ..errors import AlreadyExistsError, ConfigError, NotFoundError
from ..models import (
    NewRepository,
    Repository,
    RepositoryInfo,
    RepositoryInfoResponse,
    RepositoryListResponse,
    RepositoryResponse,
    StatusResponse,
)
from ..session import Session

# oxen-server 0.65 (liboxen repositories.rs) and the hub: an ASCII letter or digit, then 1 to 49
# of letters, digits, '_' or '-' (no '.', which repository names may have).
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,49}")


def check_namespace(namespace: str) -> str:
    """``namespace`` if the current server line accepts it, else a ConfigError saying why.

    Checked before any request: 0.65 refuses other namespaces (0.53.4 allowed '.', but no
    hub namespace has one)."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ConfigError(
            f"invalid namespace {namespace!r}: 2 to 50 of A-Z a-z 0-9 _ -, "
            "starting with a letter or digit"
        )
    return namespace


class Repositories:
    def __init__(self, session: Session) -> None:
        self._s = session

    @staticmethod
    def _path(namespace: str, name: str) -> str:
        return f"/api/repos/{paths.segment(check_namespace(namespace))}/{paths.segment(name)}"

    async def create(self, namespace: str, name: str) -> Repository:
        """Create an empty repository. Raises AlreadyExistsError (409) if it exists."""
        check_namespace(namespace)
        resp = await self._s.request(
            "POST",
            "/api/repos",
            RepositoryResponse,
            json=NewRepository(namespace=namespace, name=name),
        )
        return resp.repository

    async def get(self, namespace: str, name: str) -> RepositoryInfo:
        resp = await self._s.request("GET", self._path(namespace, name), RepositoryInfoResponse)
        return resp.repository

    async def exists(self, namespace: str, name: str) -> bool:
        try:
            await self.get(namespace, name)
        except NotFoundError:
            return False
        return True

    async def get_or_create(self, namespace: str, name: str) -> RepositoryInfo:
        try:
            return await self.get(namespace, name)
        except NotFoundError:
            pass
        with contextlib.suppress(AlreadyExistsError):  # created meanwhile elsewhere: fine
            await self.create(namespace, name)
        return await self.get(namespace, name)

    async def delete(self, namespace: str, name: str) -> None:
        """Delete a repository. The real server deletes in the background after answering."""
        await self._s.request("DELETE", self._path(namespace, name), StatusResponse)

    async def list(self, namespace: str) -> list[Repository]:
        """Repositories of a namespace, sorted by name (the server's order is arbitrary)."""
        resp = await self._s.request(
            "GET", f"/api/repos/{paths.segment(check_namespace(namespace))}", RepositoryListResponse
        )
        return sorted(resp.repositories, key=lambda r: r.name)
