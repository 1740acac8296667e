"""One home for what a server address may look like: ``http(s)://host[:port][/prefix]``.

Everything that takes a host (``OxenClient(host)``, ``--host``, ``$OXEN_HOST``, oxen's
``auth_config.toml``) goes through ``normalize_host``, so a bad one fails before any request as
one ``ConfigError`` line naming the value, never as a ValueError from deep in the HTTP stack.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import ConfigError

# A DNS name or IPv4 address: letters, digits, '-', '_', '.'; IPv6 comes bracketed and is
# checked by urlsplit. Spaces, control characters and anything else mean a quoting slip.
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?")


class HostError(ConfigError):
    """A server address that is not a usable ``http(s)://host[:port]`` URL."""


def normalize_host(host: str) -> str:
    """``http(s)://host[:port]`` without a trailing slash; a bare ``host:port`` means http.

    Raises HostError naming what is wrong: no server name (``http://``), a port outside
    1..65535 or not a number, another scheme, credentials, a query or a fragment.
    """
    if not isinstance(host, str):
        raise HostError(f"host must be a string, got {type(host).__name__}")
    text = host.strip()
    if not text:
        raise HostError("empty host")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        # urlsplit silently drops tabs and newlines (the WHATWG rule): 'exa\nmple.org' would
        # reach example.org. A space or control character here is a quoting slip.
        raise HostError(f"host {host!r} contains a space or control character")
    if "://" not in text:
        # oxen's config names hosts without a scheme; hub.oxen.ai is https, a local server http.
        scheme = "https" if text.split(":")[0].rstrip("/").endswith("oxen.ai") else "http"
        text = f"{scheme}://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise HostError(f"host must be an http(s) URL, got {host!r}")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise HostError(f"host must not carry credentials, a query or a fragment: {host!r}")
    if not parts.hostname:
        raise HostError(f"host {host!r} names no server (expected like http://localhost:3000)")
    if not _HOSTNAME.fullmatch(parts.hostname):
        raise HostError(f"host {host!r} has an invalid server name {parts.hostname!r}")
    try:
        port = parts.port
    except ValueError:
        raise HostError(f"host {host!r} has an invalid port (expected 1-65535)") from None
    if port == 0 or parts.netloc.endswith(":"):  # ':0', or a colon with no port ('http:')
        raise HostError(f"host {host!r} has an invalid port (expected 1-65535)")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
