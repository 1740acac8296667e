"""A local content-addressed cache of blobs (by content id), shared by processes.

Layout under the root: ``blobs/<id[:2]>/<id[2:]>`` and ``tmp/``. Entries are written to a
temporary name and renamed in (two processes writing one id both write the same bytes, the last
rename wins); readers verify the bytes against the id as they copy them out, and a damaged
entry is dropped. Eviction takes an exclusive ``flock`` on ``lock`` and removes the least
recently used entries (by mtime, touched on every hit) until the cache is under 90 % of its
bound. A reader that has a blob open keeps reading it even if it is evicted meanwhile.

Place: ``$OXEN_ASYNC_CACHE``, else the user cache folder (``$XDG_CACHE_HOME/oxen_async``,
``~/.cache/oxen_async``; ``~/Library/Caches/oxen_async`` on macOS,
``%LOCALAPPDATA%/oxen_async/Cache`` on Windows). Every method blocks: use worker threads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError, IntegrityError
from ..hashing import hash_bytes, normalize_hash, same_hash
from .local import TempFile, temp_path_for

CACHE_ENV = "OXEN_ASYNC_CACHE"
DEFAULT_MAX_BYTES = 10 * 1024**3
_COPY_PIECE = 1024 * 1024
RESCAN_FRACTION = 0.05


def default_cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return (Path(base) if base else Path.home() / "AppData" / "Local") / "oxen_async" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "oxen_async"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "oxen_async"


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (``flock``; a no-op where there is none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: eviction then relies on atomic renames
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class ContentCache:
    def __init__(
        self, root: str | os.PathLike[str] | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if max_bytes <= 0:
            raise ConfigError("the cache's max_bytes must be positive")
        self.root = Path(root) if root is not None else default_cache_dir()
        self.max_bytes = max_bytes
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"
        self._lock_file = self.root / "lock"
        self._guard = threading.Lock()
        self._estimate: int | None = None  # this process's view of the total size
        self._added = 0  # bytes this process put since it last saw the real total

    def __repr__(self) -> str:
        return f"ContentCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    def path_for(self, content_id: str) -> Path:
        canonical = normalize_hash(content_id)
        if len(canonical) < 3:
            raise ConfigError(f"not a cacheable content id: {content_id!r}")
        return self._blobs / canonical[:2] / canonical[2:]

    # --- reading -------------------------------------------------------------------------------

    def contains(self, content_id: str) -> bool:
        return self.path_for(content_id).is_file()

    def read(self, content_id: str) -> bytes | None:
        """The blob's bytes, verified; None on a miss (a damaged entry is dropped)."""
        path = self.path_for(content_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if not same_hash(hash_bytes(data), content_id):
            self._drop(path)
            return None
        self._touch(path)
        return data

    def copy_to(self, content_id: str, target: str | Path) -> bool:
        """Put the blob at ``target`` atomically, verified as it is copied; False on a miss."""
        path = self.path_for(content_id)
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below; open before it can go
        except FileNotFoundError:
            return False
        sink = TempFile(target, content_id)
        try:
            with source:
                while piece := source.read(_COPY_PIECE):
                    sink.write(piece)
            sink.commit()
        except IntegrityError:
            self._drop(path)
            return False
        finally:
            sink.discard()
        self._touch(path)
        return True

    # --- writing -------------------------------------------------------------------------------

    def put_file(self, source: str | Path, content_id: str) -> None:
        """Copy a verified file into the cache (a no-op if the id is there already)."""
        path = self.path_for(content_id)
        if path.exists():
            self._touch(path)
            return
        self._tmp.mkdir(parents=True, exist_ok=True)
        temp = temp_path_for(self._tmp / "x")
        try:
            shutil.copyfile(source, temp)
            self._publish(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def put_bytes(self, content_id: str, data: bytes) -> None:
        """Store ``data`` under ``content_id``; IntegrityError if it does not hash to it."""
        if not same_hash(hash_bytes(data), content_id):
            raise IntegrityError(f"bytes do not hash to {content_id}: not cached")
        path = self.path_for(content_id)
        if path.exists():
            self._touch(path)
            return
        self._tmp.mkdir(parents=True, exist_ok=True)
        temp = temp_path_for(self._tmp / "x")
        try:
            temp.write_bytes(data)
            self._publish(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def _publish(self, temp: Path, path: Path) -> None:
        size = temp.stat().st_size
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, path)
        with self._guard:
            if self._estimate is None:
                self._estimate = self.size()
            else:
                self._estimate += size
            self._added += size
            # Other processes add too: look at the real total again after every
            # RESCAN_FRACTION of the bound this process added, so n processes overshoot the
            # bound by at most n x that fraction.
            over = self._estimate > self.max_bytes
            over = over or self._added > self.max_bytes * RESCAN_FRACTION
        if over:
            self.evict()

    # --- size bound ----------------------------------------------------------------------------

    def _entries(self) -> list[tuple[float, int, Path]]:
        found = []
        for path in self._blobs.glob("*/*"):
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                found.append((st.st_mtime, st.st_size, path))
        return found

    def size(self) -> int:
        """Bytes held now (all processes' entries)."""
        return sum(size for _, size, _ in self._entries())

    def evict(self, target_bytes: int | None = None) -> int:
        """Remove least recently used entries until at most ``target_bytes`` (90 % of the bound
        by default) remain. Returns the bytes removed."""
        goal = int(self.max_bytes * 0.9) if target_bytes is None else target_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        removed = 0
        with _exclusive(self._lock_file):
            entries = sorted(self._entries())
            total = sum(size for _, size, _ in entries)
            for _, size, path in entries:
                if total <= goal:
                    break
                self._drop(path)
                total -= size
                removed += size
        with self._guard:
            self._estimate = total
            self._added = 0
        return removed

    def clear(self) -> None:
        self.evict(0)

    @staticmethod
    def _touch(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)

    @staticmethod
    def _drop(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
