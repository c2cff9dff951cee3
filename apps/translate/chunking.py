"""Split a Markdown document into translatable chunks and verbatim pieces, and put it back together.

The document becomes a list of segments whose texts, concatenated, are the source byte for byte. Fenced code
blocks, HTML comments and front matter are verbatim segments: never split, never sent to a model. The prose
between them is packed into chunks under a token budget, breaking at section headings first, then at blocks
(paragraphs, lists, tables), then at lines; a single line longer than the budget stays whole. Each chunk keeps
its surrounding whitespace (blank lines, first-line indentation) out of what is sent, so joins between chunks
keep the original separators whatever the model does with whitespace.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from utils.llm_providers import estimate_tokens
from utils.pseudo import front_matter_end

__all__ = ["Segment", "estimate_tokens", "reassemble", "split_lines", "split_markdown"]

Style = Literal["markdown", "yaml-plain", "yaml-double", "yaml-single"]

_FENCE_OPEN = re.compile(r"^[ \t>]*(`{3,}|~{3,})(.*)$")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_YAML_SCALAR = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:[ \t]+(?P<value>.*?)(?P<end>[ \t]*\r?\n?)$")
_YAML_PLAIN_UNSAFE = re.compile(r"^[-?:,\[\]{}#&*!|>'\"%@`]|: | #|[\r\n]")
_NOT_PROSE = re.compile(r"`+[^`]*`+|<[^<>]*>|\]\([^)]*\)|https?://\S+")


@dataclass(frozen=True)
class Segment:
    """A stretch of the source. `lead + body + trail` is the original text; only `body` is ever translated."""

    lead: str
    body: str
    trail: str
    translate: bool
    style: Style = "markdown"

    @property
    def text(self) -> str:
        return self.lead + self.body + self.trail

    def render(self, translation: str) -> str:
        """The segment with its body replaced by `translation`, quoted as the segment's syntax needs."""
        if self.style == "yaml-double":
            translation = translation.replace("\\", "\\\\").replace('"', '\\"')
        elif self.style == "yaml-single":
            translation = translation.replace("'", "''")
        elif self.style == "yaml-plain" and _YAML_PLAIN_UNSAFE.search(translation):
            translation = '"' + translation.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return self.lead + translation + self.trail


def _verbatim(text: str) -> Segment:
    return Segment("", text, "", False)


def _prose(text: str) -> Segment:
    """A chunk of Markdown: surrounding whitespace split off; verbatim if nothing in it reads as words."""
    body = text.strip()
    if not any(ch.isalpha() for ch in _NOT_PROSE.sub("", body)):
        return _verbatim(text)
    start = text.index(body)
    return Segment(text[:start], body, text[start + len(body) :], True)


def split_lines(text: str) -> list[str]:
    """Lines with their line endings; joining them gives `text` back."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _front_matter_segments(lines: list[str], keys: Collection[str]) -> list[Segment]:
    """Front matter verbatim, except single-line scalar values of top-level `keys` (YAML only)."""
    if not keys or lines[0].rstrip() != "---":
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
            segments.append(Segment(lead + "'", value[1:-1].replace("''", "'"), "'" + trail, True, "yaml-single"))
        elif value[0] not in "\"'|>[{&*!#" and " #" not in value:
            segments.append(Segment(lead, value, trail, True, "yaml-plain"))
        else:
            segments.append(_verbatim(line))
    return segments


def _is_fence_close(line: str, fence: str) -> bool:
    stripped = re.sub(r"^[\s>]*", "", line).rstrip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def _verbatim_end(lines: list[str], i: int) -> int:
    """End (exclusive) of the fenced code block or whole-line HTML comment starting at line i, or -1."""
    line = lines[i]
    fence = _FENCE_OPEN.match(line)
    if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
        j = i + 1
        while j < len(lines) and not _is_fence_close(lines[j], fence.group(1)):
            j += 1
        return min(j + 1, len(lines))  # an unclosed fence runs to the end of the document
    if line.lstrip().startswith("<!--"):
        j = i
        while j < len(lines) and "-->" not in lines[j]:
            j += 1
        if j < len(lines) and lines[j].rstrip().endswith("-->"):
            return j + 1
    return -1


def _blocks(lines: list[str]) -> list[tuple[bool, str]]:
    """(verbatim, text) blocks: fenced code and HTML comments are verbatim; a prose block is a run of
    non-blank lines (paragraph, list, table; an ATX heading always starts one) plus the blank lines after it."""
    blocks: list[tuple[bool, str]] = []
    prose, after_blank = "", False
    i = 0
    while i < len(lines):
        end = _verbatim_end(lines, i)
        if end >= 0 or (lines[i].strip() and (after_blank or _ATX_HEADING.match(lines[i]))):
            if prose:
                blocks.append((False, prose))
            prose, after_blank = "", False
        if end >= 0:
            blocks.append((True, "".join(lines[i:end])))
            i = end
            continue
        prose += lines[i]
        after_blank = not lines[i].strip()
        i += 1
    if prose:
        blocks.append((False, prose))
    return blocks


def _starts_section(block: str) -> bool:
    lines = block.lstrip("\r\n").split("\n")
    return bool(_ATX_HEADING.match(lines[0])) or (
        len(lines) > 1 and bool(lines[0].strip()) and bool(_SETEXT_UNDERLINE.match(lines[1]))
    )


def _units(region: list[str], budget: int) -> list[str]:
    """Packing units for one prose region: whole sections where they fit, else blocks, else lines."""
    sections: list[list[str]] = []
    for block in region:
        if not sections or _starts_section(block):
            sections.append([block])
        else:
            sections[-1].append(block)
    units: list[str] = []
    for section in sections:
        if estimate_tokens("".join(section)) <= budget:
            units.append("".join(section))
            continue
        for block in section:
            units.extend([block] if estimate_tokens(block) <= budget else split_lines(block))
    return units


def _pack(units: list[str], budget: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for unit in units:
        if current.strip() and unit.strip() and estimate_tokens(current + unit) > budget:
            chunks.append(current)
            current = ""
        current += unit
    if current:
        chunks.append(current)
    return chunks


def split_markdown(text: str, *, max_tokens: int, front_matter_keys: Collection[str] = ()) -> list[Segment]:
    """Segments of `text` (see module docstring); `"".join(s.text for s in result) == text`."""
    if max_tokens < 1:
        raise ValueError("the chunk token budget must be at least 1")
    lines = split_lines(text)
    head = front_matter_end(lines) + 1  # lines of front matter, 0 if none
    segments = _front_matter_segments(lines[:head], front_matter_keys) if head else []
    region: list[str] = []
    for verbatim, block in _blocks(lines[head:]) + [(True, "")]:
        if not verbatim:
            region.append(block)
            continue
        segments.extend(_prose(chunk) for chunk in _pack(_units(region, max_tokens), max_tokens))
        region = []
        if block:
            segments.append(_verbatim(block))
    return segments


def reassemble(segments: Sequence[Segment], translations: Mapping[int, str]) -> str:
    """The document with segment i's body replaced by translations[i] where given."""
    return "".join(
        seg.render(translations[i]) if i in translations else seg.text for i, seg in enumerate(segments)
    )
