"""What a translation run is made of: its settings, the documents, one job per (document, language), and the
unique pieces of work (chunk, language) that the model is actually asked for.

Jobs are the unit of output (one file each); work items are the unit of cost (one request each, shared by every
job that contains the same chunk in the same language). Keeping the two apart is what lets a file be written the
moment its last chunk arrives while the batch keeps going for the others.
"""
from __future__ import annotations

import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from apps.translate.chunking import Segment, reassemble
from apps.translate.languages import DEFAULT_LANGUAGES, LANGUAGES, Language
from utils.files import safe_filename

DEFAULT_CHUNK_TOKENS = 600

Status = Literal["planned", "running", "done", "failed"]


@dataclass(frozen=True)
class TranslateSettings:
    """Everything a run needs besides the cache; put it in `shared["settings"]`."""

    files: tuple[Path, ...]
    languages: tuple[Language, ...] = DEFAULT_LANGUAGES
    out_dir: Path = Path("translations")
    provider: str | None = None
    model: str | None = None
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    front_matter_keys: frozenset[str] = frozenset()
    force: bool = False
    dry_run: bool = False


class InputError(OSError):
    """An input document cannot be read as UTF-8 text."""


@dataclass(frozen=True)
class Document:
    path: Path
    segments: tuple[Segment, ...]

    @property
    def chunk_count(self) -> int:
        return sum(seg.translate for seg in self.segments)


def output_path(out_dir: Path, source: Path, language: Language) -> Path:
    """`<out>/<stem>.<code><suffix>`, e.g. translations/README.fr.md; always a direct child of `out_dir`."""
    return out_dir / safe_filename(f"{source.stem}.{language.code}{source.suffix}")


class PathError(ValueError):
    """Inputs and outputs that cannot work together, found before any request is sent."""


def input_problem(path: Path) -> str | None:
    """Why `path` cannot be an input document, or None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "input file not found"
    except OSError as exc:
        return f"cannot read the input ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return f"the input is a folder; name the Markdown files in it (e.g. {path / '*.md'})"
    if not stat.S_ISREG(mode):
        return "the input is not a regular file (a FIFO, socket or device); name Markdown files"
    return None


def output_folder_problem(out_dir: Path) -> str | None:
    """Why `out_dir` cannot be (or become) the output folder, or None: a file where a folder must be."""
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            return None if folder.is_dir() else f"{folder} is a file, not a folder; choose another output folder"
    return None


def previous_translations(files: Sequence[Path]) -> list[Path]:
    """Inputs named `<stem>.<code><suffix>` beside an input `<stem><suffix>`: translations (a previous run's, or
    a person's) that a glob such as docs/*.md picked up. Named without their source, they are translated."""
    given = {path.resolve() for path in files}
    codes = {lang.code.casefold() for lang in LANGUAGES}
    found = []
    for path in files:
        stem, dot, code = path.stem.rpartition(".")
        if dot and code.casefold() in codes and path.with_name(stem + path.suffix).resolve() in given:
            found.append(path)
    return found


def check_outputs(
    inputs: Sequence[Path],
    languages: Iterable[Language],
    out_dir: Path,
    named: Iterable[Path],
    own: Iterable[Path] = (),
) -> None:
    """Raise PathError if two outputs would be one file (names that differ only in characters unsafe in a file
    name, like x:y.md and x;y.md) or an output would overwrite a file named on the command line, unless that file
    is one of `own` (resolved paths this app wrote and nobody has changed since: see apps.translate.outputs)."""
    mine = set(own) - {path.resolve() for path in inputs}  # never overwrite a file being translated
    named_files = {key: path for path in named if (key := path.resolve()) not in mine}
    written: dict[Path, Path] = {}
    for source in inputs:
        for language in languages:
            target = output_path(out_dir, source, language)
            key = target.resolve()
            if key in named_files:
                raise PathError(
                    f"{named_files[key]} is an input and would be overwritten by the {language.name} translation "
                    f"of {source}: choose another output folder (-o) or leave it out of the inputs"
                )
            if (other := written.setdefault(key, source)) != source:
                raise PathError(
                    f"{other} and {source} would both be written to {target}: rename one, or translate them "
                    "in separate runs with different output folders"
                )


@dataclass
class Failure:
    segment: int
    reason: str


@dataclass(eq=False)
class Job:
    """One output file: a document in one language, filled in chunk by chunk."""

    document: Document
    language: Language
    path: Path
    translations: dict[int, str] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    cached: int = 0
    tokens: int = 0
    seconds: float = 0.0
    status: Status = "planned"
    error: str = ""

    @property
    def total(self) -> int:
        return self.document.chunk_count

    @property
    def complete(self) -> bool:
        return not self.pending

    def text(self) -> str:
        return reassemble(self.document.segments, self.translations)


@dataclass(eq=False)
class WorkItem:
    """One request: a chunk body in one language, and every (job, segment) waiting for its answer."""

    key: str
    body: str
    language: Language
    single_line: bool
    targets: list[tuple[Job, int]] = field(default_factory=list)


class Progress(Protocol):
    """What a run reports as it goes (the CLI draws a bar from it)."""

    def start(self, total: int, done: int) -> None:
        """`total` chunk translations in the run, `done` of them already cached."""

    def advance(self, chunks: int, tokens: int) -> None:
        """`chunks` more chunk translations finished (or failed), costing `tokens`."""

    def job_finished(self, job: Job) -> None:
        """A job reached its final status (its file is written if it is "done")."""
