"""`--batch`: every chunk not cached yet goes to the provider's batch API (half the price, answers within 24 h).

One OpenAI Batch (a JSONL file uploaded with purpose "batch", /v1/chat/completions, 24 h window) or one Anthropic
Message Batch per run, through the official SDKs. Each batch id and the custom_id of each of its requests (the
chunk's cache key) are recorded in the translation cache's SQLite file before anything else happens, so Ctrl-C,
a crash or another machine with the same cache polls the same batch instead of paying twice. An OpenAI batch is
recorded before it is even created, under a submission mark that its metadata carries too: a run stopped while
the batch was being created finds it by that mark (or, if it never reached OpenAI, submits again). Anthropic's
batches carry no metadata, so there the id is recorded the moment it arrives. Results are
validated like interactive answers and cached; the normal run that follows writes the files and translates
interactively whatever failed, expired or did not pass.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.translate.cache import CacheError, TranslationCache
from apps.translate.jobs import TranslateSettings, WorkItem
from apps.translate.nodes import LoadDocuments, PlanWork, max_output_tokens
from apps.translate.prompts import build_prompt
from apps.translate.validate import VALIDATOR_VERSION, check_translation, strip_definitions, unwrap
from pocketflow import AsyncFlow
from utils.config import Settings, env
from utils.config import settings as llm_settings
from utils.llm import LLMConfigError, LLMError, Usage, redact
from utils.llm_providers import AnthropicProvider, OpenAIProvider, Provider

log = logging.getLogger(__name__)

POLL_FIRST, POLL_MAX = 2.0, 60.0  # seconds between polls with --wait: doubling from the first to the most
SUBMITTING = "submitting:"  # a batch id that is this and a mark: the batch was being created (OpenAI)
CLOCK_SLACK = 600.0  # seconds: how far OpenAI's clock may be behind this one when looking for a marked batch
BATCH_DISCOUNT = 0.5  # both providers bill batch tokens at half the interactive price

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
                                    created REAL NOT NULL, collected REAL);
CREATE TABLE IF NOT EXISTS batch_requests (batch_id TEXT NOT NULL, custom_id TEXT NOT NULL,
                                           PRIMARY KEY (batch_id, custom_id));
"""


@dataclass
class BatchOutcome:
    """What the batch phase did; `pending` names the batches still running (empty: all collected)."""

    submitted: list[tuple[str, int]]  # (batch id, requests)
    collected: list[str]
    pending: list[str]
    accepted: int  # answers that passed validation and are now cached
    rejected: int  # failed, expired, cancelled or invalid answers, left for the interactive run
    usage: Usage  # tokens the collected batches were billed for (at the batch price)


class Ledger:
    """The batches of one cache, in its SQLite file: ids and custom_ids are written before anything else."""

    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(path, timeout=10.0)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise CacheError(f"cannot record batches in the translation cache {path}: {exc}") from exc

    def record(self, batch_id: str, provider: str, model: str, custom_ids: Iterable[str]) -> None:
        with self._db:
            self._db.execute("INSERT INTO batches (id, provider, model, created) VALUES (?, ?, ?, ?)",
                             (batch_id, provider, model, time.time()))  # fmt: skip
            self._db.executemany("INSERT INTO batch_requests (batch_id, custom_id) VALUES (?, ?)",
                                 [(batch_id, custom_id) for custom_id in custom_ids])  # fmt: skip

    def rename(self, batch_id: str, new_id: str) -> None:
        with self._db:
            self._db.execute("UPDATE batches SET id = ? WHERE id = ?", (new_id, batch_id))
            self._db.execute("UPDATE batch_requests SET batch_id = ? WHERE batch_id = ?", (new_id, batch_id))

    def forget(self, batch_id: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM batch_requests WHERE batch_id = ?", (batch_id,))
            self._db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))

    def submitting(self, provider: str, model: str) -> dict[str, float]:
        """The marks of batches a run was creating (see SUBMITTING), with when."""
        rows = self._db.execute("SELECT id, created FROM batches WHERE provider = ? AND model = ? AND id LIKE ?",
                                (provider, model, SUBMITTING + "%"))  # fmt: skip
        return {str(row[0]): float(row[1]) for row in rows}

    def open_batches(self, provider: str, model: str) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM batches WHERE provider = ? AND model = ? AND collected IS NULL ORDER BY created",
            (provider, model),
        )
        return [str(row[0]) for row in rows]

    def custom_ids(self, batch_ids: Sequence[str]) -> set[str]:
        marks = ",".join("?" * len(batch_ids))
        rows = self._db.execute(f"SELECT custom_id FROM batch_requests WHERE batch_id IN ({marks})", list(batch_ids))
        return {str(row[0]) for row in rows}

    def collected(self, batch_id: str) -> None:
        with self._db:
            self._db.execute("UPDATE batches SET collected = ? WHERE id = ?", (time.time(), batch_id))

    def close(self) -> None:
        self._db.close()


async def run_batches(
    settings: TranslateSettings, cache: TranslationCache, *, wait: bool
) -> BatchOutcome:
    """Collect finished batches of this cache, submit the chunks no batch covers, and with `wait` poll (doubling
    the interval from POLL_FIRST to POLL_MAX) until every batch is collected."""
    config = llm_settings(settings.provider, settings.model)
    if config.provider not in ("openai", "anthropic"):
        raise LLMConfigError(f"--batch needs the openai or anthropic provider, not {config.provider}")
    provider: Provider = OpenAIProvider() if config.provider == "openai" else AnthropicProvider()
    work = await _work(settings, cache)
    ledger = Ledger(cache.path)
    client = provider.make_client(config)
    outcome = BatchOutcome([], [], [], 0, 0, Usage())
    try:
        return await _submit_and_collect(provider, client, config, work, ledger, cache, outcome, wait=wait)
    except (provider.status_error, provider.connection_error) as exc:
        raise LLMError(redact(f"{config.provider} batch API: {type(exc).__name__}: {exc}", config)) from None
    finally:
        ledger.close()
        await client.close()


async def _submit_and_collect(
    provider: Provider, client: Any, config: Settings, work: Mapping[str, WorkItem], ledger: Ledger,
    cache: TranslationCache, outcome: BatchOutcome, *, wait: bool,
) -> BatchOutcome:
    """Submit what no open batch covers (recorded at once), then collect what has ended, polling with `wait`."""
    await _settle_submissions(client, config, ledger)
    open_ids = ledger.open_batches(config.provider, config.model)
    covered = ledger.custom_ids(open_ids) if open_ids else set()
    fresh = [item for key, item in work.items() if key not in covered]
    if fresh:
        keys = [item.key for item in fresh]
        if isinstance(provider, OpenAIProvider):
            mark = SUBMITTING + secrets.token_hex(8)
            ledger.record(mark, config.provider, config.model, keys)  # before the request: see _settle_submissions
            batch_id = await _submit(provider, client, config, fresh, mark)
            ledger.rename(mark, batch_id)
        else:
            batch_id = await _submit(provider, client, config, fresh, None)
            ledger.record(batch_id, config.provider, config.model, keys)
        outcome.submitted.append((batch_id, len(fresh)))
        log.info("submitted batch %s with %d requests", batch_id, len(fresh))
    interval = POLL_FIRST
    while True:
        outcome.pending = []
        for batch_id in ledger.open_batches(config.provider, config.model):
            results = await _results_if_ended(provider, client, batch_id)
            if results is None:
                outcome.pending.append(batch_id)
                continue
            for custom_id, answer in results:
                _accept(custom_id, answer, work, cache, outcome)
            ledger.collected(batch_id)
            outcome.collected.append(batch_id)
        if not outcome.pending or not wait:
            return outcome
        log.info("waiting %.0f s for batch(es) %s", interval, ", ".join(outcome.pending))
        await asyncio.sleep(interval)
        interval = min(2 * interval, POLL_MAX)


async def _settle_submissions(client: Any, config: Settings, ledger: Ledger) -> None:
    """Batches a stopped run was creating: adopted if OpenAI has one with their mark, else forgotten (so their
    requests go in a new batch)."""
    marks = ledger.submitting(config.provider, config.model)
    if not marks:
        return
    since = min(marks.values()) - CLOCK_SLACK
    found = {}
    async for batch in client.batches.list(limit=100):  # newest first
        mark = (batch.metadata or {}).get("submission")
        if mark in marks:
            found[mark] = str(batch.id)
        if len(found) == len(marks) or batch.created_at < since:
            break
    for mark in marks:
        if mark in found:
            ledger.rename(mark, found[mark])
            log.info("batch %s, created by a run that stopped before recording it, is this cache's", found[mark])
        else:
            ledger.forget(mark)
            log.info("a stopped run's batch never reached %s; its requests will be submitted again", config.provider)


async def _work(settings: TranslateSettings, cache: TranslationCache) -> dict[str, WorkItem]:
    """The chunks still to translate, by cache key (the app's own load and plan nodes)."""
    load = LoadDocuments()
    load >> PlanWork()
    shared: dict[str, Any] = {"settings": settings, "cache": cache}
    await AsyncFlow(start=load).run_async(shared)
    return {item.key: item for item in shared["work"]}


def _prompt(item: WorkItem) -> tuple[str, str, int]:
    job, index = item.targets[0]
    definitions = job.document.segments[index].definitions
    system, user = build_prompt(item.body, item.language.name, single_line=item.single_line, definitions=definitions)
    return system, user, max_output_tokens(item.body)


async def _submit(
    provider: Provider, client: Any, config: Settings, items: Sequence[WorkItem], mark: str | None
) -> str:
    if isinstance(provider, OpenAIProvider):
        field = provider._max_tokens_field(client)  # the one rule for which name the endpoint takes
        lines = []
        for item in items:
            system, user, max_tokens = _prompt(item)
            messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
            body = {"model": config.model, "messages": messages, field: max_tokens}
            lines.append(json.dumps({"custom_id": item.key, "method": "POST", "url": "/v1/chat/completions",
                                     "body": body}, ensure_ascii=False))  # fmt: skip
        jsonl = "\n".join(lines).encode("utf-8")
        uploaded = await client.files.create(file=("translate.jsonl", jsonl), purpose="batch")
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
            metadata={"app": "apps.translate", "submission": mark or ""},
        )  # fmt: skip
        return str(batch.id)
    requests = []
    for item in items:
        system, user, max_tokens = _prompt(item)
        params = {"model": config.model, "max_tokens": max_tokens, "system": system,
                  "messages": [{"role": "user", "content": user}]}  # fmt: skip
        requests.append({"custom_id": item.key, "params": params})
    batch = await client.messages.batches.create(requests=requests)
    return str(batch.id)


@dataclass
class _Answer:
    text: str | None  # None: no usable answer (failed, expired, cancelled, cut off)
    input_tokens: int
    output_tokens: int
    problem: str


async def _results_if_ended(provider: Provider, client: Any, batch_id: str) -> list[tuple[str, _Answer]] | None:
    """The batch's answers by custom_id once it has ended; None while it runs."""
    if isinstance(provider, OpenAIProvider):
        batch = await client.batches.retrieve(batch_id)
        if batch.status not in ("completed", "expired", "cancelled", "failed"):
            return None
        answers = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await client.files.content(file_id)
                answers += [_openai_answer(json.loads(line)) for line in content.text.splitlines() if line.strip()]
        return answers
    batch = await client.messages.batches.retrieve(batch_id)
    if batch.processing_status != "ended":
        return None
    return [(result.custom_id, _anthropic_answer(result.result)) async for result in
            await client.messages.batches.results(batch_id)]  # fmt: skip


def _openai_answer(line: Mapping[str, Any]) -> tuple[str, _Answer]:
    custom_id = str(line.get("custom_id"))
    response = line.get("response") or {}
    body = response.get("body") or {}
    if line.get("error") or response.get("status_code") != 200:
        error = line.get("error") or body.get("error") or {}
        return custom_id, _Answer(None, 0, 0, str(error.get("message") or error.get("code") or "failed"))
    usage = body.get("usage") or {}
    choice = (body.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content")
    truncated = choice.get("finish_reason") == "length"
    return custom_id, _Answer(
        None if truncated or not isinstance(text, str) else text,
        int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
        "the answer was cut off (truncated)" if truncated else "no text in the answer",
    )  # fmt: skip


def _anthropic_answer(result: Any) -> _Answer:
    if result.type != "succeeded":
        detail = getattr(getattr(getattr(result, "error", None), "error", None), "message", "")
        return _Answer(None, 0, 0, f"{result.type}" + (f": {detail}" if detail else ""))
    message = result.message
    text = "".join(block.text for block in message.content if block.type == "text")
    truncated = message.stop_reason == "max_tokens"
    return _Answer(None if truncated else text, message.usage.input_tokens, message.usage.output_tokens,
                   "the answer was cut off (truncated)")  # fmt: skip


def _accept(
    custom_id: str, answer: _Answer, work: Mapping[str, WorkItem], cache: TranslationCache, outcome: BatchOutcome
) -> None:
    """Cache an answer that passes the same checks as an interactive one; anything else is left to be retried."""
    outcome.usage.requests += 1
    outcome.usage.input_tokens += answer.input_tokens
    outcome.usage.output_tokens += answer.output_tokens
    item = work.get(custom_id)
    if item is None:  # cached meanwhile, or the document changed
        return
    problems = [answer.problem] if answer.text is None else []
    if answer.text is not None:
        job, index = item.targets[0]
        definitions = job.document.segments[index].definitions
        text = unwrap(answer.text, item.body).strip()
        if definitions:
            text = strip_definitions(text, definitions)
        problems = check_translation(item.body, text, language_code=item.language.code,
                                     single_line=item.single_line, definitions=definitions)  # fmt: skip
        if not problems:
            cache.put(item.key, text, VALIDATOR_VERSION)
            outcome.accepted += 1
            return
    outcome.rejected += 1
    log.info("batch answer for a %s chunk not used (%s): it is translated interactively", item.language.name,
             "; ".join(problems))  # fmt: skip


def batch_text(outcome: BatchOutcome) -> str:
    """What the run says about its batches (and, with some still running, how to collect them)."""
    lines = [f"submitted batch {batch_id} ({count} requests)" for batch_id, count in outcome.submitted]
    if outcome.collected:
        usage = outcome.usage
        lines.append(f"collected {len(outcome.collected)} batch(es): {outcome.accepted} chunk(s) cached, "
                     f"{outcome.rejected} left to translate interactively; {usage.input_tokens} input + "
                     f"{usage.output_tokens} output tokens at the batch price")  # fmt: skip
    if outcome.pending:
        lines.append(f"batch(es) still running: {', '.join(outcome.pending)}; run the same command again to "
                     "collect (add --wait to wait for them)")  # fmt: skip
    return "\n".join(lines)


def prices() -> tuple[float, float] | None:
    """LLM_PRICE_INPUT and LLM_PRICE_OUTPUT (per million tokens), or None when either is unset."""
    raw = env("LLM_PRICE_INPUT"), env("LLM_PRICE_OUTPUT")
    if raw[0] is None or raw[1] is None:
        return None
    try:
        return float(raw[0]), float(raw[1])
    except ValueError:
        message = f"LLM_PRICE_INPUT and LLM_PRICE_OUTPUT must be numbers, got {raw[0]!r} and {raw[1]!r}"
        raise LLMConfigError(message) from None


def cost_line(interactive: Mapping[tuple[str, str], Usage], batch: Usage | None) -> str | None:
    """The run's cost at LLM_PRICE_INPUT/OUTPUT per million tokens, batch tokens at the batch discount, and what
    the discount saved; None when no prices are set."""
    price = prices()
    if price is None:
        return None

    def cost(usage: Usage) -> float:
        return (usage.input_tokens * price[0] + usage.output_tokens * price[1]) / 1e6

    live = sum(cost(usage) for usage in interactive.values())
    batch_full = cost(batch) if batch is not None else 0.0
    total = live + batch_full * BATCH_DISCOUNT
    text = f"cost: {total:.4f} at {price[0]:g} input / {price[1]:g} output per million tokens"
    if batch is not None and batch.requests:
        text += (f" (batch tokens {batch.input_tokens} input + {batch.output_tokens} output at half price: "
                 f"saved {batch_full - batch_full * BATCH_DISCOUNT:.4f})")  # fmt: skip
    return text
