"""How the loopback server (utils.llm_server) answers a translation request: a faithful translator, and each
way real models have been seen to get a Markdown translation wrong, so tests and benchmarks can show every one
being caught.

All of them start from the offline pseudo-localization (utils.pseudo) and change it through the same Markdown
parser (utils.markdown), so each misbehaviour is exactly the one named and nothing else.
"""
from __future__ import annotations

from collections.abc import Callable

from utils.markdown import InlineSpans, Range, edit_inline, normalize, parse, split_lines
from utils.pseudo import accent, pseudo_localize

__all__ = ["TRANSLATORS", "drop_code_blocks", "translate"]


def _chatty(source: str, language: str) -> str:
    return (
        f"Sure! Here is the {language} translation of your document:\n\n{pseudo_localize(source, language)}\n\n"
        "Let me know if you would like any changes."
    )


def _think(source: str, language: str) -> str:
    return (
        f"<think>\nThe user wants this document in {language}. I must keep the code, the links and the "
        f"Markdown as they are.\n</think>\n\n{pseudo_localize(source, language)}"
    )


def _echo(source: str, language: str) -> str:
    return source


def _drop_paragraph(source: str, language: str) -> str:
    """The translation without its last top-level paragraph (lines and the blank line before it)."""
    text = pseudo_localize(source, language)
    spans = [t.map for t in parse(normalize(text)) if t.type == "paragraph_open" and t.level == 0 and t.map]
    if not spans:
        return text
    start, end = spans[-1]
    lines = split_lines(text)
    return "".join(lines[:start] + lines[end:])


def _edit_atoms(rules: tuple[str, ...], change: Callable[[str], str]) -> Callable[[str, InlineSpans, str], list[Range]]:
    def choose(content: str, spans: InlineSpans, parent: str) -> list[Range]:
        return [(a, b, change(content[a:b])) for rule, a, b in spans.atoms if rule in rules]

    return choose


def _translate_code(source: str, language: str) -> str:
    """Code spans translated too, as an over-eager model does (`pip install` -> `ṕíṕ íñšţáľľ`)."""
    text = pseudo_localize(source, language)
    return edit_inline(text, _edit_atoms(("backticks",), accent), accent)


def _drop_code_spans(source: str, language: str) -> str:
    """Code spans written as plain text: the backticks are gone."""
    text = pseudo_localize(source, language)
    return edit_inline(text, _edit_atoms(("backticks",), lambda code: code.strip("`").strip()), accent)


def _break_link(source: str, language: str) -> str:
    """The first link broken: an inline link's destination changed, a reference label translated."""
    text = pseudo_localize(source, language)
    done: list[bool] = []

    def choose(content: str, spans: InlineSpans, parent: str) -> list[Range]:
        for link in spans.links:
            if done:
                break
            tail = content[link.label_end + 1 : link.end]
            if tail.startswith("(") and len(tail) > 2:
                done.append(True)
                return [(link.label_end + 2, link.label_end + 2, "translated/")]
            if tail.startswith("[") and len(tail) > 2:
                done.append(True)
                return [(link.label_end + 2, link.end - 1, None)]
        return []

    return edit_inline(text, choose, lambda label: accent(label) + " (traduit)")


_MODES: dict[str, Callable[[str, str], str]] = {
    "faithful": pseudo_localize,
    "chatty": _chatty,
    "think": _think,
    "echo": _echo,
    "drop_paragraph": _drop_paragraph,
    "translate_code": _translate_code,
    "drop_code_spans": _drop_code_spans,
    "break_link": _break_link,
}
TRANSLATORS = tuple(_MODES)


def translate(mode: str, source: str, language: str) -> str:
    """The answer of translator `mode` (one of TRANSLATORS) to a request to translate `source`."""
    try:
        return _MODES[mode](source, language)
    except KeyError:
        raise ValueError(f"unknown translator {mode!r}: choose one of {', '.join(TRANSLATORS)}") from None


def drop_code_blocks(text: str) -> str:
    """`text` without its top-level fenced and indented code blocks (the loopback server's fault)."""
    lines = split_lines(text)
    dropped: set[int] = set()
    for token in parse(normalize(text)):
        if token.type in ("fence", "code_block") and token.level == 0 and token.map:
            dropped.update(range(*token.map))
    return "".join(line for i, line in enumerate(lines) if i not in dropped)
