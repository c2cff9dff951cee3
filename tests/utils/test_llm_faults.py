"""utils.llm at the provider boundary under real faults, through the real openai and anthropic SDKs.

Every behaviour is checked against our loopback server (utils.llm_server) and, where the fault can be produced
by both, against tests/hostile_server.py, written apart from it: the same behaviour must hold for both.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from tests.hostile_server import HostileServer, silent_port
from tests.utils.llm_env import clean_llm_env  # noqa: F401  (autouse: no key, no .env, fresh limiters)
from utils import llm
from utils.config import settings
from utils.llm import (
    LLMAuthError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMError,
    LLMQuotaError,
    LLMResponseError,
    complete_async,
    usage_totals,
)
from utils.llm_server import LLMServer

PROVIDERS = ("openai", "anthropic")


@dataclass
class Faulty:
    """One server of either kind, and how to make its next request fail in a named way."""

    openai_url: str
    anthropic_url: str
    inject: Callable[[str, int], None]
    requests: Callable[[], int]


@pytest.fixture(params=["loopback", "hostile"])
async def faulty(request: pytest.FixtureRequest) -> AsyncIterator[Faulty]:
    if request.param == "loopback":
        async with LLMServer() as srv:
            srv.faults.trickle_delay = 0.2

            def inject(kind: str, count: int) -> None:
                names = {"html": "non_json", "cut": "cut_body", "empty": "empty_choices", "null": "null_content"}
                name = names.get(kind, kind)
                setattr(srv.faults, f"{name}_count", count)

            yield Faulty(srv.base_url, srv.anthropic_base_url, inject, lambda: srv.stats.requests)
    else:
        with HostileServer(trickle_delay=0.2) as hs:
            yield Faulty(hs.openai_url, hs.anthropic_url, lambda kind, n: hs.script.extend([kind] * n),
                         lambda: len(hs.requests))  # fmt: skip


def point_at(monkeypatch: pytest.MonkeyPatch, server: Faulty, provider: str, *, retries: int = 2) -> None:
    monkeypatch.setenv("LLM_PROVIDER", provider)
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-key")
    monkeypatch.setenv("LLM_MAX_RETRIES", str(retries))


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["html", "cut", "empty", "null"])
async def test_a_200_without_an_answer_is_a_typed_error_retried_as_transient(
    monkeypatch: pytest.MonkeyPatch, faulty: Faulty, provider: str, kind: str
) -> None:
    point_at(monkeypatch, faulty, provider, retries=2)
    faulty.inject(kind, 1)
    result = await complete_async("hello there")
    assert "hello there" in result.text and result.retries == 1

    faulty.inject(kind, 3)
    with pytest.raises(LLMResponseError, match="no usable answer on 3 attempt"):
        await complete_async("hello again")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_llm_timeout_is_a_deadline_for_the_whole_request(
    monkeypatch: pytest.MonkeyPatch, faulty: Faulty, provider: str
) -> None:
    """The body trickles in one byte every 0.2 s (a minute or more in all): each read is quick, the whole is not."""
    point_at(monkeypatch, faulty, provider, retries=1)
    monkeypatch.setenv("LLM_TIMEOUT", "0.6")
    faulty.inject("trickle", 2)
    started = time.monotonic()
    with pytest.raises(LLMConnectionError, match=r"timed out \(LLM_TIMEOUT=0.6s per request\) on 2 attempt") as info:
        await complete_async("hello there")
    assert time.monotonic() - started < 5
    assert not info.value.refused


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_request_past_its_deadline_leaves_no_connection_open(
    monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    async with LLMServer() as srv:
        point_at(monkeypatch, Faulty(srv.base_url, srv.anthropic_base_url, lambda *_: None, lambda: 0), provider)
        monkeypatch.setenv("LLM_TIMEOUT", "0.3")
        srv.faults.trickle_delay, srv.faults.trickle_count = 0.2, 3
        with pytest.raises(LLMConnectionError, match="timed out"):
            await complete_async("hello there")
        for _ in range(50):
            if srv.stats.open_connections == 0:
                break
            await asyncio.sleep(0.02)
        assert srv.stats.open_connections == 0 and srv.stats.connections_opened == 3
        assert "hello" in (await complete_async("hello")).text  # and the client still works


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["quota", "billing"])
async def test_no_quota_or_credit_is_fatal_at_once_and_says_so(
    monkeypatch: pytest.MonkeyPatch, faulty: Faulty, provider: str, kind: str
) -> None:
    point_at(monkeypatch, faulty, provider, retries=4)
    faulty.inject(kind, 5)
    with pytest.raises(LLMQuotaError) as info:
        await complete_async("hello there")
    assert faulty.requests() == 1  # not retried
    message = str(info.value)
    assert "quota or credit" in message and "Plans & Billing" in message or "plan and billing details" in message
    assert "LLM_MAX_CONCURRENCY" not in message and "LLM_RPM" not in message


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_text_parts_work_with_every_provider_and_other_parts_are_refused(
    monkeypatch: pytest.MonkeyPatch, faulty: Faulty, provider: str
) -> None:
    point_at(monkeypatch, faulty, provider)
    parts = [{"type": "text", "text": "first part, "}, {"type": "text", "text": "second part"}]
    system = [{"type": "text", "text": "be brief"}]
    messages = [{"role": "system", "content": system}, {"role": "user", "content": parts}]
    result = await complete_async(messages)
    assert "first part, second part" in result.text

    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    for bad in ([{"role": "user", "content": [image]}], [{"role": "user", "content": None}], ["just a string"]):
        with pytest.raises(LLMError, match="message 1"):
            await complete_async(bad)  # type: ignore[arg-type]
    assert faulty.requests() == 1


async def test_multi_part_content_works_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [{"type": "text", "text": "Target language: French\n<document>\nHello\n</document>"}]
    result = await complete_async([{"role": "user", "content": parts}], provider="offline")
    assert result.text and result.input_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_credentials_in_the_base_url_never_reach_a_message(
    monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    """user:password@ becomes HTTP Basic auth; a server that echoes what it got must not get it printed."""
    with HostileServer("echo_auth") as hs:
        base = hs.openai_url if provider == "openai" else hs.anthropic_url
        url = base.replace("http://", "http://alice:pa55word-xyz@") + "?api-key=query-secret-123"
        point_at(monkeypatch, Faulty(url, url, lambda *_: None, lambda: 0), provider)
        with pytest.raises(LLMBadRequestError) as info:
            await complete_async("hello")
        seen = hs.headers_seen[0]
    message = str(info.value)
    basic = base64.b64encode(b"alice:pa55word-xyz").decode()
    for secret in ("pa55word-xyz", basic, "query-secret-123", "sk-test-secret-key", "sk-ant-test-secret-key"):
        assert secret not in message
    assert "bad credentials" in message and "api-key=***" in message
    assert any("Basic" in v or "Bearer" in v or "sk-" in v for v in seen.values())  # the server did get them


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_server_that_takes_no_connection_is_down_not_slow(
    monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    with silent_port() as port:
        url = f"http://127.0.0.1:{port}"
        point_at(monkeypatch, Faulty(url + "/v1", url, lambda *_: None, lambda: 0), provider, retries=1)
        monkeypatch.setenv("LLM_TIMEOUT", "0.6")  # connections get half of it
        started = time.monotonic()
        with pytest.raises(LLMConnectionError, match="could not be reached on 2 attempt") as info:
            await complete_async("hello")
    assert info.value.refused and time.monotonic() - started < 5


def test_redact_covers_every_form_of_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://carol:s3cr3t-pw@proxy.example/v1?api-key=qs-secret-42&v=2024")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef")
    basic = base64.b64encode(b"carol:s3cr3t-pw").decode()
    echoed = (f"got Authorization: Basic {basic}, x-api-key sk-live-abcdef, Bearer some.other-token, "
              "url https://carol:s3cr3t-pw@proxy.example/v1?api-key=qs-secret-42")  # fmt: skip
    text = llm.redact(echoed, settings("openai"))
    for secret in (basic, "sk-live-abcdef", "some.other-token", "s3cr3t-pw", "qs-secret-42"):
        assert secret not in text
    assert "Basic ***" in text and "Bearer ***" in text and "proxy.example/v1" in text


async def test_credentials_stay_out_of_connection_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://bob:hunter22x@127.0.0.1:{port}/v1?api-key=query-secret-123"
    point_at(monkeypatch, Faulty(url, url, lambda *_: None, lambda: 0), "openai", retries=0)
    with pytest.raises(LLMConnectionError) as info:
        await complete_async("hello")
    assert info.value.refused and "could not be reached" in str(info.value)
    assert "hunter22x" not in str(info.value) and "query-secret-123" not in str(info.value)
    assert "bob" not in info.value.url and llm.endpoint(settings()) == f"http://127.0.0.1:{port}/v1?api-key=***"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_dropped_connection_is_not_a_server_that_is_down(
    monkeypatch: pytest.MonkeyPatch, faulty: Faulty, provider: str
) -> None:
    point_at(monkeypatch, faulty, provider, retries=1)
    faulty.inject("drop", 2)
    with pytest.raises(LLMConnectionError) as info:
        await complete_async("hello")
    assert not info.value.refused and "lost the connection" in str(info.value)


async def test_long_waits_are_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with HostileServer(retry_after=1) as hs:
        point_at(monkeypatch, Faulty(hs.openai_url, hs.anthropic_url, lambda *_: None, lambda: 0), "openai")
        monkeypatch.setenv("LLM_RETRY_MAX_WAIT", "0.3")
        monkeypatch.setattr(llm, "LONG_WAIT", 0.2)  # instead of waiting 5 s in a test
        hs.script.append("wait")
        with caplog.at_level(logging.WARNING, logger="utils.llm.wait"):
            await complete_async("hello")
    assert [r.getMessage() for r in caplog.records] == ["openai/gpt-5.4-mini: rate-limited, waiting 0 s"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_truncated_answers_carry_the_tokens_they_cost(
    monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    async with LLMServer() as srv:
        point_at(monkeypatch, Faulty(srv.base_url, srv.anthropic_base_url, lambda *_: None, lambda: 0), provider)
        srv.faults.truncate_count = 1
        with pytest.raises(llm.LLMTruncatedError) as info:
            await complete_async("hello there, how are you")
    assert info.value.input_tokens > 0 and info.value.output_tokens > 0
    (usage,) = usage_totals().values()
    assert (usage.input_tokens, usage.output_tokens) == (info.value.input_tokens, info.value.output_tokens)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_unusable_answers_that_were_billed_are_counted(monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    async with LLMServer() as srv:
        point_at(monkeypatch, Faulty(srv.base_url, srv.anthropic_base_url, lambda *_: None, lambda: 0), provider)
        srv.faults.null_content_count = 1
        result = await complete_async("hello there, how are you")
        assert result.retries == 1
        assert result.input_tokens + result.output_tokens == srv.stats.input_tokens + srv.stats.output_tokens
        srv.faults.null_content_count = 3
        with pytest.raises(LLMResponseError) as info:
            await complete_async("hello again")
        assert info.value.input_tokens > 0 and info.value.output_tokens > 0
        (usage,) = usage_totals().values()
        assert usage.input_tokens + usage.output_tokens == srv.stats.input_tokens + srv.stats.output_tokens


async def test_a_rejected_key_is_still_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async with LLMServer(expected_api_key="right") as srv:
        point_at(monkeypatch, Faulty(srv.base_url, srv.anthropic_base_url, lambda *_: None, lambda: 0), "openai")
        with pytest.raises(LLMAuthError):
            await complete_async("hello")
