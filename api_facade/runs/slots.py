"""Run slots: at most N jobs run at once, the rest wait in FIFO order (and may withdraw)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict


class QueueFull(Exception):
    """Too many jobs are waiting already."""


class Slots:
    """At most ``size`` jobs run at once; the rest wait in FIFO order and may withdraw."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0
        self._waiting: OrderedDict[str, asyncio.Future[bool]] = OrderedDict()

    async def acquire(self, key: str) -> bool:
        """Wait for a slot; ``False`` when the wait was withdrawn (the job was cancelled)."""
        if self.used < self.size and not self._waiting:
            self.used += 1
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return await future

    def withdraw(self, key: str) -> bool:
        future = self._waiting.pop(key, None)
        if future is None:
            return False
        if not future.done():
            future.set_result(False)
        return True

    def release(self) -> None:
        # hand the slot straight to the next waiter, so no newcomer can overtake the queue
        while self._waiting:
            _, future = self._waiting.popitem(last=False)
            if not future.done():
                future.set_result(True)
                return
        self.used -= 1

    def position(self, key: str) -> int | None:
        """1-based place in the queue, or ``None`` when not waiting."""
        for index, waiting in enumerate(self._waiting, 1):
            if waiting == key:
                return index
        return None

    @property
    def waiting(self) -> int:
        return len(self._waiting)
