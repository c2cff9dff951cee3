"""Async text/bytes file helpers on aiofiles, with atomic writes.

Writes go to a temporary file in the destination folder, are fsync'ed, then
moved into place with os.replace, so a reader (or a crash, or Ctrl-C) never
sees a half-written file.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import aiofiles
import aiofiles.os

__all__ = [
    "read_text", "read_bytes", "write_text_atomic", "write_bytes_atomic", "safe_filename", "temp_path_for",
    "sync_filesystem", "remove_stale_temp_files",
]

_UNSAFE_CHARS = re.compile(r"[^\w.\- ]+")
_DOT_RUNS = re.compile(r"\.{2,}")
_MAX_NAME_BYTES = 200  # file systems cap a name at 255 bytes; leave room for suffixes and temp-file decoration


async def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 text file without blocking the event loop (line endings kept as stored)."""
    async with aiofiles.open(path, encoding="utf-8", newline="") as f:
        return await f.read()


async def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a whole file as bytes without blocking the event loop."""
    async with aiofiles.open(path, "rb") as f:
        return await f.read()


async def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically (no newline translation)."""
    await write_bytes_atomic(path, text.encode("utf-8"))


async def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes atomically: temp file in the same folder, fsync, os.replace.

    Parent folders are created. The temporary file is removed if anything fails
    (including cancellation), so no debris is left next to the target.
    """
    target = Path(path)
    await aiofiles.os.makedirs(target.parent, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        async with aiofiles.open(tmp, "xb") as f:
            await f.write(data)
            await f.flush()
            await asyncio.to_thread(os.fsync, f.fileno())
        await aiofiles.os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def sync_filesystem(folder: str | os.PathLike[str]) -> None:
    """Flush every pending write on the file system holding `folder` (syncfs), all files in one call.

    For batch writers that skip a per-file fsync: one call before reporting success makes the whole batch
    durable. Falls back to os.sync() where syncfs isn't available.
    """
    libc_syncfs = _libc_syncfs()
    if libc_syncfs is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if libc_syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


@functools.cache
def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        syncfs: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    return syncfs


def temp_path_for(target: Path) -> Path:
    """A unique hidden temporary path beside `target` (same folder, so os.replace is atomic)."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")


def remove_stale_temp_files(target: Path) -> list[Path]:
    """Remove temporary files of `target` (see temp_path_for) that a killed process left behind; call it before
    writing `target` again, not while another process may be writing it. Returns what was removed."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{12}}\.tmp")
    removed = []
    try:
        candidates = [p for p in target.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:  # no folder yet: nothing left behind
        return []
    for path in candidates:
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed


def safe_filename(word: str) -> str:
    """Turn a user-supplied word into a single, harmless file-name component.

    Path separators and other unusual characters become "_", runs of dots
    collapse to one, leading/trailing dots and spaces are stripped (no hidden
    files, no ".."), the result is never empty, and it is cut to a length in
    UTF-8 bytes, since that is what the file system limits (not characters).
    """
    name = _UNSAFE_CHARS.sub("_", word)
    name = _DOT_RUNS.sub(".", name).strip(". ")
    name = name.encode("utf-8")[:_MAX_NAME_BYTES].decode("utf-8", "ignore")  # never split a character
    return name.rstrip(". ") or "_"
