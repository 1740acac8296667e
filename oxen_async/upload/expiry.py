"""Upload state expires: a target's state file not used for ``STATE_TTL_S`` is removed.

Each (folder, target) keeps one SQLite file (resume record and hash cache). Without expiry the
state folder only grows: one file per folder ever uploaded, every test run's folders included.
A file unused for a month holds no resumable upload worth keeping, and its hash cache only
saves re-reading a folder nobody has uploaded since. Files another upload holds are skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

STATE_TTL_S = 30 * 24 * 3600
_SIDE_FILES = ("-wal", "-shm")


def touch(state_file: Path) -> None:
    """Mark ``state_file`` used now (a no-op rerun may not write to it)."""
    with contextlib.suppress(OSError):
        os.utime(state_file)


def expire_stale_states(state_dir: Path, *, ttl_s: float = STATE_TTL_S) -> list[Path]:
    """Remove the state files in ``state_dir`` last used more than ``ttl_s`` ago (blocking).

    Returns the removed ``.sqlite`` paths. A file whose lock another process holds is left.
    """
    removed: list[Path] = []
    cutoff = time.time() - ttl_s
    try:
        entries = list(os.scandir(state_dir))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.endswith(".sqlite"):
            continue
        try:
            if entry.stat().st_mtime >= cutoff:
                continue
        except OSError:
            continue
        db = Path(entry.path)
        if _remove_unless_locked(db):
            removed.append(db)
    return removed


def _remove_unless_locked(db: Path) -> bool:
    lock_path = db.with_suffix(".lock")
    try:
        lock = open(lock_path, "a+")  # noqa: SIM115 (closed below, after the files go)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # an upload is using it right now
        for path in (db, *(Path(f"{db}{side}") for side in _SIDE_FILES), lock_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return True
    finally:
        lock.close()
