"""``ByteBudget``: holders wait while their bytes would pass the budget, never forever."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.lowlevel

from oxen_async.limits import ByteBudget


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await anyio.lowlevel.checkpoint()


async def test_a_holder_waits_while_its_bytes_would_pass_the_budget() -> None:
    budget = ByteBudget(10)
    order: list[str] = []
    release_first = anyio.Event()

    async def hold(name: str, size: int, until: anyio.Event | None = None) -> None:
        async with budget.hold(size):
            order.append(f"+{name}")
            if until is not None:
                await until.wait()
        order.append(f"-{name}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold, "a", 7, release_first)
        await _until(lambda: budget.held == 7)
        tg.start_soon(hold, "b", 4)  # 7 + 4 > 10: waits for a
        for _ in range(20):  # b had every chance to run: it must still be waiting
            await anyio.lowlevel.checkpoint()
        assert order == ["+a"] and budget.held == 7
        release_first.set()
    assert order == ["+a", "-a", "+b", "-b"]
    assert budget.held == 0 and budget.peak == 7


async def test_one_holder_bigger_than_the_budget_gets_it_alone() -> None:
    budget = ByteBudget(10)
    async with budget.hold(25):
        assert budget.held == 25
    assert budget.held == 0


async def test_a_cancelled_holder_gives_its_bytes_back() -> None:
    budget = ByteBudget(10)
    with anyio.move_on_after(0.01):
        async with budget.hold(6):
            await anyio.sleep_forever()
    assert budget.held == 0
    async with budget.hold(10):
        assert budget.held == 10
