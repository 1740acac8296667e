"""``oxen://namespace:repo@revision/path`` URLs, the form the official client's ``OxenFS`` reads,
and the names the filesystem gives paths: the URL without its protocol.

The repository travels in the URL's user-info (``namespace:repo``) and the revision where a
host would stand, so ``oxen://ox:flowers@main/images/1.jpg`` is ``images/1.jpg`` on ``main`` of
``ox/flowers``; its name is ``ox:flowers@main/images/1.jpg``. Names carry the repository the
way s3 keys carry their bucket, so ``"oxen://" + name`` is a URL again (Hugging Face
``datasets`` and others rebuild URLs so). A revision with ``/`` in it is quoted in a name
(``feature%2Fx``). The server is never in the URL: it comes from the ``host`` option, or from
``OXEN_HOST`` and oxen's config, the way ``OxenClient`` resolves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ..errors import ConfigError

PROTOCOLS = ("oxen", "oxen-async")
URL_FORM = "oxen://NAMESPACE:REPO@REVISION/PATH"
DEFAULT_REVISION = "main"

_QUALIFIED = re.compile(r"(?P<ns>[^/:@]+):(?P<repo>[^/:@]+)@(?P<rev>[^/]+)(?:/(?P<path>.*))?")


@dataclass(frozen=True)
class RepoURL:
    namespace: str | None
    repo: str | None
    revision: str | None
    path: str


def _without_protocol(url: str) -> tuple[bool, str]:
    for protocol in PROTOCOLS:
        prefix = f"{protocol}://"
        if url.startswith(prefix):
            return True, url[len(prefix) :]
    return False, url


def parse(url: str) -> RepoURL:
    """Split a URL, a name, or a bare repo path into parts; a bare path names no repository."""
    has_protocol, rest = _without_protocol(url)
    match = _QUALIFIED.fullmatch(rest)
    if match is not None:
        return RepoURL(
            unquote(match["ns"]),
            unquote(match["repo"]),
            unquote(match["rev"]),
            (match["path"] or "").strip("/"),
        )
    authority, _, path = rest.partition("/")
    if has_protocol and "@" in authority:
        raise ConfigError(f"{url!r} names no repository: expected {URL_FORM}")
    if has_protocol and ":" in authority:  # oxen://ns:repo/path: the default revision
        namespace, _, repo = authority.partition(":")
        if namespace and repo:
            return RepoURL(unquote(namespace), unquote(repo), None, path.strip("/"))
        raise ConfigError(f"{url!r} names no repository: expected {URL_FORM}")
    # ``oxen://some/path`` or ``some/path``: a path on the filesystem's own repository.
    return RepoURL(None, None, None, rest.strip("/"))


def name(namespace: str, repo: str, revision: str, path: str = "") -> str:
    """The filesystem's name for ``path`` (the repository root when empty)."""
    prefix = f"{quote(namespace, safe='')}:{quote(repo, safe='')}@{quote(revision, safe='')}"
    return f"{prefix}/{path}" if path else prefix


def strip(url: str) -> str:
    """A URL or name as a name (a bare path stays bare: no repository to qualify it with)."""
    parts = parse(url)
    if parts.namespace is None or parts.repo is None:
        return parts.path
    return name(parts.namespace, parts.repo, parts.revision or DEFAULT_REVISION, parts.path)
