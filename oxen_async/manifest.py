"""blake3 manifests: the checkfile format ``b3sum --check`` reads, and checking a tree by one.

A manifest is UTF-8 text, one ``<64 hex>  <path>`` line per file (two spaces), sorted by path,
paths relative to the manifest's own folder with ``/`` between segments. xxh3 content ids prove
that bytes crossed the wire intact; blake3 is cryptographic, so a manifest proves a tree is the
one its producer published.

b3sum's escaping (its ``what_does_check_do.md``): a name holding a backslash or a newline is
written with ``\\\\`` and ``\\n`` for them and the line gets a leading ``\\``. The upload's name
rule (``paths.name_problem``) refuses backslashes and control characters, so manifests we write
never need it; ``format_manifest`` still escapes and ``parse_manifest`` still reads it, so a
checkfile made by b3sum itself can be checked here, and a file another client put on the
branch under such a name still gets a line b3sum reads. One difference: ``b3sum --check``
refuses a path holding U+FFFD (its mark for undecodable bytes); our name rule allows that
character, and ``verify_manifest`` checks such a line like any other.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from .errors import ManifestError

DEFAULT_MANIFEST = "MANIFEST.b3sum"
READ_CHUNK = 4 * 1024 * 1024
_HEX = frozenset("0123456789abcdef")


def blake3_bytes(data: bytes | bytearray | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def blake3_file(path: str | os.PathLike[str]) -> str:
    """blake3 hex of a file, read in pieces (blocking: a worker thread)."""
    h = blake3.blake3()
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _escape(path: str) -> tuple[str, bool]:
    if "\\" not in path and "\n" not in path:
        return path, False
    return path.replace("\\", "\\\\").replace("\n", "\\n"), True


def format_manifest(lines: Mapping[str, str]) -> bytes:
    """The checkfile for path -> blake3 hex, sorted by path."""
    out: list[str] = []
    for path in sorted(lines):
        name, escaped = _escape(path)
        lead = "\\" if escaped else ""
        out.append(f"{lead}{lines[path]}  {name}\n")
    return "".join(out).encode("utf-8")


def _unescape(text: str, where: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        if nxt == "\\":
            out.append("\\")
        elif nxt == "n":
            out.append("\n")
        else:
            raise ManifestError(f"{where}: unknown escape \\{nxt}")
    return "".join(out)


def parse_manifest(data: bytes, source: str = "manifest") -> dict[str, str]:
    """path -> blake3 hex of a checkfile. Raises ManifestError (naming ``source`` and the line)
    for text that is not UTF-8, a malformed line, an unsafe path or a path listed twice."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    found: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        where = f"{source} line {number}"
        escaped = line.startswith("\\")
        body = line[1:] if escaped else line
        digest, sep, name = body[:64], body[64:66], body[66:]
        if sep != "  " or not name or not set(digest) <= _HEX or len(digest) != 64:
            raise ManifestError(f"{where}: not a b3sum line (64 hex digits, two spaces, a path)")
        path = _unescape(name, where) if escaped else name
        problem = unsafe_path(path)
        if problem:
            raise ManifestError(f"{where}: {problem}")
        if path in found:
            raise ManifestError(f"{where}: {path!r} listed twice")
        found[path] = digest
    return found


def unsafe_path(path: str) -> str | None:
    """Why a listed path must not be opened under the manifest's folder, or None."""
    if "\0" in path:
        return "a NUL in a path"
    if path.startswith("/"):
        return f"absolute path {path!r}"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return f"path {path!r} has an empty, '.' or '..' segment"
    return None


@dataclass
class ManifestCheck:
    """What checking a tree against a manifest found; paths relative to the manifest's folder."""

    manifest: Path
    checked: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    """Files in the tree that no line lists (the manifest itself never counts)."""

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.extra)

    def summary(self) -> str:
        """One line: what is wrong (or that all is well), with the first few paths of each."""
        if self.ok:
            return f"{self.checked} file(s) match {self.manifest.name}"
        parts = []
        for label, items in (
            ("mismatched", self.mismatched),
            ("missing", self.missing),
            ("not in the manifest", self.extra),
        ):
            if items:
                shown = ", ".join(repr(p) for p in items[:3])
                more = f" and {len(items) - 3} more" if len(items) > 3 else ""
                parts.append(f"{len(items)} {label} ({shown}{more})")
        return f"{self.manifest}: " + "; ".join(parts)


def _tree_files(root: Path, skip: Path) -> Iterable[str]:
    """Regular files below ``root`` as '/'-joined relative paths (symlinks not followed)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames):
            full = base / name
            if _same(full, skip) or not stat.S_ISREG(os.lstat(full).st_mode):
                continue
            yield full.relative_to(root).as_posix()


def _same(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def verify_manifest(
    local_dir: str | os.PathLike[str],
    manifest: str | os.PathLike[str] | None = None,
    *,
    only: Iterable[str] | None = None,
) -> ManifestCheck:
    """Check every line of ``manifest`` (default ``LOCAL_DIR/MANIFEST.b3sum``) against the files
    of ``local_dir``, which its paths are relative to (as ``b3sum --check`` run there reads
    them): blake3 mismatches, listed files missing, and files no line lists (among ``only``,
    paths relative to ``local_dir``, when given; else every regular file under it, the
    manifest itself aside). Blocking (reads every listed file): run it in a worker thread.

    Raises ManifestError when the folder or the manifest is missing or the manifest malformed.
    """
    root = Path(local_dir)
    if not root.is_dir():
        raise ManifestError(f"{os.fspath(root)!r} is not a folder")
    path = Path(manifest) if manifest is not None else root / DEFAULT_MANIFEST
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {os.fspath(path)!r}: {exc.strerror}") from None
    lines = parse_manifest(data, os.fspath(path))
    base = root
    result = ManifestCheck(path)
    for rel, expected in sorted(lines.items()):
        target = base / rel
        try:
            actual = blake3_file(target)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            result.missing.append(rel)
            continue
        except OSError:
            result.mismatched.append(rel)  # unreadable: it cannot be shown to match
            continue
        result.checked += 1
        if actual != expected:
            result.mismatched.append(rel)
    present = only if only is not None else _tree_files(base, path)
    result.extra = sorted(p for p in present if p not in lines and not _same(base / p, path))
    return result
