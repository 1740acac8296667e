"""msgspec Structs for every wire type of the Oxen HTTP API (oxen-server 0.53.4).

Unknown fields are ignored (msgspec's default), so a newer server adding keys breaks nothing.
Timestamps stay strings as the server sends them (RFC 3339, up to 9 fractional digits); use
``Commit.datetime`` for a ``datetime``. Envelope types (``*Response``) are what the session
decodes; the api/ layer unwraps them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

# msgspec cannot decode ``Raw | None`` (it then expects only null), so raw fields are plain
# ``Raw`` holding ``null`` when the server sent null or nothing.
NULL = msgspec.Raw(b"null")


class Model(msgspec.Struct, kw_only=True, gc=False):
    """Base of every wire type.

    ``gc=False``: wire values hold no reference cycles, and leaving a big listing's hundreds of
    thousands of structs out of the cyclic GC halves its decode time.
    """


class Commit(Model, kw_only=True):
    id: str
    parent_ids: tuple[str, ...] = ()
    """A tuple, not a list: the GC stops tracking tuples of strings, which matters for listings
    that repeat two commits per entry."""
    message: str = ""
    author: str = ""
    email: str = ""
    timestamp: str = ""

    @property
    def datetime(self) -> datetime:
        # fromisoformat (3.11+) accepts 'Z' and truncates nanoseconds to microseconds.
        return datetime.fromisoformat(self.timestamp)


class Branch(Model, kw_only=True):
    name: str
    commit_id: str


class DataTypeCount(Model, kw_only=True):
    count: int
    data_type: str


class Repository(Model, kw_only=True):
    """A repository as the create and list endpoints describe it."""

    namespace: str
    name: str
    min_version: str | None = None
    latest_commit: Commit | None = None
    storage_kind: str | None = None
    repo_uuid: str | None = None
    """0.65: the immutable UUID the repository's storage is addressed by (absent before)."""


class ParsedResource(Model, kw_only=True):
    """How the server resolved a ``{revision}/{path}`` resource."""

    workspace: msgspec.Raw = NULL
    """The workspace, when the revision named one (raw JSON; ``null`` otherwise)."""
    commit: Commit | None = None
    branch: Branch | None = None
    path: str = ""
    version: str = ""
    resource: str = ""


class RepositoryInfo(Model, kw_only=True):
    """A repository as ``GET /api/repos/{ns}/{repo}`` shows it."""

    namespace: str
    name: str
    min_version: str | None = None
    is_empty: bool = True
    size: int = 0
    branch_count: int = 0
    data_types: list[DataTypeCount] = []
    storage_kind: str | None = None
    default_resource: ParsedResource | None = None
    repo_uuid: str | None = None
    """0.65: as on ``Repository``."""


class MetadataEntry(Model, kw_only=True):
    """One file or directory of a listing.

    ``metadata`` stays raw JSON (decoding it for every entry of a big listing would cost more
    than the rest of the entry): ``entry.metadata_dict()`` decodes it on demand.
    """

    filename: str
    hash: str = ""
    is_dir: bool = False
    size: int = 0
    latest_commit: Commit | None = None
    resource: ParsedResource | None = None
    data_type: str = ""
    mime_type: str = ""
    extension: str = ""
    metadata: msgspec.Raw = NULL
    is_queryable: bool | None = None
    children: list[MetadataEntry] | None = None

    def metadata_dict(self) -> dict[str, Any] | None:
        """The per-type metadata (``{"text": {...}}``, ``{"image": {...}}``, ...) or None."""
        value = msgspec.json.decode(self.metadata)
        return value if isinstance(value, dict) else None


class DirResource(Model, kw_only=True):
    path: str = ""
    version: str = ""


class Page(Model, kw_only=True):
    page_size: int = 0
    page_number: int = 0
    total_pages: int = 0
    total_entries: int = 0


class EntryHash(Model, kw_only=True):
    """A listing entry as a sync compares it: name, content id, kind. Decoding only these
    costs half of decoding the whole entry (its commit, resource and metadata objects)."""

    filename: str
    hash: str = ""
    is_dir: bool = False


class BriefMetadata(Model, kw_only=True):
    """Of an entry's ``metadata``, only a folder's file counts (``dir``), raw.

    Not the whole object raw: a ``Raw`` is a view that keeps the whole response body alive,
    and a file's metadata (``{"text": {...}}``) held that way pinned a nested listing's ~9 MB
    body for as long as any of its files waited to be fetched. A file has no ``dir``, so it
    pins nothing; a folder's entry is dropped once its counts and children are read."""

    dir: msgspec.Raw = NULL


class EntryBrief(Model, kw_only=True):
    """A listing entry as a walk needs it: name, content id, size, kind, and for a folder its
    file counts (``metadata.dir``) and what came nested (``children``); not its commit and
    resource objects. A nested listing of 10,000 files raised the peak RSS by ~27 MB decoded
    this way, ~37 MB as whole ``MetadataEntry`` objects."""

    filename: str
    hash: str = ""
    is_dir: bool = False
    size: int = 0
    metadata: BriefMetadata | None = None
    children: list[EntryBrief] | None = None


class DirBrief(Page, kw_only=True):
    """A directory listing page decoded as ``EntryBrief`` entries only."""

    entries: list[EntryBrief] = []


class DirHashes(Page, kw_only=True):
    """A directory listing page decoded as ``EntryHash`` entries only."""

    entries: list[EntryHash] = []


class DirListing(Page, kw_only=True):
    dir: MetadataEntry | None = None
    entries: list[MetadataEntry] = []
    resource: DirResource | None = None


class CommitPage(Page, kw_only=True):
    commits: list[Commit] = []
    has_more: bool | None = None
    """0.65 path history pages by this alone (no ``total_pages``); None where not sent."""


class Workspace(Model, kw_only=True):
    id: str
    name: str | None = None
    commit: Commit | None = None
    created_at: str | None = None
    """0.65: when the workspace was made (RFC 3339); absent on 0.53.4 and on older workspaces."""


class ErrFile(Model, kw_only=True):
    """A file the server failed to store (``err_files`` of ``POST /versions``)."""

    hash: str
    path: str | None = None
    error: str = ""


class VersionInfo(Model, kw_only=True):
    hash: str
    size: int


class Conflict(Model, kw_only=True):
    path: str


class Mergeability(Model, kw_only=True):
    is_mergeable: bool
    conflicts: list[Conflict] = []
    commits: list[Commit] = []


class ChangeEntry(Model, kw_only=True):
    filename: str


class ChangePage(Page, kw_only=True):
    entries: list[ChangeEntry] = []


class StagedChanges(Model, kw_only=True):
    added_files: ChangePage = msgspec.field(default_factory=ChangePage)
    modified_files: ChangePage = msgspec.field(default_factory=ChangePage)
    removed_files: ChangePage = msgspec.field(default_factory=ChangePage)


# --- envelopes --------------------------------------------------------------------------------


class StatusResponse(Model, kw_only=True):
    status: str = ""
    status_message: str = ""
    oxen_version: str | None = None


class RepositoryResponse(StatusResponse, kw_only=True):
    repository: Repository


class RepositoryInfoResponse(StatusResponse, kw_only=True):
    repository: RepositoryInfo


class RepositoryListResponse(StatusResponse, kw_only=True):
    repositories: list[Repository] = []


class BranchResponse(StatusResponse, kw_only=True):
    branch: Branch


class BranchListResponse(StatusResponse, kw_only=True):
    branches: list[Branch] = []


class CommitResponse(StatusResponse, kw_only=True):
    commit: Commit


# The status fields are ignored: the page decodes straight from the response.
CommitPageResponse = CommitPage


# The status fields are ignored: the page decodes straight from the response.
DirListingResponse = DirListing


class MetaResponse(StatusResponse, kw_only=True):
    entry: MetadataEntry


class WorkspaceResponse(StatusResponse, kw_only=True):
    workspace: Workspace


class WorkspaceListResponse(StatusResponse, kw_only=True):
    workspaces: list[Workspace] = []


class PathsResponse(StatusResponse, kw_only=True):
    paths: list[str] = []


class ErrFilesResponse(StatusResponse, kw_only=True):
    err_files: list[ErrFile] = []


class VersionInfoResponse(StatusResponse, kw_only=True):
    version: VersionInfo


# The status fields are ignored: the page decodes straight from the response.
MergeabilityResponse = Mergeability


class ChangesResponse(StatusResponse, kw_only=True):
    staged: StagedChanges = msgspec.field(default_factory=StagedChanges)


class ErrorDetail(Model, kw_only=True):
    type: str | None = None
    title: str | None = None
    detail: str | None = None


class ErrorBody(Model, kw_only=True):
    """Every JSON error family: plain status, status + description, and structured ``error``."""

    error: ErrorDetail | None = None
    status: str | None = None
    status_message: str | None = None
    status_description: str | None = None

    def message(self) -> str:
        if self.error is not None:
            parts = [p for p in (self.error.title, self.error.detail) if p]
            if parts:
                return ": ".join(parts)
        for text in (self.status_description, self.status_message):
            if text:
                return text
        return ""


# --- request bodies ---------------------------------------------------------------------------


class NewRepository(Model, kw_only=True):
    namespace: str
    name: str


class NewBranchFromBranch(Model, kw_only=True):
    new_name: str
    from_name: str


class NewBranchFromCommit(Model, kw_only=True):
    new_name: str
    commit_id: str


class MoveBranch(Model, kw_only=True):
    commit_id: str


class NewWorkspace(Model, kw_only=True):
    workspace_id: str
    branch_name: str
    name: str | None = None
    resource_path: str = "/"
    entity_type: str = "user"
    force: bool = True


class NewCommit(Model, kw_only=True):
    message: str
    author: str
    email: str


class ChunkedFile(Model, kw_only=True):
    hash: str
    file_name: str
    dst_dir: str | None = None
    num_chunks: int
    upload_results: None = None


class CompleteVersionUpload(Model, kw_only=True):
    files: list[ChunkedFile]
    workspace_id: str | None = None


# --- uploads in parts (oxen-server >= 0.54: /versions/uploads) --------------------------------


class UploadDestination(Model, kw_only=True):
    """Where a finished upload is staged: a workspace and a repo-relative file path."""

    workspace_id: str
    path: str


class BeginUpload(Model, kw_only=True, omit_defaults=True):
    """``POST /versions/uploads``. ``size`` must be > 0 (the server refuses empty files)."""

    hash: str
    size: int
    destination: UploadDestination | None = None


class AwaitingParts(StatusResponse, kw_only=True, tag_field="file", tag="awaiting_parts"):
    """Send parts 1..``num_parts``, each ``part_size`` bytes but the last, at most
    ``part_window`` ahead of the first part the server has not hashed yet."""

    upload_id: str
    part_size: int
    num_parts: int
    part_window: int


class AlreadyStored(StatusResponse, kw_only=True, tag_field="file", tag="already_stored"):
    """The server holds the content already (and staged it at the destination, if given)."""


UploadStart = AwaitingParts | AlreadyStored
"""The answer to ``POST /versions/uploads``, told apart by its ``file`` field."""


class PartStored(StatusResponse, kw_only=True):
    """``PUT /versions/uploads/{id}/parts/{n}``: ``completed`` on the part that finished the
    file (hash-verified and staged)."""

    completed: bool = False
