"""The local side of a download: where a listed file lands, whether it is already there, and
how its bytes become visible (a short temporary name in the target's folder, then a rename).

Everything here blocks: call it from worker threads, a batch of files per hop.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Collection, Sequence
from pathlib import Path, PurePosixPath
from typing import TypeVar

import xxhash

from .. import paths
from ..errors import ConfigError, IntegrityError, OxenError
from ..hashing import format_hash, hash_file_sync, same_hash

TEMP_PREFIX = ".oxdl-"
TEMP_SUFFIX = ".tmp"
# Temporary names: this process's pid, a random token drawn once, a counter. Unique without a
# random draw per file (a fork changes the pid; O_EXCL catches anything else).
_TOKEN = secrets.token_hex(3)
_COUNTER = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_CREATE_READABLE = (_CREATE & ~os.O_WRONLY) | os.O_RDWR

T = TypeVar("T")
Targets = Sequence[tuple[str, "str | Path"]]
"""(repo path, local path) pairs: where one content goes."""


class TargetsFailed(OxenError):
    """The bytes were right, but some paths of the same content could not be written (a file
    in the way of a folder, a full disk): ``failures`` (repo path -> why) and ``landed`` (the
    paths that are in place). So a report names each path's own outcome."""

    def __init__(self, failures: dict[str, BaseException], landed: Collection[str] = ()) -> None:
        first = next(iter(failures.values()), "no path to write")
        super().__init__(f"{len(failures)} path(s) could not be written, e.g.: {first}")
        self.failures = failures
        self.landed = frozenset(landed)


def outcome_of(repo_path: str, error: BaseException | None) -> BaseException | None:
    """One path's share of a content's outcome (None: it landed). A path TargetsFailed does
    not name as landed did not land, whatever else it knows."""
    if isinstance(error, TargetsFailed):
        if repo_path in error.landed:
            return None
        return error.failures.get(repo_path, error)
    return error


# Printable ASCII but the backslash: names made of these pass ``paths.name_problem`` but for
# its part rules (empty, ``.``, ``..``, over 255 bytes), which ``_plain_ok`` checks. Anything
# else takes the full rule; this only spares the per-character Unicode lookup per file.
_PLAIN = re.compile(r"[ -\[\]-~]+")


def _plain_ok(rel: str) -> bool:
    if _PLAIN.fullmatch(rel) is None:
        return False
    return all(
        part not in ("", ".", "..") and len(part) <= paths.MAX_NAME_BYTES for part in rel.split("/")
    )


def relative_name(repo_path: str, base: str) -> str:
    """``repo_path`` below ``base`` (a normalised repo folder, ``paths.repo_path``) as
    ``a/b/c``, refusing anything that would leave the target (the uploader's rule,
    ``paths.name_problem``: what it would refuse is refused here too)."""
    if base and not repo_path.startswith(base + "/"):
        raise ConfigError(f"unsafe path from the server listing: {repo_path!r}")
    rel = repo_path[len(base) + 1 :] if base else repo_path
    if not _plain_ok(rel):
        problem = paths.name_problem(rel)
        if problem is not None:
            raise ConfigError(f"unsafe path from the server listing: {repo_path!r} ({problem})")
    return rel


def relative_target(repo_path: str, remote_dir: str) -> PurePosixPath:
    """``repo_path`` below ``remote_dir``, refusing anything that would leave the target."""
    return PurePosixPath(*relative_name(repo_path, paths.repo_path(remote_dir)).split("/"))


def is_current(local: str | Path, size: int, content_id: str) -> bool:
    """Whether ``local`` already holds the content (size first, then xxh3)."""
    try:
        st = os.stat(local)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return False
    digest, _ = hash_file_sync(local)
    return same_hash(digest, content_id)


def _temp_name(folder: str) -> str:
    return f"{folder}/{TEMP_PREFIX}{os.getpid()}-{_TOKEN}{next(_COUNTER):x}{TEMP_SUFFIX}"


def temp_path_for(target: str | Path) -> Path:
    """A fresh hidden name next to ``target``, ``.oxdl-<pid>-<token><n>.tmp``: about 30 bytes
    whatever the target's name, so a 250-byte file name never pushes it past NAME_MAX. The pid
    lets a later run tell the leftovers of a killed process (``sweep_leftovers``)."""
    return Path(_temp_name(os.path.dirname(os.fspath(target)) or "."))


def create_temp(target: str, *, readable: bool = False) -> tuple[int, str]:
    """A new temporary file beside ``target`` (its folders made when missing): (fd, name),
    ``readable`` too when asked. The folder is only made when the create says it is missing:
    no stat or mkdir per file."""
    folder = os.path.dirname(target) or "."
    flags = _CREATE_READABLE if readable else _CREATE
    while True:
        temp = _temp_name(folder)
        try:
            return os.open(temp, flags, 0o644), temp
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
        except FileExistsError:
            continue  # a leftover of a process that had our pid: take the next name


def land_bytes(target: str, data: bytes | bytearray | memoryview) -> None:
    """Put ``data`` (already verified) at ``target`` atomically: a temporary file beside it,
    renamed over it. Raw fds, no stat, no fsync (why: the ``batch`` module's docstring)."""
    fd, temp = create_temp(target)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.close(fd)
        fd = -1
        os.replace(temp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def land_each(targets: Targets, data: bytes | bytearray | memoryview) -> None:
    """``land_bytes`` at every target, each on its own; TargetsFailed names those that could
    not be written (the others landed)."""
    failures: dict[str, BaseException] = {}
    for repo_path, target in targets:
        try:
            land_bytes(os.fspath(target), data)
        except OSError as exc:
            failures[repo_path] = exc
    if failures:
        raise TargetsFailed(failures, [p for p, _ in targets if p not in failures])


def open_beside(
    targets: Targets, open_temp: Callable[[str, str | Path], T]
) -> tuple[T, Targets, dict[str, BaseException]]:
    """``open_temp(repo path, target)`` (a temporary file beside it) for the first target
    where that works: what it gave, the targets from that one on (that one first), and why
    each before it failed (nothing can be written there either). TargetsFailed when none
    works."""
    failures: dict[str, BaseException] = {}
    for at, (repo_path, target) in enumerate(targets):
        try:
            return open_temp(repo_path, target), targets[at:], failures
        except OSError as exc:
            failures[repo_path] = exc
    raise TargetsFailed(failures)


def spread(temp: str | Path, targets: Targets) -> dict[str, BaseException]:
    """Put a verified temporary file at ``targets``: a copy at each but the first (the one it
    was made beside), which takes the file itself by rename. Returns why each target that
    could not be written failed; the temporary is gone afterwards whatever happened."""
    failures: dict[str, BaseException] = {}
    try:
        for repo_path, other in targets[1:]:
            try:
                copy_into_place(temp, other)
            except OSError as exc:
                failures[repo_path] = exc
        first_path, first = targets[0]
        try:
            os.replace(temp, first)
        except OSError as exc:
            failures[first_path] = exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # still there only if the rename did not happen
    return failures


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep_leftovers(folder: str | Path) -> int:
    """Remove the temporaries a killed download left in ``folder`` (their process is gone).
    Returns how many. A download running in another process keeps its own."""
    removed = 0
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for name in names:
        if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
            continue
        pid_text = name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, name))
            removed += 1
    return removed


class TempFile:
    """Bytes bound for ``target``: hashed as written into a temporary file beside it, renamed
    into place by ``commit`` only when they hash to ``content_id``. The file is created on the
    first write (or at commit, for an empty file)."""

    def __init__(self, target: str | Path, content_id: str, label: str | None = None) -> None:
        self.target = os.fspath(target)
        self.label = label or os.path.basename(self.target)
        self.content_id = content_id
        self._hasher = xxhash.xxh3_128()
        self._fd: int | None = None
        self._temp: Path | None = None
        self.size = 0

    def open(self) -> int:
        """Create the temporary file now (OSError if its folder cannot take it)."""
        if self._fd is None:
            self._fd, temp = create_temp(self.target)
            self._temp = Path(temp)
        return self._fd

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._hasher.update(data)
        self.size += len(data)
        view = memoryview(data)
        fd = self.open()
        while view:
            view = view[os.write(fd, view) :]

    def hexdigest(self) -> str:
        return format_hash(self._hasher.intdigest())

    def verified(self) -> Path:
        """Close the temporary file and hand it over (the caller puts it in place) if the
        bytes match; IntegrityError (and nothing left) if not."""
        try:
            fd = self.open()
            digest = self.hexdigest()
            if not same_hash(digest, self.content_id):
                raise IntegrityError(
                    f"{self.label}: downloaded bytes hash to {digest}, "
                    f"the server lists {self.content_id}"
                )
            os.close(fd)
            self._fd = None
            temp, self._temp = self._temp, None
            assert temp is not None
            return temp
        finally:
            self.discard()

    def commit(self) -> None:
        """Rename into place if the bytes match; IntegrityError (and nothing left) if not."""
        failures = spread(self.verified(), [(self.label, self.target)])
        if failures:
            raise next(iter(failures.values()))

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp)
            self._temp = None


def copy_into_place(source: str | Path, target: str | Path) -> None:
    """Copy a verified file to another target atomically (same content at several paths)."""
    os.makedirs(os.path.dirname(os.fspath(target)) or ".", exist_ok=True)
    temp = temp_path_for(target)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
