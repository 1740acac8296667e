"""The one retry policy and the one answer to "is this failure worth another try?".

The session retries one request's transient failures (when the request is safe to repeat).
A workflow above it (the uploader's batch sender, the merge) may add retries the session cannot
make, and says which; it derives its policy from the client's (``OxenClient(retry=...)``),
never from a fresh ``RetryPolicy()``, and never retries what the session already retried.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

from ..errors import HTTPError, TransportError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "QUERY"})
# Statuses the session repeats by itself: a gateway that lost its backend, or a server that
# turned the request away (throttled, maintenance lock). A plain 500 is transient too (see
# is_transient), but a GET that 500s mostly 500s again, so only workflows that know better
# (a store that failed) repeat it.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A 429 says the request was not acted on: even a non-idempotent one may be sent again.
NOT_PROCESSED = frozenset({429})


def is_transient(failure: BaseException | int) -> bool:
    """Whether a failure (an exception or an HTTP status) may go away if tried again: no
    answer at all, a throttle (429) or a server error (5xx)."""
    if isinstance(failure, TransportError):
        return True
    if isinstance(failure, HTTPError):
        failure = failure.status
    if isinstance(failure, bool) or not isinstance(failure, int):
        return False
    return failure == 429 or 500 <= failure <= 599


def retry_after_of(failure: BaseException) -> float | None:
    """The wait the server announced with a failure (Retry-After), if any."""
    return failure.retry_after if isinstance(failure, HTTPError) else None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring Retry-After, within a time budget.

    ``attempts`` counts every try (the first included); ``statuses`` are the ones the session
    repeats by itself.
    """

    attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 10.0
    budget: float = 120.0
    statuses: frozenset[int] = RETRY_STATUSES

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before try ``attempt + 1`` (``attempt`` 0 is the first retry)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay * 3)
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(cap / 2, cap)

    def session_repeats(self, failure: BaseException, *, idempotent: bool) -> bool:
        """Whether the session itself retries ``failure`` of a request: a workflow that sees
        it raised knows the session's tries are spent and must not start a second round."""
        if isinstance(failure, TransportError):
            return idempotent or failure.not_sent
        if isinstance(failure, HTTPError):
            allowed = self.statuses if idempotent else self.statuses & NOT_PROCESSED
            return failure.status in allowed
        return False

    def start(self) -> Retrier:
        """A fresh count of tries and time for one operation under this policy."""
        return Retrier(self)


NO_RETRY = RetryPolicy(attempts=1)


class Retrier:
    """The tries of one operation: ``wait_for(failure)`` says how long to wait before the next
    one, or None when the attempts or the time budget are spent."""

    __slots__ = ("attempt", "policy", "started")

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempt = 1  # the try under way
        self.started = time.monotonic()

    def wait_for(self, retry_after: float | None = None) -> float | None:
        policy = self.policy
        wait = policy.delay(self.attempt - 1, retry_after)
        if self.attempt >= policy.attempts:
            return None
        if time.monotonic() - self.started + wait > policy.budget:
            return None
        self.attempt += 1
        return wait
