"""The torch datasets cache blobs by default: keep the tests' cache out of the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "oxen-async-cache"
    monkeypatch.setenv("OXEN_ASYNC_CACHE", str(folder))  # spawned workers inherit it
    return folder
