"""With ``delete_missing``: stage removal of branch files under ``dest`` that the local folder
no longer has.

Walks the remote tree and asks the disk about each path (in worker threads, a page at a time),
so no list of the whole folder is ever held: only the paths to remove, because the removal
guard (``removal_guard.py``) must see how many would go, out of how many, before any is staged.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio.to_thread

from ..errors import NotFoundError
from ..models import Commit
from .counters import Counters
from .removal_guard import RemovalGuard
from .state import REMOVED, UploadState
from .target import UploadTarget
from .workspace import UploadWorkspace

PAGE = 1000


def missing_locally(root: Path, rel_paths: list[str]) -> list[str]:
    """Paths under ``root`` that are gone. Only "no such file" counts: a permission error on
    an unreadable folder must not remove its whole remote subtree (blocking)."""
    gone: list[str] = []
    for rel in rel_paths:
        try:
            st = os.stat(root / rel)
        except (FileNotFoundError, NotADirectoryError):
            gone.append(rel)
            continue
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            continue  # a special file stands there: reported by the scan, not removed
    return gone


async def stage_removals(
    repo: UploadTarget,
    head: Commit | None,
    root: Path,
    dest: str,
    workspace: UploadWorkspace,
    state: UploadState,
    counters: Counters,
    guard: RemovalGuard,
    where: str,
    keep: frozenset[str] = frozenset(),
) -> None:
    """Count, check with ``guard`` (RemovalRefusedError: nothing staged), then stage.
    ``keep``: repo paths never removed (the upload's own manifest)."""
    if head is None:
        return
    prefix = f"{dest}/" if dest else ""
    pending: list[str] = []
    gone: list[str] = []
    total = 0

    async def sort_out() -> None:
        gone.extend(await anyio.to_thread.run_sync(missing_locally, root, list(pending)))
        pending.clear()
        guard.check_running(len(gone), where)

    try:
        async for remote_path, _entry in repo.dirs.walk_brief(head.id, dest):
            if remote_path in keep:
                continue
            total += 1
            pending.append(remote_path[len(prefix) :])
            if len(pending) >= PAGE:
                await sort_out()
    except NotFoundError:
        return  # the destination is new on the branch: nothing there to remove
    await sort_out()
    guard.check(len(gone), total, where)
    for start in range(0, len(gone), PAGE):
        page = gone[start : start + PAGE]
        ws = await workspace.get()
        await repo.workspaces.remove(ws, [prefix + g for g in page])
        await anyio.to_thread.run_sync(state.record_staged, [(g, REMOVED) for g in page])
        counters.removed += len(page)
