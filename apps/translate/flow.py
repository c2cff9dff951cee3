"""The translation flow (load >> plan >> translate) and a one-call helper for user code.

    flow = create_translate_flow(max_concurrency=32)
    shared = {"settings": TranslateSettings(files=(Path("README.md"),), languages=(find_language("fr"),)),
              "cache": TranslationCache(Path(".cache/translate"))}   # optional
    await flow.run_async(shared)
    for job in shared["jobs"]: print(job.path, job.status)
"""
from __future__ import annotations

from pathlib import Path

from apps.translate.cache import TranslationCache
from apps.translate.jobs import Job, Progress, TranslateSettings
from apps.translate.nodes import LoadDocuments, PlanWork, TranslateChunks, TranslateChunksSequential
from pocketflow import AsyncFlow, Limiter


def create_translate_flow(
    *, sequential: bool = False, max_concurrency: int | None = None, limiter: Limiter | None = None
) -> AsyncFlow:
    """A reusable flow. `sequential` swaps the parallel batch for an AsyncBatchNode doing the same work;
    `max_concurrency`/`limiter` bound the chunks in flight (utils.llm's own limits apply on top)."""
    translate = (
        TranslateChunksSequential()
        if sequential
        else TranslateChunks(max_concurrency=max_concurrency, limiter=limiter)
    )
    load = LoadDocuments()
    load >> PlanWork() >> translate
    return AsyncFlow(start=load)


async def translate(
    settings: TranslateSettings,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    sequential: bool = False,
    max_concurrency: int | None = None,
) -> list[Job]:
    """Run the flow once (with a cache in `cache_dir` if given) and return the jobs with their final status."""
    shared: dict[str, object] = {"settings": settings, "progress": progress}
    flow = create_translate_flow(sequential=sequential, max_concurrency=max_concurrency)
    if cache_dir is None:
        await flow.run_async(shared)
    else:
        with TranslationCache(cache_dir) as cache:
            shared["cache"] = cache
            await flow.run_async(shared)
    jobs: list[Job] = shared["jobs"]  # type: ignore[assignment]
    return jobs
