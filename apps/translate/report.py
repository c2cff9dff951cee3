"""What the CLI shows: a progress bar while chunks come in, then a summary table (or, for --dry-run, the plan)."""
from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from tqdm import tqdm

from apps.translate.chunking import estimate_tokens
from apps.translate.jobs import Document, Job, WorkItem
from apps.translate.nodes import max_output_tokens
from apps.translate.prompts import build_prompt
from utils.llm import Usage


class BarProgress:
    """tqdm bar on stderr: chunk translations done of total (cached ones count as done), tokens spent. Drawn only
    when stderr is a terminal: redraws would litter a pipe or a log file."""

    def __init__(self) -> None:
        self._bar: tqdm[Any] | None = None
        self._tokens = 0

    def start(self, total: int, done: int) -> None:
        self._bar = tqdm(total=total, initial=done, unit="chunk", desc="translating", file=sys.stderr, leave=False,
                         disable=None)  # fmt: skip
        self._bar.set_postfix(tokens=0)

    def advance(self, chunks: int, tokens: int) -> None:
        self._tokens += tokens
        if self._bar is not None:
            self._bar.set_postfix(tokens=self._tokens, refresh=False)
            self._bar.update(chunks)

    def job_finished(self, job: Job) -> None:
        """Failures are reported after the run, in the summary; nothing to do mid-run."""

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def summary_table(jobs: Sequence[Job]) -> str:
    """One row per output file: language, chunks (cached), tokens, seconds, file, status."""
    rows = []
    for job in jobs:
        done = len(job.translations)
        chunks = f"{done}/{job.total}" + (f" ({job.cached} cached)" if job.cached else "")
        status = job.status if not job.error else f"{job.status}: {job.error}"
        file = str(job.path) if job.status == "done" else "- (not written)"
        rows.append([job.language.name, chunks, str(job.tokens), f"{job.seconds:.1f}", file, status])
    return _table(["language", "chunks", "tokens", "seconds", "file", "status"], rows)


def usage_line(totals: Mapping[tuple[str, str], Usage]) -> str:
    """What the run cost per provider/model, retries included (the CLI hides utils.llm's own retry log lines)."""
    if not totals:
        return "no requests sent (everything was cached)"
    return "; ".join(
        f"{provider}/{model}: {u.requests} requests, {u.retries} retries, "
        f"{u.input_tokens} input + {u.output_tokens} output tokens"
        for (provider, model), u in totals.items()
    )


def plan_text(documents: Sequence[Document], jobs: Sequence[Job], work: Sequence[WorkItem]) -> str:
    """The --dry-run report: chunks per file, requests to make, estimated tokens; nothing is sent."""
    rows = []
    for document in documents:
        doc_jobs = [job for job in jobs if job.document is document]
        verbatim = len(document.segments) - document.chunk_count
        rows.append([
            str(document.path), str(document.chunk_count), str(verbatim), str(len(doc_jobs)),
            str(sum(job.cached for job in doc_jobs)), str(sum(len(job.pending) for job in doc_jobs)),
        ])  # fmt: skip
    input_tokens = sum(
        estimate_tokens("".join(build_prompt(item.body, item.language.name, single_line=item.single_line)))
        for item in work
    )
    output_tokens = sum(estimate_tokens(item.body) for item in work)
    ceiling = sum(max_output_tokens(item.body) for item in work)
    table = _table(["file", "chunks", "kept verbatim", "languages", "cached", "to translate"], rows)
    return (
        f"{table}\n\n{len(work)} requests, about {input_tokens} input + {output_tokens} output tokens "
        f"(max_tokens ceiling {ceiling}); dry run: nothing was sent"
    )
