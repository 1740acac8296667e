"""Raw-HTTP helpers for the contract tests: no client code, just aiohttp and the wire format."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import yarl

from oxen_async.testing import RepoHandle

JSON = "application/json"


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", ""))


class Wire:
    """An aiohttp session bound to one repository; paths are sent exactly as given."""

    def __init__(self, session: aiohttp.ClientSession, repo: RepoHandle) -> None:
        self.session = session
        self.repo = repo
        self.server_url = repo.server.url

    def url(self, path: str) -> yarl.URL:
        """``path`` starting with ``/api`` is server-relative, else repo-relative."""
        base = self.server_url if path.startswith("/api") else self.repo.url
        return yarl.URL(base + path, encoded=True)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        no_content_type: bool = False,
    ) -> Reply:
        sent_headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent_headers.setdefault("Content-Type", JSON)
        async with self.session.request(
            method,
            self.url(path),
            data=data,
            headers=sent_headers,
            params=params,
            skip_auto_headers=["Content-Type"] if no_content_type else None,
        ) as response:
            return Reply(response.status, response.headers, await response.read())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    # --- common steps ------------------------------------------------------------------------

    async def workspace(self, workspace_id: str, branch: str = "main", **extra: Any) -> Reply:
        body = {"workspace_id": workspace_id, "branch_name": branch, **extra}
        return await self.call("PUT", "/workspaces", json_body=body)

    async def stage(
        self, workspace_id: str, files: dict[str, bytes], directory: str = "", *, gz: bool = True
    ) -> Reply:
        return await self.call(
            "POST", f"/workspaces/{workspace_id}/files/{directory}", data=files_form(files, gz=gz)
        )

    async def merge(self, workspace_id: str, branch: str = "main", message: str = "msg") -> Reply:
        body = {"message": message, "author": "Ada", "email": "ada@example.com"}
        return await self.call("POST", f"/workspaces/{workspace_id}/merge/{branch}", json_body=body)

    async def commit_files(
        self, files: dict[str, bytes], branch: str = "main", message: str = "add files"
    ) -> dict[str, Any]:
        """Workspace round trip: create, stage, merge; returns the commit JSON."""
        workspace_id = f"ws-{message.replace(' ', '-')}-{len(files)}-{id(files)}"
        assert (await self.workspace(workspace_id, branch)).status == 200
        staged = await self.stage(workspace_id, files)
        assert staged.status == 200, staged.text
        merged = await self.merge(workspace_id, branch, message)
        assert merged.status == 200, merged.text
        commit: dict[str, Any] = merged.json()["commit"]
        return commit

    async def download(self, revision: str, path: str) -> Reply:
        return await self.get(f"/file/{revision}/{encode_path(path)}")

    async def head(self, branch: str = "main") -> str:
        reply = await self.get(f"/branches/{branch}")
        assert reply.status == 200, reply.text
        commit_id: str = reply.json()["branch"]["commit_id"]
        return commit_id


def encode_path(path: str) -> str:
    """Each segment percent-encoded once (the real server decodes resources twice over)."""
    return "/".join(quote(segment, safe="") for segment in path.split("/"))


def files_form(
    files: dict[str, bytes], *, gz: bool = True, field: str = "file[]"
) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    for name, data in files.items():
        if gz:
            form.add_field(
                field, gzip.compress(data), filename=name, content_type="application/gzip"
            )
        else:
            form.add_field(field, data, filename=name, content_type="application/octet-stream")
    return form


def branch_form(
    files: dict[str, bytes],
    *,
    field: str = "files[]",
    name: str | None = "Ada",
    email: str | None = "ada@example.com",
    message: str | None = None,
) -> aiohttp.FormData:
    """Body of ``PUT /file``: text parts plus file parts, filenames unquoted."""
    form = aiohttp.FormData(quote_fields=False, default_to_multipart=True)
    if name is not None:
        form.add_field("name", name)
    if email is not None:
        form.add_field("email", email)
    if message is not None:
        form.add_field("message", message)
    for filename, data in files.items():
        form.add_field(field, data, filename=filename, content_type="application/octet-stream")
    return form


def raw_multipart(parts: list[tuple[str, bytes]], boundary: str = "XyZ") -> tuple[bytes, str]:
    """A multipart body from literal (header block, payload) pairs, for malformed inputs."""
    out = b""
    for header_block, payload in parts:
        out += f"--{boundary}\r\n{header_block}\r\n\r\n".encode() + payload + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


# --- error families (part 1, section 2.2) ----------------------------------------------------


def family_a(reply: Reply, status: int, message: str | None = None) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.text)
    assert reply.content_type.startswith(JSON)
    body: dict[str, Any] = reply.json()
    assert body["status"] == "error"
    assert body["oxen_version"] == "0.65.2"
    assert "error" not in body
    if message is not None:
        assert body["status_message"] == message, body
    return body


def family_b(reply: Reply, status: int, description: str | None = None) -> dict[str, Any]:
    body = family_a(reply, status)
    assert "status_description" in body
    if description is not None:
        assert body["status_description"] == description, body
    return body


def family_c(reply: Reply, status: int, kind: str, title: str | None = None) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.text)
    assert reply.content_type.startswith(JSON)
    body: dict[str, Any] = reply.json()
    assert body["status"] == "error"
    assert "oxen_version" not in body
    assert body["error"]["type"] == kind, body
    if title is not None:
        assert body["error"]["title"] == title, body
    error: dict[str, Any] = body["error"]
    return error


def family_d(reply: Reply, status: int, contains: str = "") -> str:
    assert reply.status == status, (reply.status, reply.text)
    assert reply.content_type.startswith("text/plain")
    assert contains in reply.text, reply.text
    return reply.text
