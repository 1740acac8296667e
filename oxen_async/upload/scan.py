"""Walk a local folder lazily, one directory at a time, in a stable order.

Symlink policy: a symlink to a regular file is followed (its content is uploaded at the link's
path); a symlink to a directory is not followed (no cycles, no escaping the folder) and is
listed as skipped; a broken symlink, a special file (fifo, socket, device) and an unreadable
entry are problems reported by path. Nothing builds a list of the whole tree: memory grows with
the largest directory, not with the folder.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import msgspec

# Structs out of the cyclic GC (``gc=False``: they hold only strings and ints): a million files
# pass through the pipeline, and every tracked object would count towards the collections that
# stop the event loop (the loop-lag's maximum was a full collection).


class LocalFile(msgspec.Struct, frozen=True, gc=False):
    rel_path: str  # repo-style, '/'-separated, relative to the scanned folder
    abs_path: str
    size: int
    mtime_ns: int
    inode: int


class Problem(msgspec.Struct, frozen=True, gc=False):
    rel_path: str
    reason: str


class SkippedSymlinkDir(msgspec.Struct, frozen=True, gc=False):
    rel_path: str


ScanItem = LocalFile | Problem | SkippedSymlinkDir


CHUNK = 1000  # entries per yielded piece, so a flat folder of a million files streams too


def scan(root: str, exclude: frozenset[str] = frozenset()) -> Iterator[tuple[str, list[ScanItem]]]:
    """Yield ``(rel_dir, entries)`` pieces of at most CHUNK entries, directories depth first.

    ``exclude`` holds absolute paths of directories to leave out (the upload's own state).
    Blocking (it stats files): iterate it in a worker thread.
    """
    stack: list[tuple[str, str]] = [(root, "")]
    while stack:
        abs_dir, rel_dir = stack.pop()
        subdirs: list[tuple[str, str]] = []
        items: list[ScanItem] = []
        try:
            with os.scandir(abs_dir) as it:
                for entry in it:
                    rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                    item = _classify(entry, rel)
                    if item == "dir":
                        if entry.path not in exclude:
                            subdirs.append((entry.path, rel))
                    elif item is not None and not isinstance(item, str):
                        items.append(item)
                        if len(items) >= CHUNK:
                            yield rel_dir, items
                            items = []
        except OSError as exc:
            items.append(Problem(rel_dir or ".", f"cannot list directory: {exc.strerror or exc}"))
        if items:
            yield rel_dir, items
        subdirs.sort(reverse=True)  # pop() then visits them in name order
        stack.extend(subdirs)


def _follow_link(path: str, rel: str) -> os.stat_result | ScanItem:
    """The stat of what the symlink at ``path`` points to, or what the scan makes of it: a
    broken link and one it cannot follow are Problems, one to a folder is skipped."""
    try:
        st = os.stat(path)  # follows the link
    except FileNotFoundError:
        return Problem(rel, "broken symlink")
    except OSError as exc:
        return Problem(rel, f"cannot follow symlink: {exc.strerror or exc}")
    if stat.S_ISDIR(st.st_mode):
        return SkippedSymlinkDir(rel)
    return st


def _classify(entry: os.DirEntry[str], rel: str) -> ScanItem | str | None:
    try:
        if entry.is_symlink():
            followed = _follow_link(entry.path, rel)
            if not isinstance(followed, os.stat_result):
                return followed
            st = followed
        else:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                return "dir"
    except OSError as exc:
        return Problem(rel, f"cannot stat: {exc.strerror or exc}")
    return _file_item(rel, entry.path, st)


VANISHED = "vanished since the folder was listed"


def stat_listed(path: str, rel: str) -> ScanItem:
    """What a path listed earlier (a Dask driver's listing) is now, by the scan's symlink
    policy; a path gone since is a Problem (``VANISHED``), reported by path."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            followed = _follow_link(path, rel)
            if not isinstance(followed, os.stat_result):
                return followed
            st = followed
        elif stat.S_ISDIR(st.st_mode):
            return Problem(rel, "a folder now, was a file when the folder was listed")
    except FileNotFoundError:
        return Problem(rel, VANISHED)
    except OSError as exc:
        return Problem(rel, f"cannot stat: {exc.strerror or exc}")
    return _file_item(rel, path, st)


def _file_item(rel: str, path: str, st: os.stat_result) -> ScanItem:
    if not stat.S_ISREG(st.st_mode):
        return Problem(rel, f"special file ({_kind(st.st_mode)}), not uploaded")
    return LocalFile(rel, path, st.st_size, st.st_mtime_ns, st.st_ino)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "unknown type"
