"""oxen_async: an asyncio-first client for the Oxen data version control HTTP API.

Public names load on first use (PEP 562), so ``import oxen_async`` (and the pytest plugin that
every pytest run of a project that installs us loads) costs almost nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api.versions import VersionUploadError
    from .api.workspaces import PartialFailure
    from .client import OxenClient, RemoteRepo
    from .config import Author
    from .download import DownloadReport, PathList, download_folder, iter_files
    from .errors import (
        AlreadyExistsError,
        BadRequestError,
        ClientStateError,
        ConfigError,
        ConflictError,
        FileChangedError,
        HTTPError,
        IntegrityError,
        ManifestError,
        NotFoundError,
        NothingToCommitError,
        OxenError,
        RateLimitedError,
        ResponseTooLargeError,
        ServerError,
        TransportError,
        UnauthorizedError,
        UnprocessableError,
        UpdateRequiredError,
    )
    from .hashing import hash_bytes, hash_file
    from .manifest import ManifestCheck, verify_manifest
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

# Public name -> the module that defines it.
_EXPORTS = {
    "AlreadyExistsError": ".errors",
    "Author": ".config",
    "BadRequestError": ".errors",
    "Branch": ".models",
    "Commit": ".models",
    "CommitPage": ".models",
    "ClientStateError": ".errors",
    "ConfigError": ".errors",
    "ConflictError": ".errors",
    "DirListing": ".models",
    "download_folder": ".download",
    "DownloadReport": ".download",
    "PathList": ".download",
    "ErrFile": ".models",
    "FileChangedError": ".errors",
    "FilePart": ".multipart",
    "hash_bytes": ".hashing",
    "hash_file": ".hashing",
    "HTTPError": ".errors",
    "IntegrityError": ".errors",
    "iter_files": ".download",
    "ManifestCheck": ".manifest",
    "ManifestError": ".errors",
    "Mergeability": ".models",
    "MetadataEntry": ".models",
    "NotFoundError": ".errors",
    "NothingToCommitError": ".errors",
    "OxenClient": ".client",
    "OxenError": ".errors",
    "PartialFailure": ".api.workspaces",
    "RateLimitedError": ".errors",
    "ResponseTooLargeError": ".errors",
    "RemoteRepo": ".client",
    "Repository": ".models",
    "RepositoryInfo": ".models",
    "RetryPolicy": ".session",
    "ServerError": ".errors",
    "StagedChanges": ".models",
    "TransportError": ".errors",
    "UnauthorizedError": ".errors",
    "UnprocessableError": ".errors",
    "UpdateRequiredError": ".errors",
    "VersionInfo": ".models",
    "VersionUploadError": ".api.versions",
    "verify_manifest": ".manifest",
    "Workspace": ".models",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'oxen_async' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "AlreadyExistsError",
    "Author",
    "BadRequestError",
    "Branch",
    "ClientStateError",
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
    "ManifestCheck",
    "ManifestError",
    "Mergeability",
    "MetadataEntry",
    "NotFoundError",
    "NothingToCommitError",
    "OxenClient",
    "OxenError",
    "PartialFailure",
    "PathList",
    "RateLimitedError",
    "RemoteRepo",
    "Repository",
    "RepositoryInfo",
    "ResponseTooLargeError",
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
    "verify_manifest",
]
