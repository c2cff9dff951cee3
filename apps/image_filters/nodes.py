"""The image pipeline's nodes.

Per image (one isolated sub-flow run): LoadImage refuses outputs that would be too large (header only), then
decodes the image once into the run's own scope; FilterAndSave fans out over the filters, each pool job
applying one filter to every frame *and* encoding the result to its file (render.filter_and_save), so the
filtered picture never waits in memory and both steps run where Pillow and OpenCV release the GIL.
A load failure routes to RecordFailure instead. After all images: ContactSheet (if asked) draws pages from
the thumbnails made along the way, and SaveRecords syncs the outputs to disk once and records them.

All pixel work goes through one caller-owned executor: a thread pool (parallel), or InlineExecutor, which
runs each job on the spot (the sequential baseline), so both modes run the very same nodes and code.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from pocketflow import AsyncNode, AsyncParallelBatchNode
from utils.files import sync_filesystem
from utils.images import ImageLoadError, Picture, holds_frames, image_format_for, load_picture, save_image

from . import contact_sheet, manifest
from .filters import FilterSpec
from .plan import Job, Output
from .render import (
    MAY_GROW,
    Loaded,
    OutputOptions,
    Rendered,
    Saved,
    decode_for_outputs,
    filter_and_save_all,
    oversized,
    render_batch,
    thumbnail,
)
from .report import Failure, Report

T = TypeVar("T")
log = logging.getLogger(__name__)


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
    """Decode the run's image once (params["job"]) into shared["loaded"], which isolation keeps per run.

    Given a batch of small images instead (params["batch"]), it makes all their outputs in one job
    (render.render_batch) on `batch_executor` (default: `executor`), as per-job and per-run costs outweigh the
    work there, and ends the run ("done").
    """

    def __init__(
        self, executor: Executor, options: OutputOptions | None = None, batch_executor: Executor | None = None
    ) -> None:
        super().__init__()
        self.executor = executor
        self.batch_executor = batch_executor if batch_executor is not None else executor
        self.options = options if options is not None else OutputOptions()

    @property
    def batches_small_files(self) -> bool:
        """Only when the pixels are decoded here: a subclass that decodes elsewhere (a cluster) gets single jobs."""
        return type(self).decode is LoadImage.decode

    async def prep_async(self, shared: Any) -> tuple[Job | tuple[Job, ...], Report]:
        batch: tuple[Job, ...] | None = self.params.get("batch")
        return (batch if batch is not None else self.params["job"]), shared["report"]

    async def exec_async(
        self, prep_res: tuple[Job | tuple[Job, ...], Report]
    ) -> Loaded | list[Rendered | ImageLoadError]:
        job, report = prep_res
        if isinstance(job, tuple):
            return await self._render_batch(job, report)
        specs = [out.spec for out in job.pending]
        stamp = manifest.source_stamp(job.source)  # before decoding: a change from here on is redone next run
        refused = await run_on(self.executor, oversized, job.source, specs, self.options.max_pixels) if any(
            spec.name in MAY_GROW for spec in specs) else {}  # fmt: skip
        wanted = [spec for spec in specs if spec not in refused]
        if not wanted:
            return Loaded(None, 0, refused, None, stamp)
        picture, frames, thumb = await self.decode(job.source, wanted)
        return Loaded(picture, frames, refused, thumb, stamp)

    async def _render_batch(self, jobs: tuple[Job, ...], report: Report) -> list[Rendered | ImageLoadError]:
        work = [(j.source, [(out.spec, out.path) for out in j.pending]) for j in jobs]
        try:
            return await self._submit_batch(jobs, work, report)
        except BrokenExecutor:  # its worker process died; a process pool's fallback takes it (.processes)
            if self.batch_executor is self.executor:
                raise
            return await self._submit_batch(jobs, work, report)

    async def _submit_batch(self, jobs: tuple[Job, ...], work: Any, report: Report) -> list[Rendered | ImageLoadError]:
        future = self.batch_executor.submit(render_batch, work, self.options)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:  # the run is stopping; a job already running still finishes its files,
            report.unrecorded.append((jobs, future))  # so they are recorded once the run has waited for it
            raise

    async def decode(self, source: Path, specs: list[FilterSpec]) -> tuple[Any, int, bytes | None]:
        """The decoded picture (or a handle to it), its frame count and its thumbnail if asked: one pool job."""
        return await run_on(self.executor, decode_for_outputs, source, specs, self.options)

    async def exec_fallback_async(self, prep_res: Any, exc: Exception) -> Any:
        if isinstance(exc, ImageLoadError):
            return exc
        raise exc

    async def post_async(self, shared: Any, prep_res: Any, result: Any) -> str | None:
        job, report = prep_res
        if isinstance(job, tuple):
            record_batch(report, job, result)
            return "done"
        if isinstance(result, ImageLoadError):
            shared["error"] = result
            return "failed"
        self.note(report, job, result)
        shared["loaded"] = result
        return None

    @staticmethod
    def note(report: Report, job: Job, result: Loaded) -> None:
        """Refused outputs, frames an output format drops, the original's thumbnail."""
        for out in job.pending:
            if out.spec in result.refused:
                report.failed.append(Failure(out.path, result.refused[out.spec]))
            elif result.frames > 1 and not holds_frames(image_format_for(out.path)):
                report.warnings.append(
                    f"{job.source}: {result.frames} frames, but {out.path.suffix} holds one; {out.path.name} has the "
                    "first (use --format keep, webp or png to keep them all)"
                )
        if result.thumbnail is not None:
            report.thumbnails[job.source] = result.thumbnail


class RecordFailure(AsyncNode):
    """Report an image that couldn't be loaded; the other images carry on."""

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        record_failure(shared["report"], self.params["job"], shared["error"])


def record_batch(report: Report, jobs: tuple[Job, ...], results: list[Rendered | ImageLoadError]) -> None:
    """A batch of small images made in one job (render.render_batch): each image's outputs or its failure."""
    for job, rendered in zip(jobs, results, strict=True):
        if isinstance(rendered, ImageLoadError):
            record_failure(report, job, rendered)
            continue
        LoadImage.note(report, job, rendered.loaded)
        made = [out for out in job.pending if out.spec not in rendered.loaded.refused]
        record_results(report, job, rendered.loaded.stamp, made, rendered.results)
        report.finished += 1


def record_failure(report: Report, job: Job, error: ImageLoadError) -> None:
    report.failed.append(Failure(job.source, str(error)))
    report.failed_images.add(job.source)
    report.finished += 1


FilterJob = tuple[Any, tuple[Output, ...]]  # (the loaded picture, the outputs one pool job makes from it)
SMALL_PICTURE = 1_000_000  # pixels (all frames): below this, one job makes all of an image's outputs


class FilterAndSave(AsyncParallelBatchNode):
    """Pool jobs that apply filters to the shared decoded picture and write the files atomically: one job per
    output, or for a small picture one job for all its outputs (there, per-job costs outweigh the work)."""

    def __init__(self, options: OutputOptions, executor: Executor) -> None:
        super().__init__(executor=executor, errors="collect")  # the pool's size bounds the work in flight
        self.options = options

    async def prep_async(self, shared: Any) -> list[FilterJob]:
        job: Job = self.params["job"]
        loaded: Loaded = shared["loaded"]
        outputs = tuple(out for out in job.pending if out.spec not in loaded.refused)
        picture = loaded.picture
        if isinstance(picture, Picture) and picture.size[0] * picture.size[1] * loaded.frames < SMALL_PICTURE:
            return [(picture, outputs)] if outputs else []
        return [(picture, (out,)) for out in outputs]

    def exec(self, item: FilterJob) -> list[Saved | Exception]:
        picture, outputs = item
        return filter_and_save_all(picture, [(out.spec, out.path) for out in outputs], self.options)

    async def post_async(
        self, shared: Any, items: list[FilterJob], results: list[list[Saved | Exception] | Exception]
    ) -> None:
        job: Job = self.params["job"]
        loaded: Loaded = shared["loaded"]
        outputs = [out for _, outs in items for out in outs]
        saved: list[Saved | Exception] = []
        for (_, outs), result in zip(items, results, strict=True):
            saved.extend([result] * len(outs) if isinstance(result, Exception) else result)
        record_results(shared["report"], job, loaded.stamp, outputs, saved)
        shared["report"].finished += 1


def record_results(
    report: Report,
    job: Job,
    stamp: tuple[int, int, int] | None,
    outputs: list[Output],
    results: list[Saved | Exception],
) -> None:
    """Each output written (with its manifest record and thumbnail) or failed (one line naming it)."""
    source = job.resolved or str(job.source.resolve())
    for out, saved in zip(outputs, results, strict=True):
        if isinstance(saved, Exception):
            report.failed.append(Failure(out.path, f"{out.path}: {type(saved).__name__}: {saved}"))
            continue
        report.written.append(out.path)
        report.processed.add(job.source)
        if saved.thumbnail is not None:
            report.thumbnails[out.path] = saved.thumbnail
        if stamp is not None:
            report.records[out.path] = manifest.Record(source, stamp, out.settings, saved.stamp)


class ContactSheet(AsyncNode):
    """Pages of one PNG grid (contact_sheet.png, contact_sheet-2.png, ...) of every loaded image and its
    outputs, drawn from the thumbnails made during the run (fresh outputs: read back small)."""

    def __init__(self, path: Path, executor: Executor) -> None:
        super().__init__()
        self.path, self.executor = path, executor

    async def prep_async(self, shared: Any) -> tuple[list[Job], Report]:
        report: Report = shared["report"]
        jobs: list[Job] = shared["jobs"]
        return [job for job in jobs if job.source not in report.failed_images], report

    async def exec_async(self, prep_res: tuple[list[Job], Report]) -> list[Path]:
        jobs, report = prep_res
        if not jobs:
            return []
        missing = [p for job in jobs for p in _shown(job) if p not in report.thumbnails]
        made = await asyncio.gather(*(run_on(self.executor, _thumbnail_from_file, p) for p in missing))
        thumbs = report.thumbnails | {p: t for p, t in zip(missing, made, strict=True) if t is not None}
        columns = ["original", *(out.spec.label for out in jobs[0].outputs)]
        pages = []
        for number, start in enumerate(range(0, len(jobs), contact_sheet.ROWS_PER_PAGE), 1):
            page_jobs = jobs[start : start + contact_sheet.ROWS_PER_PAGE]
            rows = [(job.name, [thumbs.get(p) for p in _shown(job)]) for job in page_jobs]
            path = contact_sheet.page_path(self.path, number)
            await run_on(self.executor, _draw_page, rows, columns, path)
            pages.append(path)
        return pages

    async def post_async(self, shared: Any, prep_res: Any, pages: list[Path]) -> None:
        shared["contact_sheet"] = pages[0] if pages else None
        shared["contact_sheet_pages"] = pages


def _shown(job: Job) -> tuple[Path, ...]:
    """The files in an image's contact-sheet row: the original, then each output."""
    return (job.source, *(out.path for out in job.outputs))


def _thumbnail_from_file(path: Path) -> bytes | None:
    """A contact-sheet thumbnail of a file this run didn't decode (a fresh output), decoded small; None if it can't."""
    side = contact_sheet.CELL
    try:
        return thumbnail(load_picture(path, min_size=(side, side), all_frames=False), side)
    except ImageLoadError:
        return None


def _draw_page(rows: list[tuple[str, list[bytes | None]]], columns: list[str], path: Path) -> None:
    decoded = [(name, [Image.open(io.BytesIO(t)) if t is not None else None for t in thumbs]) for name, thumbs in rows]
    layout = contact_sheet.Layout(rows=len(rows), cols=len(columns))
    save_image(contact_sheet.render(layout, columns, decoded), path, fsync=False)


class SaveRecords(AsyncNode):
    """Make the run's outputs durable with one file-system sync, then record them in the manifest."""

    def __init__(self, out_dir: Path) -> None:
        super().__init__()
        self.out_dir = out_dir

    async def prep_async(self, shared: Any) -> tuple[Report, list[Path]]:
        report: Report = shared["report"]
        return report, shared.get("contact_sheet_pages", [])

    async def exec_async(self, prep_res: tuple[Report, list[Path]]) -> None:
        report, pages = prep_res
        await asyncio.to_thread(record_outputs, self.out_dir, report, pages)


def record_outputs(out_dir: Path, report: Report, extra: list[Path] | None = None) -> None:
    """Sync the file system holding `out_dir` once, then merge the report's records into its manifest.

    Also what an interrupted run calls on its way out, once its pools have finished the jobs in hand (whose
    batches are recorded here: see LoadImage), so finished outputs aren't redone next time.
    """
    for jobs, future in report.unrecorded:
        if future.done() and not future.cancelled() and future.exception() is None:
            record_batch(report, jobs, future.result())
    report.unrecorded.clear()
    if not report.records and not extra:
        return
    sync_filesystem(out_dir)
    manifest.update(out_dir, {path.name: record for path, record in report.records.items()},
                    [path.name for path in extra or []])  # fmt: skip
