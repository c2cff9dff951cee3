from __future__ import annotations

import pytest

from apps.translate.chunking import split_markdown
from apps.translate.validate import check_translation, unwrap
from tests.translate.conftest import FIXTURE
from utils.pseudo import pseudo_localize

SOURCE = """## Install the `pf` tool

Run `pip install pf` and read the [guide](https://example.com/guide?a=1) or <https://example.com/x>.
See ![logo](img/logo.png), the [docs][ref] and <kbd>Ctrl</kbd>.

- first item
- second item

| a | b |
|---|---|
| 1 | 2 |"""

GOOD = """## Installez l'outil `pf`

Lancez `pip install pf` et lisez le [guide](https://example.com/guide?a=1) ou <https://example.com/x>.
Voir ![logo](img/logo.png), la [doc][ref] et <kbd>Ctrl</kbd>.

- premier élément
- second élément

| a | b |
|---|---|
| 1 | 2 |"""


def check(translation: str, source: str = SOURCE, code: str = "fr") -> list[str]:
    return check_translation(source, translation, language_code=code)


def test_a_faithful_translation_passes() -> None:
    assert check(GOOD) == []


def test_every_pseudo_localized_chunk_of_the_fixture_passes() -> None:
    for seg in split_markdown(FIXTURE.read_text(encoding="utf-8"), max_tokens=200, front_matter_keys={"title"}):
        if seg.translate:
            for language in ("French", "Japanese"):
                code = "fr" if language == "French" else "ja"
                assert check(pseudo_localize(seg.body, language), seg.body, code) == [], seg.body


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (GOOD.replace("`pip install pf`", "pip install pf"), "inline code"),
        (GOOD.replace("`pf`", "`PF`"), "inline code"),
        (GOOD.replace("https://example.com/guide?a=1", "https://example.fr/guide?a=1"), "link targets"),
        (GOOD.replace("img/logo.png", "img/logo-fr.png"), "link targets"),
        (GOOD.replace("[doc][ref]", "[doc][réf]"), "link targets"),
        (GOOD.replace("<https://example.com/x>", "https://example.com/y"), "link targets"),
        (GOOD.replace("<kbd>Ctrl</kbd>", "Ctrl"), "HTML tags"),
        (GOOD.replace("## Installez", "Installez"), "headings"),
        (GOOD.replace("- second élément\n", ""), "list items"),
        (GOOD.replace("| 1 | 2 |", ""), "table rows"),
        ("<document>\n" + GOOD + "\n</document>", "prompt markup"),
        ("Target language: French\n" + GOOD, "prompt markup"),
        (GOOD + "\n\n```\nextra\n```", "code fence"),
        ("", "empty"),
        ("   \n", "empty"),
        (GOOD[:60], "truncated"),
    ],
)
def test_each_kind_of_damage_is_named(broken: str, expected: str) -> None:
    problems = check(broken)
    assert problems and any(expected in problem for problem in problems), problems


def test_a_dropped_code_block_is_caught() -> None:
    source = "Run this:\n\n```bash\nmake test\n```\n\nThen this."
    assert check("Lancez ceci :\n\nPuis cela.", source) == ["code fence lines changed from 2 to 0"]


def test_dense_scripts_may_be_much_shorter() -> None:
    source = "This sentence is fairly long, written in English, and a good translation into Chinese is short." * 2
    assert check("这句话相当长，用英文写成，好的中文翻译很短。" * 2, source, "zh") == []
    assert check("Kurz." * 2, source, "de") != []


def test_single_line_values_must_stay_single_line() -> None:
    assert check_translation("Title", "Titre\nsuite", language_code="fr", single_line=True) == [
        "the answer must be a single line"
    ]


def test_a_fence_wrapped_answer_is_unwrapped_only_when_the_source_has_no_fence() -> None:
    assert unwrap("```markdown\n# Titre\n\nTexte\n```\n", "# Title\n\nText") == "# Titre\n\nTexte"
    wrapped = "```bash\nmake\n```"
    assert unwrap(wrapped, "```bash\nmake\n```") == wrapped
