"""Workspaces: get-or-create, get, list, delete, add files, remove, changes, merge, mergeability."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence

from .. import paths
from ..config import Author
from ..errors import HTTPError
from ..http.retry import RetryPolicy
from ..models import (
    ChangesResponse,
    Commit,
    CommitResponse,
    Mergeability,
    MergeabilityResponse,
    NewCommit,
    NewWorkspace,
    PathsResponse,
    StagedChanges,
    StatusResponse,
    Workspace,
    WorkspaceListResponse,
    WorkspaceResponse,
)
from ..multipart import EncodedForm, FilePart, encode, encode_async
from ._scope import RepoScope


class PartialFailure(HTTPError):
    """206 from a removal: the listed paths could not be removed or unstaged."""

    def __init__(self, method: str, url: str, failed: list[str]) -> None:
        super().__init__(method, url, 206, f"{len(failed)} path(s) failed: {failed[:5]}")
        self.failed = failed


def staging_form(parts: Sequence[FilePart]) -> EncodedForm:
    """A form for ``Workspaces.stage_form``: each part named by its whole repo path.

    The server takes a part's filename literally, while the URL's directory is not
    percent-decoded a second time (a destination with ``+`` or ``%`` would land elsewhere):
    so files are posted to the repository root with the whole path in the filename. Blocking
    (it joins the framing): call it in a worker thread for a big batch.
    """
    return encode(parts)


class Workspaces:
    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    def _ws(self, workspace_id: str, tail: str = "") -> str:
        return self._r.path(f"workspaces/{paths.segment(workspace_id)}{tail}")

    async def get_or_create(
        self, branch: str, *, workspace_id: str | None = None, name: str | None = None
    ) -> Workspace:
        """Get the workspace ``workspace_id`` (or named ``name``), creating it on ``branch``'s head.

        Idempotent for a given id or name, so it is safe to retry. An unnamed workspace is
        deleted by the server when it is merged; a named one survives and moves to the merge.
        On a repository without commits the server first makes an initial commit on ``branch``.
        """
        body = NewWorkspace(
            workspace_id=workspace_id or str(uuid.uuid4()), branch_name=branch, name=name
        )
        resp = await self._r.session.request(
            "PUT", self._r.path("workspaces"), WorkspaceResponse, json=body, idempotent=True
        )
        ws = resp.workspace
        if name is not None and resp.status_message == "resource_found":
            # Found by name: the server echoes the request's (new, random) id, not the stored
            # one, and that echoed id addresses nothing. Ask for the stored id.
            ws = await self.get(name)
        return ws

    async def get(self, workspace_id: str) -> Workspace:
        return (
            await self._r.session.request("GET", self._ws(workspace_id), WorkspaceResponse)
        ).workspace

    async def list(self, *, name: str | None = None) -> builtins.list[Workspace]:
        params = {"name": name} if name is not None else None
        resp = await self._r.session.request(
            "GET", self._r.path("workspaces"), WorkspaceListResponse, params=params
        )
        return resp.workspaces

    async def delete(self, workspace_id: str) -> None:
        await self._r.session.request(
            "DELETE", self._ws(workspace_id), StatusResponse, idempotent=False
        )

    async def add_files(
        self,
        workspace_id: str,
        directory: str,
        parts: Sequence[FilePart] | EncodedForm,
        *,
        retry: RetryPolicy | None = None,
    ) -> builtins.list[str]:
        """Stage ``parts`` (filename = path relative to ``directory``) in one request.

        ``parts`` may come already encoded (``multipart.encode``), as the uploader does in the
        worker thread that reads and compresses the files.

        Returns the repo-relative paths the server staged. Files that failed are silently
        absent from that list: diff it against what was sent (the uploader does).
        Safe to repeat: staging the same bytes twice changes nothing. ``retry``: the policy
        for the session's tries (by default the client's).
        """
        url = self._ws(workspace_id, f"/files/{paths.directory(directory)}")
        # thousands of parts: encoded off the loop
        encoded = parts if isinstance(parts, EncodedForm) else await encode_async(parts)
        resp = await self._r.session.request(
            "POST",
            url,
            PathsResponse,
            body=lambda: encoded.segments,
            headers=encoded.headers,
            idempotent=True,
            retry=retry,
        )
        return resp.paths

    async def stage_form(
        self, workspace_id: str, form: EncodedForm, *, retry: RetryPolicy | None = None
    ) -> builtins.list[str]:
        """Stage a ``staging_form`` (parts named by repo path); returns the paths staged."""
        return await self.add_files(workspace_id, "", form, retry=retry)

    async def remove(self, workspace_id: str, repo_paths: Sequence[str]) -> builtins.list[str]:
        """Stage removal of committed files or directories. Raises PartialFailure on 206."""
        return await self._paths_call("DELETE", self._ws(workspace_id, "/files"), repo_paths)

    async def unstage(self, workspace_id: str, repo_paths: Sequence[str]) -> builtins.list[str]:
        """Drop staged changes of ``repo_paths`` (paths not staged are skipped silently).

        Raises PartialFailure (206) naming paths that could not be unstaged. On success the
        server lists no paths, so the result is usually empty.
        """
        return await self._paths_call("DELETE", self._ws(workspace_id, "/changes"), repo_paths)

    async def _paths_call(
        self, method: str, url: str, repo_paths: Sequence[str]
    ) -> builtins.list[str]:
        resp = await self._r.session.request(
            method, url, PathsResponse, json=list(repo_paths), idempotent=True, ok=(200, 206)
        )
        if resp.status == "error":
            raise PartialFailure(method, self._r.session.url(url), resp.paths)
        return resp.paths

    async def changes(
        self, workspace_id: str, *, page: int = 1, page_size: int = 100
    ) -> StagedChanges:
        resp = await self._r.session.request(
            "GET",
            self._ws(workspace_id, "/changes"),
            ChangesResponse,
            params={"page": page, "page_size": page_size},
        )
        return resp.staged

    async def merge(
        self, workspace_id: str, branch: str, *, message: str, author: Author
    ) -> Commit:
        """Commit the workspace's staged changes onto ``branch``.

        Raises NothingToCommitError (422) when nothing is staged, ConflictError (409) when the
        branch changed the same paths. Not retried: a lost answer may hide a commit that was
        made, so callers check the branch head instead (the uploader does).
        """
        url = self._ws(workspace_id, f"/merge/{paths.branch(branch)}")
        body = NewCommit(message=message, author=author.name, email=author.email)
        return (await self._r.session.request("POST", url, CommitResponse, json=body)).commit

    async def mergeability(self, workspace_id: str, branch: str) -> Mergeability:
        url = self._ws(workspace_id, f"/merge/{paths.branch(branch)}")
        return await self._r.session.request("GET", url, MergeabilityResponse)
