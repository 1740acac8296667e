"""Generated benchmark datasets, cached on disk so repeated runs reuse them."""

from __future__ import annotations

import os
import random
from pathlib import Path

MiB = 1024 * 1024
WORDS = [
    "oxen",
    "data",
    "version",
    "control",
    "branch",
    "commit",
    "tree",
    "blob",
    "hash",
    "upload",
    "folder",
    "million",
    "files",
    "async",
    "loop",
    "batch",
    "workspace",
    "merge",
    "server",
    "client",
    "python",
    "rust",
    "fast",
    "bounded",
    "memory",
]


def _text(rng: random.Random, size: int) -> bytes:
    out: list[str] = []
    n = 0
    while n < size:
        line = (
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
            + f" {rng.random():.6f}\n"
        )
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def _marker(root: Path) -> Path:
    # Beside the dataset, not inside it: everything inside is uploaded.
    return root.parent / f"{root.name}.complete"


def _ready(root: Path, marker: str) -> bool:
    m = _marker(root)
    return m.exists() and m.read_text() == marker


def _finish(root: Path, marker: str) -> Path:
    _marker(root).write_text(marker)
    return root


def small_text(base: Path, count: int = 20_000, lo: int = 2048, hi: int = 8192) -> Path:
    """``count`` text files of lo..hi bytes in 100-file folders two levels deep."""
    root = base / f"small-{count}-{lo}-{hi}"
    marker = f"{count}:{lo}:{hi}"
    if _ready(root, marker):
        return root
    rng = random.Random(count)
    for i in range(count):
        path = root / f"g{i // 10_000:02d}" / f"d{(i // 100) % 100:02d}" / f"f{i:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_text(rng, rng.randint(lo, hi)))
    return _finish(root, marker)


def incompressible(base: Path, count: int = 2000, size: int = 200 * 1024) -> Path:
    root = base / f"random-{count}-{size}"
    marker = f"{count}:{size}"
    if _ready(root, marker):
        return root
    for i in range(count):
        path = root / f"d{i // 100:02d}" / f"r{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size + (i % 7) * 1024))
    return _finish(root, marker)


def huge(base: Path, count: int = 3, size: int = 110 * MiB) -> Path:
    root = base / f"huge-{count}-{size}"
    marker = f"{count}:{size}"
    if _ready(root, marker):
        return root
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        with (root / f"big{i}.bin").open("wb") as f:
            left = size
            while left:
                n = min(left, 8 * MiB)
                f.write(os.urandom(n))
                left -= n
    return _finish(root, marker)


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def warm(root: Path) -> None:
    """Read every file once, so no contender is the one that pays for a cold page cache (the
    wire limit reads its files before its clock starts; ours reads them inside it)."""
    for path in files_of(root):
        with path.open("rb") as f:
            while f.read(1 << 20):
                pass


def scale_tree(base: Path, folders: int = 1000, per_folder: int = 1000, size: int = 2200) -> Path:
    """``folders`` x ``per_folder`` text files of ``size`` bytes, each different (its own first
    line), for the at-scale upload: 1,000,000 files by default. Cheap to write: one shared
    body of text behind each file's own header."""
    root = base / f"scale-{folders}x{per_folder}-{size}"
    marker = f"{folders}:{per_folder}:{size}"
    if _ready(root, marker):
        return root
    body = _text(random.Random(size), size)
    for d in range(folders):
        folder = root / f"d{d:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_folder):
            head = f"file {d:04d}/{i:04d}\n".encode()
            (folder / f"f{i:04d}.txt").write_bytes((head + body)[:size])
    return _finish(root, marker)
