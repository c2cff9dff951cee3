"""utils.tokens against the real o200k tokenizer (tiktoken), on text nobody on the project wrote."""

from __future__ import annotations

import pytest

from benchmarks.token_estimate import LOCALES, catalogue_texts, measure, o200k, readmes
from utils.tokens import estimate_tokens


@pytest.fixture(scope="module")
def count() -> object:
    return o200k()


@pytest.mark.parametrize("language", ["zh_CN", "ja", "ko", "ru", "ar", "hi", "de"])
def test_each_script_is_estimated_within_25_percent(count: object, language: str) -> None:
    texts = catalogue_texts(language, files=20)  # fewer lets one package's jargon decide (measured: ru 1.10 at 20)
    if not texts:
        pytest.skip(f"no gettext catalogues for {language} in {LOCALES} (install any Debian package's translations)")
    result = measure(texts, count)  # type: ignore[arg-type]
    assert 0.75 <= result["estimate / o200k"] <= 1.25, result
    if language in ("zh_CN", "ja", "ko"):
        assert result["chars/4 / o200k"] < 0.55  # the undercount this estimate replaces, on the same text


def test_english_markdown_is_estimated_within_10_percent(count: object) -> None:
    result = measure(readmes(), count)  # type: ignore[arg-type]
    assert 0.95 <= result["estimate / o200k"] <= 1.1, result


def test_small_cases() -> None:
    assert [estimate_tokens(text) for text in ("", "a", " ", "ab cd")] == [0, 1, 1, 2]
    assert estimate_tokens("日本語のテキスト") > estimate_tokens("Japanese") * 2  # dense scripts cost more per char
    mixed = "See `pip install` 以获取更多信息。"
    assert estimate_tokens(mixed) >= estimate_tokens("See `pip install` ") + estimate_tokens("以获取更多信息。") - 1
