"""The loopback server's batch APIs through the real SDKs: OpenAI files + batches, Anthropic Message Batches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import anthropic
import openai
import pytest

from utils.llm_server import LLMServer
from utils.pseudo import pseudo_localize

SOURCE = "Some *text* with `code`."
PROMPT = f"Translate this.\nTarget language: German\n\n<document>\n{SOURCE}\n</document>"


@pytest.fixture
async def srv() -> AsyncIterator[LLMServer]:
    async with LLMServer() as server:
        yield server


def _openai_line(custom_id: str, content: str, model: str = "gpt-test") -> str:
    body = {"model": model, "max_tokens": 500, "messages": [{"role": "user", "content": content}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


async def _openai_batch(client: openai.AsyncOpenAI, lines: list[str]) -> openai.types.Batch:
    uploaded = await client.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
    return await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"run": "t"}
    )


async def test_openai_batch_round_trip(srv: LLMServer) -> None:
    srv.batches.delay = 0.2
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as client:
        batch = await _openai_batch(client, [_openai_line("a", PROMPT), _openai_line("b", "hello")])
        assert batch.status == "in_progress" and batch.request_counts.total == 2
        assert (await client.batches.retrieve(batch.id)).status == "in_progress"  # the delay has not passed
        await asyncio.sleep(0.25)
        done = await client.batches.retrieve(batch.id)
        assert done.status == "completed" and done.request_counts.completed == 2 and done.error_file_id is None
        assert done.output_file_id is not None
        output = (await client.files.content(done.output_file_id)).text
    lines = {line["custom_id"]: line for line in map(json.loads, output.splitlines())}
    assert lines["a"]["response"]["body"]["choices"][0]["message"]["content"] == pseudo_localize(SOURCE, "German")
    assert lines["b"]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: hello"
    assert srv.batches.stats.batches_created == 1 and srv.batches.stats.requests_submitted == 2
    assert srv.stats.requests_by_path.get("/v1/chat/completions", 0) == 0  # nothing went through the live API


async def test_openai_batch_failures_and_expiry_go_to_the_error_file(srv: LLMServer) -> None:
    srv.unknown_models = {"nope"}
    srv.batches.fail_count, srv.batches.expire_count = 1, 1
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as client:
        lines = [_openai_line("expired", "x"), _openai_line("failed", "y"), _openai_line("unknown", "z", "nope"),
                 _openai_line("ok", "w")]  # fmt: skip
        batch = await client.batches.retrieve((await _openai_batch(client, lines)).id)
        assert batch.status == "expired"  # some requests never ran inside the window
        assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 3)
        assert batch.error_file_id and batch.output_file_id
        errors = [json.loads(line) for line in (await client.files.content(batch.error_file_id)).text.splitlines()]
    by_id = {line["custom_id"]: line for line in errors}
    assert by_id["expired"]["error"]["code"] == "batch_expired" and by_id["expired"]["response"] is None
    assert by_id["failed"]["response"]["status_code"] == 500
    assert by_id["unknown"]["response"]["status_code"] == 404


async def test_openai_cancel(srv: LLMServer) -> None:
    srv.batches.delay = 3600
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as client:
        batch = await _openai_batch(client, [_openai_line("a", "x")])
        cancelled = await client.batches.cancel(batch.id)
        assert cancelled.status in ("cancelling", "cancelled")
        assert (await client.batches.retrieve(batch.id)).status == "cancelled"
        with pytest.raises(openai.NotFoundError):
            await client.batches.retrieve("batch_missing")
        with pytest.raises(openai.BadRequestError):
            await client.files.create(file=("x.jsonl", b"{}"), purpose="assistants")


async def test_anthropic_message_batch_round_trip(srv: LLMServer) -> None:
    srv.batches.expire_count = 1
    params = {"model": "claude-test", "max_tokens": 500, "system": "You translate.",
              "messages": [{"role": "user", "content": PROMPT}]}  # fmt: skip
    async with anthropic.AsyncAnthropic(base_url=srv.anthropic_base_url, api_key="k", max_retries=0) as client:
        batch = await client.messages.batches.create(
            requests=[{"custom_id": "late", "params": params}, {"custom_id": "a", "params": params},
                      {"custom_id": "bad", "params": {**params, "max_tokens": None}}]  # fmt: skip
        )
        assert batch.processing_status == "in_progress" and batch.id.startswith("msgbatch_")
        ended = await client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and ended.results_url
        counts = ended.request_counts
        assert (counts.succeeded, counts.errored, counts.expired) == (1, 1, 1)
        results = {r.custom_id: r.result async for r in await client.messages.batches.results(batch.id)}
    assert results["late"].type == "expired"
    assert results["bad"].type == "errored" and results["bad"].error.error.type == "invalid_request_error"
    succeeded = results["a"]
    assert succeeded.type == "succeeded"
    assert succeeded.message.content[0].text == pseudo_localize(SOURCE, "German")
    assert srv.batches.stats.results_downloaded == 1


async def test_anthropic_cancel_and_unfinished_results(srv: LLMServer) -> None:
    srv.batches.delay = 3600
    params = {"model": "claude-test", "max_tokens": 50, "messages": [{"role": "user", "content": "x"}]}
    async with anthropic.AsyncAnthropic(base_url=srv.anthropic_base_url, api_key="k", max_retries=0) as client:
        batch = await client.messages.batches.create(requests=[{"custom_id": "a", "params": params}])
        with pytest.raises(anthropic.AnthropicError):  # no results_url before the end
            await client.messages.batches.results(batch.id)
        cancelled = await client.messages.batches.cancel(batch.id)
        assert cancelled.processing_status in ("canceling", "ended")
        results = [r async for r in await client.messages.batches.results(batch.id)]
    assert [r.result.type for r in results] == ["canceled"]


async def test_batch_routes_check_the_key() -> None:
    async with LLMServer(expected_api_key="right") as srv:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="wrong", max_retries=0) as client:
            with pytest.raises(openai.AuthenticationError):
                await client.batches.retrieve("batch_x")
