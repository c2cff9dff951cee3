"""Structure checks on a translated Markdown file, independent of the app's own validator."""
from __future__ import annotations

import re
from collections import Counter

FENCED = re.compile(r"^[ \t>]*(`{3,}|~{3,})[^\n]*\n(?:.*\n)*?[ \t>]*\1[ \t]*\n", re.MULTILINE)
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
TARGET = re.compile(r"\]\(((?:[^()\s]|\([^()\s]*\))+)")
HEADING = re.compile(r"^#{1,6} ", re.MULTILINE)
HTML_TAG = re.compile(r"</?[a-z]+[^>]*>")


def outside_fences(text: str) -> str:
    return FENCED.sub("", text)


def assert_structure_kept(source: str, output: str) -> None:
    """Code byte-identical, link targets and HTML tags unchanged, same headings, table rows and line layout."""
    assert output != source
    assert FENCED.findall(output) == FENCED.findall(source)
    assert [m.group(0) for m in FENCED.finditer(output)] == [m.group(0) for m in FENCED.finditer(source)]
    prose_in, prose_out = outside_fences(source), outside_fences(output)
    assert Counter(m.group(0) for m in CODE_SPAN.finditer(prose_out)) == Counter(
        m.group(0) for m in CODE_SPAN.finditer(prose_in)
    )
    assert TARGET.findall(prose_out) == TARGET.findall(prose_in)
    assert Counter(HTML_TAG.findall(prose_out)) == Counter(HTML_TAG.findall(prose_in))
    assert len(HEADING.findall(prose_out)) == len(HEADING.findall(prose_in))
    rows_in = [line for line in source.split("\n") if line.startswith("|")]
    rows_out = [line for line in output.split("\n") if line.startswith("|")]
    assert len(rows_out) == len(rows_in) and [r.count("|") for r in rows_out] == [r.count("|") for r in rows_in]
    # Joins keep their separators: same number of lines, blank lines in the same places.
    lines_in, lines_out = source.split("\n"), output.split("\n")
    assert len(lines_out) == len(lines_in)
    assert [i for i, line in enumerate(lines_out) if not line.strip()] == [
        i for i, line in enumerate(lines_in) if not line.strip()
    ]
    front_in, front_out = source.split("\n---\n", 1)[0], output.split("\n---\n", 1)[0]
    assert front_out.count("\n") == front_in.count("\n")
