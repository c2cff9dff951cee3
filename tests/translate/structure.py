"""Structure checks on a translated Markdown file, independent of the app's own validator."""
from __future__ import annotations

from tests.translate.independent import differences


def assert_structure_kept(source: str, output: str) -> None:
    """Prose changed; blocks, code, link targets, footnotes and HTML identical by an independent parse; the
    same line layout (number of lines, blank lines in the same places)."""
    assert output != source
    assert differences(source, output) == []
    lines_in, lines_out = source.split("\n"), output.split("\n")
    assert len(lines_out) == len(lines_in)
    assert [i for i, line in enumerate(lines_out) if not line.strip()] == [
        i for i, line in enumerate(lines_in) if not line.strip()
    ]
