"""SQLite cache of translated chunks, so a rerun pays only for chunks not translated yet.

Each chunk is stored the moment it passes validation, so a crash or Ctrl-C loses nothing finished. One
connection, used only from the event loop's thread (every call is a short local query, so it does not stall the
loop); WAL mode and a busy timeout let a second process share the file.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from types import TracebackType

CACHE_FILE = "translations.sqlite3"


class CacheError(RuntimeError):
    """The cache file cannot be opened or written."""


def cache_key(*, text: str, language: str, provider: str, model: str, prompt_version: str, style: str) -> str:
    """Hash of everything that determines a chunk's translation."""
    payload = json.dumps([prompt_version, provider, model, language, style, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class TranslationCache:
    """`get(key)` / `put(key, translation)` over a table in `<folder>/translations.sqlite3`."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / CACHE_FILE
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS chunks (key TEXT PRIMARY KEY, translation TEXT NOT NULL, created REAL)"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the translation cache {self.path}: {exc}") from exc

    def get(self, key: str) -> str | None:
        try:
            row = self._db.execute("SELECT translation FROM chunks WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise CacheError(f"cannot read the translation cache {self.path}: {exc}") from exc
        return None if row is None else str(row[0])

    def put(self, key: str, translation: str) -> None:
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO chunks (key, translation, created) VALUES (?, ?, ?)",
                (key, translation, time.time()),
            )
            self._db.commit()
        except sqlite3.Error as exc:
            raise CacheError(f"cannot write the translation cache {self.path}: {exc}") from exc

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
