"""Process-wide request limits for one provider and model, shared by every caller.

Three gates, passed in order before each HTTP request:
1. concurrency: an asyncio.Semaphore per event loop (asyncio primitives belong to one loop, so successive
   `asyncio.run` calls each get their own; event loops running at the same time in several threads would
   each get the full limit);
2. a shared pause: a 429 (or any Retry-After) sets a "not before" time that every caller waits for;
3. pacing: requests and tokens per minute are spread evenly over time. Each caller reserves its start time on a
   virtual clock (GCRA), so the budget is never exceeded in any window and there is no burst to trigger a 429.
Times are plain `time.monotonic()` floats, so the pause and the pacing survive from one event loop to the next.
"""
from __future__ import annotations

import asyncio
import weakref
from asyncio import sleep
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import monotonic


class _Pacer:
    """Spreads `per_minute` units evenly: each reservation moves a shared virtual clock forward by its cost."""

    def __init__(self, per_minute: int) -> None:
        self._seconds_per_unit = 60.0 / per_minute
        self._next = 0.0

    def reserve(self, units: float, now: float) -> float:
        """Return the time at which `units` may be spent (now or later)."""
        start = max(now, self._next)
        self._next = start + units * self._seconds_per_unit
        return start

    def adjust(self, units: float) -> None:
        """Correct an earlier reservation by `units` (negative gives budget back)."""
        self._next += units * self._seconds_per_unit


class RateLimiter:
    """Concurrency, requests-per-minute and tokens-per-minute limits plus a pause everyone honours after a 429."""

    def __init__(self, max_concurrency: int, rpm: int | None = None, tpm: int | None = None) -> None:
        self.max_concurrency = max_concurrency
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._requests = _Pacer(rpm) if rpm else None
        self._tokens = _Pacer(tpm) if tpm else None
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every caller back for `seconds` from now (the server asked us to slow down)."""
        self._paused_until = max(self._paused_until, monotonic() + seconds)

    def settle_tokens(self, estimated: int, actual: int) -> None:
        """Replace a call's token estimate by the usage the server reported."""
        if self._tokens is not None:
            self._tokens.adjust(actual - estimated)

    @asynccontextmanager
    async def slot(self, estimated_tokens: int) -> AsyncIterator[None]:
        """Hold one request slot: wait for a free slot, for any pause, then for the request's turn."""
        async with self._semaphore():
            await self._wait_pause()
            now = monotonic()
            start = now
            if self._requests is not None:
                start = max(start, self._requests.reserve(1, now))
            if self._tokens is not None:
                start = max(start, self._tokens.reserve(estimated_tokens, now))
            if start > now:
                await sleep(start - now)
            await self._wait_pause()
            yield

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    async def _wait_pause(self) -> None:
        while (delay := self._paused_until - monotonic()) > 0:
            await sleep(delay)


_limiters: dict[tuple[str, str, int, int | None, int | None], RateLimiter] = {}


def limiter_for(provider: str, model: str, *, max_concurrency: int, rpm: int | None, tpm: int | None) -> RateLimiter:
    """The one limiter of (provider, model) for these limits, created on first use and shared afterwards."""
    key = (provider, model, max_concurrency, rpm, tpm)
    limiter = _limiters.get(key)
    if limiter is None:
        limiter = _limiters[key] = RateLimiter(max_concurrency, rpm, tpm)
    return limiter
