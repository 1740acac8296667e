"""An independent reading of a manifest: the test's own parser and the ``blake3`` package
re-hashing the files on disk (and ``b3sum --check`` where the binary is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import blake3

from oxen_async import RemoteRepo

LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")


def read_lines(data: bytes) -> dict[str, str]:
    """path -> hex of a checkfile, asserting the b3sum format: sorted, two spaces, UTF-8."""
    text = data.decode("utf-8")
    assert text.endswith("\n")
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = LINE.match(line)
        assert m, f"not a b3sum line: {line!r}"
        found[m.group(2)] = m.group(1)
    assert list(found) == sorted(found)
    return found


def expected_lines(files: dict[str, bytes]) -> dict[str, str]:
    return {path: blake3.blake3(data).hexdigest() for path, data in files.items()}


def disk_lines(root: Path, skip: str) -> dict[str, str]:
    """blake3 of every file under ``root`` read back from disk."""
    return {
        p.relative_to(root).as_posix(): blake3.blake3(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() != skip
    }


def b3sum_check(folder: Path, manifest: str) -> None:
    """``b3sum --check`` in ``folder`` when the binary exists (it is not built for the tests)."""
    b3sum = shutil.which("b3sum")
    if b3sum is None:
        return
    done = subprocess.run(
        [b3sum, "--check", manifest], cwd=folder, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def manifest_at(repo: RemoteRepo, revision: str, path: str) -> dict[str, str]:
    return read_lines(await repo.files.download(revision, path))
