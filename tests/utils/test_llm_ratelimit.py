"""utils.ratelimit on a fake clock: pacing, token correction and the shared pause, with no real waiting."""
from __future__ import annotations

import asyncio

import pytest

from utils import ratelimit
from utils.ratelimit import RateLimiter, limiter_for


class FakeClock:
    """Stands in for monotonic() and sleep() inside utils.ratelimit only; sleeping advances it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        real_sleep = asyncio.sleep

        async def sleep(seconds: float) -> None:
            self.sleeps.append(round(seconds, 6))
            self.now += seconds
            await real_sleep(0)

        monkeypatch.setattr(ratelimit, "monotonic", lambda: self.now)
        monkeypatch.setattr(ratelimit, "sleep", sleep)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock(monkeypatch)


async def test_requests_per_minute_are_spread_evenly(clock: FakeClock) -> None:
    limiter = RateLimiter(max_concurrency=1, rpm=60)
    starts = []
    for _ in range(4):
        async with limiter.slot(estimated_tokens=10):
            starts.append(clock.now - 1000)
    step = 1 / ratelimit.HEADROOM  # paced a little under the limit
    assert starts == pytest.approx([0, step, 2 * step, 3 * step])


async def test_tokens_per_minute_are_corrected_by_reported_usage(clock: FakeClock) -> None:
    limiter = RateLimiter(max_concurrency=1, tpm=600)  # 10 tokens per second
    async with limiter.slot(estimated_tokens=100):
        pass
    limiter.settle_tokens(estimated=100, actual=20)  # 80 tokens (8 s) given back
    async with limiter.slot(estimated_tokens=50):
        started = clock.now - 1000
    assert started == pytest.approx(2.0 / ratelimit.HEADROOM)


async def test_pause_holds_back_every_caller(clock: FakeClock) -> None:
    limiter = RateLimiter(max_concurrency=10)
    limiter.pause(5)
    limiter.pause(2)  # a shorter pause never shortens a longer one
    starts: list[float] = []

    async def call() -> None:
        async with limiter.slot(estimated_tokens=1):
            starts.append(clock.now - 1000)

    await asyncio.gather(*(call() for _ in range(3)))
    assert min(starts) >= 5


async def test_concurrency_never_exceeds_limit() -> None:
    limiter = RateLimiter(max_concurrency=3)
    in_flight = peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        async with limiter.slot(estimated_tokens=1):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)
            in_flight -= 1

    await asyncio.gather(*(call() for _ in range(50)))
    assert peak == 3


def test_limiter_works_across_successive_event_loops() -> None:
    limiter = RateLimiter(max_concurrency=2)

    async def burst() -> int:
        done = 0

        async def call() -> None:
            nonlocal done
            async with limiter.slot(estimated_tokens=1):
                await asyncio.sleep(0)
                done += 1

        await asyncio.gather(*(call() for _ in range(10)))
        return done

    assert asyncio.run(burst()) == 10
    assert asyncio.run(burst()) == 10


def test_one_limiter_per_provider_model_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "_limiters", {})
    first = limiter_for("openai", "m", max_concurrency=4, rpm=None, tpm=None)
    assert limiter_for("openai", "m", max_concurrency=4, rpm=None, tpm=None) is first
    assert limiter_for("openai", "other", max_concurrency=4, rpm=None, tpm=None) is not first
    assert limiter_for("anthropic", "m", max_concurrency=4, rpm=None, tpm=None) is not first
