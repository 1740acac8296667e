"""What the caller of an upload asked for, checked and resolved once, and the sizes that bound
the pipeline's memory."""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config, limits, paths
from ..errors import ConfigError
from .pack import CompressMode
from .removal_guard import RemovalGuard
from .report import ProgressCallback
from .sources.remote import RemoteSource, is_url, local_path_of, open_source
from .state import default_state_dir

MiB = 1024 * 1024
LARGE_FILE = 10 * MiB  # the server's gzip inflate cap; the official client's threshold too
# Eight requests of a few MiB keep a server busy without holding much memory on either side.
DEFAULT_CONCURRENCY = 8
DEFAULT_BATCH_BYTES = 4 * MiB
DEFAULT_BATCH_FILES = 1000


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the files whose path hashes to ``index`` (shards.py)."""

    index: int
    count: int

    def holds(self, rel_path: str) -> bool:
        """Whether this shard uploads ``rel_path``."""
        return self.of(rel_path, self.count) == self.index

    @staticmethod
    def of(rel_path: str, count: int) -> int:
        """The shard of ``count`` that uploads ``rel_path``: a stable hash, the same on every
        machine (the driver partitions its listing by it, ``upload.share``)."""
        return zlib.crc32(os.fsencode(rel_path)) % count


@dataclass(frozen=True)
class UploadSettings:
    """The checked arguments of one ``upload_folder`` call."""

    root: Path
    branch: str
    dest: str
    message: str | None
    author: config.Author
    concurrency: int
    batch_bytes: int
    batch_files: int
    compress: CompressMode
    large_threshold: int
    resume: bool
    delete_missing: bool
    state_dir: Path
    on_progress: ProgressCallback | None
    removal_guard: RemovalGuard = field(default_factory=RemovalGuard)
    # A caller-named workspace (a Dask shard's): stage into it, never merge it.
    workspace_id: str | None = None
    shard: Shard | None = None
    # An fsspec URL source (upload.sources); None: the local folder ``root``.
    source: RemoteSource | None = None
    # A Dask shard's share of the driver's listing (``upload.share``): staged instead of a walk.
    share: bytes | None = field(default=None, repr=False)

    @property
    def source_key(self) -> str:
        """What the upload state is keyed on: the folder's path, or the source URL."""
        return self.source.key if self.source is not None else str(self.root)

    manifest: str | None = None  # the blake3 manifest's path relative to ``dest``, if any

    @property
    def merges(self) -> bool:
        """False for an upload into a caller-named workspace: its caller merges."""
        return self.workspace_id is None

    @property
    def prefix(self) -> str:
        """What goes before a local relative path to make its repo path."""
        return f"{self.dest}/" if self.dest else ""

    def remote_path(self, rel: str) -> str:
        """The repo path of a path relative to the local folder ("" is the folder itself)."""
        return f"{self.dest}/{rel}" if self.dest and rel else (self.dest or rel)


def absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def resolve_state_dir(state_dir: str | os.PathLike[str] | None) -> Path:
    """The upload state's folder: the caller's, or the default (absolute either way)."""
    return absolute(Path(state_dir) if state_dir else default_state_dir())


def check_folder(root: Path) -> Path:
    if not root.exists():
        raise ConfigError(f"local folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ConfigError(f"{str(root)!r} is a file, not a folder")
    return root


def resolve(
    local_dir: str | os.PathLike[str],
    *,
    branch: str,
    dest: str,
    message: str | None,
    author: config.Author | None,
    concurrency: int,
    batch_bytes: int,
    batch_files: int,
    compress: CompressMode,
    large_file_threshold: int,
    resume: bool,
    delete_missing: bool,
    state_dir: str | os.PathLike[str] | None,
    progress: ProgressCallback | None,
    max_delete: int | None = None,
    force_delete: bool = False,
    workspace_id: str | None = None,
    shard: Shard | None = None,
    storage_options: Mapping[str, Any] | None = None,
    manifest: bool | str | None = None,
    share: bytes | None = None,
) -> UploadSettings:
    """Check every argument; raise ConfigError naming the first bad one. ``local_dir`` may be
    an fsspec URL (``s3://bucket/prefix``), opened with ``storage_options``."""
    source = open_source(local_dir, storage_options) if is_url(local_dir) else None
    if source is None and storage_options:
        raise ConfigError("storage_options only apply to a URL source (s3://..., memory://...)")
    if source is not None and delete_missing:
        raise ConfigError(f"{local_dir}: delete_missing is for local folders only, for now")
    if source is None:
        root = check_folder(absolute(Path(local_path_of(os.fspath(local_dir)))))
    else:
        root = Path(source.url)  # not a local path: state keys and messages use source_key
    limits.upload_settings(concurrency, batch_bytes, batch_files)
    guard = RemovalGuard(max_delete=max_delete, force=force_delete)
    if large_file_threshold > LARGE_FILE:
        raise ConfigError(f"large_file_threshold cannot exceed the server's {LARGE_FILE} byte cap")
    if shard is not None and not 0 <= shard.index < shard.count:
        raise ConfigError(f"shard {shard.index} of {shard.count} does not exist")
    if share is not None and shard is None:
        raise ConfigError("a share of a listing needs its shard")
    if workspace_id is not None and delete_missing:
        raise ConfigError("delete_missing needs the whole folder: not with a named workspace")
    manifest_rel = manifest_path(
        root, manifest, named_workspace=workspace_id is not None, local=source is None
    )
    who = author or config.resolve_author()
    if who is None:
        raise ConfigError(
            "no commit author: pass author=Author(name, email) to upload_folder, or set name and "
            f"email in {config.config_dir() / 'user_config.toml'}"
        )
    return UploadSettings(
        root=root,
        branch=branch,
        dest=paths.repo_path(dest),
        message=message,
        author=who,
        concurrency=concurrency,
        batch_bytes=batch_bytes,
        batch_files=batch_files,
        compress=compress,
        large_threshold=large_file_threshold,
        resume=resume,
        delete_missing=delete_missing,
        state_dir=resolve_state_dir(state_dir),
        on_progress=progress,
        removal_guard=guard,
        workspace_id=workspace_id,
        shard=shard,
        source=source,
        manifest=manifest_rel,
        share=share,
    )


def manifest_path(
    root: Path, manifest: bool | str | None, *, named_workspace: bool, local: bool = True
) -> str | None:
    """The manifest's path relative to the upload's folder: True is ``MANIFEST.b3sum`` in the
    upload's target folder; a string is a path there (the manifest covers the files under its
    own folder). Raises ConfigError for an unusable one."""
    if manifest is None or manifest is False:
        return None
    from ..manifest import DEFAULT_MANIFEST

    rel = DEFAULT_MANIFEST if manifest is True else paths.repo_path(str(manifest))
    if not rel:
        raise ConfigError("manifest: an empty path; pass True for MANIFEST.b3sum")
    if named_workspace:
        raise ConfigError("manifest needs the whole upload in one run: not with a named workspace")
    if local and os.path.lexists(root / rel):  # a URL source is asked in ``run_upload``
        raise manifest_taken(rel)
    return rel


def manifest_taken(rel: str) -> ConfigError:
    """The refusal of a manifest path that the folder (local or a URL source) already holds."""
    return ConfigError(
        f"manifest {rel!r}: the folder has a file of that name, which the manifest would "
        "replace; pick another path"
    )
