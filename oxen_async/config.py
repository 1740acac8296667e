"""Where host, token and author come from, compatible with the official oxen client.

Order: explicit arguments, then the environment (``OXEN_HOST``, ``OXEN_AUTH_TOKEN``), then oxen's
own files in ``$OXEN_CONFIG_DIR`` or ``~/.config/oxen``: ``auth_config.toml`` (``default_host`` and
``[[host_configs]]`` of ``host`` -> ``auth_token``) and ``user_config.toml`` (``name``, ``email``).
With none of them, the hub (``https://hub.oxen.ai``), as the official client does.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import hosts
from .errors import ConfigError

# Where the official client goes when nothing names a host (oxen 0.65: the hub).
DEFAULT_HOST = "https://hub.oxen.ai"
HOST_ENV = "OXEN_HOST"
TOKEN_ENV = "OXEN_AUTH_TOKEN"


def config_dir() -> Path:
    explicit = os.environ.get("OXEN_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "oxen"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read oxen config file {path}: {exc}") from exc


def normalize_host(host: str) -> str:
    """``http(s)://host[:port]`` without a trailing slash (``hosts.normalize_host``, the one
    check of a host, wherever it came from)."""
    return hosts.normalize_host(host)


def _host_key(host: str) -> str:
    """How auth_config.toml names a host: ``netloc`` without scheme."""
    return urlsplit(host).netloc


def token_for_host(host: str) -> str | None:
    data = _read_toml(config_dir() / "auth_config.toml")
    key = _host_key(host)
    for entry in data.get("host_configs", []) or []:
        if isinstance(entry, dict) and entry.get("host") in (key, host):
            token = entry.get("auth_token")
            return str(token) if token else None
    return None


def resolve_host(host: str | None) -> str:
    if host:
        return normalize_host(host)
    env = os.environ.get(HOST_ENV)
    if env:
        return normalize_host(env)
    default = _read_toml(config_dir() / "auth_config.toml").get("default_host")
    return normalize_host(str(default)) if default else DEFAULT_HOST


def resolve_token(token: str | None, host: str) -> str | None:
    if token:
        return token
    env = os.environ.get(TOKEN_ENV)
    if env:
        return env
    return token_for_host(host)


@dataclass(frozen=True)
class Author:
    name: str
    email: str


def resolve_author(name: str | None = None, email: str | None = None) -> Author | None:
    """Author from the arguments, falling back to ``user_config.toml``; None if incomplete."""
    if not (name and email):
        data = _read_toml(config_dir() / "user_config.toml")
        name = name or data.get("name")
        email = email or data.get("email")
    if name and email:
        return Author(str(name), str(email))
    return None
