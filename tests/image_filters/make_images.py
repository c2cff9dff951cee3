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


# ---- colour profiles, animations, metadata ---------------------------------------------------------------------

ADOBE_RGB_D50 = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))
_D50 = (0.9642, 1.0, 0.8249)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _icc(device_class: bytes, colour_space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2 profile from (signature, data) tags, laid out after a 128-byte header and the tag table."""
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, blobs = [], b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        entries.append(struct.pack(">4sII", signature, offset + len(blobs), len(data)))
        blobs += data
    size = offset + len(blobs)
    header = struct.pack(">I4sI4s4s4s12s4s4sI4s4sQI", size, b"lcms", 0x02100000, device_class, colour_space, pcs,
                         b"\0" * 12, b"acsp", b"APPL", 0, b"none", b"none", 0, 0)  # fmt: skip
    header += b"".join(_s15(v) for v in _D50) + b"test" + b"\0" * 44
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + blobs


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + b"\0" * 12 + b"\0" * 67


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def rgb_profile(primaries: tuple[tuple[float, float, float], ...] = ADOBE_RGB_D50, gamma: float = 2.2) -> bytes:
    """A matrix/TRC RGB display profile (default: Adobe RGB (1998) primaries, gamma 2.2)."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", _desc("Test Adobe RGB")), (b"cprt", b"text\0\0\0\0no copyright\0"), (b"wtpt", _xyz(*_D50))]
    tags += [(sig, _xyz(*xyz)) for sig, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), primaries, strict=True)]
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    return _icc(b"mntr", b"RGB ", b"XYZ ", tags)


def cmyk_profile(cyan_looks_like: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    """A CMYK input profile (2x2x2x2 CLUT to Lab) in which full cyan ink prints as `cyan_looks_like` (sRGB),
    unlike the naive conversion Pillow does without a profile, so a test can tell which one was used."""
    from PIL import ImageCms

    lab_of = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    corners = []
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    if (c, m, y, k) == (1, 0, 0, 0):
                        rgb = cyan_looks_like
                    else:
                        rgb = tuple(round(255 * (1 - ink) * (1 - k)) for ink in (c, m, y))
                    pixel = ImageCms.applyTransform(Image.new("RGB", (1, 1), rgb), lab_of)
                    assert pixel is not None
                    corners.append(bytes(pixel.getpixel((0, 0))))  # type: ignore[arg-type]
    identity = bytes(range(256))
    matrix = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = b"mft1\0\0\0\0" + bytes([4, 3, 2, 0]) + matrix + identity * 4 + b"".join(corners) + identity * 3
    tags = [(b"desc", _desc("Test CMYK")), (b"cprt", b"text\0\0\0\0no copyright\0"), (b"wtpt", _xyz(*_D50)),
            (b"A2B0", lut)]  # fmt: skip
    return _icc(b"prtr", b"CMYK", b"Lab ", tags)


def exif_with_gps(orientation: int = 1) -> bytes:
    """EXIF naming a camera, a copyright holder and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 1"  # Model
    exif[0x8298] = "(c) A. Photographer"  # Copyright
    if orientation != 1:
        exif[ORIENTATION] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)
    return exif.tobytes()


def animation(path: Path, frames: int = 3, size: tuple[int, int] = (32, 24), **options: object) -> Path:
    """`frames` frames of distinct colours, durations 100, 200, 300... ms, loop 2 (GIF, WebP, PNG or TIFF)."""
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    timing = {} if path.suffix in (".tif", ".tiff") else {"duration": [100 * (i + 1) for i in range(frames)], "loop": 2}
    images[0].save(path, save_all=True, append_images=images[1:], **timing, **options)  # type: ignore[arg-type]
    return path
