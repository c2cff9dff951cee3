from __future__ import annotations

import re

import pytest

from apps.translate.chunking import Segment, estimate_tokens, reassemble, split_markdown
from tests.translate.conftest import FIXTURE
from utils.markdown import parse

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
def test_chunks_respect_the_budget_unless_one_block_is_longer(budget: int) -> None:
    segments = split_markdown(TRICKY, max_tokens=budget)
    for seg in chunks(segments):
        if estimate_tokens(seg.body) > budget:  # one paragraph, heading, table or list item: never cut
            assert len([t for t in parse(seg.body) if t.level == 0 and t.nesting >= 0]) == 1, seg.body


def test_whole_sections_are_packed_and_chunks_break_at_headings() -> None:
    words = "word " * 30 + "\n\n"
    text = f"# One\n\n{words}## Two\n\n{words}## Three\n\ntail\n\n## Four\n\n{words}"
    segments = split_markdown(text, max_tokens=60)
    assert [seg.body.split("\n")[0] for seg in chunks(segments)] == ["# One", "## Two", "## Four"]
    assert "## Three\n\ntail" in chunks(segments)[1].body


def test_a_long_list_is_cut_between_items_and_a_table_never() -> None:
    items = "".join(f"- item {i} " + "word " * 20 + "\n" for i in range(10))
    table = "| a | b |\n|---|---|\n" + "".join(f"| {i} | " + "cell " * 10 + "|\n" for i in range(20))
    text = f"{items}\n{table}"
    segments = split_markdown(text, max_tokens=80)
    bodies = [seg.body for seg in chunks(segments)]
    assert all(body.startswith("- item") for body in bodies[:-1]) and len(bodies) > 3
    assert bodies[-1] == table.strip()
    assert "".join(seg.text for seg in segments) == text


def test_the_long_section_is_split_at_paragraphs() -> None:
    segments = split_markdown(TRICKY, max_tokens=200)
    long = [seg for seg in chunks(segments) if "Paragraph" in seg.body]
    assert len(long) >= 4
    for seg in long:
        assert seg.body.startswith(("Paragraph", "## A very long section", "Setext heading"))
        assert seg.trail.startswith("\n")


def test_surrounding_whitespace_is_kept_out_of_the_body() -> None:
    text = "\n\n  Indented start\n\n# Heading\n\nbody text\n\n\n"
    segs = split_markdown(text, max_tokens=1000)
    (seg,) = chunks(segs)
    assert (seg.lead, seg.body) == ("  ", "Indented start\n\n# Heading\n\nbody text")
    assert "".join(s.render("X") if s.translate else s.text for s in segs) == "\n\n  X\n\n\n"


def test_line_endings_bom_and_trailing_spaces_survive() -> None:
    text = "\ufeff# Title  \r\n\r\nLine one  \r\nline two\r\n\r\n    code  \r\n\r\n\r\nEnd\r\n"
    segments = split_markdown(text, max_tokens=1000)
    assert "".join(seg.text for seg in segments) == text
    assert all("\r" not in seg.body for seg in chunks(segments))
    translated = reassemble(segments, {i: seg.body.upper() for i, seg in enumerate(segments) if seg.translate})
    assert translated.startswith("\ufeff") and translated.count("\r\n") == text.count("\r\n")
    assert "\n" not in translated.replace("\r\n", "") and "    code  \r\n" in translated


def test_code_html_and_math_inside_lists_and_quotes_are_never_sent() -> None:
    text = (
        "1. Step one:\n\n   ```bash\n   ./install --prefix /usr/local\n   ```\n\n   Then this.\n2. Step two\n\n"
        "> Quote\n>\n>     indented code in a quote\n\n- item\n\n  $$\n  x^2\n  $$\n"
    )
    segments = split_markdown(text, max_tokens=1000)
    assert "".join(seg.text for seg in segments) == text
    sent = "".join(seg.body for seg in chunks(segments))
    for code in ("./install", "indented code", "x^2"):
        assert code not in sent
    assert [seg.body for seg in chunks(segments)][0] == "1. Step one:"


def test_latex_environments_are_math_blocks_never_sent() -> None:
    """`\\begin{align}` ... `\\end{align}` without dollars, as pymdown-extensions' Arithmatex page writes it."""
    align = "\\begin{align}\n    p(v_i=1|\\mathbf{h}) & = \\sigma\\left(\\sum_j w_{ij}h_j\\right)\n\\end{align}\n"
    in_item = "".join("  " + line for line in align.splitlines(keepends=True))
    text = f"Block math:\n\n{align}\n- item\n\n{in_item}"
    segments = split_markdown(text, max_tokens=1000)
    assert "".join(seg.text for seg in segments) == text
    assert [seg.body for seg in chunks(segments)] == ["Block math:", "- item"]


def test_a_bom_inside_the_text_and_an_autolink_alone_are_not_prose_to_send() -> None:
    text = "Intro words here.\n\n\ufeff# Not a heading here\n\n1. <https://github.com/nodejs/node/issues/24448>\n"
    segments = split_markdown(text, max_tokens=5)
    assert [seg.body for seg in chunks(segments)] == ["Intro words here.", "\ufeff# Not a heading here"]


def test_reference_links_carry_their_definitions() -> None:
    text = (
        "See [Node.js website][] and [the guide].\n\nNo links.\n\n"
        "[node.js website]: https://nodejs.org\n[The Guide]: /g 'T'\n"
    )
    first, second = chunks(split_markdown(text, max_tokens=5))
    assert first.definitions == '[NODE.JS WEBSITE]: <https://nodejs.org>\n[THE GUIDE]: </g> "T"'
    assert second.definitions == ""


def test_blocks_without_words_are_not_sent() -> None:
    text = "Words here.\n\n```\ncode\n```\n\n---\n\n<img src=\"a.png\">\n\n```\nmore\n```\n\n`only code`\n"
    assert [seg.body for seg in chunks(split_markdown(text, max_tokens=1000))] == ["Words here."]


def test_html_comments_are_verbatim() -> None:
    text = "Para one\n\n<!-- keep\n\nme -->\n\nPara two\n"
    segments = split_markdown(text, max_tokens=1000)
    assert "<!-- keep\n\nme -->\n" in [seg.text for seg in segments if not seg.translate]


def test_toml_front_matter_is_verbatim() -> None:
    text = "+++\ntitle = 'A title'\ndraft = false\n+++\n\nBody text.\n"
    segments = split_markdown(text, max_tokens=100)
    assert segments[0].text == "+++\ntitle = 'A title'\ndraft = false\n+++\n" and not segments[0].translate
    assert [seg.body for seg in chunks(segments)] == ["Body text."]


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
