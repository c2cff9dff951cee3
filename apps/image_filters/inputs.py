"""Turn the command line's inputs (files, folders, globs) into a de-duplicated list of image files.

Folders are searched recursively, following linked folders but never twice (a symlink loop ends, and is
reported); hidden entries are left out. Whatever is passed over for a reason the user may not expect is
reported: image files this Pillow can't decode (e.g. .avif or .heic without their plugins), folders that
can't be read, symlink loops. Files this app wrote (listed in their folder's manifest) are never inputs,
however they are named on the command line.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from . import manifest

# Image files a folder scan looks at; those this Pillow can't open are reported as skipped, not silently ignored.
KNOWN_IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif", ".jxl", ".jp2"}
)
SAMPLES = Path(__file__).parent / "samples"


class InputError(ValueError):
    """An input names nothing: a missing path, a glob matching no file, or a folder without images."""


@dataclass
class Found:
    """The images to process, and what was passed over (one line each, naming the path and why)."""

    images: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def readable_suffixes() -> frozenset[str]:
    """The known image suffixes that this Pillow has a decoder for."""
    return frozenset(s for s, fmt in Image.registered_extensions().items() if fmt in Image.OPEN) & KNOWN_IMAGE_SUFFIXES


def resolve_file(path: Path, folders: dict[str, Path]) -> Path:
    """`path.resolve()` for a file, each folder resolved once (`folders` caches them for one scan or plan).

    realpath checks every component of every path: for thousands of files in a few folders, most of a plan's
    time. Folders are looked up by their text: a Path's hash costs more than the lookup.
    """
    text = os.fspath(path)
    try:
        linked = os.path.islink(text)
    except OSError:
        linked = True
    parent, name = os.path.split(text)
    if linked or name in ("", ".", ".."):
        return path.resolve()
    folder = folders.get(parent)
    if folder is None:
        folder = folders[parent] = Path(parent or ".").resolve()
    return folder / name


def find_images(inputs: Sequence[str | Path]) -> list[Path]:
    """The image files `inputs` name (see scan_inputs, which also says what was skipped)."""
    return scan_inputs(inputs).images


def scan_inputs(inputs: Sequence[str | Path]) -> Found:
    """Expand files, folders and glob patterns into image files, in input order (folders sorted), each once.

    Files recorded as outputs in their folder's manifest are left out, so re-runs never filter their outputs.
    """
    found = Found()
    seen: set[str] = set()  # resolved paths, as text (cheaper to hash than Paths)
    outputs_in: dict[str, frozenset[str]] = {}
    folders: dict[str, Path] = {}
    for item in inputs:
        for path in _expand(Path(item), str(item), found):
            key = str(resolve_file(path, folders))
            folder, name = os.path.split(key)
            outputs = outputs_in.get(folder)
            if outputs is None:
                outputs = outputs_in[folder] = manifest.output_names(Path(folder))
            if key not in seen and name not in outputs:
                seen.add(key)
                found.images.append(path)
    return found


def _expand(path: Path, text: str, found: Found) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        images = sorted(_scan_folder(path, found))
        if not images:
            raise InputError(f"no images ({', '.join(sorted(readable_suffixes()))}) in folder {text}")
        return images
    if glob.has_magic(text):
        matches = _glob(text, found)
        files = [p for p in matches if p.is_file()]
        if not files:
            raise InputError(f"no files match {text}")
        return files
    raise InputError(f"input not found: {text}")


def _scan_folder(root: Path, found: Found) -> Iterator[Path]:
    """Image files under `root`, sorted, following linked folders once each, hidden entries left out."""
    readable: dict[str, bool] = {}
    for folder, files in _walk(root, found):
        for name in files:
            suffix = os.path.splitext(name)[1].lower()
            if suffix not in KNOWN_IMAGE_SUFFIXES:
                continue
            known = readable.get(suffix)
            if known is None:
                known = readable[suffix] = _can_read(suffix)
            if known:
                yield folder / name
            else:
                found.skipped.append(f"{folder / name}: this Pillow has no decoder for {suffix} files")


def _can_read(suffix: str) -> bool:
    """Whether this Pillow decodes `suffix` files: its common plugins first, every plugin (~25 ms of imports,
    on the clock of every run) only for a suffix those don't cover."""
    Image.preinit()
    return Image.EXTENSION.get(suffix) in Image.OPEN or suffix in readable_suffixes()


def _walk(root: Path, found: Found) -> Iterator[tuple[Path, list[str]]]:
    """(folder, sorted visible file names) depth-first in name order; each real folder visited once."""
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            found.skipped.append(f"{folder}: folder not read ({exc.strerror or exc})")
            continue
        if (st.st_dev, st.st_ino) in visited:
            found.skipped.append(f"{folder}: links back to a folder already searched (symlink loop); searched once")
            continue
        visited.add((st.st_dev, st.st_ino))
        files, subfolders = [], []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    subfolders.append(Path(entry.path))
                elif entry.is_file():
                    files.append(entry.name)
            except OSError:
                found.skipped.append(f"{entry.path}: can't tell what it is (broken link or no permission)")
        yield folder, files
        stack.extend(reversed(subfolders))


def _glob(pattern: str, found: Found) -> list[Path]:
    """glob.glob, except that `**` walks folders with _walk, so linked folders can't make it loop forever."""
    if "**" not in pattern:
        return [Path(m) for m in sorted(glob.glob(pattern))]
    parts = Path(pattern).parts
    first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = Path(*parts[:first_magic]) if first_magic else Path(".")
    wanted = parts[first_magic:]
    if not root.is_dir():
        return []
    matches = []
    for folder, files in _walk(root, found):
        relative = folder.relative_to(root).parts
        for name in files:
            if _match(wanted, (*relative, name)):
                matches.append(folder / name if first_magic else Path(os.path.relpath(folder / name)))
    return sorted(matches)


def _match(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether path `parts` match glob `pattern` parts, `**` standing for any number of folders."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match(rest, parts[1:])
