"""Per-item overhead of pocketflow's parallel batches vs a hand-written worker pool, asyncio.gather and upstream 0.0.3.

Run: python -m benchmarks.overhead [--quick]. Writes overhead.{json,md,png} to --out.
Upstream is installed on first use into benchmarks/.upstream/ and imported as `pocketflow_upstream`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pocketflow
from benchmarks.report import Bars, Table, Verdict, console_text, parse_args, write_report

HERE = Path(__file__).resolve().parent
UPSTREAM_DIR = HERE / ".upstream"


def load_upstream() -> ModuleType:
    """PocketFlow 0.0.3 from PyPI, installed beside the benchmarks and loaded under another name."""
    init = UPSTREAM_DIR / "pocketflow" / "__init__.py"
    if not init.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(UPSTREAM_DIR),
             "pocketflow==0.0.3"],
            check=True,
        )
    spec = importlib.util.spec_from_file_location("pocketflow_upstream", init)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batch_node(lib: ModuleType, items: list[int], yields: bool, **options: Any) -> Any:
    """An AsyncParallelBatchNode of `lib` whose exec returns its item (after one `await sleep(0)` if yields)."""

    class Trivial(lib.AsyncParallelBatchNode):  # type: ignore[name-defined, misc]
        async def prep_async(self, shared: Any) -> list[int]:
            return items

        async def exec_async(self, item: int) -> int:
            if yields:
                await asyncio.sleep(0)
            return item

        async def post_async(self, shared: Any, prep_res: Any, exec_res: list[int]) -> None:
            shared["count"] = len(exec_res)

    return Trivial(**options)


def batch_flow(lib: ModuleType, runs: list[dict[str, int]], **options: Any) -> Any:
    """An AsyncParallelBatchFlow of `lib` running a two-node sub-flow once per params dict."""

    class Read(lib.AsyncNode):  # type: ignore[name-defined, misc]
        async def prep_async(self, shared: Any) -> int:
            return int(self.params["i"])

    class Write(lib.AsyncNode):  # type: ignore[name-defined, misc]
        async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
            shared["out"][self.params["i"]] = True

    class Fan(lib.AsyncParallelBatchFlow):  # type: ignore[name-defined, misc]
        async def prep_async(self, shared: Any) -> list[dict[str, int]]:
            return runs

    read = Read()
    read >> Write()
    return Fan(start=lib.AsyncFlow(start=read), **options)


K = 100  # the bound of the bounded variants and the hand-written pool's worker count


async def hand_pool(items: list[int], work: Callable[[int], Coroutine[Any, Any, int]], workers: int) -> list[int]:
    """The fair baseline for a bounded batch: K tasks pulling from one iterator, results in input order."""
    results = [0] * len(items)
    pairs = enumerate(items)

    async def worker() -> None:
        for index, item in pairs:
            results[index] = await work(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(workers, len(items))):
            group.create_task(worker())
    return results


async def echo(item: int) -> int:
    return item


async def echo_yield(item: int) -> int:
    await asyncio.sleep(0)
    return item


def measure(variants: dict[str, Callable[[], Coroutine[Any, Any, Any]]], repeats: int) -> dict[str, dict[str, float]]:
    """Best wall time of each variant over `repeats` rounds, the variants interleaved (each round in a rotated
    order, so drift on a noisy machine hits them alike); then one run each under tracemalloc for the peak."""
    best = dict.fromkeys(variants, float("inf"))
    names = list(variants)
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            gc.collect()
            start = time.perf_counter()
            asyncio.run(variants[name]())
            best[name] = min(best[name], time.perf_counter() - start)
    result = {}
    for name, make_run in variants.items():
        gc.collect()
        tracemalloc.start()
        asyncio.run(make_run())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        result[name] = {"seconds": best[name], "peak_bytes": float(peak)}
    return result


def node_scenario(up: ModuleType, n: int, yields: bool, repeats: int) -> dict[str, dict[str, float]]:
    items = list(range(n))
    coro = echo_yield if yields else echo

    async def gather() -> None:
        await asyncio.gather(*(coro(i) for i in items))

    def run(lib: ModuleType, **options: Any) -> Callable[[], Coroutine[Any, Any, Any]]:
        return lambda: batch_node(lib, items, yields, **options).run_async({})

    variants = {
        "raw gather": gather,
        f"hand-written pool of {K}": lambda: hand_pool(items, coro, K),
        "ours unbounded": run(pocketflow),
        f"ours max_concurrency={K}": run(pocketflow, max_concurrency=K),
        f"ours limiter=Limiter({K})": lambda: batch_node(pocketflow, items, yields,
                                                          limiter=pocketflow.Limiter(K)).run_async({}),
        "upstream 0.0.3": run(up),
    }  # fmt: skip
    return measure(variants, repeats)


def flow_scenario(up: ModuleType, n: int, repeats: int) -> dict[str, dict[str, float]]:
    runs = [{"i": i} for i in range(n)]

    def run(lib: ModuleType, **options: Any) -> Callable[[], Coroutine[Any, Any, Any]]:
        return lambda: batch_flow(lib, runs, **options).run_async({"out": {}})

    variants = {
        "ours unbounded": run(pocketflow),
        f"ours max_concurrency={K}": run(pocketflow, max_concurrency=K),
        "upstream 0.0.3": run(up),
    }
    return measure(variants, repeats)


def generator_scenario(up: ModuleType, n: int, repeats: int) -> dict[str, dict[str, float]]:
    """prep returns a generator of 10 KB blobs (a file read in chunks, say); each item awaits once."""

    def run(lib: ModuleType, **options: Any) -> Callable[[], Coroutine[Any, Any, Any]]:
        class Blobs(lib.AsyncParallelBatchNode):  # type: ignore[name-defined, misc]
            async def prep_async(self, shared: Any) -> Any:
                return (bytes(10_000) for _ in range(n))

            async def exec_async(self, blob: bytes) -> int:
                await asyncio.sleep(0)
                return len(blob)

        return lambda: Blobs(**options).run_async({})

    return measure({"ours max_concurrency=10": run(pocketflow, max_concurrency=10), "upstream 0.0.3": run(up)}, repeats)


def verdicts(scenarios: dict[str, dict[str, Any]]) -> list[Verdict]:
    node = scenarios["trivial items"]["variants"]
    flow = scenarios["sub-flow runs"]["variants"]
    ours, bounded, gather, upstream = (node[k] for k in ("ours unbounded", f"ours max_concurrency={K}", "raw gather",
                                                           "upstream 0.0.3"))
    awaiting = scenarios["items that yield once"]["variants"]
    pool, bounded_awaiting = awaiting[f"hand-written pool of {K}"], awaiting[f"ours max_concurrency={K}"]
    limited = awaiting[f"ours limiter=Limiter({K})"]
    speedup = upstream["seconds"] / bounded["seconds"]
    memory = upstream["peak_bytes"] / bounded["peak_bytes"]
    vs_pool = bounded_awaiting["seconds"] / pool["seconds"]
    vs_bound = limited["seconds"] / bounded_awaiting["seconds"]
    blobs = scenarios["10 KB items from a generator"]["variants"]
    lazy = blobs["upstream 0.0.3"]["peak_bytes"] / blobs["ours max_concurrency=10"]["peak_bytes"]
    return [
        Verdict("10 KB items from a generator: max_concurrency=10 peak memory at most 1/10 of upstream's", lazy >= 10,
                f"{lazy:.0f}x less memory"),
        Verdict(f"items that yield: max_concurrency={K} within 1.2x a hand-written pool of {K} workers",
                vs_pool <= 1.2, f"{vs_pool:.2f}x the pool's time"),
        Verdict(f"items that yield: Limiter({K}) within 1.3x max_concurrency={K}", vs_bound <= 1.3,
                f"{vs_bound:.2f}x max_concurrency's time"),
        Verdict("unbounded no slower than raw gather", ours["seconds"] <= gather["seconds"],
                f"{ours['seconds'] / gather['seconds']:.2f}x gather's time"),
        Verdict("unbounded no slower than upstream", ours["seconds"] <= upstream["seconds"],
                f"{ours['seconds'] / upstream['seconds']:.2f}x upstream's time"),
        Verdict(f"max_concurrency={K} at least 4x faster than upstream", speedup >= 4, f"{speedup:.1f}x faster"),
        Verdict(f"max_concurrency={K} peak memory at most 1/10 of upstream's", memory >= 10,
                f"{memory:.1f}x less memory"),
        Verdict("sub-flow runs no slower than upstream",
                flow["ours unbounded"]["seconds"] <= flow["upstream 0.0.3"]["seconds"],
                f"{flow['ours unbounded']['seconds'] / flow['upstream 0.0.3']['seconds']:.2f}x upstream's time"),
    ]  # fmt: skip


def tables(scenarios: dict[str, dict[str, Any]]) -> list[Table]:
    """One table per scenario, every variant compared with upstream."""
    headers = ["variant", "µs/item", "time vs upstream", "speedup vs upstream", "peak MiB", "memory vs upstream"]
    result = []
    for scenario, data in scenarios.items():
        n, variants = data["items"], data["variants"]
        up = variants["upstream 0.0.3"]
        rows = [
            [name, v["seconds"] / n * 1e6, v["seconds"] / up["seconds"], f"{up['seconds'] / v['seconds']:.1f}x",
             v["peak_bytes"] / 2**20, f"{v['peak_bytes'] / up['peak_bytes']:.3f}"]
            for name, v in variants.items()
        ]  # fmt: skip
        result.append(Table(f"{scenario} (n={n:,})", headers, rows))
    return result


def charts(scenarios: dict[str, dict[str, Any]]) -> list[Bars]:
    """Time per item in every scenario, then peak memory; the trivial-items panels show their targets."""
    times, memories = [], []
    for scenario, data in scenarios.items():
        n, variants = data["items"], data["variants"]
        micros = {name: v["seconds"] / n * 1e6 for name, v in variants.items()}
        mib = {name: v["peak_bytes"] / 2**20 for name, v in variants.items()}
        targeted = scenario == "trivial items"
        times.append(Bars(f"µs per item, {scenario}", list(micros), list(micros.values()), "µs (lower is better)",
                          reference=micros["upstream 0.0.3"] / 4 if targeted else None,
                          reference_label="target: upstream / 4" if targeted else ""))
        memories.append(Bars(f"peak memory, {scenario}", list(mib), list(mib.values()), "traced MiB (lower is better)",
                             reference=mib["upstream 0.0.3"] / 10 if targeted else None,
                             reference_label="target: upstream / 10" if targeted else ""))
    return times + memories  # fmt: skip


def notes(items: int, runs: int, repeats: int, quick: bool) -> list[str]:
    return [
        f"trivial items: one AsyncParallelBatchNode over {items:,} items whose exec returns its item; raw gather is "
        f"asyncio.gather over one coroutine per item doing the same; the hand-written pool is {K} tasks pulling "
        "from one shared iterator into an ordered result list (what a careful user writes instead of a bounded "
        f"batch); the Limiter variant bounds the batch with limiter=Limiter({K}) instead of max_concurrency. "
        "Items that yield once: the same with one `await asyncio.sleep(0)` per item, as every real item awaits "
        "something; the pool and Limiter targets are checked here. With trivial items that never suspend, the "
        "pool's worker is a bare for-loop, so the ratios there measure only bookkeeping (shown in the table).",
        f"sub-flow runs: an AsyncParallelBatchFlow running a two-node AsyncFlow once per params dict ({runs:,} runs).",
        "10 KB items from a generator: prep returns a generator of 10 KB blobs (as a chunked file "
        "reader does); ours reads it lazily, upstream's gather lists every item first.",
        "upstream 0.0.3: PocketFlow 0.0.3 from PyPI, installed into benchmarks/.upstream/ and run on the same "
        "scenarios.",
        f"Time: best of {repeats} round(s), each running every variant once (interleaved, in a rotated order), "
        "one asyncio.run each, after gc.collect(). Peak memory: a separate run under tracemalloc.",
    ] + ([f"--quick: {items:,} items, {runs:,} sub-flow runs, best of 2 rounds (full: 100,000 items, 20,000 runs, "
          "best of 5)."] if quick else [])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer items and repeats (under a minute)")
    args = parse_args(parser, argv)
    items, runs, repeats = (20_000, 5_000, 2) if args.quick else (100_000, 20_000, 5)
    blobs = items // 10 if not args.quick else items // 5  # upstream holds them all: 100 MB in a full run
    upstream = load_upstream()
    print(f"overhead benchmark ({'quick' if args.quick else 'full'}): {items:,} items, {runs:,} sub-flow runs, "
          f"best of {repeats}", flush=True)  # fmt: skip
    started = time.perf_counter()
    scenarios: dict[str, dict[str, Any]] = {
        "trivial items": {"items": items, "variants": node_scenario(upstream, items, False, repeats)},
        "sub-flow runs": {"items": runs, "variants": flow_scenario(upstream, runs, repeats)},
        "items that yield once": {"items": items, "variants": node_scenario(upstream, items, True, repeats)},
        "10 KB items from a generator": {"items": blobs, "variants": generator_scenario(upstream, blobs, repeats)},
    }
    seconds_total = round(time.perf_counter() - started, 1)
    shown, checks = tables(scenarios), verdicts(scenarios)
    data = {"quick": args.quick, "repeats": repeats, "seconds_total": seconds_total, "scenarios": scenarios}
    command = "python -m benchmarks.overhead" + (" --quick" if args.quick else "")
    paths = write_report(
        "overhead", title="Parallel batch overhead: pocketflow vs raw asyncio.gather and upstream PocketFlow 0.0.3",
        command=command, tables=shown, charts=charts(scenarios), data=data,
        notes=notes(items, runs, repeats, args.quick), verdicts=checks,
    )
    print()
    print(console_text(shown, checks))
    print(f"\nwrote {paths.json}, {paths.markdown}, {paths.chart} in {seconds_total}s")


if __name__ == "__main__":
    main()
