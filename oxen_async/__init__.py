"""oxen_async: an asyncio-first client for the Oxen data version control HTTP API."""

from ._version import __version__
from .api.versions import VersionUploadError
from .api.workspaces import PartialFailure
from .client import OxenClient, RemoteRepo
from .config import Author
from .download import DownloadReport, download_folder, iter_files
from .errors import (
    AlreadyExistsError,
    BadRequestError,
    ConfigError,
    ConflictError,
    FileChangedError,
    HTTPError,
    IntegrityError,
    NotFoundError,
    NothingToCommitError,
    OxenError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnprocessableError,
    UpdateRequiredError,
)
from .hashing import hash_bytes, hash_file
from .models import (
    Branch,
    Commit,
    CommitPage,
    DirListing,
    ErrFile,
    Mergeability,
    MetadataEntry,
    Repository,
    RepositoryInfo,
    StagedChanges,
    VersionInfo,
    Workspace,
)
from .multipart import FilePart
from .session import RetryPolicy

__all__ = [
    "AlreadyExistsError",
    "Author",
    "BadRequestError",
    "Branch",
    "Commit",
    "CommitPage",
    "ConfigError",
    "ConflictError",
    "DirListing",
    "DownloadReport",
    "ErrFile",
    "FileChangedError",
    "FilePart",
    "HTTPError",
    "IntegrityError",
    "Mergeability",
    "MetadataEntry",
    "NotFoundError",
    "NothingToCommitError",
    "OxenClient",
    "OxenError",
    "PartialFailure",
    "RateLimitedError",
    "RemoteRepo",
    "Repository",
    "RepositoryInfo",
    "RetryPolicy",
    "ServerError",
    "StagedChanges",
    "TransportError",
    "UnauthorizedError",
    "UnprocessableError",
    "UpdateRequiredError",
    "VersionInfo",
    "VersionUploadError",
    "Workspace",
    "__version__",
    "download_folder",
    "hash_bytes",
    "hash_file",
    "iter_files",
]
