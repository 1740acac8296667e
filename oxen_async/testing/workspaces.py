"""Workspaces: a base commit plus staged changes, persisted as a meta file and a journal.

``workspaces/{sha256(id)}/meta.json`` is replaced atomically; staged changes are appended to
``staged-{generation}.log`` one JSON line per change, one write per batch. Replay tolerates a torn
last line (a server killed mid-append). Clearing the staged changes after a commit is a new
generation in the meta file, so it takes one atomic step.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from oxen_async.testing.atomic import write_atomic
from oxen_async.testing.filetypes import FileMeta

Staged = dict[str, FileMeta | None]  # path -> new content, or None for a staged removal


class WorkspaceMeta(msgspec.Struct):
    id: str
    name: str | None
    commit_id: str
    generation: int = 0
    created_ns: int = 0  # 0.65's ``created_at``; 0 for workspaces written before it


_encode = msgspec.json.Encoder().encode
_decode_meta = msgspec.json.Decoder(WorkspaceMeta).decode
_decode_record = msgspec.json.Decoder(list[Any]).decode


class Workspace:
    """One workspace. ``lock`` (a thread lock) guards ``staged`` and the journal, because
    staging runs in worker threads."""

    def __init__(self, directory: Path, meta: WorkspaceMeta, tmp_dir: Path) -> None:
        self.directory = directory
        self.meta = meta
        self.tmp_dir = tmp_dir
        self.lock = threading.Lock()
        self.deleted = False
        self.staged: Staged = {}

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def name(self) -> str | None:
        return self.meta.name

    @property
    def commit_id(self) -> str:
        return self.meta.commit_id

    @property
    def journal(self) -> Path:
        return self.directory / f"staged-{self.meta.generation}.log"

    def load_staged(self) -> None:
        """Replay the journal; drop a torn last line so later appends start on a fresh line."""
        try:
            raw = self.journal.read_bytes()
        except FileNotFoundError:
            return
        if raw and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\n") + 1
            raw = raw[:cut]
            os.truncate(self.journal, cut)
        for line in raw.splitlines():
            try:
                record = _decode_record(line)
                self._apply(record)
            except (msgspec.DecodeError, msgspec.ValidationError, IndexError, TypeError):
                continue

    def _apply(self, record: list[Any]) -> None:
        kind, path = record[0], record[1]
        if kind == "s":
            self.staged[path] = msgspec.convert(record[2], FileMeta)
        elif kind == "r":
            self.staged[path] = None
        elif kind == "u":
            self.staged.pop(path, None)

    def record(self, records: list[list[Any]]) -> None:
        """Append and apply change records (``["s", path, meta]``, ``["r", path]``,
        ``["u", path]``). Caller holds ``lock``."""
        if not records:
            return
        payload = b"".join(_encode(record) + b"\n" for record in records)
        with open(self.journal, "ab") as handle:
            handle.write(payload)
        for record in records:
            if record[0] == "s":
                self.staged[record[1]] = record[2]
            elif record[0] == "r":
                self.staged[record[1]] = None
            else:
                self.staged.pop(record[1], None)

    def write_meta(self) -> None:
        write_atomic(self.directory / "meta.json", _encode(self.meta), self.tmp_dir)

    def rebase_after_commit(self, commit_id: str) -> None:
        """A named workspace moves to the new commit with nothing staged. Caller holds ``lock``."""
        old_journal = self.journal
        self.meta = WorkspaceMeta(
            self.meta.id, self.meta.name, commit_id, self.meta.generation + 1, self.meta.created_ns
        )
        self.write_meta()
        self.staged = {}
        old_journal.unlink(missing_ok=True)


class WorkspaceRegistry:
    """All workspaces of a repository, loaded once, looked up by id first and then by name."""

    def __init__(self, root: Path, tmp_dir: Path, trash_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir
        self.trash_dir = trash_dir
        self._by_id: dict[str, Workspace] = {}
        self._lock = threading.Lock()
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.root.is_dir():
            return
        for directory in self.root.iterdir():
            try:
                meta = _decode_meta((directory / "meta.json").read_bytes())
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                continue
            workspace = Workspace(directory, meta, self.tmp_dir)
            workspace.load_staged()
            self._by_id[meta.id] = workspace

    def all(self) -> list[Workspace]:
        with self._lock:
            self._load()
            return list(self._by_id.values())

    def by_id(self, workspace_id: str) -> Workspace | None:
        with self._lock:
            self._load()
            return self._by_id.get(workspace_id)

    def by_name(self, name: str) -> Workspace | None:
        with self._lock:
            self._load()
            for workspace in self._by_id.values():
                if workspace.name == name:
                    return workspace
            return None

    def find(self, id_or_name: str) -> Workspace | None:
        return self.by_id(id_or_name) or self.by_name(id_or_name)

    def create(self, workspace_id: str, name: str | None, commit_id: str) -> Workspace:
        """Raises ValueError with the real server's message on an id or name clash."""
        with self._lock:
            self._load()
            if workspace_id in self._by_id:
                raise ValueError(f"Workspace {workspace_id} already exists")
            if name is not None and any(w.name == name for w in self._by_id.values()):
                raise ValueError(f"A workspace with the name '{name}' already exists")
            digest = hashlib.sha256(workspace_id.encode("utf-8", "surrogateescape")).hexdigest()
            directory = self.root / digest
            directory.mkdir(parents=True, exist_ok=True)
            workspace = Workspace(
                directory,
                WorkspaceMeta(workspace_id, name, commit_id, created_ns=time.time_ns()),
                self.tmp_dir,
            )
            workspace.write_meta()
            self._by_id[workspace_id] = workspace
            return workspace

    def delete(self, workspace: Workspace) -> None:
        """Forget the workspace; its directory goes to the trash first (one atomic rename)."""
        with self._lock:
            self._by_id.pop(workspace.id, None)
        workspace.deleted = True
        if workspace.directory.exists():
            self.trash_dir.mkdir(parents=True, exist_ok=True)
            doomed = self.trash_dir / uuid.uuid4().hex
            os.rename(workspace.directory, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
