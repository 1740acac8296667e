"""pytest fixtures: ``oxen_server`` (session), ``oxen_repo`` and ``oxen_faults`` (per test).

Registered through the ``pytest11`` entry point. Faults and counters are reset after every test
that used the server, and tests marked ``fake_only`` are skipped when the server is a real
oxen-server (``ServerHandle.is_real``).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from oxen_async.testing.faults import FaultController
from oxen_async.testing.handle import RepoHandle, ServerHandle, start_fake_server

TEST_NAMESPACE = "oxen-async-tests"

# The seam for other server kinds: name -> starter(data_dir, token). A real oxen-server starter
# and a ``--oxen-server`` / OXEN_ASYNC_TEST_SERVER switch choosing among these are added later.
SERVER_STARTERS: dict[str, Callable[[Path, str | None], ServerHandle]] = {
    "fake": start_fake_server,
}


def server_kind(config: pytest.Config) -> str:
    return "fake"


@pytest.fixture(scope="session")
def oxen_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ServerHandle]:
    """A running server on 127.0.0.1 with a bearer token, for the whole session."""
    starter = SERVER_STARTERS[server_kind(pytestconfig)]
    handle = starter(tmp_path_factory.mktemp("oxen-server-data"), secrets.token_urlsafe(24))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def oxen_repo(oxen_server: ServerHandle) -> Iterator[RepoHandle]:
    """A fresh empty repository with a unique name, deleted afterwards."""
    repo = oxen_server.create_repo(TEST_NAMESPACE, f"repo-{uuid.uuid4().hex[:12]}")
    try:
        yield repo
    finally:
        if oxen_server.faults is not None:
            oxen_server.faults.reset()  # armed faults must not break the clean-up
        oxen_server.delete_repo(repo.namespace, repo.name)


@pytest.fixture
def oxen_faults(oxen_server: ServerHandle) -> FaultController:
    """The fault controller; skips the test against a real server."""
    if oxen_server.faults is None:
        pytest.skip("needs the bundled server's fault injection")
    return oxen_server.faults


@pytest.fixture(autouse=True)
def _oxen_server_hygiene(request: pytest.FixtureRequest) -> Iterator[None]:
    """Skip ``fake_only`` tests on a real server; reset faults and counters after each test.

    Only tests that use the server pay for it: nothing starts one on their behalf.
    """
    handle: ServerHandle | None = None
    if "oxen_server" in request.fixturenames:
        handle = request.getfixturevalue("oxen_server")
        if handle.is_real and request.node.get_closest_marker("fake_only") is not None:
            pytest.skip("fake_only: needs the bundled server")
    yield
    if handle is not None and handle.faults is not None:
        handle.faults.reset()
