"""Offline "translation": deterministic pseudo-localization of Markdown.

Lets a translation pipeline run end to end with no model and no key, and lets its validator be tested:
prose letters are accented and every prose block gets a length marker (so text grows ~30% like a real
translation), while everything a translator must not touch stays byte-identical: front matter, fenced and
indented code, inline code, URLs, link and image targets, reference definitions, HTML tags and comments,
`{placeholders}`, `%s`-style specifiers, entities and all Markdown syntax. Line structure is preserved
(same number of lines, blank lines where they were).

Translation request convention (shared with utils.llm and the loopback server): the user prompt holds a
line `Target language: <name>` and the source between a line `<document>` and a line `</document>`;
build it as ``f"<document>\\n{source}\\n</document>"`` and parse_translation_request returns `source` exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["front_matter_end", "language_tag", "parse_translation_request", "pseudo_localize"]

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
# Inline level: accent prose, keep protected spans verbatim

_ACCENTS = str.maketrans(
    "abcdeghijklnorstuwyzABCDEGHIJKLNORSTUWYZ",
    "áƀçďéĝĥíĵķľñóŕšţúŵýžÁƁÇĎÉĜĤÍĴĶĽÑÓŔŠŢÚŴÝŽ",
)

_LINK_TEXT = r"(?:[^\[\]\\]|\\.|\[(?:[^\[\]\\]|\\.)*\])*"
_LINK_TARGET = r"\((?:\s*(?:<[^<>\n]*>|(?:[^()\s\\]|\\.|\((?:[^()\s\\]|\\.)*\))*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*)\)"
_INLINE = re.compile(
    "|".join(
        [
            r"(?P<escape>\\.)",
            r"(?P<code>(?P<ticks>`+)(?:.|\n)*?(?<!`)(?P=ticks)(?!`))",
            r"(?P<ticks_run>`+)",
            r"(?P<comment><!--(?:.|\n)*?(?:-->|\Z))",
            r"(?P<autolink><(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*|[^<>\s@]+@[^<>\s]+)>)",
            r"(?P<tag></?[A-Za-z][A-Za-z0-9-]*(?:\s(?:[^<>\"']|\"[^\"]*\"|'[^']*')*)?/?>|<![A-Za-z][^>]*>|<\?.*?\?>)",
            rf"(?P<link>(?P<lopen>!?\[)(?P<ltext>{_LINK_TEXT})(?P<ltarget>\]{_LINK_TARGET}))",
            rf"(?P<reflink>(?P<ropen>!?\[)(?P<rtext>{_LINK_TEXT})(?P<rlabel>\]\[[^\[\]]*\]))",
            r"(?P<footnote>\[\^[^\[\]\s]+\])",
            r"(?P<bracket>\[(?P<btext>[^\[\]]+)\])",
            rf"(?P<target>\]{_LINK_TARGET})",
            r"(?P<url>(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)[^\s<>`]+)",
            r"(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)",
            r"(?P<placeholder>\{\{[^{}\n]*\}\}|\{(?:[^{}\n]|\{[^{}\n]*\})*\})",
            r"(?P<format>%(?:\([^)\s]*\))?(?:\d+\$)?[-+#0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[hlLqjzt]*[diouxXeEfFgGcrsaAp@%])",
            r"(?P<entity>&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);)",
            r"(?P<emoji>:[a-z0-9_+-]+:)",
        ]
    )
)


@dataclass(frozen=True)
class _Inline:
    refs: frozenset[str]

    def localize(self, text: str) -> str:
        """Accent the prose of `text`, keeping every protected span byte-identical."""
        out: list[str] = []
        pos = 0
        for m in _INLINE.finditer(text):
            out.append(text[pos : m.start()].translate(_ACCENTS))
            out.append(self._protected(m))
            pos = m.end()
        out.append(text[pos:].translate(_ACCENTS))
        return "".join(out)

    def _protected(self, m: re.Match[str]) -> str:
        if m.group("link") is not None:
            return m.group("lopen") + self.localize(m.group("ltext")) + m.group("ltarget")
        if m.group("reflink") is not None:
            return m.group("ropen") + self.localize(m.group("rtext")) + m.group("rlabel")
        if m.group("bracket") is not None:
            label = m.group("btext")
            if _normalize_label(label) in self.refs or label.strip() in ("", "x", "X"):
                return m.group(0)  # shortcut reference link or task checkbox: the label must match
            return "[" + self.localize(label) + "]"
        return m.group(0)


def _normalize_label(label: str) -> str:
    return " ".join(label.split()).casefold()


# --------------------------------------------------------------------------------------------------------
# Block level: classify lines, localize prose blocks, append one marker per block

_FRONT_MATTER_OPEN = re.compile(r"^(---|\+\+\+)\s*$")
_FENCE_OPEN = re.compile(r"^\s*(`{3,}(?=[^`]*$)|~{3,})")
_CONTAINER = re.compile(r"^(?:[ \t]*>[ \t]?|[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+\[[ xX]\])?(?:[ \t]+|$))")
_THEMATIC_OR_SETEXT = re.compile(r"^\s*(?:(?:[-*_][ \t]*){3,}|=+|-+)\s*$")
_TABLE_ALIGN = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_REF_DEF = re.compile(r"^\s{0,3}\[(?!\^)([^\[\]]+)\]:\s*\S")
_HEADING = re.compile(r"^(\s{0,3}#{1,6})(?=\s|$)(.*?)((?:\s+#+)?\s*)$")
_HTML_LINE = re.compile(r"^\s*(?:</?[A-Za-z][A-Za-z0-9-]*(?:\s|/?>|$)|<!--)")
# Constructs that may span lines and must stay verbatim until closed: raw HTML blocks, comments, and a tag
# whose attributes continue on the next lines.
_VERBATIM_OPEN = re.compile(
    r"^\s*(?:<(?P<raw>pre|script|style|textarea)(?=\s|>|$)|(?P<comment><!--)|(?P<tag><[A-Za-z][^<>]*$))",
    re.IGNORECASE,
)
_INDENTED_CODE = re.compile(r"^(?: {4}|\t)")
_TRAILING_SPACE = re.compile(r"\s*$")


@dataclass
class _Line:
    prefix: str  # kept verbatim before the body (whole line when nothing is localized)
    body: str  # localized text ("" for verbatim lines)
    suffix: str  # kept verbatim after the body (closing heading hashes, trailing spaces)
    block: bool  # body belongs to a prose block that gets a length marker (not tables, HTML lines)
    starts_block: bool  # a new prose block begins here (heading, list item, after a break)
    single: bool  # the block ends with this line (headings)


def _verbatim(line: str) -> _Line:
    return _Line(line, "", "", False, False, False)


def _split_container(line: str) -> tuple[str, str, bool]:
    """Split blockquote/list markers off the line; the flag says whether a list item starts here."""
    end = 0
    list_item = False
    while (m := _CONTAINER.match(line, end)) and m.end() > end:
        is_quote = m.group(0).strip().startswith(">")
        if not is_quote and _THEMATIC_OR_SETEXT.match(line, end):
            break  # "- - -" and "* * *" are thematic breaks, not nested list items
        list_item = list_item or not is_quote
        end = m.end()
    return line[:end], line[end:], list_item


def front_matter_end(lines: list[str]) -> int:
    """Index of the closing front matter delimiter (`---`/`...` for YAML, `+++` for TOML), or -1 if there is none.

    Lines may keep their line endings; apps.translate's chunker shares this so both agree on what is metadata.
    """
    if not lines or not (m := _FRONT_MATTER_OPEN.match(lines[0])):
        return -1
    closers = ("---", "...") if m.group(1) == "---" else ("+++",)
    for i in range(1, len(lines)):
        if lines[i].rstrip() in closers:
            return i
    return -1


class _Classifier:
    """Line-by-line Markdown block scanner; decides what is verbatim and where prose blocks start."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.fence: tuple[str, int, int] | None = None  # fence char, length, blockquote depth
        self.verbatim_until: re.Pattern[str] | None = None  # HTML comment, raw HTML block, multi-line tag
        self.in_list = False
        self.in_table = False
        self.in_indented_code = False
        self.previous_blank = True

    def run(self) -> list[_Line]:
        front_end = front_matter_end(self.lines)
        result: list[_Line] = []
        for index, line in enumerate(self.lines):
            if index <= front_end:
                result.append(_verbatim(line))
            else:
                result.append(self._line(index, line, result[-1] if result else None))
        return result

    def _line(self, index: int, line: str, previous: _Line | None) -> _Line:
        if self.fence is not None:
            char, length, depth = self.fence
            unquoted = re.sub(r"^(?:[ \t]*>[ \t]?){0,%d}" % depth, "", line)
            if re.match(r"^\s*%s{%d,}\s*$" % (re.escape(char), length), unquoted):
                self.fence = None
            return _verbatim(line)
        if self.verbatim_until is not None:
            if self.verbatim_until.search(line):
                self.verbatim_until = None
            return _verbatim(line)

        was_blank, self.previous_blank = self.previous_blank, False
        if not line.strip():
            self.previous_blank, self.in_table = True, False
            return _verbatim(line)
        if _INDENTED_CODE.match(line) and not self.in_list and (was_blank or self.in_indented_code):
            self.in_indented_code = True
            return _verbatim(line)
        self.in_indented_code = False

        prefix, rest, list_item = _split_container(line)
        if list_item:
            self.in_list = True
        elif not prefix and not line[:1].isspace():
            self.in_list = False
        if not rest.strip():
            self.previous_blank, self.in_table = True, False
            return _verbatim(line)
        if m := _FENCE_OPEN.match(rest):
            self.fence = (m.group(1)[0], len(m.group(1)), prefix.count(">"))
            return _verbatim(line)
        if m := _VERBATIM_OPEN.match(rest):
            if m.group("raw"):
                closer = re.compile(r"</%s\s*>" % m.group("raw"), re.IGNORECASE)
            else:
                closer = re.compile("-->" if m.group("comment") else ">")
            closed = closer.search(rest, m.end())
            if not closed:
                self.verbatim_until = closer
            if m.group("raw") or not closed:
                return _verbatim(line)
        if _TABLE_ALIGN.match(rest) and (self.in_table or "|" in rest) and "-" in rest:
            self.in_table = True
            return _verbatim(line)
        if _THEMATIC_OR_SETEXT.match(rest) or _REF_DEF.match(rest):
            return _verbatim(line)
        if "|" in rest and (self.in_table or self._table_follows(index)):
            self.in_table = True  # pipes are not letters, so the inline pass keeps them; no marker
            return _Line(prefix, rest, "", False, False, False)
        if m := _HEADING.match(rest):
            return _Line(prefix + m.group(1), m.group(2), m.group(3), True, True, True)
        if _HTML_LINE.match(rest):
            return _Line(prefix, rest, "", False, False, False)
        body, suffix = _split_trailing(rest)
        continues = (
            not list_item and not was_blank and previous is not None and previous.block and not previous.single
        )
        return _Line(prefix, body, suffix, True, not continues, False)

    def _table_follows(self, index: int) -> bool:
        if index + 1 >= len(self.lines):
            return False
        rest = _split_container(self.lines[index + 1])[1]
        return bool(_TABLE_ALIGN.match(rest)) and "|" in rest and "-" in rest


def _split_trailing(text: str) -> tuple[str, str]:
    m = _TRAILING_SPACE.search(text)
    assert m is not None
    return text[: m.start()], text[m.start() :]


def _localize_blocks(classified: list[_Line], inline: _Inline, tag: str) -> list[str]:
    """Localize each prose block as one text (so spans crossing lines stay whole), then add its marker."""
    out = [c.prefix + c.suffix for c in classified]
    i = 0
    while i < len(classified):
        line = classified[i]
        if not line.body:
            i += 1
            continue
        if not line.block:  # table row or HTML line: localized, no marker
            out[i] = line.prefix + inline.localize(line.body) + line.suffix
            i += 1
            continue
        j = i + 1
        while (
            j < len(classified)
            and not line.single
            and classified[j].block
            and not classified[j].starts_block
        ):
            j += 1
        bodies = inline.localize("\n".join(c.body for c in classified[i:j])).split("\n")
        marker = _marker(tag, sum(len(b) for b in bodies))
        for k, body in zip(range(i, j), bodies):
            end = marker if k == j - 1 else ""
            out[k] = classified[k].prefix + body + end + classified[k].suffix
        i = j
    return out


def _reference_labels(lines: list[str]) -> frozenset[str]:
    labels = set()
    for line in lines:
        m = _REF_DEF.match(_split_container(line)[1])
        if m:
            labels.add(_normalize_label(m.group(1)))
    return frozenset(labels)


def pseudo_localize(text: str, language: str) -> str:
    """Deterministically 'translate' Markdown `text` into `language` (see module docstring)."""
    lines = text.split("\n")
    carriage = [line.endswith("\r") for line in lines]
    lines = [line[:-1] if cr else line for line, cr in zip(lines, carriage)]
    inline = _Inline(_reference_labels(lines))
    localized = _localize_blocks(_Classifier(lines).run(), inline, language_tag(language))
    return "\n".join(line + ("\r" if cr else "") for line, cr in zip(localized, carriage))

