"""What a ``Relay`` counts and the rules it plays: canned answers, stalls, rewrites, tripwires.

Plain data, no I/O: the relay in ``oxen_async.testing.relay`` consults these per request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["up", "down"]
"""``"up"``: request bodies, client to server; ``"down"``: answer bodies, server to client."""


def request_kind(method: str, path: str) -> str:
    """The relay's default name for a request in its counters: ``"GET /api/version"``."""
    return f"{method} {path}"


@dataclass
class RelayStats:
    """What crossed the relay. Requests are counted under the name its ``classify`` gives them
    (by default ``"METHOD /path"``), the moment they arrive, refused ones included."""

    requests: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    """Requests of each kind that arrived and whose answer has not ended yet."""
    max_in_flight: Counter[str] = field(default_factory=Counter)
    """The most requests of each kind that were in flight at once."""
    bytes_up: int = 0
    """Request body bytes relayed to the server."""
    bytes_down: int = 0
    """Answer body bytes relayed to the client."""
    cut: int = 0
    """Answers cut mid-body (their connection closed)."""
    refused: int = 0
    """Requests closed unanswered because the relay refuses (``refuse``, after a cut)."""
    lost: int = 0
    """Requests whose server connection failed (none, reset, died mid-answer): the client's
    connection was closed, as a dead server's would be."""

    def count(self, kind: str) -> int:
        """How many requests of ``kind`` arrived."""
        return self.requests[kind]

    @property
    def total(self) -> int:
        """How many requests arrived, of every kind."""
        return sum(self.requests.values())

    def arrived(self, kind: str) -> None:
        self.requests[kind] += 1
        self.in_flight[kind] += 1
        self.max_in_flight[kind] = max(self.max_in_flight[kind], self.in_flight[kind])

    def ended(self, kind: str) -> None:
        self.in_flight[kind] -= 1


@dataclass(frozen=True)
class PathRule:
    """Which requests a rule applies to: ``re.search`` of ``pattern`` on the path, and the
    method when one is named."""

    pattern: re.Pattern[str]
    method: str | None

    @classmethod
    def of(cls, pattern: str, method: str | None) -> PathRule:
        return cls(re.compile(pattern), None if method is None else method.upper())

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.pattern.search(path))


@dataclass(frozen=True)
class CannedAnswer:
    """The relay answers itself, the server never sees the request."""

    where: PathRule
    status: int
    body: bytes
    content_type: str | None


@dataclass(frozen=True)
class Stall:
    """The request waits ``seconds`` before it goes on to the server (a slower link)."""

    where: PathRule
    seconds: float


@dataclass(frozen=True)
class Rewrite:
    """Every ``old`` in the answer body becomes ``new`` (the answer is buffered for it)."""

    where: PathRule
    old: bytes
    new: bytes


@dataclass
class Tripwire:
    """Runs ``action`` once, when ``limit`` body bytes went ``direction`` since it was armed:
    the test's way to act (kill the server, say) at a known point of a transfer."""

    limit: int
    direction: Direction
    action: Callable[[], None]
    counted: int = 0
    fired: bool = False
    armed: bool = True

    def passed(self, direction: Direction, nbytes: int) -> None:
        if not self.armed or self.fired or direction != self.direction:
            return
        self.counted += nbytes
        if self.counted >= self.limit:
            self.fired = True
            self.action()

    def disarm(self) -> None:
        """It fires no more (``fired`` keeps what happened)."""
        self.armed = False
