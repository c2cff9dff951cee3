"""The project's one Markdown reader: markdown-it-py (CommonMark) with mdit-py-plugins for front matter,
footnotes, GFM tables, strikethrough, GFM autolinks, dollar math and LaTeX math environments
(`\\begin{align}` ... `\\end{align}` without dollars, as MathJax and pymdown-extensions accept them).

Chunking, validation, the offline pseudo-localizer and the loopback server's translators all read Markdown
through this module, so they agree on what is code, a link, a footnote or prose. Block tokens carry source
line maps; inline tokens do not carry offsets, so the inline rules are wrapped to record which stretch of an
inline token's source each rule consumed (`InlineSpans`): that is what lets a caller change prose and leave
every other byte alone.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin

__all__ = [
    "BOM",
    "InlineSpans",
    "LinkSpan",
    "Range",
    "definitions_env",
    "edit_inline",
    "fresh_env",
    "inline_spans",
    "normalize",
    "parse",
    "parse_with_spans",
    "prose",
    "reference_definition",
    "split_lines",
]

BOM = "\ufeff"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_EOL = re.compile(r"\r\n|\r")
_SPANS_KEY = "_inline_spans"
# GFM autolink rules that claim text the text rule already read (the `http` before `://`, an email's name).
_BACKSCANNING = ("gfm_autolink_protocol", "gfm_autolink_email")


def split_lines(text: str) -> list[str]:
    """Lines with their line endings (CommonMark's: LF, CRLF or CR); joining them gives `text` back."""
    return _LINE.findall(text)


def normalize(text: str) -> str:
    """What the parser sees: no BOM, every line ending a LF (line i here is line i of the source)."""
    return _EOL.sub("\n", text.removeprefix(BOM))


@dataclass(frozen=True)
class LinkSpan:
    """A link or image in an inline token's source: `[` or `![` at start, `]` at label_end, ends at end.

    kind is "inline" (`[a](b)`), "full" (`[a][b]`), "collapsed" (`[a][]`) or "shortcut" (`[a]`)."""

    start: int
    label_end: int
    end: int
    kind: str


@dataclass
class InlineSpans:
    """What the inline rules consumed in one inline token's source."""

    prose: list[tuple[int, int]] = field(default_factory=list)  # text read by the `text` rule
    atoms: list[tuple[str, int, int]] = field(default_factory=list)  # (rule, start, end) kept whole
    links: list[LinkSpan] = field(default_factory=list)

    def prose_ranges(self) -> list[tuple[int, int]]:
        """Prose without the text that GFM autolinks claimed after the text rule had read it."""
        ranges = sorted(self.prose)
        for _rule, start, end in (atom for atom in self.atoms if atom[0] in _BACKSCANNING):
            cut: list[tuple[int, int]] = []
            for a, b in ranges:
                if b <= start or a >= end:
                    cut.append((a, b))
                    continue
                if a < start:
                    cut.append((a, start))
                if b > end:
                    cut.append((end, b))
            ranges = cut
        return ranges


def _record(state: StateInline) -> InlineSpans | None:
    """Where to record what this inline parse reads, or None. Equal contents are often one string object (table
    cells "b", "b", ...): they parse alike, so the first parse of a content is recorded and the others skipped."""
    spans: dict[int, tuple[str, InlineSpans, StateInline]] | None = state.env.get(_SPANS_KEY)
    if spans is None:
        return None
    entry = spans.get(id(state.src))
    if entry is None or entry[0] is not state.src:
        entry = (state.src, InlineSpans(), state)
        spans[id(state.src)] = entry
    return entry[1] if entry[2] is state else None


def _wrap(name: str, rule: Any) -> Any:
    def recorded(state: StateInline, silent: bool) -> bool:
        start = state.pos
        tokens_before = len(state.tokens)
        pending = len(state.pending) if name in _BACKSCANNING else 0
        ok: bool = rule(state, silent)
        if not ok or silent or (record := _record(state)) is None:
            return ok
        end = state.pos
        if name == "text":
            record.prose.append((start, end))
        elif name == "link":
            record.links.append(_link_span(state, start, end))
        elif name == "image":  # the alt text was parsed on its own: take its prose over, shifted
            link = _link_span(state, start + 1, end)
            record.links.append(LinkSpan(start, link.label_end, end, link.kind))
            for token in state.tokens[tokens_before:]:
                entry = state.env[_SPANS_KEY].get(id(token.content))
                if token.type == "image" and entry is not None and entry[0] is token.content:
                    record.prose += [(a + start + 2, b + start + 2) for a, b in entry[1].prose]
                    record.atoms += [(r, a + start + 2, b + start + 2) for r, a, b in entry[1].atoms]
        elif name in _BACKSCANNING:
            new = state.tokens[tokens_before:]
            flushed = len(new[0].content) if new and new[0].type == "text" else 0  # pending text before the link
            record.atoms.append((name, start - (pending - flushed), end))
        elif name not in ("newline", "emphasis", "strikethrough"):
            record.atoms.append((name, start, end))
        return ok
    if name == "gfm_autolink_www":  # the last rule: a `w` it does not take is read as text
        def www(state: StateInline, silent: bool) -> bool:
            start = state.pos
            ok = recorded(state, silent)
            if not ok and not silent and state.src[start] == "w" and (record := _record(state)) is not None:
                record.prose.append((start, start + 1))
            return ok

        return www

    return recorded


def _link_span(state: StateInline, start: int, end: int) -> LinkSpan:
    pos, pos_max = state.pos, state.posMax
    label_end = state.md.helpers.parseLinkLabel(state, start, True)
    state.pos, state.posMax = pos, pos_max
    tail = state.src[label_end + 1 : end]
    if tail.startswith("("):
        kind = "inline"
    elif tail.startswith("[]"):
        kind = "collapsed"
    elif tail.startswith("["):
        kind = "full"
    else:
        kind = "shortcut"
    return LinkSpan(start, label_end, end, kind)


def _make_parser(record: bool) -> MarkdownIt:
    """The parser; with `record`, its inline rules also record what they read (slower: only for editing)."""
    md = MarkdownIt("commonmark", {"store_labels": True})
    md.enable(["table", "strikethrough"])
    md.use(front_matter_plugin)
    md.use(footnote_plugin)
    md.use(dollarmath_plugin)
    md.use(amsmath_plugin)
    md.use(gfm_autolink_plugin)
    md.core.ruler.disable("footnote_tail")  # keep footnote definitions where they are, with their line maps
    for rule in list(md.inline.ruler.__rules__) if record else ():
        md.inline.ruler.at(rule.name, _wrap(rule.name, rule.fn), {"alt": rule.alt})
    return md


_PARSER = _make_parser(record=False)
_RECORDING_PARSER = _make_parser(record=True)


def parse(text: str, env: dict[str, Any] | None = None) -> list[Token]:
    """Block and inline tokens of `text` (already normalized); `env` collects reference definitions."""
    return _PARSER.parse(text, {} if env is None else env)


def definitions_env(definitions: str) -> dict[str, Any]:
    """An env holding the link reference definitions in `definitions`, for parsing a chunk of a document."""
    env: dict[str, Any] = {}
    if definitions.strip():
        _PARSER.parse(normalize(definitions), env)
    env.setdefault("references", {})
    return env


def fresh_env(env: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of `env`'s link and footnote definitions, to parse another text with (parsing adds to an env)."""
    fresh: dict[str, Any] = {}
    if env and "references" in env:
        fresh["references"] = dict(env["references"])
    if env and "footnotes" in env:
        fresh["footnotes"] = {"refs": {label: -1 for label in env["footnotes"].get("refs", {})}}
    return fresh


def parse_with_spans(text: str, env: dict[str, Any] | None = None) -> tuple[list[Token], dict[str, Any]]:
    """Like parse, also recording the inline spans (see inline_spans)."""
    env = fresh_env(env)
    env[_SPANS_KEY] = {}
    return _RECORDING_PARSER.parse(text, env), env


def inline_spans(env: dict[str, Any], token: Token) -> InlineSpans:
    """The spans recorded for an inline token by parse_with_spans (empty if it has no source of its own)."""
    entry = env.get(_SPANS_KEY, {}).get(id(token.content))
    if entry is None or entry[0] is not token.content:
        return InlineSpans()
    spans: InlineSpans = copy.copy(entry[1])
    return spans


def prose(children: list[Token]) -> Iterator[str]:
    """The text an inline token's children show as words: text and image alt texts, not the URL an autolink
    shows (nor code, math or HTML, which are not text tokens)."""
    autolink = False
    for child in children:
        if child.type == "link_open":
            autolink = child.markup == "autolink"
        elif child.type == "link_close":
            autolink = False
        elif child.type in ("text", "image") and not autolink:
            yield child.content


def reference_definition(label: str, href: str, title: str, **_: object) -> str:
    """One link reference definition line for a normalized label, as the parser resolves it."""
    title_part = ""
    if title:
        escaped = title.replace("\\", "\\\\").replace('"', '\\"')
        title_part = f' "{escaped}"'
    return f"[{label}]: <{href}>{title_part}"


# --------------------------------------------------------------------------------------------------------
# Editing inline content in place

# An edit of one source line: columns [start, end) replaced by `text`, or accented when `text` is None.
_Edit = tuple[int, int, "str | None"]
# A change to an inline token's content: [start, end) replaced by the text, or transformed when it is None.
Range = tuple[int, int, "str | None"]


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


def _edits(content: str, columns: list[int], first: int, ranges: list[Range]) -> dict[int, list[_Edit]]:
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


def _apply(line: str, edits: list[_Edit], transform: Callable[[str], str]) -> str:
    out: list[str] = []
    position = 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < position:
            continue
        out.append(line[position:start])
        out.append(transform(line[start:end]) if text is None else text)
        position = end
    out.append(line[position:])
    return "".join(out)


@lru_cache(maxsize=64)  # the same chunk is edited once per language
def _parse_for_editing(text: str) -> tuple[list[Token], dict[str, Any]]:
    return parse_with_spans(text)


def edit_inline(
    text: str, choose: Callable[[str, InlineSpans, str], list[Range]], transform: Callable[[str], str]
) -> str:
    """`text` with the inline content of its blocks edited in place and every other byte kept.

    For each inline token, `choose(content, spans, parent)` (parent is the enclosing block token's type, such
    as "paragraph_open" or "td_open") returns ranges of the content to replace, or to `transform` when the
    range's text is None. Ranges are mapped back to source lines, so line endings and layout survive."""
    bom = BOM if text.startswith(BOM) else ""
    lines = split_lines(text[len(bom) :])
    bare = [line.rstrip("\r\n") for line in lines]
    tokens, env = _parse_for_editing(normalize(text))
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
        ranges = choose(token.content, inline_spans(env, token), parent)
        for number, line_edits in _edits(token.content, columns, token.map[0], ranges).items():
            edits.setdefault(number, []).extend(line_edits)
    out = [bom]
    for index, line in enumerate(lines):
        if index in edits:
            line = _apply(bare[index], edits[index], transform) + line[len(bare[index]) :]
        out.append(line)
    return "".join(out)
