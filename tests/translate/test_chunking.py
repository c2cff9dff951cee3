from __future__ import annotations

import re

import pytest

from apps.translate.chunking import Segment, estimate_tokens, reassemble, split_markdown
from tests.translate.conftest import FIXTURE

TRICKY = FIXTURE.read_text(encoding="utf-8")
FENCED = re.compile(r"^[ \t>]*(`{3,}|~{3,})[^\n]*\n(?:.*\n)*?[ \t>]*\1[ \t]*\n", re.MULTILINE)


def chunks(segments: list[Segment]) -> list[Segment]:
    return [seg for seg in segments if seg.translate]


@pytest.mark.parametrize("budget", [1, 20, 80, 200, 600, 100_000])
@pytest.mark.parametrize("keys", [(), ("title", "description")])
def test_untranslated_reassembly_is_byte_identical(budget: int, keys: tuple[str, ...]) -> None:
    segments = split_markdown(TRICKY, max_tokens=budget, front_matter_keys=keys)
    assert "".join(seg.text for seg in segments) == TRICKY
    assert reassemble(segments, {}) == TRICKY
    identity = {i: seg.body for i, seg in enumerate(segments) if seg.translate and seg.style == "markdown"}
    assert reassemble(segments, identity) == TRICKY


@pytest.mark.parametrize("text", ["", "\n", "plain", "a\r\nb\r\n\r\n# H\r\n", "```\nunclosed fence\n# x\n", "x\n\n\n"])
def test_reassembly_of_edge_cases(text: str) -> None:
    assert "".join(seg.text for seg in split_markdown(text, max_tokens=5)) == text


@pytest.mark.parametrize("budget", [1, 50, 600])
def test_fenced_blocks_are_never_split_nor_sent(budget: int) -> None:
    segments = split_markdown(TRICKY, max_tokens=budget)
    fences = [m.group(0) for m in FENCED.finditer(TRICKY)]
    assert len(fences) == 5  # bash, 4-backtick markdown (with a fence inside), json in a list, quote, tilde
    verbatim = [seg.text for seg in segments if not seg.translate]
    for fence in fences:
        assert any(fence in text for text in verbatim), fence
    for seg in chunks(segments):
        assert "```" not in seg.body and "~~~" not in seg.body
        assert "# A heading inside a fence" not in seg.body


def test_markdown_inside_a_long_fence_stays_in_the_fence() -> None:
    text = "Intro\n\n````md\n# Not a heading\n\n```\ninner\n```\n\n- item\n````\n\nOutro\n"
    segments = split_markdown(text, max_tokens=1)
    assert [seg.body for seg in chunks(segments)] == ["Intro", "Outro"]
    assert "````md\n# Not a heading\n\n```\ninner\n```\n\n- item\n````\n" in [seg.text for seg in segments]


@pytest.mark.parametrize("budget", [30, 80, 200, 600])
def test_chunks_respect_the_budget_unless_a_single_line_is_longer(budget: int) -> None:
    segments = split_markdown(TRICKY, max_tokens=budget)
    for seg in chunks(segments):
        if estimate_tokens(seg.body) > budget:
            assert "\n" not in seg.body.strip(), seg.body


def test_whole_sections_are_packed_and_chunks_break_at_headings() -> None:
    words = "word " * 30 + "\n\n"
    text = f"# One\n\n{words}## Two\n\n{words}## Three\n\ntail\n\n## Four\n\n{words}"
    segments = split_markdown(text, max_tokens=60)
    assert [seg.body.split("\n")[0] for seg in chunks(segments)] == ["# One", "## Two", "## Four"]
    assert "## Three\n\ntail" in chunks(segments)[1].body


def test_the_long_section_is_split_at_paragraphs() -> None:
    segments = split_markdown(TRICKY, max_tokens=200)
    long = [seg for seg in chunks(segments) if "Paragraph" in seg.body]
    assert len(long) >= 4
    for seg in long:
        assert seg.body.startswith(("Paragraph", "## A very long section", "Setext heading"))
        assert seg.trail.startswith("\n")


def test_surrounding_whitespace_is_kept_out_of_the_body() -> None:
    text = "\n\n  Indented start\n\n# Heading\n\nbody text\n\n\n"
    (seg,) = chunks(split_markdown(text, max_tokens=1000))
    assert (seg.lead, seg.trail) == ("\n\n  ", "\n\n\n")
    assert seg.render("X") == "\n\n  X\n\n\n"


def test_blocks_without_words_are_not_sent() -> None:
    text = "Words here.\n\n```\ncode\n```\n\n---\n\n<img src=\"a.png\">\n\n```\nmore\n```\n\n`only code`\n"
    assert [seg.body for seg in chunks(split_markdown(text, max_tokens=1000))] == ["Words here."]


def test_html_comments_are_verbatim() -> None:
    text = "Para one\n\n<!-- keep\n\nme -->\n\nPara two\n"
    segments = split_markdown(text, max_tokens=1000)
    assert "<!-- keep\n\nme -->\n" in [seg.text for seg in segments if not seg.translate]


def test_front_matter_is_verbatim_by_default() -> None:
    segments = split_markdown(TRICKY, max_tokens=600)
    assert not segments[0].translate and segments[0].text.startswith("---\ntitle:")
    assert segments[0].text.endswith("draft: false\n---\n")


def test_configured_front_matter_values_are_chunks() -> None:
    segments = split_markdown(TRICKY, max_tokens=600, front_matter_keys={"title", "description", "tags"})
    values = [(seg.body, seg.style) for seg in chunks(segments)][:2]
    assert values == [
        ("Tricky: a Markdown torture test", "yaml-double"),
        ("Shows everything a translator must keep intact", "yaml-plain"),
    ]  # tags is a YAML list: kept verbatim


@pytest.mark.parametrize(
    ("line", "translation", "expected"),
    [
        ('title: "A"\n', 'Un "B" \\ c', 'title: "Un \\"B\\" \\\\ c"\n'),
        ("title: 'A'\n", "l'été", "title: 'l''été'\n"),
        ("title: A\n", "Titre simple", "title: Titre simple\n"),
        ("title: A\n", "Titre : avec deux-points", 'title: "Titre : avec deux-points"\n'),
    ],
)
def test_front_matter_values_are_requoted_for_yaml(line: str, translation: str, expected: str) -> None:
    segments = split_markdown(f"---\n{line}---\nBody\n", max_tokens=100, front_matter_keys={"title"})
    index = next(i for i, seg in enumerate(segments) if seg.translate and seg.style != "markdown")
    assert reassemble(segments, {index: translation}) == f"---\n{expected}---\nBody\n"


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_markdown("x", max_tokens=0)


def test_a_heading_right_after_a_paragraph_still_starts_a_section() -> None:
    text = "# One\n" + "word " * 40 + "\n## Two\n" + "word " * 40 + "\n"
    assert [seg.body.split("\n")[0] for seg in chunks(split_markdown(text, max_tokens=60))] == ["# One", "## Two"]
