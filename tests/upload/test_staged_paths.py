"""Reading a workspace's staged paths sees every one of them, on a listing that the real
0.65.2 returns in a new order for each request (pages of one listing overlap there)."""

from __future__ import annotations

from oxen_async import RemoteRepo
from oxen_async.multipart import FilePart
from oxen_async.upload.commit import CHANGES_PAGE, drop_unwanted, staged_paths

# More than one page of the server's changes listing, so a paged read would be exposed.
STAGED = CHANGES_PAGE + 500


async def test_drop_unwanted_keeps_exactly_the_wanted_paths(repo: RemoteRepo) -> None:
    ws = await repo.workspaces.get_or_create("main")
    paths = [f"d{i % 7}/f{i:05d}.txt" for i in range(STAGED)]
    for i in range(0, STAGED, 500):
        parts = [FilePart(p, f"content {p}".encode()) for p in paths[i : i + 500]]
        await repo.workspaces.add_files(ws.id, "", parts)
    assert await staged_paths(repo, ws.id) == set(paths)

    keep = set(paths[::2])
    dropped = await drop_unwanted(repo, ws.id, lambda staged: keep & set(staged))

    assert dropped == STAGED - len(keep)
    assert await staged_paths(repo, ws.id) == keep
