"""Translation: whole document per language (sequential, then parallel) against this app's chunks x languages,
then scale runs against a server enforcing requests and tokens per minute, with the limits learned from its
response headers (zero configuration) and configured exactly.

Run: python -m benchmarks.translate [--quick] [-v] [--tps N] [--doc-tokens N] [--scale-requests N] [--scale-rpm N]
[--scale-tpm N].
Writes translate.{json,md,png} to --out.

Everything goes over real HTTP: the openai SDK (through utils.llm, OPENAI_BASE_URL) talks to the loopback server
(utils.llm_server), whose latency model is time-to-first-token + output tokens / tokens-per-second, with jitter.
Modes, each translating one document into 8 languages:
  (a) AsyncBatchNode over languages, the whole document per call (PocketFlow's sequential batch example shape);
  (b) AsyncParallelBatchNode over languages, the whole document per call (PocketFlow's parallel example shape);
  (c) this app's flow (apps.translate): (chunk, language) items in parallel, no cache.
Efficiency = ideal / actual, where ideal is the slowest single request of the mode (each request's latency is
measured on the client, as utils.llm reports it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import logging
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import apps.translate.nodes as app_nodes
from apps.translate.chunking import estimate_tokens
from apps.translate.flow import create_translate_flow
from apps.translate.jobs import Job, TranslateSettings
from apps.translate.languages import DEFAULT_LANGUAGES, Language
from apps.translate.prompts import build_prompt
from benchmarks.report import Bars, Table, Verdict, console_text, parse_args, write_report
from pocketflow import AsyncBatchNode, AsyncNode, AsyncParallelBatchNode
from utils import llm, ratelimit
from utils.config import DEFAULT_MAX_CONCURRENCY
from utils.files import write_text_atomic
from utils.llm_server import LLMServer

HERE = Path(__file__).resolve().parent
LONG_DOCUMENT = HERE / "data" / "tidewater_operations.md"
README = HERE.parent / "README.md"
README_MIN_TOKENS = 1000  # a README shorter than this is a stub: the short document is then an excerpt
STUB_README_TOKENS = 1500

TTFT = 0.5
JITTER = 0.2
SCALE_TPS = 60  # a realistic model's output speed for the scale run
SCALE_WINDOW = 1.0  # the server enforces its limits over a sliding window this long (burst = limit/60 * it)
MODEL = "loopback-translate"

TARGET_C_OVER_B = 4.0
TARGET_EFFICIENCY = 0.95
TARGET_FLOOR_RATIO = 1.05
TARGET_429_SHARE = 0.01


@dataclass(frozen=True)
class Plan:
    """Sizes of one run; --quick shrinks the documents and the scale run and speeds the simulated model up."""

    tps: float
    short_tokens: int | None  # None: the whole README (an excerpt of the long document if README is a stub)
    long_tokens: int
    scale_requests: int
    scale_rpm: int
    scale_tpm: int


FULL = Plan(tps=600, short_tokens=None, long_tokens=9000, scale_requests=2000, scale_rpm=600, scale_tpm=150_000)
QUICK = Plan(tps=2000, short_tokens=700, long_tokens=1500, scale_requests=150, scale_rpm=1200, scale_tpm=300_000)


@dataclass
class ModeResult:
    mode: str
    requests: int
    wall: float
    slowest: float
    ok: bool
    peak_in_flight: int = 0  # as the server saw it

    @property
    def efficiency(self) -> float:
        return self.slowest / self.wall


@dataclass
class ScaleResult:
    mode: str
    requests: int
    succeeded: int
    lost: int
    responses_429: int
    retries: int
    tokens: int  # input + output, as the server counted them
    wall: float
    request_floor: float
    token_floor: float
    latency: float  # one request's mean latency in the server's model: the last one admitted still takes it
    peak_in_flight: int
    limits: str  # the limits in force at the end, as utils.ratelimit describes them

    @property
    def floor(self) -> float:
        return max(self.request_floor, self.token_floor) + self.latency

    @property
    def floor_ratio(self) -> float:
        return self.wall / self.floor

    @property
    def share_429(self) -> float:
        return self.responses_429 / self.requests


# ------------------------------------------------------------------------------------------------ documents


def excerpt(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` ending just before a heading that fits in `max_tokens` (else the first section)."""
    if estimate_tokens(text) <= max_tokens:
        return text
    cuts, offset, in_fence = [], 0, False
    for line in text.splitlines(keepends=True):
        if line.startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#") and offset:
            cuts.append(offset)
        offset += len(line)
    fitting = [cut for cut in cuts if estimate_tokens(text[:cut]) <= max_tokens] or cuts[:1] or [len(text)]
    return text[: fitting[-1]]


def documents(plan: Plan, folder: Path) -> list[tuple[str, Path]]:
    """(label, path) of the short document (README.md, or an excerpt if it is missing or a stub) and the long one."""
    long_text = LONG_DOCUMENT.read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8") if README.is_file() else ""
    if estimate_tokens(readme) >= README_MIN_TOKENS:
        short_text = readme if plan.short_tokens is None else excerpt(readme, plan.short_tokens)
        short_source = "README.md"
    else:
        short_text = excerpt(long_text, plan.short_tokens or STUB_README_TOKENS)
        short_source = "excerpt of the long document (README.md missing or a stub)"
    chosen = []
    for label, source, text in (
        ("short", short_source, short_text),
        ("long", LONG_DOCUMENT.name, excerpt(long_text, plan.long_tokens)),
    ):
        path = folder / f"{label}.md"
        path.write_text(text, encoding="utf-8")
        chosen.append((f"{label}: {source}, {estimate_tokens(text):,} tokens", path))
    return chosen


# ------------------------------------------------------------------------------------------------ modes (a), (b)


class _WholeDocument(AsyncNode):
    """One request per language with the whole document; writes each translation to shared["out"]."""

    async def prep_async(self, shared: dict[str, Any]) -> list[tuple[str, Language]]:
        return [(shared["text"], language) for language in shared["languages"]]

    async def exec_async(self, item: tuple[str, Language]) -> tuple[Language, llm.LLMResult]:
        text, language = item
        system, user = build_prompt(text, language.name)
        return language, await llm.complete_async(user, system=system)

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: list[tuple[Language, Any]]) -> None:
        out: Path = shared["out"]
        for language, result in exec_res:
            shared["latencies"].append(result.latency)
            await write_text_atomic(out / f"doc.{language.code}.md", result.text)


class SequentialWholeDocument(_WholeDocument, AsyncBatchNode):
    """(a): languages one after another."""


class ParallelWholeDocument(_WholeDocument, AsyncParallelBatchNode):
    """(b): all languages at once."""


async def _whole_document(node: AsyncNode, path: Path, out: Path, latencies: list[float]) -> bool:
    shared = {"text": path.read_text(encoding="utf-8"), "languages": DEFAULT_LANGUAGES, "out": out,
              "latencies": latencies}  # fmt: skip
    await node.run_async(shared)
    return len(list(out.iterdir())) == len(DEFAULT_LANGUAGES)


# ------------------------------------------------------------------------------------------------ mode (c)


@contextlib.contextmanager
def _recording_latencies(latencies: list[float]) -> Iterator[None]:
    """Record the latency of every request the app makes (it calls complete_async from apps.translate.nodes)."""

    async def recorded(*args: Any, **kwargs: Any) -> llm.LLMResult:
        result = await llm.complete_async(*args, **kwargs)
        latencies.append(result.latency)
        return result

    with mock.patch.object(app_nodes, "complete_async", recorded):
        yield


async def _app(path: Path, out: Path, latencies: list[float]) -> bool:
    settings = TranslateSettings(files=(path,), languages=DEFAULT_LANGUAGES, out_dir=out, provider="openai")
    shared: dict[str, Any] = {"settings": settings}  # no "cache": every chunk is requested
    with _recording_latencies(latencies):
        await create_translate_flow().run_async(shared)
    jobs: list[Job] = shared["jobs"]
    return all(job.status == "done" for job in jobs)


MODES: dict[str, Callable[[Path, Path, list[float]], Awaitable[bool]]] = {
    "(a) AsyncBatchNode, whole doc": lambda p, o, lat: _whole_document(SequentialWholeDocument(), p, o, lat),
    "(b) AsyncParallelBatchNode, whole doc": lambda p, o, lat: _whole_document(ParallelWholeDocument(), p, o, lat),
    "(c) app: chunks x languages": _app,
}


async def run_mode(name: str, path: Path, out: Path) -> ModeResult:
    out.mkdir(parents=True)
    latencies: list[float] = []
    started = time.perf_counter()
    ok = await MODES[name](path, out, latencies)
    wall = time.perf_counter() - started
    if not latencies:
        raise RuntimeError(f"{name}: no request was recorded (did apps.translate.nodes stop using complete_async?)")
    return ModeResult(name, len(latencies), wall, max(latencies), ok)


# ------------------------------------------------------------------------------------------------ scale run


def short_prompts(count: int) -> list[tuple[str, int]]:
    """`count` (prompt, max_tokens) requests, one sentence of the long document each: the app's user prompt and
    max_tokens without its ~200-token system prompt, so that the request limit binds (about 90 tokens each)."""
    text = LONG_DOCUMENT.read_text(encoding="utf-8")
    prose = [line for line in text.splitlines() if line and line[0].isalpha()]
    sentences = [s.strip() + "." for line in prose for s in line.split(". ") if 40 < len(s) < 120]
    names = [language.name for language in DEFAULT_LANGUAGES]
    prompts = []
    for i in range(count):
        sentence = sentences[i % len(sentences)]
        _, user = build_prompt(sentence, names[i % len(names)])
        prompts.append((user, app_nodes.max_output_tokens(sentence)))
    return prompts


class ScaleBatch(AsyncParallelBatchNode):
    """Every request at once; utils.llm paces them and retries 429s. Failures are collected, not raised."""

    async def prep_async(self, shared: dict[str, Any]) -> list[tuple[str, int]]:
        return list(shared["prompts"])

    async def exec_async(self, prompt: tuple[str, int]) -> str:
        user, max_tokens = prompt
        return await llm.call_llm_async(user, model=shared_model.get(), max_tokens=max_tokens)

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: list[Any]) -> None:
        shared["results"] = exec_res


shared_model: contextvars.ContextVar[str] = contextvars.ContextVar("scale_model", default=MODEL)


def burst_allowance(per_minute: int, window: float) -> int:
    """Units the server admits per sliding `window` at `per_minute` (at least one)."""
    return max(1, int(per_minute * window / 60))


def rate_limit_floor(requests: int, rpm: int, window: float) -> float:
    """Earliest the server can have admitted `requests` requests: it admits a burst allowance per sliding window,
    so request k (0-based) waits for window number k // burst, and the last one starts at that window's opening."""
    return (requests - 1) // burst_allowance(rpm, window) * window


def token_floor(tokens: int, tpm: int, window: float) -> float:
    """Earliest the server can have admitted `tokens` tokens: all but the first window's worth at `tpm`."""
    return max(0, tokens - burst_allowance(tpm, window)) * 60 / tpm


async def scale_run(plan: Plan, *, configured: bool) -> tuple[ScaleResult, dict[str, Any]]:
    """`plan.scale_requests` requests against a server enforcing rpm and tpm; the client is told the limits only
    when `configured` (LLM_RPM / LLM_TPM), else it learns them from the response headers."""
    server = LLMServer(ttft=TTFT, tokens_per_second=SCALE_TPS, jitter=JITTER, seed=7, rpm=plan.scale_rpm,
                       tpm=plan.scale_tpm, window=SCALE_WINDOW)  # fmt: skip
    # A model name of its own gives the run a limiter of its own: nothing learned earlier in the process carries over.
    model = f"{MODEL}-{'configured' if configured else 'learned'}"
    async with server:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        if configured:
            os.environ.update(LLM_RPM=str(plan.scale_rpm), LLM_TPM=str(plan.scale_tpm))
        llm.reset_usage()
        shared: dict[str, Any] = {"prompts": short_prompts(plan.scale_requests)}
        token = shared_model.set(model)
        started = time.perf_counter()
        try:
            await ScaleBatch(errors="collect").run_async(shared)
        finally:
            shared_model.reset(token)
            os.environ.pop("LLM_RPM", None)
            os.environ.pop("LLM_TPM", None)
        wall = time.perf_counter() - started
        await llm.aclose_clients()
    results = shared["results"]
    failures = [r for r in results if isinstance(r, BaseException)]
    retries = sum(u.retries for u in llm.usage_totals().values())
    limiter = next(limiter for key, limiter in ratelimit._limiters.items() if key[1] == model)
    tokens = server.stats.input_tokens + server.stats.output_tokens
    result = ScaleResult(
        mode="limits configured exactly" if configured else "zero configuration",
        requests=plan.scale_requests,
        succeeded=len(results) - len(failures),
        lost=len(failures) + plan.scale_requests - len(results),
        responses_429=server.stats.responses_by_status.get(429, 0),
        retries=retries,
        tokens=tokens,
        wall=wall,
        request_floor=rate_limit_floor(plan.scale_requests, plan.scale_rpm, SCALE_WINDOW),
        token_floor=token_floor(tokens, plan.scale_tpm, SCALE_WINDOW),
        latency=TTFT + server.stats.output_tokens / max(1, server.stats.responses_by_status.get(200, 0)) / SCALE_TPS,
        peak_in_flight=server.stats.peak_in_flight,
        limits=limiter.describe(),
    )
    server_view = {
        "responses_by_status": {str(k): v for k, v in server.stats.responses_by_status.items()},
        "learned": {kind: asdict(announced) for kind, announced in limiter.learned.items()},
        "errors": sorted({f"{type(f).__name__}: {f}" for f in failures})[:5],
    }
    return result, server_view


# ------------------------------------------------------------------------------------------------ the run


@contextlib.asynccontextmanager
async def server_process(plan: Plan) -> AsyncIterator[dict[str, Any]]:
    """The loopback server in a process of its own, as a provider's servers are: its CPU (accepting connections,
    answering) does not run on the client's event loop. Yields {"url"}, then adds its "peak" in flight on exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "utils.llm_server", "--port", "0", "--ttft", str(TTFT), "--tps", str(plan.tps),
        "--jitter", str(JITTER), "--seed", "1", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    first = (await process.stdout.readline()).decode()  # "OpenAI base URL:    http://127.0.0.1:PORT/v1"
    state: dict[str, Any] = {"url": first.split()[-1]}
    try:
        yield state
    finally:
        process.send_signal(signal.SIGINT)
        output = (await process.stdout.read()).decode()
        await process.wait()
        peak = re.search(r"peak (\d+) in flight", output)
        state["peak"] = int(peak.group(1)) if peak else 0


async def document_runs(plan: Plan, folder: Path) -> dict[str, list[ModeResult]]:
    runs: dict[str, list[ModeResult]] = {}
    for label, path in documents(plan, folder):
        results = []
        for n, name in enumerate(MODES):
            print(f"  {label} | {name} ...", flush=True)
            async with server_process(plan) as server:
                os.environ["OPENAI_BASE_URL"] = server["url"]
                result = await run_mode(name, path, folder / f"{path.stem}-{n}")
                await llm.aclose_clients()
            result.peak_in_flight = server["peak"]
            results.append(result)
        runs[label] = results
    return runs


def _mode_table(label: str, results: Sequence[ModeResult]) -> Table:
    first, second = results[0], results[1]
    rows = [
        [r.mode, r.requests, r.peak_in_flight, r.wall, r.slowest, r.efficiency, f"{first.wall / r.wall:.1f}x",
         f"{second.wall / r.wall:.1f}x", "yes" if r.ok else "NO"]
        for r in results
    ]  # fmt: skip
    headers = ["mode", "requests", "peak in flight", "wall s", "slowest request s", "efficiency", "vs (a)", "vs (b)",
               "all written"]  # fmt: skip
    return Table(label, headers, rows)


def _scale_table(results: Sequence[ScaleResult], plan: Plan) -> Table:
    headers = ["mode", "requests", "lost", "429s", "retries", "tokens", "wall s",
               "floor s = max(requests, tokens) + latency", "wall / floor", "peak in flight",
               "limits in force at the end"]  # fmt: skip
    rows = [[s.mode, s.requests, s.lost, f"{s.responses_429} ({s.share_429:.1%})", s.retries, s.tokens, s.wall,
             f"{s.floor:.1f} = max({s.request_floor:.1f}, {s.token_floor:.1f}) + {s.latency:.1f}", s.floor_ratio,
             s.peak_in_flight, s.limits.split(": ", 1)[1]] for s in results]  # fmt: skip
    title = f"scale run: {plan.scale_requests} requests, server enforcing {plan.scale_rpm} rpm, {plan.scale_tpm:,} tpm"
    return Table(title, headers, rows)


def verdicts(long_results: Sequence[ModeResult], scales: Sequence[ScaleResult]) -> list[Verdict]:
    _, b, c = long_results
    checks = [
        Verdict(f"long document: (c) at least {TARGET_C_OVER_B:g}x faster than (b)", b.wall / c.wall >= TARGET_C_OVER_B,
                f"{b.wall / c.wall:.1f}x"),
        Verdict(f"long document: (c) efficiency at least {TARGET_EFFICIENCY}", c.efficiency >= TARGET_EFFICIENCY,
                f"{c.efficiency:.2f}"),
        Verdict("every mode wrote every language", all(r.ok for r in long_results), "checked on the long document"),
    ]  # fmt: skip
    for s in scales:
        checks += [
            Verdict(f"scale run, {s.mode}: no request lost", s.lost == 0, f"{s.lost} lost of {s.requests}"),
            Verdict(f"scale run, {s.mode}: at most {TARGET_429_SHARE:.0%} answered 429",
                    s.share_429 <= TARGET_429_SHARE, f"{s.responses_429} = {s.share_429:.1%}"),
            Verdict(f"scale run, {s.mode}: within {TARGET_FLOOR_RATIO}x of the rate-limit floor",
                    s.floor_ratio <= TARGET_FLOOR_RATIO,
                    f"{s.wall:.1f} s = {s.floor_ratio:.3f}x the {s.floor:.1f} s floor"),
        ]  # fmt: skip
    return checks


def notes(plan: Plan, quick: bool) -> list[str]:
    burst = burst_allowance(plan.scale_rpm, SCALE_WINDOW)
    token_burst = burst_allowance(plan.scale_tpm, SCALE_WINDOW)
    return [
        f"Latency model of the loopback server: {TTFT} s to first token + output tokens / {plan.tps:g} tokens/s per "
        f"request, times a uniform jitter of +-{JITTER:.0%}. A realistic model streams ~60 tokens/s; this run uses "
        f"{plan.tps:g} to keep mode (a) short (the ratios between modes hold; only ttft weighs more).",
        f"Client: openai SDK through utils.llm (OPENAI_BASE_URL = loopback) with the default settings "
        f"(LLM_MAX_CONCURRENCY={DEFAULT_MAX_CONCURRENCY}, no LLM_RPM/LLM_TPM); the app runs with no cache and its "
        "default 600-token chunks.",
        "Document runs: the loopback server runs in a process of its own (python -m utils.llm_server), as a "
        "provider's servers do, so its work does not run on the client's event loop (in-process it cost the app's "
        "long-document run about 0.03 of efficiency); a new one per mode. The scale runs keep it in-process to "
        "read its counters.",
        "Efficiency = slowest single request of the mode (client-side latency from utils.llm) / the mode's wall time.",
        f"Scale run: one-sentence translation requests (the app's user prompt and max_tokens, no system prompt), "
        f"latency {TTFT} s + tokens/60. The server enforces {plan.scale_rpm} requests and {plan.scale_tpm:,} tokens "
        f"(input + output) per minute over a sliding {SCALE_WINDOW:g} s window ({burst} requests, {token_burst:,} "
        "tokens: no minute-long burst) and announces them in OpenAI's x-ratelimit-* headers. Zero configuration: "
        "the client is told nothing and learns the limits from the headers; configured: LLM_RPM and LLM_TPM set to "
        "exactly the server's limits. Each run uses a model name of its own, so nothing learned earlier carries over.",
        "Rate-limit floor = the larger of ((requests - 1) // burst) x window and (tokens - token burst) x 60 / tpm "
        "(the earliest the server can have admitted everything), plus one request's mean latency in the server's "
        "model (the last request admitted still takes that long to answer).",
        "One run of each mode, in order (a), (b), (c), on a noisy 2-core machine.",
    ] + (["--quick: smaller documents, faster simulated model and a smaller scale run; the targets are set for "
          "the full run and are shown here for information only."] if quick else [])  # fmt: skip


async def main_async(plan: Plan, quick: bool) -> None:
    os.environ.update(LLM_PROVIDER="openai", OPENAI_API_KEY="loopback", LLM_MODEL=MODEL, LLM_DOTENV="")
    llm.configure(provider="openai", model=MODEL, timeout=3600)
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        print(f"translate benchmark ({'quick' if quick else 'full'}): {TTFT} s ttft, {plan.tps:g} tokens/s", flush=True)
        runs = await document_runs(plan, Path(tmp))
    scales, server_views = [], []
    for configured in (False, True):
        print(f"  scale run ({'limits configured' if configured else 'zero configuration'}): {plan.scale_requests} "
              f"requests, server at {plan.scale_rpm} rpm and {plan.scale_tpm:,} tpm ...", flush=True)  # fmt: skip
        scale, server_view = await scale_run(plan, configured=configured)
        scales.append(scale)
        server_views.append(server_view)

    labels = list(runs)
    tables = [_mode_table(label, runs[label]) for label in labels] + [_scale_table(scales, plan)]
    checks = verdicts(runs[labels[-1]], scales)
    short_names = ["(a)", "(b)", "(c)"]
    charts = [
        *(Bars(f"wall time, {label.split(',')[0]}", short_names, [r.wall for r in runs[label]], "seconds")
          for label in labels),
        Bars("efficiency, long document", short_names, [r.efficiency for r in runs[labels[-1]]], "ideal / actual",
             reference=TARGET_EFFICIENCY, reference_label=f"target {TARGET_EFFICIENCY}"),
        Bars("scale run", ["floor", "zero config", "configured"], [scales[0].floor, *(s.wall for s in scales)],
             "seconds", reference=TARGET_FLOOR_RATIO * scales[0].floor, reference_label=f"{TARGET_FLOOR_RATIO}x floor"),
    ]  # fmt: skip
    data = {
        "quick": quick,
        "plan": asdict(plan),
        "latency_model": {"ttft": TTFT, "tokens_per_second": plan.tps, "jitter": JITTER},
        "client_max_concurrency": DEFAULT_MAX_CONCURRENCY,
        "documents": {label: [asdict(r) | {"efficiency": r.efficiency} for r in results]
                      for label, results in runs.items()},
        "scale": [asdict(s) | {"floor": s.floor, "floor_ratio": s.floor_ratio, "server": view}
                  for s, view in zip(scales, server_views)],
    }  # fmt: skip
    command = "python -m benchmarks.translate" + (" --quick" if quick else "")
    paths = write_report(
        "translate", title="Translation: whole documents vs chunks x languages", command=command, tables=tables,
        charts=charts, data=data, notes=notes(plan, quick), verdicts=checks,
    )
    print()
    print(console_text(tables, checks))
    print(f"\nwrote {paths.json}, {paths.markdown}, {paths.chart}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.translate", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small documents, fast model, 150-request scale runs")
    parser.add_argument("--tps", type=float, help="simulated output tokens per second per request")
    parser.add_argument("--doc-tokens", type=int, help="cut the long document to about this many tokens")
    parser.add_argument("--scale-requests", type=int, help="requests in each scale run")
    parser.add_argument("--scale-rpm", type=int, help="requests per minute the scale run's server enforces")
    parser.add_argument("--scale-tpm", type=int, help="tokens per minute the scale run's server enforces")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the limits in force and every pause")
    args = parse_args(parser, argv)
    plan = QUICK if args.quick else FULL
    plan = Plan(
        tps=args.tps or plan.tps,
        short_tokens=plan.short_tokens,
        long_tokens=args.doc_tokens or plan.long_tokens,
        scale_requests=args.scale_requests or plan.scale_requests,
        scale_rpm=args.scale_rpm or plan.scale_rpm,
        scale_tpm=args.scale_tpm or plan.scale_tpm,
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("utils.llm").setLevel(logging.ERROR)  # one line per 429 retry would drown the tables
    if args.verbose:
        logging.getLogger("utils.ratelimit").setLevel(logging.INFO)
    asyncio.run(main_async(plan, args.quick))


if __name__ == "__main__":
    main()
