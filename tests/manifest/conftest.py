from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from oxen_async import OxenClient, RemoteRepo


@pytest.fixture
async def repo(oxen_repo: Any) -> AsyncIterator[RemoteRepo]:
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        yield oxen.repo(oxen_repo.namespace, oxen_repo.name)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"
