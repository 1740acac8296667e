"""The one retry policy and the one answer to "is this failure worth another try?".

The session retries one request's transient failures (when the request is safe to repeat).
A workflow above it (the uploader's batch sender, the merge) may add retries the session does
not make (a 500 from a store, a merge whose answer was lost), and says which; it derives its
policy from the client's (``OxenClient(retry=...)``), never from a fresh ``RetryPolicy()``, and
counts the tries the session already made (``Retrier.after``), so the two never multiply.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, replace

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

    def start(self) -> Retrier:
        """A fresh count of tries and time for one operation under this policy."""
        return Retrier(self)


NO_RETRY = RetryPolicy(attempts=1)


class Retrier:
    """The tries of one operation under a policy.

    ``after(failure)`` counts the failed try and says how long to wait before the next one,
    or None when the attempts or the time budget are spent. A failure the session raised
    carries the tries it already made (``failure.tries``): a workflow retrying on top of the
    session counts them too, so the two never multiply.
    """

    __slots__ = ("policy", "started", "tries")

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.tries = 0  # failed tries so far
        self.started = time.monotonic()

    def after(self, failure: BaseException, retry_after: float | None = None) -> float | None:
        self.tries += max(1, getattr(failure, "tries", 1))
        policy = self.policy
        if self.tries >= policy.attempts:
            return None
        if retry_after is None:
            retry_after = retry_after_of(failure)
        wait = policy.delay(self.tries - 1, retry_after)
        if time.monotonic() - self.started + wait > policy.budget:
            return None
        return wait

    def left(self) -> RetryPolicy:
        """The policy for the session's next call within this operation: the tries and time
        not spent yet, so the session's own retries and the workflow's add up to the policy's
        ``attempts`` in all, never more."""
        policy = self.policy
        spent = time.monotonic() - self.started
        return replace(
            policy,
            attempts=max(1, policy.attempts - self.tries),
            budget=max(0.0, policy.budget - spent),
        )
