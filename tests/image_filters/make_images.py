"""Small synthetic image files for tests: every mode users meet, EXIF-rotated JPEGs, and bad inputs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

ORIENTATION = 0x0112


def solid(path: Path, colour: tuple[int, ...], size: tuple[int, int] = (24, 16), mode: str = "RGB") -> Path:
    """A one-colour image (distinct colours make mix-ups between concurrent runs visible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def gradient(size: tuple[int, int] = (48, 32)) -> Image.Image:
    """An RGB picture with structure in every channel, so filters visibly change it."""
    w, h = size
    img = Image.new("RGB", size)
    img.putdata([((x * 255) // (w - 1), (y * 255) // (h - 1), ((x + y) * 7) % 256) for y in range(h) for x in range(w)])
    return img


def exif_rotated_jpeg(path: Path, orientation: int = 6) -> Path:
    """A 40x20 JPEG, left half red and right half blue, stored sideways with an EXIF Orientation tag."""
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    img.save(path, exif=exif.tobytes(), quality=95)
    return path


def png_bomb(path: Path, side: int = 15000) -> Path:
    """A genuine side x side 1-bit black PNG; 15000x15000 is about 26 KB on disk and 225 MP decoded."""
    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in half: it opens fine and fails only when decoded."""
    gradient((64, 64)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupt_png(path: Path) -> Path:
    """A PNG whose pixel data was overwritten with junk (CRC and zlib both broken)."""
    gradient().save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 8
    data[start : start + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))
    return path


def bad_inputs(folder: Path) -> dict[str, Path]:
    """One file of every bad kind, named by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    text = folder / "notes.jpg"
    text.write_text("this is not a picture\n")
    return {
        "corrupt": corrupt_png(folder / "corrupt.png"),
        "truncated": truncated_jpeg(folder / "truncated.jpg"),
        "empty": empty,
        "text": text,
        "bomb": png_bomb(folder / "bomb.png"),
    }
