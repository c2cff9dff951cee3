"""What a run did, filled in by the nodes (through the shared store) and summarised by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Failure:
    path: Path
    message: str  # one line, naming the file


@dataclass
class Report:
    """Counts outputs, not images, except `images` and `failed_images` (inputs that couldn't be loaded)."""

    images: int = 0
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    failed_images: set[Path] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self, seconds: float) -> str:
        rate = self.images / seconds if seconds > 0 else 0.0
        return (
            f"images: {self.images}, outputs written: {len(self.written)}, skipped: {len(self.skipped)}, "
            f"failed: {len(self.failed)}, {seconds:.2f} s, {rate:.2f} images/s"
        )
