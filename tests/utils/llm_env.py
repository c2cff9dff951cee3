"""Shared fixture for the utils.llm tests: a clean, key-free, .env-free configuration with fast retries."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from utils import config, llm, ratelimit

LLM_VARS = (
    "LLM_PROVIDER", "LLM_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN", "LLM_MAX_CONCURRENCY", "LLM_RPM", "LLM_TPM", "LLM_TIMEOUT", "LLM_MAX_RETRIES",
    "LLM_RETRY_BASE", "LLM_RETRY_MAX_WAIT", "LLM_DOTENV",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No real key or .env reaches a test, no state leaks between tests, and retry waits are tiny."""
    for name in LLM_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_DOTENV", "")
    monkeypatch.setenv("LLM_RETRY_BASE", "0.001")
    monkeypatch.setenv("LLM_RETRY_MAX_WAIT", "0.05")
    monkeypatch.setattr(config, "_overrides", {})
    monkeypatch.setattr(config, "_notified", False)
    monkeypatch.setattr(ratelimit, "_limiters", {})
    monkeypatch.setattr(llm, "_usage", {})
    config._dotenv.cache_clear()
    yield monkeypatch
    config._dotenv.cache_clear()
