"""URL path pieces, quoted the way oxen-server decodes them (see shared/oxen-api part 1, §0).

The router decodes everything except ``%2F``, ``%25`` and ``%2B``; resources (``/dir``, ``/file``,
``/meta``, ``/commits/history``) are decoded a second time. So names and branch names are sent
with ``/`` and ``+`` literal, and each segment of a resource is quoted exactly once.
"""

from __future__ import annotations

from urllib.parse import quote

from .errors import ConfigError


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
    """A repo-relative path normalised to ``a/b/c`` (no leading slash, no ``.``/empty parts)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ConfigError(f"path {path!r} must not contain '..'")
    return "/".join(parts)


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
