"""``{resource}`` parsing shared by /dir, /file, /meta, /revisions and /commits/history.

Order as on the real server: a commit id in the first component, then the longest prefix of
components naming a branch, then a workspace id or name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from oxen_async.testing.storage import Commit, Repository
from oxen_async.testing.trees import Entry, NodeReader, OverlayNodes, apply_changes
from oxen_async.testing.workspaces import Workspace


@dataclass(frozen=True)
class Resolved:
    commit: Commit
    branch: str | None
    workspace: Workspace | None
    path: str
    version: str

    def view(self) -> dict[str, Any]:
        return resource_view(self, self.path)


def resource_view(resolved: Resolved, path: str) -> dict[str, Any]:
    """The ParsedResource JSON for ``path`` within the resolved revision."""
    workspace = resolved.workspace
    return {
        "workspace": (
            {"id": workspace.id, "name": workspace.name, "commit": resolved.commit.view()}
            if workspace is not None
            else None
        ),
        "commit": resolved.commit.view(),
        "branch": (
            {"name": resolved.branch, "commit_id": resolved.commit.id}
            if resolved.branch is not None
            else None
        ),
        "path": path,
        "version": resolved.version,
        "resource": f"{resolved.version}/{path}",
    }


def components_of(value: str, *, decode: bool = True) -> list[str]:
    """Split a router-decoded resource; the second, full percent-decode happens here."""
    text = unquote(value, errors="surrogateescape") if decode else value
    return [part for part in text.split("/") if part and part != "."]


def resolve(repo: Repository, value: str) -> Resolved | None:
    parts = components_of(value)
    if not parts:
        return None
    commit = repo.find_commit(parts[0])
    if commit is not None:
        return Resolved(commit, None, None, "/".join(parts[1:]), commit.id)
    branches = repo.branches()
    # Longest proper prefix first (``a/b/c``, ``a/b``, ``a``), the whole value last.
    for count in range(len(parts) - 1, 0, -1):
        name = "/".join(parts[:count])
        if name in branches:
            return _on_branch(repo, name, branches[name], parts[count:])
    whole = "/".join(parts)
    if whole in branches:
        return _on_branch(repo, whole, branches[whole], [])
    workspace = repo.workspaces.find(parts[0])
    if workspace is not None:
        base = repo.get_commit(workspace.commit_id)
        if base is not None:
            return Resolved(base, None, workspace, "/".join(parts[1:]), workspace.id)
    return None


def _on_branch(repo: Repository, name: str, head: str, rest: list[str]) -> Resolved | None:
    commit = repo.get_commit(head)
    if commit is None:
        return None
    return Resolved(commit, name, None, "/".join(rest), name)


def tree_for(repo: Repository, resolved: Resolved) -> tuple[NodeReader, Entry]:
    """Nodes and root of the resolved revision; a workspace shows its staged changes on top of
    its base commit (entries it changed have no ``latest_commit``)."""
    workspace = resolved.workspace
    if workspace is None or not workspace.staged:
        return repo.nodes, resolved.commit.root
    with workspace.lock:
        staged = dict(workspace.staged)
    overlay = OverlayNodes(repo.nodes)
    change = apply_changes(repo.nodes, resolved.commit.root, staged)
    return overlay, change.materialise("", overlay.write)
