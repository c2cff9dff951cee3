"""The record of files this app wrote into an output folder, so that a rerun into the folder of its inputs
(`translate docs/*.md -o docs`) can tell its own earlier translations, which it may replace, from files a
person wrote or edited since, which it must never overwrite."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path

from utils.files import write_text_atomic

RECORD = ".translate-outputs.json"

log = logging.getLogger(__name__)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load(out_dir: Path) -> dict[str, str]:
    """File name -> SHA-256 of the bytes written; an unreadable or damaged record counts as empty (safe side)."""
    try:
        entries = json.loads((out_dir / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", out_dir / RECORD, exc)
        return {}
    if not isinstance(entries, dict):
        return {}
    return {str(name): str(digest) for name, digest in entries.items()}


def own_outputs(out_dir: Path) -> set[Path]:
    """Resolved paths of files in `out_dir` that this app wrote and that nobody has changed since."""
    own = set()
    for name, digest in _load(out_dir).items():
        path = out_dir / name
        try:
            if _digest(path.read_bytes()) == digest:
                own.add(path.resolve())
        except OSError:
            continue
    return own


class OutputRecord:
    """Adds each written file to the folder's record; writes are serialised so a slower write of an older
    snapshot can never replace a newer one."""

    def __init__(self) -> None:
        self._entries: dict[Path, dict[str, str]] = {}
        self._lock = asyncio.Lock()

    async def add(self, path: Path, data: bytes) -> None:
        async with self._lock:
            entries = self._entries.get(path.parent)
            if entries is None:
                entries = self._entries[path.parent] = _load(path.parent)
            entries[path.name] = _digest(data)
            await write_text_atomic(path.parent / RECORD, json.dumps(entries, indent=1, sort_keys=True) + "\n")
