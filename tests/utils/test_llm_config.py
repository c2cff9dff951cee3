"""utils.llm configuration (arguments > configure() > environment > .env) and the offline provider."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.utils.llm_env import clean_llm_env  # noqa: F401  (autouse fixture)
from utils import config
from utils.llm import (
    LLMConfigError,
    call_llm_async,
    complete_async,
    configure,
    reset_usage,
    resolve_provider,
    usage_totals,
)
from utils.pseudo import pseudo_localize


def use_dotenv(monkeypatch: pytest.MonkeyPatch, path: Path, text: str) -> None:
    path.write_text(text)
    monkeypatch.setenv("LLM_DOTENV", str(path))
    config._dotenv.cache_clear()


def test_no_credentials_means_offline_with_one_notice(caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_provider() == "offline"
    assert resolve_provider() == "offline"
    notices = [r for r in caplog.records if r.name == "utils.llm" and "LLM provider" in r.getMessage()]
    assert len(notices) == 1
    assert "offline" in notices[0].getMessage() and "LLM_PROVIDER" in notices[0].getMessage()


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"OPENAI_API_KEY": "k1", "ANTHROPIC_API_KEY": "k2"}, "openai"),
        ({"OPENAI_BASE_URL": "http://localhost:11434/v1"}, "openai"),
        ({"ANTHROPIC_API_KEY": "k2"}, "anthropic"),
        ({"ANTHROPIC_API_KEY": "k2", "LLM_PROVIDER": "offline"}, "offline"),
    ],
)
def test_auto_detection(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert resolve_provider() == expected


def test_precedence_argument_configure_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "anthropic")
    assert resolve_provider() == "anthropic"
    configure(provider="openai")
    assert resolve_provider() == "openai"
    assert resolve_provider("offline") == "offline"


def test_dotenv_fills_gaps_but_never_overrides_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_dotenv(monkeypatch, tmp_path / ".env", "LLM_PROVIDER=anthropic\nANTHROPIC_API_KEY=from-dotenv\nLLM_RPM=30\n")
    monkeypatch.setenv("LLM_RPM", "90")
    resolved = config.settings()
    assert (resolved.provider, resolved.api_key, resolved.rpm) == ("anthropic", "from-dotenv", 90)
    assert "from-dotenv" not in repr(resolved)


def test_dotenv_is_found_from_the_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LLM_MODEL=from-cwd\n")
    monkeypatch.delenv("LLM_DOTENV")
    monkeypatch.chdir(tmp_path)
    config._dotenv.cache_clear()
    assert config.settings("openai").model == "from-cwd"


def test_defaults_and_overrides() -> None:
    assert config.settings("openai").model == "gpt-5.4-mini"
    assert config.settings("anthropic").model == "claude-sonnet-5-5"
    default = config.settings("offline")
    assert (default.max_concurrency, default.rpm, default.tpm, default.timeout, default.max_retries) == (
        config.DEFAULT_MAX_CONCURRENCY, None, None, 120.0, 4,
    )  # fmt: skip
    configure(model="m", max_concurrency=3, rpm=60, tpm=1000, timeout=5)
    assert config.settings("offline", "explicit").model == "explicit"
    overridden = config.settings("offline")
    assert (overridden.model, overridden.max_concurrency, overridden.rpm, overridden.tpm, overridden.timeout) == (
        "m", 3, 60, 1000, 5.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LLM_PROVIDER", "gemini", "unknown LLM provider 'gemini'"),
        ("LLM_MAX_CONCURRENCY", "many", "LLM_MAX_CONCURRENCY must be a number"),
        ("LLM_MAX_CONCURRENCY", "0", "LLM_MAX_CONCURRENCY must be at least 1"),
        ("LLM_TIMEOUT", "-1", "LLM_TIMEOUT must be at least"),
        ("LLM_TIMEOUT", "0", "LLM_TIMEOUT must be at least"),
        ("LLM_TIMEOUT", "nan", "LLM_TIMEOUT must be a finite number"),
        ("LLM_TIMEOUT", "inf", "LLM_TIMEOUT must be a finite number"),
        ("LLM_RETRY_MAX_WAIT", "-inf", "LLM_RETRY_MAX_WAIT must be a finite number"),
    ],
)
def test_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(LLMConfigError, match=message):
        config.settings()


def test_unknown_provider_argument_is_blamed_on_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    with pytest.raises(LLMConfigError, match="'gemini' from the provider argument"):
        resolve_provider("gemini")


def test_configure_rejects_unknown_provider() -> None:
    with pytest.raises(LLMConfigError, match="configure"):
        configure(provider="nope")


async def test_offline_translation_is_pseudo_localized() -> None:
    source = "# Title\n\nSee [the docs](https://example.com) and `code` for {name}.\n\n```py\nx = 1\n```"
    prompt = f"Translate the document.\nTarget language: German\n<document>\n{source}\n</document>\n"
    answer = await call_llm_async(prompt, system="You are a translator.")
    assert answer == pseudo_localize(source, "German")
    assert answer != source


async def test_offline_is_deterministic_and_counts_usage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    first = await complete_async([{"role": "system", "content": "s"}, {"role": "user", "content": "Hello\nthere"}])
    second = await complete_async([{"role": "system", "content": "s"}, {"role": "user", "content": "Hello\nthere"}])
    assert first.text == second.text == "[offline] Hello"
    assert (first.provider, first.model, first.retries) == ("offline", "offline", 0)
    totals = usage_totals()[("offline", "offline")]
    assert totals.requests == 2 and totals.output_tokens == 2 * first.output_tokens > 0
    reset_usage()
    assert usage_totals() == {}
