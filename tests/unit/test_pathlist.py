"""``PathList`` behaves as the list of strings the download report used to be."""

from __future__ import annotations

import msgspec
import pytest

from oxen_async import PathList

PATHS = ["a.txt", "data/ünï/ß.csv", "", "x" * 300, "d/\udcff-not-utf8"]


def test_it_reads_like_the_list_it_replaces() -> None:
    paths = PathList()
    for p in PATHS:
        paths.append(p)
    assert len(paths) == len(PATHS)
    assert list(paths) == PATHS and paths == PATHS and paths == PATHS
    assert [paths[i] for i in range(len(PATHS))] == PATHS
    assert paths[-1] == PATHS[-1] and paths[1:3] == PATHS[1:3] and paths[::-2] == PATHS[::-2]
    assert "data/ünï/ß.csv" in paths and "data" not in paths
    assert sorted(paths) == sorted(PATHS)
    assert paths.index("") == 2 and paths.count("a.txt") == 1
    assert PathList(PATHS) == paths and PathList(PATHS[:-1]) != paths
    assert paths != ["a.txt"] and paths != "a.txt" and paths != tuple(PATHS)
    assert repr(PathList(["a"])) == "PathList(['a'])"
    assert msgspec.json.decode(msgspec.json.encode(list(PathList(PATHS[:3])))) == PATHS[:3]


def test_an_index_past_either_end_raises_like_a_list() -> None:
    paths = PathList(["one"])
    for bad in (1, -2):
        with pytest.raises(IndexError):
            paths[bad]
    with pytest.raises(IndexError):
        PathList()[0]


def test_it_is_unhashable_like_a_list() -> None:
    with pytest.raises(TypeError):
        hash(PathList())


def test_it_costs_a_fraction_of_a_list_of_strings() -> None:
    import sys

    names = [f"g{i // 10_000:02d}/d{(i // 100) % 100:02d}/f{i:06d}.txt" for i in range(10_000)]
    as_list = sys.getsizeof(names) + sum(sys.getsizeof(n) for n in names)
    compact = PathList(names)
    as_paths = sys.getsizeof(compact._data) + sys.getsizeof(compact._ends)
    assert as_paths * 2.5 < as_list, (as_paths, as_list)
