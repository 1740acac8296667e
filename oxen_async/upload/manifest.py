"""An upload's blake3 manifest (``upload_folder(manifest=...)``), staged into the same commit.

The manifest covers the whole tree under its folder at the new commit: the branch head's files
there, with this run's staged changes applied (files sent or resumed replace theirs, staged
removals drop out, files whose send failed keep the head's version). Each file's line is found
by its content id, in this order:

1. the state's blake3 by content id (``UploadState.remember_blake3``), filled from the bytes
   this or an earlier upload read to send (pack.py for small files, large.py's hashing read
   for large ones): never a second read;
2. the previous manifest on the branch, for a file this run did not stage (unchanged);
3. else the file is hashed: the local copy when its content id matches, else the branch's copy
   streamed from the server (``UploadReport.manifest_hashed`` counts both).

An unchanged tree gives the same bytes as the manifest on the branch, which is then not staged:
a rerun with nothing changed still makes no commit.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import blake3

from ..api.workspaces import staging_form
from ..errors import IntegrityError, NotFoundError, OxenError
from ..hashing import StreamingHasher, hash_bytes, hash_file_sync
from ..manifest import format_manifest, parse_manifest
from ..models import Commit
from ..multipart import FilePart
from .large import send_large_file
from .pack import FileJob, encode_content
from .state import REMOVED, UploadState
from .target import UploadTarget
from .workspace import UploadWorkspace


@dataclass(frozen=True)
class ManifestPlace:
    """Where the manifest goes: ``rel`` relative to the upload's folder (and its ``dest``)."""

    rel: str
    prefix: str  # the upload's: dest + "/" or ""

    @property
    def folder(self) -> str:
        """Its folder relative to the upload's folder ("" for the folder itself)."""
        return posixpath.dirname(self.rel)

    @property
    def repo_path(self) -> str:
        return self.prefix + self.rel

    def covered(self, rel: str) -> str | None:
        """``rel`` (relative to the upload's folder) as the manifest names it, or None when it
        lies outside the manifest's folder (or is the manifest)."""
        if rel == self.rel:
            return None
        if not self.folder:
            return rel
        lead = self.folder + "/"
        return rel[len(lead) :] if rel.startswith(lead) else None


@dataclass
class ManifestResult:
    staged: bool = False
    hashed: int = 0  # files read again (locally or from the server) for want of a line


async def stage_manifest(
    repo: UploadTarget,
    place: ManifestPlace,
    *,
    root: Path,
    head: Commit | None,
    workspace: UploadWorkspace,
    state: UploadState,
    unsent: list[str],
    large_threshold: int,
) -> ManifestResult:
    """Build the manifest of the tree the commit will hold and stage it unless unchanged."""
    result = ManifestResult()
    tree, old_id = await _final_tree(repo, place, head, state, set(unsent))
    known = await anyio.to_thread.run_sync(state.blake3_of, set(tree.values()))
    lines = {name: known[cid] for name, cid in tree.items() if cid in known}
    lacking = [name for name in tree if name not in lines]
    if lacking and old_id is not None and head is not None:
        previous = await _previous(repo, head, place)
        staged_now = {name for name, _ in await _staged(place, state)}
        for name in lacking:
            if name in previous and name not in staged_now:
                lines[name] = previous[name]
    hashed: dict[str, str] = {}  # by content id: identical files are read once
    for name in [n for n in tree if n not in lines]:
        cid = tree[name]
        if cid not in hashed:
            hashed[cid] = await _hash_one(repo, place, root, head, name, cid, state)
            result.hashed += 1
        lines[name] = hashed[cid]
    data = format_manifest(lines)
    if old_id is not None and hash_bytes(data) == old_id:
        return result
    await _stage(repo, place, workspace, state, data, large_threshold)
    result.staged = True
    return result


async def _staged(place: ManifestPlace, state: UploadState) -> list[tuple[str, str]]:
    rows = await anyio.to_thread.run_sync(state.staged_changes)
    return [(name, cid) for rel, cid in rows if (name := place.covered(rel)) is not None]


async def _final_tree(
    repo: UploadTarget,
    place: ManifestPlace,
    head: Commit | None,
    state: UploadState,
    unsent: set[str],
) -> tuple[dict[str, str], str | None]:
    """Name -> content id of every file under the manifest's folder at the coming commit, and
    the content id of the manifest on the head (None when it has none)."""
    tree: dict[str, str] = {}
    old_id: str | None = None
    folder = place.prefix + place.folder if place.folder else place.prefix.rstrip("/")
    lead = place.prefix
    if head is not None:
        try:
            async for remote_path, entry in repo.dirs.walk_brief(head.id, folder):
                rel = remote_path[len(lead) :]
                if rel == place.rel:
                    old_id = entry.hash
                name = place.covered(rel)
                if name is not None and entry.hash:
                    tree[name] = entry.hash
        except NotFoundError:
            pass  # the folder is new on the branch
    for rel, cid in await anyio.to_thread.run_sync(state.staged_changes):
        name = place.covered(rel)
        if name is None or place.prefix + rel in unsent:
            continue
        if cid == REMOVED:
            tree.pop(name, None)
        else:
            tree[name] = cid
    return tree, old_id


async def _previous(repo: UploadTarget, head: Commit, place: ManifestPlace) -> dict[str, str]:
    """The lines of the manifest on the head; {} when it is unreadable as a manifest (then
    every line it would have given is computed afresh)."""
    data = await repo.files.download(head.id, place.repo_path)
    try:
        return parse_manifest(data, place.repo_path)
    except OxenError:
        return {}


async def _hash_one(
    repo: UploadTarget,
    place: ManifestPlace,
    root: Path,
    head: Commit | None,
    name: str,
    content_id: str,
    state: UploadState,
) -> str:
    """blake3 of the file ``name`` whose content is ``content_id``: the local copy when it has
    that content, else the branch's, streamed (each one read, both hashes from it)."""
    rel = f"{place.folder}/{name}" if place.folder else name
    local = root / rel

    def read_local() -> tuple[str, str] | None:
        b3 = blake3.blake3()
        try:
            cid, _ = hash_file_sync(local, b3)
        except OSError:
            return None
        return cid, b3.hexdigest()

    found = await anyio.to_thread.run_sync(read_local)
    if found is None or found[0] != content_id:
        if head is None:
            raise OxenError(f"{rel}: no local copy with content {content_id} to hash")
        b3 = blake3.blake3()
        xx = StreamingHasher()
        async with repo.files.stream(head.id, place.prefix + rel) as chunks:
            async for chunk in chunks:
                xx.update(chunk)
                b3.update(chunk)
        if xx.hexdigest() != content_id:
            raise IntegrityError(f"{rel}: the branch's copy does not hash to {content_id}")
        found = (content_id, b3.hexdigest())
    await anyio.to_thread.run_sync(state.remember_blake3, [found])
    return found[1]


async def _stage(
    repo: UploadTarget,
    place: ManifestPlace,
    workspace: UploadWorkspace,
    state: UploadState,
    data: bytes,
    large_threshold: int,
) -> None:
    """Stage the manifest's bytes at its repo path and record it, so the merge keeps it."""
    content_id = hash_bytes(data)
    ws = await workspace.get()
    if len(data) <= large_threshold:
        wire, gzipped = encode_content(data, "auto", place.rel)
        form = staging_form([FilePart(place.repo_path, wire, gzipped)])
        staged = await repo.workspaces.stage_form(ws, form)
        if place.repo_path not in staged:
            raise OxenError(f"the server did not stage the manifest {place.repo_path!r}")
    else:  # a manifest of many files: through the large-file route, from a temporary file
        tmp = state.path.with_suffix(".manifest")
        await anyio.to_thread.run_sync(tmp.write_bytes, data)
        try:
            st = await anyio.to_thread.run_sync(os.stat, tmp)
            job = FileJob(place.rel, str(tmp), len(data), st.st_mtime_ns, content_id)
            await send_large_file(repo, job, place.repo_path, ws)
        finally:
            await anyio.to_thread.run_sync(tmp.unlink)
    await anyio.to_thread.run_sync(state.record_staged, [(place.rel, content_id)])
