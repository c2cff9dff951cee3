"""Checks that a translated chunk kept what a translator must not touch, and looks complete.

A model's answer can look fine and still break the document: a dropped code span, a rewritten URL, a lost
heading or table row, an echo of the prompt's `<document>` tags, or an answer cut short. Each check compares the
source chunk with its translation and names what is wrong, so the retry prompt can say exactly what to fix.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_FENCE_LINE = re.compile(r"^[ \t>]*(?:`{3,}|~{3,})", re.MULTILINE)
_FENCED_BLOCK = re.compile(r"^[ \t>]*(`{3,}|~{3,}).*\n(?:.*\n)*?[ \t>]*\1.*$", re.MULTILINE)
_LINK_TARGET = re.compile(r"\]\(\s*(<[^<>\n]*>|(?:[^()\s]|\((?:[^()\s])*\))+)")
_REF_LABEL = re.compile(r"\]\[([^\[\]]+)\]")
_REF_DEFINITION = re.compile(r"^[ \t>]*\[[^\[\]]+\]:[ \t]*(\S+)", re.MULTILINE)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*)>")
_HTML_URL = re.compile(r"\b(?:href|src)\s*=\s*(\"[^\"]*\"|'[^']*')", re.IGNORECASE)
_BARE_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>`()\[\]\"']+")
_HTML_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)(?=[\s/>])")
_ATX_HEADING = re.compile(r"^(?:[ \t]*>)*[ \t]{0,3}#{1,6}(?:[ \t]|$)", re.MULTILINE)
_SETEXT_HEADING = re.compile(r"^[ \t]*\S.*\n[ \t]{0,3}(?:=+|-+)[ \t]*$", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t>]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)
_PROMPT_LEFTOVER = re.compile(r"^\s*(?:</?document>|target language:)", re.IGNORECASE | re.MULTILINE)
_WRAPPING_FENCE = re.compile(r"\A\s*```[A-Za-z]*[ \t]*\n(.*)\n```\s*\Z", re.DOTALL)

# Translations into these scripts are much shorter in characters than the English they come from.
_DENSE_SCRIPTS = ("zh", "ja", "ko")
_MIN_LENGTH_FOR_RATIO = 100


def unwrap(answer: str, source: str) -> str:
    """Remove a ```markdown fence that a model put around its whole answer (a common habit, not an error)."""
    m = _WRAPPING_FENCE.match(answer)
    if m and not _FENCE_LINE.search(source):
        return m.group(1)
    return answer


def _code_spans(text: str) -> Counter[str]:
    return Counter(m.group(0) for m in _CODE_SPAN.finditer(_FENCED_BLOCK.sub(" ", text)))


def _without_code(text: str) -> str:
    return _CODE_SPAN.sub(" ", _FENCED_BLOCK.sub(" ", text))


def _link_targets(text: str) -> Counter[str]:
    text = _without_code(text)
    found: list[str] = []
    for pattern in (_LINK_TARGET, _REF_LABEL, _REF_DEFINITION, _AUTOLINK, _HTML_URL, _BARE_URL):
        found.extend(m.group(1) if pattern.groups else m.group(0) for m in pattern.finditer(text))
    return Counter(found)


def _headings(text: str) -> int:
    text = _without_code(text)
    return len(_ATX_HEADING.findall(text)) + len(_SETEXT_HEADING.findall(text))


def _list_items(text: str) -> int:
    return len(_LIST_ITEM.findall(_without_code(text)))


def _table_rows(text: str) -> int:
    return sum(1 for line in _without_code(text).split("\n") if "|" in line)


def _missing(source: Counter[str], translation: Counter[str]) -> list[str]:
    return sorted((source - translation).keys())


def _quote(items: Iterable[str]) -> str:
    return ", ".join(repr(item) for item in items)


def check_translation(source: str, translation: str, *, language_code: str, single_line: bool = False) -> list[str]:
    """Problems found in `translation` of `source` (empty when it passes), each a short sentence."""
    if not translation.strip():
        return ["the answer is empty"]
    problems: list[str] = []
    leftovers = set(_PROMPT_LEFTOVER.findall(translation)) - set(_PROMPT_LEFTOVER.findall(source))
    if leftovers:
        problems.append(f"the answer contains prompt markup {_quote(s.strip() for s in sorted(leftovers))}")
    source_fences, answer_fences = len(_FENCE_LINE.findall(source)), len(_FENCE_LINE.findall(translation))
    if source_fences != answer_fences:
        problems.append(f"code fence lines changed from {source_fences} to {answer_fences}")
    if missing := _missing(_code_spans(source), _code_spans(translation)):
        problems.append(f"inline code changed or missing: {_quote(missing)}")
    if missing := _missing(_link_targets(source), _link_targets(translation)):
        problems.append(f"link targets or URLs changed or missing: {_quote(missing)}")
    if missing := _missing(
        Counter(_HTML_TAG.findall(_without_code(source))), Counter(_HTML_TAG.findall(_without_code(translation)))
    ):
        problems.append(f"HTML tags missing: {_quote(missing)}")
    for what, count in (("headings", _headings), ("list items", _list_items), ("table rows", _table_rows)):
        before, after = count(source), count(translation)
        if before != after:
            problems.append(f"number of {what} changed from {before} to {after}")
    if single_line and "\n" in translation.strip():
        problems.append("the answer must be a single line")
    ratio = 0.15 if language_code.split("-")[0] in _DENSE_SCRIPTS else 0.35
    if len(source.strip()) >= _MIN_LENGTH_FOR_RATIO and len(translation.strip()) < ratio * len(source.strip()):
        problems.append(
            f"the answer looks truncated ({len(translation.strip())} characters for {len(source.strip())})"
        )
    return problems
