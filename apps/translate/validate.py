"""Checks that a translated chunk has the structure of its source, by parsing both (utils.markdown).

A model's answer can look fine and still break the document: a lost heading, list item or table cell, a
rewritten URL or reference label, a translated code span, text it added around the translation ("Sure! Here
is..."), a reasoning block, the source sent back untranslated, a dropped paragraph, an answer cut short. Each
check names what is wrong, so the retry prompt can say exactly what to fix.

VALIDATOR_VERSION is stored with every cached chunk: bump it whenever a check changes, so cached answers are
checked again when read (apps.translate.nodes).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from markdown_it.token import Token

from utils.markdown import definitions_env, fresh_env, normalize, parse, prose

__all__ = ["VALIDATOR_VERSION", "check_translation", "strip_definitions", "unwrap"]

VALIDATOR_VERSION = "structure-v2"

_THINK = re.compile(r"\A\s*<think>.*?</think>\s*", re.DOTALL | re.IGNORECASE)
_PROMPT_LEFTOVER = re.compile(r"^\s*(?:</?document>|target language:)", re.IGNORECASE | re.MULTILINE)
_REASONING_TAG = re.compile(r"</?think>", re.IGNORECASE)
# Translations into these scripts are much shorter in characters than the English they come from.
_DENSE_SCRIPTS = ("zh", "ja", "ko")
_MIN_LENGTH_FOR_RATIO = 100
MIN_LETTERS_FOR_ECHO = 20  # below this a chunk left as it is may be right (a name: "# Corepack")
_SOURCE_LANGUAGE = "en"


def unwrap(answer: str, source: str) -> str:
    """The answer without a leading `<think>` block (reasoning models) and without a ```markdown fence put
    around the whole of it (a common habit): neither is an error."""
    answer = _THINK.sub("", answer, count=1)
    if not answer.lstrip().startswith(("```", "~~~")):
        return answer
    tokens = parse(normalize(answer.strip()))
    if (
        len(tokens) == 1
        and tokens[0].type == "fence"
        and tokens[0].info.strip().lower() in ("", "markdown", "md")
        and not any(t.type == "fence" for t in parse(normalize(source)))
    ):
        return tokens[0].content.rstrip("\n")
    return answer


def strip_definitions(answer: str, definitions: str = "") -> str:
    """The answer without the `definitions` sent along with the chunk (link reference definitions and empty
    footnote definitions at its end). Without `definitions`, whatever follows the answer's last block goes."""
    text = normalize(answer).rstrip()
    sent = [line.strip() for line in definitions.split("\n") if line.strip()]
    lines = text.split("\n")
    end, found = len(lines), 0
    while end and found < len(sent) and (lines[end - 1].strip() in sent or not lines[end - 1].strip()):
        found += bool(lines[end - 1].strip())
        end -= 1
    if found == len(sent) and sent:
        return "\n".join(lines[:end]).rstrip()
    tokens = parse(text)
    last = 0
    for i, token in enumerate(tokens):
        empty_footnote = token.type == "footnote_reference_open" and tokens[i + 1].type == "footnote_reference_close"
        if token.map and token.level == 0 and not empty_footnote:
            last = max(last, token.map[1])
    return "\n".join(lines[:last]).rstrip() if last else answer


def _table_shape(tokens: list[Token], start: int) -> str:
    rows = cols = 0
    for token in tokens[start:]:
        if token.type == "table_close":
            break
        if token.type == "tr_open":
            rows += 1
        elif token.type in ("th_open", "td_open") and rows == 1:
            cols += 1
    return f"table of {rows} rows x {cols} columns"


def _block(tokens: list[Token], i: int) -> str | None:
    """A short description of block token i, or None if it is not a block that counts."""
    token = tokens[i]
    kind = token.type
    depth = "  " * token.level
    if kind == "heading_open":
        return f"{depth}heading level {token.tag[1:]}"
    if kind == "paragraph_open":
        return f"{depth}paragraph"
    if kind in ("bullet_list_open", "ordered_list_open"):
        return f"{depth}{kind.removesuffix('_open').replace('_', ' ')}"
    if kind == "list_item_open":
        return f"{depth}list item"
    if kind == "blockquote_open":
        return f"{depth}block quote"
    if kind == "table_open":
        return f"{depth}{_table_shape(tokens, i)}"
    if kind == "footnote_reference_open":
        return f"{depth}footnote [^{token.meta.get('label', '')}]"
    if kind == "hr":
        return f"{depth}thematic break"
    if kind in ("fence", "code_block", "html_block", "math_block", "math_block_label", "amsmath", "front_matter"):
        what = {"fence": "code block", "code_block": "indented code block", "html_block": "HTML block",
                "amsmath": "LaTeX math environment"}  # fmt: skip
        return f"{depth}{what.get(kind, kind.replace('_', ' '))}: {token.info + token.content!r}"
    return None


def _inline_parts(tokens: list[Token]) -> dict[str, Counter[str]]:
    """What must come back byte-identical from inside the prose, by kind."""
    parts: dict[str, Counter[str]] = {
        "inline code": Counter(), "link and image targets": Counter(), "footnote references": Counter(),
        "inline math": Counter(), "inline HTML": Counter(),
    }  # fmt: skip
    for token in tokens:
        for child in token.children or ():
            if child.type == "code_inline":
                parts["inline code"][child.markup + child.content + child.markup] += 1
            elif child.type in ("link_open", "image"):
                target = child.attrs.get("href", child.attrs.get("src", ""))
                title = child.attrs.get("title")
                label = child.meta.get("label")
                parts["link and image targets"][
                    f"{target}" + (f" {title!r}" if title else "") + (f" [{label}]" if label else "")
                ] += 1
            elif child.type == "footnote_ref":
                parts["footnote references"][f"[^{child.meta.get('label', '')}]"] += 1
            elif child.type.startswith("math_inline"):
                parts["inline math"][child.content] += 1
            elif child.type == "html_inline":
                parts["inline HTML"][child.content] += 1
    return parts


def _prose(tokens: list[Token]) -> str:
    """The words of the chunk (text outside code, autolinks, links' targets and HTML), whitespace collapsed."""
    words = [text for token in tokens if token.children for text in prose(token.children)]
    return " ".join(" ".join(words).split())


def _quote(items: Iterable[str]) -> str:
    return ", ".join(repr(item) for item in items)


def _structure_problems(source: list[str], answer: list[str]) -> list[str]:
    if source == answer:
        return []
    n = len(source)
    if len(answer) > n and answer[len(answer) - n :] == source:
        return ["text was added before the translation (chatter such as 'Here is the translation'): answer "
                "with the translated document only"]  # fmt: skip
    if len(answer) > n and answer[:n] == source:
        return ["text was added after the translation (a note or explanation): answer with the translated "
                "document only"]  # fmt: skip
    if len(answer) < n:
        lost = Counter(b.strip() for b in source) - Counter(b.strip() for b in answer)
        if lost and not Counter(b.strip() for b in answer) - Counter(b.strip() for b in source):
            what = ", ".join(f"{count} {kind}" for kind, count in lost.items())
            return [f"blocks of the source are missing from the answer ({what}): translate every block"]
    first = next((i for i, (a, b) in enumerate(zip(source, answer, strict=False)) if a != b), min(n, len(answer)))
    expected = source[first].strip() if first < n else "nothing more"
    found = answer[first].strip() if first < len(answer) else "nothing more"
    return [
        f"the block structure changed ({n} blocks in the source, {len(answer)} in the answer); block "
        f"{first + 1} should be {expected[:120]} but is {found[:120]}"
    ]


_Summary = tuple[list[str], dict[str, Counter[str]], str]


def _summary(text: str, definitions: str) -> _Summary:
    """Blocks, inline parts and prose of a chunk parsed with its definitions."""
    tokens = parse(normalize(text), fresh_env(definitions_env(definitions)))
    blocks = [b for i in range(len(tokens)) if (b := _block(tokens, i)) is not None]
    return blocks, _inline_parts(tokens), _prose(tokens)


_source_summary = lru_cache(maxsize=4096)(_summary)  # a source is checked once per language: parse it once


def check_translation(
    source: str, translation: str, *, language_code: str, single_line: bool = False, definitions: str = ""
) -> list[str]:
    """Problems found in `translation` of `source` (empty when it passes), each a short sentence.

    `definitions` are the link reference definitions the chunk's reference links resolve to."""
    if not translation.strip():
        return ["the answer is empty"]
    problems: list[str] = []
    leftovers = set(_PROMPT_LEFTOVER.findall(translation)) - set(_PROMPT_LEFTOVER.findall(source))
    if leftovers:
        problems.append(f"the answer contains prompt markup {_quote(s.strip() for s in sorted(leftovers))}")
    if _REASONING_TAG.search(translation) and not _REASONING_TAG.search(source):
        problems.append("the answer contains a reasoning block (<think>): answer with the translation only")
    if single_line:
        if "\n" in translation.strip():
            problems.append("the answer must be a single line")
        return problems
    source_blocks, source_parts, source_prose = _source_summary(source, definitions)
    answer_blocks, answer_parts, answer_prose = _summary(translation, definitions)
    problems += _structure_problems(source_blocks, answer_blocks)
    for what, expected in source_parts.items():
        found = answer_parts[what]
        if missing := sorted((expected - found).keys()):
            problems.append(f"{what} changed or missing (keep them byte-identical): {_quote(missing)}")
        elif added := sorted((found - expected).keys()):
            problems.append(f"{what} added that the source does not have: {_quote(added)}")
    letters = sum(ch.isalpha() for ch in source_prose)
    if (
        language_code.split("-")[0].lower() != _SOURCE_LANGUAGE
        and letters >= MIN_LETTERS_FOR_ECHO
        and answer_prose == source_prose
    ):
        problems.append("the answer is the source text, not translated: translate the prose into the target language")
    ratio = 0.15 if language_code.split("-")[0] in _DENSE_SCRIPTS else 0.35
    if len(source.strip()) >= _MIN_LENGTH_FOR_RATIO and len(translation.strip()) < ratio * len(source.strip()):
        problems.append(
            f"the answer looks truncated ({len(translation.strip())} characters for {len(source.strip())})"
        )
    return problems
