"""Route table with the real server's path decoding (actix-router), independent of aiohttp's router.

aiohttp would decode ``%2F`` and treat paths its own way; actix decodes every escape except
``%2F``, ``%25`` and ``%2B`` before matching, and never normalises trailing slashes. Matching our
own regexes against the raw path reproduces that exactly.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from oxen_async.testing.context import RequestContext

Handler = Callable[["RequestContext"], Awaitable[web.StreamResponse]]

_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_PROTECTED = frozenset(b"/%+")


def router_decode(raw_path: str) -> str:
    """Percent-decode a raw URL path except ``%2F``, ``%25`` and ``%2B`` (actix's Quoter)."""
    raw = raw_path.encode("utf-8", "surrogateescape")

    def replace(match: re.Match[bytes]) -> bytes:
        value = int(match.group(1), 16)
        return match.group(0) if value in _PROTECTED else bytes([value])

    return _ESCAPE.sub(replace, raw).decode("utf-8", "replace")


@dataclass(frozen=True)
class Route:
    """One endpoint. ``name`` is what fault rules and counters refer to."""

    name: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler
    # The 426 User-Agent gate runs before the handler unless the handler does it itself.
    ua_gate: bool = True
    # Routes that take the real server's repository write guard answer 429 during maintenance.
    write_guard: bool = False
    # actix answers 405 (not 404) for other methods on a few single-resource paths.
    answers_405: bool = False


@dataclass
class Match:
    route: Route
    params: dict[str, str]


@dataclass
class Router:
    routes: list[Route] = field(default_factory=list)

    def add(
        self,
        name: str,
        methods: str,
        pattern: str,
        handler: Handler,
        *,
        ua_gate: bool = True,
        write_guard: bool = False,
        answers_405: bool = False,
    ) -> None:
        """``pattern``: a regex over the decoded path; ``{x}`` one segment, ``{x:.*}`` a tail."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]*)", pattern)
        regex = re.sub(r"\{(\w+):\.\*\}", r"(?P<\1>.*)", regex)
        self.routes.append(
            Route(
                name=name,
                methods=frozenset(methods.split()),
                pattern=re.compile(regex),
                handler=handler,
                ua_gate=ua_gate,
                write_guard=write_guard,
                answers_405=answers_405,
            )
        )

    def resolve(self, method: str, decoded_path: str) -> Match | frozenset[str]:
        """The first route matching path and method, else the methods a 405 should list."""
        allowed: set[str] = set()
        for route in self.routes:
            found = route.pattern.fullmatch(decoded_path)
            if found is None:
                continue
            if method in route.methods:
                return Match(route, found.groupdict())
            if route.answers_405:
                allowed |= route.methods
        return frozenset(allowed)

    def names(self) -> frozenset[str]:
        return frozenset(route.name for route in self.routes)
