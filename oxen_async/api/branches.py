"""Branches: list, create from a branch or a commit, get, move, delete."""

from __future__ import annotations

from .. import paths
from ..errors import ConfigError, NotFoundError
from ..models import (
    Branch,
    BranchListResponse,
    BranchResponse,
    MoveBranch,
    NewBranchFromBranch,
    NewBranchFromCommit,
)
from ._scope import RepoScope


class Branches:
    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    async def list(self) -> list[Branch]:
        resp = await self._r.session.request("GET", self._r.path("branches"), BranchListResponse)
        return resp.branches

    async def get(self, name: str) -> Branch:
        path = self._r.path(f"branches/{paths.branch(name)}")
        return (await self._r.session.request("GET", path, BranchResponse)).branch

    async def exists(self, name: str) -> bool:
        try:
            await self.get(name)
        except NotFoundError:
            return False
        return True

    async def create(
        self, name: str, *, from_branch: str | None = None, commit_id: str | None = None
    ) -> Branch:
        """Create ``name`` from a branch's head or from a commit (exactly one of the two).

        From a branch the server answers with the existing branch when ``name`` exists already.
        """
        if (from_branch is None) == (commit_id is None):
            raise ConfigError("give exactly one of from_branch and commit_id")
        body: NewBranchFromBranch | NewBranchFromCommit
        if from_branch is not None:
            body = NewBranchFromBranch(new_name=name, from_name=from_branch)
        else:
            assert commit_id is not None
            body = NewBranchFromCommit(new_name=name, commit_id=commit_id)
        resp = await self._r.session.request(
            "POST",
            self._r.path("branches"),
            BranchResponse,
            json=body,
            idempotent=from_branch is not None,
        )
        return resp.branch

    async def move(self, name: str, commit_id: str) -> Branch:
        """Point ``name`` at ``commit_id`` (created if missing; no fast-forward check)."""
        path = self._r.path(f"branches/{paths.branch(name)}")
        resp = await self._r.session.request(
            "PUT", path, BranchResponse, json=MoveBranch(commit_id=commit_id), idempotent=True
        )
        return resp.branch

    async def delete(self, name: str) -> Branch:
        path = self._r.path(f"branches/{paths.branch(name)}")
        return (await self._r.session.request("DELETE", path, BranchResponse)).branch
