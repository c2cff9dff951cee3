"""utils.files: async reads, atomic writes (parents, no debris, failure keeps the old file), safe names."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

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


@pytest.fixture(params=["unnamed", "temp file"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways atomic_file works: an unnamed O_TMPFILE file linked in (Linux), and, on a file system that
    refuses O_TMPFILE (EOPNOTSUPP, as tmpfs once did and some network file systems do), a renamed temp file."""
    if request.param == "temp file":
        real_open = os.open

        def no_tmpfile(path: object, flags: int, *args: object, **kwargs: object) -> int:
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                raise OSError(errno.EOPNOTSUPP, "Operation not supported")
            return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(files.os, "open", no_tmpfile)
    elif not files._can_link_unnamed():
        pytest.skip("no O_TMPFILE here")
    return str(request.param)


def test_atomic_file_appears_only_when_complete(tmp_path: Path, way: str) -> None:
    target = tmp_path / "new" / "deeper" / "out.bin"
    with files.atomic_file(target, fsync=False) as f:
        f.write(b"first half ")
        assert not target.exists()
        f.write(b"second half")
        f.seek(0)
        assert f.read(5) == b"first"  # read back, as TIFF writers do
    assert target.read_bytes() == b"first half second half"
    assert os.listdir(target.parent) == ["out.bin"]


def test_atomic_file_replaces_existing_file_whole(tmp_path: Path, way: str) -> None:
    target = tmp_path / "blob.bin"
    target.write_bytes(b"x" * 1000)
    with files.atomic_file(target) as f:
        f.write(b"short")
        assert target.read_bytes() == b"x" * 1000
    assert target.read_bytes() == b"short"
    assert os.listdir(tmp_path) == ["blob.bin"]


def test_atomic_file_failure_keeps_old_file_and_leaves_nothing(tmp_path: Path, way: str) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="encoder failed"), files.atomic_file(target) as f:
        f.write(b"new, half done")
        raise RuntimeError("encoder failed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


@pytest.mark.parametrize("step", ["link", "replace"])
def test_atomic_file_failing_to_move_in_keeps_old_file(
    tmp_path: Path, way: str, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def disk_on_fire(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "disk on fire")

    monkeypatch.setattr(files.os, step, disk_on_fire)
    if way == "temp file" and step == "link":  # that way never links
        with files.atomic_file(target) as f:
            f.write(b"new")
        assert target.read_text() == "new"
        return
    with pytest.raises(OSError, match="disk on fire"), files.atomic_file(target) as f:
        f.write(b"new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_atomic_file_is_synced_before_it_appears(tmp_path: Path, way: str, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f"
    events: list[str] = []
    for name in ("fsync", "link", "replace"):
        real = getattr(os, name)

        def spy(*args: Any, _name: str = name, _real: Any = real, **kwargs: Any) -> Any:
            events.append(_name if _name == "fsync" or not target.exists() else f"{_name} (already there)")
            return _real(*args, **kwargs)

        monkeypatch.setattr(files.os, name, spy)
    with files.atomic_file(target) as f:
        f.write(b"data")
    assert events == (["fsync", "link"] if way == "unnamed" else ["fsync", "replace"])
    assert target.read_bytes() == b"data"


def test_atomic_file_permissions_follow_umask_like_open(tmp_path: Path, way: str) -> None:
    (tmp_path / "plain").write_bytes(b"")
    with files.atomic_file(tmp_path / "atomic") as f:
        f.write(b"")
    assert (tmp_path / "atomic").stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_atomic_file_into_a_folder_another_thread_makes_at_the_same_moment(
    tmp_path: Path, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads writing the first files into a new folder: the loser of the mkdir race still writes."""
    target = tmp_path / "new" / "out.png"
    real_open, real_os_open = open, os.open

    def as_the_other_thread_makes_the_folder(opener: Any) -> Any:
        def opening(*args: Any, **kwargs: Any) -> Any:
            try:
                return opener(*args, **kwargs)
            except FileNotFoundError:
                target.parent.mkdir()  # the other thread, between this open and the retry
                raise

        return opening

    monkeypatch.setattr(files, "open", as_the_other_thread_makes_the_folder(real_open), raising=False)
    monkeypatch.setattr(files.os, "open", as_the_other_thread_makes_the_folder(real_os_open))
    with files.atomic_file(target) as f:
        f.write(b"png")
    assert os.listdir(target.parent) == ["out.png"]


def test_where_open_files_cannot_be_linked_in_their_bytes_go_to_a_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox whose /proc has no links to open files (linkat: ENOENT): the output still appears whole,
    nothing is left behind, and later files start as temp files."""
    if not files._can_link_unnamed():
        pytest.skip("no O_TMPFILE here")
    monkeypatch.setattr(files, "_unlinkable", False)
    links: list[object] = []

    def no_links(*args: object, **kwargs: object) -> None:
        links.append(args)
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(files.os, "link", no_links)
    for n in range(2):
        with files.atomic_file(tmp_path / "out.bin") as f:
            f.write(b"data %d" % n)
        assert (tmp_path / "out.bin").read_bytes() == b"data %d" % n
        assert os.listdir(tmp_path) == ["out.bin"]
    assert len(links) == 1 and files._unlinkable


async def test_async_writes_overwrite_and_create_parents(tmp_path: Path, way: str) -> None:
    target = tmp_path / "a" / "b.bin"
    await write_bytes_atomic(target, b"x" * 1000)
    await write_text_atomic(target, "short")
    assert await read_bytes(target) == b"short"
    assert os.listdir(target.parent) == ["b.bin"]


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
