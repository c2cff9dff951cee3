"""An independent structural comparison of a Markdown document and its translation.

Written for the tests only: it walks markdown-it-py tokens from its own parser instance (not utils.markdown, not
the app's validator) and lists what a translation must keep: the block structure, code blocks, code spans,
link and image targets (reference links resolved through the document's own definitions), footnote references,
math and HTML. Two documents with equal `structure()` render to the same skeleton with only the words changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin

_MD = (
    MarkdownIt("commonmark")
    .enable(["table", "strikethrough"])
    .use(front_matter_plugin)
    .use(footnote_plugin)
    .use(dollarmath_plugin)
    .use(amsmath_plugin)
    .use(gfm_autolink_plugin)
)
_VERBATIM = {"fence", "code_block", "html_block", "math_block", "math_block_label", "amsmath", "front_matter", "hr"}


@dataclass
class Structure:
    blocks: list[str] = field(default_factory=list)  # block tokens with nesting depth, table shapes
    code: list[str] = field(default_factory=list)  # code blocks, HTML blocks, math blocks, front matter
    spans: list[str] = field(default_factory=list)  # code spans, inline math, inline HTML
    targets: list[str] = field(default_factory=list)  # link and image destinations and titles
    footnotes: list[str] = field(default_factory=list)


def _children(token: Token, out: Structure) -> None:
    for child in token.children or ():
        if child.type == "code_inline":
            out.spans.append(child.markup + child.content + child.markup)
        elif child.type.startswith("math_inline") or child.type == "html_inline":
            out.spans.append(f"{child.type}:{child.content}")
        elif child.type == "link_open":
            out.targets.append(f"{child.attrGet('href')} {child.attrGet('title')}")
        elif child.type == "image":
            out.targets.append(f"img {child.attrGet('src')} {child.attrGet('title')}")
        elif child.type == "footnote_ref":
            out.footnotes.append(str(child.meta["label"]))


def structure(text: str) -> Structure:
    out = Structure()
    tokens = _MD.parse(text.removeprefix("\ufeff"))
    for token in tokens:
        if token.type == "inline":
            _children(token, out)
        elif token.type in _VERBATIM:
            out.blocks.append(f"{token.level}:{token.type}")
            out.code.append(f"{token.type}:{token.info}:{token.content}")
        elif token.nesting == 1:
            detail = token.tag if token.type == "heading_open" else token.attrGet("start") or ""
            if token.type == "footnote_open":
                detail = str(token.meta.get("label"))
            out.blocks.append(f"{token.level}:{token.type}:{detail}")
    return out


def differences(source: str, output: str) -> list[str]:
    """What differs between the two documents' structures (empty when identical)."""
    a, b = structure(source), structure(output)
    found = []
    for name in ("blocks", "code", "spans", "targets", "footnotes"):
        left, right = getattr(a, name), getattr(b, name)
        if left != right:
            pairs = enumerate(zip(left, right, strict=False))
            first = next((i for i, (x, y) in pairs if x != y), min(len(left), len(right)))
            found.append(
                f"{name}: {len(left)} vs {len(right)}, first difference at {first}: "
                f"{left[first:first + 1]!r} vs {right[first:first + 1]!r}"
            )
    return found
