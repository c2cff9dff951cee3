"""The image pipeline's nodes.

Per image (one isolated sub-flow run): LoadImage decodes it once into the run's own scope, then
FilterAndSave fans out over the filters; each pool job applies one filter *and* encodes the result to
its file, so the filtered picture never waits in memory and both steps run where Pillow releases the GIL.
A load failure routes to RecordFailure instead. ContactSheet runs once at the end.

All Pillow work goes through one caller-owned executor: a thread pool (parallel), or InlineExecutor, which
runs each job on the spot (the sequential baseline), so both modes run the very same nodes and code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from pocketflow import AsyncNode, AsyncParallelBatchNode
from utils.images import ImageLoadError, load_image, save_image

from . import contact_sheet
from .plan import Job, Output
from .report import Failure, Report

T = TypeVar("T")
FilterJob = tuple[Image.Image, Output]


class InlineExecutor(Executor):
    """Runs each job at once in the calling thread (blocking the event loop, so one thing at a time)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


async def run_on(executor: Executor, fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)


class LoadImage(AsyncNode):
    """Decode the run's image once (params["job"]) into shared["image"], which isolation keeps per run."""

    def __init__(self, executor: Executor) -> None:
        super().__init__()
        self.executor = executor

    async def prep_async(self, shared: Any) -> Path:
        job: Job = self.params["job"]
        return job.source

    async def exec_async(self, source: Path) -> Image.Image:
        return await run_on(self.executor, load_image, source)

    async def exec_fallback_async(self, source: Path, exc: Exception) -> Any:
        if isinstance(exc, ImageLoadError):
            return exc
        raise exc

    async def post_async(self, shared: Any, source: Path, result: Image.Image | ImageLoadError) -> str | None:
        if isinstance(result, ImageLoadError):
            shared["error"] = result
            return "failed"
        shared["image"] = result
        return None


class RecordFailure(AsyncNode):
    """Report an image that couldn't be loaded; the other images carry on."""

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        job: Job = self.params["job"]
        report: Report = shared["report"]
        report.failed.append(Failure(job.source, str(shared["error"])))
        report.failed_images.add(job.source)


class FilterAndSave(AsyncParallelBatchNode):
    """One item per pending output: apply its filter to the shared decoded image and write the file atomically."""

    def __init__(self, quality: int, executor: Executor) -> None:
        super().__init__(executor=executor, errors="collect")  # the pool's size bounds the work in flight
        self.quality = quality

    async def prep_async(self, shared: Any) -> list[FilterJob]:
        job: Job = self.params["job"]
        image: Image.Image = shared["image"]
        return [(image, out) for out in job.pending]

    def exec(self, item: FilterJob) -> Path:
        image, out = item
        save_image(out.spec(image), out.path, quality=self.quality)
        return out.path

    async def post_async(self, shared: Any, items: list[FilterJob], results: list[Path | Exception]) -> None:
        report: Report = shared["report"]
        for (_, out), result in zip(items, results):
            if isinstance(result, Exception):
                report.failed.append(Failure(out.path, f"{out.path}: {type(result).__name__}: {result}"))
            else:
                report.written.append(result)


class ContactSheet(AsyncNode):
    """Write one PNG grid of every loaded image and its outputs (written now or skipped as fresh)."""

    def __init__(self, path: Path, executor: Executor) -> None:
        super().__init__()
        self.path, self.executor = path, executor

    async def prep_async(self, shared: Any) -> list[Job]:
        report: Report = shared["report"]
        jobs: list[Job] = shared["jobs"]
        return [job for job in jobs if job.source not in report.failed_images]

    async def exec_async(self, jobs: list[Job]) -> Path | None:
        if not jobs:
            return None
        rows = await asyncio.gather(*(run_on(self.executor, self._row, job) for job in jobs))
        layout = contact_sheet.Layout(rows=len(jobs), cols=1 + len(jobs[0].outputs))
        columns = ["original", *(out.spec.label for out in jobs[0].outputs)]
        sheet = await run_on(self.executor, contact_sheet.render, layout, columns, rows)
        await run_on(self.executor, save_image, sheet, self.path)
        return self.path

    def _row(self, job: Job) -> tuple[str, list[Image.Image | None]]:
        paths = [job.source, *(out.path for out in job.outputs)]
        return job.name, [contact_sheet.thumbnail(path, contact_sheet.CELL) for path in paths]

    async def post_async(self, shared: Any, jobs: list[Job], path: Path | None) -> None:
        shared["contact_sheet"] = path
