"""The ``oxen-async`` command as a user runs it: a real subprocess against a running server.

Each run gets a clean environment (no OXEN_* from the developer's shell, a private
OXEN_CONFIG_DIR) so what the CLI sees is only what the test gives it. The subprocesses are
awaited with asyncio so the server, wherever its fixture runs it, keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oxen_async import OxenClient, RemoteRepo

AUTHOR_NAME = "Grace Hopper"
AUTHOR_EMAIL = "grace@example.com"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private oxen config dir whose user_config.toml names the commit author."""
    path = tmp_path / "oxen-config"
    path.mkdir()
    (path / "user_config.toml").write_text(
        f'name = "{AUTHOR_NAME}"\nemail = "{AUTHOR_EMAIL}"\n', encoding="utf-8"
    )
    return path


def clean_env(config_dir: Path | None = None) -> dict[str, str]:
    """The environment without the developer's OXEN_* settings; ``OXEN_ASYNC_*`` (the test's
    private state and cache folders, set by tests/conftest.py) stays."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OXEN_") or k.startswith("OXEN_ASYNC_")
    }
    if config_dir is not None:
        clean["OXEN_CONFIG_DIR"] = str(config_dir)
    return clean


async def run_cli(
    *args: str, config_dir: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Result:
    clean = clean_env(config_dir)
    clean.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "oxen_async",
        *args,
        env=clean,
        cwd=str(config_dir.parent),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def server_args(server: Any) -> list[str]:
    args = ["--host", server.url]
    if server.token:
        args += [f"--token={server.token}"]  # "=": a token may start with "-"
    return args


def assert_one_line_error(result: Result, *needles: str, code: int = 2) -> None:
    """Exit code, exactly one stderr line, no traceback, nothing on stdout."""
    assert result.code == code, result
    assert len(result.err_lines) == 1, result.err
    assert "Traceback" not in result.err
    assert result.out == ""
    line = result.err_lines[0].lower()
    for needle in needles:
        assert needle.lower() in line, result.err


def write_tree(root: Path, n: int = 30) -> dict[str, bytes]:
    files = {f"d{i % 3}/sub/file_{i:03d}.txt": f"row {i}\n".encode() * (i + 1) for i in range(n)}
    files["ünïcode/naïve café.txt"] = "naïve ☕\n".encode()
    files["top.bin"] = os.urandom(70_000)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there now


@pytest.fixture
async def remote(oxen_repo: Any) -> AsyncIterator[RemoteRepo]:
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        yield oxen.repo(oxen_repo.namespace, oxen_repo.name)


async def repo_exists(server: Any, namespace: str, name: str) -> bool:
    async with OxenClient(server.url, token=server.token) as oxen:
        return await oxen.repos.exists(namespace, name)


def fresh_name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


# --- usage errors: no server needed -----------------------------------------------------------


async def test_no_command_prints_help_and_exits_2(config_dir: Path) -> None:
    result = await run_cli(config_dir=config_dir)
    assert result.code == 2
    assert "upload" in result.err and "serve" in result.err


async def test_version(config_dir: Path) -> None:
    result = await run_cli("--version", config_dir=config_dir)
    assert result.code == 0
    assert result.out.startswith("oxen-async ")


@pytest.mark.parametrize(
    "args",
    [
        ["upload"],
        ["upload", "only-one-arg"],
        ["upload", ".", "ns/repo", "--concurrency", "0"],
        ["upload", ".", "ns/repo", "--batch-mb", "nope"],
        ["upload", ".", "ns/repo", "--no-such-flag"],
        ["frobnicate"],
    ],
)
async def test_usage_errors_are_one_line(config_dir: Path, args: list[str]) -> None:
    result = await run_cli(*args, config_dir=config_dir)
    assert_one_line_error(result, "error")


async def test_help_lists_upload_options(config_dir: Path) -> None:
    result = await run_cli("upload", "--help", config_dir=config_dir)
    assert result.code == 0
    for flag in ("--create", "--json", "--branch", "--dest", "--concurrency", "--no-resume"):
        assert flag in result.out


# --- bad arguments against a server: one line, exit 2, nothing created ------------------------


async def test_missing_folder(oxen_server: Any, config_dir: Path, tmp_path: Path) -> None:
    name = fresh_name()
    missing = tmp_path / "nope"
    result = await run_cli(
        "upload", str(missing), f"cli/{name}", "--create", *server_args(oxen_server),
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "does not exist", str(missing))
    assert not await repo_exists(oxen_server, "cli", name)


async def test_file_instead_of_folder(oxen_server: Any, config_dir: Path, tmp_path: Path) -> None:
    name = fresh_name()
    a_file = tmp_path / "data.csv"
    a_file.write_text("a,b\n")
    result = await run_cli(
        "upload", str(a_file), f"cli/{name}", "--create", *server_args(oxen_server),
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "not a folder", "data.csv")
    assert not await repo_exists(oxen_server, "cli", name)


@pytest.mark.parametrize("spec", ["noslash", "a/b/c", "/name", "ns/", "ns/..", "my ns/repo"])
async def test_malformed_repo_name(
    oxen_server: Any, config_dir: Path, tmp_path: Path, spec: str
) -> None:
    write_tree(tmp_path / "data", 2)
    result = await run_cli(
        "upload", str(tmp_path / "data"), spec, "--create", *server_args(oxen_server),
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, repr(spec))


@pytest.mark.parametrize("spec", ["x/dataset", "ns/y", "ns/_under", "ns/naïve", "ns/a+b"])
async def test_names_the_server_would_refuse_to_create(
    config_dir: Path, tmp_path: Path, spec: str
) -> None:
    """Checked before any request: the host here is closed, yet the error is about the name."""
    write_tree(tmp_path / "data", 2)
    result = await run_cli(
        "upload", str(tmp_path / "data"), spec, "--create",
        "--host", f"http://127.0.0.1:{closed_port()}",
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "cannot create", repr(spec))


async def test_unreachable_host(config_dir: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "data", 2)
    host = f"http://127.0.0.1:{closed_port()}"
    result = await run_cli(
        "upload", str(tmp_path / "data"), "cli/data", "--create", "--host", host,
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "cannot reach", host)


async def test_malformed_host(config_dir: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "data", 2)
    result = await run_cli(
        "upload", str(tmp_path / "data"), "cli/data", "--host", "ftp://example.invalid",
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "host")


async def test_wrong_token_is_refused_and_never_printed(
    oxen_server: Any, config_dir: Path, tmp_path: Path
) -> None:
    if not oxen_server.token:
        pytest.skip("this server does not check tokens")
    write_tree(tmp_path / "data", 2)
    name = fresh_name()
    wrong = "wrong-" + uuid.uuid4().hex
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"cli/{name}", "--create",
        "--host", oxen_server.url, "--token", wrong, "--json",
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "token")
    assert wrong not in result.err and wrong not in result.out
    assert not await repo_exists(oxen_server, "cli", name)


async def test_missing_token_is_refused(oxen_server: Any, config_dir: Path, tmp_path: Path) -> None:
    if not oxen_server.token:
        pytest.skip("this server does not check tokens")
    write_tree(tmp_path / "data", 2)
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"cli/{fresh_name()}", "--create",
        "--host", oxen_server.url,
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "token")


async def test_missing_repository_without_create(
    oxen_server: Any, config_dir: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "data", 2)
    name = fresh_name()
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"cli/{name}", *server_args(oxen_server),
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "not found")
    assert not await repo_exists(oxen_server, "cli", name)


async def test_no_author_anywhere(oxen_server: Any, tmp_path: Path) -> None:
    empty_config = tmp_path / "empty-config"
    empty_config.mkdir()
    write_tree(tmp_path / "data", 2)
    name = fresh_name()
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"cli/{name}", "--create", *server_args(oxen_server),
        config_dir=empty_config,
    )  # fmt: skip
    assert_one_line_error(result, "author", "user_config.toml")
    assert not await repo_exists(oxen_server, "cli", name)


async def test_ls_of_missing_repository(oxen_server: Any, config_dir: Path) -> None:
    result = await run_cli(
        "ls", f"cli/{fresh_name()}", *server_args(oxen_server), config_dir=config_dir
    )
    assert_one_line_error(result, "not found")


# --- uploads ----------------------------------------------------------------------------------


async def test_upload_folder_then_rerun_is_nothing_to_commit(
    oxen_repo: Any, remote: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    files = write_tree(tmp_path / "data")
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)

    first = await run_cli(
        "upload", str(tmp_path / "data"), spec, "-m", "first", *server, config_dir=config_dir
    )
    assert first.code == 0, first
    assert "Traceback" not in first.err
    head = await remote.branches.get("main")
    assert head.commit_id in first.out  # the summary names the commit
    assert f"{len(files):,} uploaded" in first.out
    assert "0 failed" in first.out
    listed = {path async for path, _entry in remote.dirs.walk("main")}
    assert listed == set(files)

    again = await run_cli("upload", str(tmp_path / "data"), spec, *server, config_dir=config_dir)
    assert again.code == 0, again
    assert "nothing to commit" in again.out.lower()
    assert f"{len(files):,} unchanged" in again.out
    assert (await remote.branches.get("main")).commit_id == head.commit_id


async def test_json_report_accounts_for_every_file(
    oxen_repo: Any, remote: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    files = write_tree(tmp_path / "data")
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    result = await run_cli(
        "upload", str(tmp_path / "data"), spec, "--json", *server_args(oxen_repo.server),
        config_dir=config_dir,
    )  # fmt: skip
    assert result.code == 0, result
    report = json.loads(result.out)  # stdout is exactly the report
    assert report["status"] == "committed"
    assert report["repo"] == spec and report["branch"] == "main"
    assert report["files_total"] == len(files)
    accounted = (
        report["files_uploaded"]
        + report["files_unchanged"]
        + report["files_resumed"]
        + len(report["failed"])
    )
    assert accounted == len(files)
    assert report["failed"] == []
    assert report["bytes_total"] == sum(len(d) for d in files.values())
    assert report["commit_id"] == (await remote.branches.get("main")).commit_id
    token = oxen_repo.server.token
    if token:
        assert token not in result.out and token not in result.err

    again = await run_cli(
        "upload", str(tmp_path / "data"), spec, "--json", *server_args(oxen_repo.server),
        config_dir=config_dir,
    )  # fmt: skip
    assert again.code == 0, again
    rerun = json.loads(again.out)
    assert rerun["status"] == "nothing_to_commit"
    assert rerun["files_unchanged"] == len(files)
    assert rerun["files_uploaded"] == 0


async def test_create_then_upload_with_dest_branch_and_token_from_env(
    oxen_server: Any, config_dir: Path, tmp_path: Path
) -> None:
    """--create makes the repository; the token may come from OXEN_AUTH_TOKEN instead."""
    files = write_tree(tmp_path / "data", 5)
    name = fresh_name()
    env = {"OXEN_AUTH_TOKEN": oxen_server.token} if oxen_server.token else {}
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"cli/{name}", "--create", "--dest", "raw/batch 1",
        "--host", oxen_server.url, "--json",
        config_dir=config_dir, env=env,
    )  # fmt: skip
    assert result.code == 0, result
    assert json.loads(result.out)["files_uploaded"] == len(files)
    async with OxenClient(oxen_server.url, token=oxen_server.token) as oxen:
        repo = oxen.repo("cli", name)
        listed = {path async for path, _entry in repo.dirs.walk("main")}
    assert listed == {f"raw/batch 1/{rel}" for rel in files}

    ls = await run_cli(
        "ls", f"cli/{name}", "raw/batch 1", "--host", oxen_server.url,
        config_dir=config_dir, env=env,
    )  # fmt: skip
    assert ls.code == 0, ls
    names = [line.split()[-1] for line in ls.out.splitlines()]
    assert "d0/" in names and "top.bin" in names


async def test_author_comes_from_user_config(
    oxen_repo: Any, remote: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "data", 3)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)
    result = await run_cli(
        "upload", str(tmp_path / "data"), spec, "-m", "from config", *server,
        config_dir=config_dir,
    )  # fmt: skip
    assert result.code == 0, result
    commit = await remote.commits.get((await remote.branches.get("main")).commit_id)
    assert (commit.author, commit.email) == (AUTHOR_NAME, AUTHOR_EMAIL)
    assert commit.message == "from config"

    log = await run_cli("log", spec, *server, config_dir=config_dir)
    assert log.code == 0, log
    assert commit.id in log.out and AUTHOR_NAME in log.out and "from config" in log.out


async def test_author_flags_override_user_config(
    oxen_repo: Any, remote: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "data", 3)
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"{oxen_repo.namespace}/{oxen_repo.name}",
        "--author-name", "Alan Turing", "--author-email", "alan@example.com",
        *server_args(oxen_repo.server),
        config_dir=config_dir,
    )  # fmt: skip
    assert result.code == 0, result
    commit = await remote.commits.get((await remote.branches.get("main")).commit_id)
    assert (commit.author, commit.email) == ("Alan Turing", "alan@example.com")


async def test_missing_branch_is_a_one_line_error(
    oxen_repo: Any, remote: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "data", 3)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)
    first = await run_cli("upload", str(tmp_path / "data"), spec, *server, config_dir=config_dir)
    assert first.code == 0, first
    before = await remote.branches.list()

    result = await run_cli(
        "upload", str(tmp_path / "data"), spec, "--branch", "no-such-branch", *server,
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "no-such-branch")
    assert await remote.branches.list() == before


async def test_failed_files_exit_1_and_are_listed_by_path(
    oxen_repo: Any, remote: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    """Broken symlinks fail by path; the rest still lands; the summary stops after 20."""
    files = write_tree(tmp_path / "data", 4)
    broken = [f"broken/link_{i:02d}" for i in range(23)]
    (tmp_path / "data" / "broken").mkdir()
    for rel in broken:
        os.symlink(tmp_path / "nowhere" / rel, tmp_path / "data" / rel)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)

    human = await run_cli("upload", str(tmp_path / "data"), spec, *server, config_dir=config_dir)
    assert human.code == 1, human
    assert "Traceback" not in human.err
    assert "Failed files (23):" in human.out
    shown = [line for line in human.out.splitlines() if "broken/link_" in line]
    assert len(shown) == 20
    assert "... and 3 more" in human.out
    listed = {path async for path, _entry in remote.dirs.walk("main")}
    assert listed == set(files)  # everything readable landed

    as_json = await run_cli(
        "upload", str(tmp_path / "data"), spec, "--json", *server, config_dir=config_dir
    )
    assert as_json.code == 1, as_json
    report = json.loads(as_json.out)
    assert sorted(f["path"] for f in report["failed"]) == broken
    assert all(f["reason"] for f in report["failed"])


async def test_symlinked_directory_is_not_followed(
    oxen_repo: Any, remote: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    files = write_tree(tmp_path / "data", 3)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not part of the dataset")
    os.symlink(outside, tmp_path / "data" / "linked-dir")
    os.symlink(tmp_path / "data" / "top.bin", tmp_path / "data" / "top-link.bin")
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"{oxen_repo.namespace}/{oxen_repo.name}", "--json",
        *server_args(oxen_repo.server),
        config_dir=config_dir,
    )  # fmt: skip
    assert result.code == 0, result
    report = json.loads(result.out)
    assert report["skipped_symlink_dirs"] == ["linked-dir"]
    listed = {path async for path, _entry in remote.dirs.walk("main")}
    assert listed == set(files) | {"top-link.bin"}


async def test_verbose_logs_to_stderr_without_the_token(
    oxen_repo: Any, config_dir: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "data", 3)
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"{oxen_repo.namespace}/{oxen_repo.name}", "-v",
        *server_args(oxen_repo.server),
        config_dir=config_dir,
    )  # fmt: skip
    assert result.code == 0, result
    assert "oxen_async" in result.err  # log records name their logger
    token = oxen_repo.server.token
    if token:
        assert token not in result.err and token not in result.out


# --- downloads --------------------------------------------------------------------------------


async def test_download_mirrors_the_folder_and_skips_what_is_there(
    oxen_repo: Any, config_dir: Path, tmp_path: Path
) -> None:
    files = write_tree(tmp_path / "data", 8)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)
    up = await run_cli("upload", str(tmp_path / "data"), spec, *server, config_dir=config_dir)
    assert up.code == 0, up

    target = tmp_path / "copy"
    down = await run_cli("download", spec, str(target), *server, config_dir=config_dir)
    assert down.code == 0, down
    assert f"{len(files):,} downloaded" in down.out
    got = {
        p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()
    }
    assert got == files

    again = await run_cli("download", spec, str(target), "--json", *server, config_dir=config_dir)
    assert again.code == 0, again
    report = json.loads(again.out)
    assert report["ok"] is True
    assert report["files_downloaded"] == 0 and report["files_skipped"] == len(files)

    sub = await run_cli(
        "download", spec, str(tmp_path / "sub"), "--path", "d0", "--json", *server,
        config_dir=config_dir,
    )  # fmt: skip
    assert sub.code == 0, sub
    expected = {rel.removeprefix("d0/") for rel in files if rel.startswith("d0/")}
    got_sub = {p.relative_to(tmp_path / "sub").as_posix() for p in (tmp_path / "sub").rglob("*")}
    assert expected <= got_sub
    assert json.loads(sub.out)["files_downloaded"] == len(expected)


async def test_download_errors_are_one_line(
    oxen_repo: Any, config_dir: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "data", 2)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)
    up = await run_cli("upload", str(tmp_path / "data"), spec, *server, config_dir=config_dir)
    assert up.code == 0, up

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    into_file = await run_cli("download", spec, str(a_file), *server, config_dir=config_dir)
    assert_one_line_error(into_file, "not a folder")

    no_rev = await run_cli(
        "download", spec, str(tmp_path / "out"), "--revision", "no-such-branch", *server,
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(no_rev, "not found")

    bad_repo = await run_cli("download", "noslash", str(tmp_path / "out"), config_dir=config_dir)
    assert_one_line_error(bad_repo, "NAMESPACE/REPO")


@pytest.mark.fake_only
async def test_interrupted_upload_exits_130_and_the_rerun_resumes(
    oxen_repo: Any, oxen_faults: Any, remote: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    files = write_tree(tmp_path / "data", 40)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    # Every request held a while, so the upload is still sending when the signal comes.
    oxen_faults.delay(0.5)
    clean = clean_env(config_dir)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oxen_async", "upload", str(tmp_path / "data"), spec,
        "--concurrency", "1", "--batch-mb", "0.01", *server_args(oxen_repo.server),
        env=clean, cwd=str(tmp_path), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    # Interrupt once a batch has been answered (one request at a time: the second batch began
    # after the first was staged), waiting on the server's counter, not on the clock.
    deadline = asyncio.get_running_loop().time() + 60
    while oxen_faults.stats.requests("workspace_files_add") < 2:
        assert proc.returncode is None, "the upload ended before it could be interrupted"
        assert asyncio.get_running_loop().time() < deadline, "no batch was sent within 60 s"
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    interrupted = Result(proc.returncode or 0, out.decode(), err.decode())
    assert_one_line_error(interrupted, "interrupted", "resume", code=130)
    oxen_faults.reset()

    rerun = await run_cli(
        "upload", str(tmp_path / "data"), spec, "--json", *server_args(oxen_repo.server),
        config_dir=config_dir,
    )  # fmt: skip
    assert rerun.code == 0, rerun
    report = json.loads(rerun.out)
    assert report["status"] == "committed"
    assert report["files_total"] == len(files)
    assert report["files_resumed"] > 0  # what the interrupted run staged was not sent again
    listed = {path async for path, _entry in remote.dirs.walk("main")}
    assert listed == set(files)


# --- serve ------------------------------------------------------------------------------------


async def test_serve_runs_until_terminated(config_dir: Path, tmp_path: Path) -> None:
    port = closed_port()
    data_dir = tmp_path / "served"
    token = uuid.uuid4().hex
    clean = clean_env()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oxen_async", "serve", "--port", str(port),
        "--data-dir", str(data_dir), "--auth-token", token,
        env=clean, cwd=str(tmp_path), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        ready = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert f"http://127.0.0.1:{port}".encode() in ready, ready
        assert token.encode() not in ready
        async with OxenClient(f"http://127.0.0.1:{port}", token=token) as oxen:
            await oxen.repos.create("served", "repo")
            assert await oxen.repos.exists("served", "repo")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0
    assert data_dir.is_dir() and any(data_dir.iterdir())  # the repository is on disk


async def test_serve_on_a_busy_port_is_a_one_line_error(config_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = await run_cli(
            "serve", "--port", str(port), "--data-dir", str(tmp_path / "d"), config_dir=config_dir
        )
    assert_one_line_error(result, "address already in use")
