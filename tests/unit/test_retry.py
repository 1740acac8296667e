"""The one transient classification and the retry policy's arithmetic."""

from __future__ import annotations

import pytest

from oxen_async import NotFoundError, RetryPolicy, ServerError, TransportError
from oxen_async.http.retry import is_transient, parse_retry_after


@pytest.mark.parametrize(
    ("failure", "transient"),
    [
        (429, True),
        (500, True),
        (503, True),
        (599, True),
        (400, False),
        (404, False),
        (409, False),
        (200, False),
        (True, False),
        (TransportError("GET", "u", "reset"), True),
        (ServerError("GET", "u", 502, "bad gateway"), True),
        (NotFoundError("GET", "u", 404, "no"), False),
        (ValueError("x"), False),
    ],
)
def test_is_transient(failure: BaseException | int, transient: bool) -> None:
    assert is_transient(failure) is transient


def test_a_workflow_counts_the_tries_the_session_made() -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.001, max_delay=0.001)
    exhausted = ServerError("POST", "u", 503, "busy")
    exhausted.tries = 6  # the session already sent it six times
    assert policy.start().after(exhausted) is None

    once = ServerError("POST", "u", 500, "store failed")  # tries == 1: the session left it
    retrier = policy.start()
    waits = [retrier.after(once) for _ in range(6)]
    assert [w is not None for w in waits] == [True] * 5 + [False]


def test_retry_after_wins_over_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.001, max_delay=1.0)
    assert policy.delay(0, 2.5) == 2.5
    assert policy.delay(0, 100.0) == 3.0  # at most three times max_delay
    for attempt in range(6):
        cap = min(1.0, 0.001 * 2**attempt)
        assert cap / 2 <= policy.delay(attempt, None) <= cap


def test_the_budget_stops_a_wait_that_would_overrun_it() -> None:
    policy = RetryPolicy(attempts=10, budget=0.5)
    throttled = ServerError("GET", "u", 429, "busy", retry_after=1.0)
    assert policy.start().after(throttled) is None


def test_retry_after_parses_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-2") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_left_gives_the_session_only_the_tries_not_spent_yet() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.001, budget=60.0)
    retrier = policy.start()
    assert retrier.left().attempts == 5
    cut = TransportError("QUERY", "u", "body cut")  # tries == 1: the workflow's own retry
    assert retrier.after(cut) is not None
    assert retrier.left().attempts == 4
    gave_up = TransportError("QUERY", "u", "refused")
    gave_up.tries = 3  # the session spent what it was given
    assert retrier.after(gave_up) is not None
    assert retrier.left().attempts == 1
    assert retrier.left().budget <= 60.0
