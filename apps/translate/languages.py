"""The languages the translator accepts, by English name or ISO code.

A fixed table (rather than free text) is what keeps `-l "../x"` from ever reaching a file name or a prompt:
anything not listed is rejected as an unknown language.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    name: str  # English name, used in prompts ("Target language: French")
    code: str  # ISO 639-1 code, optionally with a region; used in output file names


class UnknownLanguageError(ValueError):
    """A language word that is neither a known name nor a known code."""


_TABLE = [
    ("Chinese", "zh"), ("Traditional Chinese", "zh-TW"), ("Spanish", "es"), ("Japanese", "ja"),
    ("German", "de"), ("Russian", "ru"), ("Portuguese", "pt"), ("Brazilian Portuguese", "pt-BR"),
    ("French", "fr"), ("Korean", "ko"), ("Italian", "it"), ("Dutch", "nl"), ("Polish", "pl"),
    ("Turkish", "tr"), ("Arabic", "ar"), ("Hebrew", "he"), ("Hindi", "hi"), ("Bengali", "bn"),
    ("Vietnamese", "vi"), ("Thai", "th"), ("Indonesian", "id"), ("Malay", "ms"), ("Ukrainian", "uk"),
    ("Czech", "cs"), ("Slovak", "sk"), ("Hungarian", "hu"), ("Romanian", "ro"), ("Bulgarian", "bg"),
    ("Greek", "el"), ("Swedish", "sv"), ("Norwegian", "no"), ("Danish", "da"), ("Finnish", "fi"),
    ("Persian", "fa"), ("Urdu", "ur"), ("Tamil", "ta"), ("Catalan", "ca"), ("Croatian", "hr"),
    ("Serbian", "sr"), ("Lithuanian", "lt"), ("Latvian", "lv"), ("Estonian", "et"), ("Filipino", "fil"),
    ("Swahili", "sw"),
]
LANGUAGES: tuple[Language, ...] = tuple(Language(name, code) for name, code in _TABLE)

DEFAULT_LANGUAGES: tuple[Language, ...] = tuple(
    lang for code in ("zh", "es", "ja", "de", "ru", "pt", "fr", "ko") for lang in LANGUAGES if lang.code == code
)

_BY_WORD = {word.casefold(): lang for lang in LANGUAGES for word in (lang.name, lang.code)}
_BY_WORD.update({lang.code.replace("-", "_").casefold(): lang for lang in LANGUAGES})


def find_language(word: str) -> Language:
    """The language named by `word` (English name or code, any case)."""
    lang = _BY_WORD.get(word.strip().casefold())
    if lang is None:
        raise UnknownLanguageError(
            f"unknown language {word.strip()!r}; use an English name or ISO code such as "
            + ", ".join(lang.code for lang in DEFAULT_LANGUAGES)
        )
    return lang


def parse_languages(spec: str) -> list[Language]:
    """Comma-separated names or codes, in order, without duplicates; empty items are ignored."""
    found: list[Language] = []
    for word in spec.split(","):
        if word.strip():
            lang = find_language(word)
            if lang not in found:
                found.append(lang)
    if not found:
        raise UnknownLanguageError("no language given; pass names or codes such as -l fr,de,ja")
    return found
