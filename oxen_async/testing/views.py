"""JSON shapes of branches, tree entries and directory listings (part 1, sections 4 and 6)."""

from __future__ import annotations

from typing import Any

from oxen_async.testing.filetypes import extension_of
from oxen_async.testing.resources import Resolved, resource_view
from oxen_async.testing.storage import Repository
from oxen_async.testing.trees import Entry, NodeReader, sorted_children


def branch_view(name: str, commit_id: str) -> dict[str, Any]:
    return {"name": name, "commit_id": commit_id}


def dir_metadata(entry: Entry) -> dict[str, Any]:
    types = entry.types or {}
    return {
        "dir": {
            "data_types": [
                {"count": count, "data_type": kind} for kind, count in sorted(types.items())
            ]
        }
    }


class EntryViews:
    """Builds MetadataEntry objects for one resolved revision, caching commit views."""

    def __init__(self, repo: Repository, nodes: NodeReader, resolved: Resolved) -> None:
        self.repo = repo
        self.nodes = nodes
        self.resolved = resolved
        self._commits: dict[str, dict[str, Any] | None] = {}

    def latest_commit(self, commit_id: str) -> dict[str, Any] | None:
        if commit_id not in self._commits:
            commit = self.repo.get_commit(commit_id) if commit_id else None
            self._commits[commit_id] = commit.view() if commit is not None else None
        return self._commits[commit_id]

    def entry(self, entry: Entry, path: str, depth: int = 0) -> dict[str, Any]:
        """``path`` is the entry's repo-relative path ("" for the root)."""
        view: dict[str, Any] = {
            "filename": entry.name,
            "hash": entry.hash,
            "is_dir": entry.is_dir,
            "latest_commit": self.latest_commit(entry.commit),
            "resource": resource_view(self.resolved, _resource_path(entry, path)),
            "size": entry.size,
            "data_type": entry.dtype,
            "mime_type": entry.mime,
            "extension": "" if entry.is_dir else extension_of(entry.name),
            "metadata": dir_metadata(entry) if entry.is_dir else entry.metadata,
            "is_queryable": False if entry.dtype == "tabular" else None,
        }
        if entry.is_dir and depth != 0:
            children = self.sorted_children(entry, "name", reverse=False)
            if children:
                view["children"] = [
                    self.entry(child, _join(path, child.name), depth - 1) for child in children
                ]
        return view

    def sorted_children(self, entry: Entry, sort_by: str, reverse: bool) -> list[Entry]:
        """Directories first, then files; by byte order of names or by last-change time."""
        children = sorted_children(self.nodes, entry)
        if sort_by == "date":

            def when(child: Entry) -> int:
                commit = self.repo.get_commit(child.commit) if child.commit else None
                return commit.ts_ns if commit is not None else -1

            children.sort(key=when)
        if reverse:
            children.reverse()
        return [c for c in children if c.is_dir] + [c for c in children if not c.is_dir]


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _resource_path(entry: Entry, path: str) -> str:
    # Real quirk: a file named like its parent directory (``data/data``) shows the parent's path.
    parent, _, name = path.rpartition("/")
    if not entry.is_dir and parent and parent.rpartition("/")[2] == name:
        return parent
    return path
