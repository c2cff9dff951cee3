"""utils.llm against respx: the exact request each SDK sends, and every error path."""
from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import respx

from tests.utils.llm_env import clean_llm_env  # noqa: F401  (autouse fixture)
from utils import llm
from utils.llm import (
    LLMAuthError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMModelNotFoundError,
    LLMRateLimitError,
    LLMServerError,
    LLMTruncatedError,
    call_llm_async,
    complete_async,
    usage_totals,
)

OPENAI_URL = "http://llm.test/v1"
ANTHROPIC_URL = "http://claude.test"
SECRET = "sk-test-SECRET-1234567890"


def openai_body(text: str = "bonjour", finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }  # fmt: skip


def anthropic_body(content: list[dict[str, Any]] | None = None, stop_reason: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": content if content is not None else [{"type": "text", "text": "hallo"}],
        "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": 13, "output_tokens": 5},
    }  # fmt: skip


def error_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}


@pytest.fixture
def openai_env(clean_llm_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_llm_env.setenv("OPENAI_API_KEY", SECRET)
    clean_llm_env.setenv("OPENAI_BASE_URL", OPENAI_URL)
    clean_llm_env.setenv("LLM_MODEL", "gpt-test")
    return clean_llm_env


@pytest.fixture
def anthropic_env(clean_llm_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_llm_env.setenv("ANTHROPIC_API_KEY", SECRET)
    clean_llm_env.setenv("ANTHROPIC_BASE_URL", ANTHROPIC_URL)
    clean_llm_env.setenv("LLM_MODEL", "claude-test")
    return clean_llm_env


@pytest.fixture
def mock() -> Any:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


# --- requests -------------------------------------------------------------------------------------------------


async def test_openai_request_and_result(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    openai_env.setenv("LLM_TIMEOUT", "7")
    route = mock.post(f"{OPENAI_URL}/chat/completions").respond(200, json=openai_body())
    result = await complete_async("Hello", system="Be brief.", max_tokens=50, temperature=0.2)

    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert json.loads(request.content) == {
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        "max_tokens": 50,
        "temperature": 0.2,
    }
    assert request.headers["x-stainless-retry-count"] == "0"
    assert request.headers["x-stainless-read-timeout"] == "7.0"  # LLM_TIMEOUT reached the SDK client
    assert (result.text, result.provider, result.model) == ("bonjour", "openai", "gpt-test")
    assert (result.input_tokens, result.output_tokens, result.retries) == (11, 7, 0)
    assert result.latency >= 0
    totals = usage_totals()[("openai", "gpt-test")]
    assert (totals.requests, totals.retries, totals.input_tokens, totals.output_tokens) == (1, 0, 11, 7)


async def test_openai_itself_gets_max_completion_tokens(clean_llm_env: pytest.MonkeyPatch, mock: Any) -> None:
    """api.openai.com deprecated max_tokens; respx answers here, nothing reaches the internet."""
    clean_llm_env.setenv("OPENAI_API_KEY", SECRET)
    route = mock.post("https://api.openai.com/v1/chat/completions").respond(200, json=openai_body())
    result = await complete_async("Hello", max_tokens=50)
    assert json.loads(route.calls.last.request.content) == {
        "model": "gpt-5.4-mini",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_completion_tokens": 50,
    }
    assert (result.provider, result.model) == ("openai", "gpt-5.4-mini")


async def test_openai_omits_unset_options_and_keeps_message_list(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    route = mock.post(f"{OPENAI_URL}/chat/completions").respond(200, json=openai_body())
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert await call_llm_async(messages) == "bonjour"
    assert json.loads(route.calls.last.request.content) == {"model": "gpt-test", "messages": messages}


async def test_openai_compatible_server_without_key_gets_placeholder(
    clean_llm_env: pytest.MonkeyPatch, mock: Any
) -> None:
    clean_llm_env.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    route = mock.post("http://localhost:11434/v1/chat/completions").respond(200, json=openai_body())
    result = await complete_async("hi", model="llama3.2")
    assert result.provider == "openai"
    assert route.calls.last.request.headers["authorization"] == "Bearer not-needed"
    assert json.loads(route.calls.last.request.content)["model"] == "llama3.2"


async def test_anthropic_request_hoists_system_messages(anthropic_env: pytest.MonkeyPatch, mock: Any) -> None:
    route = mock.post(f"{ANTHROPIC_URL}/v1/messages").respond(200, json=anthropic_body())
    messages = [{"role": "system", "content": "From the list."}, {"role": "user", "content": "Hallo?"}]
    result = await complete_async(messages, system="From the argument.", max_tokens=64, temperature=0.0)

    request = route.calls.last.request
    # anthropic 2.14 sends the API key as a bearer token (older SDKs used x-api-key)
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["anthropic-version"]
    assert json.loads(request.content) == {
        "model": "claude-test",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hallo?"}],
        "system": "From the argument.\n\nFrom the list.",
        "temperature": 0.0,  # not a parameter of this SDK any more: sent through extra_body
    }
    assert (result.text, result.provider, result.input_tokens, result.output_tokens) == ("hallo", "anthropic", 13, 5)


async def test_anthropic_default_max_tokens(anthropic_env: pytest.MonkeyPatch, mock: Any) -> None:
    route = mock.post(f"{ANTHROPIC_URL}/v1/messages").respond(200, json=anthropic_body())
    await call_llm_async("x")
    body = json.loads(route.calls.last.request.content)
    assert body["max_tokens"] == 4096 and "system" not in body and "temperature" not in body


async def test_anthropic_returns_only_text_blocks(anthropic_env: pytest.MonkeyPatch, mock: Any) -> None:
    content = [
        {"type": "thinking", "thinking": "let me think", "signature": "sig"},
        {"type": "text", "text": "Guten "},
        {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
        {"type": "redacted_thinking", "data": "xx"},
        {"type": "text", "text": "Tag"},
    ]
    mock.post(f"{ANTHROPIC_URL}/v1/messages").respond(200, json=anthropic_body(content))
    assert await call_llm_async("x") == "Guten Tag"


# --- truncation ------------------------------------------------------------------------------------------------


async def test_openai_truncation_raises_with_partial_text(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    route = mock.post(f"{OPENAI_URL}/chat/completions").respond(200, json=openai_body("bonj", "length"))
    with pytest.raises(LLMTruncatedError) as caught:
        await call_llm_async("x", max_tokens=2)
    assert caught.value.partial_text == "bonj"
    assert route.call_count == 1
    assert usage_totals()[("openai", "gpt-test")].output_tokens == 7


async def test_anthropic_truncation_raises_with_partial_text(anthropic_env: pytest.MonkeyPatch, mock: Any) -> None:
    body = anthropic_body([{"type": "text", "text": "hal"}], stop_reason="max_tokens")
    route = mock.post(f"{ANTHROPIC_URL}/v1/messages").respond(200, json=body)
    with pytest.raises(LLMTruncatedError) as caught:
        await call_llm_async("x", max_tokens=2)
    assert caught.value.partial_text == "hal"
    assert route.call_count == 1


# --- errors that are not retried ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_openai_rejected_key_names_variable_and_never_leaks_it(
    openai_env: pytest.MonkeyPatch, mock: Any, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    route = mock.post(f"{OPENAI_URL}/chat/completions").respond(
        status, json=error_body(f"Incorrect API key provided: {SECRET}")
    )
    with pytest.raises(LLMAuthError) as caught:
        await call_llm_async("x")
    assert route.call_count == 1
    assert "OPENAI_API_KEY" in str(caught.value) and caught.value.variable == "OPENAI_API_KEY"
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text


async def test_anthropic_rejected_key_names_variable(
    anthropic_env: pytest.MonkeyPatch, mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.post(f"{ANTHROPIC_URL}/v1/messages").respond(401, json=error_body(f"invalid x-api-key {SECRET}"))
    with pytest.raises(LLMAuthError, match="ANTHROPIC_API_KEY") as caught:
        await call_llm_async("x")
    assert SECRET not in str(caught.value) and SECRET not in caplog.text


async def test_missing_key_is_an_auth_error_before_any_request(clean_llm_env: pytest.MonkeyPatch, mock: Any) -> None:
    with pytest.raises(LLMAuthError, match="OPENAI_API_KEY is not set"):
        await call_llm_async("x", provider="openai")
    with pytest.raises(LLMAuthError, match="ANTHROPIC_API_KEY is not set"):
        await call_llm_async("x", provider="anthropic")
    assert not mock.calls


async def test_unknown_model_is_named(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    route = mock.post(f"{OPENAI_URL}/chat/completions").respond(404, json=error_body("model not found"))
    with pytest.raises(LLMModelNotFoundError, match="'gpt-nope'") as caught:
        await call_llm_async("x", model="gpt-nope")
    assert caught.value.model == "gpt-nope"
    assert route.call_count == 1


async def test_bad_request_carries_server_message_redacted(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    route = mock.post(f"{OPENAI_URL}/chat/completions").respond(
        400, json=error_body(f"temperature out of range (key {SECRET})")
    )
    with pytest.raises(LLMBadRequestError, match="temperature out of range") as caught:
        await call_llm_async("x", temperature=9)
    assert caught.value.status == 400 and SECRET not in str(caught.value)
    assert route.call_count == 1


async def test_long_server_message_is_redacted_before_it_is_cut(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    """The message is shortened to 300 characters; a key crossing that cut must not leave its first half behind."""
    mock.post(f"{OPENAI_URL}/chat/completions").respond(400, json=error_body("x" * 290 + SECRET))
    with pytest.raises(LLMBadRequestError) as caught:
        await call_llm_async("x")
    assert SECRET[:10] not in str(caught.value) and "***" in str(caught.value)


async def test_credentials_in_the_base_url_stay_out_of_errors(
    clean_llm_env: pytest.MonkeyPatch, mock: Any
) -> None:
    clean_llm_env.setenv("OPENAI_BASE_URL", f"http://proxy-user:{SECRET}@llm.test/v1")
    clean_llm_env.setenv("LLM_MAX_RETRIES", "0")
    mock.post(f"{OPENAI_URL}/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(LLMConnectionError) as caught:
        await call_llm_async("x")
    assert caught.value.url == OPENAI_URL and SECRET not in str(caught.value)


# --- retries ----------------------------------------------------------------------------------------------------


async def test_429_honours_retry_after_ms_then_succeeds(
    openai_env: pytest.MonkeyPatch, mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="utils.llm")  # retries are logged at INFO
    route = mock.post(f"{OPENAI_URL}/chat/completions").mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after-ms": "20"}, json=error_body("slow down")),
            httpx.Response(200, json=openai_body()),
        ]
    )
    result = await complete_async("x")
    assert result.text == "bonjour" and result.retries == 1
    assert route.call_count == 2
    assert route.calls[1].request.headers["x-stainless-retry-count"] == "0"  # the SDK itself never retried
    assert "HTTP 429; retry 1 of 4 in 0.02s" in caplog.text
    assert usage_totals()[("openai", "gpt-test")].retries == 1


async def test_500_then_success_counts_retries(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    route = mock.post(f"{OPENAI_URL}/chat/completions").mock(
        side_effect=[
            httpx.Response(500, json=error_body("oops")),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(200, json=openai_body()),
        ]
    )
    result = await complete_async("x")
    assert result.retries == 2 and route.call_count == 3
    totals = usage_totals()[("openai", "gpt-test")]
    assert (totals.requests, totals.retries) == (1, 2)


@pytest.mark.parametrize("status", [408, 409, 529])
async def test_anthropic_transient_statuses_are_retried(
    anthropic_env: pytest.MonkeyPatch, mock: Any, status: int
) -> None:
    route = mock.post(f"{ANTHROPIC_URL}/v1/messages").mock(
        side_effect=[httpx.Response(status, json=error_body("busy")), httpx.Response(200, json=anthropic_body())]
    )
    result = await complete_async("x")
    assert result.text == "hallo" and result.retries == 1 and route.call_count == 2


async def test_exactly_one_retry_layer(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    """The SDK would add its own 2 retries per attempt if it were not built with max_retries=0."""
    openai_env.setenv("LLM_MAX_RETRIES", "2")
    route = mock.post(f"{OPENAI_URL}/chat/completions").respond(503, json=error_body("unavailable"))
    with pytest.raises(LLMServerError, match="HTTP 503") as caught:
        await call_llm_async("x")
    assert caught.value.status == 503
    assert route.call_count == 3
    assert usage_totals()[("openai", "gpt-test")].retries == 2


async def test_rate_limit_exhausted(openai_env: pytest.MonkeyPatch, mock: Any) -> None:
    openai_env.setenv("LLM_MAX_RETRIES", "1")
    route = mock.post(f"{OPENAI_URL}/chat/completions").respond(
        429, headers={"retry-after": "0"}, json=error_body("rate limited")
    )
    with pytest.raises(LLMRateLimitError, match="LLM_MAX_CONCURRENCY"):
        await call_llm_async("x")
    assert route.call_count == 2


async def test_retry_after_header_is_capped_by_max_wait(
    openai_env: pytest.MonkeyPatch, mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="utils.llm")  # retries are logged at INFO
    mock.post(f"{OPENAI_URL}/chat/completions").mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "30"}, json=error_body("slow down")),
            httpx.Response(200, json=openai_body()),
        ]
    )
    await call_llm_async("x")
    assert "retry 1 of 4 in 0.05s" in caplog.text  # LLM_RETRY_MAX_WAIT=0.05 in tests


async def test_connection_failure_names_url_not_key(
    openai_env: pytest.MonkeyPatch, mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_env.setenv("LLM_MAX_RETRIES", "2")
    route = mock.post(f"{OPENAI_URL}/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(LLMConnectionError, match="could not be reached on 3 attempt") as caught:
        await call_llm_async("x")
    assert caught.value.url == OPENAI_URL and OPENAI_URL in str(caught.value)
    assert "OPENAI_BASE_URL" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in caplog.text
    assert route.call_count == 3


async def test_timeout_is_retried_then_reported(anthropic_env: pytest.MonkeyPatch, mock: Any) -> None:
    anthropic_env.setenv("LLM_MAX_RETRIES", "1")
    route = mock.post(f"{ANTHROPIC_URL}/v1/messages").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(LLMConnectionError, match="timed out"):
        await call_llm_async("x")
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    class FakeError(Exception):
        response = httpx.Response(429, headers=headers)

    assert llm._retry_after(FakeError()) == expected
