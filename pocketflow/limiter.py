"""A concurrency budget shared by several batches, nested ones included, never exceeded and without deadlock.

Whoever holds a slot (a batch item, or a task inside `async with limiter`) holds a lease, recorded in a
ContextVar. A nested batch or `acquire()` on the same limiter may borrow that lease instead of taking a fresh
slot, so an item that waits on its own sub-batch never starves it. A lease is lent to one borrower at a time; a
second one waits for whichever comes first, the lease or a fresh slot. A lease whose holder has finished (say,
an item returned while a task it started still runs) can no longer be lent, and its slot stays taken until
its borrower gives it back. So at most `capacity` leases are ever in use at once.

A batch worker keeps one seat (the ContextVar's entry) for all its items and sets the seat's lease per item,
which costs no context switch per item; a task an item left running borrows, if anything, the lease its
worker holds when it asks, under the same one-borrower rule.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

from .errors import FlowError


class _Lease:
    """The right to run on one slot: a fresh slot of the limiter (`parent` None) or one borrowed from `parent`."""

    __slots__ = ("parent", "lent", "closed", "waiters")

    def __init__(self, parent: _Lease | None) -> None:
        self.parent: _Lease | None = parent
        self.lent: bool = False  # a borrower runs on this slot now
        self.closed: bool = False  # given back by its holder
        self.waiters: deque[asyncio.Future[_Lease | None]] | None = None  # made when someone waits


class _Seat:
    """Where a task records the lease it runs on now; a batch worker keeps one seat and changes its lease per item.

    A seat made by acquire() remembers its task and ContextVar token, which release() checks and resets.
    """

    __slots__ = ("lease", "task", "token")

    def __init__(self, lease: _Lease | None) -> None:
        self.lease = lease
        self.task: asyncio.Task[Any] | None = None
        self.token: Token[Mapping[Limiter, _Seat]] | None = None


_LEASES: ContextVar[Mapping[Limiter, _Seat]] = ContextVar("pocketflow_leases", default=MappingProxyType({}))


class Limiter:
    """At most `capacity` batch items in flight across every node, flow and `async with` given this limiter."""

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise FlowError(f"Limiter capacity must be a positive int, got {capacity!r}")
        self.capacity: int = capacity
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free = capacity
        self._waiters: deque[asyncio.Future[_Lease | None]] = deque()
        self._waiting = 0

    @property
    def in_flight(self) -> int:
        """Slots in use now (a borrowed slot counts once)."""
        return self.capacity - self._free

    @property
    def waiting(self) -> int:
        """Tasks waiting for a slot now."""
        return self._waiting

    async def acquire(self) -> None:
        """Wait for a slot, borrowing the current task's own if it holds one; pair it with release()."""
        seats = _LEASES.get()
        mine = _Seat(await self._take(held_lease(self)))
        mine.task, mine.token = asyncio.current_task(), _LEASES.set({**seats, self: mine})

    def release(self) -> None:
        """Give back the slot this task took with acquire(); anything else is a FlowError."""
        mine = _LEASES.get().get(self)
        if mine is None or mine.lease is None or mine.token is None or mine.task is not asyncio.current_task():
            raise FlowError(f"{self!r}.release() without a matching acquire() in this task")
        _LEASES.reset(mine.token)
        self._give_back(mine.lease)

    async def __aenter__(self) -> Limiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Limiter({self.capacity}, in_flight={self.in_flight}, waiting={self.waiting})"

    def _bind(self) -> None:
        """Start afresh on a new event loop: futures are bound to one loop, a Limiter may outlive it."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._free, self._waiters, self._waiting = loop, self.capacity, deque(), 0

    def _try_take(self, held: _Lease | None) -> _Lease | None:
        """A lease borrowed from `held` (the caller's own, if any) or on a fresh slot, if one is free now.

        The caller has called _bind() on this event loop.
        """
        if held is not None and not held.lent and not held.closed:
            held.lent = True
            return _Lease(held)
        if self._free:
            self._free -= 1
            return _Lease(None)
        return None

    async def _take(self, held: _Lease | None) -> _Lease:
        """As _try_take, else wait for whichever comes first: `held` given back by its borrower, or a fresh slot."""
        self._bind()
        lease = self._try_take(held)
        if lease is not None:
            return lease
        if held is not None and held.closed:
            held = None
        assert self._loop is not None
        granted: asyncio.Future[_Lease | None] = self._loop.create_future()
        self._waiters.append(granted)
        if held is not None:
            if held.waiters is None:
                held.waiters = deque()
            held.waiters.append(granted)
        self._waiting += 1
        try:
            return _Lease(await granted)
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # granted, then cancelled before it could run
                self._give_back(_Lease(granted.result()))
            raise
        finally:
            self._waiting -= 1

    def _give_back(self, lease: _Lease) -> None:
        """Close `lease`; its slot goes to the next waiter once nobody borrows it any more."""
        lease.closed = True
        if lease.lent:
            return  # its borrower gives the slot back when done
        lease.waiters = None
        parent = lease.parent
        if parent is None:
            if not (self._waiters and _grant(self._waiters, None)):
                self._free += 1
            return
        parent.lent = False
        if parent.closed:
            self._give_back(parent)
        elif parent.waiters and _grant(parent.waiters, parent):
            parent.lent = True


def _grant(waiters: deque[asyncio.Future[_Lease | None]], source: _Lease | None) -> bool:
    """Hand `source` (None: a fresh slot) to the first waiter still waiting; False if there is none."""
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(source)
            return True
    return False


def held_lease(limiter: Limiter) -> _Lease | None:
    """The lease the current task runs on for `limiter`, if any."""
    seat = _LEASES.get().get(limiter)
    return None if seat is None else seat.lease


def seat(limiter: Limiter) -> _Seat:
    """A seat for the current task's leases of `limiter` (a batch worker's: it lives as long as the task)."""
    new = _Seat(None)
    _LEASES.set({**_LEASES.get(), limiter: new})
    return new
