"""The loopback server through the real SDKs: wire formats, errors, faults, limits and counters."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from utils.llm_server import Faults, LLMServer
from utils.pseudo import pseudo_localize
from utils.tokens import estimate_tokens

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "# Title\n\nSome *text* with `code` and a [link](https://example.com).\n\n```python\nx = 1\n```\n"
PROMPT = f"Translate this.\nTarget language: French\n\n<document>\n{SOURCE}\n</document>"


def _openai(srv: LLMServer, api_key: str = "test") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key=api_key, max_retries=0)


def _anthropic(srv: LLMServer, api_key: str = "test") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=srv.anthropic_base_url, api_key=api_key, max_retries=0)


async def _ask_openai(client: openai.AsyncOpenAI, content: str = "hi", model: str = "gpt-test") -> str:
    reply = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
    return reply.choices[0].message.content or ""


async def _ask_anthropic(client: anthropic.AsyncAnthropic, content: str = "hi", model: str = "claude-test") -> str:
    reply = await client.messages.create(
        model=model, max_tokens=1000, messages=[{"role": "user", "content": content}]
    )
    return "".join(block.text for block in reply.content if block.type == "text")


@pytest.fixture
async def srv() -> AsyncIterator[LLMServer]:
    async with LLMServer() as server:
        yield server


# ------------------------------------------------------------------------------------------ wire formats


async def test_openai_translation_reply_usage_and_shape(srv: LLMServer) -> None:
    async with _openai(srv) as client:
        reply = await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "system", "content": "You translate."}, {"role": "user", "content": PROMPT}],
        )
    text = pseudo_localize(SOURCE, "French")
    assert reply.choices[0].message.content == text
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.object == "chat.completion" and reply.model == "gpt-test" and reply.id.startswith("chatcmpl-")
    assert reply.created > 0
    assert reply.usage is not None
    assert reply.usage.completion_tokens == estimate_tokens(text)
    assert reply.usage.prompt_tokens == estimate_tokens("You translate." + PROMPT)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert srv.stats.translations == [("gpt-test", "French")]
    assert srv.stats.input_tokens == reply.usage.prompt_tokens
    assert srv.stats.output_tokens == reply.usage.completion_tokens


async def test_anthropic_reply_usage_and_shape(srv: LLMServer) -> None:
    async with _anthropic(srv) as client:
        reply = await client.messages.create(
            model="claude-test",
            max_tokens=1000,
            system=[{"type": "text", "text": "Be brief."}],
            messages=[{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
        )
        echo = await _ask_anthropic(client, "ping")
    assert reply.type == "message" and reply.role == "assistant" and reply.model == "claude-test"
    assert reply.id.startswith("msg_")
    assert reply.content[0].type == "text" and reply.content[0].text == pseudo_localize(SOURCE, "French")
    assert reply.stop_reason == "end_turn" and reply.stop_sequence is None
    assert reply.usage.input_tokens == estimate_tokens(PROMPT + "Be brief.")
    assert reply.usage.output_tokens == estimate_tokens(reply.content[0].text)
    assert echo == "Echo: ping"
    assert srv.stats.requests_by_path == {"/v1/messages": 2}
    assert srv.stats.translations == [("claude-test", "French")]


async def test_models_endpoint(srv: LLMServer) -> None:
    async with _openai(srv) as client:
        await _ask_openai(client, model="gpt-a")
        models = [m.id async for m in client.models.list()]
    assert models == ["gpt-a"]
    async with _anthropic(srv) as aclient:
        page = await aclient.models.list()
    assert [m.id for m in page.data] == ["gpt-a"]


async def test_max_tokens_truncates(srv: LLMServer) -> None:
    async with _openai(srv) as client:
        reply = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x" * 400}], max_tokens=10
        )
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == ("Echo: " + "x" * 400)[:40]
    async with _anthropic(srv) as aclient:
        message = await aclient.messages.create(
            model="c", max_tokens=10, messages=[{"role": "user", "content": "x" * 400}]
        )
    assert message.stop_reason == "max_tokens"
    assert message.content[0].type == "text" and len(message.content[0].text) == 40


async def test_bad_requests_are_400_in_provider_shape(srv: LLMServer) -> None:
    async with httpx.AsyncClient(base_url=srv.anthropic_base_url) as http:
        no_max = await http.post("/v1/messages", json={"model": "c", "messages": [{"role": "user", "content": "x"}]})
        not_json = await http.post("/v1/chat/completions", content=b"{nope")
        unknown = await http.get("/v2/other")
    assert no_max.status_code == 400 and no_max.json()["error"]["type"] == "invalid_request_error"
    assert not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"
    assert unknown.status_code == 404
    assert srv.stats.responses_by_status == {400: 2, 404: 1}


# ------------------------------------------------------------------------------------------ errors


async def test_wrong_api_key_is_401_for_both_sdks() -> None:
    async with LLMServer(expected_api_key="right") as srv:
        async with _openai(srv, api_key="wrong") as client, _anthropic(srv, api_key="wrong") as aclient:
            with pytest.raises(openai.AuthenticationError) as openai_error:
                await _ask_openai(client)
            with pytest.raises(anthropic.AuthenticationError) as anthropic_error:
                await _ask_anthropic(aclient)
        async with _openai(srv, api_key="right") as client, _anthropic(srv, api_key="right") as aclient:
            assert await _ask_openai(client, "a") == "Echo: a"
            assert await _ask_anthropic(aclient, "b") == "Echo: b"
    assert openai_error.value.code == "invalid_api_key"
    assert anthropic_error.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert srv.stats.responses_by_status == {401: 2, 200: 2}


async def test_unknown_model_is_404_naming_the_model() -> None:
    async with LLMServer(unknown_models=["no-such-model"]) as srv:
        async with _openai(srv) as client, _anthropic(srv) as aclient:
            with pytest.raises(openai.NotFoundError, match="no-such-model") as openai_error:
                await _ask_openai(client, model="no-such-model")
            with pytest.raises(anthropic.NotFoundError, match="no-such-model"):
                await _ask_anthropic(aclient, model="no-such-model")
            assert await _ask_openai(client, model="other") == "Echo: hi"
    assert openai_error.value.code == "model_not_found"


async def test_injected_429_carries_retry_after_headers(srv: LLMServer) -> None:
    srv.faults.rate_limit_count = 1
    srv.faults.retry_after = 2.5
    async with _openai(srv) as client:
        with pytest.raises(openai.RateLimitError) as error:
            await _ask_openai(client)
        assert await _ask_openai(client) == "Echo: hi"  # the count is used up
    headers = error.value.response.headers
    assert headers["retry-after"] == "3" and headers["retry-after-ms"] == "2500"
    assert error.value.code == "rate_limit_exceeded"


async def test_injected_server_errors(srv: LLMServer) -> None:
    srv.faults.server_error_count = 2
    srv.faults.overloaded_count = 2
    async with _openai(srv) as client, _anthropic(srv) as aclient:
        with pytest.raises(openai.InternalServerError):
            await _ask_openai(client)
        with pytest.raises(anthropic.InternalServerError):
            await _ask_anthropic(aclient)
        with pytest.raises(anthropic.OverloadedError):
            await _ask_anthropic(aclient)
        with pytest.raises(openai.InternalServerError) as overloaded:
            await _ask_openai(client)
    assert overloaded.value.status_code == 503
    assert srv.stats.responses_by_status == {500: 2, 529: 1, 503: 1}


async def test_sdk_retries_honour_injected_faults(srv: LLMServer) -> None:
    srv.faults.rate_limit_count = 1
    srv.faults.retry_after = 0.01
    srv.faults.server_error_count = 1
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="t", max_retries=2) as client:
        assert await _ask_openai(client) == "Echo: hi"
    assert srv.stats.responses_by_status == {429: 1, 500: 1, 200: 1}


async def test_dropped_response_raises_connection_error(srv: LLMServer) -> None:
    srv.faults.drop_count = 1
    async with _openai(srv) as client:
        with pytest.raises(openai.APIConnectionError):
            await _ask_openai(client)
        assert await _ask_openai(client) == "Echo: hi"
    assert srv.stats.dropped == 1 and srv.stats.requests == 2
    assert srv.stats.responses_by_status == {200: 1}
    assert srv.stats.connections_opened == 2  # the dropped connection is not reused


async def test_truncate_and_drop_code_blocks_faults(srv: LLMServer) -> None:
    full = pseudo_localize(SOURCE, "French")
    srv.faults = Faults(drop_code_blocks_count=1)
    async with _openai(srv) as client:
        broken = await _ask_openai(client, PROMPT)
        srv.faults.truncate_count = 1
        cut = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT}])
        intact = await _ask_openai(client, PROMPT)
    assert "```" in full and "```" not in broken and "x = 1" not in broken
    assert broken == full[: full.index("```")]
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.content == full[: len(full) // 2]
    assert intact == full


async def test_fault_rates_are_seeded() -> None:
    async def statuses(seed: int) -> list[int]:
        async with LLMServer(seed=seed, faults=Faults(server_error=0.5)) as srv:
            async with httpx.AsyncClient(base_url=srv.base_url) as http:
                body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
                return [(await http.post("/chat/completions", json=body)).status_code for _ in range(30)]

    first = await statuses(1)
    assert first == await statuses(1)
    assert first.count(500) in range(5, 26) and set(first) == {200, 500}


# ------------------------------------------------------------------------------------------ limits and counters


async def test_rpm_limit_returns_429_with_the_wait() -> None:
    async with LLMServer(rpm=3) as srv:
        async with _openai(srv) as client:
            for _ in range(3):
                await _ask_openai(client)
            with pytest.raises(openai.RateLimitError) as error:
                await _ask_openai(client)
    retry_after_ms = int(error.value.response.headers["retry-after-ms"])
    assert 55_000 <= retry_after_ms <= 60_000
    assert error.value.response.headers["retry-after"] == str(-(-retry_after_ms // 1000))
    assert srv.stats.responses_by_status == {200: 3, 429: 1}


async def test_rpm_window_frees_up_after_retry_after() -> None:
    async with LLMServer(rpm=120, window=1.0) as srv:
        async with _openai(srv) as client:
            await asyncio.gather(_ask_openai(client), _ask_openai(client))
            with pytest.raises(openai.RateLimitError) as error:
                await _ask_openai(client)
            await asyncio.sleep(int(error.value.response.headers["retry-after-ms"]) / 1000)
            assert await _ask_openai(client) == "Echo: hi"


async def test_peak_in_flight_and_connection_reuse() -> None:
    async with LLMServer(ttft=0.5) as srv:
        async with _openai(srv) as client:
            await asyncio.gather(*(_ask_openai(client, str(i)) for i in range(20)))
            first = srv.stats.connections_opened
            assert srv.stats.peak_in_flight == 20
            assert 1 <= first <= 20
            assert srv.stats.open_connections == first  # keep-alive
            await asyncio.gather(*(_ask_openai(client, str(i)) for i in range(20)))
            assert srv.stats.connections_opened == first  # the second batch reused the pool
            assert srv.stats.requests == 40 and srv.stats.in_flight == 0
        for _ in range(100):  # closing the client closes its connections; the server sees them go
            if srv.stats.open_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert srv.stats.open_connections == 0


async def test_connections_are_counted_per_client(srv: LLMServer) -> None:
    for _ in range(3):
        async with _anthropic(srv) as client:
            await _ask_anthropic(client)
            await _ask_anthropic(client)
    assert srv.stats.connections_opened == 3 and srv.stats.requests == 6


async def test_latency_model_is_a_lower_bound() -> None:
    async with LLMServer(ttft=0.2, tokens_per_second=100, jitter=0.5) as srv:
        async with _openai(srv) as client:
            start = time.monotonic()
            text = await _ask_openai(client, "y" * 200)  # 206 chars -> 52 tokens -> 0.2 + 0.52 s, jitter >= 0.5x
            elapsed = time.monotonic() - start
    assert len(text) == 206
    assert elapsed >= (0.2 + 52 / 100) * 0.5


async def test_slow_fault_adds_delay() -> None:
    async with LLMServer(faults=Faults(slow_count=1, slow_delay=0.3)) as srv:
        async with _openai(srv) as client:
            start = time.monotonic()
            await _ask_openai(client)
            assert time.monotonic() - start >= 0.3


async def test_reset_stats(srv: LLMServer) -> None:
    async with _openai(srv) as client:
        await _ask_openai(client)
        srv.reset_stats()
        assert srv.stats.requests == 0 and srv.stats.connections_opened == 0
        assert srv.stats.open_connections == 1
        await _ask_openai(client)
    assert srv.stats.requests == 1 and srv.stats.responses_by_status == {200: 1}
    assert srv.stats.connections_opened == 0  # reused the connection opened before the reset


async def test_base_urls_need_a_running_server() -> None:
    server = LLMServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    async with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.anthropic_base_url == f"http://127.0.0.1:{server.port}"
        with pytest.raises(RuntimeError, match="stop\\(\\) is for start_in_thread"):
            server.stop()


async def test_busy_port_raises() -> None:
    async with LLMServer() as first:
        with pytest.raises(OSError):
            await LLMServer(port=first.port).start()
        with pytest.raises(OSError):
            LLMServer(port=first.port).start_in_thread()
        with pytest.raises(RuntimeError, match="already running"):
            await first.start()


# ------------------------------------------------------------------------------------------ sync use and CLI


def test_start_in_thread_serves_sync_clients() -> None:
    srv = LLMServer(ttft=0.01).start_in_thread()
    url = srv.anthropic_base_url
    try:
        with openai.OpenAI(base_url=srv.base_url, api_key="t", max_retries=0) as client:
            reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT}])
        assert reply.choices[0].message.content == pseudo_localize(SOURCE, "French")
        assert srv.stats.requests == 1
    finally:
        srv.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/v1/models", timeout=2)


def test_command_line_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "utils.llm_server", "--port", "0", "--ttft", "0.01", "--tps", "1000"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        openai_line = proc.stdout.readline()
        anthropic_line = proc.stdout.readline()
        assert openai_line.startswith("OpenAI base URL:") and anthropic_line.startswith("Anthropic base URL:")
        base_url = openai_line.split()[-1]
        with openai.OpenAI(base_url=base_url, api_key="t", max_retries=0) as client:
            reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "cli"}])
        assert reply.choices[0].message.content == "Echo: cli"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "Stopped after 1 requests" in out
