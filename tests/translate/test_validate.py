from __future__ import annotations

import pytest

from apps.translate.chunking import split_markdown
from apps.translate.validate import check_translation, strip_definitions, unwrap
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
    return check_translation(source, translation, language_code=code, definitions="[ref]: https://example.com/r")


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
        (GOOD.replace("https://example.com/guide?a=1", "https://example.fr/guide?a=1"), "targets"),
        (GOOD.replace("img/logo.png", "img/logo-fr.png"), "targets"),
        (GOOD.replace("[doc][ref]", "[doc][réf]"), "targets"),
        (GOOD.replace("<https://example.com/x>", "https://example.com/y"), "targets"),
        (GOOD.replace("<kbd>Ctrl</kbd>", "Ctrl"), "inline HTML"),
        (GOOD.replace("## Installez", "Installez"), "block structure"),
        (GOOD.replace("## Installez", "### Installez"), "heading level 2"),
        (GOOD.replace("- second élément\n", ""), "list item"),
        (GOOD.replace("- second élément\n", "  - second élément\n"), "block structure"),
        (GOOD.replace("| 1 | 2 |", ""), "2 rows x 2 columns"),
        (GOOD.replace("|---|---|", "|---|"), "block structure"),
        ("<document>\n" + GOOD + "\n</document>", "prompt markup"),
        ("Target language: French\n" + GOOD, "prompt markup"),
        (GOOD + "\n\n```\nextra\n```", "added after"),
        ("Sure! Here is the translation:\n\n" + GOOD, "chatter"),
        (GOOD + "\n\nNote: I kept the code as is.", "added after"),
        ("<think>\nLet me think\n" + GOOD, "reasoning"),
        (SOURCE, "not translated"),
        ("\n\n".join(p for p in GOOD.split("\n\n") if not p.startswith("Lancez")), "missing"),
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
    (problem,) = check("Lancez ceci :\n\nPuis cela.", source)
    assert "missing from the answer (1 code block: 'bashmake test\\n')" in problem


def test_a_translated_indented_code_block_is_caught() -> None:
    source = "Install:\n\n    $ ./install --prefix /usr/local\n"
    assert check("Installez :\n\n    $ ./installer --préfixe /usr/local\n", source)
    assert check("Installez :\n\n    $ ./install --prefix /usr/local\n", source) == []


def test_a_translated_latex_environment_is_caught() -> None:
    source = "Equations:\n\n\\begin{equation}\n  x = \\frac{a}{b}\n\\end{equation}\n"
    (problem,) = check("Équations :\n\n\\begin{equation}\n  x = \\fŕáç{a}{b}\n\\end{equation}\n", source)
    assert "LaTeX math environment" in problem and "\\\\frac" in problem
    assert check("Équations :\n\n\\begin{equation}\n  x = \\frac{a}{b}\n\\end{equation}\n", source) == []


def test_reference_labels_must_still_resolve_to_the_same_definition() -> None:
    source = "See [Node.js website][] and [Rust Style Editions]."
    definitions = "[node.js website]: https://nodejs.org\n[rust style editions]: https://r.example"
    good = "Voir [site de Node.js][Node.js website] et [Éditions][Rust Style Editions]."
    assert check_translation(source, good, language_code="fr", definitions=definitions) == []
    for bad in ("Voir [site de Node.js][] et [Éditions][Rust Style Editions].",
                "Voir [site de Node.js][Node.js website] et [Éditions de style Rust]."):  # fmt: skip
        problems = check_translation(source, bad, language_code="fr", definitions=definitions)
        assert any("targets" in p for p in problems), problems


def test_footnotes_are_not_link_definitions_and_a_lone_backtick_stays_local() -> None:
    source = "Text with a note[^1] and a lone ` backtick.\n\n[^1]: This is the footnote.\n\nNext `code` here."
    good = "Texte avec une note[^1] et un ` isolé.\n\n[^1]: Ceci est la note.\n\nEnsuite `code` ici."
    assert check(good, source) == []
    assert any("footnote" in p for p in check(good.replace("[^1] et", "et"), source))


def test_list_items_of_inline_code_pass() -> None:
    source = "Options:\n\n- `x`\n- `y`\n\nSetext\n---\n"
    assert check(pseudo_localize(source, "French"), source) == []


def test_dense_scripts_may_be_much_shorter() -> None:
    source = "This sentence is fairly long, written in English, and a good translation into Chinese is short." * 2
    assert check("这句话相当长，用英文写成，好的中文翻译很短。" * 2, source, "zh") == []
    assert check("Kurz." * 2, source, "de") != []


def test_single_line_values_must_stay_single_line() -> None:
    assert check_translation("Title", "Titre\nsuite", language_code="fr", single_line=True) == [
        "the answer must be a single line"
    ]


def test_a_leading_think_block_and_a_wrapping_fence_are_removed_not_errors() -> None:
    assert unwrap("<think>\nHmm.\n</think>\n\n# Titre", "# Title") == "# Titre"
    assert unwrap("```markdown\n# Titre\n\nTexte\n```\n", "# Title\n\nText") == "# Titre\n\nTexte"
    wrapped = "```bash\nmake\n```"
    assert unwrap(wrapped, "```bash\nmake\n```") == wrapped


def test_trailing_definitions_are_stripped_from_an_answer() -> None:
    assert strip_definitions("Voir [a][b].\n\n[b]: https://x", "[B]: <https://x>") == "Voir [a][b]."
    assert strip_definitions("Voir [a][b].\n\n[b]: https://x") == "Voir [a][b]."
    # the chunk's own empty footnote definition stays; only the one sent along goes
    assert strip_definitions("Note[^1].\n\n[^1]:\n\n[^1]:", "[^1]:") == "Note[^1].\n\n[^1]:"
    assert strip_definitions("# T\n\n- a\n- b") == "# T\n\n- a\n- b"
