"""SQLite cache of translated chunks, so a rerun pays only for chunks not translated yet.

Each chunk is stored the moment it passes validation (a failing chunk is never stored), with the version of the
validator that passed it: an answer read back under another version is checked again (get_checked), so a
validator fix also repairs old caches. A crash or Ctrl-C loses nothing finished. One
connection, used only from the event loop's thread (every call is a short local query, so it does not stall the
loop); WAL mode and a busy timeout let a second process share the file.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

CACHE_FILE = "translations.sqlite3"


class CacheError(RuntimeError):
    """The cache file cannot be opened or written."""


def cache_key(
    *, text: str, language: str, provider: str, model: str, endpoint: str, prompt_version: str, style: str
) -> str:
    """Hash of everything that determines a chunk's translation; `endpoint` is the server (base URL without
    credentials), since one model name on two servers (a local one, the real API) is two different models."""
    payload = json.dumps([prompt_version, provider, endpoint, model, language, style, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class TranslationCache:
    """`get(key)` / `put(key, translation)` over a table in `<folder>/translations.sqlite3`."""

    def __init__(self, folder: Path, *, rebuild: bool = False) -> None:
        """Open or create the cache. A damaged file is a CacheError naming it, or with `rebuild` is moved aside
        (`kept` says where) and a new cache started."""
        self.path = folder / CACHE_FILE
        self.kept: Path | None = None
        try:
            self._open(folder)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked or unreadable: not damage, nothing to rebuild
                raise CacheError(f"cannot open the translation cache {self.path}: {exc}") from exc
            if not rebuild:
                raise CacheError(
                    f"the translation cache {self.path} is damaged ({exc}): run again with --force to start a new "
                    "one (the damaged file is kept beside it)"
                ) from exc
            self.close()
            self.kept = self._move_aside()
            try:
                self._open(folder)
            except sqlite3.Error as again:
                raise CacheError(f"cannot create the translation cache {self.path}: {again}") from again

    def _move_aside(self) -> Path:
        """Rename the damaged file (and its WAL and shared-memory files) to `<name>.damaged-<time>`."""
        kept = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = self.path.with_name(self.path.name + suffix)
                if part.exists():
                    part.replace(kept.with_name(kept.name + suffix))
        except OSError as exc:
            raise CacheError(f"cannot move the damaged translation cache {self.path} aside: {exc}") from exc
        return kept

    def _open(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS chunks (key TEXT PRIMARY KEY, translation TEXT NOT NULL, created REAL)"
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}
            if "validator" not in columns:  # a cache written before answers were stamped with their validator
                self._db.execute("ALTER TABLE chunks ADD COLUMN validator TEXT NOT NULL DEFAULT ''")
            self._db.commit()
        except OSError as exc:
            raise CacheError(f"cannot open the translation cache {self.path}: {exc}") from exc

    def get(self, key: str) -> str | None:
        try:
            row = self._db.execute("SELECT translation FROM chunks WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise CacheError(f"cannot read the translation cache {self.path}: {exc}") from exc
        return None if row is None else str(row[0])

    def get_checked(self, key: str, validator: str, passes: Callable[[str], bool]) -> str | None:
        """The cached answer if it passed `validator`, or passes it now (then it is stamped with it);
        an answer that fails is deleted, so it is translated again."""
        try:
            row = self._db.execute("SELECT translation, validator FROM chunks WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise CacheError(f"cannot read the translation cache {self.path}: {exc}") from exc
        if row is None:
            return None
        translation, stamp = str(row[0]), str(row[1])
        if stamp == validator:
            return translation
        ok = passes(translation)
        try:
            if ok:
                self._db.execute("UPDATE chunks SET validator = ? WHERE key = ?", (validator, key))
            else:
                self._db.execute("DELETE FROM chunks WHERE key = ?", (key,))
            self._db.commit()
        except sqlite3.Error as exc:
            raise CacheError(f"cannot write the translation cache {self.path}: {exc}") from exc
        return translation if ok else None

    def put(self, key: str, translation: str, validator: str = "") -> None:
        """Store an answer that passed `validator` (its version; see get_checked)."""
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO chunks (key, translation, created, validator) VALUES (?, ?, ?, ?)",
                (key, translation, time.time(), validator),
            )
            self._db.commit()
        except sqlite3.Error as exc:
            raise CacheError(f"cannot write the translation cache {self.path}: {exc}") from exc

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def close(self) -> None:
        if hasattr(self, "_db"):
            self._db.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
