"""Plan the work before any of it starts: one output path per (image, filter), and which are already fresh.

Output names are `<name>_<filter label>.<ext>`. Images whose file stems collide (a/photo.jpg and b/photo.png)
get a deterministic suffix: the parent folder's name when that tells them apart, else a short hash of the
full path, so two inputs never overwrite each other's outputs.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from utils.files import safe_filename
from utils.images import image_format_for

from .filters import FilterSpec

FORMATS = ("keep", "jpg", "png", "webp")


@dataclass(frozen=True)
class Output:
    spec: FilterSpec
    path: Path
    fresh: bool  # exists and is newer than its input, so it is skipped (unless overwriting)


@dataclass(frozen=True)
class Job:
    """One image and every output it should end up with."""

    source: Path
    name: str
    outputs: tuple[Output, ...]

    @property
    def pending(self) -> tuple[Output, ...]:
        return tuple(o for o in self.outputs if not o.fresh)


def plan_jobs(
    images: Sequence[Path], filters: Sequence[FilterSpec], out_dir: Path, fmt: str = "keep", overwrite: bool = False
) -> list[Job]:
    """A Job per image, in input order, with output paths and freshness decided from the file system."""
    names = output_names(images)
    jobs = []
    for source in images:
        ext = output_extension(source, fmt)
        source_mtime = _mtime(source)
        outputs = []
        for spec in filters:
            path = out_dir / f"{names[source]}_{spec.label}{ext}"
            fresh = not overwrite and source_mtime is not None and (_mtime(path) or 0) > source_mtime
            outputs.append(Output(spec, path, fresh))
        jobs.append(Job(source, names[source], tuple(outputs)))
    return jobs


def output_names(images: Sequence[Path]) -> dict[Path, str]:
    """A distinct, file-name-safe name per image; independent of input order."""
    groups: defaultdict[str, list[Path]] = defaultdict(list)
    for path in images:
        groups[safe_filename(path.stem)].append(path)
    names: dict[Path, str] = {}
    for stem, paths in groups.items():
        if len(paths) == 1:
            names[paths[0]] = stem
            continue
        parents = [safe_filename(p.resolve().parent.name) for p in paths]
        distinct = len(set(parents)) == len(paths)
        for path, parent in zip(paths, parents):
            names[path] = f"{stem}-{parent if distinct else _digest(path)}"
    counts = Counter(names.values())  # a suffixed name may equal another file's own stem
    return {p: n if counts[n] == 1 else f"{safe_filename(p.stem)}-{_digest(p)}" for p, n in names.items()}


def output_extension(source: Path, fmt: str) -> str:
    """`.jpg`/`.png`/`.webp` for those formats; for "keep", the input's extension if Pillow can write it, else `.png`."""
    if fmt != "keep":
        return f".{fmt}"
    try:
        image_format_for(source)
    except ValueError:
        return ".png"
    return source.suffix.lower()


def _digest(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
