"""utils.llm against the real SDKs and the loopback server: limits, connection reuse, Retry-After, event loops."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from tests.utils.llm_env import clean_llm_env  # noqa: F401  (autouse fixture)
from utils.config import DEFAULT_MODELS
from utils.llm import aclose_clients, call_llm_async, complete_async, usage_totals
from utils.llm_providers import AnthropicProvider, OpenAIProvider
from utils.llm_server import Faults, LLMServer
from utils.pseudo import pseudo_localize


def translation_prompt(index: int) -> tuple[str, str]:
    source = f"Paragraph number {index} with `code` and {{name}}."
    return f"Target language: French\n<document>\n{source}\n</document>", pseudo_localize(source, "French")


def point_at(monkeypatch: pytest.MonkeyPatch, server: LLMServer, provider: str) -> None:
    monkeypatch.setenv("LLM_PROVIDER", provider)
    if provider == "openai":
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    else:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)


@pytest.mark.parametrize(("provider", "calls"), [("openai", 500), ("anthropic", 200)])
async def test_burst_respects_max_concurrency_and_loses_nothing(
    clean_llm_env: pytest.MonkeyPatch, provider: str, calls: int
) -> None:
    clean_llm_env.setenv("LLM_MAX_CONCURRENCY", "20")
    async with LLMServer(ttft=0.005) as server:
        point_at(clean_llm_env, server, provider)
        prompts = [translation_prompt(i) for i in range(calls)]
        answers = await asyncio.gather(*(call_llm_async(prompt) for prompt, _ in prompts))
        await aclose_clients()
    assert answers == [expected for _, expected in prompts]
    assert 1 < server.stats.peak_in_flight <= 20
    assert server.stats.requests == calls
    assert server.stats.connections_opened <= 20
    assert usage_totals()[(provider, DEFAULT_MODELS[provider])].requests == calls


async def test_connections_are_reused(clean_llm_env: pytest.MonkeyPatch) -> None:
    clean_llm_env.setenv("LLM_MAX_CONCURRENCY", "4")
    async with LLMServer() as server:
        point_at(clean_llm_env, server, "openai")
        for _ in range(3):
            await asyncio.gather(*(call_llm_async("hello") for _ in range(20)))
        await aclose_clients()
    assert server.stats.requests == 60
    assert server.stats.connections_opened <= 4


async def test_retry_after_pauses_every_caller(
    clean_llm_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="utils.llm")  # retries are logged at INFO
    """After a 429 with retry-after-ms 300, no caller sends anything for 0.3 s, not just the one that got it."""
    clean_llm_env.setenv("LLM_MAX_CONCURRENCY", "4")
    clean_llm_env.setenv("LLM_RETRY_MAX_WAIT", "5")
    sends: list[float] = []
    rejected_at: list[float] = []
    real_send = OpenAIProvider.send

    async def recording_send(self: OpenAIProvider, client: Any, request: Any) -> Any:
        sends.append(time.monotonic())
        try:
            return await real_send(self, client, request)
        except self.status_error:
            rejected_at.append(time.monotonic())
            raise

    monkeypatch.setattr(OpenAIProvider, "send", recording_send)
    async with LLMServer(ttft=0.01, faults=Faults(rate_limit_count=1, retry_after=0.3)) as server:
        point_at(clean_llm_env, server, "openai")
        results = await asyncio.gather(*(complete_async(f"q{i}") for i in range(12)))
        await aclose_clients()
    assert len(rejected_at) == 1
    later = [t for t in sends if t > rejected_at[0]]
    assert later and min(later) >= rejected_at[0] + 0.3
    assert sum(r.retries for r in results) == 1
    assert server.stats.responses_by_status == {429: 1, 200: 12}
    assert "HTTP 429; retry 1 of 4 in 0.30s" in caplog.text


async def test_dropped_connection_and_500_are_retried(clean_llm_env: pytest.MonkeyPatch) -> None:
    async with LLMServer(faults=Faults(drop_count=1, server_error_count=1)) as server:
        point_at(clean_llm_env, server, "anthropic")
        result = await complete_async("hello")
        await aclose_clients()
    assert result.retries == 2
    assert server.stats.dropped == 1 and server.stats.responses_by_status == {500: 1, 200: 1}


async def test_one_client_per_configuration_on_a_loop(
    clean_llm_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real_make = AnthropicProvider.make_client

    def counting_make(self: AnthropicProvider, settings: Any) -> Any:
        made.append(settings.base_url)
        return real_make(self, settings)

    monkeypatch.setattr(AnthropicProvider, "make_client", counting_make)
    async with LLMServer() as server:
        point_at(clean_llm_env, server, "anthropic")
        await asyncio.gather(*(call_llm_async("hi") for _ in range(10)))
        await call_llm_async("hi", model="another-model")
        assert len(made) == 1
        await aclose_clients()
        await call_llm_async("hi")
        assert len(made) == 2
        await aclose_clients()


def test_successive_asyncio_runs_reuse_nothing_stale(
    clean_llm_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each asyncio.run gets its own client; the previous loop's client is closed when that loop ends."""
    caplog.set_level(logging.DEBUG)
    server = LLMServer().start_in_thread()
    try:
        point_at(clean_llm_env, server, "openai")

        async def batch() -> list[str]:
            return await asyncio.gather(*(call_llm_async("hello") for _ in range(5)))

        answers = [asyncio.run(batch()) for _ in range(3)]
        assert answers[0][0] and all(run == [answers[0][0]] * 5 for run in answers)
        deadline = time.monotonic() + 5
        while server.stats.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.stats.open_connections == 0  # every run's connections were closed at its end
        assert server.stats.requests == 15
    finally:
        server.stop()
    assert "Event loop is closed" not in caplog.text
