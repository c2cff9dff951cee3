from __future__ import annotations

from pathlib import Path

import pytest

from apps.translate.jobs import output_path
from apps.translate.languages import DEFAULT_LANGUAGES, LANGUAGES, UnknownLanguageError, find_language, parse_languages


def test_the_eight_defaults() -> None:
    assert [lang.name for lang in DEFAULT_LANGUAGES] == [
        "Chinese", "Spanish", "Japanese", "German", "Russian", "Portuguese", "French", "Korean",
    ]  # fmt: skip


def test_names_and_codes_in_any_case() -> None:
    assert parse_languages("fr, German,JA,pt-br,zh_tw") == [
        find_language("French"), find_language("de"), find_language("Japanese"),
        find_language("Brazilian Portuguese"), find_language("Traditional Chinese"),
    ]  # fmt: skip


def test_duplicates_and_empty_items_are_dropped() -> None:
    assert parse_languages("fr,French,,fr") == [find_language("fr")]


@pytest.mark.parametrize("spec", ["../x", "fr,../../etc", "Klingon", "/tmp", ",", ""])
def test_unknown_words_are_rejected(spec: str) -> None:
    with pytest.raises(UnknownLanguageError):
        parse_languages(spec)


def test_every_output_path_stays_directly_in_the_output_folder(tmp_path: Path) -> None:
    for lang in LANGUAGES:
        path = output_path(tmp_path / "out", Path("docs/guide.md"), lang)
        assert path.parent == tmp_path / "out" and path.name == f"guide.{lang.code}.md"
