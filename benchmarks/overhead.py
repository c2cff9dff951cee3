"""Per-item overhead of pocketflow's parallel batches vs a raw asyncio.gather and upstream PocketFlow 0.0.3.

Run: python -m benchmarks.overhead [--quick]. Writes benchmarks/results/overhead.{json,md,png}.
Upstream is installed on first use into benchmarks/.upstream/ and imported as `pocketflow_upstream`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pocketflow

HERE = Path(__file__).resolve().parent
UPSTREAM_DIR = HERE / ".upstream"
RESULTS = HERE / "results"


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


async def echo(item: int) -> int:
    return item


async def echo_yield(item: int) -> int:
    await asyncio.sleep(0)
    return item


def measure(make_run: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, float]:
    """Best wall time over `repeats` runs, then one more run under tracemalloc for the peak allocation."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        asyncio.run(make_run())  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    asyncio.run(make_run())  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": best, "peak_bytes": float(peak)}


def node_scenario(up: ModuleType, n: int, yields: bool, repeats: int) -> dict[str, dict[str, float]]:
    items = list(range(n))
    coro = echo_yield if yields else echo

    async def gather() -> None:
        await asyncio.gather(*(coro(i) for i in items))

    def run(lib: ModuleType, **options: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: batch_node(lib, items, yields, **options).run_async({})

    variants = {
        "raw gather": gather,
        "ours unbounded": run(pocketflow),
        "ours max_concurrency=100": run(pocketflow, max_concurrency=100),
        "upstream 0.0.3": run(up),
    }
    return {name: measure(make, repeats) for name, make in variants.items()}


def flow_scenario(up: ModuleType, n: int, repeats: int) -> dict[str, dict[str, float]]:
    runs = [{"i": i} for i in range(n)]

    def run(lib: ModuleType, **options: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: batch_flow(lib, runs, **options).run_async({"out": {}})

    variants = {
        "ours unbounded": run(pocketflow),
        "ours max_concurrency=100": run(pocketflow, max_concurrency=100),
        "upstream 0.0.3": run(up),
    }
    return {name: measure(make, repeats) for name, make in variants.items()}


def check_targets(scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    node = scenarios["trivial items"]["variants"]
    flow = scenarios["sub-flow runs"]["variants"]
    ours, bounded, gather, upstream = (node[k] for k in ("ours unbounded", "ours max_concurrency=100", "raw gather",
                                                           "upstream 0.0.3"))
    speedup = upstream["seconds"] / bounded["seconds"]
    memory = upstream["peak_bytes"] / bounded["peak_bytes"]
    checks = [
        ("unbounded no slower than raw gather", ours["seconds"] <= gather["seconds"],
         f"{ours['seconds'] / gather['seconds']:.2f}x gather's time"),
        ("unbounded no slower than upstream", ours["seconds"] <= upstream["seconds"],
         f"{ours['seconds'] / upstream['seconds']:.2f}x upstream's time"),
        ("max_concurrency=100 at least 4x faster than upstream", speedup >= 4, f"{speedup:.1f}x faster"),
        ("max_concurrency=100 peak memory at most 1/10 of upstream's", memory >= 10, f"{memory:.1f}x less memory"),
        ("sub-flow runs no slower than upstream", flow["ours unbounded"]["seconds"] <= flow["upstream 0.0.3"]["seconds"],
         f"{flow['ours unbounded']['seconds'] / flow['upstream 0.0.3']['seconds']:.2f}x upstream's time"),
    ]
    return [{"target": name, "met": bool(ok), "measured": detail} for name, ok, detail in checks]


def table(scenarios: dict[str, dict[str, Any]]) -> str:
    rows = ["| scenario | variant | µs/item | time vs upstream | speedup vs upstream | peak MiB | memory vs upstream |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for scenario, data in scenarios.items():
        n, variants = data["items"], data["variants"]
        up = variants["upstream 0.0.3"]
        for name, v in variants.items():
            rows.append(
                f"| {scenario} (n={n:,}) | {name} | {v['seconds'] / n * 1e6:.2f} | {v['seconds'] / up['seconds']:.2f} "
                f"| {up['seconds'] / v['seconds']:.1f}x | {v['peak_bytes'] / 2**20:.1f} "
                f"| {v['peak_bytes'] / up['peak_bytes']:.3f} |"
            )
    return "\n".join(rows)


def chart(scenarios: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    names = list(scenarios)
    variants = ["raw gather", "ours unbounded", "ours max_concurrency=100", "upstream 0.0.3"]
    width = 0.2
    for offset, variant in enumerate(variants):
        xs = [i + (offset - 1.5) * width for i in range(len(names))]
        data = [scenarios[s]["variants"].get(variant) for s in names]
        micros = [d["seconds"] / scenarios[s]["items"] * 1e6 if d else 0 for s, d in zip(names, data)]
        mib = [d["peak_bytes"] / 2**20 if d else 0 for d in data]
        axes[0].bar(xs, micros, width, label=variant)
        axes[1].bar(xs, mib, width, label=variant)
    for ax, title in zip(axes, ["µs per item (lower is better)", "peak traced memory, MiB (lower is better)"]):
        ax.set_xticks(range(len(names)), names)
        ax.set_title(title)
    axes[0].legend()
    fig.suptitle("pocketflow parallel batch overhead vs raw gather and upstream PocketFlow 0.0.3")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer items and repeats (under a minute)")
    args = parser.parse_args()
    items, runs, repeats = (20_000, 5_000, 1) if args.quick else (100_000, 20_000, 3)
    upstream = load_upstream()
    started = time.perf_counter()
    scenarios: dict[str, dict[str, Any]] = {
        "trivial items": {"items": items, "variants": node_scenario(upstream, items, False, repeats)},
        "sub-flow runs": {"items": runs, "variants": flow_scenario(upstream, runs, repeats)},
        "items that yield once (informative)": {"items": items,
                                                "variants": node_scenario(upstream, items, True, repeats)},
    }
    targets = check_targets(scenarios)
    md = table(scenarios)
    print(md)
    print()
    for t in targets:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['measured']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "quick": args.quick, "repeats": repeats,
            "seconds_total": round(time.perf_counter() - started, 1)}
    (RESULTS / "overhead.json").write_text(json.dumps({"meta": meta, "scenarios": scenarios, "targets": targets},
                                                      indent=2) + "\n")
    notes = "\n".join(f"- {'met' if t['met'] else '**MISSED**'}: {t['target']} ({t['measured']})" for t in targets)
    (RESULTS / "overhead.md").write_text(
        f"# Parallel batch overhead\n\n`python -m benchmarks.overhead{' --quick' if args.quick else ''}` "
        f"(Python {meta['python']}, {meta['cpus']} CPUs, best of {repeats}; peak memory from a separate run under "
        f"tracemalloc)\n\n{md}\n\n## Targets\n\n{notes}\n"
    )
    chart(scenarios, RESULTS / "overhead.png")
    print(f"\nwrote {RESULTS}/overhead.{{json,md,png}} in {meta['seconds_total']}s")


if __name__ == "__main__":
    main()
