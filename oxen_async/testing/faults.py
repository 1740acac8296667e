"""Deliberate failures for client tests; a Python API only, never reachable over HTTP.

Tests run the server in a background thread with its own event loop and call these methods from
the test's thread, so all state sits behind one lock and the request path only ever takes that
lock briefly (no awaiting while holding it).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from oxen_async.hashing import normalize_hash
from oxen_async.testing.download_faults import DownloadFaults
from oxen_async.testing.stats import RequestStats

DropWhen = Literal["mid_body", "after_headers"]
# Byte-wise complement: corrupt content keeps its size but never its hash.
CORRUPT_TABLE = bytes(255 - value for value in range(256))


@dataclass(frozen=True)
class FailAction:
    """Answer with ``status`` instead of running the handler."""

    status: int
    retry_after: str | None = None


@dataclass(frozen=True)
class DropAction:
    """Close the connection after reading ``body_bytes`` of the request, or after the headers."""

    when: DropWhen
    body_bytes: int


@dataclass(frozen=True)
class Plan:
    """What the dispatcher does to one request: wait, then maybe fail or drop."""

    delay: float = 0.0
    terminal: FailAction | DropAction | None = None


@dataclass
class FaultRule:
    """One armed fault. ``hits`` says how often it fired; ``remaining`` None means unlimited."""

    kind: Literal["fail", "drop", "delay"]
    route: str | None
    path: re.Pattern[str] | None
    method: str | None
    remaining: int | None
    fraction: float = 1.0
    seed: int = 0
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    when: DropWhen = "mid_body"
    body_bytes: int = 0
    hits: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, route: str, method: str, path: str) -> bool:
        if self.route is not None and self.route != route:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None


class FaultController:
    """Arms faults and owns the request counters (``stats``).

    Selectors: ``route`` is a route name (see ``OxenTestServer.route_names``), ``path`` a regex
    searched in the request path (``/api/repos/ns/name/...``), ``method`` an HTTP method. All given
    selectors must match; none given matches every request.
    """

    def __init__(self, stats: RequestStats | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._fail_hashes: set[int] = set()
        self._fail_paths: set[str] = set()
        self._corrupt_hashes: set[int] = set()
        self._maintenance: set[str | None] = set()
        self._completion_drops = 0
        self._branch_moves = 0
        self.stats = stats if stats is not None else RequestStats()
        self.downloads = DownloadFaults()  # tar cuts and wrong bytes on the download routes

    # --- arming ------------------------------------------------------------------------------

    def _arm(self, rule: FaultRule) -> FaultRule:
        rule._rng.seed(rule.seed)
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail_next(
        self,
        count: int = 1,
        *,
        route: str | None = None,
        path: str | None = None,
        method: str | None = None,
        status: int = 503,
        retry_after: float | None = None,
    ) -> FaultRule:
        """Answer the next ``count`` matching requests with ``status`` (500 = the server's JSON)."""
        return self._arm(
            FaultRule(
                "fail",
                route,
                _compile(path),
                _upper(method),
                count,
                status=status,
                retry_after=_retry_after(retry_after, status),
            )
        )

    def fail_fraction(
        self,
        fraction: float,
        *,
        route: str | None = None,
        path: str | None = None,
        method: str | None = None,
        status: int = 503,
        seed: int = 0,
        retry_after: float | None = None,
        limit: int | None = None,
    ) -> FaultRule:
        """Fail about ``fraction`` of matching requests, decided by a PRNG seeded with ``seed``."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        return self._arm(
            FaultRule(
                "fail",
                route,
                _compile(path),
                _upper(method),
                limit,
                fraction=fraction,
                seed=seed,
                status=status,
                retry_after=_retry_after(retry_after, status),
            )
        )

    def drop_connection(
        self,
        count: int = 1,
        *,
        route: str | None = None,
        path: str | None = None,
        method: str | None = None,
        when: DropWhen = "mid_body",
        body_bytes: int = 1024,
    ) -> FaultRule:
        """Close the TCP connection of the next ``count`` matching requests.

        ``mid_body``: after reading up to ``body_bytes`` of the request body, nothing answered.
        ``after_headers``: the handler runs, then only the response headers and part of the body
        go out before the close.
        """
        return self._arm(
            FaultRule(
                "drop",
                route,
                _compile(path),
                _upper(method),
                count,
                when=when,
                body_bytes=body_bytes,
            )
        )

    def delay(
        self,
        seconds: float,
        *,
        route: str | None = None,
        path: str | None = None,
        method: str | None = None,
        count: int | None = None,
    ) -> FaultRule:
        """Hold matching requests ``seconds`` before handling (all of them unless ``count``)."""
        return self._arm(
            FaultRule("delay", route, _compile(path), _upper(method), count, seconds=seconds)
        )

    def fail_store(self, *, hashes: Iterable[str] = (), paths: Iterable[str] = ()) -> None:
        """Make content fail to store: listed in ``err_files`` on ``POST /versions``, silently
        missing from ``paths`` on the workspace files endpoint. ``paths`` are repo-relative
        staging paths; hashes compare numerically."""
        with self._lock:
            self._fail_hashes.update(int(normalize_hash(h), 16) for h in hashes)
            self._fail_paths.update(p.strip("/") for p in paths)

    def corrupt_content(self, *, hashes: Iterable[str]) -> None:
        """Serve other bytes of the same size for these blobs on every download route
        (``/file``, ``/versions/{resource}``, workspace file reads, ``QUERY /versions``)."""
        with self._lock:
            self._corrupt_hashes.update(int(normalize_hash(h), 16) for h in hashes)

    def maintenance(self, enabled: bool = True, *, repo: str | None = None) -> None:
        """While on, write routes answer 429 ``lock_timeout`` with ``Retry-After: 5``.

        ``repo`` (``"ns/name"``) limits it to one repository; None means every repository.
        """
        with self._lock:
            if enabled:
                self._maintenance.add(repo)
            else:
                self._maintenance.discard(repo)

    def drop_completion_answer(self, count: int = 1) -> None:
        """For the next ``count`` parts that complete a ``/versions/uploads`` upload: the file is
        verified, stored and staged, then the connection closes before the whole answer is out
        (the client lost the last part's answer; it should begin again: ``already_stored``)."""
        with self._lock:
            self._completion_drops += count

    def move_branch_during_merge(self, count: int = 1) -> None:
        """For the next ``count`` workspace merges: another writer moves the branch between the
        merge reading its head and swapping it (an empty commit lands on the branch), so the
        merge answers 429 ``branch_head_mismatch`` and its commit is discarded, as on 0.65."""
        with self._lock:
            self._branch_moves += count

    def reset(self) -> None:
        """Disarm everything and zero the counters."""
        with self._lock:
            self._completion_drops = 0
            self._branch_moves = 0
            self._rules.clear()
            self._fail_hashes.clear()
            self._fail_paths.clear()
            self._corrupt_hashes.clear()
            self._maintenance.clear()
        self.downloads.reset()
        self.stats.reset()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    # --- queried by the server ---------------------------------------------------------------

    def plan(self, route: str, method: str, path: str) -> Plan:
        """Consume the rules matching this request and say what to do with it."""
        delay = 0.0
        terminal: FailAction | DropAction | None = None
        with self._lock:
            for rule in self._rules:
                if rule.remaining == 0 or not rule.matches(route, method, path):
                    continue
                if rule.kind == "delay":
                    delay += rule.seconds
                elif terminal is not None or not self._roll(rule):
                    continue
                elif rule.kind == "fail":
                    terminal = FailAction(rule.status, rule.retry_after)
                else:
                    terminal = DropAction(rule.when, rule.body_bytes)
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
        return Plan(delay, terminal)

    @staticmethod
    def _roll(rule: FaultRule) -> bool:
        return rule.fraction >= 1.0 or rule._rng.random() < rule.fraction

    def store_fails(self, content_hash: str, path: str | None = None) -> bool:
        with self._lock:
            if not self._fail_hashes and not self._fail_paths:
                return False
            if path is not None and path in self._fail_paths:
                return True
            try:
                return int(content_hash, 16) in self._fail_hashes
            except ValueError:
                return False

    def serves_corrupt(self, content_hash: str) -> bool:
        with self._lock:
            if not self._corrupt_hashes:
                return False
            try:
                return int(content_hash, 16) in self._corrupt_hashes
            except ValueError:
                return False

    def drops_completion_answer(self) -> bool:
        """Consumes one armed completion drop (the caller records the fault)."""
        with self._lock:
            if self._completion_drops <= 0:
                return False
            self._completion_drops -= 1
            return True

    def moves_branch_now(self) -> bool:
        """Consumes one armed branch move (the caller records the fault)."""
        with self._lock:
            if self._branch_moves <= 0:
                return False
            self._branch_moves -= 1
            return True

    def in_maintenance(self, repo: str) -> bool:
        with self._lock:
            return None in self._maintenance or repo in self._maintenance


def _compile(path: str | None) -> re.Pattern[str] | None:
    return re.compile(path) if path is not None else None


def _upper(method: str | None) -> str | None:
    return method.upper() if method is not None else None


def _retry_after(seconds: float | None, status: int) -> str | None:
    if seconds is None:
        return "1" if status == 429 else None
    return f"{seconds:g}"
