"""Content-addressed directory trees: one node object per directory, shared between commits.

A commit points at its root Entry. Applying k changes rewrites only the directories on their
paths (each once), so a merge costs O(k + size of the touched directories), never O(k * n).
Every entry remembers the commit that last changed it; that is the listing's ``latest_commit``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import msgspec

from oxen_async.hashing import hash_bytes
from oxen_async.testing.atomic import write_atomic
from oxen_async.testing.filetypes import FileMeta

DIR_MIME = "inode/directory"


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """A file or directory inside a tree node.

    ``hash``: content hash for files, Merkle hash of the children for directories.
    ``node``: for directories, the id of the node object holding the children.
    ``types``: for directories, file counts per data type in the whole subtree.
    """

    name: str
    is_dir: bool
    hash: str
    size: int
    commit: str
    node: str = ""
    mime: str = DIR_MIME
    dtype: str = "dir"
    metadata: dict[str, Any] | None = None
    types: dict[str, int] | None = None

    def file_meta(self) -> FileMeta:
        return FileMeta(self.hash, self.size, self.mime, self.dtype, self.metadata)


_encode_node = msgspec.msgpack.Encoder().encode
_decode_node = msgspec.msgpack.Decoder(list[Entry]).decode

NodeWriter = Callable[[str, bytes, list[Entry]], None]


class NodeReader(Protocol):
    def children(self, node_id: str) -> dict[str, Entry]: ...


class NodeStore:
    """Node objects of one repository at ``tree/{id[:2]}/{id[2:]}``, with a bounded cache."""

    CACHE_LIMIT = 20_000

    def __init__(self, oxen_dir: Path, tmp_dir: Path) -> None:
        self.root = oxen_dir / "tree"
        self.tmp_dir = tmp_dir
        self._cache: dict[str, dict[str, Entry]] = {}

    def _path(self, node_id: str) -> Path:
        return self.root / node_id[:2] / node_id[2:]

    def children(self, node_id: str) -> dict[str, Entry]:
        cached = self._cache.get(node_id)
        if cached is not None:
            return cached
        entries = _decode_node(self._path(node_id).read_bytes())
        mapping = {entry.name: entry for entry in entries}
        self._remember(node_id, mapping)
        return mapping

    def _remember(self, node_id: str, mapping: dict[str, Entry]) -> None:
        if len(self._cache) >= self.CACHE_LIMIT:
            self._cache.clear()
        self._cache[node_id] = mapping

    def write(self, node_id: str, encoded: bytes, entries: list[Entry]) -> None:
        """A NodeWriter that persists (skipping nodes already stored)."""
        target = self._path(node_id)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, encoded, self.tmp_dir)
        self._remember(node_id, {entry.name: entry for entry in entries})


class OverlayNodes:
    """In-memory nodes over a store: a tree that is looked at but never committed."""

    def __init__(self, base: NodeReader) -> None:
        self.base = base
        self.nodes: dict[str, dict[str, Entry]] = {}

    def children(self, node_id: str) -> dict[str, Entry]:
        found = self.nodes.get(node_id)
        return found if found is not None else self.base.children(node_id)

    def write(self, node_id: str, encoded: bytes, entries: list[Entry]) -> None:
        self.nodes[node_id] = {entry.name: entry for entry in entries}


# --- reading -----------------------------------------------------------------------------------


def split_path(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def lookup(nodes: NodeReader, root: Entry, path: str | list[str]) -> Entry | None:
    """The entry at ``path`` (the root itself for an empty path), or None."""
    current = root
    for part in split_path(path) if isinstance(path, str) else path:
        if not current.is_dir:
            return None
        found = nodes.children(current.node).get(part)
        if found is None:
            return None
        current = found
    return current


def walk_files(nodes: NodeReader, entry: Entry, prefix: str) -> Iterator[tuple[str, Entry]]:
    """(path, entry) of every file at or beneath ``entry``; ``prefix`` is the entry's own path."""
    if not entry.is_dir:
        yield prefix, entry
        return
    for child in nodes.children(entry.node).values():
        yield from walk_files(nodes, child, f"{prefix}/{child.name}" if prefix else child.name)


def sorted_children(nodes: NodeReader, entry: Entry) -> list[Entry]:
    """Children of a directory in byte order of their names."""
    return sorted(nodes.children(entry.node).values(), key=lambda child: child.name)


# --- writing -----------------------------------------------------------------------------------

Change = FileMeta | None  # None stages a removal


class _Pending:
    """A directory that changed; measured first (Merkle hash), then materialised with the id."""

    __slots__ = ("children", "merkle", "size", "types")

    def __init__(self, children: dict[str, Entry | _Pending | FileMeta]) -> None:
        self.children = children
        self.merkle = ""
        self.size = 0
        self.types: Counter[str] = Counter()


class TreeChange:
    """The result of applying changes to a tree: its Merkle hash, then the commit's root entry."""

    def __init__(self, root: _Pending | Entry | None, changed: bool) -> None:
        self._root = root
        self.changed = changed
        if isinstance(root, _Pending):
            _measure(root)

    @property
    def merkle(self) -> str:
        if isinstance(self._root, _Pending):
            return self._root.merkle
        if self._root is None:
            return _merkle_of([])
        return self._root.hash

    def materialise(self, commit_id: str, write: NodeWriter) -> Entry:
        """Write the changed nodes (children first), return the root entry for ``commit_id``."""
        if isinstance(self._root, _Pending):
            return _materialise(self._root, "", commit_id, write)
        if self._root is None:
            encoded = _encode_node([])
            node_id = hash_bytes(encoded)
            write(node_id, encoded, [])
            return Entry("", True, _merkle_of([]), 0, commit_id, node_id, types={})
        return self._root


def apply_changes(
    nodes: NodeReader, base: Entry | None, changes: Mapping[str, Change]
) -> TreeChange:
    """Apply ``changes`` (repo-relative path -> new content or removal) to the tree at ``base``.

    Content equal to what is already there is no change. Directories left empty disappear.
    """
    trie: dict[str, Any] = {}
    for path, change in changes.items():
        parts = split_path(path)
        if not parts:
            continue
        level = trie
        for part in parts[:-1]:
            nxt = level.get(part)
            if not isinstance(nxt, dict):
                nxt = level[part] = {}
            level = nxt
        level[parts[-1]] = change
    result = _apply(nodes, base, trie)
    return TreeChange(result, changed=result is not base)


def _apply(
    nodes: NodeReader, existing: Entry | None, trie: dict[str, Any]
) -> Entry | _Pending | None:
    base = nodes.children(existing.node) if existing is not None and existing.is_dir else {}
    children: dict[str, Entry | _Pending | FileMeta] = dict(base)
    changed = False
    for name, sub in trie.items():
        current = children.get(name)
        if isinstance(sub, dict):
            current_dir = current if isinstance(current, Entry) and current.is_dir else None
            result = _apply(nodes, current_dir, sub)
            if result is None:
                if current_dir is not None:
                    del children[name]
                    changed = True
            elif result is not current_dir:
                children[name] = result
                changed = True
        elif sub is None:
            if current is not None:
                del children[name]
                changed = True
        else:
            if isinstance(current, Entry) and not current.is_dir and current.hash == sub.hash:
                continue
            children[name] = sub
            changed = True
    if not changed:
        return existing
    if not children:
        return None
    return _Pending(children)


def _merkle_of(items: list[tuple[str, bool, str]]) -> str:
    text = "".join(
        f"{name}\x00{'d' if is_dir else 'f'}\x00{digest}\n" for name, is_dir, digest in items
    )
    return hash_bytes(text.encode("utf-8", "surrogateescape"))


def _measure(pending: _Pending) -> None:
    items: list[tuple[str, bool, str]] = []
    for name in sorted(pending.children):
        child = pending.children[name]
        if isinstance(child, _Pending):
            _measure(child)
            items.append((name, True, child.merkle))
            pending.size += child.size
            pending.types.update(child.types)
        elif isinstance(child, FileMeta):
            items.append((name, False, child.hash))
            pending.size += child.size
            pending.types[child.dtype] += 1
        else:
            items.append((name, child.is_dir, child.hash))
            pending.size += child.size
            if child.is_dir:
                pending.types.update(child.types or {})
            else:
                pending.types[child.dtype] += 1
    pending.merkle = _merkle_of(items)


def _materialise(pending: _Pending, name: str, commit_id: str, write: NodeWriter) -> Entry:
    entries: list[Entry] = []
    for child_name in sorted(pending.children):
        child = pending.children[child_name]
        if isinstance(child, _Pending):
            entries.append(_materialise(child, child_name, commit_id, write))
        elif isinstance(child, FileMeta):
            entries.append(
                Entry(
                    child_name,
                    False,
                    child.hash,
                    child.size,
                    commit_id,
                    mime=child.mime,
                    dtype=child.dtype,
                    metadata=child.metadata,
                )
            )
        else:
            entries.append(child)
    encoded = _encode_node(entries)
    node_id = hash_bytes(encoded)
    write(node_id, encoded, entries)
    return Entry(
        name, True, pending.merkle, pending.size, commit_id, node_id, types=dict(pending.types)
    )
