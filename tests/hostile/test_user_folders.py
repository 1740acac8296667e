"""Issue 9, item 10: tests never touch the user's folders, and upload state expires."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from test_cli import config_dir, run_cli, server_args, write_tree

from oxen_async.download.cache import default_cache_dir
from oxen_async.upload.expiry import STATE_TTL_S, expire_stale_states
from oxen_async.upload.state import UploadState, default_state_dir

__all__ = ["config_dir"]  # the fixture, imported to be used here


def test_library_defaults_point_into_the_tests_temporary_folder(
    isolated_user_folders: Path,
) -> None:
    home = Path.home()
    for folder in (default_state_dir(), default_cache_dir()):
        assert folder.is_relative_to(isolated_user_folders), folder
        assert not folder.is_relative_to(home / ".cache"), folder


async def test_a_cli_upload_keeps_its_state_in_the_isolated_folder(
    oxen_repo: Any, config_dir: Path, tmp_path: Path, isolated_user_folders: Path
) -> None:
    write_tree(tmp_path / "data", 3)
    state = isolated_user_folders / "state"
    before = set(state.iterdir())
    result = await run_cli(
        "upload", str(tmp_path / "data"), f"{oxen_repo.namespace}/{oxen_repo.name}",
        *server_args(oxen_repo.server), config_dir=config_dir,
    )  # fmt: skip
    assert result.code == 0, result
    assert {p.suffix for p in set(state.iterdir()) - before} >= {".sqlite"}


def test_state_unused_for_a_month_expires_and_held_state_stays(tmp_path: Path) -> None:
    old, fresh, held = (tmp_path / f"{name}.sqlite" for name in ("old", "fresh", "held"))
    for db in (old, fresh, held):
        UploadState(db).close()
    month_ago = time.time() - STATE_TTL_S - 60
    for db in (old, held):
        os.utime(db, (month_ago, month_ago))
    holder = UploadState(held)  # an upload running right now holds its lock
    try:
        removed = expire_stale_states(tmp_path)
    finally:
        holder.close()
    assert removed == [old]
    assert not old.exists() and not old.with_suffix(".lock").exists()
    assert fresh.exists() and held.exists()
