"""Process-wide request limits for one provider and model, shared by every caller.

Three gates, passed in order before each HTTP request:
1. concurrency: an asyncio.Semaphore per event loop (asyncio primitives belong to one loop, so successive
   `asyncio.run` calls each get their own; event loops running at the same time in several threads would
   each get the full limit);
2. a shared pause: a 429 (or any Retry-After) sets a "not before" time that every caller waits for;
3. pacing: requests and tokens per minute are spread evenly over time. Each caller reserves its start time on a
   virtual clock (GCRA), so the budget is never exceeded in any window and there is no burst to trigger a 429.

The limits are the ones configured (LLM_RPM, LLM_TPM) and the ones the provider announces in every response
(`observe`): OpenAI's `x-ratelimit-*` and Anthropic's `anthropic-ratelimit-*` headers. A configured limit caps an
announced one, and pacing runs HEADROOM under the lower of the two, so requests that reach the server a little
bunched up still fit its window. With nothing configured, the first request goes alone (a probe): a burst sent
before the provider has said anything could spend the account's whole budget in 429s.
Times are plain `time.monotonic()` floats, so the pause and the pacing survive from one event loop to the next.
"""
from __future__ import annotations

import asyncio
import logging
import re
import weakref
from asyncio import sleep
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from time import monotonic
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

HEADROOM = 0.98  # pace at this fraction of the limit in force
LATE_WAKE_UP = 0.005  # seconds of lateness in waking up that pacing absorbs (see RateLimiter._wait_turn)
OUTPUT_MARGIN = 1.1  # reserve this much more output than recent answers used (see RateLimiter.slot)

KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
_UNITS = {"requests": "requests", "tokens": "tokens", "input-tokens": "input tokens", "output-tokens": "output tokens"}
# Header name patterns per API format; {kind} is one of KINDS, {field} one of limit / remaining / reset.
_OPENAI = "x-ratelimit-{field}-{kind}"
_ANTHROPIC = "anthropic-ratelimit-{kind}-{field}"
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(ms|h|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class Announced:
    """One limit as a response announced it: `limit` per minute, `remaining` now, full again in `reset` seconds."""

    limit: int
    remaining: int | None
    reset: float | None


def parse_duration(text: str) -> float | None:
    """Seconds in an OpenAI reset duration ("6m0s", "1s", "20ms", "1h2m3.5s"); None if it is not one."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def parse_reset(text: str, now: datetime | None = None) -> float | None:
    """Seconds until a reset given as a duration (OpenAI) or an RFC 3339 time (Anthropic); None if unreadable."""
    seconds = parse_duration(text)
    if seconds is not None:
        return seconds
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def announced_limits(headers: Mapping[str, str]) -> dict[str, Announced]:
    """The limits a response announces, by kind. Anthropic's combined `tokens` trio is left out: it repeats the
    stricter of its input and output limits, which are paced separately."""
    lower = {name.lower(): value for name, value in headers.items()}
    found: dict[str, Announced] = {}
    for pattern, kinds in ((_OPENAI, ("requests", "tokens")), (_ANTHROPIC, ("requests", *KINDS[1:]))):
        for kind in kinds:
            limit = _integer(lower.get(pattern.format(field="limit", kind=kind)))
            if limit is None or limit <= 0:
                continue
            reset_text = lower.get(pattern.format(field="reset", kind=kind))
            found[kind] = Announced(
                limit=limit,
                remaining=_integer(lower.get(pattern.format(field="remaining", kind=kind))),
                reset=parse_reset(reset_text) if reset_text else None,
            )
        if pattern == _ANTHROPIC and ("input-tokens" in found or "output-tokens" in found):
            found.pop("tokens", None)
    return found


def _integer(text: str | None) -> int | None:
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Reservation:
    """What one request reserved: the kinds of limit it was paced by and the tokens it was charged."""

    kinds: frozenset[str]
    input_tokens: float
    output_tokens: float


class _Pacer:
    """Spreads `per_minute` units evenly: each reservation moves a shared virtual clock forward by its cost."""

    def __init__(self, per_minute: float) -> None:
        self._seconds_per_unit = 60.0 / per_minute
        self._next = 0.0

    def set_rate(self, per_minute: float) -> None:
        self._seconds_per_unit = 60.0 / per_minute

    @property
    def ready_at(self) -> float:
        """When the next reservation may start."""
        return self._next

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

    def __init__(
        self, max_concurrency: int, rpm: int | None = None, tpm: int | None = None, *, name: str = "LLM"
    ) -> None:
        self.max_concurrency = max_concurrency
        self.name = name
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._probe_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._turn_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.configured: dict[str, int] = {k: v for k, v in (("requests", rpm), ("tokens", tpm)) if v}
        self.learned: dict[str, Announced] = {}
        self._pacers: dict[str, _Pacer] = {}
        self._probing = not self.configured
        self._output_used: float | None = None  # moving average of the share of max_tokens answers used
        self._announces_nothing = False
        self._paused_until = 0.0
        self._apply_limits()

    def limits(self) -> dict[str, float]:
        """Units per minute in force for each paced kind: HEADROOM x the lower of configured and announced."""
        limits: dict[str, float] = {}
        for kind in KINDS:
            candidates = [v for v in (self.configured.get(kind), _learned_limit(self.learned, kind)) if v]
            if candidates:
                limits[kind] = HEADROOM * min(candidates)
        return limits

    def describe(self) -> str:
        """The limits in force, for logs and reports."""
        limits = self.limits()
        if not limits:
            return f"{self.name}: no rate limit known, at most {self.max_concurrency} requests in flight"
        paced = ", ".join(f"{value:,.0f} {_UNITS[kind]}/min" for kind, value in limits.items())
        sources = []
        if self.learned:
            sources.append("announced " + ", ".join(f"{a.limit:,} {_UNITS[k]}" for k, a in self.learned.items()))
        if self.configured:
            sources.append("configured " + ", ".join(f"{v:,} {_UNITS[k]}" for k, v in self.configured.items()))
        return f"{self.name}: pacing to {paced} ({'; '.join(sources)}), at most {self.max_concurrency} in flight"

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the limits a response announced (any response: a 429 announces them too)."""
        announced = announced_limits(headers)
        self._probing = False
        if not announced:
            if not self.learned and not self._announces_nothing:
                self._announces_nothing = True
                log.info("%s", self.describe())
            return
        changed = any(kind not in self.learned or self.learned[kind].limit != a.limit for kind, a in announced.items())
        self.learned.update(announced)
        if changed:
            self._apply_limits()
            log.info("%s", self.describe())

    def _apply_limits(self) -> None:
        now = monotonic()
        for kind, per_minute in self.limits().items():
            pacer = self._pacers.get(kind)
            if pacer is None:
                pacer = self._pacers[kind] = _Pacer(per_minute)
                # What the window has already spent (this response's request among it) is paced out first.
                announced = self.learned.get(kind)
                if announced is not None and announced.remaining is not None:
                    pacer.reserve(max(0, announced.limit - announced.remaining), now)
            else:
                pacer.set_rate(per_minute)

    def pause(self, seconds: float) -> None:
        """Hold every caller back for `seconds` from now (the server asked us to slow down)."""
        until = monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            log.info("%s: every request paused for %.2f s (the server asked to slow down)", self.name, seconds)

    def settle_tokens(
        self, estimated: int, actual: int, *, estimated_output: int = 0, actual_output: int = 0,
        paced: Reservation | None = None,
    ) -> None:
        """Replace a call's token reservation by the usage the server reported (`*_output`: the output part).

        `paced` is what the call's slot yielded (None: the estimates were reserved in every pacer).
        """
        if paced is None:
            paced = Reservation(frozenset(KINDS), estimated - estimated_output, estimated_output)
        actual_input = actual - actual_output
        corrections = {
            "tokens": actual - paced.input_tokens - paced.output_tokens,
            "input-tokens": actual_input - paced.input_tokens,
            "output-tokens": actual_output - paced.output_tokens,
        }
        for kind, units in corrections.items():
            if (pacer := self._pacers.get(kind)) is not None and kind in paced.kinds:
                pacer.adjust(units)
        if estimated_output > 0 and actual_output > 0:
            share = min(1.0, actual_output / estimated_output)
            self._output_used = share if self._output_used is None else 0.8 * self._output_used + 0.2 * share

    @asynccontextmanager
    async def slot(self, estimated_tokens: int, *, estimated_output: int = 0) -> AsyncIterator[Reservation]:
        """Hold one request slot: wait for a free slot, for any pause, then for the request's turn.

        `estimated_tokens` is input + output; `estimated_output` the output part of it (max_tokens). Answers rarely
        use all of max_tokens, so the output reserved is max_tokens x the share recent answers used (x 1.1 for
        safety, at most all of it); settle_tokens corrects each reservation anyway, but reserving close to the
        truth keeps the pacing near the limit from the start. Yields the Reservation, for settle_tokens.
        """
        async with self._per_loop(self._semaphores, lambda: asyncio.Semaphore(self.max_concurrency)):
            if self._probing:
                async with self._per_loop(self._probe_locks, asyncio.Lock):
                    if self._probing:  # still nothing heard: this request goes alone
                        yield await self._wait_turn(estimated_tokens, estimated_output)
                        self._probing = False  # answered (a failure raises past this line: the next one probes)
                        return
            yield await self._wait_turn(estimated_tokens, estimated_output)

    async def _wait_turn(self, estimated_tokens: int, estimated_output: int) -> Reservation:
        """Wait in line until every pacer has room, then reserve. Reserving only at the head of the line (not on
        arrival) lets the usage reported meanwhile correct the estimates of everyone still waiting."""
        if not self._pacers:  # nothing to pace: no line to wait in (a burst starts in one event-loop turn)
            await self._wait_pause()
            return Reservation(frozenset(), float(estimated_tokens - estimated_output), float(estimated_output))
        async with self._per_loop(self._turn_locks, asyncio.Lock):
            slept = False
            while True:
                await self._wait_pause()
                now = monotonic()
                ready = max((pacer.ready_at for pacer in self._pacers.values()), default=now)
                if ready <= now:
                    if slept:  # booked when it was due if the loop woke us a little late, so that wake-up delays
                        now = max(ready, now - LATE_WAKE_UP)  # don't add up (a longer stall is not made up for)
                    break
                await sleep(ready - now)
                slept = True
            # Priced at the head of the line, with the latest share of max_tokens that answers use.
            share = 1.0 if self._output_used is None else min(1.0, OUTPUT_MARGIN * self._output_used)
            input_tokens, output_tokens = float(estimated_tokens - estimated_output), estimated_output * share
            costs = {"requests": 1.0, "tokens": input_tokens + output_tokens, "input-tokens": input_tokens,
                     "output-tokens": output_tokens}  # fmt: skip
            paced = frozenset(self._pacers)
            for kind in paced:
                self._pacers[kind].reserve(costs[kind], now)
        return Reservation(paced, input_tokens, output_tokens)

    @staticmethod
    def _per_loop(table: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T], make: Callable[[], T]) -> T:
        """The running loop's entry of `table`, made on first use (asyncio primitives belong to one loop)."""
        loop = asyncio.get_running_loop()
        entry = table.get(loop)
        if entry is None:
            entry = table[loop] = make()
        return entry

    async def _wait_pause(self) -> None:
        while (delay := self._paused_until - monotonic()) > 0:  # noqa: ASYNC110 (a later 429 may move the deadline)
            await sleep(delay)


def _learned_limit(learned: Mapping[str, Announced], kind: str) -> int | None:
    announced = learned.get(kind)
    return announced.limit if announced else None


_limiters: dict[tuple[str, str, int, int | None, int | None], RateLimiter] = {}


def limiter_for(provider: str, model: str, *, max_concurrency: int, rpm: int | None, tpm: int | None) -> RateLimiter:
    """The one limiter of (provider, model) for these limits, created on first use and shared afterwards."""
    key = (provider, model, max_concurrency, rpm, tpm)
    limiter = _limiters.get(key)
    if limiter is None:
        limiter = _limiters[key] = RateLimiter(max_concurrency, rpm, tpm, name=f"{provider}/{model}")
        if limiter.configured:
            log.info("%s", limiter.describe())
    return limiter
