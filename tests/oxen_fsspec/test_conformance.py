"""fsspec's shared conformance tests, where they apply to a repository.

Get, put, open and pipe apply. Copy within the filesystem does not (no server-side copy).
A repository has no empty folders (``supports_empty_directories`` is False): a folder is
there when a file is. Every test gets a fresh repository.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

import pytest

from oxen_async.fs import OxenFileSystem

abstract = pytest.importorskip("fsspec.tests.abstract", reason="fsspec's shared tests")


class _Fixtures(abstract.AbstractFixtures):  # type: ignore[misc,name-defined]
    @pytest.fixture
    def fs(self, fs: OxenFileSystem) -> OxenFileSystem:  # the repository's filesystem
        return fs

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return posixpath.join

    @pytest.fixture
    def fs_path(self, fs: OxenFileSystem) -> str:
        return f"{fs.prefix}/base"

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestGet(_Fixtures, abstract.AbstractGetTests):  # type: ignore[misc,name-defined]
    pass


_KEEPS_EMPTY = pytest.mark.real_differs(
    "oxen-server 0.65.2 keeps a folder after its last file is removed (the bundled server "
    "drops it), so a removed tree still lists as an empty folder"
)


class TestPut(_Fixtures, abstract.AbstractPutTests):  # type: ignore[misc,name-defined]
    @_KEEPS_EMPTY
    def test_put_directory_to_new_directory(
        self,
        fs: Any,
        fs_join: Any,
        fs_target: Any,
        local_bulk_operations_scenario_0: Any,
        supports_empty_directories: Any,
    ) -> None:
        super().test_put_directory_to_new_directory(
            fs, fs_join, fs_target, local_bulk_operations_scenario_0, supports_empty_directories
        )

    @_KEEPS_EMPTY
    def test_put_directory_without_files_with_same_name_prefix(
        self,
        fs: Any,
        fs_join: Any,
        fs_target: Any,
        local_join: Any,
        local_dir_and_file_with_same_name_prefix: Any,
        supports_empty_directories: Any,
    ) -> None:
        super().test_put_directory_without_files_with_same_name_prefix(
            fs,
            fs_join,
            fs_target,
            local_join,
            local_dir_and_file_with_same_name_prefix,
            supports_empty_directories,
        )


class TestOpen(_Fixtures, abstract.AbstractOpenTests):  # type: ignore[misc,name-defined]
    pass


class TestPipe(_Fixtures, abstract.AbstractPipeTests):  # type: ignore[misc,name-defined]
    pass
