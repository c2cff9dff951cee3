"""Where utils.llm settings come from: configure() overrides, then the environment, then a `.env` file.

The `.env` file is read once per process and never overrides a variable set in the real environment.
LLM_DOTENV (real environment only) points at another file, or disables `.env` when set to an empty string.
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from dotenv import dotenv_values, find_dotenv

from utils.llm_errors import LLMConfigError

log = logging.getLogger("utils.llm")

PROVIDERS = ("openai", "anthropic", "offline")
# Current, non-deprecated models of the installed SDKs (gpt-4o-mini and claude-sonnet-4-5 are being retired).
DEFAULT_MODELS = {"openai": "gpt-5.4-mini", "anthropic": "claude-sonnet-5-5", "offline": "offline"}
KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
URL_VARS = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}

_overrides: dict[str, object] = {}
_notified = False

T = TypeVar("T", int, float)


@dataclass(frozen=True)
class Settings:
    """Everything one call needs to know; `api_key` is kept out of repr so it cannot reach a log line."""

    provider: str
    model: str
    api_key: str | None = field(repr=False)
    base_url: str | None
    max_concurrency: int
    rpm: int | None
    tpm: int | None
    timeout: float
    max_retries: int
    retry_base: float
    retry_max_wait: float


def configure(
    *,
    provider: str | None = None,
    model: str | None = None,
    max_concurrency: int | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    timeout: float | None = None,
) -> None:
    """Override settings for the rest of the process (a CLI flag beats the environment); None leaves one as is."""
    if provider is not None:
        _check_provider(provider, "configure(provider=...)")
    given = dict(provider=provider, model=model, max_concurrency=max_concurrency, rpm=rpm, tpm=tpm, timeout=timeout)
    _overrides.update({name: value for name, value in given.items() if value is not None})


def env(name: str) -> str | None:
    """A variable from the real environment, else from `.env`; empty counts as unset."""
    return os.environ.get(name) or _dotenv().get(name) or None


@functools.cache
def _dotenv() -> dict[str, str | None]:
    path = os.environ.get("LLM_DOTENV")
    if path is None:
        path = find_dotenv(usecwd=True)
    return dotenv_values(path) if path else {}


def resolve_provider(provider: str | None = None) -> str:
    """The provider a call would use: argument, configure(), LLM_PROVIDER, else the first one with credentials."""
    named = (
        (provider, "the provider argument"),
        (_overrides.get("provider"), "configure(provider=...)"),
        (env("LLM_PROVIDER"), "LLM_PROVIDER"),
    )
    for chosen, source in named:
        if chosen:
            return _check_provider(str(chosen), source)
    if env("OPENAI_API_KEY") or env("OPENAI_BASE_URL"):
        chosen, why = "openai", "OPENAI_API_KEY or OPENAI_BASE_URL is set"
    elif env("ANTHROPIC_API_KEY"):
        chosen, why = "anthropic", "ANTHROPIC_API_KEY is set"
    else:
        chosen, why = "offline", "no OPENAI_API_KEY, OPENAI_BASE_URL or ANTHROPIC_API_KEY is set; answers are pseudo-localized"
    _notify_once(f"LLM provider: {chosen} ({why}; set LLM_PROVIDER to choose)")
    return chosen


def _notify_once(message: str) -> None:
    global _notified
    if not _notified:
        _notified = True
        log.warning(message)


def _check_provider(name: str, source: str) -> str:
    if name not in PROVIDERS:
        raise LLMConfigError(f"unknown LLM provider {name!r} from {source}: use one of {', '.join(PROVIDERS)}")
    return name


def settings(provider: str | None = None, model: str | None = None) -> Settings:
    """Resolve every setting for one call (arguments > configure() > environment > .env > defaults)."""
    name = resolve_provider(provider)
    return Settings(
        provider=name,
        model=model or str(_overrides.get("model") or env("LLM_MODEL") or DEFAULT_MODELS[name]),
        api_key=env(KEY_VARS[name]) if name in KEY_VARS else None,
        base_url=env(URL_VARS[name]) if name in URL_VARS else None,
        max_concurrency=_number("max_concurrency", "LLM_MAX_CONCURRENCY", int, 16, minimum=1),
        rpm=_optional("rpm", "LLM_RPM"),
        tpm=_optional("tpm", "LLM_TPM"),
        timeout=_number("timeout", "LLM_TIMEOUT", float, 600.0, minimum=0.001),
        max_retries=_number("", "LLM_MAX_RETRIES", int, 4, minimum=0),
        retry_base=_number("", "LLM_RETRY_BASE", float, 1.0, minimum=0.0),
        retry_max_wait=_number("", "LLM_RETRY_MAX_WAIT", float, 60.0, minimum=0.0),
    )


def _optional(override: str, var: str) -> int | None:
    """A per-minute limit; unset or 0 means no limit."""
    value = _number(override, var, int, 0, minimum=0)
    return value or None


def _number(override: str, var: str, kind: Callable[[str], T], default: T, *, minimum: T) -> T:
    raw = _overrides.get(override) if override else None
    source = f"configure({override}=...)" if raw is not None else var
    if raw is None:
        raw = env(var)
    if raw is None:
        return default
    try:
        value = kind(str(raw))
    except ValueError:
        raise LLMConfigError(f"{source} must be a number, got {raw!r}") from None
    if value < minimum:
        raise LLMConfigError(f"{source} must be at least {minimum}, got {raw!r}")
    return value
