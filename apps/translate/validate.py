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


def _split_code(text: str) -> tuple[Counter[str], str]:
    """The inline code spans of `text`, and its prose: fenced blocks and code spans blanked out, so Markdown
    inside code is never counted as headings, links or tags."""
    outside_fences = _FENCED_BLOCK.sub(" ", text)
    spans = Counter(m.group(0) for m in _CODE_SPAN.finditer(outside_fences))
    return spans, _CODE_SPAN.sub(" ", outside_fences)


def _link_targets(prose: str) -> Counter[str]:
    found: list[str] = []
    for pattern in (_LINK_TARGET, _REF_LABEL, _REF_DEFINITION, _AUTOLINK, _HTML_URL, _BARE_URL):
        found.extend(m.group(1) if pattern.groups else m.group(0) for m in pattern.finditer(prose))
    return Counter(found)


def _html_tags(prose: str) -> Counter[str]:
    return Counter(_HTML_TAG.findall(prose))


def _headings(prose: str) -> int:
    return len(_ATX_HEADING.findall(prose)) + len(_SETEXT_HEADING.findall(prose))


def _list_items(prose: str) -> int:
    return len(_LIST_ITEM.findall(prose))


def _table_rows(prose: str) -> int:
    return sum(1 for line in prose.split("\n") if "|" in line)


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
    (source_spans, source_prose), (answer_spans, answer_prose) = _split_code(source), _split_code(translation)
    if missing := _missing(source_spans, answer_spans):
        problems.append(f"inline code changed or missing: {_quote(missing)}")
    if missing := _missing(_link_targets(source_prose), _link_targets(answer_prose)):
        problems.append(f"link targets or URLs changed or missing: {_quote(missing)}")
    if missing := _missing(_html_tags(source_prose), _html_tags(answer_prose)):
        problems.append(f"HTML tags missing: {_quote(missing)}")
    for what, count in (("headings", _headings), ("list items", _list_items), ("table rows", _table_rows)):
        before, after = count(source_prose), count(answer_prose)
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
