"""The translation prompt, in the request convention of utils.pseudo (so the offline provider and the loopback
server can answer it): a `Target language: <name>` line and the source between `<document>` lines.

PROMPT_VERSION is part of every cache key: bump it whenever the wording changes what a model would answer.
"""
from __future__ import annotations

from collections.abc import Sequence

PROMPT_VERSION = "translate-v2"

SYSTEM = (
    "You are a professional technical translator. Translate the Markdown document you are given into the target "
    "language. Keep the Markdown exactly as it is: headings, list markers, indentation, table pipes, line breaks, "
    "inline code in backticks, URLs, link and image targets, reference labels, HTML tags and attributes, "
    "{placeholders} and emoji shortcodes stay byte-identical; translate only the human-readable text (including "
    "link texts and image alt texts). A reference link written [text][] or [text] becomes [translated text][text] "
    "(the original text as its label), so it still points to its definition. Link reference definitions at the "
    "end of the document are there so its links resolve: copy them unchanged. Answer with the translated "
    "document only: no explanations, no reasoning, no code fence around it, no <document> tags."
)

_SINGLE_LINE = "The document is a single line of metadata: answer with a single line."


def build_prompt(
    source: str, language: str, *, single_line: bool = False, problems: Sequence[str] = (), definitions: str = ""
) -> tuple[str, str]:
    """(system, user) for translating `source` into `language`; `problems` from a failed attempt make it stricter.

    `definitions` (link reference definitions the chunk's links use) are appended to the document."""
    system = SYSTEM + (" " + _SINGLE_LINE if single_line else "")
    lines = [f"Target language: {language}"]
    if problems:
        lines.append(
            "Your previous translation of this document was rejected because: " + "; ".join(problems) + ". "
            "Translate it again, keeping every item named above exactly as in the source, and translate the "
            "whole document to the end."
        )
    document = f"{source}\n\n{definitions}" if definitions else source
    lines += ["<document>", document, "</document>"]
    return system, "\n".join(lines)
