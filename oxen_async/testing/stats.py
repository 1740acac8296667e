"""Per-route request counters, so tests can assert what actually crossed the wire.

Handlers run on the server's event loop while tests read from another thread: every access takes
one lock, and readers get copies.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field, replace


@dataclass
class RouteStats:
    """What one route received. ``file_bytes`` counts file-part payloads as sent (compressed)."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    body_bytes: int = 0
    file_parts: int = 0
    file_bytes: int = 0
    faults_injected: int = 0
    # /versions/uploads: uploads begun (awaiting parts) and parts accepted but ignored (re-sent).
    uploads_begun: int = 0
    parts_ignored: int = 0
    # Requests being handled now, and the most at once (a client's concurrency bound, seen
    # from the server's side).
    in_flight: int = 0
    peak_in_flight: int = 0

    def copy(self) -> RouteStats:
        return replace(self, statuses=Counter(self.statuses))


class RequestStats:
    """Counters keyed by route name (``"workspace_files_add"``, ``"versions_upload"``, ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, RouteStats] = {}

    def _route(self, route: str) -> RouteStats:
        stats = self._routes.get(route)
        if stats is None:
            stats = self._routes[route] = RouteStats()
        return stats

    def record_request(self, route: str) -> None:
        with self._lock:
            stats = self._route(route)
            stats.requests += 1
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)

    def record_done(self, route: str) -> None:
        """The handler of a request ``record_request`` counted has returned (or failed)."""
        with self._lock:
            self._route(route).in_flight -= 1

    def record_status(self, route: str, status: int) -> None:
        with self._lock:
            self._route(route).statuses[status] += 1

    def record_body(self, route: str, size: int) -> None:
        with self._lock:
            self._route(route).body_bytes += size

    def record_files(self, route: str, parts: int, size: int) -> None:
        with self._lock:
            stats = self._route(route)
            stats.file_parts += parts
            stats.file_bytes += size

    def record_upload_begun(self, route: str) -> None:
        with self._lock:
            self._route(route).uploads_begun += 1

    def record_part_ignored(self, route: str) -> None:
        with self._lock:
            self._route(route).parts_ignored += 1

    def record_fault(self, route: str) -> None:
        with self._lock:
            self._route(route).faults_injected += 1

    def snapshot(self) -> dict[str, RouteStats]:
        with self._lock:
            return {name: stats.copy() for name, stats in self._routes.items()}

    def route(self, route: str) -> RouteStats:
        with self._lock:
            stats = self._routes.get(route)
            return stats.copy() if stats is not None else RouteStats()

    def requests(self, route: str) -> int:
        return self.route(route).requests

    def file_bytes(self, route: str | None = None) -> int:
        """File-part bytes received by ``route``, or by all routes together."""
        with self._lock:
            if route is not None:
                stats = self._routes.get(route)
                return stats.file_bytes if stats is not None else 0
            return sum(stats.file_bytes for stats in self._routes.values())

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
