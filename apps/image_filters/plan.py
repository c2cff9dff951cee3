"""Plan the work, image by image as it goes: one output path per (image, filter), and which are already fresh.

Output names are `<name>_<filter label>.<ext>`, and `<name>` depends only on the input itself: its file stem,
plus `-<its extension>` when the output format differs from the input's (so photo.jpg and photo.png never
collide, whatever --format says). Only inputs that share a name and extension in different folders need
more: the one already recorded under that name keeps it (else the first by path), the others add a short
hash of their own path. Names too long for the file system are cut, with a hash of the full name kept.

Freshness comes from the output folder's manifest (see .manifest): an output is redone unless it was made
from this very input with these very settings and hasn't changed since.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from utils.files import safe_filename
from utils.images import image_format_for

from . import manifest
from .filters import FilterSpec
from .inputs import resolve_file

FORMATS = ("keep", "jpg", "png", "webp")
RENDER_VERSION = 2  # bump when the same settings would now give different pixels
_MAX_NAME_BYTES = 230  # file systems allow 255; temp names add 18 (".", ".<12 hex>.tmp")
_LONG_STEM_BYTES = 150


@dataclass(frozen=True)
class Output:
    spec: FilterSpec
    path: Path
    fresh: bool  # made from this input with these settings and unchanged since, so skipped (unless overwriting)
    settings: str  # what the manifest records it was made with


@dataclass(frozen=True)
class Job:
    """One image and every output it should end up with."""

    source: Path
    name: str
    outputs: tuple[Output, ...]
    size: int = 0  # the input file's size in bytes (0 if unknown), to batch small files
    resolved: str = ""  # the input's resolved path, as the manifest records it

    @property
    def pending(self) -> tuple[Output, ...]:
        return tuple(o for o in self.outputs if not o.fresh)


def iter_jobs(
    images: Sequence[Path],
    filters: Sequence[FilterSpec],
    out_dir: Path,
    fmt: str = "keep",
    overwrite: bool = False,
    *,
    quality: int = 90,
    metadata: str = "camera",
) -> Iterator[Job]:
    """A Job per image, in input order, with output paths and freshness decided from the manifest; made one at
    a time, so the first images' work can start while the rest are planned (the names of all of them come first:
    they depend on each other)."""
    records = manifest.read(out_dir)
    names = output_names(images, fmt, records)
    settings_of = functools.cache(lambda spec, ext: settings_key(spec, ext, quality, metadata))
    tail_of = functools.cache(lambda spec, ext: f"_{spec.label}{ext}")
    folders: dict[str, Path] = {}
    for source in images:
        ext = output_extension(source, fmt)
        stamp = manifest.source_stamp(source)
        resolved = str(resolve_file(source, folders))
        outputs = []
        for spec in filters:
            path = out_dir / fit_name(names[source], tail_of(spec, ext))
            settings = settings_of(spec, ext)
            record = records.get(path.name)
            fresh = (
                not overwrite
                and record is not None
                and stamp is not None
                and record.source == resolved
                and record.source_stamp == stamp
                and record.settings == settings
                and record.output_stamp == manifest.output_stamp(path)
            )
            outputs.append(Output(spec, path, fresh, settings))
        yield Job(source, names[source], tuple(outputs), stamp[0] if stamp is not None else 0, resolved)


def settings_key(spec: FilterSpec, ext: str, quality: int, metadata: str) -> str:
    """Everything that shapes an output's bytes, as one string (quality only where the format uses it)."""
    values = ",".join(f"{key}={value}" for key, value in sorted(spec.values().items()))
    fmt = image_format_for(Path("x" + ext))
    quality_part = f" quality={quality}" if fmt in ("JPEG", "WEBP") else ""
    return f"v{RENDER_VERSION} {spec.name}({values}) {fmt}{quality_part} metadata={metadata}"


def output_names(
    images: Sequence[Path], fmt: str = "keep", records: Mapping[str, manifest.Record] | None = None
) -> dict[Path, str]:
    """A distinct, file-name-safe name per image, from the image itself (see the module docstring)."""
    groups: defaultdict[tuple[str, str], list[Path]] = defaultdict(list)
    for path in images:
        groups[base_name(path, fmt), output_extension(path, fmt)].append(path)
    owners = _recorded_owners(records or {})
    names: dict[Path, str] = {}
    for (base, _), paths in groups.items():
        if len(paths) == 1:
            names[paths[0]] = base
            continue
        by_path = sorted(paths, key=lambda p: str(p.resolve()))
        owner = next((p for p in by_path if str(p.resolve()) in owners.get(base, ())), by_path[0])
        for path in paths:
            names[path] = base if path == owner else f"{base}-{_digest(str(path.resolve()))}"
    return names


def base_name(source: Path, fmt: str = "keep") -> str:
    """The input's own part of its output names: the safe stem, plus `-<ext>` if the format changes."""
    stem = safe_filename(source.stem)
    if len(source.stem.encode("utf-8")) > _LONG_STEM_BYTES:  # cut, tagged with a hash of the whole stem
        stem = _cut(stem, _LONG_STEM_BYTES) + "~" + _digest(source.stem)
    if output_extension(source, fmt) == source.suffix.lower():
        return stem
    return f"{stem}-{safe_filename(source.suffix.lower().lstrip('.')) or 'none'}"


def fit_name(base: str, tail: str) -> str:
    """`base + tail`, with `base` cut (at a character boundary) and tagged with its hash if the whole is too long."""
    name = base + tail
    if len(name.encode("utf-8")) <= _MAX_NAME_BYTES:
        return name
    tag = "~" + _digest(base)
    return _cut(base, max(1, _MAX_NAME_BYTES - len((tag + tail).encode("utf-8")))) + tag + tail


def _cut(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, never inside a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def output_extension(source: Path, fmt: str) -> str:
    """`.jpg`/`.png`/`.webp` for those formats; "keep": the input's extension if Pillow writes it, else `.png`."""
    return fmt_extension(source.suffix.lower(), fmt)


@functools.cache
def fmt_extension(suffix: str, fmt: str) -> str:
    if fmt != "keep":
        return f".{fmt}"
    try:
        image_format_for("x" + suffix)
    except ValueError:
        return ".png"
    return suffix


def _recorded_owners(records: Mapping[str, manifest.Record]) -> dict[str, set[str]]:
    """Base name -> the sources already recorded under it (from output names `<base>_<label>.<ext>`)."""
    owners: defaultdict[str, set[str]] = defaultdict(set)
    for name, record in records.items():
        if record.source and "_" in name:
            owners[name.rsplit("_", 1)[0]].add(record.source)
    return owners


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]
