"""Turn the command line's inputs (files, folders, globs) into a de-duplicated list of image files."""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from pathlib import Path

# Files picked up when scanning folders; files named explicitly are always taken (and rejected later if not images).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
SAMPLES = Path(__file__).parent / "samples"


class InputError(ValueError):
    """An input names nothing: a missing path, a glob matching no file, or a folder without images."""


def find_images(inputs: Sequence[str | Path], exclude: Path | None = None) -> list[Path]:
    """Expand files, folders (recursively, skipping hidden entries) and glob patterns into image files.

    Order follows the inputs, folders sorted; a file reached twice is kept once. Files under `exclude`
    (the output folder) are left out of folder and glob expansion, so re-runs don't filter their outputs.
    """
    excluded = exclude.resolve() if exclude is not None else None
    found: dict[Path, Path] = {}
    for item in inputs:
        for path in _expand(Path(item), str(item), excluded):
            found.setdefault(path.resolve(), path)
    return list(found.values())


def _expand(path: Path, text: str, excluded: Path | None) -> Iterable[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        images = [p for p in sorted(path.rglob("*")) if _is_image(p, path) and not _under(p, excluded)]
        if not images:
            raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {text}")
        return images
    if glob.has_magic(text):
        matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
        files = [p for p in matches if p.is_file() and not _under(p, excluded)]
        if not files:
            raise InputError(f"no files match {text}")
        return files
    raise InputError(f"input not found: {text}")


def _is_image(path: Path, root: Path) -> bool:
    relative = path.relative_to(root).parts
    return path.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in relative) and path.is_file()


def _under(path: Path, folder: Path | None) -> bool:
    return folder is not None and path.resolve().is_relative_to(folder)
