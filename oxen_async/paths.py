"""URL path pieces, quoted the way oxen-server decodes them (see shared/oxen-api part 1, §0),
and the one rule for which file names may travel (``name_problem``), up and down alike.

The router decodes everything except ``%2F``, ``%25`` and ``%2B``; resources (``/dir``, ``/file``,
``/meta``, ``/commits/history``) are decoded a second time. So names and branch names are sent
with ``/`` and ``+`` literal, and each segment of a resource is quoted exactly once.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from urllib.parse import quote

from .errors import ConfigError

# The longest name one path component may have: what Linux and macOS file systems accept
# (bytes of UTF-8). A longer name could be uploaded from nowhere and downloaded to nowhere.
MAX_NAME_BYTES = 255


class UnsafeNameError(ConfigError):
    """A file name that cannot make the round trip (up and down): refused before sending."""


def name_problem(rel_path: str) -> str | None:
    """Why ``rel_path`` (``a/b/c``, repo-relative) cannot round-trip, or None when it can.

    One rule for both directions: the uploader refuses such a file before sending, the
    downloader refuses such a path from a listing, ``--dest`` and ``--path`` refuse it too.
    - a backslash: Windows and Python's Windows paths read it as a separator, so ``a\\b``
      could not be written back under the same name everywhere; refused, never read as ``/``;
    - control characters (U+0000-U+001F, U+007F-U+009F): they forge lines in listings, logs
      and terminals, and some servers and file systems refuse them;
    - bytes that are not UTF-8 (a name from another encoding): the wire speaks UTF-8 only;
    - empty parts, ``.`` and ``..``: they would leave or alias the target folder;
    - a part longer than 255 bytes of UTF-8: no common file system could write it back.
    """
    if not rel_path:
        return "empty path"
    try:
        rel_path.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode kept undecodable bytes as lone surrogates
        return "the name is not valid UTF-8 (rename the file)"
    if "\\" in rel_path:
        return "a backslash in a name is refused (a path separator on Windows)"
    for ch in rel_path:
        if unicodedata.category(ch) == "Cc":
            return f"control character {ch!r} in the name"
    for part in rel_path.split("/"):
        if part in ("", ".", ".."):
            return f"{part!r} is not a valid path component"
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            return f"a name part is longer than {MAX_NAME_BYTES} bytes"
    return None


def check_name(rel_path: str) -> str:
    """``rel_path`` unchanged if it satisfies ``name_problem``, else UnsafeNameError."""
    problem = name_problem(rel_path)
    if problem is not None:
        raise UnsafeNameError(f"{rel_path!r}: {problem}")
    return rel_path


def segment(value: str) -> str:
    """One path segment (namespace, repository, workspace id, version id)."""
    if not value or value in (".", "..") or "/" in value:
        raise ConfigError(f"{value!r} is not a valid single path segment")
    # The router keeps %2B encoded (it would reach the handler as the three characters), so
    # '+' travels literally; in a path it never means a space.
    return quote(value, safe="+")


def branch(name: str) -> str:
    """A branch name in ``/branches/{name}`` or ``/merge/{name}``: ``/`` and ``+`` stay literal."""
    if not name:
        raise ConfigError("empty branch name")
    return quote(name, safe="/+")


def repo_path(path: str) -> str:
    """A repo-relative path normalised to ``a/b/c`` (no leading slash, no ``.``/empty parts).

    The rest of ``name_problem`` applies: a backslash is refused, never read as ``/``.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ConfigError(f"path {path!r} must not contain '..'")
    normalized = "/".join(parts)
    if normalized:
        check_name(normalized)
    return normalized


def resource(revision: str, path: str = "") -> str:
    """``{revision}/{path}`` for resource routes, every segment quoted once."""
    pieces = [p for p in revision.split("/") if p]
    if not pieces:
        raise ConfigError("empty revision")
    normalized = repo_path(path)
    if normalized:
        pieces.extend(normalized.split("/"))
    return "/".join(quote(p, safe="") for p in pieces)


def directory(path: str) -> str:
    """A directory tail for workspace routes: segments quoted, root is the empty string."""
    normalized = repo_path(path)
    return "/".join(quote(p, safe="") for p in normalized.split("/")) if normalized else ""


def writable_target(local_dir: str) -> str | None:
    """Why files could not be written below ``local_dir``, or None: checked before any request.

    The folder itself, or the nearest part of it that exists, must be a folder: ``afile/sub``
    (a parent is a file) would otherwise fail once per downloaded file.
    """
    path = os.path.abspath(local_dir)
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent
            continue
        except NotADirectoryError:
            path = os.path.dirname(path)  # a parent further up is a file: find it
            continue
        except OSError as exc:
            return f"cannot use {path!r}: {exc.strerror or exc}"
        if not stat.S_ISDIR(st.st_mode):
            return f"{path!r} exists and is not a folder"
        if not os.access(path, os.W_OK | os.X_OK):
            return f"folder {path!r} is not writable"
        return None
