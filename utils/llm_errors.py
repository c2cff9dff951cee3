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
    """The answer hit the output token limit; `partial_text` holds what came back."""

    def __init__(self, message: str, *, partial_text: str) -> None:
        super().__init__(message)
        self.partial_text = partial_text


class LLMConnectionError(LLMError):
    """The server at `url` could not be reached (or timed out) on every attempt."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class LLMRateLimitError(LLMError):
    """The provider still answered 429 when the retries ran out."""


class LLMServerError(LLMError):
    """The provider kept failing (HTTP 408/409/5xx) until the retries ran out."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
