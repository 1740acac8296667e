"""Fixtures for the fsspec filesystem: a filesystem on a fresh repository, its URLs, and a
counter of what crossed the wire (a wrapper around the session, so it counts the same way
against the bundled and the real server)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("fsspec", reason="the fsspec tests need the fsspec extra (oxen-async[fsspec])")

from fsspec.asyn import sync

from oxen_async.fs import OxenFileSystem, register
from oxen_async.http import Session
from oxen_async.testing.handle import RepoHandle

AUTHOR = {"author_name": "fsspec tests", "author_email": "fsspec-tests@example.com"}

register()  # oxen:// and oxen-async:// in this process (our package is not installed here)


def options(repo: RepoHandle) -> dict[str, Any]:
    return {"host": repo.server.url, "token": repo.server.token, **AUTHOR}


@pytest.fixture
def storage_options(oxen_repo: RepoHandle) -> dict[str, Any]:
    return options(oxen_repo)


@pytest.fixture
def url(oxen_repo: RepoHandle) -> Callable[[str], str]:
    return lambda path: f"oxen://{oxen_repo.namespace}:{oxen_repo.name}@main/{path}"


@pytest.fixture
def fs(oxen_repo: RepoHandle) -> Iterator[OxenFileSystem]:
    filesystem = OxenFileSystem(
        oxen_repo.namespace, oxen_repo.name, skip_instance_cache=True, **options(oxen_repo)
    )
    yield filesystem
    filesystem.close()


def rel(fs: OxenFileSystem, names: Any) -> Any:
    """Names without the ``ns:repo@revision/`` they all start with (one name or many)."""
    if isinstance(names, str):
        assert names == fs.prefix or names.startswith(f"{fs.prefix}/"), names
        return names[len(fs.prefix) + 1 :]
    return sorted(rel(fs, n) for n in names)


def run(fs: OxenFileSystem, coro: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``coro()`` on the filesystem's loop, from sync test code."""
    return sync(fs.loop, coro)


def history(fs: OxenFileSystem, revision: str = "main") -> list[Any]:
    async def commits() -> list[Any]:
        return [c async for c in (await fs._repo()).commits.history(revision)]

    result: list[Any] = run(fs, commits)
    return result


@dataclass
class Exchange:
    method: str
    path: str
    params: dict[str, Any]
    body_bytes: int


@dataclass
class Wire:
    """Every request the client made, with the size of each answer's body."""

    exchanges: list[Exchange] = field(default_factory=list)

    def to(self, route: str) -> list[Exchange]:
        """Exchanges whose path has ``/{route}/`` after the repository."""
        return [e for e in self.exchanges if f"/{route}/" in e.path]

    def bytes_from(self, *routes: str) -> int:
        return sum(e.body_bytes for r in routes for e in self.to(r))

    def clear(self) -> None:
        self.exchanges.clear()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    record = Wire()
    original = Session._exchange

    async def counting(
        self: Session, method: str, path: str, options: Any, *, read: Any
    ) -> tuple[Any, Any]:
        resp, raw = await original(self, method, path, options, read=read)
        params = dict(options.get("params") or {})
        # A streamed answer (``read=None``) is read by its caller: no body counted here.
        record.exchanges.append(Exchange(method, path, params, len(raw) if raw else 0))
        return resp, raw

    monkeypatch.setattr(Session, "_exchange", counting)
    return record
