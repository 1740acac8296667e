"""How small files waiting for a batch are cut into batches (``batchpool``): the ramp while the
listing runs, shrinking shares once it is over, one blob per content, and the listing held
back when the pool is full. The end-to-end effect (few requests, every file once) is in
``test_routes``; here the rule itself, step by step."""

from __future__ import annotations

import anyio

from oxen_async.download.batch import Blob
from oxen_async.download.batchpool import BatchPool


def _pool(**kw: int) -> BatchPool:
    settings = {"first_files": 64, "batch_files": 1000, "batch_bytes": 1 << 30, "capacity": 8000}
    settings.update(kw)
    return BatchPool(8, **settings)


def _fill(pool: BatchPool, n: int, size: int = 10, start: int = 0) -> None:
    for i in range(start, start + n):
        pool.add(f"{i:032x}", size, (f"d/f{i}", f"/tmp/x/d/f{i}"))
    pool.notify()


def _cut_all(pool: BatchPool) -> list[list[int]]:
    cuts = []
    while blobs := pool.take():
        cuts.append([int(b.content_id, 16) for b in blobs])
    return cuts


async def test_while_listing_batches_double_from_the_first_and_wait_to_fill() -> None:
    pool = _pool()
    _fill(pool, 63)
    assert not pool.ready() and pool.take() == []  # 63 < the first batch's 64
    _fill(pool, 2937, start=63)
    sizes = [len(cut) for cut in _cut_all(pool)]
    # 64 + 128 + 256 + 512 + 1,000 + 1,000 = 2,960 of the 3,000; the other 40 wait for more
    # (the listing runs).
    assert sizes == [64, 128, 256, 512, 1000, 1000]
    assert not pool.ready()
    pool.close()
    assert [len(cut) for cut in _cut_all(pool)] == [40]


async def test_after_the_listing_each_batch_is_a_slots_share_of_what_is_left() -> None:
    pool = _pool()
    _fill(pool, 64 + 128 + 256 + 512)
    assert [len(c) for c in _cut_all(pool)] == [64, 128, 256, 512]  # the ramp, full-size next
    _fill(pool, 6000, start=960)
    pool.close()
    cuts = _cut_all(pool)
    sizes = [len(cut) for cut in cuts]
    # 6,000 left over 8 slots: 750 first, then each a share of what is left, never under the
    # first batch's 64 but at the very end, never growing.
    assert sizes[0] == 750
    assert sizes == sorted(sizes, reverse=True)
    assert all(size >= 64 for size in sizes[:-1]) and sizes[-1] <= 64
    # Every file once, oldest first.
    assert [i for cut in cuts for i in cut] == list(range(960, 6960))
    assert pool.take() == [] and not pool.ready()


async def test_the_share_never_exceeds_the_full_batch() -> None:
    pool = _pool(first_files=1000)
    _fill(pool, 20_000)
    pool.close()
    sizes = [len(c) for c in _cut_all(pool)]
    assert sizes[0] == 1000 and max(sizes) == 1000 and sum(sizes) == 20_000


async def test_a_batch_stops_at_its_bytes_and_bytes_alone_make_it_ready() -> None:
    pool = _pool(batch_bytes=1000)
    _fill(pool, 30, size=100)  # 3,000 bytes in 30 files: fewer than the first 64
    assert pool.ready()  # a full batch's bytes are waiting
    cuts = _cut_all(pool)
    assert [len(c) for c in cuts] == [10, 10, 10]
    big = _pool(batch_bytes=1000)
    _fill(big, 1, size=5000)  # bigger than a batch's bytes: still goes, alone
    big.close()
    assert [len(c) for c in _cut_all(big)] == [1]


async def test_paths_of_the_same_bytes_share_one_blob() -> None:
    pool = _pool()
    pool.add("a" * 32, 5, ("x/one", "/t/x/one"))
    pool.add("a" * 32, 5, ("y/two", "/t/y/two"))
    pool.add("b" * 32, 7, ("z", "/t/z"))
    pool.close()
    (blobs,) = [pool.take()]
    assert [(b.content_id[0], [p for p, _ in b.targets]) for b in blobs] == [
        ("a", ["x/one", "y/two"]),
        ("b", ["z"]),
    ]


async def _held_until_a_cut(pool: BatchPool) -> list[Blob]:
    """Check that the listing waits for room in the full ``pool`` and goes on once a batch
    is cut; that batch."""
    resumed = anyio.Event()

    async def listing() -> None:
        await pool.room()
        resumed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(listing)
        await anyio.wait_all_tasks_blocked()
        assert not resumed.is_set()  # the pool is full
        cut = pool.take()
        with anyio.fail_after(5):
            await resumed.wait()
    return cut


async def test_the_listing_waits_for_room_and_goes_on_after_a_batch_is_cut() -> None:
    pool = _pool(first_files=10, batch_files=10, capacity=20)
    _fill(pool, 20)  # 20 files wait: the pool is full
    assert len(await _held_until_a_cut(pool)) == 10


async def test_senders_wait_until_a_batch_can_be_cut_and_stop_when_it_is_all_cut() -> None:
    pool = _pool()
    outcomes: list[bool] = []

    async def sender() -> None:
        outcomes.append(await pool.wait_ready())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        await anyio.wait_all_tasks_blocked()
        assert outcomes == []  # nothing waits yet
        _fill(pool, 64)
        await anyio.wait_all_tasks_blocked()
        assert outcomes == [True]
        pool.take()
        tg.start_soon(sender)
        await anyio.wait_all_tasks_blocked()
        pool.close()  # nothing left: there will be no batch
    assert outcomes == [True, False]


async def test_many_paths_of_one_content_count_as_many() -> None:
    pool = _pool(batch_files=64, capacity=100)
    for i in range(100):  # a folder of empty files: one content, a hundred paths
        pool.add("e" * 32, 0, (f"d/f{i}", f"/tmp/x/d/f{i}"))
    pool.notify()
    assert pool.ready()  # the paths fill the pool though one content is far below 64
    (blob,) = await _held_until_a_cut(pool)
    assert len(blob.targets) == 100
