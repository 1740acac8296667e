"""On-disk repositories: ``{data_dir}/{ns}/{repo}/.oxen/`` holding refs, commits, trees and blobs.

Write order keeps every state a killed server can leave behind consistent: blobs, then tree
nodes, then the commit file, then the refs file (each written atomically). A commit is visible
only once a ref names it, and everything it names is already on disk by then.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from oxen_async.hashing import hash_bytes
from oxen_async.testing.atomic import write_atomic, write_if_absent
from oxen_async.testing.blobs import VersionStore, parse_hash
from oxen_async.testing.trees import Change, Entry, NodeStore, apply_changes, lookup, walk_files
from oxen_async.testing.wire import format_timestamp
from oxen_async.testing.workspaces import WorkspaceRegistry

NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
# 0.65.2: namespaces lost the dot and got a length bound; repository names kept the old rule.
NAMESPACE_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{1,49}")
HEAD_BRANCH = "main"
_CONFIG = 'min_version = "0.36.0"\nstorage_kind = "local"\nmerkle_node_backend = "lmdb"\n'
_INVALID_BRANCH = re.compile(r"\.\.|[~^:?\[*\\ ]|@\{")


class Commit(msgspec.Struct, frozen=True):
    id: str
    parent_ids: list[str]
    message: str
    author: str
    email: str
    timestamp: str
    ts_ns: int
    root: Entry

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent_ids": list(self.parent_ids),
            "message": self.message,
            "author": self.author,
            "email": self.email,
            "timestamp": self.timestamp,
        }


_encode_json = msgspec.json.Encoder().encode
_decode_commit = msgspec.json.Decoder(Commit).decode
_decode_refs = msgspec.json.Decoder(dict[str, str]).decode


def valid_branch_name(name: str) -> bool:
    return not (not name or name == "@" or name.endswith(".") or _INVALID_BRANCH.search(name))


@dataclass(frozen=True)
class Author:
    name: str
    email: str


class Repository:
    """One repository. ``lock`` serialises every change of a ref (branch create/move/delete and
    all commits), so two merges into one branch at the same moment both land, one after the
    other: the second is rebased on the first. (The real server has no such lock and can lose a
    commit; clients must not rely on that difference.)"""

    def __init__(self, namespace: str, name: str, path: Path) -> None:
        self.namespace = namespace
        self.name = name
        self.path = path
        self.oxen_dir = path / ".oxen"
        self.tmp_dir = self.oxen_dir / "tmp"
        self.versions = VersionStore(self.oxen_dir, self.tmp_dir)
        self.nodes = NodeStore(self.oxen_dir, self.tmp_dir)
        self.workspaces = WorkspaceRegistry(
            self.oxen_dir / "workspaces", self.tmp_dir, self.oxen_dir / "trash"
        )
        self.lock = asyncio.Lock()
        self._refs_lock = threading.Lock()
        self._commits: dict[str, Commit] = {}
        self.deleted = False
        self._refs: dict[str, str] = self._load_refs()

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def uuid(self) -> str:
        """0.65's ``repo_uuid``: made once, kept with the repository."""
        marker = self.oxen_dir / "repo_uuid"
        try:
            return marker.read_text().strip()
        except FileNotFoundError:
            self.oxen_dir.mkdir(parents=True, exist_ok=True)
            write_if_absent(marker, str(uuid.uuid4()).encode(), self.tmp_dir)
            return marker.read_text().strip()

    # --- refs --------------------------------------------------------------------------------

    def _load_refs(self) -> dict[str, str]:
        try:
            return _decode_refs((self.oxen_dir / "refs.json").read_bytes())
        except FileNotFoundError:
            return {}

    def branches(self) -> dict[str, str]:
        with self._refs_lock:
            return dict(self._refs)

    def branch_head(self, name: str) -> str | None:
        with self._refs_lock:
            return self._refs.get(name)

    def set_branch(self, name: str, commit_id: str | None) -> None:
        """Point ``name`` at ``commit_id`` (None deletes it); the refs file is replaced whole."""
        with self._refs_lock:
            refs = dict(self._refs)
            if commit_id is None:
                refs.pop(name, None)
            else:
                refs[name] = commit_id
            write_atomic(self.oxen_dir / "refs.json", _encode_json(refs), self.tmp_dir)
            self._refs = refs

    @property
    def has_commits(self) -> bool:
        """The real server decides "empty repo" from HEAD, which always names ``main``."""
        return self.branch_head(HEAD_BRANCH) is not None

    # --- commits -----------------------------------------------------------------------------

    def get_commit(self, commit_id: str) -> Commit | None:
        cached = self._commits.get(commit_id)
        if cached is not None:
            return cached
        try:
            commit = _decode_commit((self.oxen_dir / "commits" / commit_id).read_bytes())
        except (FileNotFoundError, NotADirectoryError, OSError):
            return None
        self._commits[commit_id] = commit
        return commit

    def find_commit(self, text: str) -> Commit | None:
        """A commit named in any form the server accepts (padded, uppercase, leading ``+``)."""
        if len(text.lstrip("+")) > 32:
            return None
        value = parse_hash(text)
        if value is None:
            return None
        return self.get_commit(format(value, "x"))

    def head_commit(self, branch: str) -> Commit | None:
        head = self.branch_head(branch)
        return self.get_commit(head) if head is not None else None

    def create_commit(
        self,
        parents: list[str],
        base: Entry | None,
        changes: Mapping[str, Change],
        message: str,
        author: Author,
        *,
        allow_empty: bool = False,
    ) -> Commit | None:
        """Write a commit applying ``changes`` to ``base``; None if nothing changed.

        Blocking (run in a worker thread). Does not move any ref.
        """
        change = apply_changes(self.nodes, base, changes)
        if not change.changed and not allow_empty:
            return None
        ts_ns = time.time_ns()
        timestamp = format_timestamp(ts_ns)
        identity = [parents, message, author.name, author.email, timestamp, change.merkle]
        commit_id = hash_bytes(_encode_json(identity))
        root = change.materialise(commit_id, self.nodes.write)
        commit = Commit(
            commit_id, parents, message, author.name, author.email, timestamp, ts_ns, root
        )
        (self.oxen_dir / "commits").mkdir(exist_ok=True)
        write_atomic(self.oxen_dir / "commits" / commit_id, _encode_json(commit), self.tmp_dir)
        self._commits[commit_id] = commit
        return commit

    def ancestors(self, commit: Commit) -> list[Commit]:
        """``commit`` and every ancestor (all parents), each once."""
        seen = {commit.id}
        order = [commit]
        index = 0
        while index < len(order):
            for parent_id in order[index].parent_ids:
                if parent_id not in seen:
                    seen.add(parent_id)
                    parent = self.get_commit(parent_id)
                    if parent is not None:
                        order.append(parent)
            index += 1
        return order

    def first_parent_chain(self, commit: Commit) -> Iterator[Commit]:
        current: Commit | None = commit
        while current is not None:
            yield current
            current = self.get_commit(current.parent_ids[0]) if current.parent_ids else None

    # --- reading trees -----------------------------------------------------------------------

    def lookup(self, commit: Commit, path: str) -> Entry | None:
        return lookup(self.nodes, commit.root, path)

    def files_under(self, commit: Commit, path: str) -> list[tuple[str, Entry]]:
        entry = self.lookup(commit, path)
        return list(walk_files(self.nodes, entry, path.strip("/"))) if entry is not None else []

    def clean_tmp(self) -> None:
        """Leftovers of writes interrupted by a kill; nothing refers to them."""
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)


class Storage:
    """All repositories under ``data_dir``; repositories are loaded lazily and cached."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.system_dir = data_dir / ".oxen"
        self._repos: dict[tuple[str, str], Repository] = {}
        self._lock = threading.Lock()

    def _repo_dir(self, namespace: str, name: str) -> Path:
        return self.data_dir / namespace / name

    def repo(self, namespace: str, name: str) -> Repository | None:
        key = (namespace, name)
        with self._lock:
            cached = self._repos.get(key)
            if cached is not None:
                return cached
            path = self._repo_dir(namespace, name)
            if not (path / ".oxen" / "config.toml").is_file():
                return None
            repo = Repository(namespace, name, path)
            repo.clean_tmp()
            self._repos[key] = repo
            return repo

    def create_repo(self, namespace: str, name: str) -> Repository:
        """Build the repo in a scratch dir, then rename it into place (atomic).

        Raises FileExistsError when the directory exists (the real server's 409 rule).
        """
        with self._lock:
            target = self._repo_dir(namespace, name)
            if target.exists():
                raise FileExistsError(str(target))
            scratch = self.system_dir / "tmp" / uuid.uuid4().hex
            (scratch / ".oxen" / "tmp").mkdir(parents=True)
            (scratch / ".oxen" / "config.toml").write_text(_CONFIG)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(scratch, target)
            repo = Repository(namespace, name, target)
            self._repos[(namespace, name)] = repo
            return repo

    def delete_repo(self, repo: Repository) -> Path:
        """Move the repo out of sight at once (atomic rename); returns the trash dir to remove."""
        with self._lock:
            self._repos.pop((repo.namespace, repo.name), None)
            repo.deleted = True
            trash = self.system_dir / "trash"
            trash.mkdir(parents=True, exist_ok=True)
            doomed = trash / uuid.uuid4().hex
            os.rename(repo.path, doomed)
            return doomed

    def list_repos(self, namespace: str) -> list[str]:
        directory = self.data_dir / namespace
        if not directory.is_dir():
            return []
        return sorted(
            child.name
            for child in directory.iterdir()
            if not child.name.startswith(".") and (child / ".oxen" / "config.toml").is_file()
        )

    def namespaces(self) -> list[str]:
        if not self.data_dir.is_dir():
            return []
        return sorted(
            child.name
            for child in self.data_dir.iterdir()
            if child.is_dir() and child.name != ".oxen"
        )

    def clean_tmp(self) -> None:
        shutil.rmtree(self.system_dir / "tmp", ignore_errors=True)
        shutil.rmtree(self.system_dir / "trash", ignore_errors=True)
