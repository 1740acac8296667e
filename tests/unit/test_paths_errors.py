"""URL quoting as oxen-server decodes it, and the status -> exception mapping."""

from __future__ import annotations

import pytest

from oxen_async import paths
from oxen_async.errors import (
    AlreadyExistsError,
    BadRequestError,
    ConfigError,
    ConflictError,
    HTTPError,
    NotFoundError,
    NothingToCommitError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UnprocessableError,
    UpdateRequiredError,
    error_for_status,
)


def test_a_segment_keeps_plus_literal_and_quotes_the_rest() -> None:
    assert paths.segment("a+b c%") == "a+b%20c%25"
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(ConfigError):
            paths.segment(bad)


def test_a_branch_keeps_slash_and_plus() -> None:
    assert paths.branch("feat/x+y z") == "feat/x+y%20z"
    with pytest.raises(ConfigError):
        paths.branch("")


def test_repo_paths_are_normalised_and_never_climb() -> None:
    assert paths.repo_path("/a//./b/c/") == "a/b/c"
    # issue 9: a backslash is refused by the one name rule, never read as '/'
    with pytest.raises(ConfigError, match="backslash"):
        paths.repo_path("a/b\\c")
    assert paths.repo_path("") == ""
    with pytest.raises(ConfigError, match=r"'\.\.'"):
        paths.repo_path("a/../b")


def test_a_resource_quotes_every_segment_once() -> None:
    assert paths.resource("main", "dir/a b+%.txt") == "main/dir/a%20b%2B%25.txt"
    assert paths.resource("feat/x", "") == "feat/x"
    with pytest.raises(ConfigError):
        paths.resource("", "a")


def test_a_directory_tail_is_empty_for_the_root() -> None:
    assert paths.directory("") == ""
    assert paths.directory("/x y/z/") == "x%20y/z"


@pytest.mark.parametrize(
    ("status", "message", "error_type", "cls"),
    [
        (401, "no", None, UnauthorizedError),
        (403, "no", None, UnauthorizedError),
        (404, "gone", None, NotFoundError),
        (409, "repo already exists", None, AlreadyExistsError),
        (409, "behind", None, ConflictError),
        (422, "x", "no_changes", NothingToCommitError),
        (422, "No_Changes", None, NothingToCommitError),
        (422, "bad data", None, UnprocessableError),
        (426, "old", None, UpdateRequiredError),
        (429, "busy", None, RateLimitedError),
        (500, "boom", None, ServerError),
        (503, "busy", None, ServerError),
        (400, "bad", None, BadRequestError),
        (413, "big", None, BadRequestError),
        (418, "teapot", None, HTTPError),
    ],
)
def test_error_for_status(status: int, message: str, error_type: str | None, cls: type) -> None:
    error = error_for_status("GET", "http://h/x", status, message, error_type=error_type)
    assert type(error) is cls
    assert (error.status, error.message, error.url) == (status, message, "http://h/x")
    assert str(error) == f"GET http://h/x -> {status}: {message}"


def test_an_error_keeps_the_announced_wait() -> None:
    error = error_for_status("GET", "u", 429, "busy", retry_after=1.5)
    assert error.retry_after == 1.5
