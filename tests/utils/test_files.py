"""utils.files: async reads, atomic writes (parents, no debris, failure keeps the old file), safe names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from utils import files
from utils.files import read_bytes, read_text, safe_filename, write_bytes_atomic, write_text_atomic


async def test_text_round_trip_creates_parents_and_keeps_newlines(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "doc.md"
    text = "héllo\r\nwörld\n日本語\n"
    await write_text_atomic(target, text)
    assert await read_text(target) == text
    assert target.read_bytes() == text.encode("utf-8")
    assert os.listdir(target.parent) == ["doc.md"]


async def test_bytes_overwrite_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    await write_bytes_atomic(target, b"x" * 1000)
    await write_bytes_atomic(target, b"short")
    assert await read_bytes(target) == b"short"
    assert os.listdir(tmp_path) == ["blob.bin"]


async def test_failed_write_keeps_old_file_and_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keep.txt"
    await write_text_atomic(target, "old")

    async def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(files.aiofiles.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        await write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


async def test_writes_are_fsynced_before_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, files.aiofiles.os.replace

    def spy_fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    async def spy_replace(src: object, dst: object) -> None:
        events.append("replace")
        await real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", spy_fsync)
    monkeypatch.setattr(files.aiofiles.os, "replace", spy_replace)
    await write_bytes_atomic(tmp_path / "f", b"data")
    assert events == ["fsync", "replace"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("fr", "fr"),
        ("pt-BR", "pt-BR"),
        ("日本語", "日本語"),
        ("../../etc/passwd", "_._etc_passwd"),
        ("a/b\\c", "a_b_c"),
        ("..", "_"),
        ("", "_"),
        (".hidden", "hidden"),
        ("a..b", "a.b"),
        ("x:y*z?", "x_y_z_"),
        ("\x00", "_"),
    ],
)
def test_safe_filename(word: str, expected: str) -> None:
    assert safe_filename(word) == expected


@pytest.mark.parametrize("word", ["../x", "/abs/path", "..\\..\\w", "a/../b", ".", " . ", "x" * 1000])
def test_safe_filename_is_one_harmless_component(word: str, tmp_path: Path) -> None:
    name = safe_filename(word)
    assert name and "/" not in name and "\\" not in name and ".." not in name
    assert not name.startswith(".") and len(name) <= 200
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_safe_filename_limits_bytes_not_characters(tmp_path: Path) -> None:
    name = safe_filename("日本語" * 100)  # 200 characters would be 600 bytes: too long for any file system
    assert name == "日本語" * 22 and len(name.encode("utf-8")) <= 200
    (tmp_path / f"{name}_grayscale.png").write_bytes(b"")
