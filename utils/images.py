"""Image load/save helpers that are safe on real-world files and friendly to threads.

load_image returns a fully decoded RGB or RGBA image (upright per EXIF, file
closed) or raises ImageLoadError naming the file. save_image writes atomically
and converts to a mode the target format can store. Both are synchronous
Pillow work that releases the GIL (decoding, and encoding to a *path*), so
running them on a thread pool uses every core; the async wrappers do that.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import warnings
from concurrent.futures import Executor
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from utils.files import temp_path_for

__all__ = ["ImageLoadError", "load_image", "save_image", "load_image_async", "save_image_async", "image_format_for"]

# Modes whose colour values are RGB, so an embedded ICC profile still describes them after normalising.
_RGB_SOURCE_MODES = frozenset({"RGB", "RGBA", "RGBX", "RGBa", "P", "PA"})
# Modes each writer accepts as they are; anything else is converted first (formats not listed: left to Pillow).
_WRITABLE_MODES: dict[str, frozenset[str]] = {
    "JPEG": frozenset({"L", "RGB", "CMYK"}),
    "PNG": frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
    "BMP": frozenset({"1", "L", "P", "RGB", "RGBA"}),
    "GIF": frozenset({"1", "L", "P", "RGB", "RGBA"}),
    "TIFF": frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16"}),
}
_GRAY_MODES = frozenset({"1", "L", "I", "F"})
_QUALITY_FORMATS = frozenset({"JPEG", "WEBP"})

# warnings.catch_warnings swaps process-global state; serialise our use of it so concurrent
# loads can't restore each other's filters (Image.open only parses the header, so this is brief).
_open_lock = threading.Lock()


class ImageLoadError(ValueError):
    """A file could not be loaded as an image (missing, empty, corrupt, truncated, not an image, or a bomb)."""


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Decode `path` fully into an upright RGB or RGBA image, closing the file.

    Refuses images over Pillow's MAX_IMAGE_PIXELS (decompression bombs) instead
    of merely warning. 16-bit grey is scaled to 8 bits (value >> 8), not clipped.
    """
    name = os.fspath(path)
    try:
        with _open_lock, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(name)
        with opened as im:
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            return _normalize_mode(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{name}: refused as a possible decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        what = "empty file" if _is_empty(name) else "not an image file Pillow can read"
        raise ImageLoadError(f"{name}: {what}") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{name}: no such file") from exc
    except Exception as exc:  # decoders raise many types on hostile input; the caller needs one, naming the file
        raise ImageLoadError(f"{name}: corrupt or unreadable image ({type(exc).__name__}: {exc})") from exc


def save_image(
    img: Image.Image, path: str | os.PathLike[str], *, format: str | None = None, quality: int = 90
) -> None:
    """Write `img` atomically (temp file beside `path`, fsync, os.replace), creating parent folders.

    The format comes from `format` ("jpg", "PNG", ...) or the file extension.
    The mode is converted to one the format stores: alpha is kept where the
    format has it and composited on white where it doesn't (RGBA -> JPEG).
    Encoding goes to a file path, not BytesIO, so Pillow releases the GIL.
    """
    target = Path(path)
    fmt = image_format_for(target, format)
    img = _writable(img, fmt)
    options = {"quality": quality} if fmt in _QUALITY_FORMATS else {}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        img.save(tmp, format=fmt, **options)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


async def load_image_async(path: str | os.PathLike[str], executor: Executor | None = None) -> Image.Image:
    """load_image on `executor` (default: the loop's thread pool) so the event loop keeps running."""
    return await asyncio.get_running_loop().run_in_executor(executor, load_image, path)


async def save_image_async(
    img: Image.Image,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int = 90,
    executor: Executor | None = None,
) -> None:
    """save_image on `executor` (default: the loop's thread pool) so the event loop keeps running."""
    job = functools.partial(save_image, img, path, format=format, quality=quality)
    await asyncio.get_running_loop().run_in_executor(executor, job)


def image_format_for(path: Path, format: str | None = None) -> str:
    """Pillow's format name for `format` (e.g. "jpg" -> "JPEG") or, if None, for the extension of `path`."""
    extensions = Image.registered_extensions()
    if format is not None:
        fmt = extensions.get("." + format.lower().lstrip("."), format.upper())
        if fmt not in Image.SAVE:
            raise ValueError(f"unknown image format {format!r}; use e.g. jpg, png or webp")
        return fmt
    by_suffix = extensions.get(path.suffix.lower())
    if by_suffix is None or by_suffix not in Image.SAVE:
        raise ValueError(f"cannot tell an image format from the name {path.name!r}; give format= or use .jpg/.png/.webp")
    return by_suffix


def _is_empty(name: str) -> bool:
    try:
        return os.path.getsize(name) == 0
    except OSError:
        return False


def _normalize_mode(im: Image.Image) -> Image.Image:
    """RGB or RGBA, keeping alpha, palette or colour-key transparency; drop ICC profiles that no longer match."""
    source_mode = im.mode
    if source_mode.startswith("I;16"):
        im = _scale_16_to_8(im)
    if im.has_transparency_data:  # includes an RGB colour key (tRNS), which no filter output would still match
        out = im if im.mode == "RGBA" else im.convert("RGBA")
    else:
        out = im if im.mode == "RGB" else im.convert("RGB")
    if source_mode not in _RGB_SOURCE_MODES:
        out.info.pop("icc_profile", None)
    return out


def _scale_16_to_8(im: Image.Image) -> Image.Image:
    """16-bit grey to 8-bit L by value >> 8 (a plain convert would clip everything above 255 to white)."""
    return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")


def _writable(img: Image.Image, fmt: str) -> Image.Image:
    """`img` in a mode `fmt` can store (unchanged if it already can, or if `fmt` isn't one we know)."""
    modes = _WRITABLE_MODES.get(fmt)
    if modes is None or img.mode in modes:
        return img
    if img.mode.startswith("I;16"):
        return _writable(_scale_16_to_8(img), fmt)
    if img.has_transparency_data:
        if "RGBA" in modes:
            return img.convert("RGBA")
        return _flatten_on_white(img, "L" if img.mode == "LA" and "L" in modes else "RGB")
    return img.convert("L" if img.mode in _GRAY_MODES and "L" in modes else "RGB")


def _flatten_on_white(img: Image.Image, mode: str) -> Image.Image:
    """Composite an image with alpha over a white background (what a viewer shows for transparency)."""
    rgba = img if img.mode in ("RGBA", "LA") else img.convert("RGBA")
    flat = Image.new(mode, rgba.size, "white")
    flat.paste(rgba.convert(mode), mask=rgba.getchannel("A"))
    return flat
