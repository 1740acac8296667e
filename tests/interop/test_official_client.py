"""Fidelity proved by a peer we did not write: the official client (oxenai 0.65.1) runs its
remote flows against the bundled server, and the server's counters show which routes it took.

Runs only where ``oxen`` imports (the official client pulls polars and pyarrow, so it lives in a
virtualenv of its own; see ``nox -s interop``). Its compiled core blocks holding the GIL, so the
server runs in a child process (``_serve_with_stats.py``), which reports its counters on request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

oxen: Any = pytest.importorskip(
    "oxen", reason="needs the official client: pip install oxenai==0.65.1 (nox -s interop)"
)

SERVE = Path(__file__).with_name("_serve_with_stats.py")
LARGE = 12 * 1024 * 1024  # over the official client's 10 MiB threshold: sent in parts


class ChildServer:
    """The bundled server in a child process; ``requests(route)`` asks it for a counter."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def requests(self, route: str) -> int:
        stdin, stdout = self._pipes()
        stdin.write(f"{route}\n")
        stdin.flush()
        count: int = json.loads(stdout.readline())["requests"]
        return count

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        return self.process.stdin, self.process.stdout


@pytest.fixture(scope="module")
def official_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official client's user config (it refuses to commit without a name and email)."""
    config = tmp_path_factory.mktemp("oxen-config")
    from oxen.user import config_user

    config_user("Interop", "interop@example.com", str(config / "user_config.toml"))
    return config


@pytest.fixture(autouse=True)
def _official_config_dir(
    official_config: Path, isolated_user_folders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After tests/conftest.py's isolation (which points OXEN_CONFIG_DIR at an empty folder per
    # test): the client reads its config on use, so each test points it back here.
    monkeypatch.setenv("OXEN_CONFIG_DIR", str(official_config))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChildServer]:
    data = tmp_path_factory.mktemp("oxen-data")
    process = subprocess.Popen(
        [sys.executable, str(SERVE), str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield ChildServer(process, url)
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the child stops its server when its stdin ends
        process.wait(timeout=30)


@pytest.fixture
def repo(server: ChildServer) -> Any:
    host = server.url.removeprefix("http://")
    remote = oxen.RemoteRepo(f"interop/r-{uuid.uuid4().hex[:10]}", host=host, scheme="http")
    remote.create(empty=False)
    return remote


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "README.md": b"# interop\n",
        "data/train/a.csv": b"x,y\n1,2\n",
        "data/train/b.csv": b"x,y\n3,4\n",
        "data/test/deep/c.txt": "ünïcödé\n".encode(),
        "images/empty.bin": b"",
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_workspace_add_files_of_a_nested_tree(
    server: ChildServer, repo: Any, tmp_path: Path
) -> None:
    files = _tree(tmp_path / "tree")
    workspace = oxen.Workspace(repo, "main")
    paths = sorted(str(p) for p in (tmp_path / "tree").rglob("*") if p.is_file())
    assert workspace.add_files(str(tmp_path / "tree"), paths) == []
    workspace.commit("nested tree")
    for relative, data in files.items():
        target = tmp_path / "out" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        repo.download(relative, str(target))
        assert target.read_bytes() == data, relative
    names = sorted(entry.filename for entry in repo.ls().entries)
    assert {"README.md", "data", "images"} <= set(names)


def test_large_file_add_commit_download(server: ChildServer, repo: Any, tmp_path: Path) -> None:
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(LARGE))
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file\n")
    before = server.requests("version_upload_part")
    repo.add(str(large), "blobs")
    repo.add(str(small), "blobs")
    repo.commit("a large and a small file")
    assert server.requests("version_upload_part") - before >= 2  # its parts, not a batch
    listing = sorted(entry.filename for entry in repo.ls("blobs").entries)
    assert listing == ["large.bin", "small.txt"]
    downloads = [("small.txt", small)]
    if _serves_ranged_reads(server, repo):
        downloads.append(("large.bin", large))
    for name, source in downloads:
        target = tmp_path / "down" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        repo.download(f"blobs/{name}", str(target))
        assert target.read_bytes() == source.read_bytes(), name
    if len(downloads) == 1:
        pytest.skip(
            "large download: the official client reads files over 10 MiB by "
            "GET /chunk/{rev}/{path}?chunk_start=&chunk_size=, which this bundled server lacks"
        )


def _serves_ranged_reads(server: ChildServer, repo: Any) -> bool:
    """Whether the bundled server has the /chunk route (an unknown route is a bare 404)."""
    url = f"{server.url}/api/repos/{repo.identifier}/chunk/main/blobs/small.txt"
    try:
        with urllib.request.urlopen(f"{url}?chunk_start=0&chunk_size=1") as reply:
            return bool(reply.status == 200)
    except urllib.error.HTTPError as error:
        return "error" in json.loads(error.read())  # a known route's 404 names the path


def test_branch_create(repo: Any) -> None:
    repo.create_branch("feature-x")
    assert repo.branch_exists("feature-x")
    assert "feature-x" in [branch.name for branch in repo.branches()]
