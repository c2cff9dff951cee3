"""The flow factory: every input image through every filter, one isolated sub-flow run per image.

    ProcessImages (AsyncParallelBatchFlow, isolate=True, at most `workers` images in flight)
      per image:  LoadImage --default--> FilterAndSave (one pool job per filter: apply + encode to a path)
                  LoadImage --failed---> RecordFailure
    then, with contact_sheet: ContactSheet

Decoding once per image and bounding the images in flight keeps memory flat however many inputs there
are; the shared thread pool keeps every core busy because Pillow releases the GIL while decoding,
filtering and encoding to a file path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocketflow import AsyncFlow, AsyncParallelBatchFlow, BaseNode

from .filters import FilterSpec
from .nodes import ContactSheet, FilterAndSave, InlineExecutor, LoadImage, RecordFailure
from .plan import plan_jobs
from .report import Report

CONTACT_SHEET_NAME = "contact_sheet.png"


@dataclass(frozen=True)
class Settings:
    filters: Sequence[FilterSpec]
    out_dir: Path
    format: str = "keep"  # keep | jpg | png | webp
    quality: int = 90
    overwrite: bool = False
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    contact_sheet: bool = False


class ProcessImages(AsyncParallelBatchFlow):
    """Plans outputs for shared["images"], then runs the per-image sub-flow for images with work left.

    Writes shared["jobs"] (the plan) and fills shared["report"] (created if absent).
    """

    def __init__(self, start: BaseNode, settings: Settings, *, max_concurrency: int) -> None:
        super().__init__(start, max_concurrency=max_concurrency, isolate=True)
        self.settings = settings

    async def prep_async(self, shared: Any) -> list[dict[str, Any]]:
        s = self.settings
        jobs = plan_jobs(shared["images"], s.filters, s.out_dir, s.format, s.overwrite)
        report: Report = shared.setdefault("report", Report())
        report.images += len(jobs)
        report.skipped.extend(out.path for job in jobs for out in job.outputs if out.fresh)
        shared["jobs"] = jobs
        return [{"job": job} for job in jobs if job.pending]


def build_flow(settings: Settings, executor: Executor | None = None, *, load: LoadImage | None = None) -> AsyncFlow:
    """The whole pipeline. Run it with `await flow.run_async({"images": [paths...]})`; read shared["report"].

    `executor` (e.g. a ThreadPoolExecutor of `settings.workers` threads, owned by the caller) runs all Pillow
    work, with `settings.workers` images in flight; with None everything runs inline, one image and one filter
    at a time (the --sequential baseline), through the same nodes and producing identical files.
    `load` replaces the node that decodes each image (.cluster's keeps the pixels on a Dask worker).
    """
    in_flight = settings.workers if executor is not None else 1
    executor = executor if executor is not None else InlineExecutor()
    load = load if load is not None else LoadImage(executor)
    load >> FilterAndSave(settings.quality, executor)
    load - "failed" >> RecordFailure()
    images = ProcessImages(load, settings, max_concurrency=in_flight)
    if settings.contact_sheet:
        images >> ContactSheet(settings.out_dir / CONTACT_SHEET_NAME, executor)
    return AsyncFlow(start=images)
