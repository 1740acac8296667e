"""What the uploader needs of a repository, as a protocol: ``client.UploadTarget`` fits it, and
the upload package never imports the client (no client -> upload -> client cycle)."""

from __future__ import annotations

from typing import Protocol

from ..api.branches import Branches
from ..api.commits import Commits
from ..api.dirs import Dirs
from ..api.files import Files
from ..api.uploads import Uploads
from ..api.versions import Versions
from ..api.workspaces import Workspaces
from ..http.retry import RetryPolicy
from ..models import RepositoryInfo


class UploadTarget(Protocol):
    branches: Branches
    commits: Commits
    dirs: Dirs
    files: Files  # the manifest's reads of the branch (upload/manifest.py)
    workspaces: Workspaces
    versions: Versions
    uploads: Uploads

    @property
    def full_name(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def retry(self) -> RetryPolicy: ...

    async def info(self) -> RepositoryInfo: ...
