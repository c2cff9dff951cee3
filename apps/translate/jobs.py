"""What a translation run is made of: its settings, the documents, one job per (document, language), and the
unique pieces of work (chunk, language) that the model is actually asked for.

Jobs are the unit of output (one file each); work items are the unit of cost (one request each, shared by every
job that contains the same chunk in the same language). Keeping the two apart is what lets a file be written the
moment its last chunk arrives while the batch keeps going for the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from apps.translate.chunking import Segment, reassemble
from apps.translate.languages import DEFAULT_LANGUAGES, Language
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
