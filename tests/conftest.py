"""Load the bundled pytest plugin even when the package is not installed (no entry point), and
keep every test out of the user's own folders (issue 9, item 10)."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

if not any(ep.value == "oxen_async.testing.plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["oxen_async.testing.plugin"]

# Where oxen_async writes on its own: upload state, the content cache, oxen's config (read).
USER_FOLDER_ENV = ("OXEN_ASYNC_STATE_DIR", "OXEN_ASYNC_CACHE", "OXEN_CONFIG_DIR")


@pytest.fixture(autouse=True)
def isolated_user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> Path:
    """Upload state, the content cache and oxen's config dir in a fresh temporary folder for
    each test; CLI subprocesses inherit them (``OXEN_ASYNC_*`` is kept by their clean env).

    Not ``$XDG_CACHE_HOME``: the real-server fixture finds its installed binaries through it.
    """
    root = tmp_path_factory.mktemp("user-folders")
    for name, sub in zip(USER_FOLDER_ENV, ("state", "cache", "oxen-config"), strict=True):
        (root / sub).mkdir()
        monkeypatch.setenv(name, str(root / sub))
    return root
