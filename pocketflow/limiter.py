"""A concurrency budget shared by several batches, nested ones included, without multiplying caps or deadlocking.

A task that holds a slot records the limiter in a ContextVar. A nested batch using the same limiter lets its
first worker run on that inherited slot and makes its other workers acquire fresh ones, so the items in flight
never exceed the budget and every slot holder can always progress. (A task that starts several such batches
concurrently lends its one slot to each of their first workers; that is the only way to exceed the budget.)
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

from .errors import FlowError


class Limiter:
    """At most `capacity` batch items in flight across every node and flow given this limiter."""

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise FlowError(f"Limiter capacity must be a positive int, got {capacity!r}")
        self.capacity = capacity
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(capacity)

    def _semaphore(self) -> asyncio.Semaphore:
        """The running loop's slots: a semaphore is bound to one loop, a Limiter may outlive it (asyncio.run twice)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.capacity)
        return self._slots

    async def acquire(self) -> None:
        """Wait for a free slot."""
        await self._semaphore().acquire()

    def release(self) -> None:
        """Give a slot back."""
        self._semaphore().release()

    def __repr__(self) -> str:
        return f"Limiter({self.capacity})"


_HELD: ContextVar[frozenset[Limiter]] = ContextVar("pocketflow_held_limiters", default=frozenset())


def holds(limiter: Limiter) -> bool:
    """Whether the current task already runs on a slot of `limiter`."""
    return limiter in _HELD.get()


def mark_held(limiter: Limiter) -> None:
    """Record, for the current task and the tasks it spawns, that it runs on a slot of `limiter`."""
    _HELD.set(_HELD.get() | {limiter})
