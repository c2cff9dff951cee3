"""The translation pipeline's nodes: load documents, plan the work against the cache, translate the chunks.

The translate node batches over unique (chunk, language) work items, so a long document in many languages takes
about as long as its slowest chunk. Each item is validated, retried once with a stricter prompt, cached the
moment it succeeds, and each language file is written atomically as soon as its last chunk is in. A chunk that
still fails marks its job failed (no file is written for it); errors that no retry can fix (rejected key, unknown
model, unreachable server) stop the whole batch.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketflow import AsyncBatchNode, AsyncNode, AsyncParallelBatchNode, Node
from apps.translate.cache import TranslationCache, cache_key
from apps.translate.chunking import estimate_tokens, split_markdown
from apps.translate.jobs import Document, Failure, InputError, Job, Progress, TranslateSettings, WorkItem, output_path
from apps.translate.prompts import PROMPT_VERSION, build_prompt
from apps.translate.validate import check_translation, unwrap
from utils.config import settings as llm_settings
from utils.files import read_text, write_text_atomic
from utils.llm import (
    LLMAuthError,
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMModelNotFoundError,
    LLMTruncatedError,
    complete_async,
)

log = logging.getLogger(__name__)

# Errors that every other request would hit too: they stop the run instead of failing one chunk at a time.
FATAL_ERRORS = (LLMAuthError, LLMModelNotFoundError, LLMConnectionError, LLMConfigError)

_MAX_OUTPUT_TOKENS = 16384


def max_output_tokens(body: str) -> int:
    """Room for a translation that grows (accents, longer words, non-Latin scripts) without inviting runaways."""
    return min(_MAX_OUTPUT_TOKENS, 3 * estimate_tokens(body) + 256)


class LoadDocuments(AsyncParallelBatchNode):
    """Read and chunk every input file (concurrently); `shared["documents"]`."""

    async def prep_async(self, shared: dict[str, Any]) -> list[tuple[Path, TranslateSettings]]:
        run: TranslateSettings = shared["settings"]
        return [(path, run) for path in run.files]

    async def exec_async(self, prep_res: tuple[Path, TranslateSettings]) -> Document:
        path, run = prep_res
        try:
            text = await read_text(path)
        except UnicodeDecodeError:
            raise InputError(f"{path} is not UTF-8 text") from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
        segments = split_markdown(text, max_tokens=run.chunk_tokens, front_matter_keys=run.front_matter_keys)
        return Document(path, tuple(segments))

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: list[Document]) -> None:
        shared["documents"] = exec_res


_PlanInput = tuple[list[Document], TranslateSettings, TranslationCache | None]


class PlanWork(Node):
    """One job per (document, language); cached chunks filled in, the rest grouped into unique work items.

    Sets `shared["jobs"]` and `shared["work"]` (the requests still to make).
    """

    def prep(self, shared: dict[str, Any]) -> _PlanInput:
        return shared["documents"], shared["settings"], shared.get("cache")

    def exec(self, prep_res: _PlanInput) -> tuple[list[Job], list[WorkItem]]:
        documents, run, cache = prep_res
        llm = llm_settings(run.provider, run.model)
        jobs: list[Job] = []
        work: dict[str, WorkItem] = {}
        for document in documents:
            for language in run.languages:
                job = Job(document, language, output_path(run.out_dir, document.path, language))
                jobs.append(job)
                for index, seg in enumerate(document.segments):
                    if not seg.translate:
                        continue
                    key = cache_key(
                        text=seg.body, language=language.code, provider=llm.provider, model=llm.model,
                        prompt_version=PROMPT_VERSION, style=seg.style,
                    )  # fmt: skip
                    cached = None if run.force or cache is None else cache.get(key)
                    if cached is not None:
                        job.translations[index] = cached
                        job.cached += 1
                        continue
                    job.pending.add(index)
                    item = work.setdefault(key, WorkItem(key, seg.body, language, seg.style != "markdown"))
                    item.targets.append((job, index))
        return jobs, list(work.values())

    def post(self, shared: dict[str, Any], prep_res: Any, exec_res: tuple[list[Job], list[WorkItem]]) -> None:
        shared["jobs"], shared["work"] = exec_res


@dataclass
class _Run:
    """State shared by the items of one translate batch (all on the event loop thread, so no locks)."""

    settings: TranslateSettings
    cache: TranslationCache | None
    progress: Progress | None
    started: float

    async def finish(self, job: Job) -> None:
        """Write the job's file if every chunk succeeded; either way its status becomes final."""
        job.seconds = time.monotonic() - self.started
        if job.failures:
            job.status = "failed"
            job.error = f"{len(job.failures)} chunk(s) failed"
        else:
            try:
                await write_text_atomic(job.path, job.text())
                job.status = "done"
            except OSError as exc:
                job.status, job.error = "failed", f"cannot write {job.path}: {exc.strerror or exc}"
        if self.progress is not None:
            self.progress.job_finished(job)


@dataclass
class _Outcome:
    text: str | None
    tokens: int
    problems: list[str]


class _TranslateChunks(AsyncNode):
    """prep/exec/post shared by the parallel and the sequential translate node."""

    async def prep_async(self, shared: dict[str, Any]) -> list[tuple[_Run, WorkItem]]:
        run = _Run(shared["settings"], shared.get("cache"), shared.get("progress"), time.monotonic())
        jobs: list[Job] = shared["jobs"]
        if run.settings.dry_run:
            return []
        if run.progress is not None:
            run.progress.start(sum(job.total for job in jobs), sum(job.cached for job in jobs))
        for job in jobs:
            job.status = "running"
            if job.complete:
                await run.finish(job)
        return [(run, item) for item in shared["work"]]

    async def exec_async(self, prep_res: tuple[_Run, WorkItem]) -> None:
        run, item = prep_res
        outcome = await self._translate(run.settings, item)
        if outcome.text is not None and run.cache is not None:
            run.cache.put(item.key, outcome.text)
        for position, (job, index) in enumerate(item.targets):
            if outcome.text is None:
                job.failures.append(Failure(index, "; ".join(outcome.problems)))
            else:
                job.translations[index] = outcome.text
            if position == 0:
                job.tokens += outcome.tokens
            job.pending.discard(index)
            if job.complete:
                await run.finish(job)
        if run.progress is not None:
            run.progress.advance(len(item.targets), outcome.tokens)

    async def _translate(self, run: TranslateSettings, item: WorkItem) -> _Outcome:
        """Up to two attempts; the second names what was wrong with the first. Fatal errors propagate."""
        problems: list[str] = []
        tokens = 0
        max_tokens = max_output_tokens(item.body)
        for _attempt in range(2):
            system, user = build_prompt(item.body, item.language.name, single_line=item.single_line, problems=problems)
            try:
                result = await complete_async(
                    user, system=system, provider=run.provider, model=run.model, max_tokens=max_tokens
                )
            except FATAL_ERRORS:
                raise
            except LLMTruncatedError:
                problems = ["the answer was cut off before the end (truncated)"]
                max_tokens = min(2 * max_tokens, _MAX_OUTPUT_TOKENS)
                continue
            except LLMError as exc:
                return _Outcome(None, tokens, [str(exc)])
            tokens += result.input_tokens + result.output_tokens
            text = unwrap(result.text, item.body).strip()
            problems = check_translation(
                item.body, text, language_code=item.language.code, single_line=item.single_line
            )
            if not problems:
                return _Outcome(text, tokens, [])
            log.debug("chunk rejected (%s): %s", item.language.name, "; ".join(problems))
        return _Outcome(None, tokens, problems)


class TranslateChunks(_TranslateChunks, AsyncParallelBatchNode):
    """All work items concurrently (bounded by max_concurrency and utils.llm's shared limits)."""


class TranslateChunksSequential(_TranslateChunks, AsyncBatchNode):
    """The same work one item after another, for comparison."""
