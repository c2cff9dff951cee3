"""The flow factory: every input image through every filter, one isolated sub-flow run per image.

    ProcessImages (AsyncParallelBatchFlow, isolate=True, at most 2 x `workers` images in flight, each planned
                   as the work reaches it)
      per image:  LoadImage --default--> FilterAndSave (one pool job per filter: apply + encode to a path)
                  LoadImage --failed---> RecordFailure
    per batch of small files: LoadImage --done--> (all their outputs made in one pool job)
    then, with contact_sheet: ContactSheet (pages drawn from thumbnails made along the way)
    then SaveRecords (one file-system sync, then the manifest)

Decoding once per image and bounding the images in flight keeps memory flat however many inputs there
are; the shared thread pool keeps every core busy because Pillow and OpenCV release the GIL while
decoding, filtering and encoding to a file path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocketflow import AsyncFlow, AsyncParallelBatchFlow, BaseNode
from utils.files import temp_target
from utils.images import DEFAULT_MAX_PIXELS

from .cpus import usable_cpus
from .filters import FilterSpec
from .nodes import ContactSheet, FilterAndSave, InlineExecutor, LoadImage, RecordFailure, SaveRecords
from .plan import Job, iter_jobs
from .render import OutputOptions
from .report import Report

CONTACT_SHEET_NAME = "contact_sheet.png"
# Images in flight per thread: while one image's jobs run, the next one's are already queued, so a thread
# never idles waiting for the event loop to hand it work.
IMAGES_PER_THREAD = 2
SMALL_FILE = 256 * 1024  # bytes: inputs this small are batched, all their outputs made in one pool job ...
BATCH_SMALL = 16  # ... this many inputs to a job
STALE_TEMP_SECONDS = 3600  # a temp file this old is debris of a killed run, whatever it was for
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    filters: Sequence[FilterSpec]
    out_dir: Path
    format: str = "keep"  # keep | jpg | png | webp
    quality: int = 90
    overwrite: bool = False
    workers: int = field(default_factory=usable_cpus)
    contact_sheet: bool = False
    metadata: str = "camera"  # camera | all | none
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def options(self) -> OutputOptions:
        return OutputOptions(self.quality, self.metadata, self.max_pixels, thumbnails=self.contact_sheet)


class ProcessImages(AsyncParallelBatchFlow):
    """Plans outputs for shared["images"] image by image as the work goes, running the per-image sub-flow for
    those with work left, so the first images are made while the rest are planned.

    Fills shared["jobs"] (the plan, complete once the batch is done) and shared["report"] (created if absent).
    `settled` counts the images found to have nothing left to do, for a progress bar whose total is every image.
    """

    def __init__(self, start: BaseNode, settings: Settings, *, max_concurrency: int, batch_small: bool = True) -> None:
        super().__init__(start, max_concurrency=max_concurrency, isolate=True)
        self.settings = settings
        self.batch_small = batch_small
        self.settled = 0

    async def prep_async(self, shared: Any) -> Iterator[dict[str, Any]]:
        s = self.settings
        planned = iter_jobs(shared["images"], s.filters, s.out_dir, s.format, s.overwrite, quality=s.quality,
                            metadata=s.metadata)  # fmt: skip
        shared["jobs"] = []
        self.settled = 0
        return self.items(self._pending(planned, shared["jobs"], shared.setdefault("report", Report())))

    def _pending(self, planned: Iterable[Job], jobs: list[Job], report: Report) -> Iterator[Job]:
        """The planned jobs with work left, each job noted on the way (and its outputs' leftover temp files gone)."""
        leftovers = stale_temp_files(self.settings.out_dir)
        for job in planned:
            jobs.append(job)
            report.images += 1
            report.skipped.extend(out.path for out in job.outputs if out.fresh)
            if not job.pending:
                self.settled += 1
                continue
            for out in job.pending:  # a killed run's temp files for outputs this run redoes
                for path in leftovers.pop(out.path.name, ()):
                    _remove_leftover(path)
            yield job

    def items(self, jobs: Iterable[Job]) -> Iterator[dict[str, Any]]:
        """One run per image, except that small files go BATCH_SMALL to a run (when the load node allows)."""
        batch: list[Job] = []
        for job in jobs:
            if self.batch_small and 0 < job.size < SMALL_FILE:
                batch.append(job)
                if len(batch) == BATCH_SMALL:
                    yield {"batch": tuple(batch)}
                    batch = []
            else:
                yield {"job": job}
        if batch:
            yield {"batch": tuple(batch)}


def stale_temp_files(out_dir: Path) -> dict[str, list[Path]]:
    """Hidden temp files in `out_dir` by the output they were for; old ones, debris of a killed run whatever
    they were for, are removed now (the others once this run redoes their output)."""
    try:
        entries = list(out_dir.iterdir())
    except OSError:
        return {}
    cutoff = time.time() - STALE_TEMP_SECONDS
    found: dict[str, list[Path]] = {}
    for path in entries:
        target = temp_target(path.name)
        if target is None:
            continue
        try:
            old = path.stat().st_mtime < cutoff
        except OSError:
            continue
        if old:
            _remove_leftover(path)
        else:
            found.setdefault(target, []).append(path)
    return found


def _remove_leftover(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        return
    log.info("removed %s, left by an interrupted run", path)


def build_flow(
    settings: Settings,
    executor: Executor | None = None,
    *,
    load: LoadImage | None = None,
    sheet_executor: Executor | None = None,
    batch_executor: Executor | None = None,
) -> AsyncFlow:
    """The whole pipeline. Run it with `await flow.run_async({"images": [paths...]})`; read shared["report"].

    `executor` (e.g. a ThreadPoolExecutor of `settings.workers` threads, owned by the caller) runs all pixel
    work, with 2 x `settings.workers` images in flight; with None everything runs inline, one image and one filter
    at a time (the --sequential baseline), through the same nodes and producing identical files.
    `load` replaces the node that decodes each image (.cluster's keeps the pixels on a Dask worker);
    `sheet_executor` draws the contact sheet (default: `executor`); `batch_executor` makes the batches of small
    files (default: `executor`; a process pool there sidesteps the GIL, see .processes).
    """
    in_flight = IMAGES_PER_THREAD * settings.workers if executor is not None else 1
    executor = executor if executor is not None else InlineExecutor()
    options = settings.options
    load = load if load is not None else LoadImage(executor, options, batch_executor)
    load >> FilterAndSave(options, executor)
    load - "failed" >> RecordFailure()
    load - "done" >> None  # type: ignore[type-var]  # a batch of small files: LoadImage made their outputs
    images = ProcessImages(load, settings, max_concurrency=in_flight, batch_small=load.batches_small_files)
    last: BaseNode = images
    if settings.contact_sheet:
        last = last >> ContactSheet(settings.out_dir / CONTACT_SHEET_NAME, sheet_executor or executor)
    last >> SaveRecords(settings.out_dir)
    return AsyncFlow(start=images)
