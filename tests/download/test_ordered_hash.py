"""``OrderedHasher``: pieces written out of order hash to the file's id, held or read back."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import pytest

from oxen_async import hash_bytes
from oxen_async.download.ordered_hash import OrderedHasher


@pytest.mark.parametrize("held_limit", [0, 3000, 1 << 30])
def test_pieces_in_any_order_hash_like_the_whole_file(tmp_path: Path, held_limit: int) -> None:
    rng = random.Random(held_limit)
    data = rng.randbytes(50_000)
    cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(40))})
    pieces = list(itertools.pairwise(cuts))
    rng.shuffle(pieces)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        hasher = OrderedHasher(fd, held_limit=held_limit)
        for start, end in pieces:
            os.pwrite(fd, data[start:end], start)
            hasher.add(start, data[start:end])
    finally:
        os.close(fd)
    assert hasher.cursor == len(data)
    assert hasher.hexdigest() == hash_bytes(data)
    # Nothing held: what came ahead of the cursor was read back; all held: nothing was.
    if held_limit == 0:
        assert hasher.read_back > 0
    if held_limit == 1 << 30:
        assert hasher.read_back == 0
