"""Issue 9 through the command, as a new user types it: every bad value is one line on stderr
and exit 2, checked before any request (the host in most cases is a closed port, so a request
would have said "cannot reach" instead)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from test_cli import (
    assert_one_line_error,
    clean_env,
    closed_port,
    config_dir,
    fresh_name,
    repo_exists,
    run_cli,
    server_args,
    write_tree,
)

from oxen_async import OxenClient

__all__ = ["config_dir"]  # the fixture, imported to be used here


def closed_host() -> list[str]:
    return ["--host", f"http://127.0.0.1:{closed_port()}"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    write_tree(tmp_path / "data", 2)
    return tmp_path / "data"


# --- item 1 and 5: bounds and values ----------------------------------------------------------

UPLOAD_BAD_OPTIONS = [
    (["--concurrency", "100000000"], "between 1 and 256"),
    (["--concurrency", "257"], "between 1 and 256"),
    (["--concurrency", "0"], "between 1 and 256"),
    (["--concurrency", "-3"], "between 1 and 256"),
    (["--concurrency", "1e3"], "whole number"),
    (["--batch-mb", "inf"], "positive number"),
    (["--batch-mb", "nan"], "positive number"),
    (["--batch-mb", "-1"], "positive number"),
    (["--batch-mb", "0"], "positive number"),
    (["--batch-mb", "1e300"], "at most 1,024 MiB"),
    (["--batch-mb", "2048"], "at most 1,024 MiB"),
    (["--max-delete", "-1", "--delete"], "from 0"),
    (["--max-delete", "5"], "only apply with --delete"),
    (["--force"], "only apply with --delete"),
]


@pytest.mark.parametrize(("options", "needle"), UPLOAD_BAD_OPTIONS)
async def test_upload_option_out_of_bounds(
    config_dir: Path, data: Path, options: list[str], needle: str
) -> None:
    result = await run_cli("upload", str(data), "ns/repo", *options, *closed_host(),
                           config_dir=config_dir)  # fmt: skip
    assert_one_line_error(result, needle)


@pytest.mark.parametrize(
    ("command", "options", "needle"),
    [
        (["download", "ns/repo", "out"], ["--concurrency", "100000000"], "between 1 and 256"),
        (["download", "ns/repo", "out"], ["--concurrency", "0"], "between 1 and 256"),
        (["log", "ns/repo"], ["-n", "10000000000"], "between 1 and 1,000,000"),
        (["log", "ns/repo"], ["-n", "0"], "between 1 and 1,000,000"),
    ],
)
async def test_other_counts_out_of_bounds(
    config_dir: Path, command: list[str], options: list[str], needle: str
) -> None:
    result = await run_cli(*command, *options, *closed_host(), config_dir=config_dir)
    assert_one_line_error(result, needle)


BAD_HOSTS = [
    ("http://127.0.0.1:99999", "invalid port"),
    ("http://127.0.0.1:0", "invalid port"),
    ("http://127.0.0.1:port", "invalid port"),
    ("http:", "invalid port"),
    ("http://", "names no server"),
    ("https://", "names no server"),
    (":99999", "names no server"),
    ("http://exa mple.org", "space or control"),
    ("ftp://example.org", "http(s)"),
]


@pytest.mark.parametrize(("host", "needle"), BAD_HOSTS)
@pytest.mark.parametrize("command", ["upload", "download", "ls", "log"])
async def test_bad_host_is_exit_2_one_line(
    config_dir: Path, data: Path, tmp_path: Path, command: str, host: str, needle: str
) -> None:
    args = {
        "upload": ["upload", str(data), "ns/repo"],
        "download": ["download", "ns/repo", str(tmp_path / "out")],
        "ls": ["ls", "ns/repo"],
        "log": ["log", "ns/repo"],
    }[command]
    result = await run_cli(*args, "--host", host, config_dir=config_dir)
    assert_one_line_error(result, needle)


@pytest.mark.parametrize(("host", "needle"), BAD_HOSTS[:5])
async def test_bad_host_from_the_environment(config_dir: Path, host: str, needle: str) -> None:
    result = await run_cli("ls", "ns/repo", config_dir=config_dir, env={"OXEN_HOST": host})
    assert_one_line_error(result, needle)


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
async def test_serve_bad_port(config_dir: Path, tmp_path: Path, port: str) -> None:
    result = await run_cli("serve", "--port", port, "--data-dir", str(tmp_path / "d"),
                           config_dir=config_dir)  # fmt: skip
    assert_one_line_error(result, "--port")
    assert not (tmp_path / "d").exists()


# --- item 3: one name rule, up and down -------------------------------------------------------


async def test_dest_with_a_backslash_is_refused_not_read_as_a_slash(
    config_dir: Path, data: Path
) -> None:
    result = await run_cli("upload", str(data), "ns/repo", "--dest", "x\\y", *closed_host(),
                           config_dir=config_dir)  # fmt: skip
    assert_one_line_error(result, "backslash", "x\\\\y")


async def test_download_path_with_a_backslash_is_refused(config_dir: Path, tmp_path: Path) -> None:
    result = await run_cli("download", "ns/repo", str(tmp_path / "out"), "--path", "x\\y",
                           *closed_host(), config_dir=config_dir)  # fmt: skip
    assert_one_line_error(result, "backslash")
    assert not (tmp_path / "out").exists()


async def test_a_backslash_file_is_refused_by_name_and_the_rest_round_trips(
    oxen_repo: Any, config_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    files = write_tree(src, 3)
    (src / "back\\slash.txt").write_text("x")
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    up = await run_cli("upload", str(src), spec, "--json", *server_args(oxen_repo.server),
                       config_dir=config_dir)  # fmt: skip
    assert up.code == 1, up  # a file failed: the run went ahead for the others
    report = json.loads(up.out)
    assert [(f["path"], "backslash" in f["reason"]) for f in report["failed"]] == [
        ("back\\slash.txt", True)
    ]
    down = await run_cli("download", spec, str(tmp_path / "out"), "--json",
                         *server_args(oxen_repo.server), config_dir=config_dir)  # fmt: skip
    assert down.code == 0, down
    got = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
           if p.is_file()}  # fmt: skip
    assert got == set(files)


# --- item 6: a download target under a file ---------------------------------------------------


@pytest.mark.parametrize("target", ["afile", "afile/sub", "afile/sub/deeper"])
async def test_download_under_a_file_is_one_up_front_error(
    config_dir: Path, tmp_path: Path, target: str
) -> None:
    (tmp_path / "afile").write_text("x")
    result = await run_cli("download", "ns/repo", str(tmp_path / target), *closed_host(),
                           config_dir=config_dir)  # fmt: skip
    assert_one_line_error(result, "afile", "not a folder")


# --- item 7: --delete with an empty source ----------------------------------------------------


async def test_delete_with_an_empty_source_is_refused_then_forced(
    oxen_repo: Any, config_dir: Path, tmp_path: Path
) -> None:
    files = write_tree(tmp_path / "data", 3)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)
    first = await run_cli("upload", str(tmp_path / "data"), spec, *server, config_dir=config_dir)
    assert first.code == 0, first
    empty = tmp_path / "empty"
    empty.mkdir()

    refused = await run_cli("upload", str(empty), spec, "--delete", *server,
                            config_dir=config_dir)  # fmt: skip
    assert refused.code == 1, refused
    assert f"refusing to remove all {len(files)} files" in refused.out
    assert "--force" in refused.out and "--max-delete" in refused.out
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        assert {p async for p, _ in repo.dirs.walk("main")} == set(files)

    limited = await run_cli("upload", str(empty), spec, "--delete", "--max-delete", "2", *server,
                            config_dir=config_dir)  # fmt: skip
    assert limited.code == 1, limited
    assert "more than 2 files" in limited.out

    forced = await run_cli("upload", str(empty), spec, "--delete", "--force", *server,
                           config_dir=config_dir)  # fmt: skip
    assert forced.code == 0, forced
    assert f"{len(files)} removed from the branch" in forced.out
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        assert {p async for p, _ in repo.dirs.walk("main")} == set()


async def test_removals_are_shown_in_the_summary(
    oxen_repo: Any, config_dir: Path, tmp_path: Path
) -> None:
    files = write_tree(tmp_path / "data", 6)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)
    assert (await run_cli("upload", str(tmp_path / "data"), spec, *server,
                          config_dir=config_dir)).code == 0  # fmt: skip
    gone = sorted(files)[:2]
    for rel in gone:
        (tmp_path / "data" / rel).unlink()
    result = await run_cli("upload", str(tmp_path / "data"), spec, "--delete", *server,
                           config_dir=config_dir)  # fmt: skip
    assert result.code == 0, result
    assert "2 removed from the branch" in result.out


# --- item 8: an empty folder into a new repository --------------------------------------------


async def test_empty_folder_into_a_new_repository_says_what_happened(
    oxen_server: Any, config_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    name = fresh_name()
    result = await run_cli("upload", str(empty), f"cli/{name}", "--create",
                           *server_args(oxen_server), config_dir=config_dir)  # fmt: skip
    assert result.code == 0, result
    assert "already has these files" not in result.out
    assert "the folder has no files" in result.out
    assert await repo_exists(oxen_server, "cli", name)


# --- README: a broken pipe --------------------------------------------------------------------


async def test_a_closed_stdout_is_a_quiet_exit(
    oxen_repo: Any, config_dir: Path, tmp_path: Path
) -> None:
    """``oxen-async ls | head -1``: the reader is gone before the listing is written."""
    write_tree(tmp_path / "data", 40)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)
    assert (await run_cli("upload", str(tmp_path / "data"), spec, *server,
                          config_dir=config_dir)).code == 0  # fmt: skip
    for command in (["ls", spec, "d0/sub"], ["log", spec]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before anything is written
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "oxen_async", *command, *server,
                env=clean_env(config_dir), stdin=asyncio.subprocess.DEVNULL,
                stdout=write_end, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        finally:
            os.close(write_end)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert (proc.returncode, err) == (141, b""), (command, proc.returncode, err)
