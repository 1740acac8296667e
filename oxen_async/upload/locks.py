"""Locks by key that last only while someone holds or awaits them (nothing grows forever)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import anyio

K = TypeVar("K", bound=Hashable)


class KeyedLocks(Generic[K]):
    """One lock per key; a key's lock is dropped when its last holder or waiter leaves."""

    def __init__(self) -> None:
        self._locks: dict[K, anyio.Lock] = {}
        self._users: dict[K, int] = {}  # tasks holding or awaiting each key's lock

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, anyio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]
