"""Issue 9 through the library's public entry points: the same bounds and rules as the CLI,
raised as one-line OxenError subclasses before any request (most clients here point at a
closed port, so a request would have raised TransportError instead)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from pathlib import Path
from typing import Any

import pytest
from test_cli import closed_port, write_tree

from oxen_async import (
    Author,
    ClientStateError,
    ConfigError,
    OxenClient,
    OxenError,
    RemoteRepo,
)
from oxen_async.hosts import HostError
from oxen_async.limits import LimitError
from oxen_async.paths import UnsafeNameError

AUTHOR = Author("Hostile", "hostile@example.com")


@pytest.fixture
async def nowhere() -> Any:
    """A repository handle on a closed port: any request would be a TransportError."""
    async with OxenClient(f"http://127.0.0.1:{closed_port()}") as oxen:
        yield oxen.repo("ns", "repo")


@pytest.fixture
async def repo(oxen_repo: Any) -> Any:
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        yield oxen.repo(oxen_repo.namespace, oxen_repo.name)


# --- item 5: hosts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", [":99999", "http://127.0.0.1:99999", "http://", "http:", "http://a b", "https://u@h"]
)
def test_a_bad_host_is_an_oxen_error(host: str) -> None:
    with pytest.raises(HostError) as caught:
        OxenClient(host)
    assert isinstance(caught.value, OxenError) and "\n" not in str(caught.value)


# --- item 1: bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 100_000_000},
        {"concurrency": 257},
        {"concurrency": 0},
        {"batch_bytes": 0},
        {"batch_bytes": math.inf},
        {"batch_bytes": 2 * 1024**3},
        {"batch_files": 0},
        {"concurrency": 256, "batch_bytes": 1024**3},  # 260 GiB in flight
        {"delete_missing": True, "max_delete": -1},
    ],
)
async def test_upload_bounds(nowhere: RemoteRepo, tmp_path: Path, options: dict[str, Any]) -> None:
    write_tree(tmp_path / "data", 2)
    with pytest.raises(ConfigError) as caught:
        await nowhere.upload_folder(tmp_path / "data", author=AUTHOR, **options)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("concurrency", [0, 257, 100_000_000])
async def test_download_bounds(nowhere: RemoteRepo, tmp_path: Path, concurrency: int) -> None:
    with pytest.raises(LimitError, match="between 1 and 256"):
        await nowhere.download_folder("main", "", tmp_path / "out", concurrency=concurrency)
    with pytest.raises(LimitError, match="between 1 and 256"):
        async with contextlib.aclosing(
            nowhere.iter_files("main", concurrency=concurrency)
        ) as files:
            async for _ in files:
                pass


# --- items 3 and 6: names and targets ---------------------------------------------------------


async def test_dest_with_a_backslash(nowhere: RemoteRepo, tmp_path: Path) -> None:
    write_tree(tmp_path / "data", 2)
    with pytest.raises(UnsafeNameError, match="backslash"):
        await nowhere.upload_folder(tmp_path / "data", dest="x\\y", author=AUTHOR)


@pytest.mark.parametrize("target", ["afile", "afile/sub"])
async def test_download_under_a_file(nowhere: RemoteRepo, tmp_path: Path, target: str) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        await nowhere.download_folder("main", "", tmp_path / target)


async def test_no_author_names_the_argument(nowhere: RemoteRepo, tmp_path: Path) -> None:
    write_tree(tmp_path / "data", 2)
    with pytest.raises(ConfigError, match=r"author=Author\(name, email\).*user_config\.toml"):
        await nowhere.upload_folder(tmp_path / "data")


# --- item 7: the removal guard ----------------------------------------------------------------


async def test_delete_missing_with_an_empty_source(repo: RemoteRepo, tmp_path: Path) -> None:
    files = write_tree(tmp_path / "data", 12)
    state = tmp_path / "state"
    first = await repo.upload_folder(tmp_path / "data", author=AUTHOR, state_dir=state)
    assert first.ok
    head = (await repo.branches.get("main")).commit_id
    (tmp_path / "empty").mkdir()

    refused = await repo.upload_folder(
        tmp_path / "empty", author=AUTHOR, state_dir=state, delete_missing=True
    )
    assert refused.status == "failed" and refused.files_removed == 0
    assert refused.error is not None and f"refusing to remove all {len(files)}" in refused.error
    assert (await repo.branches.get("main")).commit_id == head

    # A nearly empty source: one file left of 14 still removes more than half.
    (tmp_path / "empty" / "top.bin").write_bytes(files["top.bin"])
    nearly = await repo.upload_folder(
        tmp_path / "empty", author=AUTHOR, state_dir=state, delete_missing=True
    )
    assert nearly.status == "failed" and nearly.error is not None
    assert "more than half" in nearly.error
    assert (await repo.branches.get("main")).commit_id == head

    allowed = await repo.upload_folder(
        tmp_path / "empty", author=AUTHOR, state_dir=state, delete_missing=True,
        max_delete=len(files),
    )  # fmt: skip
    assert allowed.status == "committed", allowed
    assert allowed.files_removed == len(files) - 1
    assert {p async for p, _ in repo.dirs.walk("main")} == {"top.bin"}


# --- item 9: the client's life ----------------------------------------------------------------


async def test_a_client_not_opened_or_closed_says_so(oxen_repo: Any) -> None:
    server = oxen_repo.server
    oxen = OxenClient(server.url, token=server.token)
    with pytest.raises(ClientStateError, match=r"not open.*async with"):
        await oxen.repos.exists(oxen_repo.namespace, oxen_repo.name)
    async with oxen:
        assert await oxen.repos.exists(oxen_repo.namespace, oxen_repo.name)
    with pytest.raises(ClientStateError, match="closed"):
        await oxen.repos.exists(oxen_repo.namespace, oxen_repo.name)
    async with oxen:  # opened again, it works again
        assert await oxen.repos.exists(oxen_repo.namespace, oxen_repo.name)


def test_one_client_from_two_event_loops(oxen_repo: Any) -> None:
    server = oxen_repo.server
    oxen = OxenClient(server.url, token=server.token)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first.run_until_complete(oxen.__aenter__())
        assert first.run_until_complete(oxen.repos.exists(oxen_repo.namespace, oxen_repo.name))
        with pytest.raises(ClientStateError, match="another event loop"):
            second.run_until_complete(oxen.repos.exists(oxen_repo.namespace, oxen_repo.name))
        with pytest.raises(ClientStateError, match="another event loop"):
            second.run_until_complete(oxen.__aenter__())
        first.run_until_complete(oxen.close())
    finally:
        first.close()
        second.close()
