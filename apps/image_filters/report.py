"""What a run did, filled in by the nodes (through the shared store) and summarised by the CLI."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .manifest import Record

if TYPE_CHECKING:
    from .plan import Job


@dataclass(frozen=True)
class Failure:
    path: Path
    message: str  # one line, naming the file


@dataclass
class Report:
    """Counts outputs, not images, except `images`, `processed` and `failed_images`.

    `records` are the manifest entries of outputs written this run, saved once they are synced to disk;
    `thumbnails` (contact-sheet JPEG bytes) are keyed by the file they show, input or output.
    """

    images: int = 0
    finished: int = 0  # images whose work this run is over (written, failed or refused), for progress
    processed: set[Path] = field(default_factory=set)  # inputs with at least one output written this run
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    failed_images: set[Path] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    records: dict[Path, Record] = field(default_factory=dict)
    thumbnails: dict[Path, bytes] = field(default_factory=dict)
    # batches still running when the run was stopped, recorded once it has waited for them (nodes.record_outputs)
    unrecorded: list[tuple[tuple[Job, ...], Future[Any]]] = field(default_factory=list)

    def __repr__(self) -> str:  # short: asyncio.run formats its finished task's result, this, when it returns
        return f"Report(images={self.images}, written={len(self.written)}, failed={len(self.failed)})"

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self, seconds: float) -> str:
        """One line; images/s counts only the images this run actually processed (not skipped or failed)."""
        rate = len(self.processed) / seconds if seconds > 0 else 0.0
        return (
            f"images: {self.images}, outputs written: {len(self.written)}, skipped: {len(self.skipped)}, "
            f"failed: {len(self.failed)}, {seconds:.2f} s, {rate:.2f} images/s"
        )
