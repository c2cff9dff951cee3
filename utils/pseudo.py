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

from utils.markdown import BOM, inline_spans, normalize, parse_with_spans, split_lines

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


# An edit of one source line: columns [start, end) replaced by `text`, or accented when `text` is None.
_Edit = tuple[int, int, "str | None"]


def _locate(content: str, lines: list[str], first: int, cell: bool, cursors: dict[int, int]) -> list[int] | None:
    """Column in its source line where each line of an inline token's content starts, or None if not found.

    The parser strips container markers (`>`, list indentation) from the front of each line and whitespace
    from the ends of the content, so a content line is the end of its source line; a table cell or a heading
    with closing hashes is found from the left instead."""
    columns: list[int] = []
    for k, piece in enumerate(content.split("\n")):
        if first + k >= len(lines):
            return None
        line = lines[first + k]
        wanted = piece.rstrip()
        stripped = line.rstrip()
        if not cell and stripped.endswith(wanted):
            columns.append(len(stripped) - len(wanted))
            continue
        column = line.find(piece, cursors.get(first + k, 0))
        if column < 0:
            return None
        columns.append(column)
        cursors[first + k] = column + len(piece)
    return columns


def _edits(content: str, columns: list[int], first: int, ranges: list[tuple[int, int, str | None]]) -> dict[int, list[_Edit]]:
    """Content ranges (may span lines) as per-line edits."""
    starts = [0]
    for piece in content.split("\n")[:-1]:
        starts.append(starts[-1] + len(piece) + 1)
    edits: dict[int, list[_Edit]] = {}
    for start, end, text in ranges:
        for k, line_start in enumerate(starts):
            line_end = starts[k + 1] - 1 if k + 1 < len(starts) else len(content)
            a, b = max(start, line_start), min(end, line_end)
            if a < b or (text is not None and a == b == start):
                edits.setdefault(first + k, []).append((columns[k] + a - line_start, columns[k] + b - line_start, text))
    return edits


def _inline_ranges(content: str, spans_env: dict[str, object], token: object, tag: str, marker: bool) -> list[tuple[int, int, str | None]]:
    spans = inline_spans(spans_env, token)  # type: ignore[arg-type]
    prose = spans.prose_ranges()
    ranges: list[tuple[int, int, str | None]] = []
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
    if marker and prose and not content.endswith("\\"):  # text after a final backslash can change its parse
        ranges.append((len(content), len(content), _marker(tag, len(content))))
    return ranges


def _apply(line: str, edits: list[_Edit]) -> str:
    out: list[str] = []
    position = 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < position:
            continue
        out.append(line[position:start])
        out.append(accent(line[start:end]) if text is None else text)
        position = end
    out.append(line[position:])
    return "".join(out)


def pseudo_localize(text: str, language: str) -> str:
    """Deterministically 'translate' Markdown `text` into `language` (see module docstring)."""
    tag = language_tag(language)
    bom = BOM if text.startswith(BOM) else ""
    lines = split_lines(text[len(bom) :])
    bare = [line.rstrip("\r\n") for line in lines]
    tokens, env = parse_with_spans(normalize(text))
    edits: dict[int, list[_Edit]] = {}
    cursors: dict[int, int] = {}
    parent = ""
    for token in tokens:
        if token.type != "inline":
            parent = token.type
            continue
        if not token.map or not token.content:
            continue
        columns = _locate(token.content, bare, token.map[0], parent in ("th_open", "td_open"), cursors)
        if columns is None:
            continue
        marker = parent in ("paragraph_open", "heading_open")
        ranges = _inline_ranges(token.content, env, token, tag, marker)
        for line, line_edits in _edits(token.content, columns, token.map[0], ranges).items():
            edits.setdefault(line, []).extend(line_edits)
    out = [bom]
    for index, line in enumerate(lines):
        if index in edits:
            eol = line[len(bare[index]) :]
            line = _apply(bare[index], edits[index]) + eol
        out.append(line)
    return "".join(out)
