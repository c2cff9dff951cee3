from __future__ import annotations

from apps.translate.prompts import build_prompt
from utils.pseudo import parse_translation_request


def test_prompt_follows_the_translation_request_convention() -> None:
    source = "# Title\n\n<document>\nquoted tag inside\n</document>\n\nend"
    system, user = build_prompt(source, "Japanese")
    assert parse_translation_request(user) == ("Japanese", source)
    assert "byte-identical" in system


def test_a_retry_prompt_names_the_problems() -> None:
    _, user = build_prompt("text", "French", problems=["inline code changed or missing: '`x`'"])
    assert "rejected because: inline code changed or missing: '`x`'" in user
    assert parse_translation_request(user) == ("French", "text")


def test_single_line_values_are_asked_for_one_line() -> None:
    system, _ = build_prompt("A title", "German", single_line=True)
    assert "single line" in system
