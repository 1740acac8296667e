"""The content cache: verified reads, LRU eviction under a size bound, several processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oxen_async import IntegrityError, hash_bytes
from oxen_async.download import ContentCache, default_cache_dir


def test_its_place_follows_the_conventions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_cache_dir() == tmp_path / "user-cache" / "oxen_async"  # $OXEN_ASYNC_CACHE
    monkeypatch.delenv("OXEN_ASYNC_CACHE")
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "user-cache" / "oxen_async"  # $XDG_CACHE_HOME
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert default_cache_dir() == tmp_path / "home" / ".cache" / "oxen_async"


def test_blobs_are_verified_in_and_out(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "c")
    data = b"some bytes"
    cache.put_bytes(hash_bytes(data), data)
    assert cache.read(hash_bytes(data)) == data
    assert cache.copy_to(hash_bytes(data), tmp_path / "out" / "f.txt")
    assert (tmp_path / "out" / "f.txt").read_bytes() == data
    with pytest.raises(IntegrityError):
        cache.put_bytes(hash_bytes(b"other"), data)
    assert not cache.contains(hash_bytes(b"other"))

    cache.path_for(hash_bytes(data)).write_bytes(b"damaged!!!")  # same size, other bytes
    assert not cache.copy_to(hash_bytes(data), tmp_path / "out" / "g.txt")
    assert not (tmp_path / "out" / "g.txt").exists()
    assert not cache.contains(hash_bytes(data))  # a damaged entry is dropped
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["f.txt"]


def test_the_least_recently_used_go_first_when_over_the_bound(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "c", max_bytes=10_000)
    blobs = [os.urandom(2000) for _ in range(4)]
    for age, data in enumerate(blobs):
        cache.put_bytes(hash_bytes(data), data)
        stamp = 1_000_000 + age
        os.utime(cache.path_for(hash_bytes(data)), (stamp, stamp))
    assert cache.read(hash_bytes(blobs[0])) == blobs[0]  # used now: the newest
    extra = [os.urandom(2000) for _ in range(2)]
    for data in extra:
        cache.put_bytes(hash_bytes(data), data)  # 12,000 bytes: evicts down to 9,000
    assert cache.size() <= 9000
    present = [cache.contains(hash_bytes(d)) for d in blobs + extra]
    assert present == [True, False, False, True, True, True]


_WRITER = """
import os, sys
from oxen_async.download import ContentCache
from oxen_async import hash_bytes
cache = ContentCache(sys.argv[1], max_bytes=60_000)
for i in range(300):
    data = b"%d" % i * 100
    cache.put_bytes(hash_bytes(data), data)
    got = cache.read(hash_bytes(data))
    assert got in (None, data)
"""


def test_processes_share_it_safely(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(root)], env=env) for _ in range(3)
    ]
    assert [child.wait(60) for child in children] == [0, 0, 0]
    cache = ContentCache(root, max_bytes=60_000)
    entries = list((root / "blobs").glob("*/*"))
    assert entries
    for path in entries:  # every entry whole and under its own id
        assert hash_bytes(path.read_bytes()) == path.parent.name + path.name
    # Each writer may overshoot by what it adds between looks at the total (5 % of the bound).
    assert cache.size() <= 60_000 + 3 * (3000 + 300)
    assert list((root / "tmp").iterdir()) == []
