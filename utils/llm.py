"""Async LLM calls for OpenAI (and OpenAI-compatible servers), Anthropic and an offline provider.

Built to survive hundreds of concurrent callers: one SDK client per configuration and event loop, limits shared by
every caller of a (provider, model) (see utils.ratelimit), and exactly one retry layer (tenacity here; the SDK
clients are built with max_retries=0). Settings: see utils.config and utils/env.example.
"""
from __future__ import annotations

import asyncio
import atexit
import base64
import email.utils
import logging
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from utils.config import Settings, configure, resolve_provider, settings
from utils.llm_errors import (
    LLMAuthError,
    LLMBadRequestError,
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMModelNotFoundError,
    LLMQuotaError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
    LLMTruncatedError,
)
from utils.llm_providers import (
    DEFAULT_MAX_TOKENS,
    AnthropicProvider,
    Message,
    OpenAIProvider,
    Provider,
    Reply,
    Request,
    estimate_tokens,
    offline_reply,
    text_of,
)
from utils.ratelimit import limiter_for

__all__ = [
    "LLMAuthError",
    "LLMBadRequestError",
    "LLMConfigError",
    "LLMConnectionError",
    "LLMError",
    "LLMModelNotFoundError",
    "LLMQuotaError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMResult",
    "LLMServerError",
    "LLMTruncatedError",
    "Usage",
    "aclose_clients",
    "call_llm_async",
    "complete_async",
    "configure",
    "endpoint",
    "redact",
    "resolve_provider",
    "reset_usage",
    "usage_totals",
]

log = logging.getLogger(__name__)
# Waits long enough for a user to wonder whether the run hangs; a CLI can show this logger alone.
wait_log = logging.getLogger("utils.llm.wait")
LONG_WAIT = 5.0

Prompt = str | Sequence[Message]


@dataclass(frozen=True)
class LLMResult:
    """One answer; latency covers the whole call (queueing for a slot, retries and their waits included), and the
    tokens every attempt that came back was billed (unusable answers that were retried included)."""

    text: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    latency: float
    retries: int


@dataclass
class Usage:
    """Totals of one (provider, model): calls made (failed ones too), retries taken, tokens the servers reported."""

    requests: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


_usage: dict[tuple[str, str], Usage] = {}


def usage_totals() -> dict[tuple[str, str], Usage]:
    """A snapshot of the usage per (provider, model) since start or the last reset_usage()."""
    return {key: replace(usage) for key, usage in _usage.items()}


def reset_usage() -> None:
    _usage.clear()


async def call_llm_async(
    prompt: Prompt,
    *,
    system: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> str:
    """Ask the model and return its answer text (see complete_async)."""
    result = await complete_async(
        prompt, system=system, model=model, provider=provider, max_tokens=max_tokens, temperature=temperature
    )
    return result.text


async def complete_async(
    prompt: Prompt,
    *,
    system: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> LLMResult:
    """Ask the model; `prompt` is the user text or a list of {"role", "content"} messages.

    Raises an LLMError subclass: LLMTruncatedError when the answer hit the token limit, LLMAuthError,
    LLMModelNotFoundError, LLMQuotaError, LLMBadRequestError at once, and LLMRateLimitError, LLMServerError,
    LLMResponseError (a 200 without a usable answer) or LLMConnectionError (LLM_TIMEOUT is a deadline for each
    whole request) when the retries ran out. Message content other than text is refused with LLMError.
    """
    started = time.monotonic()
    config = settings(provider, model)
    messages = _checked_messages(prompt)
    usage = _usage.setdefault((config.provider, config.model), Usage())
    usage.requests += 1
    if config.provider == "offline":
        reply, retries = offline_reply(messages), 0
    else:
        request = Request(config.model, messages, system, max_tokens, temperature)
        reply, retries = await _send_with_retries(_providers(config.provider), config, request, usage)
    usage.input_tokens += reply.input_tokens
    usage.output_tokens += reply.output_tokens
    if reply.truncated:
        raise LLMTruncatedError(
            f"{config.provider}/{config.model} stopped at the output token limit after {reply.output_tokens} "
            "tokens: raise max_tokens or send a shorter input",
            partial_text=reply.text,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
        )
    return LLMResult(
        text=reply.text,
        provider=config.provider,
        model=config.model,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        latency=time.monotonic() - started,
        retries=retries,
    )


def _checked_messages(prompt: Prompt) -> list[Message]:
    """The messages as every provider takes them: text only, as a string or a list of OpenAI-style text parts
    (which are Anthropic text blocks too). Anything else is refused here, not as a TypeError inside an SDK."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages: list[Message] = []
    for number, message in enumerate(prompt, 1):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise LLMError(f"message {number} must be a mapping with a 'role' and a 'content'")
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if not (isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                    kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                    raise LLMError(
                        f"message {number} has a {kind!r} content part: utils.llm sends text only "
                        "(a string or {'type': 'text', 'text': ...} parts)"
                    )
        elif not isinstance(content, str):
            raise LLMError(f"message {number} has content of type {type(content).__name__}: expected text")
        messages.append(dict(message))
    return messages


# --- providers and their clients -------------------------------------------------------------------------------

_provider_cache: dict[str, Provider] = {}


def _providers(name: str) -> Provider:
    """Provider adapters import their SDK on first use, so offline runs never load either SDK."""
    if name not in _provider_cache:
        _provider_cache[name] = OpenAIProvider() if name == "openai" else AnthropicProvider()
    return _provider_cache[name]


@dataclass
class _LoopClients:
    """The SDK clients bound to one event loop (their connection pools live on it) and the task that closes them."""

    clients: dict[tuple[str, str | None, str | None, float], Any]
    closer: asyncio.Task[None] | None = None


_clients: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


def _client(provider: Provider, config: Settings) -> Any:
    """The cached client for this configuration on the running loop; created once, reused by every call.

    A loop's clients are closed when the loop shuts down (asyncio.run cancels the closer task) or by
    aclose_clients(); entries of loops closed some other way are dropped here.
    """
    loop = asyncio.get_running_loop()
    _forget_closed_loops()
    loop_clients = _clients.get(loop)
    if loop_clients is None:
        loop_clients = _clients[loop] = _LoopClients({})
        loop_clients.closer = loop.create_task(_close_at_loop_end(loop_clients), name="utils.llm client closer")
    key = (provider.name, config.base_url, config.api_key, config.timeout)
    client = loop_clients.clients.get(key)
    if client is None:
        client = loop_clients.clients[key] = provider.make_client(config)
    return client


def _forget_closed_loops() -> None:
    for stale in [loop for loop in _clients if loop.is_closed()]:
        del _clients[stale]


async def _close_at_loop_end(loop_clients: _LoopClients) -> None:
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        clients = list(loop_clients.clients.values())
        loop_clients.clients.clear()
        for client in clients:
            await client.close()


@atexit.register
def _close_at_exit() -> None:
    """A loop stopped without asyncio.run's cleanup (the `python -m asyncio` REPL on exit) still closes its clients,
    rather than leaving a pending closer task to be destroyed with a warning."""
    for loop, loop_clients in list(_clients.items()):
        if loop_clients.closer is not None and not loop.is_closed() and not loop.is_running():
            loop_clients.closer.cancel()
            loop.run_until_complete(asyncio.gather(loop_clients.closer, return_exceptions=True))


async def aclose_clients() -> None:
    """Close the SDK clients of the running loop (and forget those of closed loops); later calls open new ones."""
    loop = asyncio.get_running_loop()
    loop_clients = _clients.pop(loop, None)
    _forget_closed_loops()
    if loop_clients is not None and loop_clients.closer is not None:
        loop_clients.closer.cancel()
        await asyncio.gather(loop_clients.closer, return_exceptions=True)


# --- the one retry layer -----------------------------------------------------------------------------------------

RETRYABLE_STATUS = {408, 409, 429}


async def _send_with_retries(provider: Provider, config: Settings, request: Request, usage: Usage) -> tuple[Reply, int]:
    """Send through the shared limiter, retrying transient failures; returns the reply and the retries taken."""
    client = _client(provider, config)
    limiter = limiter_for(
        config.provider, config.model, max_concurrency=config.max_concurrency, rpm=config.rpm, tpm=config.tpm
    )
    prompt_text = (request.system or "") + "".join(text_of(m["content"]) for m in request.messages)
    max_output = request.max_tokens or DEFAULT_MAX_TOKENS
    estimated = estimate_tokens(prompt_text) + max_output
    retries = 0
    refused = True  # no attempt so far got a connection
    wasted = [0, 0]  # input and output tokens of answers that came back unusable: paid for all the same

    def is_retryable(exc: BaseException) -> bool:
        nonlocal refused
        refused = refused and _is_refused(exc, provider)
        if isinstance(exc, LLMResponseError):
            wasted[0] += exc.input_tokens
            wasted[1] += exc.output_tokens
        if isinstance(exc, (provider.connection_error, _DeadlineExceeded, LLMResponseError)):
            return True
        return isinstance(exc, provider.status_error) and _is_retryable_status(_status(exc)) and not _is_quota(exc)

    def before_sleep(state: RetryCallState) -> None:
        nonlocal retries
        retries += 1
        usage.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        if isinstance(exc, provider.status_error) and (_status(exc) == 429 or _retry_after(exc) is not None):
            limiter.pause(delay)
        log.info(
            "%s/%s: %s; retry %d of %d in %.2fs",
            config.provider, config.model, _describe(exc, provider), retries, config.max_retries, delay,
        )
        if delay >= LONG_WAIT:
            why = "rate-limited" if exc is not None and _status(exc) == 429 else _describe(exc, provider)
            wait_log.warning("%s/%s: %s, waiting %.0f s", config.provider, config.model, why, delay)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(config.max_retries + 1),
        wait=_Wait(config, provider),
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                async with limiter.slot(estimated, estimated_output=max_output) as paced:
                    try:
                        async with asyncio.timeout(config.timeout):  # the SDK's own timeout is per read
                            reply = await provider.send(client, request)
                    except TimeoutError:
                        raise _DeadlineExceeded() from None
                    except provider.status_error as exc:
                        limiter.observe(exc.response.headers)  # type: ignore[attr-defined]  # a 429 announces limits too
                        raise
                    limiter.observe(reply.headers)
                if reply.input_tokens or reply.output_tokens:  # some local servers report no usage
                    limiter.settle_tokens(
                        estimated, reply.input_tokens + reply.output_tokens,
                        estimated_output=max_output, actual_output=reply.output_tokens, paced=paced,
                    )  # fmt: skip
    except (provider.status_error, provider.connection_error, _DeadlineExceeded, LLMResponseError) as exc:
        usage.input_tokens += wasted[0]
        usage.output_tokens += wasted[1]
        error = _typed_error(exc, provider, config, attempts=retries + 1, refused=refused)
        if isinstance(error, LLMResponseError):
            error.input_tokens, error.output_tokens = wasted
        raise error from None
    paid = replace(reply, input_tokens=reply.input_tokens + wasted[0], output_tokens=reply.output_tokens + wasted[1])
    return paid, retries


class _DeadlineExceeded(Exception):
    """A request took longer than LLM_TIMEOUT from connecting to its last byte."""


def _is_refused(exc: BaseException, provider: Provider) -> bool:
    """Whether the attempt failed before any connection was made (the server is down, unreachable or the URL is
    wrong): refused, unresolvable or silent for the connect timeout (see llm_providers.connect_timeout)."""
    if not isinstance(exc, provider.connection_error):
        return False
    cause = exc.__cause__
    return type(cause).__name__ in ("ConnectError", "ConnectTimeout") or isinstance(cause, ConnectionRefusedError)


def _is_quota(exc: BaseException) -> bool:
    """No quota or credit left: OpenAI's 429 insufficient_quota, Anthropic's 402 billing_error or its 400 "credit
    balance is too low". No retry fixes these, and calling them rate limits sends the user the wrong way."""
    status = _status(exc)
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    kinds = {str(error.get("code")), str(error.get("type"))}
    message = str(error.get("message", "")).lower()
    return (
        status == 402
        or "billing_error" in kinds
        or (status == 429 and "insufficient_quota" in kinds)
        or (status in (400, 403) and "credit balance" in message)
    )


def _is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


class _Wait:
    """Exponential backoff with jitter, unless the server said how long to wait (Retry-After, retry-after-ms)."""

    def __init__(self, config: Settings, provider: Provider) -> None:
        self._cap = config.retry_max_wait
        self._backoff = wait_exponential_jitter(
            multiplier=config.retry_base, max=config.retry_max_wait, jitter=config.retry_base
        )
        self._provider = provider

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, self._provider.status_error):
            asked = _retry_after(exc)
            if asked is not None:
                return min(asked, self._cap)
        return float(self._backoff(state))


def _status(exc: BaseException) -> int:
    return int(getattr(exc, "status_code", 0))


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, from retry-after-ms or Retry-After (seconds or an HTTP date)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(exc: BaseException | None, provider: Provider) -> str:
    if isinstance(exc, (provider.timeout_error, _DeadlineExceeded)):
        return "timed out"
    if isinstance(exc, LLMResponseError):
        return "unusable answer"
    if isinstance(exc, provider.connection_error):
        return "connection failed"
    return f"HTTP {_status(exc)}" if exc is not None else "failed"


def _typed_error(exc: Exception, provider: Provider, config: Settings, *, attempts: int, refused: bool) -> LLMError:
    """Turn an SDK error into our typed error; the server's text is included only with the secrets redacted."""
    url = _without_credentials(config.base_url or provider.default_base_url)
    where = f"{config.provider}/{config.model} at {url}"
    if isinstance(exc, (provider.connection_error, _DeadlineExceeded)):
        if refused:
            what = "could not be reached"
        elif isinstance(exc, (provider.timeout_error, _DeadlineExceeded)):
            what = f"timed out (LLM_TIMEOUT={config.timeout:g}s per request)"
        else:
            what = "lost the connection"
        return LLMConnectionError(
            f"{url} {what} on {attempts} attempt(s): check {provider.url_var} and that the server is up",
            url=url,
            refused=refused,
        )
    if isinstance(exc, LLMResponseError):
        return LLMResponseError(
            f"{where} gave no usable answer on {attempts} attempt(s): {redact(str(exc), config)}"
        )
    status = _status(exc)
    if _is_quota(exc):
        return LLMQuotaError(
            f"{where} says the account has no quota or credit left (HTTP {status}): "
            f"{_server_message(exc, config)}; check the plan and billing of {provider.key_var}'s account"
        )
    if status in (401, 403):
        return LLMAuthError(
            f"{where} rejected the credentials (HTTP {status}): check {provider.key_var}", variable=provider.key_var
        )
    if status == 404:
        return LLMModelNotFoundError(
            f"model {config.model!r} not found at {url} (HTTP 404): check LLM_MODEL or the model argument"
            + (f", and {provider.url_var}" if config.base_url else ""),
            model=config.model,
        )
    if status == 429:
        return LLMRateLimitError(
            f"{where} still rate limited (HTTP 429) after {attempts} attempt(s): "
            "lower LLM_MAX_CONCURRENCY or set LLM_RPM / LLM_TPM"
        )
    detail = _server_message(exc, config)
    if _is_retryable_status(status):
        return LLMServerError(
            f"{where} kept failing (HTTP {status}) after {attempts} attempt(s): {detail}", status=status
        )
    return LLMBadRequestError(f"{where} refused the request (HTTP {status}): {detail}", status=status)


def endpoint(config: Settings) -> str:
    """The server a configuration talks to, fit to print or to key a cache on: its base URL without credentials."""
    defaults = {"openai": OpenAIProvider.default_base_url, "anthropic": AnthropicProvider.default_base_url}
    return _without_credentials(config.base_url or defaults.get(config.provider, config.provider))


def _without_credentials(url: str) -> str:
    """`url` minus a `user:password@` part (some proxies take one) and with its query values (`?api-key=...`)
    replaced by `***`: neither may reach an error message."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(
        f"{name}=***" if value else name
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    return parts._replace(netloc=netloc, query=query).geturl()


_AUTH_VALUE = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def _secrets(config: Settings) -> list[str]:
    """Every form in which this configuration's credentials could come back in a server's text."""
    found = [config.api_key or ""]
    parts = urllib.parse.urlsplit(config.base_url or "")
    if parts.username is not None or parts.password is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        user, password = urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or "")
        found += [userinfo, password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    found += [value for _, value in urllib.parse.parse_qsl(parts.query)]
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)  # longest first: no half-redactions


def redact(text: str, config: Settings) -> str:
    """`text` with this configuration's credentials, in every form, and any Authorization value replaced by ***:
    for anything a server said (or echoed) that is about to reach a message or a log line."""
    for secret in _secrets(config):
        text = text.replace(secret, "***")
    return _AUTH_VALUE.sub(lambda m: f"{m.group(1)} ***", text)


def _server_message(exc: Exception, config: Settings) -> str:
    """The server's own explanation, shortened, with secrets redacted first (so a cut cannot leave half a key)."""
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        text = str(error["message"])
    else:
        text = str(getattr(exc, "message", exc))
    return redact(text, config)[:300]
