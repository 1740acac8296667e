"""The rule units of issue 9, alone: bounds, host URLs, the file-name rule, the removal guard
and the download target check. Each hostile value is one parametrized case."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from oxen_async import limits, paths
from oxen_async.errors import ConfigError, OxenError
from oxen_async.hosts import HostError, normalize_host
from oxen_async.upload.removal_guard import RemovalGuard, RemovalRefusedError

# --- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, limits.MAX_CONCURRENCY + 1, 100_000_000, 10**30])
def test_concurrency_out_of_range_is_refused_with_the_range(value: int) -> None:
    with pytest.raises(limits.LimitError, match=r"concurrency must be between 1 and 256"):
        limits.concurrency(value)


@pytest.mark.parametrize("value", [1.5, "8", True, None])
def test_concurrency_must_be_a_whole_number(value: object) -> None:
    with pytest.raises(limits.LimitError, match="whole number"):
        limits.concurrency(value)


@pytest.mark.parametrize("value", [1, 8, limits.MAX_CONCURRENCY])
def test_concurrency_in_range_passes(value: int) -> None:
    assert limits.concurrency(value) == value


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0.0, -1.0, 1e300, 1025.0])
def test_batch_mebibytes_refuses_non_finite_non_positive_and_huge(value: float) -> None:
    with pytest.raises(limits.LimitError, match="batch size"):
        limits.mebibytes(value)


def test_batch_mebibytes_converts() -> None:
    assert limits.mebibytes(0.5) == limits.MiB // 2
    assert limits.mebibytes(1e-9) == 1  # never zero bytes


def test_upload_settings_bound_the_memory_product() -> None:
    limits.upload_settings(8, 4 * limits.MiB, 1000)
    with pytest.raises(limits.LimitError, match="GiB"):
        limits.upload_settings(limits.MAX_CONCURRENCY, limits.MAX_BATCH_BYTES, 1000)
    with pytest.raises(limits.LimitError, match="batch_files"):
        limits.upload_settings(8, 1024, 0)


@pytest.mark.parametrize("value", [-1, 65536, 99999])
def test_port_range(value: int) -> None:
    with pytest.raises(limits.LimitError, match="port"):
        limits.port(value)


def test_workers_follow_the_work_not_the_number_asked_for() -> None:
    assert limits.workers_for(256, 3) == 3
    assert limits.workers_for(4, 1000) == 4
    assert limits.workers_for(8, 0) == 1


def test_limit_error_is_an_oxen_config_error() -> None:
    assert issubclass(limits.LimitError, ConfigError)


# --- hosts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("http://127.0.0.1:99999", "port"),
        (":99999", "names no server"),
        ("http://host:abc", "port"),
        ("http://127.0.0.1:0", "port"),
        ("http:", "port"),
        ("http://", "names no server"),
        ("http://:80", "names no server"),
        ("https://", "names no server"),
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://example.org", "http(s)"),
        ("http://user:pw@example.org", "credentials"),
        ("http://example.org/?q=1", "query"),
        ("http://exa mple.org", "space or control"),
        ("http://exa\nmple.org", "space or control"),
        ("http://exa\tmple.org", "space or control"),
        ("http://exa_mp!e.org", "server name"),
    ],
)
def test_bad_hosts_are_one_line_config_errors(text: str, needle: str) -> None:
    with pytest.raises(HostError) as caught:
        normalize_host(text)
    message = str(caught.value)
    assert needle in message and "\n" not in message
    assert isinstance(caught.value, OxenError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost:3000", "http://localhost:3000"),
        ("http://localhost:3000/", "http://localhost:3000"),
        ("hub.oxen.ai", "https://hub.oxen.ai"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("https://example.org/oxen/", "https://example.org/oxen"),
    ],
)
def test_good_hosts_normalize(text: str, expected: str) -> None:
    assert normalize_host(text) == expected
    assert normalize_host(expected) == expected  # idempotent


# --- the file-name rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("a\\b.txt", "backslash"),
        ("dir\\", "backslash"),
        ("new\nline.txt", "control character"),
        ("tab\there", "control character"),
        ("nul\x00", "control character"),
        ("del\x7f", "control character"),
        ("c1\x85", "control character"),
        (os.fsdecode(b"bad\xff.txt"), "UTF-8"),
        ("a//b", "path component"),
        ("a/./b", "path component"),
        ("../up", "path component"),
        ("x" * 256, "255 bytes"),
        ("é" * 128, "255 bytes"),  # 256 bytes of UTF-8 in 128 characters
        ("", "empty"),
    ],
)
def test_names_that_cannot_round_trip_are_refused_with_the_reason(name: str, needle: str) -> None:
    problem = paths.name_problem(name)
    assert problem is not None and needle in problem
    with pytest.raises(paths.UnsafeNameError) as caught:
        paths.check_name(name)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    "name",
    ["plain.txt", "a b/c d.txt", "ünïcode/naïve café.txt", "q\"uote'.txt", "100%.txt", "a+b#c?.txt",
     "x" * 255, "é" * 127, "emoji 🐂.txt", " lead and trail ", "-dash", "~tilde"],
)  # fmt: skip
def test_names_that_round_trip_pass(name: str) -> None:
    assert paths.name_problem(name) is None
    assert paths.check_name(name) == name


def test_repo_path_refuses_a_backslash_instead_of_reading_it_as_a_slash() -> None:
    with pytest.raises(paths.UnsafeNameError, match="backslash"):
        paths.repo_path("x\\y")
    assert paths.repo_path("/x//y/") == "x/y"


# --- the removal guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("removing", "total", "guard", "allowed"),
    [
        (4, 4, RemovalGuard(), False),  # an empty source: everything would go
        (1, 1, RemovalGuard(), False),
        (9, 10, RemovalGuard(), True),  # below GUARDED_FROM: an edit
        (10, 19, RemovalGuard(), False),  # more than half, 10 or more
        (10, 20, RemovalGuard(), True),  # exactly half
        (3, 100, RemovalGuard(), True),
        (0, 0, RemovalGuard(), True),
        (4, 4, RemovalGuard(force=True), True),
        (4, 4, RemovalGuard(max_delete=4), True),
        (5, 100, RemovalGuard(max_delete=4), False),
        (5, 100, RemovalGuard(max_delete=4, force=True), False),  # the explicit limit holds
        (1, 100, RemovalGuard(max_delete=0), False),
    ],
)
def test_removal_guard(removing: int, total: int, guard: RemovalGuard, allowed: bool) -> None:
    if allowed:
        guard.check(removing, total, "ns/r@main:/")
    else:
        with pytest.raises(RemovalRefusedError) as caught:
            guard.check(removing, total, "ns/r@main:/")
        assert "ns/r@main:/" in str(caught.value) and "\n" not in str(caught.value)


def test_removal_guard_fails_early_on_an_explicit_limit() -> None:
    RemovalGuard(max_delete=2).check_running(2, "x")
    with pytest.raises(RemovalRefusedError, match="more than 2"):
        RemovalGuard(max_delete=2).check_running(3, "x")
    RemovalGuard().check_running(10**6, "x")  # the default rule needs the total


@pytest.mark.parametrize("value", [-1, 1.5, True, limits.MAX_COUNT + 1])
def test_removal_guard_refuses_a_bad_limit(value: object) -> None:
    with pytest.raises(ConfigError, match="max_delete"):
        RemovalGuard(max_delete=value)  # type: ignore[arg-type]


# --- the download target ----------------------------------------------------------------------


def test_download_target_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for target in ("afile", "afile/sub", "afile/sub/deeper"):
        problem = paths.writable_target(str(tmp_path / target))
        assert problem is not None and "afile" in problem and "not a folder" in problem
    assert paths.writable_target(str(tmp_path / "new" / "sub")) is None
    assert paths.writable_target(str(tmp_path)) is None
