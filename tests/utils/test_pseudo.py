"""Pseudo-localization must change prose and nothing a translator may not touch."""

import random
import re

import pytest

from tests.translate.independent import differences
from utils.markdown import inline_spans, parse_with_spans
from utils.pseudo import language_tag, parse_translation_request, pseudo_localize

SAMPLE = """\
---
title: Getting started
tags: [intro, guide]
---

# Getting started with *PocketFlow* ##

Welcome to the **guide**. See [the docs](https://example.com/docs?a=1&b=2 "Docs title") and
![a diagram](images/flow.png) or visit <https://pocketflow.dev> and https://github.com/org/repo.
Use `pip install pocketflow` then `{name}`; hello {user_name}, you have %(count)d items, %s and {0}.
Read [the reference][ref-one] or just [ref-one]. Footnote[^note]. Fish &amp; chips :smile:
A [link that wraps
lines](https://example.com/wrapped) and <span class="hint">inline html</span>.

[ref-one]: https://example.com/reference "Reference title"
[^note]: The footnote text.

- Item one
  - Nested *item* with [link](http://example.com/path_(with)_parens)
    continued line
  1. Ordered inside
- [ ] open task
- [x] done task

1) First
2) Second

> A quote with `code` and
> a second line.
>
> ```python
> def quoted(): return "text"
> ```

````markdown
# Not a heading
```python
print("hello")
```
- not a list [not a link](nowhere)
````

~~~
~~~ info string: not a closing fence
~~~

| Column A | Column `B` | Link |
|:---------|:----------:|-----:|
| apple    | **banana** | [site](https://example.com/t) |
| cherry   | date       | <br> |

<div align="center">
  <img src="logo.png" alt="Logo">
  Some HTML text
</div>

<!-- a multi-line
comment about things -->

<pre>
preformatted words
</pre>

    indented code block
    second code line

Setext heading
==============

Another heading
---

***

Line with hard break  
next line. Mail john.doe@example.com or www.example.org today.
"""

VERBATIM_LINES = [
    # front matter, code (fenced, nested fences, indented), definitions, HTML blocks, breaks, alignment row
    "---", "title: Getting started", "tags: [intro, guide]",
    "[ref-one]: https://example.com/reference \"Reference title\"",
    "> ```python", "> def quoted(): return \"text\"", "> ```",
    "````markdown", "# Not a heading", "```python", "print(\"hello\")", "```",
    "- not a list [not a link](nowhere)", "````",
    "~~~", "~~~ info string: not a closing fence",
    "|:---------|:----------:|-----:|",
    "<!-- a multi-line", "comment about things -->",
    "<pre>", "preformatted words", "</pre>",
    '<div align="center">', "  Some HTML text",
    "    indented code block", "    second code line",
    "==============", "***",
]  # fmt: skip

PROTECTED_SPANS = [
    "](https://example.com/docs?a=1&b=2 \"Docs title\")",
    "](images/flow.png)",
    "<https://pocketflow.dev>",
    "https://github.com/org/repo",
    "`pip install pocketflow`",
    "`{name}`",
    "][ref-one]",
    "[^note]",
    "&amp;",
    "](https://example.com/wrapped)",
    '<span class="hint">',
    "</span>",
    "](http://example.com/path_(with)_parens)",
    "`code`",
    "](https://example.com/t)",
    "<br>",
    '<img src="logo.png" alt="Logo">',
    "john.doe@example.com",
    "www.example.org",
]

_UNACCENT = str.maketrans(
    "áƀçďéĝĥíĵķľñóŕšţúŵýžÁƁÇĎÉĜĤÍĴĶĽÑÓŔŠŢÚŴÝŽ",
    "abcdeghijklnorstuwyzABCDEGHIJKLNORSTUWYZ",
)
_MARKER = re.compile(r" \[[a-z0-9-]+·+\]")


def _restore(localized: str) -> str:
    """Undo pseudo-localization: drop markers, map accented letters back."""
    return _MARKER.sub("", localized).translate(_UNACCENT)


@pytest.fixture(scope="module")
def french() -> str:
    return pseudo_localize(SAMPLE, "French")


def test_only_letters_change_markers_are_added_and_a_shortcut_reference_gets_its_label(french: str) -> None:
    assert _restore(french) == SAMPLE.replace("just [ref-one].", "just [ref-one][ref-one].")


def test_an_independent_parse_finds_the_same_structure(french: str) -> None:
    assert differences(SAMPLE, french) == []


def test_line_structure_is_kept(french: str) -> None:
    src, out = SAMPLE.split("\n"), french.split("\n")
    assert len(out) == len(src)
    blank = [i for i, line in enumerate(src) if not line.strip()]
    assert [i for i, line in enumerate(out) if not line.strip()] == blank


@pytest.mark.parametrize("line", VERBATIM_LINES)
def test_verbatim_lines_are_byte_identical(french: str, line: str) -> None:
    index = SAMPLE.split("\n").index(line)
    assert french.split("\n")[index] == line


@pytest.mark.parametrize("span", PROTECTED_SPANS)
def test_protected_spans_survive(french: str, span: str) -> None:
    assert SAMPLE.count(span) <= french.count(span), span


def test_prose_is_localized(french: str) -> None:
    assert "Ŵéľçómé ţó ţĥé **ĝúíďé**" in french
    assert "[ţĥé ďóçš](https://example.com/docs" in french
    assert "![á ďíáĝŕám](images/flow.png)" in french
    assert "| áppľé    | **ƀáñáñá** |" in french  # table cells
    assert "# Ĝéţţíñĝ šţáŕţéď ŵíţĥ *PóçķéţFľóŵ* [fr" in french and french.split("\n")[5].endswith("] ##")
    assert "Ľíñé ŵíţĥ ĥáŕď ƀŕéáķ  \n" in french  # hard break kept: marker goes at the end of the block


def test_one_marker_per_prose_block(french: str) -> None:
    lines = french.split("\n")
    marked = [i for i, line in enumerate(lines) if _MARKER.search(line)]
    paragraph_end = lines.index("[ref-one]: https://example.com/reference \"Reference title\"") - 2
    assert paragraph_end in marked  # the 6-line paragraph gets one marker, on its last line
    assert not any(i in marked for i in range(7, paragraph_end))
    assert all(not _MARKER.search(line) for line in lines if line.startswith("|"))  # no extra table cells


def test_collapsed_and_shortcut_references_keep_resolving() -> None:
    text = "See [Node.js website][] and [Rust Style Editions].\n\n[node.js website]: /n\n[rust style editions]: /r\n"
    out = pseudo_localize(text, "fr")
    assert "[Ñóďé.ĵš ŵéƀšíţé][Node.js website]" in out and "[Ŕúšţ Šţýľé Éďíţíóñš][Rust Style Editions]" in out
    assert differences(text, out) == []


def test_list_items_of_inline_code_and_footnotes() -> None:
    text = "- `x`\n- `y`\n\nNote[^1] with a lone ` backtick.\n\n[^1]: This is the note.\n"
    out = pseudo_localize(text, "fr")
    assert out.startswith("- `x`\n- `y`\n") and "[^1]: Ţĥíš íš ţĥé ñóţé." in out
    assert differences(text, out) == []


def test_text_expands_about_thirty_percent() -> None:
    prose = "The quick brown fox jumps over the lazy dog while the cat watches from the window.\n" * 3
    ratio = len(pseudo_localize(prose, "de")) / len(prose)
    assert 1.2 <= ratio <= 1.4


def test_deterministic_and_language_specific() -> None:
    assert pseudo_localize(SAMPLE, "French") == pseudo_localize(SAMPLE, "French")
    assert pseudo_localize(SAMPLE, "French") != pseudo_localize(SAMPLE, "German")
    assert pseudo_localize("Hello", "Portuguese") != pseudo_localize("Hello", "Polish")
    assert language_tag("French") == language_tag("fr") == "fr"
    assert language_tag("pt-BR") == "pt-br"


def test_crlf_bom_and_edge_cases() -> None:
    assert pseudo_localize("", "fr") == ""
    assert pseudo_localize("\n\n", "fr") == "\n\n"
    out = pseudo_localize("\ufeff# Title\r\n\r\nSome text  \r\n", "fr")
    assert out.startswith("\ufeff") and out.count("\r\n") == 3
    assert _restore(out) == "\ufeff# Title\r\n\r\nSome text  \r\n"
    code_only = "```\nnot prose\n```\n"
    assert pseudo_localize(code_only, "fr") == code_only
    math = "$$\n\\int_0^1 x\\,dx\n$$\n\nInline $a^2$ math.\n"
    assert pseudo_localize(math, "fr").startswith("$$\n\\int_0^1 x\\,dx\n$$\n\nÍñľíñé $a^2$ ")


def test_multiline_html_tag_and_unclosed_front_matter() -> None:
    text = '<img\n  src="a.png"\n  alt="A">\n\n---\nnot front matter\n'
    out = pseudo_localize(text, "fr")
    assert out.startswith('<img\n  src="a.png"\n  alt="A">\n\n---\nñóţ')


def test_parse_translation_request_round_trips() -> None:
    source = "# Title\n\n```\n<document>\n```\n"
    prompt = f"Translate.\nTarget language: German\n\n<document>\n{source}\n</document>\n"
    assert parse_translation_request(prompt) == ("German", source)
    assert parse_translation_request("Target language: fr\n<document>\n\n</document>") == ("fr", "")
    assert parse_translation_request("Target language: fr\n<document>\n</document>") == ("fr", "")


def test_parse_translation_request_prefers_instruction_outside_document() -> None:
    prompt = "<document>\nTarget language: Klingon\n</document>\ntarget language:  Italian \n"
    assert parse_translation_request(prompt) == ("Italian", "Target language: Klingon")


@pytest.mark.parametrize(
    "prompt",
    [
        "hello",
        "Target language: fr\nno document here",
        "<document>\ntext\n</document>",
        "Target language: fr\n<document>\nunterminated",
        "Target language:\n<document>\ntext\n</document>",
    ],
)
def test_parse_translation_request_rejects(prompt: str) -> None:
    assert parse_translation_request(prompt) is None


def test_random_markdown_keeps_its_structure() -> None:
    pieces = [
        "word", "Hello", " ", "\n", "\n\n", "`", "``", "```", "~~~", "[", "]", "(", ")", "<", ">", "<b>", "</b>",
        "<!--", "-->", "https://x.io/a_b", "{x}", "%s", "#", "# ", "- ", "1. ", "> ", "|", "---", "***", "    ",
        "\t", "*", "_", "![", "](u)", "&amp;", ":a:", "\\", "\r\n", "[^1]", "[r]: /u", "+++", "<pre>", "</pre>",
        "$", "$$", "[r]", "[r][]", "[^1]: ", "www.a.io", "a@b.io", "~~",
    ]  # fmt: skip
    rng = random.Random(0)
    for _ in range(1500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        out = pseudo_localize(text, "fr")
        assert out.count("\n") == text.count("\n"), text
        assert differences(text, out) == [], text


def test_equal_contents_are_recorded_once_so_long_tables_stay_linear() -> None:
    text = "| a |\n|---|\n" + "| b |\n" * 50
    tokens, env = parse_with_spans(text)
    cells = [token for token in tokens if token.type == "inline" and token.content == "b"]
    assert len(cells) == 50 and all(inline_spans(env, cell).prose == [(0, 1)] for cell in cells)
    assert pseudo_localize(text, "fr") == "| á |\n|---|\n" + "| ƀ |\n" * 50
