"""File helpers: async reads on aiofiles, and atomic writes.

A write appears at its path complete or not at all, so a reader (or a crash, or
Ctrl-C) never sees a half-written file: see atomic_file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import functools
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import aiofiles

__all__ = [
    "read_text", "read_bytes", "write_text_atomic", "write_bytes_atomic", "atomic_file", "safe_filename",
    "temp_path_for", "temp_target", "sync_filesystem", "remove_stale_temp_files",
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
    """Write bytes atomically and durably (atomic_file with fsync), creating parent folders, off the event loop.

    Cancelled, the write still completes or leaves nothing: the thread doing it isn't interrupted.
    """
    await asyncio.to_thread(_write_bytes, Path(path), data)


def _write_bytes(target: Path, data: bytes) -> None:
    with atomic_file(target) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[BinaryIO]:
    """A new file to write (and read back) inside the `with`, which appears at `target` complete when the
    block ends, replacing any file there; if the block raises, nothing appears and nothing is left behind.

    Where the file system allows (Linux), the file is unnamed (O_TMPFILE) until it is linked in at the end:
    one directory change per new file instead of a create and a rename, which is most of the cost of writing
    thousands of small files, and nothing left behind by a crash. Elsewhere it is a hidden temp file beside
    `target` (temp_path_for), renamed over it. Parent folders are created. fsync=False leaves durability to
    the caller (one sync_filesystem for a batch).
    """
    name = os.fspath(target)  # str, not Path: a Path per file is a measurable part of writing thousands
    tmp: Path | None = None
    file = _open_unnamed(os.path.dirname(name) or ".")
    if file is None:
        tmp = temp_path_for(Path(name))
        file = _open_retrying_parents(tmp)
    try:
        with file:
            yield file
            file.flush()
            if fsync:
                os.fsync(file.fileno())
            if tmp is None:
                tmp = _link_unnamed(file, name, fsync)
        if tmp is not None:
            os.replace(tmp, name)
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def _open_unnamed(folder: str) -> BinaryIO | None:
    """An unnamed file in `folder` (made if missing), or None where the platform or file system has none."""
    if not _can_link_unnamed() or _unlinkable:
        return None
    try:
        fd = _unnamed_fd(folder)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = _unnamed_fd(folder)
    return None if fd is None else os.fdopen(fd, "w+b")


def _unnamed_fd(folder: str) -> int | None:
    try:
        return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)
    except OSError as exc:  # a file system without O_TMPFILE (EISDIR: a kernel without it)
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR):
            return None
        raise


@functools.cache
def _can_link_unnamed() -> bool:
    """O_TMPFILE files are linked in by their /proc/self/fd name (no privilege needed, unlike AT_EMPTY_PATH)."""
    return hasattr(os, "O_TMPFILE") and os.link in os.supports_dir_fd and os.path.isdir("/proc/self/fd")


_unlinkable = False  # set once linking an unnamed file in failed here (a sandbox's /proc, say): temp files since


def _link_unnamed(file: BinaryIO, target: str, fsync: bool) -> Path | None:
    """Give the unnamed `file` the name `target`; if that exists, a temp name beside it, returned for the
    caller to rename over `target` (a link never replaces a file). Where links to open files can't be made,
    its bytes are copied to a temp file instead, and later files start as temp files."""
    global _unlinkable
    fd = file.fileno()
    source = f"/proc/self/fd/{fd}"
    # An absolute source ignores src_dir_fd; passing one makes os.link call linkat with AT_SYMLINK_FOLLOW,
    # which links the file the /proc entry points to instead of the entry itself.
    try:
        os.link(source, target, src_dir_fd=fd, follow_symlinks=True)
        return None
    except FileExistsError:
        tmp = temp_path_for(Path(target))
        os.link(source, tmp, src_dir_fd=fd, follow_symlinks=True)
        return tmp
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.EPERM, errno.EXDEV, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        _unlinkable = True
    tmp = temp_path_for(Path(target))
    file.seek(0)
    try:
        with _open_retrying_parents(tmp) as named:
            shutil.copyfileobj(file, named)
            named.flush()
            if fsync:
                os.fsync(named.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _open_retrying_parents(path: Path) -> BinaryIO:
    """`path` created for writing and reading ("x": never someone else's file), folders made if missing."""
    try:
        return open(path, "x+b")
    except FileNotFoundError:  # no folder yet (cheaper than checking before every write); threads making their
        path.parent.mkdir(parents=True, exist_ok=True)  # first files at once each make it or find it made
        return open(path, "x+b")


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


_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{12}\.tmp")


def temp_target(name: str) -> str | None:
    """The name of the file that a temp file named `name` (see temp_path_for) was for, or None if it is none."""
    match = _TEMP_NAME.fullmatch(name)
    return None if match is None else match["target"]


def remove_stale_temp_files(target: Path) -> list[Path]:
    """Remove temporary files of `target` (see temp_path_for) that a killed process left behind; call it before
    writing `target` again, not while another process may be writing it. Returns what was removed."""
    removed = []
    try:
        candidates = [p for p in target.parent.iterdir() if temp_target(p.name) == target.name]
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
