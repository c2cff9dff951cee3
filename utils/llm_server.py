"""A loopback LLM server speaking enough OpenAI and Anthropic for the real SDKs, for tests and benchmarks.

Real HTTP (aiohttp) on 127.0.0.1 so the SDKs' connection pools, retries and timeouts are exercised for real;
a latency model (time to first token + output tokens / tokens per second, with jitter) so concurrency pays off
measurably; injectable faults (429 with Retry-After, 500, 529/503 overloaded, slow, dropped, truncated, code
blocks dropped); requests- and tokens-per-minute limits enforced over a sliding window and announced in every
chat response in each provider's own headers (OpenAI `x-ratelimit-*`, Anthropic `anthropic-ratelimit-*`), so
retry, pacing and limit learning can be tested; both batch APIs (see utils.llm_server_batch); and counters
(requests, statuses, peak in flight, TCP connections opened) so tests can assert on what really went over the wire.

Translation requests (see utils.pseudo) are answered by the server's `translator` (utils.llm_translators: a
faithful pseudo-localizer by default, or one of the ways models get a translation wrong); anything else
gets a deterministic echo. Run ``python -m utils.llm_server --port 8765 --ttft 0.5 --tps 60`` for manual trials.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import math
import random
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

try:
    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler
except ModuleNotFoundError as missing:  # an extra: the library and the apps run without it
    raise ModuleNotFoundError(
        f"utils.llm_server needs {missing.name}: pip install 'pocketflow-parallel[server]'", name=missing.name
    ) from None

from utils.llm_providers import estimate_tokens
from utils.llm_translators import TRANSLATORS, drop_code_blocks, translate
from utils.pseudo import parse_translation_request

__all__ = ["LLMServer", "Faults", "ServerStats"]

log = logging.getLogger(__name__)

_OPENAI_PATH = "/v1/chat/completions"
_ANTHROPIC_PATH = "/v1/messages"
_MODELS_PATH = "/v1/models"


@dataclass
class Faults:
    """Injected failures, checked in this order for every chat request; mutate between calls freely.

    For each kind, `<kind>_count` fails the next N requests deterministically, and `<kind>` (0..1) fails each
    further request with that probability (seeded). `overloaded` is 529 on Anthropic and 503 on OpenAI.
    `drop` closes the connection without a response; `slow` adds `slow_delay` seconds; `truncate` cuts the
    reply in half (finish_reason "length" / stop_reason "max_tokens"); `drop_code_blocks` removes fenced code
    blocks from the reply (a "translation" that breaks the document). Broken answers to the same request (the
    tokens are counted as paid for): `non_json` is a 200 with a proxy's HTML page, `cut_body` a 200 whose JSON
    body stops halfway, `empty_choices` a 200 with
    "choices": [] / "content": [], `null_content` a 200 whose text is null / empty, `trickle` a 200 whose body
    arrives one byte every `trickle_delay` seconds. `quota` is OpenAI's 429 insufficient_quota and Anthropic's
    400 "credit balance is too low" (`billing` is Anthropic's 402 billing_error on both paths).
    """

    rate_limit: float = 0.0
    rate_limit_count: int = 0
    retry_after: float = 1.0
    server_error: float = 0.0
    server_error_count: int = 0
    overloaded: float = 0.0
    overloaded_count: int = 0
    drop: float = 0.0
    drop_count: int = 0
    slow: float = 0.0
    slow_count: int = 0
    slow_delay: float = 1.0
    truncate: float = 0.0
    truncate_count: int = 0
    drop_code_blocks: float = 0.0
    drop_code_blocks_count: int = 0
    quota: float = 0.0
    quota_count: int = 0
    billing: float = 0.0
    billing_count: int = 0
    non_json: float = 0.0
    non_json_count: int = 0
    cut_body: float = 0.0
    cut_body_count: int = 0
    empty_choices: float = 0.0
    empty_choices_count: int = 0
    null_content: float = 0.0
    null_content_count: int = 0
    trickle: float = 0.0
    trickle_count: int = 0
    trickle_delay: float = 1.0


@dataclass
class ServerStats:
    """What reached the server. Counts every HTTP request, including rejected and dropped ones."""

    requests: int = 0
    requests_by_path: dict[str, int] = field(default_factory=dict)
    responses_by_status: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    connections_opened: int = 0
    open_connections: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    translations: list[tuple[str, str]] = field(default_factory=list)  # (model, language) per 200 reply


_Answer = tuple[str, str, bool, int, int, tuple[str, str] | None]


class _Reject(Exception):
    """Ends a request with an error response in the provider's JSON shape."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers or {}


class _Drop(Exception):
    """Ends a request by closing the connection without any response."""


# Error "kind" -> (OpenAI error type, OpenAI code, Anthropic error type)
_ERROR_SHAPES = {
    "invalid_request": ("invalid_request_error", None, "invalid_request_error"),
    "authentication": ("invalid_request_error", "invalid_api_key", "authentication_error"),
    "not_found": ("invalid_request_error", "model_not_found", "not_found_error"),
    "rate_limit": ("requests", "rate_limit_exceeded", "rate_limit_error"),
    "server_error": ("server_error", None, "api_error"),
    "overloaded": ("server_error", "overloaded", "overloaded_error"),
    "quota": ("insufficient_quota", "insufficient_quota", "invalid_request_error"),
    "billing": ("billing_error", "billing_error", "billing_error"),
}


class _CountingServer(web.Server):
    """aiohttp's low-level server, counting TCP connections as they are made and lost."""

    def __init__(self, owner: LLMServer, **kwargs: Any) -> None:
        super().__init__(owner._handle, **kwargs)
        self._owner = owner

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._owner.stats.connections_opened += 1
        self._owner.stats.open_connections += 1

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._owner.stats.open_connections -= 1


def _count_tokens(text: str) -> int:
    """What the server reports as usage: the shared estimate, but never 0 (real APIs count at least one)."""
    return max(1, estimate_tokens(text))


def _text_of(content: Any) -> str:
    """Text of a message content: a string or a list of parts/blocks with "text"."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


class _Window:
    """Units admitted over the last `window` seconds against `per_minute` scaled to the window."""

    def __init__(self, per_minute: int, window: float) -> None:
        self.per_minute = per_minute
        self.window = window
        self.budget = per_minute * window / 60
        self._admitted: collections.deque[tuple[float, int]] = collections.deque()
        self._used = 0

    def _expire(self, now: float) -> None:
        while self._admitted and self._admitted[0][0] <= now - self.window:
            self._used -= self._admitted.popleft()[1]

    def wait(self, units: int, now: float) -> float | None:
        """Seconds until `units` fit (0.0: now); None if they never can (more than the whole window holds)."""
        self._expire(now)
        if units > self.budget:
            return None
        excess = self._used + units - self.budget
        if excess <= 0:
            return 0.0
        for admitted_at, admitted in self._admitted:  # oldest first: when enough of them have left the window
            excess -= admitted
            if excess <= 0:
                return admitted_at + self.window - now
        return 0.0  # not reached: units <= budget, so the admitted units cover the excess

    def add(self, units: int, now: float) -> None:
        self._admitted.append((now, units))
        self._used += units

    def remaining(self, now: float) -> int:
        """The per-minute limit less what the window holds (with a one-minute window: exactly what is left)."""
        self._expire(now)
        return max(0, self.per_minute - self._used)

    def reset(self, now: float) -> float:
        """Seconds until the window is empty again."""
        self._expire(now)
        return self._admitted[-1][0] + self.window - now if self._admitted else 0.0


def _duration(seconds: float) -> str:
    """An OpenAI reset duration: "20ms", "1.5s", "6m0s", "1h0m0s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


class LLMServer:
    """Loopback OpenAI/Anthropic-compatible server; see the module docstring.

    Use ``async with LLMServer(...) as srv:`` in async code, or ``srv = LLMServer(...).start_in_thread()`` ...
    ``srv.stop()`` from sync code (the server then runs its own event loop in a daemon thread).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        ttft: float = 0.0,
        tokens_per_second: float | None = None,
        jitter: float = 0.0,
        seed: int = 0,
        faults: Faults | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        input_tpm: int | None = None,
        output_tpm: int | None = None,
        window: float = 60.0,
        expected_api_key: str | None = None,
        unknown_models: Iterable[str] = (),
        translator: str = "faithful",
    ) -> None:
        if translator not in TRANSLATORS:
            raise ValueError(f"unknown translator {translator!r}: choose one of {', '.join(TRANSLATORS)}")
        self.port = port
        self.ttft = ttft
        self.tokens_per_second = tokens_per_second
        self.jitter = jitter
        self.faults = faults if faults is not None else Faults()
        self.expected_api_key = expected_api_key
        self.unknown_models = set(unknown_models)
        self.translator = translator  # how translation requests are answered (utils.llm_translators)
        self.stats = ServerStats()
        self._random = random.Random(seed)
        # Per-minute limits, each enforced over a sliding `window` (a shorter window is stricter: no minute-long burst).
        limits = {"requests": rpm, "tokens": tpm, "input-tokens": input_tpm, "output-tokens": output_tpm}
        self.limits = {kind: _Window(limit, window) for kind, limit in limits.items() if limit}
        self._runner: web.ServerRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._models_seen: dict[str, None] = {}
        from utils.llm_server_batch import BatchAPI  # here: it builds on this module

        self.batches = BatchAPI(self)

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """OpenAI base_url (the SDK appends /chat/completions)."""
        return f"http://127.0.0.1:{self._bound_port()}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Anthropic base_url (the SDK appends /v1/messages)."""
        return f"http://127.0.0.1:{self._bound_port()}"

    def _bound_port(self) -> int:
        if self._runner is None:
            raise RuntimeError("LLMServer is not running: use `async with LLMServer()` or start_in_thread()")
        return self.port

    async def start(self) -> LLMServer:
        """Bind 127.0.0.1 (port 0 picks a free one) and start serving on the running loop."""
        if self._runner is not None:
            raise RuntimeError("LLMServer is already running")
        server = _CountingServer(self, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._loop = asyncio.get_running_loop()
        log.debug("loopback LLM server listening on %s", self.anthropic_base_url)
        return self

    async def aclose(self) -> None:
        """Stop listening, close connections (in-flight requests get up to 1 s), release the port."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> LLMServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def start_in_thread(self) -> LLMServer:
        """Start serving from sync code, on a private event loop in a daemon thread; returns self."""
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="llm-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop a server started with start_in_thread() and join its thread."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("stop() is for start_in_thread(); an async server closes with `await aclose()`")
        loop, thread = self._loop, self._thread
        asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None

    def reset_stats(self) -> None:
        """Start counting afresh; requests and connections still open carry over as in flight / open."""
        old = self.stats
        self.stats = ServerStats(
            in_flight=old.in_flight, peak_in_flight=old.in_flight, open_connections=old.open_connections
        )

    # ---------------------------------------------------------------- request handling

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        # Always go through self.stats (never a local alias): reset_stats() may swap it mid-request.
        self.stats.requests += 1
        by_path = self.stats.requests_by_path
        by_path[request.path] = by_path.get(request.path, 0) + 1
        self.stats.in_flight += 1
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
        anthropic = request.path == _ANTHROPIC_PATH or "anthropic-version" in request.headers
        try:
            response = await self._route(request, anthropic)
        except _Reject as reject:
            response = self._error_response(reject, anthropic)
        except _Drop:
            self.stats.dropped += 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=499)  # never reaches the client: the connection is gone
        finally:
            self.stats.in_flight -= 1
        if request.path in (_OPENAI_PATH, _ANTHROPIC_PATH):
            response.headers.update(self.limit_headers(anthropic))
        by_status = self.stats.responses_by_status
        by_status[response.status] = by_status.get(response.status, 0) + 1
        return response

    async def _route(self, request: web.BaseRequest, anthropic: bool) -> web.StreamResponse:
        if request.path in (_OPENAI_PATH, _ANTHROPIC_PATH):
            if request.method != "POST":
                raise _Reject(405, "invalid_request", f"{request.method} is not allowed on {request.path}")
            return await self._chat(request, anthropic)
        if self.batches.handles(request.path):
            self._check_auth(request, anthropic)
            return await self.batches.route(request)
        if request.path == _MODELS_PATH and request.method == "GET":
            self._check_auth(request, anthropic)
            return self._models(anthropic)
        raise _Reject(404, "not_found", f"no route for {request.method} {request.path}")

    def _check_auth(self, request: web.BaseRequest, anthropic: bool) -> None:
        if self.expected_api_key is None:
            return
        bearer = request.headers.get("Authorization", "")
        offered = request.headers.get("x-api-key") if anthropic else None
        if offered != self.expected_api_key and bearer != f"Bearer {self.expected_api_key}":
            message = "invalid x-api-key" if anthropic else "Incorrect API key provided."
            raise _Reject(401, "authentication", message)

    async def _chat(self, request: web.BaseRequest, anthropic: bool) -> web.StreamResponse:
        self._check_auth(request, anthropic)
        body = await self._json_body(request)
        model, text, truncated, input_tokens, output_tokens, translation = self.answer(body, anthropic, live=True)

        await asyncio.sleep(self._latency(output_tokens))

        self.stats.input_tokens += input_tokens
        self.stats.output_tokens += output_tokens
        if translation is not None:
            self.stats.translations.append((model, translation[0]))
        make = self._anthropic_message if anthropic else self._openai_completion
        answer = make(model, text, truncated, input_tokens, output_tokens)
        broken = await self._broken_answer(request, anthropic, answer)
        if broken is not None:
            return broken
        return web.json_response(make(model, text, truncated, input_tokens, output_tokens), headers=_id_headers())

    def answer(self, body: dict[str, Any], anthropic: bool, *, live: bool) -> _Answer:
        """Check a chat request body and make its answer: (model, text, truncated, input tokens, output tokens,
        the parsed translation request or None). `live` requests (not batch ones) also pass the rate limits and
        the injected faults. Raises _Reject for a request the real API would refuse."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Reject(400, "invalid_request", "model: field required")
        if model in self.unknown_models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            if anthropic:
                message = f"model: {model}"
            raise _Reject(404, "not_found", message)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Reject(400, "invalid_request", "messages: at least one message is required")
        if body.get("stream"):
            raise _Reject(400, "invalid_request", "stream: streaming is not supported by the loopback server")
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        if anthropic and not isinstance(max_tokens, int):
            raise _Reject(400, "invalid_request", "max_tokens: field required")
        self._models_seen[model] = None

        prompt = "".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict))
        prompt += _text_of(body.get("system"))
        user_turns = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        last_user = _text_of(user_turns[-1].get("content")) if user_turns else ""
        translation = parse_translation_request(last_user)
        if translation is not None:
            text = translate(self.translator, translation[1], translation[0])
        else:
            text = f"Echo: {last_user}"
        truncated = False
        if live:
            self._admit(_count_tokens(prompt), _count_tokens(text))
            self._inject_failures(anthropic)
            if self._trigger("drop_code_blocks"):
                text = drop_code_blocks(text)
            if self._trigger("truncate"):
                text, truncated = text[: len(text) // 2], True
        if isinstance(max_tokens, int) and _count_tokens(text) > max_tokens:
            text, truncated = text[: max(0, max_tokens) * 4], True
        input_tokens, output_tokens = _count_tokens(prompt), _count_tokens(text)
        return model, text, truncated, input_tokens, output_tokens, translation

    async def _json_body(self, request: web.BaseRequest) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Reject(400, "invalid_request", "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _Reject(400, "invalid_request", "request body must be a JSON object")
        return body

    def _admit(self, input_tokens: int, output_tokens: int) -> None:
        """Enforce every limit over its sliding window; only accepted requests count against them.

        Tokens are charged on admission, output included (the server knows its answer before it "streams" it).
        """
        if not self.limits:
            return
        costs = {"requests": 1, "tokens": input_tokens + output_tokens, "input-tokens": input_tokens,
                 "output-tokens": output_tokens}  # fmt: skip
        now = time.monotonic()
        waits = {kind: window.wait(costs[kind], now) for kind, window in self.limits.items()}
        if too_large := [kind for kind, wait in waits.items() if wait is None]:
            kind = too_large[0]
            raise _Reject(429, "rate_limit", f"Request too large: {costs[kind]} {kind} against a limit of "
                          f"{self.limits[kind].per_minute} {kind} per minute.")  # fmt: skip
        kind, wait = max(waits.items(), key=lambda item: item[1] or 0.0)
        if wait:
            raise _Reject(
                429, "rate_limit", f"Rate limit reached: {self.limits[kind].per_minute} {kind} per minute.",
                _retry_headers(wait),
            )  # fmt: skip
        for kind, window in self.limits.items():
            window.add(costs[kind], now)

    def limit_headers(self, anthropic: bool) -> dict[str, str]:
        """The limits as the provider announces them: per minute, remaining now, reset when the window is empty."""
        now = time.monotonic()
        headers: dict[str, str] = {}
        for kind, window in self.limits.items():
            remaining, reset = window.remaining(now), window.reset(now)
            if anthropic:
                prefix = f"anthropic-ratelimit-{kind}"
                when = datetime.now(UTC) + timedelta(seconds=math.ceil(reset))
                headers |= {f"{prefix}-limit": str(window.per_minute), f"{prefix}-remaining": str(remaining),
                            f"{prefix}-reset": when.strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
            elif kind in ("requests", "tokens"):
                headers |= {f"x-ratelimit-limit-{kind}": str(window.per_minute),
                            f"x-ratelimit-remaining-{kind}": str(remaining),
                            f"x-ratelimit-reset-{kind}": _duration(reset)}  # fmt: skip
        return headers

    def _inject_failures(self, anthropic: bool) -> None:
        if self._trigger("rate_limit"):
            raise _Reject(
                429, "rate_limit", "Rate limit exceeded (injected).", _retry_headers(self.faults.retry_after)
            )
        if self._trigger("server_error"):
            raise _Reject(500, "server_error", "The server had an error while processing your request (injected).")
        if self._trigger("overloaded"):
            raise _Reject(529 if anthropic else 503, "overloaded", "Overloaded (injected).")
        if self._trigger("drop"):
            raise _Drop()
        if self._trigger("quota"):
            if anthropic:
                raise _Reject(400, "quota", "Your credit balance is too low to access the Anthropic API. "
                                            "Please go to Plans & Billing to upgrade or purchase credits.")  # fmt: skip
            raise _Reject(429, "quota", "You exceeded your current quota, please check your plan and billing details.")
        if self._trigger("billing"):
            raise _Reject(402, "billing", "This organization has no payment method: add one in Plans & Billing.")

    async def _broken_answer(
        self, request: web.BaseRequest, anthropic: bool, answer: dict[str, Any]
    ) -> web.StreamResponse | None:
        """A 200 that is no usable answer, if a `Faults` broken-answer kind hits this request."""
        if self._trigger("non_json"):
            page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            return web.Response(text=page, content_type="text/html")
        if self._trigger("cut_body"):
            body = json.dumps(answer).encode()
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        if self._trigger("empty_choices"):
            answer["content" if anthropic else "choices"] = []
        elif self._trigger("null_content"):
            if anthropic:
                answer["content"] = [{"type": "text", "text": ""}]
            else:
                answer["choices"][0]["message"]["content"] = None
        elif self._trigger("trickle"):
            body = json.dumps(answer).encode()
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = len(body)
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError):  # the client gave up waiting, as it should
                for i in range(len(body)):
                    await response.write(body[i : i + 1])
                    await asyncio.sleep(self.faults.trickle_delay)
                await response.write_eof()
            return response
        else:
            return None
        return web.json_response(answer, headers=_id_headers())

    def _trigger(self, kind: str) -> bool:
        """Whether fault `kind` hits this request: pending count first, then the seeded probability."""
        count = getattr(self.faults, f"{kind}_count")
        if count > 0:
            setattr(self.faults, f"{kind}_count", count - 1)
            return True
        rate: float = getattr(self.faults, kind)
        return rate > 0 and self._random.random() < rate

    def _latency(self, output_tokens: int) -> float:
        seconds = self.ttft
        if self.tokens_per_second:
            seconds += output_tokens / self.tokens_per_second
        if self.jitter:
            seconds *= self._random.uniform(1 - self.jitter, 1 + self.jitter)
        if self._trigger("slow"):
            seconds += self.faults.slow_delay
        return max(0.0, seconds)

    # ---------------------------------------------------------------- wire formats

    @staticmethod
    def _openai_completion(
        model: str, text: str, truncated: bool, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "length" if truncated else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            "system_fingerprint": "loopback",
        }

    @staticmethod
    def _anthropic_message(
        model: str, text: str, truncated: bool, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens" if truncated else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }

    def _models(self, anthropic: bool) -> web.Response:
        ids = list(self._models_seen) or ["loopback"]
        data: list[dict[str, Any]]
        if anthropic:
            data = [
                {"type": "model", "id": i, "display_name": i, "created_at": "2025-01-01T00:00:00Z"} for i in ids
            ]
            return web.json_response({"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]})
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "loopback"} for i in ids]
        return web.json_response({"object": "list", "data": data})

    @staticmethod
    def _error_response(reject: _Reject, anthropic: bool) -> web.Response:
        openai_type, openai_code, anthropic_type = _ERROR_SHAPES[reject.kind]
        headers = {**_id_headers(), **reject.headers}
        if anthropic:
            body: dict[str, Any] = {
                "type": "error",
                "error": {"type": anthropic_type, "message": reject.message},
                "request_id": headers["request-id"],
            }
        else:
            body = {"error": {"message": reject.message, "type": openai_type, "param": None, "code": openai_code}}
        return web.json_response(body, status=reject.status, headers=headers)


def _id_headers() -> dict[str, str]:
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    return {"x-request-id": request_id, "request-id": request_id}


def _retry_headers(seconds: float) -> dict[str, str]:
    """Retry-After in whole seconds (HTTP allows no fractions, so rounded up) plus exact retry-after-ms."""
    seconds = max(0.0, seconds)
    return {"Retry-After": str(math.ceil(seconds)), "retry-after-ms": str(math.ceil(seconds * 1000))}


# -------------------------------------------------------------------- command line


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m utils.llm_server", description="Serve a loopback OpenAI/Anthropic-compatible LLM."
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--ttft", type=float, default=0.0, help="time to first token, seconds")
    parser.add_argument("--tps", type=float, default=None, help="output tokens per second (default: instant)")
    parser.add_argument("--jitter", type=float, default=0.0, help="latency jitter fraction, e.g. 0.2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute before 429s")
    parser.add_argument("--tpm", type=int, default=None, help="tokens (input + output) per minute before 429s")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of the sliding window the limits use")
    parser.add_argument("--batch-delay", type=float, default=0.0,
                        help="seconds from a batch's creation to its end (default: done at once)")  # fmt: skip
    parser.add_argument("--api-key", default=None, help="require this API key (401 otherwise)")
    parser.add_argument("--translator", choices=TRANSLATORS, default="faithful",
                        help="how translation requests are answered (default: faithful)")  # fmt: skip
    for kind in ("rate_limit", "server_error", "overloaded", "drop", "slow", "truncate", "drop_code_blocks"):
        parser.add_argument(f"--{kind.replace('_', '-')}", type=float, default=0.0, metavar="P",
                            help=f"probability of an injected {kind.replace('_', ' ')} per request")  # fmt: skip
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    faults = Faults(**{f.name: getattr(args, f.name) for f in fields(Faults) if hasattr(args, f.name)})
    server = LLMServer(
        port=args.port,
        ttft=args.ttft,
        tokens_per_second=args.tps,
        jitter=args.jitter,
        seed=args.seed,
        faults=faults,
        rpm=args.rpm,
        tpm=args.tpm,
        window=args.window,
        expected_api_key=args.api_key,
        translator=args.translator,
    )
    server.batches.delay = args.batch_delay
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no loop signal handlers on Windows: Ctrl-C still works
            loop.add_signal_handler(sig, stop.set)
    async with server:
        print(f"OpenAI base URL:    {server.base_url}", flush=True)
        print(f"Anthropic base URL: {server.anthropic_base_url}", flush=True)
        print("Serving; press Ctrl-C to stop.", flush=True)
        await stop.wait()
    stats = server.stats
    print(f"Stopped after {stats.requests} requests, peak {stats.peak_in_flight} in flight.", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        return 0
    except OSError as exc:
        print(f"error: cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
