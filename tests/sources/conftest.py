"""Sources beyond local disk: a real S3 API on loopback (moto's server, a subprocess on a free
port) read through s3fs, and fsspec's in-memory filesystem.

The S3 tests skip, with the reason, where s3fs or moto[server] is not installed (they are in
the ``test`` extra); the memory ones need only fsspec.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from oxen_async import OxenClient, RemoteRepo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]

    def options(self, key: str = "testing", secret: str = "testing") -> dict[str, Any]:
        """s3fs storage options pointing at this server."""
        return {
            "endpoint_url": self.url,
            "key": key,
            "secret": secret,
            "client_kwargs": {"region_name": "us-east-1"},
            # A refused request is an answer, not a fault: no retries with back-off.
            "config_kwargs": {"retries": {"max_attempts": 1}},
        }


def start_moto(env: dict[str, str] | None = None) -> MotoServer:
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'oxen-async[s3]')")
    pytest.importorskip("moto.server", reason="moto[server] is not installed (the test extra)")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 30
    while True:  # polls for the port to answer: the server's readiness, not a fixed wait
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.05)
    return MotoServer(f"http://127.0.0.1:{port}", process)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = start_moto()
    yield server
    server.process.terminate()
    server.process.wait(10)


@pytest.fixture
def s3(moto: MotoServer, request: pytest.FixtureRequest) -> tuple[Any, str]:
    """(an s3fs filesystem on the moto server, a fresh bucket's name)."""
    import s3fs

    fs = s3fs.S3FileSystem(**moto.options(), skip_instance_cache=True)
    bucket = f"b-{os.getpid()}-{abs(hash(request.node.nodeid)) % 10**8}"
    fs.call_s3("create_bucket", Bucket=bucket)
    return fs, bucket  # left to the server's end: emptying thousands of objects costs seconds


@pytest.fixture
async def repo(oxen_repo: Any) -> AsyncIterator[RemoteRepo]:
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        yield oxen.repo(oxen_repo.namespace, oxen_repo.name)
