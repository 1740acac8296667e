"""Local state that makes uploads resumable and reruns cheap (SQLite, one file per target).

- ``staged``: files staged in the current workspace, with the hash of the bytes sent (``-`` for
  a staged removal). After a crash the next run reuses the workspace and sends none of them
  again. ``seen`` marks the rows this run confirmed; what an earlier run staged and this run
  no longer wants (the file was deleted or changed back) is unstaged before the merge.
- ``hashes``: content ids by (path, size, mtime, inode), so a rerun on a growing folder does
  not re-read unchanged files. Entries younger than ``RACY_NS`` are not cached: a write in the
  same timestamp tick as the hash would otherwise go unnoticed (git's "racy" problem).
- ``pieces``: scanned directory pieces by fingerprint (their files' names, sizes, mtimes and
  inodes, see planner.py) known to match the commit in ``meta.synced_commit``. While the branch
  head is that commit, a piece with the same fingerprint is unchanged as a whole: no listing,
  no hash lookup. Rows a run notes are ``same`` (verified against the head) or ``sent`` (the
  rest of its files sent); the run's end settles them as ``synced`` to the commit it leaves.
- ``blake3``: blake3 by content id, from bytes an upload read (for its manifest, see
  upload/manifest.py): a fact about content, so a rerun knows the lines of files it skips.

All methods block: the pipeline calls them from worker threads. Writes run in explicit
transactions (one commit per batch of rows, not per row).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError

RACY_NS = 2_000_000_000
SCHEMA_VERSION = 3
REMOVED = "-"  # the hash recorded for a staged removal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staged (
    path TEXT PRIMARY KEY, hash TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blake3 (xxh3 TEXT PRIMARY KEY, b3 TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pieces (
    dir TEXT NOT NULL, digest TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (dir, digest, kind)
) WITHOUT ROWID;
"""
SYNCED, SAME, SENT = "synced", "same", "sent"  # the kinds of ``pieces`` rows


STATE_DIR_ENV = "OXEN_ASYNC_STATE_DIR"


def default_state_dir() -> Path:
    """``$OXEN_ASYNC_STATE_DIR``, else ``$XDG_CACHE_HOME/oxen_async/uploads`` (~/.cache/...)."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oxen_async" / "uploads"


def state_key(host: str, repo: str, branch: str, dest: str, local_dir: str) -> str:
    # A URL source (upload.sources) is its own key; a local folder its real path.
    where = local_dir if "://" in local_dir else os.path.realpath(local_dir)
    text = "\0".join((host, repo, branch, dest, where))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


class StateBusyError(ConfigError):
    """Another upload of the same folder to the same target holds the state."""


def _each_in(db: sqlite3.Connection, template: str, paths: list[str]) -> list[Any]:
    """Run ``template`` for ``paths``, 500 at a time (SQLite's limit on bound values), its
    ``{}`` standing for the ``IN`` list; the rows of every run."""
    rows: list[Any] = []
    for i in range(0, len(paths), 500):
        chunk = paths[i : i + 500]
        rows += db.execute(template.format(",".join("?" * len(chunk))), chunk).fetchall()
    return rows


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
        if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            # State from another layout: a cache, so start afresh rather than migrate.
            self._db.executescript(
                "DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS staged;"
                " DROP TABLE IF EXISTS hashes; DROP TABLE IF EXISTS pieces;"
            )
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._lockfile.close()  # closing the file releases the flock

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- workspace --------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def start_workspace(self, workspace_id: str) -> None:
        """Remember a new workspace; what was staged in an older one no longer counts."""
        with self._write() as db:
            db.execute("DELETE FROM staged")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('workspace_id', ?)", (workspace_id,))

    def finish_workspace(self) -> None:
        """The workspace was merged or discarded: forget it and its staged files."""
        with self._write() as db:
            db.execute("DELETE FROM staged")
            db.execute("DELETE FROM meta WHERE key='workspace_id'")

    def begin_resumed_run(self) -> None:
        """Nothing an earlier run staged is confirmed until this run says so."""
        with self._write() as db:
            db.execute("UPDATE staged SET seen=0")

    def confirm(self, paths: Iterable[str]) -> None:
        items = list(paths)
        if items:
            with self._write() as db:
                _each_in(db, "UPDATE staged SET seen=1 WHERE path IN ({})", items)

    def confirmed(self, paths: Iterable[str]) -> set[str]:
        """Which of ``paths`` this run staged or confirmed."""
        query = "SELECT path FROM staged WHERE seen=1 AND path IN ({})"
        with self._lock:
            return {row[0] for row in _each_in(self._db, query, list(paths))}

    def staged_hashes(self, paths: Iterable[str]) -> dict[str, str]:
        with self._lock:
            rows = _each_in(
                self._db, "SELECT path, hash FROM staged WHERE path IN ({})", list(paths)
            )
        return dict(rows)

    def staged_files(self) -> list[tuple[str, str]]:
        """(path, content id) of every file this run staged or confirmed, by path."""
        query = "SELECT path, hash FROM staged WHERE seen=1 AND hash != ? ORDER BY path"
        with self._lock:
            return [(row[0], row[1]) for row in self._db.execute(query, (REMOVED,))]

    def staged_changes(self) -> list[tuple[str, str]]:
        """(path, content id or ``REMOVED``) of every change this run staged or confirmed."""
        with self._lock:
            return [
                tuple(row) for row in self._db.execute("SELECT path, hash FROM staged WHERE seen=1")
            ]

    def unconfirmed(self) -> list[str]:
        """Paths an earlier run staged that this run did not confirm (no longer wanted)."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT path FROM staged WHERE seen=0")]

    def forget_staged(self, paths: Iterable[str]) -> None:
        items = list(paths)
        if items:
            with self._write() as db:
                _each_in(db, "DELETE FROM staged WHERE path IN ({})", items)

    def record_staged(self, items: Iterable[tuple[str, str]]) -> None:
        rows = list(items)
        if rows:
            with self._write() as db:
                db.executemany("INSERT OR REPLACE INTO staged VALUES (?, ?, 1)", rows)

    # -- hash cache -------------------------------------------------------------------------

    def cached_hashes(self, keys: Iterable[tuple[str, int, int, int]]) -> dict[str, str]:
        """Hashes of the given (path, size, mtime_ns, inode) whose cache entry still matches."""
        wanted = {k[0]: k for k in keys}
        query = "SELECT path, size, mtime_ns, inode, hash FROM hashes WHERE path IN ({})"
        with self._lock:
            rows = _each_in(self._db, query, list(wanted))
        return {
            path: digest
            for path, size, mtime_ns, inode, digest in rows
            if wanted[path][1:] == (size, mtime_ns, inode)
        }

    def cache_hashes(self, items: Iterable[tuple[str, int, int, int, str]]) -> None:
        horizon = time.time_ns() - RACY_NS
        rows = [item for item in items if item[2] < horizon]
        if rows:
            with self._write() as db:
                db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", rows)

    # -- blake3 by content id (manifests) ---------------------------------------------------

    def blake3_of(self, ids: Iterable[str]) -> dict[str, str]:
        with self._lock:
            rows = _each_in(self._db, "SELECT xxh3, b3 FROM blake3 WHERE xxh3 IN ({})", list(ids))
        return dict(rows)

    def remember_blake3(self, items: Iterable[tuple[str, str]]) -> None:
        """(content id, blake3) pairs, each from one read of the same bytes."""
        rows = [item for item in items if item[1]]
        if rows:
            with self._write() as db:
                db.executemany("INSERT OR REPLACE INTO blake3 VALUES (?, ?)", rows)

    # -- directory pieces known in sync -----------------------------------------------------

    def begin_pieces(self, head_id: str | None) -> bool:
        """Forget what an unfinished run noted; whether the ``synced`` rows hold for the head
        (the branch is still at the commit they were settled with)."""
        with self._write() as db:
            db.execute("DELETE FROM pieces WHERE kind != ?", (SYNCED,))
            row = db.execute("SELECT value FROM meta WHERE key='synced_commit'").fetchone()
        return head_id is not None and row is not None and row[0] == head_id

    def piece_synced(self, rel_dir: str, digest: str) -> bool:
        """Whether this piece is in sync with the head; if so it is noted ``same`` for this run."""
        query = "SELECT 1 FROM pieces WHERE dir=? AND digest=? AND kind=?"
        with self._lock:
            if self._db.execute(query, (rel_dir, digest, SYNCED)).fetchone() is None:
                return False
        self.note_piece(rel_dir, digest, SAME)
        return True

    def note_piece(self, rel_dir: str, digest: str, kind: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO pieces VALUES (?, ?, ?)", (rel_dir, digest, kind))

    def settle_pieces(self, commit_id: str, *, with_sent: bool) -> None:
        """This run's noted pieces (``sent`` ones only ``with_sent``) now stand for
        ``commit_id``; the older ``synced`` rows go (a piece not seen this run is not known)."""
        with self._write() as db:
            db.execute("DELETE FROM pieces WHERE kind=?", (SYNCED,))
            if not with_sent:
                db.execute("DELETE FROM pieces WHERE kind=?", (SENT,))
            db.execute("UPDATE OR REPLACE pieces SET kind=?", (SYNCED,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('synced_commit', ?)", (commit_id,))
