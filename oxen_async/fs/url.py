"""``oxen://namespace:repo@revision/path`` URLs, the form the official client's ``OxenFS`` reads.

The repository travels in the URL's user-info (``namespace:repo``) and the revision where a
host would stand, so ``oxen://ox:flowers@main/images/1.jpg`` is ``images/1.jpg`` on ``main`` of
``ox/flowers``. The server itself is never in the URL: it comes from the ``host`` option, or
from ``OXEN_HOST`` and oxen's config, the way ``OxenClient`` resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from ..errors import ConfigError

PROTOCOLS = ("oxen", "oxen-async")
URL_FORM = "oxen://NAMESPACE:REPO@REVISION/PATH"


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
    """Split a URL (or a bare repo path) into its parts; a bare path names no repository."""
    has_protocol, rest = _without_protocol(url)
    if not has_protocol:
        return RepoURL(None, None, None, rest.strip("/"))
    authority, _, path = rest.partition("/")
    if "@" not in authority:
        # ``oxen://some/path``: a path on the filesystem's own repository (fsspec strips the
        # protocol this way too), so no repository is named here.
        return RepoURL(None, None, None, rest.strip("/"))
    userinfo, _, revision = authority.rpartition("@")
    namespace, sep, repo = userinfo.partition(":")
    if not sep or not namespace or not repo:
        raise ConfigError(f"{url!r} names no repository: expected {URL_FORM}")
    return RepoURL(unquote(namespace), unquote(repo), unquote(revision) or None, path.strip("/"))
