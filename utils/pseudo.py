"""Offline "translation": deterministic pseudo-localization of Markdown.

Lets a translation pipeline run end to end with no model and no key, and lets its validator be tested. The text
is read by the project's one Markdown parser (utils.markdown): only prose is changed, i.e. what the parser's
text rule read in paragraphs, headings, table cells, link texts and image alt texts. Its letters are accented
and every paragraph and heading gets a length marker (so text grows ~30% like a real translation). Everything
else stays byte-identical: front matter, code blocks and spans, HTML, math, URLs, link and image targets,
reference labels, footnotes, entities, escapes and all Markdown syntax; line structure and line endings too.
A collapsed or shortcut reference link (`[Label][]`, `[Label]`) becomes a full one, `[Ĺáƀéľ][Label]`, so it
still resolves to its definition; that is what a translator must do too.

Translation request convention (shared with utils.llm and the loopback server): the user prompt holds a
line `Target language: <name>` and the source between a line `<document>` and a line `</document>`;
build it as ``f"<document>\\n{source}\\n</document>"`` and parse_translation_request returns `source` exactly.
"""

from __future__ import annotations

import re

from utils.markdown import InlineSpans, Range, edit_inline, parse

__all__ = ["accent", "language_tag", "parse_translation_request", "pseudo_localize"]

_LANGUAGE_LINE = re.compile(r"^\s*target language:\s*(.*?)\s*$", re.IGNORECASE)


def parse_translation_request(text: str) -> tuple[str, str] | None:
    """Return (language, source) if `text` is a translation request, else None."""
    lines = text.split("\n")
    opens = [i for i, line in enumerate(lines) if line.strip() == "<document>"]
    if not opens:
        return None
    start = opens[0]
    closes = [i for i, line in enumerate(lines) if line.strip() == "</document>" and i > start]
    if not closes:
        return None
    end = closes[-1]
    # Prefer the instruction outside the document, so a source that quotes the convention is not misread.
    outside = lines[:start] + lines[end + 1 :]
    for line in outside + lines[start + 1 : end]:
        match = _LANGUAGE_LINE.match(line)
        if match and match.group(1):
            return match.group(1), "\n".join(lines[start + 1 : end])
    return None


# --------------------------------------------------------------------------------------------------------
# Language tag and marker

_LANGUAGE_CODES = {
    "arabic": "ar", "chinese": "zh", "czech": "cs", "danish": "da", "dutch": "nl", "english": "en",
    "finnish": "fi", "french": "fr", "german": "de", "greek": "el", "hebrew": "he", "hindi": "hi",
    "hungarian": "hu", "indonesian": "id", "italian": "it", "japanese": "ja", "korean": "ko",
    "norwegian": "no", "polish": "pl", "portuguese": "pt", "romanian": "ro", "russian": "ru",
    "spanish": "es", "swedish": "sv", "thai": "th", "turkish": "tr", "ukrainian": "uk", "vietnamese": "vi",
}  # fmt: skip


def language_tag(language: str) -> str:
    """Short tag for the marker: ISO code for common language names, else the cleaned name itself."""
    cleaned = re.sub(r"[^0-9a-z-]+", "", language.strip().lower())
    return _LANGUAGE_CODES.get(cleaned, cleaned) or "xx"


_EXPANSION = 0.3
_PAD = "\u00b7"  # middle dot


def _marker(tag: str, block_length: int) -> str:
    """` [fr···]`: the whole marker is ~30% of the block's length (at least one pad character)."""
    pads = max(1, round(block_length * _EXPANSION) - len(tag) - 3)
    return f" [{tag}{_PAD * pads}]"


# --------------------------------------------------------------------------------------------------------
# Prose: accent the ranges the parser read as text

_ACCENTS = str.maketrans(
    "abcdeghijklnorstuwyzABCDEGHIJKLNORSTUWYZ",
    "áƀçďéĝĥíĵķľñóŕšţúŵýžÁƁÇĎÉĜĤÍĴĶĽÑÓŔŠŢÚŴÝŽ",
)


def accent(text: str) -> str:
    """`text` with its Latin letters accented (one character for one)."""
    return text.translate(_ACCENTS)


def _marker_keeps_paragraph(last_line: str) -> bool:
    """Whether a marker can follow the last line of a paragraph without changing what the line is (`1.` alone
    continues a paragraph; `1. [fr·]` starts a list; text after a final backslash can change its parse)."""
    tokens = parse(f"{last_line} [xx·]")
    return not last_line.endswith("\\") and len(tokens) == 3 and tokens[0].type == "paragraph_open"


def _inline_ranges(content: str, spans: InlineSpans, tag: str, marker: bool) -> list[Range]:
    """Prose accented, collapsed and shortcut references made full, a marker after a paragraph or heading."""
    prose = spans.prose_ranges()
    ranges: list[Range] = []
    for link in spans.links:
        if link.kind not in ("collapsed", "shortcut"):
            continue
        text_start = link.start + (2 if content[link.start] == "!" else 1)
        label = content[text_start : link.label_end]
        if "\n" in label or "]" in label:  # keep a label that cannot be repeated on one line as it is
            prose = [(a, b) for a, b in prose if b <= text_start or a >= link.label_end]
        elif link.kind == "collapsed":
            ranges.append((link.label_end + 1, link.label_end + 3, f"[{label}]"))
        else:
            ranges.append((link.label_end + 1, link.label_end + 1, f"[{label}]"))
    ranges += [(a, b, None) for a, b in prose]
    if marker and prose and _marker_keeps_paragraph(content.rsplit("\n", 1)[-1]):
        ranges.append((len(content), len(content), _marker(tag, len(content))))
    return ranges


def pseudo_localize(text: str, language: str) -> str:
    """Deterministically 'translate' Markdown `text` into `language` (see module docstring)."""
    tag = language_tag(language)

    def ranges(content: str, spans: InlineSpans, parent: str) -> list[Range]:
        return _inline_ranges(content, spans, tag, parent in ("paragraph_open", "heading_open"))

    return edit_inline(text, ranges, accent)
