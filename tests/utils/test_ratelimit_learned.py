"""Limits learned from the providers' headers: parsing, pacing to them (capped by configured limits), the first
request going alone, and the whole loop through the real SDKs against the loopback server's enforced limits."""
from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import httpx
import openai  # noqa: F401  (imported up front: importing it inside the test's 1 s window would outlast it)
import pytest

from tests.utils.llm_env import clean_llm_env  # noqa: F401  (autouse: no key, no .env, fresh limiters)
from tests.utils.test_llm_ratelimit import FakeClock
from utils import ratelimit
from utils.llm import aclose_clients, call_llm_async, complete_async
from utils.llm_server import LLMServer
from utils.ratelimit import HEADROOM, Announced, RateLimiter, announced_limits, parse_duration, parse_reset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock(monkeypatch)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("1s", 1.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0s", 0.0), ("59.9s", 59.9)],
)
def test_openai_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "6 minutes", "1x", "s", "10", "2026-11-30T09:00:00Z"])
def test_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_anthropic_reset_is_an_rfc3339_time() -> None:
    now = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)
    assert parse_reset("2026-11-30T09:00:42Z", now) == 42.0
    assert parse_reset("2026-11-30T10:00:42+01:00", now) == 42.0
    assert parse_reset("2026-11-30T08:59:00Z", now) == 0.0  # in the past: nothing to wait for
    assert parse_reset("2026-11-30T09:00:42", now) is None  # no time zone: unreadable, not guessed
    assert parse_reset("soon", now) is None


def test_openai_headers() -> None:
    headers = {
        "X-RateLimit-Limit-Requests": "600", "x-ratelimit-remaining-requests": "599",
        "x-ratelimit-reset-requests": "100ms", "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149000", "x-ratelimit-reset-tokens": "6m0s", "x-request-id": "r",
    }  # fmt: skip
    assert announced_limits(headers) == {
        "requests": Announced(600, 599, 0.1),
        "tokens": Announced(150000, 149000, 360.0),
    }


def test_anthropic_headers_pace_input_and_output_apart() -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49",
               "anthropic-ratelimit-requests-reset": reset, "anthropic-ratelimit-input-tokens-limit": "30000",
               "anthropic-ratelimit-output-tokens-limit": "8000",
               "anthropic-ratelimit-tokens-limit": "8000"}  # fmt: skip
    found = announced_limits(headers)
    assert set(found) == {"requests", "input-tokens", "output-tokens"}  # the combined trio repeats the stricter
    assert found["requests"].limit == 50 and 25 <= (found["requests"].reset or 0) <= 31
    assert found["output-tokens"] == Announced(8000, None, None)
    only_combined = {"anthropic-ratelimit-tokens-limit": "40000"}
    assert announced_limits(only_combined) == {"tokens": Announced(40000, None, None)}


def test_garbage_headers_announce_nothing() -> None:
    assert announced_limits({"x-ratelimit-limit-requests": "lots", "anthropic-ratelimit-requests-limit": "0"}) == {}


async def test_paces_to_the_announced_limit(clock: FakeClock) -> None:
    limiter = RateLimiter(max_concurrency=10)
    limiter.observe({"x-ratelimit-limit-requests": "60", "x-ratelimit-limit-tokens": "1000000"})
    starts = []
    for _ in range(3):
        async with limiter.slot(estimated_tokens=10):
            starts.append(clock.now - 1000)
    step = 1 / HEADROOM
    assert starts == pytest.approx([0, step, 2 * step])
    assert limiter.limits() == pytest.approx({"requests": 60 * HEADROOM, "tokens": 1_000_000 * HEADROOM})


@pytest.mark.parametrize(("configured", "announced", "paced"), [(30, 60, 30), (120, 60, 60)])
async def test_configured_limit_caps_the_announced_one(
    clock: FakeClock, configured: int, announced: int, paced: int
) -> None:
    limiter = RateLimiter(max_concurrency=10, rpm=configured)
    limiter.observe({"x-ratelimit-limit-requests": str(announced)})
    assert limiter.limits() == pytest.approx({"requests": paced * HEADROOM})


async def test_anthropic_output_limit_paces_on_max_tokens_then_usage(clock: FakeClock) -> None:
    limiter = RateLimiter(max_concurrency=10)
    limiter.observe({"anthropic-ratelimit-output-tokens-limit": "600", "anthropic-ratelimit-input-tokens-limit": "6e4"})
    async with limiter.slot(estimated_tokens=1100, estimated_output=1000):  # max_tokens 1000 reserved
        pass
    limiter.settle_tokens(1100, 150, estimated_output=1000, actual_output=50)  # only 50 were written
    async with limiter.slot(estimated_tokens=110, estimated_output=100):
        started = clock.now - 1000
    assert started == pytest.approx(50 / (600 * HEADROOM / 60))  # waited for 50 output tokens, not 1000


async def test_first_request_goes_alone_until_the_server_answers() -> None:
    limiter = RateLimiter(max_concurrency=8)
    in_flight = peak_before_answer = peak = 0
    answered = False

    async def call() -> None:
        nonlocal in_flight, peak, peak_before_answer, answered
        async with limiter.slot(estimated_tokens=1):
            in_flight += 1
            peak = max(peak, in_flight)
            if not answered:
                peak_before_answer = max(peak_before_answer, in_flight)
            await asyncio.sleep(0.01)
            limiter.observe({})  # an answer without limit headers (a local server)
            answered = True
            in_flight -= 1

    await asyncio.gather(*(call() for _ in range(20)))
    assert peak_before_answer == 1 and peak == 8


async def test_a_failed_probe_keeps_the_next_request_alone() -> None:
    limiter = RateLimiter(max_concurrency=8)
    with pytest.raises(ConnectionError):
        async with limiter.slot(estimated_tokens=1):
            raise ConnectionError
    order: list[str] = []

    async def call(name: str) -> None:
        async with limiter.slot(estimated_tokens=1):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(call("a"), call("b"), call("c"))
    assert order[:2] == ["a in", "a out"]  # the second probe went alone too; then b and c together
    assert order[2:4] == ["b in", "c in"]


async def test_configured_limits_need_no_probe() -> None:
    limiter = RateLimiter(max_concurrency=8, rpm=600_000, tpm=10**9)
    in_flight = peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        async with limiter.slot(estimated_tokens=1):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(call() for _ in range(8)))
    assert peak > 1


# ------------------------------------------------------------------------------ the server announces, we pace


async def test_server_announces_limits_in_each_format() -> None:
    async with LLMServer(rpm=600, tpm=150_000, input_tpm=100_000, output_tpm=50_000) as srv:
        async with httpx.AsyncClient() as http:
            body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hello there"}]}
            openai = await http.post(f"{srv.base_url}/chat/completions", json=body)
            anthropic = await http.post(f"{srv.anthropic_base_url}/v1/messages", json=body,
                                        headers={"anthropic-version": "2023-06-01"})  # fmt: skip
    assert {k: openai.headers[k] for k in ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests")} == {
        "x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "599"}  # fmt: skip
    assert parse_duration(openai.headers["x-ratelimit-reset-tokens"]) == pytest.approx(60, abs=0.1)
    learned_openai = announced_limits(openai.headers)
    assert {k: a.limit for k, a in learned_openai.items()} == {"requests": 600, "tokens": 150_000}
    learned_anthropic = announced_limits(anthropic.headers)
    assert {k: a.limit for k, a in learned_anthropic.items()} == {
        "requests": 600, "input-tokens": 100_000, "output-tokens": 50_000}  # fmt: skip
    assert learned_anthropic["requests"].remaining == 598  # one account: both requests count
    assert 58 <= (learned_anthropic["requests"].reset or 0) <= 61


async def test_server_enforces_tokens_per_minute_over_its_window() -> None:
    async with LLMServer(tpm=600, window=1.0) as srv:  # 10 tokens per 1 s window
        async with httpx.AsyncClient(base_url=srv.base_url) as http:
            body = {"model": "m", "messages": [{"role": "user", "content": "x" * 12}]}  # 3 in + 4 out ("Echo: ...")
            first = await http.post("/chat/completions", json=body)
            second = await http.post("/chat/completions", json=body)
            big = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}]}
            too_large = await http.post("/chat/completions", json=big)
    assert (first.status_code, second.status_code, too_large.status_code) == (200, 429, 429)
    assert 0 < int(second.headers["retry-after-ms"]) <= 1000
    assert "Request too large" in too_large.json()["error"]["message"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_zero_configuration_learns_the_limits_and_draws_no_429(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, provider: str
) -> None:
    """30 requests at once against 600 rpm enforced over a 2 s window (20 per window): nothing configured. The
    2% headroom is 40 ms of a 2 s window, enough for a loaded 2-core machine's delivery jitter (a 0.5 s window
    left 10 ms and drew a 429 now and then under load)."""
    caplog.set_level(logging.INFO, logger="utils.ratelimit")
    async with LLMServer(rpm=600, input_tpm=10**6, output_tpm=10**6, tpm=10**6, window=2.0) as srv:
        monkeypatch.setenv("LLM_PROVIDER", provider)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.anthropic_base_url)
        answers = await asyncio.gather(*(call_llm_async(f"hello {i}", max_tokens=50) for i in range(30)))
        await aclose_clients()
    assert answers == [f"Echo: hello {i}" for i in range(30)]
    assert srv.stats.responses_by_status == {200: 30}
    [limiter] = ratelimit._limiters.values()
    assert limiter.limits()["requests"] == pytest.approx(600 * HEADROOM)
    assert "pacing to 588 requests/min" in caplog.text and "(announced 600 requests" in caplog.text


async def test_limits_learned_from_a_429_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another client spent the window first: the probe's 429 announces the limit and says when to come back."""
    async with LLMServer(rpm=120, window=1.0) as srv:  # 2 per second
        monkeypatch.setenv("LLM_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("LLM_RETRY_MAX_WAIT", "2")
        async with httpx.AsyncClient(base_url=srv.base_url) as http:
            body = {"model": "m", "messages": [{"role": "user", "content": "other"}]}
            for _ in range(2):
                assert (await http.post("/chat/completions", json=body)).status_code == 200
        results = await asyncio.gather(*(complete_async(f"q{i}", max_tokens=10) for i in range(4)))
        await aclose_clients()
    assert [r.text for r in results] == [f"Echo: q{i}" for i in range(4)]
    assert srv.stats.responses_by_status[429] == 1  # only the probe's


@pytest.mark.parametrize(("seconds", "text"), [(0.02, "20ms"), (1.5, "1.5s"), (360, "6m0s"), (3600, "1h0m0s")])
def test_server_writes_durations_the_client_reads(seconds: float, text: str) -> None:
    from utils.llm_server import _duration

    assert _duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds, abs=0.001)


def test_sliding_window_frees_the_oldest_units_first() -> None:
    from utils.llm_server import _Window

    window = _Window(per_minute=600, window=1.0)  # 10 units per second
    for at, units in ((0.0, 4), (0.3, 4), (0.6, 2)):
        assert window.wait(units, at) == 0.0
        window.add(units, at)
    assert window.wait(1, 0.7) == pytest.approx(0.3)  # the 4 from t=0 leave at t=1.0
    assert window.wait(5, 0.7) == pytest.approx(0.6)  # 5 fit once the 4 from t=0.3 leave too, at t=1.3
    assert window.wait(11, 0.7) is None  # more than the window ever holds
    assert window.remaining(0.7) == 590 and window.reset(0.7) == pytest.approx(0.9)
