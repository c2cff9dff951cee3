"""Typed errors of utils.llm: each message says what to fix, and none ever contains a secret."""


class LLMError(Exception):
    """Base class of every error raised by utils.llm."""


class LLMConfigError(LLMError, ValueError):
    """A setting (argument, environment variable or .env entry) has an unusable value."""


class LLMAuthError(LLMError):
    """The provider rejected or lacks the credentials; `variable` names the setting to fix."""

    def __init__(self, message: str, *, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


class LLMModelNotFoundError(LLMError):
    """The provider does not serve `model`."""

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class LLMBadRequestError(LLMError):
    """The provider refused the request itself (HTTP 4xx other than auth/not found); retrying cannot help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class LLMTruncatedError(LLMError):
    """The answer hit the output token limit; `partial_text` holds what came back, the tokens what it cost."""

    def __init__(self, message: str, *, partial_text: str, input_tokens: int = 0, output_tokens: int = 0) -> None:
        super().__init__(message)
        self.partial_text = partial_text
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


class LLMConnectionError(LLMError):
    """The server at `url` timed out or lost the connection on every attempt; `refused` when no attempt even
    connected (the server is down or the URL is wrong, so every other request would fail the same way)."""

    def __init__(self, message: str, *, url: str, refused: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.refused = refused


class LLMRateLimitError(LLMError):
    """The provider still answered 429 when the retries ran out."""


class LLMServerError(LLMError):
    """The provider kept failing (HTTP 408/409/5xx) until the retries ran out."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class LLMResponseError(LLMError):
    """The server answered 200 with something that is not a usable answer (an HTML page, no choices, no text);
    the tokens are what such answers were billed, as their usage said."""

    def __init__(self, message: str, *, input_tokens: int = 0, output_tokens: int = 0) -> None:
        super().__init__(message)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


class LLMQuotaError(LLMError):
    """The account has no quota or credit left (OpenAI insufficient_quota, Anthropic credit/billing): fatal."""
