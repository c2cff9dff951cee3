"""The translation pipeline's nodes: load documents, plan the work against the cache, translate the chunks.

The translate node batches over unique (chunk, language) work items, so a long document in many languages takes
about as long as its slowest chunk. Each item is validated, retried once with a stricter prompt, cached the
moment it succeeds, and each language file is written atomically as soon as its last chunk is in. A chunk that
still fails marks its job failed (no file is written for it); errors that no retry can fix (rejected key, unknown
model, no quota or credit left, a server that refuses every connection) stop the whole batch. An input that
cannot be read is reported and left out; the others are translated.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from apps.translate.cache import TranslationCache, cache_key
from apps.translate.chunking import Segment, estimate_tokens, split_markdown
from apps.translate.jobs import Document, Failure, InputError, Job, Progress, TranslateSettings, WorkItem, output_path
from apps.translate.outputs import OutputRecord
from apps.translate.prompts import PROMPT_VERSION, build_prompt
from apps.translate.validate import VALIDATOR_VERSION, check_translation, strip_definitions, unwrap
from pocketflow import AsyncBatchNode, AsyncNode, AsyncParallelBatchNode, Node
from utils.config import settings as llm_settings
from utils.files import read_text, remove_stale_temp_files, write_bytes_atomic
from utils.llm import (
    LLMAuthError,
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMModelNotFoundError,
    LLMQuotaError,
    LLMResponseError,
    LLMTruncatedError,
    complete_async,
    endpoint,
)

log = logging.getLogger(__name__)

# Errors that every other request would hit too: they stop the run instead of failing one chunk at a time.
# An LLMConnectionError joins them only when no attempt even connected (see is_fatal).
FATAL_ERRORS = (LLMAuthError, LLMModelNotFoundError, LLMConfigError, LLMQuotaError)


def is_fatal(exc: LLMError) -> bool:
    """Whether `exc` dooms every other request too; a timeout or a lost connection fails its chunk only."""
    return isinstance(exc, FATAL_ERRORS) or (isinstance(exc, LLMConnectionError) and exc.refused)

_MAX_OUTPUT_TOKENS = 16384


def max_output_tokens(body: str) -> int:
    """Room for a translation that grows (accents, longer words, non-Latin scripts) without inviting runaways."""
    return min(_MAX_OUTPUT_TOKENS, 3 * estimate_tokens(body) + 256)


def _passes(segment: Segment, translation: str, *, language_code: str) -> bool:
    """Whether a cached translation of `segment` passes the current validator."""
    problems = check_translation(
        segment.body, translation, language_code=language_code, single_line=segment.style != "markdown",
        definitions=segment.definitions,
    )  # fmt: skip
    return not problems


class LoadDocuments(AsyncParallelBatchNode):
    """Read and chunk every input file (concurrently): `shared["documents"]`, and `shared["unreadable"]` as
    InputErrors for the files that could not be read (not UTF-8, gone, unreadable), which are left out."""

    async def prep_async(self, shared: dict[str, Any]) -> list[tuple[Path, TranslateSettings]]:
        run: TranslateSettings = shared["settings"]
        return [(path, run) for path in run.files]

    async def exec_async(self, prep_res: tuple[Path, TranslateSettings]) -> Document | InputError:
        path, run = prep_res
        try:
            text = await read_text(path)
        except UnicodeDecodeError as exc:
            return InputError(
                f"{path} is not UTF-8 text (at byte offset {exc.start}): convert it to UTF-8, e.g. with iconv"
            )
        except OSError as exc:
            return InputError(f"cannot read {path}: {exc.strerror or exc}")
        segments = split_markdown(text, max_tokens=run.chunk_tokens, front_matter_keys=run.front_matter_keys)
        return Document(path, tuple(segments))

    async def post_async(
        self, shared: dict[str, Any], prep_res: Any, exec_res: list[Document | InputError]
    ) -> None:
        shared["documents"] = [doc for doc in exec_res if isinstance(doc, Document)]
        shared["unreadable"] = [doc for doc in exec_res if isinstance(doc, InputError)]


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
        server = endpoint(llm)
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
                        endpoint=server, prompt_version=PROMPT_VERSION, style=seg.style,
                    )  # fmt: skip
                    cached = None if run.force or cache is None else cache.get_checked(
                        key, VALIDATOR_VERSION, partial(_passes, seg, language_code=language.code)
                    )
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
    outputs: OutputRecord = field(default_factory=OutputRecord)

    async def finish(self, job: Job) -> None:
        """Write the job's file if every chunk succeeded; either way its status becomes final."""
        job.seconds = time.monotonic() - self.started
        if job.failures:
            job.status = "failed"
            job.error = f"{len(job.failures)} chunk(s) failed"
        else:
            data = job.text().encode("utf-8")
            try:
                await write_bytes_atomic(job.path, data)
                job.status = "done"
            except OSError as exc:
                job.status, job.error = "failed", f"cannot write {job.path}: {exc.strerror or exc}"
            else:
                try:
                    await self.outputs.add(job.path, data)
                except OSError as exc:  # the translation is written; only a later rerun in place would refuse it
                    log.warning("could not record %s as this app's output: %s", job.path, exc.strerror or exc)
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
            for stale in remove_stale_temp_files(job.path):  # left by a run that was killed mid-write
                log.info("removed %s, left behind by an earlier run", stale)
            if job.complete:
                await run.finish(job)
        return [(run, item) for item in shared["work"]]

    async def exec_async(self, prep_res: tuple[_Run, WorkItem]) -> None:
        run, item = prep_res
        outcome = await self._translate(run.settings, item)
        if outcome.text is not None and run.cache is not None:  # a failing chunk is never cached
            run.cache.put(item.key, outcome.text, VALIDATOR_VERSION)
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
        job, index = item.targets[0]
        definitions = job.document.segments[index].definitions
        for _attempt in range(2):
            system, user = build_prompt(
                item.body, item.language.name, single_line=item.single_line, problems=problems, definitions=definitions
            )
            try:
                result = await complete_async(
                    user, system=system, provider=run.provider, model=run.model, max_tokens=max_tokens
                )
            except LLMTruncatedError as exc:
                tokens += exc.input_tokens + exc.output_tokens  # paid for all the same
                problems = ["the answer was cut off before the end (truncated)"]
                max_tokens = min(2 * max_tokens, _MAX_OUTPUT_TOKENS)
                continue
            except LLMError as exc:
                if is_fatal(exc):
                    raise
                if isinstance(exc, LLMResponseError):
                    tokens += exc.input_tokens + exc.output_tokens
                return _Outcome(None, tokens, [str(exc)])
            tokens += result.input_tokens + result.output_tokens
            text = unwrap(result.text, item.body).strip()
            if definitions:
                text = strip_definitions(text, definitions)
            problems = check_translation(
                item.body, text, language_code=item.language.code, single_line=item.single_line,
                definitions=definitions,
            )  # fmt: skip
            if not problems:
                return _Outcome(text, tokens, [])
            log.debug("chunk rejected (%s): %s", item.language.name, "; ".join(problems))
        return _Outcome(None, tokens, problems)


class TranslateChunks(_TranslateChunks, AsyncParallelBatchNode):
    """All work items concurrently (bounded by max_concurrency and utils.llm's shared limits)."""

    async def prep_async(self, shared: dict[str, Any]) -> list[tuple[_Run, WorkItem]]:
        # Longest first: a run lasts at least as long as its slowest request, so that one must not wait behind
        # the start-up of all the others (or behind a full in-flight cap or rate limit). Stable, so equal
        # chunks keep the languages' order.
        items = await super().prep_async(shared)
        return sorted(items, key=lambda pair: estimate_tokens(pair[1].body), reverse=True)


class TranslateChunksSequential(_TranslateChunks, AsyncBatchNode):
    """The same work one item after another, for comparison."""
