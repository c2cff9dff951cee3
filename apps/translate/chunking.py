"""Split a Markdown document into translatable chunks and verbatim pieces, and put it back together.

The document is parsed once (utils.markdown) and cut along its top-level block tokens' line maps, so the
segments' texts, concatenated, are the source byte for byte (BOM, CRLF, trailing spaces, blank lines).
Fenced and indented code, HTML blocks, math blocks, thematic breaks, link reference definitions and front
matter (YAML or TOML) are verbatim segments, never sent to a model; a list, block quote or footnote holding a
code, HTML or math block is cut around it. The prose blocks between them (paragraphs, headings, lists, block
quotes, tables, footnote definitions) are packed into chunks under a token budget, whole sections first, then
whole blocks; a list too long for the budget is cut between its items, any other block is never cut.

Each chunk keeps its surrounding blank lines and first-line indentation out of what is sent, carries the link
reference definitions (and footnote labels) its references resolve to, sent along so that the chunk parses as it
does in the document, and is rendered back with the source's line endings.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from utils.markdown import BOM, normalize, parse, prose, reference_definition, split_lines
from utils.tokens import estimate_tokens

__all__ = ["Segment", "estimate_tokens", "reassemble", "split_lines", "split_markdown"]

Style = Literal["markdown", "yaml-plain", "yaml-double", "yaml-single"]

_YAML_SCALAR = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:[ \t]+(?P<value>.*?)(?P<end>[ \t]*(?:\r\n|\r|\n)?)$")
_YAML_PLAIN_UNSAFE = re.compile(r"^[-?:,\[\]{}#&*!|>'\"%@`]|: | #|[\r\n]")
# Top-level blocks that hold prose; every other block is kept verbatim.
_PROSE_BLOCKS = frozenset(
    {"paragraph", "heading", "bullet_list", "ordered_list", "blockquote", "table", "footnote_reference"}
)
# Blocks never sent even inside a list, quote or footnote: the container is cut around them.
_NESTED_VERBATIM = frozenset({"fence", "code_block", "html_block", "math_block", "math_block_label", "amsmath"})


@dataclass(frozen=True)
class Segment:
    """A stretch of the source: `text` is the original; only `body` (LF line endings) is ever translated.

    `raw` is the source text of the body when it differs from `body` (other line endings, YAML quoting);
    `definitions` are the reference definitions sent along with the body (not part of the document's text)."""

    lead: str
    body: str
    trail: str
    translate: bool
    style: Style = "markdown"
    raw: str | None = None
    definitions: str = ""

    @property
    def text(self) -> str:
        return self.lead + (self.body if self.raw is None else self.raw) + self.trail

    def render(self, translation: str) -> str:
        """The segment with its body replaced by `translation`, quoted as the segment's syntax needs."""
        if self.style == "yaml-double":
            translation = translation.replace("\\", "\\\\").replace('"', '\\"')
        elif self.style == "yaml-single":
            translation = translation.replace("'", "''")
        elif self.style == "yaml-plain" and _YAML_PLAIN_UNSAFE.search(translation):
            translation = '"' + translation.replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif self.raw is not None:
            eol = "\r\n" if "\r\n" in self.raw else "\r"
            translation = translation.replace("\n", eol)
        return self.lead + translation + self.trail


def _toml_front_matter_end(lines: list[str]) -> int:
    """Lines of TOML front matter between `+++` lines (Hugo), which the Markdown parser does not know; 0 if none."""
    if not lines or lines[0].rstrip() != "+++":
        return 0
    return next((i + 1 for i in range(1, len(lines)) if lines[i].rstrip() == "+++"), 0)


def _verbatim(text: str) -> Segment:
    return Segment("", text, "", False)


def _front_matter_segments(lines: list[str], keys: Collection[str]) -> list[Segment]:
    """Front matter verbatim, except single-line scalar values of top-level `keys` (YAML)."""
    if not keys:
        return [_verbatim("".join(lines))]
    segments = [_verbatim(lines[0])]
    for line in lines[1:]:
        m = _YAML_SCALAR.match(line)
        value = m.group("value") if m else ""
        if m is None or m.group("key") not in keys or not value:
            segments.append(_verbatim(line))
            continue
        lead, trail = line[: m.start("value")], m.group("end")
        if len(value) >= 2 and value[0] == value[-1] == '"' and "\\" not in value:
            segments.append(Segment(lead + '"', value[1:-1], '"' + trail, True, "yaml-double"))
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            inner = value[1:-1]
            segments.append(Segment(lead + "'", inner.replace("''", "'"), "'" + trail, True, "yaml-single", inner))
        elif value[0] not in "\"'|>[{&*!#" and " #" not in value:
            segments.append(Segment(lead, value, trail, True, "yaml-plain"))
        else:
            segments.append(_verbatim(line))
    return segments


@dataclass
class _Block:
    start: int
    end: int
    kind: str
    cuts: tuple[int, ...] = ()  # lines where a list too long for one chunk may be cut (its items' starts)

    @property
    def prose(self) -> bool:
        return self.kind.removesuffix("_part") in _PROSE_BLOCKS


@dataclass
class _Document:
    """What the chunker needs from one parse of the document."""

    blocks: list[_Block]
    nested: list[tuple[int, int]]  # line ranges of code, HTML and math blocks inside prose blocks
    labels: dict[int, set[str]]  # line -> normalized labels of the reference links starting on it
    words: set[int]  # lines whose inline text has letters
    references: dict[str, Any]


def _read(text: str) -> _Document:
    env: dict[str, Any] = {}
    tokens = parse(text, env)
    blocks: list[_Block] = []
    nested: list[tuple[int, int]] = []
    labels: dict[int, set[str]] = {}
    words: set[int] = set()
    for token in tokens:
        if token.level == 0 and token.map and token.nesting >= 0:
            blocks.append(_Block(token.map[0], token.map[1], token.type.removesuffix("_open")))
        elif token.type == "list_item_open" and token.level == 1 and token.map and blocks:
            blocks[-1].cuts += (token.map[0],)
        elif token.type in _NESTED_VERBATIM and token.map and token.map[1] > token.map[0]:
            nested.append((token.map[0], token.map[1]))
        elif token.type == "inline" and token.map and token.children:
            line = token.map[0]
            if any(ch.isalpha() for text in prose(token.children) for ch in text):
                words.add(line)
            for child in token.children:
                if child.type in ("link_open", "image") and "label" in child.meta:
                    labels.setdefault(line, set()).add(child.meta["label"])
                elif child.type == "footnote_ref":
                    labels.setdefault(line, set()).add("^" + child.meta["label"])
    return _Document(blocks, nested, labels, words, env.get("references", {}))


def _units(document: _Document, lines: list[str], first: int) -> list[_Block]:
    """The document from line `first` on as blocks and the gaps between them (blank, or definitions)."""
    units: list[_Block] = []
    position = first
    for block in document.blocks:
        if block.start < position:
            continue
        if block.start > position:
            units.append(_gap(lines, position, block.start))
        units.extend(_cut_around_nested(block, document.nested) if block.prose else [block])
        position = block.end
    if position < len(lines):
        units.append(_gap(lines, position, len(lines)))
    return units


def _cut_around_nested(block: _Block, nested: list[tuple[int, int]]) -> list[_Block]:
    """A prose block as prose parts and the verbatim blocks nested in it (a fence inside a list item)."""
    parts: list[_Block] = []
    position = block.start
    for start, end in nested:
        if start < position or end > block.end:
            continue
        if start > position:
            parts.append(_part(block, position, start))
        parts.append(_Block(start, end, "nested_verbatim"))
        position = end
    if not parts:
        return [block]
    if position < block.end:
        parts.append(_part(block, position, block.end))
    return parts


def _part(block: _Block, start: int, end: int) -> _Block:
    kind = block.kind if start == block.start else block.kind + "_part"
    return _Block(start, end, kind, tuple(c for c in block.cuts if start <= c < end))


def _gap(lines: list[str], start: int, end: int) -> _Block:
    blank = all(not line.strip() for line in lines[start:end])
    return _Block(start, end, "blank" if blank else "definitions")


def _tokens(lines: list[str], start: int, end: int) -> int:
    return estimate_tokens("".join(lines[start:end]))


def _pieces(region: list[_Block], lines: list[str], budget: int) -> list[tuple[int, int]]:
    """Packing units (line ranges): whole sections where they fit, else blocks, else a long list's items."""
    sections: list[list[_Block]] = []
    for block in region:
        if not sections or block.kind == "heading":
            sections.append([block])
        else:
            sections[-1].append(block)
    pieces: list[tuple[int, int]] = []
    for section in sections:
        start, end = section[0].start, section[-1].end
        if _tokens(lines, start, end) <= budget:
            pieces.append((start, end))
            continue
        for block in section:
            starts = sorted({block.start, *block.cuts})
            if len(starts) > 1 and _tokens(lines, block.start, block.end) > budget:
                pieces.extend(zip(starts, [*starts[1:], block.end], strict=True))
            else:
                pieces.append((block.start, block.end))
    # Blank lines between blocks go with the block before them, so the pieces cover the region.
    return [(a, pieces[i + 1][0] if i + 1 < len(pieces) else b) for i, (a, b) in enumerate(pieces)]


def _pack(pieces: list[tuple[int, int]], lines: list[str], budget: int) -> list[tuple[int, int]]:
    """Consecutive pieces joined into chunks as long as they fit the budget."""
    chunks: list[tuple[int, int]] = []
    start = end = -1
    for a, b in pieces:
        if start >= 0 and _tokens(lines, start, b) > budget:
            chunks.append((start, end))
            start = -1
        if start < 0:
            start = a
        end = b
    if start >= 0:
        chunks.append((start, end))
    return chunks


def _chunk(document: _Document, lines: list[str], start: int, end: int) -> Segment:
    """Lines [start, end) as one segment: sent if they hold words, with blank lines and indentation kept out."""
    text = "".join(lines[start:end])
    raw = text.strip()
    if not raw or not any(line in document.words for line in range(start, end)):
        return _verbatim(text)
    offset = text.index(raw)
    labels = set().union(*(document.labels.get(line, set()) for line in range(start, end)))
    definitions = "\n".join(
        f"[{label}]:" if label.startswith("^") else reference_definition(label, **document.references[label])
        for label in sorted(labels)
        if label.startswith("^") or label in document.references
    )
    body = raw.replace("\r\n", "\n").replace("\r", "\n")  # LF line endings; a BOM here is text, kept
    return Segment(
        text[:offset], body, text[offset + len(raw) :], True, raw=None if body == raw else raw, definitions=definitions
    )


def split_markdown(text: str, *, max_tokens: int, front_matter_keys: Collection[str] = ()) -> list[Segment]:
    """Segments of `text` (see module docstring); `"".join(s.text for s in result) == text`."""
    if max_tokens < 1:
        raise ValueError("the chunk token budget must be at least 1")
    bom = BOM if text.startswith(BOM) else ""
    lines = split_lines(text[len(bom) :])
    document = _read(normalize(text))
    segments = [_verbatim(bom)] if bom else []
    first = 0
    if document.blocks and document.blocks[0].kind == "front_matter":
        first = document.blocks[0].end
        segments += _front_matter_segments(lines[:first], front_matter_keys)
    elif first := _toml_front_matter_end(lines):
        segments.append(_verbatim("".join(lines[:first])))
    region: list[_Block] = []
    for unit in [*_units(document, lines, first), _Block(len(lines), len(lines), "end")]:
        if unit.prose or (unit.kind == "blank" and region):
            region.append(unit)
            continue
        trailing_blank = region.pop() if region and region[-1].kind == "blank" else None
        prose = [block for block in region if block.kind != "blank"]
        if prose:
            for a, b in _pack(_pieces(prose, lines, max_tokens), lines, max_tokens):
                segments.append(_chunk(document, lines, a, b))
        region = []
        if trailing_blank is not None:
            segments.append(_verbatim("".join(lines[trailing_blank.start : trailing_blank.end])))
        if unit.end > unit.start:
            segments.append(_verbatim("".join(lines[unit.start : unit.end])))
    return segments


def reassemble(segments: Sequence[Segment], translations: Mapping[int, str]) -> str:
    """The document with segment i's body replaced by translations[i] where given."""
    return "".join(
        seg.render(translations[i]) if i in translations else seg.text for i, seg in enumerate(segments)
    )
