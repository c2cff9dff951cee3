"""Load and save images with their colours, frames and metadata kept.

`load_picture` decodes a file into upright RGB/RGBA frames (every frame of an animated GIF/WebP/PNG or a
multi-page TIFF) plus what describes them: the ICC profile (CMYK is converted through its own profile to
sRGB), EXIF with the orientation already applied, XMP, and the frames' durations, loop count and disposal.
`save_picture` writes such a picture atomically in any format Pillow writes, keeping what that format can
hold: profiles (never an RGB profile on a grey image), EXIF filtered by a metadata policy, all frames.
`load_image`/`save_image` are the one-frame forms. Both directions are synchronous Pillow work that
releases the GIL (decoding, and encoding to a *path*), so a thread pool runs them on every core.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from utils.files import atomic_file

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "METADATA_POLICIES",
    "ImageLoadError",
    "Picture",
    "load_picture",
    "save_picture",
    "load_image",
    "save_image",
    "load_image_async",
    "save_image_async",
    "image_format_for",
    "image_size",
    "holds_frames",
    "to_srgb",
]

log = logging.getLogger(__name__)

# Pillow refuses outright above twice its warning threshold (about 179 MP); 100 MP cameras sit in between.
DEFAULT_MAX_PIXELS = 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485)
# camera: EXIF without the GPS location (camera, exposure, date, copyright stay); all: EXIF and XMP as read;
# none: neither. ICC profiles are colour, not metadata: always kept.
METADATA_POLICIES = ("camera", "all", "none")

# Modes whose colour values are RGB, so an embedded ICC profile still describes them after normalising.
_RGB_SOURCE_MODES = frozenset({"RGB", "RGBA", "RGBX", "RGBa", "P", "PA"})
_RGB_MODES = frozenset({"RGB", "RGBA", "P"})
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
_ICC_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})
_EXIF_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})
_XMP_FORMATS = frozenset({"JPEG", "WEBP"})
_MULTI_FRAME_FORMATS = frozenset({"GIF", "WEBP", "PNG", "TIFF"})
_TIMED_FORMATS = frozenset({"GIF", "WEBP", "PNG"})
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# warnings.catch_warnings and Image.MAX_IMAGE_PIXELS are process-global; serialise our brief changes to them
# (Image.open only parses the header, so the lock is held for microseconds).
_open_lock = threading.Lock()


class ImageLoadError(ValueError):
    """A file could not be loaded as an image (missing, empty, corrupt, truncated, not an image, or too large)."""


@dataclass(frozen=True)
class Picture:
    """Upright frames (RGB/RGBA, or whatever a filter made of them) and what describes them."""

    frames: tuple[Image.Image, ...]
    icc_profile: bytes | None = None  # describes the frames' RGB values
    exif: bytes | None = None  # orientation already applied and removed
    xmp: bytes | None = None
    durations: tuple[int, ...] | None = None  # per frame, milliseconds
    loop: int | None = None
    disposals: tuple[int, ...] | None = None  # per frame, in `format`'s own numbering
    format: str | None = None  # the format it was read from

    @property
    def image(self) -> Image.Image:
        return self.frames[0]

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size

    def with_frames(self, frames: Sequence[Image.Image]) -> Picture:
        return replace(self, frames=tuple(frames))


def load_picture(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: tuple[int, int] | None = None,
    all_frames: bool = True,
) -> Picture:
    """Decode `path` fully (every frame unless `all_frames` is false) into an upright Picture, closing the file.

    Refuses images over `max_pixels` before decoding. `min_size` (upright width, height) lets a JPEG decode
    at a reduced scale (DCT shrink-on-load) while staying at least that big, for callers that will shrink it.
    16-bit grey is scaled to 8 bits (value >> 8), not clipped.
    """
    name = os.fspath(path)
    try:
        opened = _open(name, max_pixels)
        with opened as im:
            return _decode(im, min_size, all_frames)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{name}: refused as a possible decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        what = "empty file" if _is_empty(name) else "not an image file Pillow can read"
        raise ImageLoadError(f"{name}: {what}") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{name}: no such file") from exc
    except Exception as exc:  # decoders raise many types on hostile input; the caller needs one, naming the file
        raise ImageLoadError(f"{name}: corrupt or unreadable image ({type(exc).__name__}: {exc})") from exc


def load_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, min_size: tuple[int, int] | None = None
) -> Image.Image:
    """The first frame of `path` as load_picture reads it, with its profile and EXIF in `info`."""
    picture = load_picture(path, max_pixels=max_pixels, min_size=min_size, all_frames=False)
    img = picture.image
    for key, value in (("icc_profile", picture.icc_profile), ("exif", picture.exif)):
        if value is not None:
            img.info[key] = value
    return img


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Upright (width, height) from the header alone; ImageLoadError if it can't be read."""
    name = os.fspath(path)
    try:
        with _open(name, None) as im:
            width, height = im.size
            if im.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8):
                return height, width
            return width, height
    except ImageLoadError:
        raise
    except Exception as exc:
        raise ImageLoadError(f"{name}: not an image file Pillow can read ({type(exc).__name__}: {exc})") from exc


def save_picture(
    picture: Picture,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int = 90,
    metadata: str = "camera",
    fsync: bool = True,
) -> os.stat_result:
    """Write `picture` atomically (utils.files.atomic_file), creating folders; returns the written file's stat.

    The format comes from `format` ("jpg", "PNG", ...) or the file extension; each frame is converted to a
    mode the format stores (alpha composited on white where it has none). Formats that hold several frames
    get all of them with their timing; others get the first (see holds_frames). fsync=False leaves the data
    to the OS's write-back: the file is still never half-written for a reader, but a power cut can lose it,
    so batch writers sync once at the end instead (utils.files.sync_filesystem).
    """
    if metadata not in METADATA_POLICIES:
        raise ValueError(f"unknown metadata policy {metadata!r}; use one of {', '.join(METADATA_POLICIES)}")
    fmt = image_format_for(path, format)
    frames = [_writable(frame, fmt) for frame in picture.frames]
    if fmt not in _MULTI_FRAME_FORMATS:
        frames = frames[:1]
    options = _save_options(picture, fmt, frames, quality, metadata)
    if picture.frames[0].mode not in _RGB_MODES:  # grey stored as RGB (WebP) is still grey: no RGB profile
        options.pop("icc_profile", None)
    with atomic_file(path, fsync=fsync) as file:  # "+": TIFF reads back what it wrote
        frames[0].save(file, format=fmt, **options)
        file.flush()
        written = os.fstat(file.fileno())
    return written


def save_image(
    img: Image.Image,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int = 90,
    metadata: str = "camera",
    fsync: bool = True,
) -> None:
    """save_picture for one image, keeping the ICC profile and EXIF in its `info`."""
    picture = Picture((img,), icc_profile=img.info.get("icc_profile"), exif=img.info.get("exif"))
    save_picture(picture, path, format=format, quality=quality, metadata=metadata, fsync=fsync)


def holds_frames(format: str) -> bool:
    """Whether a Pillow format name (e.g. "GIF") can hold more than one frame."""
    return format in _MULTI_FRAME_FORMATS


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


def image_format_for(path: str | os.PathLike[str], format: str | None = None) -> str:
    """Pillow's format name for `format` (e.g. "jpg" -> "JPEG") or, if None, for the extension of `path`."""
    if format is not None:
        fmt = _writer_for("." + format.lower().lstrip(".")) or format.upper()
        if fmt not in Image.SAVE:
            raise ValueError(f"unknown image format {format!r}; use e.g. jpg, png or webp")
        return fmt
    name = os.path.basename(path)
    by_suffix = _writer_for(os.path.splitext(name)[1].lower())
    if by_suffix is None or by_suffix not in Image.SAVE:
        raise ValueError(f"cannot tell an image format from the name {name!r}; give format= or use .jpg/.png/.webp")
    return by_suffix


def _writer_for(suffix: str) -> str | None:
    """Pillow's format name for a file suffix, remembered once known (this is on every save's path)."""
    fmt = _FORMAT_BY_SUFFIX.get(suffix)
    if fmt is None:
        Image.preinit()  # the common formats, without importing every plugin as registered_extensions does
        fmt = Image.EXTENSION.get(suffix) or Image.registered_extensions().get(suffix)  # later plugins too
        if fmt is not None:
            _FORMAT_BY_SUFFIX[suffix] = fmt
    return fmt


_FORMAT_BY_SUFFIX: dict[str, str] = {}


def to_srgb(img: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """`img` (RGB or RGBA) with its colours converted from `icc_profile` to sRGB, for display without one."""
    if not icc_profile or img.mode not in ("RGB", "RGBA"):
        return img
    try:
        return ImageCms.profileToProfile(img, _profile(icc_profile), _srgb_profile(), outputMode=img.mode) or img
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img


# ---- loading ---------------------------------------------------------------------------------------------------


def _open(name: str, max_pixels: int | None) -> Image.Image:
    """Image.open with our own size limit in place of Pillow's bomb warning (and its error, if ours is higher)."""
    with _open_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        pillow_limit = Image.MAX_IMAGE_PIXELS
        if max_pixels is None or (pillow_limit is not None and max_pixels >= 2 * pillow_limit):
            Image.MAX_IMAGE_PIXELS = None
        try:
            im = Image.open(name)
        finally:
            Image.MAX_IMAGE_PIXELS = pillow_limit
    width, height = im.size
    if max_pixels is not None and width * height > max_pixels:
        im.close()
        raise ImageLoadError(
            f"{name}: refused: {width}x{height} = {width * height} pixels is over the limit of {max_pixels} "
            "(a possible decompression bomb; raise the pixel limit if you trust the file)"
        )
    return im


def _decode(im: Image.Image, min_size: tuple[int, int] | None, all_frames: bool) -> Picture:
    exif = im.getexif()
    orientation = exif.get(ExifTags.Base.Orientation, 1)
    transpose = _ORIENTATION_TRANSPOSE.get(orientation)
    if min_size is not None and im.format in ("JPEG", "MPO"):  # MPO: camera JPEGs with a preview
        wanted = min_size[::-1] if orientation in (5, 6, 7, 8) else min_size
        im.draft(None, (max(1, wanted[0]), max(1, wanted[1])))
    icc = im.info.get("icc_profile") or None
    count = getattr(im, "n_frames", 1) if all_frames and im.format in _MULTI_FRAME_FORMATS else 1  # not MPO previews
    frames, durations, disposals = [], [], []
    converted_icc = icc
    for index in range(count):
        if index:
            im.seek(index)
        im.load()
        frame, converted_icc = _normalize(im, icc, copy=count > 1)
        frames.append(frame.transpose(transpose) if transpose is not None else frame)
        durations.append(int(im.info.get("duration", 0) or 0))
        disposals.append(int(getattr(im, "disposal_method", im.info.get("disposal", 0)) or 0))
    timed = count > 1 and any(durations)
    return Picture(
        tuple(frames),
        icc_profile=converted_icc,
        exif=_exif_bytes(exif, im.info.get("exif")),
        xmp=_xmp_bytes(im.info.get("xmp")),
        durations=tuple(durations) if timed else None,
        loop=im.info.get("loop") if count > 1 else None,
        disposals=tuple(disposals) if count > 1 else None,
        format=im.format,
    )


def _normalize(im: Image.Image, icc: bytes | None, *, copy: bool) -> tuple[Image.Image, bytes | None]:
    """RGB or RGBA (alpha, palette and colour-key transparency kept) and the profile describing it, if any.

    `copy`: never return `im` itself (it is about to seek to its next frame).
    """
    source_mode = im.mode
    if source_mode == "CMYK" and icc:
        try:
            rgb = ImageCms.profileToProfile(im, _profile(icc), _srgb_profile(), outputMode="RGB")
            if rgb is not None:
                return rgb, _srgb_bytes()
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            log.debug("CMYK profile unusable, converting without it: %s", exc)
    if source_mode.startswith("I;16"):
        im = _scale_16_to_8(im)
    if im.has_transparency_data:  # includes an RGB colour key (tRNS), which no filter output would still match
        out = (im.copy() if copy else im) if im.mode == "RGBA" else im.convert("RGBA")
    else:
        out = (im.copy() if copy else im) if im.mode == "RGB" else im.convert("RGB")
    out.info.pop("icc_profile", None)
    out.info.pop("transparency", None)
    return out, icc if source_mode in _RGB_SOURCE_MODES else None


def _exif_bytes(exif: Image.Exif, raw: bytes | None) -> bytes | None:
    """The file's EXIF with the orientation tag removed (the frames are upright now), or None."""
    if not raw:
        return None
    if ExifTags.Base.Orientation not in exif:
        return raw
    try:
        del exif[ExifTags.Base.Orientation]
        return exif.tobytes()
    except Exception as exc:  # a maker note Pillow can't write back: better no EXIF than a wrong rotation
        log.debug("EXIF dropped, can't rewrite it: %s", exc)
        return None


def _xmp_bytes(xmp: object) -> bytes | None:
    if isinstance(xmp, str):
        return xmp.encode("utf-8")
    return xmp if isinstance(xmp, bytes) and xmp else None


@functools.lru_cache(maxsize=16)
def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc))


@functools.lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.lru_cache(maxsize=1)
def _srgb_bytes() -> bytes:
    return _srgb_profile().tobytes()


def _is_empty(name: str) -> bool:
    try:
        return os.path.getsize(name) == 0
    except OSError:
        return False


def _scale_16_to_8(im: Image.Image) -> Image.Image:
    """16-bit grey to 8-bit L by value >> 8 (a plain convert would clip everything above 255 to white)."""
    return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")


# ---- saving ----------------------------------------------------------------------------------------------------


def _save_options(
    picture: Picture, fmt: str, frames: list[Image.Image], quality: int, metadata: str
) -> dict[str, object]:
    options: dict[str, object] = {"quality": quality} if fmt in _QUALITY_FORMATS else {}
    if picture.icc_profile and fmt in _ICC_FORMATS and frames[0].mode in _RGB_MODES:
        options["icc_profile"] = picture.icc_profile  # never on grey: an RGB profile doesn't describe it
    exif = _exif_for(picture.exif, metadata)
    if exif and fmt in _EXIF_FORMATS:
        options["exif"] = exif
    if metadata == "all" and picture.xmp and fmt in _XMP_FORMATS:
        options["xmp"] = picture.xmp
    if len(frames) > 1:
        options |= {"save_all": True, "append_images": frames[1:]}
        if fmt in _TIMED_FORMATS:
            if picture.durations is not None:
                options["duration"] = list(picture.durations)
            if picture.loop is not None:
                options["loop"] = picture.loop
            if picture.disposals is not None and fmt == picture.format and fmt in ("GIF", "PNG"):
                options["disposal"] = list(picture.disposals)
    return options


def _exif_for(exif: bytes | None, metadata: str) -> bytes | None:
    """The EXIF to write under `metadata`: all of it, none, or (camera) everything but the GPS location."""
    if not exif or metadata == "none":
        return None
    if metadata == "all":
        return exif
    parsed = Image.Exif()
    try:
        parsed.load(exif)
        if ExifTags.IFD.GPSInfo not in parsed:
            return exif
        del parsed[ExifTags.IFD.GPSInfo]
        return parsed.tobytes()
    except Exception as exc:  # unreadable or unwritable: the location can't be removed, so keep none of it
        log.debug("EXIF dropped, can't remove its GPS block: %s", exc)
        return None


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
