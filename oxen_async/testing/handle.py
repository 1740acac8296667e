"""What tests hold: a handle on a running Oxen server (ours or, later, a real ``oxen-server``).

The seam for a real server: write another ``start_*`` function returning a ServerHandle with
``faults=None`` and ``is_real=True``; everything else (repo creation, URLs, auth) is plain HTTP
and works against either.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oxen_async.testing.faults import FaultController
from oxen_async.testing.server import OxenTestServer


@dataclass
class ServerHandle:
    """A running server. ``faults`` is None when the peer is a real oxen-server."""

    url: str
    token: str | None
    faults: FaultController | None
    is_real: bool
    data_dir: Path | None
    stop: Callable[[], None] = field(repr=False)
    version: str | None = None  # a real server's version; None for the bundled one

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = self.auth_headers()
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def create_repo(self, namespace: str, name: str) -> RepoHandle:
        """Create an empty repository (blocking; for fixtures and scripts)."""
        self._request("POST", "/api/repos", {"namespace": namespace, "name": name})
        return RepoHandle(self, namespace, name)

    def delete_repo(self, namespace: str, name: str) -> None:
        try:
            self._request("DELETE", f"/api/repos/{namespace}/{name}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise


@dataclass(frozen=True)
class RepoHandle:
    server: ServerHandle
    namespace: str
    name: str

    @property
    def url(self) -> str:
        """Repository base URL: ``{server}/api/repos/{ns}/{name}``."""
        return f"{self.server.url}/api/repos/{self.namespace}/{self.name}"


def start_fake_server(data_dir: Path, token: str | None = None) -> ServerHandle:
    """Start the bundled server in a background thread over ``data_dir``."""
    server = OxenTestServer(data_dir, auth_token=token)
    url = server.start()
    return ServerHandle(
        url=url,
        token=token,
        faults=server.faults,
        is_real=False,
        data_dir=data_dir,
        stop=server.stop,
    )
