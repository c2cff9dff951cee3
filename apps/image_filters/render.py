"""The work itself, as plain top-level functions of paths, filter specs and options (picklable, no closures),
so a thread pool, a process pool or a Dask worker can run them:

    oversized(source, specs, max_pixels)           -> {spec: refusal}  (header only)
    decode_for_outputs(source, specs, options)     -> (Picture, frames, thumbnail)
    load_for_outputs(source, specs, options)       -> Loaded    (identity, refusals, decode, thumbnail)
    load_source(source, specs, options)            -> Picture   (decode once, shrink-on-load when every
                                                                   filter shrinks)
    apply_filter(picture, spec)                    -> Picture   (every frame)
    save_output(picture, path, options)            -> stat      (encode, atomic write, no fsync)
    filter_and_save(picture, spec, path, options)  -> Saved     (both; a contact-sheet thumbnail if asked)
    filter_and_save_all(picture, outputs, options) -> [Saved | Exception]  (several outputs in one job)
    render_outputs(source, outputs, options)       -> Rendered  (load + every output in one job)
    render_batch([(source, outputs)...], options)  -> [Rendered | ImageLoadError]  (small inputs, one job)
    render_image(source, outputs, options)         -> [error line | None]  (one image's outputs, by path)

Durability is the caller's: outputs are renamed into place complete but not fsynced one by one; the flow
syncs the file system once before it records them (see .manifest).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from utils.images import (
    DEFAULT_MAX_PIXELS,
    ImageLoadError,
    Picture,
    image_size,
    load_picture,
    save_picture,
    to_srgb,
)

from . import kernels
from .filters import FilterSpec
from .manifest import source_stamp

THUMB_SIDE = 160  # contact-sheet cell, in pixels
_SHRINK_ON_LOAD_GAP = 2  # decode at least twice the final size, so Lanczos still has detail to work with
_SHRINK = frozenset({"resize", "thumbnail"})
MAY_GROW = frozenset({"resize", "rotate"})


@dataclass(frozen=True)
class OutputOptions:
    """How outputs are written; part of what each output is recorded as made from (except max_pixels)."""

    quality: int = 90
    metadata: str = "camera"  # camera | all | none (utils.images.METADATA_POLICIES)
    max_pixels: int = DEFAULT_MAX_PIXELS
    thumbnails: bool = False  # also return a contact-sheet thumbnail of each output


def output_size(size: tuple[int, int], spec: FilterSpec) -> tuple[int, int]:
    """The size `spec` turns an image of `size` into (width, height)."""
    w, h = size
    values = spec.values()
    if spec.name == "resize":
        width, height = int(values["width"]), int(values["height"])
        return width or max(1, round(w * height / h)), height or max(1, round(h * width / w))
    if spec.name == "thumbnail":
        side = int(values["size"])
        if w <= side and h <= side:
            return w, h
        scale = min(side / w, side / h)
        return max(1, round(w * scale)), max(1, round(h * scale))
    if spec.name == "rotate" and values["expand"]:
        angle = math.radians(float(values["degrees"]))
        cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
        return math.ceil(w * cos + h * sin), math.ceil(w * sin + h * cos)
    return w, h


def oversized(source: Path, specs: Sequence[FilterSpec], max_pixels: int) -> dict[FilterSpec, str]:
    """The specs that would turn `source` into an image over `max_pixels`, each with its one-line refusal.

    Reads only the header, so a `resize:width=20000` of a tiny file is refused before any decoding.
    """
    growing = [spec for spec in specs if spec.name in MAY_GROW]
    if not growing:
        return {}
    size = image_size(source)
    refused = {}
    for spec in growing:
        width, height = output_size(size, spec)
        if width * height > max_pixels:
            refused[spec] = (
                f"{source}: {spec.label} would make a {width}x{height} image ({width * height} pixels), over "
                f"the limit of {max_pixels}; refused before any work (raise --max-pixels if you mean it)"
            )
    return refused


def shrink_on_load_size(size: tuple[int, int], specs: Sequence[FilterSpec]) -> tuple[int, int] | None:
    """The smallest decode size every spec can work from, when all of them only shrink; else None (full size)."""
    needed = (0, 0)
    for spec in specs:
        if spec.name not in _SHRINK:
            return None
        w, h = output_size(size, spec)
        needed = (max(needed[0], w * _SHRINK_ON_LOAD_GAP), max(needed[1], h * _SHRINK_ON_LOAD_GAP))
    if not specs or needed[0] >= size[0] or needed[1] >= size[1]:
        return None
    return needed


def load_source(source: Path, specs: Sequence[FilterSpec], options: OutputOptions) -> Picture:
    """Decode `source` once for all of `specs`, at a reduced JPEG scale if every one of them shrinks it."""
    shrinking = bool(specs) and all(spec.name in _SHRINK for spec in specs)
    min_size = shrink_on_load_size(image_size(source), specs) if shrinking else None
    picture = load_picture(source, max_pixels=options.max_pixels, min_size=min_size)
    if len(specs) > 1:  # its outputs' jobs share the frames (never changed in place): pack their pixels once
        for frame in picture.frames:
            kernels.keep_pixels(frame)
    return picture


@dataclass(frozen=True)
class Loaded:
    """An input ready for its outputs: the decoded picture (None if every output was refused) and what was
    learnt on the way."""

    picture: Any  # a Picture; elsewhere a handle to one (e.g. a Dask future)
    frames: int
    refused: dict[FilterSpec, str]  # outputs refused before any work, with their one-line reasons
    thumbnail: bytes | None  # the original's contact-sheet thumbnail, if asked
    stamp: tuple[int, int, int] | None  # the input's identity (size, mtime, inode) taken before decoding


def decode_for_outputs(
    source: Path, specs: Sequence[FilterSpec], options: OutputOptions
) -> tuple[Picture, int, bytes | None]:
    """load_source, with the frame count and (options.thumbnails) the contact-sheet thumbnail, in one job."""
    picture = load_source(source, specs, options)
    return picture, len(picture.frames), thumbnail(picture) if options.thumbnails else None


def load_for_outputs(source: Path, specs: Sequence[FilterSpec], options: OutputOptions) -> Loaded:
    """All of what a worker that gets only a path needs before the outputs: identity, refusals, the decode."""
    stamp = source_stamp(source)
    refused = oversized(source, specs, options.max_pixels)
    wanted = [spec for spec in specs if spec not in refused]
    if not wanted:
        return Loaded(None, 0, refused, None, stamp)
    picture, frames, thumb = decode_for_outputs(source, wanted, options)
    return Loaded(picture, frames, refused, thumb, stamp)


def apply_filter(picture: Picture, spec: FilterSpec) -> Picture:
    """`spec` applied to every frame; profile, metadata and timing carried over."""
    return picture.with_frames([spec(frame) for frame in picture.frames])


def save_output(picture: Picture, path: Path, options: OutputOptions) -> os.stat_result:
    """Encode `picture` to `path` in the format its extension names; atomic, fsync left to the caller."""
    return save_picture(picture, path, quality=options.quality, metadata=options.metadata, fsync=False)


def filter_and_save(picture: Picture, spec: FilterSpec, path: Path, options: OutputOptions) -> Saved:
    """apply_filter then save_output; with options.thumbnails, the output's contact-sheet thumbnail too."""
    filtered = apply_filter(picture, spec)
    written = save_output(filtered, path, options)
    return Saved((written.st_size, written.st_mtime_ns), thumbnail(filtered) if options.thumbnails else None)


def filter_and_save_all(
    picture: Picture, outputs: Sequence[tuple[FilterSpec, Path]], options: OutputOptions
) -> list[Saved | Exception]:
    """filter_and_save for several outputs of one picture in one job (small images: per-job costs dominate);
    each output's exception is returned in its place, so one failure never sinks the others."""
    results: list[Saved | Exception] = []
    for spec, path in outputs:
        try:
            results.append(filter_and_save(picture, spec, path, options))
        except Exception as exc:
            results.append(exc)
    return results


@dataclass(frozen=True)
class Saved:
    """An output as written: its (size, mtime_ns) for the manifest, and its thumbnail if asked."""

    stamp: tuple[int, int]
    thumbnail: bytes | None


@dataclass(frozen=True)
class Rendered:
    """An input and all its outputs made in one job: what was learnt loading it (no pixels) and each result."""

    loaded: Loaded
    results: list[Saved | Exception]  # one per output not refused, in order


def render_outputs(source: Path, outputs: Sequence[tuple[FilterSpec, Path]], options: OutputOptions) -> Rendered:
    """Load `source` once and make every output in this one job (small inputs; path-only workers)."""
    loaded = load_for_outputs(source, [spec for spec, _ in outputs], options)
    wanted = [(spec, path) for spec, path in outputs if spec not in loaded.refused]
    results = filter_and_save_all(loaded.picture, wanted, options) if wanted else []
    return Rendered(replace(loaded, picture=None), results)


def render_batch(
    work: Sequence[tuple[Path, Sequence[tuple[FilterSpec, Path]]]], options: OutputOptions
) -> list[Rendered | ImageLoadError]:
    """render_outputs for several small inputs in one job; an input that can't be loaded gets its error."""
    results: list[Rendered | ImageLoadError] = []
    for source, outputs in work:
        try:
            results.append(render_outputs(source, outputs, options))
        except ImageLoadError as exc:
            results.append(exc)
    return results


def render_image(source: Path, outputs: Sequence[tuple[FilterSpec, Path]], options: OutputOptions) -> list[str | None]:
    """Every output of one image, by path: None per success, or the error's one line."""
    rendered = render_outputs(source, outputs, options)
    results = iter(rendered.results)
    errors: list[str | None] = []
    for spec, path in outputs:
        if spec in rendered.loaded.refused:
            errors.append(rendered.loaded.refused[spec])
            continue
        result = next(results)
        errors.append(f"{path}: {type(result).__name__}: {result}" if isinstance(result, Exception) else None)
    return errors


def thumbnail(picture: Picture, side: int = THUMB_SIDE) -> bytes:
    """The first frame fitted into a `side` square, colour-managed to sRGB, over white, as small JPEG bytes.

    Kept as bytes because a contact sheet of thousands of images holds thousands of these until the end.
    """
    frame = picture.image
    small = frame.copy() if frame.mode in ("RGB", "RGBA", "L", "LA") else frame.convert("RGBA")
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    if small.mode in ("RGB", "RGBA"):
        small = to_srgb(small, picture.icc_profile)
    if small.mode in ("RGBA", "LA"):
        flat = Image.new("RGB", small.size, "white")
        flat.paste(small.convert("RGBA"), mask=small.getchannel("A"))
        small = flat
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
