"""What a folder download did, file by file, and the revision it pinned."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .pathlist import PathList

if TYPE_CHECKING:
    from ..client import RemoteRepo


@dataclass
class DownloadReport:
    """What ``download_folder`` did. Paths are repo-relative, as the listing names them; every
    listed file is in exactly one of ``downloaded``, ``skipped`` and ``failed``."""

    revision: str
    """The commit the folder was read at (the branch head when the call started)."""
    remote_dir: str
    local_dir: Path
    downloaded: PathList = field(default_factory=PathList)
    """Files fetched (or copied from the local cache, see ``from_cache``). A compact list of
    strings (``PathList``): ``list(report.downloaded)`` for a real one."""
    skipped: PathList = field(default_factory=PathList)
    """Files whose local copy already had the listed content id."""
    failed: dict[str, str] = field(default_factory=dict)
    """Path -> reason, for files that could not be fetched or written."""
    bytes_downloaded: int = 0
    seconds: float = 0.0
    from_cache: int = 0
    """How many of ``downloaded`` came from the content cache instead of the network."""
    files_pending: int = 0
    """Files listed but not finished when a fatal error (the server gone) stopped the run."""
    error: str | None = None
    """Why the run stopped early, in one line (then the rest is pending: run it again)."""

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

    @property
    def files(self) -> int:
        return len(self.downloaded) + len(self.skipped) + len(self.failed) + self.files_pending


async def pin_revision(repo: RemoteRepo, revision: str, remote_dir: str) -> str:
    """The commit id behind ``revision``, so a branch that moves meanwhile gives one snapshot.

    Workspace revisions (staged changes on top of a commit) are left as they are.
    """
    listing = await repo.dirs.list_page(revision, remote_dir, page=1, page_size=1)
    res = listing.dir.resource if listing.dir is not None else None
    if res is None or res.commit is None or bytes(res.workspace) != b"null":
        return revision
    return res.commit.id
