"""``LazyWorkers``: concurrency is a ceiling, not tasks created up front (issue 9, item 1)."""

from __future__ import annotations

import anyio
import pytest

from oxen_async.limits import LazyWorkers, LimitError


async def test_three_items_start_three_tasks_whatever_the_ceiling() -> None:
    send, receive = anyio.create_memory_object_stream[int](10)
    handled: list[int] = []

    async def handle(item: int) -> None:
        await anyio.sleep(0)
        handled.append(item)

    workers = LazyWorkers[int](256)
    async with send:
        for item in range(3):
            await send.send(item)
    async with anyio.create_task_group() as tg:
        await workers.run(receive, handle, tg)
    assert sorted(handled) == [0, 1, 2]
    assert workers.started == 3
    assert workers.peak <= 3
    assert workers.running == 0


async def test_at_most_ceiling_run_and_the_stream_waits_meanwhile() -> None:
    send, receive = anyio.create_memory_object_stream[int](0)
    release = anyio.Event()
    entered: list[int] = []
    workers = LazyWorkers[int](2)

    async def handle(item: int) -> None:
        entered.append(item)
        await release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(workers.run, receive, handle, tg)
        async with send:
            await send.send(0)
            await send.send(1)
            # Both slots are busy: a third item is not taken off the stream (back-pressure).
            with pytest.raises(anyio.WouldBlock):
                send.send_nowait(2)
            await anyio.wait_all_tasks_blocked()
            assert workers.running == 2
            release.set()
            await send.send(2)
    assert sorted(entered) == [0, 1, 2]
    assert workers.peak == 2


async def test_a_failure_cancels_the_others_and_is_raised() -> None:
    send, receive = anyio.create_memory_object_stream[int](5)
    cancelled: list[int] = []

    async def handle(item: int) -> None:
        if item == 1:
            raise ValueError("bad item")
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(item)
            raise

    async with send:
        for item in range(3):
            await send.send(item)
    with pytest.raises(ExceptionGroup) as caught:
        async with anyio.create_task_group() as tg:
            tg.start_soon(LazyWorkers[int](4).run, receive, handle, tg)
    assert [type(e) for e in caught.value.exceptions] == [ValueError]
    assert 0 in cancelled  # the one running was cancelled, not left behind


@pytest.mark.parametrize("ceiling", [0, -1, 10_000_000])
def test_the_ceiling_is_checked_like_any_count(ceiling: int) -> None:
    # A count of tasks, not of requests: a stage may run more workers than requests in
    # flight (the download engine runs twice as many), but never none or millions.
    with pytest.raises(LimitError, match="workers"):
        LazyWorkers[int](ceiling)
