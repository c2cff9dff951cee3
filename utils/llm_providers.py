"""How each provider is asked: SDK client construction, request building and reply parsing.

utils.llm adds caching, limits, retries and error mapping on top; nothing here retries (the SDK clients are built
with max_retries=0 so that utils.llm's tenacity loop is the only retry layer).
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from utils.config import KEY_VARS, URL_VARS, Settings
from utils.llm_errors import LLMAuthError, LLMResponseError
from utils.tokens import estimate_tokens as estimate_tokens  # re-exported: the one estimate, shared by all

Message = dict[str, Any]  # {"role": str, "content": str or a list of {"type": "text", "text": str} parts}

# OpenAI-compatible local servers (Ollama, vLLM, llama-server, LM Studio) ignore the key, but the SDKs need one.
PLACEHOLDER_KEY = "not-needed"
DEFAULT_MAX_TOKENS = 4096


@dataclass(frozen=True)
class Request:
    model: str
    messages: list[Message]
    system: str | None
    max_tokens: int | None
    temperature: float | None


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool
    headers: Mapping[str, str] = field(default_factory=dict)  # the response's, for utils.ratelimit's limits


def connect_timeout(deadline: float) -> float:
    """Seconds to make a connection: the SDKs' own default of 5 s, at most half the request's deadline, so that a
    server that takes no connection is told apart from one that answers slowly (see utils.llm's `refused`)."""
    return min(5.0, deadline / 2)


class Provider:
    """One remote API: its SDK exception classes and how to build a client and send a request."""

    name: str
    default_base_url: str
    status_error: type[Exception]
    connection_error: type[Exception]
    timeout_error: type[Exception]

    @property
    def key_var(self) -> str:
        return KEY_VARS[self.name]

    @property
    def url_var(self) -> str:
        return URL_VARS[self.name]

    def api_key(self, settings: Settings) -> str:
        """The key to send; a placeholder for a custom base URL (local servers take none)."""
        if settings.api_key:
            return settings.api_key
        if settings.base_url:
            return PLACEHOLDER_KEY
        raise LLMAuthError(
            f"{self.key_var} is not set: put your {self.name} key in the environment or .env "
            f"(or set {self.url_var} for a local server)",
            variable=self.key_var,
        )

    def make_client(self, settings: Settings) -> Any:
        raise NotImplementedError

    async def send(self, client: Any, request: Request) -> Reply:
        raise NotImplementedError


class OpenAIProvider(Provider):
    name = "openai"
    default_base_url = "https://api.openai.com/v1"

    def __init__(self) -> None:
        import openai

        self.status_error = openai.APIStatusError
        self.connection_error = openai.APIConnectionError
        self.timeout_error = openai.APITimeoutError

    def make_client(self, settings: Settings) -> Any:
        import openai

        return openai.AsyncOpenAI(
            api_key=self.api_key(settings),
            base_url=settings.base_url or self.default_base_url,
            timeout=openai.Timeout(settings.timeout, connect=connect_timeout(settings.timeout)),
            max_retries=0,
        )

    def _max_tokens_field(self, client: Any) -> str:
        """OpenAI deprecated max_tokens (its reasoning models refuse it); compatible servers know only max_tokens."""
        return "max_completion_tokens" if str(client.base_url).rstrip("/") == self.default_base_url else "max_tokens"

    async def send(self, client: Any, request: Request) -> Reply:
        messages = list(request.messages)
        if request.system is not None:
            messages.insert(0, {"role": "system", "content": request.system})
        options: dict[str, Any] = {}
        if request.max_tokens is not None:
            options[self._max_tokens_field(client)] = request.max_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        create = client.chat.completions.with_raw_response.create  # the raw response carries the limit headers
        raw = await create(model=request.model, messages=messages, **options)
        with _json_body():
            completion = raw.parse()
        if not isinstance(getattr(completion, "choices", None), list):  # the SDK hands back a non-JSON body as str
            raise LLMResponseError(f"the answer is not a chat completion: {_start_of(completion)}")
        if not completion.choices:
            raise LLMResponseError('the answer has no choices ("choices": [])')
        choice = completion.choices[0]
        usage = completion.usage
        reply = _reply(
            getattr(getattr(choice, "message", None), "content", None),
            getattr(usage, "prompt_tokens", 0),
            getattr(usage, "completion_tokens", 0),
            truncated=getattr(choice, "finish_reason", None) == "length",
        )
        return replace(reply, headers=raw.headers)


class AnthropicProvider(Provider):
    name = "anthropic"
    default_base_url = "https://api.anthropic.com"

    def __init__(self) -> None:
        import anthropic

        self.status_error = anthropic.APIStatusError
        self.connection_error = anthropic.APIConnectionError
        self.timeout_error = anthropic.APITimeoutError

    def make_client(self, settings: Settings) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(
            api_key=self.api_key(settings),
            base_url=settings.base_url or self.default_base_url,
            timeout=anthropic.Timeout(settings.timeout, connect=connect_timeout(settings.timeout)),
            max_retries=0,
        )

    async def send(self, client: Any, request: Request) -> Reply:
        """Anthropic takes the system prompt apart, so system messages in the list are hoisted into it.

        This SDK version has no `temperature` parameter, so an explicit temperature goes in the JSON body as is
        (a server that refuses it answers 400, which surfaces as LLMBadRequestError).
        """
        system = [request.system] if request.system is not None else []
        system += [text_of(m["content"]) for m in request.messages if m["role"] == "system"]
        options: dict[str, Any] = {}
        if system:
            options["system"] = "\n\n".join(system)
        if request.temperature is not None:
            options["extra_body"] = {"temperature": request.temperature}
        raw = await client.messages.with_raw_response.create(
            model=request.model,
            max_tokens=request.max_tokens or DEFAULT_MAX_TOKENS,
            messages=[m for m in request.messages if m["role"] != "system"],
            **options,
        )
        with _json_body():
            message = await raw.parse()  # anthropic's raw response parses asynchronously, openai's does not
        blocks = getattr(message, "content", None)
        if not isinstance(blocks, list):  # the SDK hands back a non-JSON body as str
            raise LLMResponseError(f"the answer is not a message: {_start_of(message)}")
        usage = message.usage
        reply = _reply(
            "".join(block.text for block in blocks if getattr(block, "type", None) == "text"),
            getattr(usage, "input_tokens", 0),
            getattr(usage, "output_tokens", 0),
            truncated=message.stop_reason == "max_tokens",
        )
        return replace(reply, headers=raw.headers)


def _reply(text: object, input_tokens: object, output_tokens: object, *, truncated: bool) -> Reply:
    """A Reply, or LLMResponseError when there is no text (unless the token limit explains it)."""
    paid_in = input_tokens if isinstance(input_tokens, int) else 0
    paid_out = output_tokens if isinstance(output_tokens, int) else 0
    if not isinstance(text, str) or (not text.strip() and not truncated):
        raise LLMResponseError(
            "the answer has no text (empty or null content)", input_tokens=paid_in, output_tokens=paid_out
        )
    return Reply(text, paid_in, paid_out, truncated)


@contextlib.contextmanager
def _json_body() -> Iterator[None]:
    """Around the SDK's parse of a 200 body: a body cut short or mangled on the way is LLMResponseError."""
    try:
        yield
    except json.JSONDecodeError as exc:
        raise LLMResponseError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None


def _start_of(body: object) -> str:
    """The first words of an unusable body, on one line (a proxy's HTML page says what went wrong)."""
    return repr(" ".join(str(body).split())[:80])


def text_of(content: Any) -> str:
    """The text of a message content: a string or a list of text parts (see utils.llm's check of messages)."""
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content)


def offline_reply(messages: Sequence[Message]) -> Reply:
    """Deterministic, instant answer: a translation request is pseudo-localized, anything else gets a short echo."""
    from utils.pseudo import parse_translation_request, pseudo_localize

    user = next((text_of(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
    parsed = parse_translation_request(user)
    if parsed is not None:
        language, source = parsed
        text = pseudo_localize(source, language)
    else:
        first_line = user.strip().splitlines()[0] if user.strip() else ""
        text = f"[offline] {first_line[:80]}"
    return Reply(
        text=text,
        input_tokens=estimate_tokens("".join(text_of(m["content"]) for m in messages)),
        output_tokens=estimate_tokens(text),
        truncated=False,
    )
