from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from apps.translate.cache import CacheError, TranslationCache, cache_key

BASE = dict(text="Hello", language="fr", provider="openai", model="m", endpoint="http://127.0.0.1:8765/v1",
            prompt_version="v1", style="markdown")  # fmt: skip


def test_key_depends_on_every_input() -> None:
    keys = {cache_key(**BASE)}
    for field, other in [("text", "Hello!"), ("language", "de"), ("provider", "anthropic"), ("model", "m2"),
                         ("endpoint", "https://api.openai.com/v1"), ("prompt_version", "v2"),
                         ("style", "yaml-plain")]:  # fmt: skip
        keys.add(cache_key(**{**BASE, field: other}))
    assert len(keys) == 8


def test_entries_survive_reopening_and_use_wal(tmp_path: Path) -> None:
    with TranslationCache(tmp_path / "c") as cache:
        assert cache.get("k") is None
        cache.put("k", "Bonjour")
        cache.put("k", "Salut")
    with TranslationCache(tmp_path / "c") as cache:
        assert cache.get("k") == "Salut" and len(cache) == 1
    with sqlite3.connect(tmp_path / "c" / "translations.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unusable_folder_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CacheError, match="cannot open the translation cache"):
        TranslationCache(tmp_path / "file")


def test_a_damaged_cache_read_is_one_clear_error(tmp_path: Path) -> None:
    with TranslationCache(tmp_path / "c") as cache:
        with sqlite3.connect(cache.path) as other:
            other.execute("DROP TABLE chunks")
        with pytest.raises(CacheError, match="cannot read the translation cache"):
            cache.get("k")
