"""Local state that makes uploads resumable and reruns cheap (SQLite, one file per target).

- ``staged``: files confirmed staged in the current workspace, with the hash of the bytes
  sent. After a crash the next run reuses the workspace and sends none of them again.
- ``hashes``: content ids by (path, size, mtime, inode), so a rerun on a growing folder does
  not re-read unchanged files. Entries younger than ``RACY_NS`` are not cached: a write in the
  same timestamp tick as the hash would otherwise go unnoticed (git's "racy" problem).

All methods block: the pipeline calls them from worker threads.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError

RACY_NS = 2_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staged (path TEXT PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL, hash TEXT NOT NULL
);
"""


def default_state_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oxen_async" / "uploads"


def state_key(host: str, repo: str, branch: str, dest: str, local_dir: str) -> str:
    text = "\0".join((host, repo, branch, dest, os.path.realpath(local_dir)))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


class StateBusyError(ConfigError):
    """Another upload of the same folder to the same target holds the state."""


class UploadState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One upload per (folder, target) at a time: two would share one workspace record.
        self._lockfile = open(path.with_suffix(".lock"), "a+")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(self._lockfile.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise StateBusyError(
                "another upload of this folder to the same repository, branch and path is running"
            ) from None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._lockfile.close()  # closing the file releases the flock

    # -- workspace --------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def start_workspace(self, workspace_id: str) -> None:
        """Remember a new workspace; what was staged in an older one no longer counts."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM staged")
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('workspace_id', ?)", (workspace_id,)
            )

    def finish_workspace(self) -> None:
        """The workspace was merged or discarded: forget it and its staged files."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM staged")
            self._db.execute("DELETE FROM meta WHERE key='workspace_id'")

    def staged_hash(self, path: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT hash FROM staged WHERE path=?", (path,)).fetchone()
        return str(row[0]) if row else None

    def staged_hashes(self, paths: Iterable[str]) -> dict[str, str]:
        wanted = list(paths)
        out: dict[str, str] = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT path, hash FROM staged WHERE path IN ({marks})"
                out.update(self._db.execute(query, chunk).fetchall())
        return out

    def record_staged(self, items: Iterable[tuple[str, str]]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO staged VALUES (?, ?)", items)

    # -- hash cache -------------------------------------------------------------------------

    def cached_hashes(self, keys: Iterable[tuple[str, int, int, int]]) -> dict[str, str]:
        """Hashes of the given (path, size, mtime_ns, inode) whose cache entry still matches."""
        wanted = {k[0]: k for k in keys}
        out: dict[str, str] = {}
        names = list(wanted)
        with self._lock:
            for i in range(0, len(names), 500):
                chunk = names[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT path, size, mtime_ns, inode, hash FROM hashes WHERE path IN ({marks})",
                    chunk,
                ).fetchall()
                for path, size, mtime_ns, inode, digest in rows:
                    if wanted[path][1:] == (size, mtime_ns, inode):
                        out[path] = digest
        return out

    def cache_hashes(self, items: Iterable[tuple[str, int, int, int, str]]) -> None:
        horizon = time.time_ns() - RACY_NS
        rows = [item for item in items if item[2] < horizon]
        if rows:
            with self._lock, self._db:
                self._db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", rows)
