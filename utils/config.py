"""Where utils.llm settings come from: configure() overrides, then the environment, then a `.env` file.

The `.env` file is read once per process and never overrides a variable set in the real environment.
LLM_DOTENV (real environment only) points at another file, or disables `.env` when set to an empty string.
"""
from __future__ import annotations

import functools
import importlib.resources
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from dotenv import dotenv_values, find_dotenv

from utils.llm_errors import LLMConfigError

log = logging.getLogger("utils.llm")

PROVIDERS = ("openai", "anthropic", "offline")
# Current, non-deprecated models of the installed SDKs (gpt-4o-mini and claude-sonnet-4-5 are being retired).
DEFAULT_MODELS = {"openai": "gpt-5.4-mini", "anthropic": "claude-sonnet-5-5", "offline": "offline"}
KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
URL_VARS = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}

# Safe to set high: utils.ratelimit paces to the limits the provider announces, after a first request goes alone.
DEFAULT_MAX_CONCURRENCY = 256

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
    return os.environ.get(name) or _dotenv()[1].get(name) or None


def source(name: str) -> str:
    """Where env(name) comes from, for error messages: `the environment` or the `.env` file's path."""
    return "the environment" if os.environ.get(name) else _dotenv_path()


def _dotenv_path() -> str:
    return _dotenv()[0]


@functools.cache
def _dotenv() -> tuple[str, dict[str, str | None]]:
    """The `.env` file's path and values, logged once (at INFO, shown by the apps' -v): the upward search is silent."""
    path = os.environ.get("LLM_DOTENV")
    if path is not None:
        log.info(f"settings: .env file {path} (LLM_DOTENV)" if path else "settings: no .env file (LLM_DOTENV is empty)")
    else:
        path = find_dotenv(usecwd=True)
        log.info(f"settings: .env file {path} (the nearest one from the working directory upwards)" if path else
                 f"settings: no .env file in {os.getcwd()} or any folder above it")  # fmt: skip
    return path, (dotenv_values(path) if path else {})


def resolve_provider(provider: str | None = None) -> str:
    """The provider a call would use: argument, configure(), LLM_PROVIDER, else the first one with credentials."""
    return _provider_and_source(provider)[0]


def _provider_and_source(provider: str | None) -> tuple[str, str]:
    named = (
        (provider, "the provider argument"),
        (_overrides.get("provider"), "configure(provider=...)"),
        (env("LLM_PROVIDER"), f"LLM_PROVIDER in {source('LLM_PROVIDER')}"),
    )
    for chosen, where in named:
        if chosen:
            return _check_provider(str(chosen), where), where
    if env("OPENAI_API_KEY") or env("OPENAI_BASE_URL"):
        chosen, why = "openai", "OPENAI_API_KEY or OPENAI_BASE_URL is set"
    elif env("ANTHROPIC_API_KEY"):
        chosen, why = "anthropic", "ANTHROPIC_API_KEY is set"
    else:
        chosen = "offline"
        why = "no OPENAI_API_KEY, OPENAI_BASE_URL or ANTHROPIC_API_KEY is set; answers are pseudo-localized"
    _notify_once(f"LLM provider: {chosen} ({why}; set LLM_PROVIDER to choose)")
    return chosen, f"the automatic choice ({why})"


def _notify_once(message: str) -> None:
    global _notified
    if not _notified:
        _notified = True
        log.warning(message)


def _check_provider(name: str, where: str) -> str:
    if name not in PROVIDERS:
        raise LLMConfigError(f"unknown LLM provider {name!r} from {where}: use one of {', '.join(PROVIDERS)}")
    return name


def settings(provider: str | None = None, model: str | None = None) -> Settings:
    """Resolve every setting for one call (arguments > configure() > environment > .env > defaults)."""
    name = resolve_provider(provider)
    return Settings(
        provider=name,
        model=model or str(_overrides.get("model") or _env_model(name) or DEFAULT_MODELS[name]),
        api_key=env(KEY_VARS[name]) if name in KEY_VARS else None,
        base_url=env(URL_VARS[name]) if name in URL_VARS else None,
        max_concurrency=_number("max_concurrency", "LLM_MAX_CONCURRENCY", int, DEFAULT_MAX_CONCURRENCY, minimum=1),
        rpm=_optional("rpm", "LLM_RPM"),
        tpm=_optional("tpm", "LLM_TPM"),
        timeout=_number("timeout", "LLM_TIMEOUT", float, 120.0, minimum=0.001),  # seconds per whole request
        max_retries=_number("", "LLM_MAX_RETRIES", int, 4, minimum=0),
        retry_base=_number("", "LLM_RETRY_BASE", float, 1.0, minimum=0.0),
        retry_max_wait=_number("", "LLM_RETRY_MAX_WAIT", float, 60.0, minimum=0.0),
    )


def check(provider: str | None = None, model: str | None = None) -> Settings:
    """settings() plus what a first request would find missing, so a run can fail before it starts any work.

    Raises LLMConfigError naming the setting and where it came from (argument, environment or which .env file).
    """
    resolved = settings(provider, model)
    if resolved.provider in KEY_VARS and not resolved.api_key and not resolved.base_url:
        chosen_by = _provider_and_source(provider)[1]
        raise LLMConfigError(
            f"the {resolved.provider} provider (chosen by {chosen_by}) needs {KEY_VARS[resolved.provider]} "
            f"(or {URL_VARS[resolved.provider]} for a local server), and neither is set in the environment or "
            f"{_dotenv_path() or 'a .env file'}: set one, or choose another provider"
        )
    return resolved


def _env_model(provider: str) -> str | None:
    """LLM_MODEL names a model of the provider the environment chooses; another provider picked by an argument or
    configure() (say --provider offline under a .env written for OpenAI) keeps its own default."""
    model = env("LLM_MODEL")
    if model is None or provider == "offline":
        return None
    chosen_by_environment = env("LLM_PROVIDER")
    if chosen_by_environment and chosen_by_environment != provider:
        log.info("settings: LLM_MODEL in %s is for %s, not %s: using %s's default model", source("LLM_MODEL"),
                 chosen_by_environment, provider, provider)  # fmt: skip
        return None
    return model


def _optional(override: str, var: str) -> int | None:
    """A per-minute limit; unset or 0 means no limit."""
    value = _number(override, var, int, 0, minimum=0)
    return value or None


def _number(override: str, var: str, kind: Callable[[str], T], default: T, *, minimum: T) -> T:
    raw = _overrides.get(override) if override else None
    name, where = (f"configure({override}=...)", "") if raw is not None else (var, "")
    if raw is None:
        raw = env(var)
        where = f" (in {source(var)})" if raw is not None else ""
    if raw is None:
        return default
    try:
        value = kind(str(raw))
    except ValueError:
        raise LLMConfigError(f"{name} must be a number, got {raw!r}{where}") from None
    if not math.isfinite(value):
        raise LLMConfigError(f"{name} must be a finite number, got {raw!r}{where}")
    if value < minimum:
        raise LLMConfigError(f"{name} must be at least {minimum}, got {raw!r}{where}")
    return value


def example() -> str:
    """Every setting, documented: utils/env.example, shipped inside the package so an installed copy has it too."""
    return importlib.resources.files("utils").joinpath("env.example").read_text(encoding="utf-8")


if __name__ == "__main__":  # `python -m utils.config > .env` starts a .env from the documented template
    print(example(), end="")
