"""The entry point: ``OxenClient`` owns one HTTP session; ``RemoteRepo`` groups the calls
on one repository."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import aiohttp

from . import config
from .api._scope import RepoScope
from .api.branches import Branches
from .api.commits import Commits
from .api.dirs import Dirs
from .api.files import Files
from .api.repos import Repositories, check_namespace
from .api.uploads import Uploads
from .api.versions import Versions
from .api.workspaces import Workspaces
from .errors import ConfigError
from .http import RetryPolicy, Session
from .models import RepositoryInfo

if TYPE_CHECKING:
    from .download import ContentCache, DownloadReport
    from .upload.report import UploadReport


class OxenClient:
    """An async client for one Oxen host.

    ``async with OxenClient("http://localhost:3000", token=...) as oxen:`` then
    ``repo = oxen.repo("ns/name")``. Host and token fall back to ``OXEN_HOST`` /
    ``OXEN_AUTH_TOKEN`` and to oxen's own ``auth_config.toml``. Safe to share across tasks.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        token: str | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
        max_connections: int = 32,
        retry: RetryPolicy | None = None,
    ) -> None:
        resolved = config.resolve_host(host)
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        self.session = Session(
            resolved,
            token=config.resolve_token(token, resolved),
            max_connections=max_connections,
            retry=retry or RetryPolicy(),
            **kwargs,
        )
        self.repos = Repositories(self.session)

    @property
    def host(self) -> str:
        return self.session.host

    def __repr__(self) -> str:
        return f"OxenClient({self.session!r})"

    async def __aenter__(self) -> Self:
        await self.session.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.session.close()

    def repo(self, namespace_or_full: str, name: str | None = None) -> RemoteRepo:
        """``repo("ns/name")`` or ``repo("ns", "name")``."""
        if name is None:
            namespace, sep, name = namespace_or_full.partition("/")
            if not sep:
                raise ConfigError(f"expected NAMESPACE/REPO, got {namespace_or_full!r}")
        else:
            namespace = namespace_or_full
        return RemoteRepo(self.session, namespace, name)


class RemoteRepo:
    """The calls on one repository, grouped by resource."""

    def __init__(self, session: Session, namespace: str, name: str) -> None:
        from . import paths

        for part in (namespace, name):
            paths.segment(part)  # validates: one plain path segment each
        check_namespace(namespace)
        self.scope = RepoScope(session, namespace, name)
        self.branches = Branches(self.scope)
        self.commits = Commits(self.scope)
        self.dirs = Dirs(self.scope)
        self.files = Files(self.scope)
        self.workspaces = Workspaces(self.scope)
        self.versions = Versions(self.scope)
        self.uploads = Uploads(self.scope)

    @property
    def namespace(self) -> str:
        return self.scope.namespace

    @property
    def name(self) -> str:
        return self.scope.name

    @property
    def full_name(self) -> str:
        return self.scope.full_name

    @property
    def host(self) -> str:
        """The host this repository lives on (as the client was given it)."""
        return self.scope.session.host

    @property
    def retry(self) -> RetryPolicy:
        """The client's retry policy: workflows on this repository derive theirs from it."""
        return self.scope.session.retry

    async def info(self) -> RepositoryInfo:
        """The repository as the server shows it (emptiness, branch count, size)."""
        return await Repositories(self.scope.session).get(self.namespace, self.name)

    def __repr__(self) -> str:
        return f"RemoteRepo({self.full_name!r} at {self.scope.session.host!r})"

    async def upload_folder(
        self, local_dir: str | os.PathLike[str], **options: Any
    ) -> UploadReport:
        """Land a local folder as one commit on a branch (``oxen_async.upload``)."""
        from .upload.pipeline import upload_folder

        return await upload_folder(self, local_dir, **options)

    async def download_folder(
        self,
        revision: str,
        remote_dir: str,
        local_dir: str | os.PathLike[str],
        *,
        concurrency: int = 8,
        cache: ContentCache | None = None,
        verify_manifest: bool | str = False,
    ) -> DownloadReport:
        """Mirror ``remote_dir`` at ``revision`` into ``local_dir``, skipping files already
        there with the same content id (``oxen_async.download.download_folder``), checked
        against its blake3 manifest with ``verify_manifest``."""
        from .download import download_folder

        return await download_folder(
            self,
            revision,
            remote_dir,
            local_dir,
            concurrency=concurrency,
            cache=cache,
            verify_manifest=verify_manifest,
        )

    def iter_files(
        self,
        revision: str,
        remote_dir: str = "",
        *,
        concurrency: int = 8,
        ordered: bool = True,
        buffer_bytes: int = 64 * 1024 * 1024,
        cache: ContentCache | None = None,
    ) -> AsyncGenerator[tuple[str, bytes]]:
        """``async for path, data in repo.iter_files("main", "images"):`` with bounded
        concurrency and memory, small files many to a request
        (``oxen_async.download.iter_files``)."""
        from .download import iter_files

        return iter_files(
            self,
            revision,
            remote_dir,
            concurrency=concurrency,
            ordered=ordered,
            buffer_bytes=buffer_bytes,
            cache=cache,
        )
