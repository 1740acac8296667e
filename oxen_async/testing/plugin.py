"""pytest fixtures: ``oxen_server`` (session), ``oxen_repo`` and ``oxen_faults`` (per test).

Registered through the ``pytest11`` entry point. Faults and counters are reset after every test
that used the server, and tests marked ``fake_only`` are skipped when the server is a real
oxen-server (``ServerHandle.is_real``).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from oxen_async.testing.faults import FaultController
from oxen_async.testing.handle import RepoHandle, ServerHandle, start_fake_server
from oxen_async.testing.launch import start_real

TEST_NAMESPACE = "oxen-async-tests"

SERVER_ENV = "OXEN_ASYNC_TEST_SERVER"


def start_real_server(data_dir: Path, token: str | None = None) -> ServerHandle:
    """A real ``oxen-server`` 0.53.4 with ``--auth`` (its token comes from ``add-user``)."""
    del token  # the real server issues its own
    launched = start_real(data_dir, log=data_dir / "oxen-server.log")
    return ServerHandle(
        url=launched.url,
        token=launched.token,
        faults=None,
        is_real=True,
        data_dir=data_dir,
        stop=launched.stop,
    )


# Server kinds by name: starter(data_dir, token); --oxen-server or $OXEN_ASYNC_TEST_SERVER picks.
SERVER_STARTERS: dict[str, Callable[[Path, str | None], ServerHandle]] = {
    "fake": start_fake_server,
    "real": start_real_server,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--oxen-server",
        choices=sorted(SERVER_STARTERS),
        default=None,
        help=f"which server the oxen_server fixture runs: the bundled one (fake, the default) "
        f"or a real oxen-server 0.53.4 binary (real). Also ${SERVER_ENV}.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fake_only: needs the bundled server's fault injection; skipped on a real one"
    )
    config.addinivalue_line(
        "markers", "real_differs(reason): a known disagreement with the real oxen-server (xfail)"
    )


def server_kind(config: pytest.Config) -> str:
    chosen = config.getoption("--oxen-server", default=None) or os.environ.get(SERVER_ENV, "fake")
    if chosen not in SERVER_STARTERS:
        raise pytest.UsageError(f"${SERVER_ENV} must be one of {sorted(SERVER_STARTERS)}")
    return str(chosen)


def pytest_report_header(config: pytest.Config) -> str:
    return f"oxen server under test: {server_kind(config)}"


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
        differs = request.node.get_closest_marker("real_differs")
        if handle.is_real and differs is not None:
            # A disagreement found against the real server and not yet resolved: reported as
            # xfail with its reason, so it stays visible without hiding a new failure elsewhere.
            request.applymarker(pytest.mark.xfail(reason=str(differs.args[0]), strict=False))
    yield
    if handle is not None and handle.faults is not None:
        handle.faults.reset()
