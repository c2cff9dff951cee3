"""Image filters: N images x 3 filters (grayscale, blur, sepia) sequentially, with asyncio only, on this app's
thread pool, and on a process pool.

Run: python -m benchmarks.image_filters [--quick] [--images N]. Writes image_filters.{json,md,png} to --out.

Inputs are the app's sample photos scaled up to about 12 megapixels (JPEG, written once to benchmarks/.cache/),
copied to N distinct files. Every mode does the same work with the same code (utils.images load/save, the app's
filters and output plan, JPEG quality 90) and must write byte-identical outputs; only the scheduling differs:
  sequential     a plain loop: load, then each filter applied and saved, one image after another;
  asyncio only   PocketFlow's parallel batch flow example shape (an AsyncParallelBatchFlow running
                 Load -> Filter -> Save async nodes per image), Pillow called directly in async code, no sleeps;
  app pool       apps.image_filters.build_flow with its thread pool of os.cpu_count() workers;
  process pool   a ProcessPoolExecutor of os.cpu_count() workers, sent paths (not pixels), one image per task.
Each mode runs in a fresh process, so its peak RSS (resource.getrusage ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from PIL import Image

from apps.image_filters import FilterSpec, Settings, build_flow, parse_filter_specs
from apps.image_filters.inputs import SAMPLES, find_images
from apps.image_filters.plan import Job, Output, plan_jobs
from benchmarks.report import Bars, Table, Verdict, console_text, parse_args, write_report
from pocketflow import AsyncFlow, AsyncNode, AsyncParallelBatchFlow
from utils.images import load_image, save_image

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
FILTERS = "grayscale,blur,sepia"
QUALITY = 90
MEGAPIXELS = 12.0
FULL_IMAGES, QUICK_IMAGES = 16, 8
FULL_ROUNDS = 2

TARGET_APP_PER_CORE = 0.85
ASYNCIO_NEAR_ONE = 0.15  # "near 1x" means within +-15% of sequential


@dataclass
class ModeResult:
    """One run of one mode."""

    mode: str
    seconds: float
    outputs: int
    peak_rss_mb: float  # this mode's process, plus its workers for the process pool (see notes)
    parent_rss_mb: float
    worker_rss_mb: float  # the largest worker's high-water (process pool only)
    other_load: float  # cores kept busy by other processes meanwhile, on average (the machine is shared)
    identical: bool = True  # outputs byte-identical to the sequential mode's


# ------------------------------------------------------------------------------------------------ inputs


def scaled_samples(megapixels: float, cache: Path) -> list[Path]:
    """The sample photos scaled (Lanczos) to about `megapixels`, as JPEG; made once, then reused from `cache`."""
    folder = cache / f"images-{megapixels:g}mp"
    sources = find_images([SAMPLES])
    targets = [folder / f"{source.stem}.jpg" for source in sources]
    for source, target in zip(sources, targets):
        if not target.exists():
            image = load_image(source)
            scale = math.sqrt(megapixels * 1e6 / (image.width * image.height))
            size = (round(image.width * scale), round(image.height * scale))
            save_image(image.resize(size, Image.Resampling.LANCZOS), target, quality=QUALITY)
    return targets


def prepare_inputs(count: int, folder: Path, megapixels: float = MEGAPIXELS, cache: Path = CACHE) -> list[Path]:
    """`count` distinct input files cycling through the scaled samples (distinct names, so distinct outputs)."""
    samples = scaled_samples(megapixels, cache)
    paths = []
    for i in range(count):
        source = samples[i % len(samples)]
        path = folder / f"{source.stem}-{i:03d}.jpg"
        shutil.copyfile(source, path)
        paths.append(path)
    return paths


def plan(paths: list[Path], out_dir: Path, specs: Sequence[FilterSpec]) -> list[Job]:
    """The app's own output plan (names `<stem>_<filter label><ext>`), so every mode's files compare one to one."""
    return plan_jobs(paths, specs, out_dir, overwrite=True)


# ------------------------------------------------------------------------------------------------ the modes


def process_image(job: Job) -> None:
    """Load once, then apply and save each filter; the unit of work of the sequential and process-pool modes."""
    image = load_image(job.source)
    for out in job.outputs:
        save_image(out.spec(image), out.path, quality=QUALITY)


def run_sequential(paths: list[Path], out_dir: Path, specs: Sequence[FilterSpec]) -> None:
    for job in plan(paths, out_dir, specs):
        process_image(job)


def run_process_pool(paths: list[Path], out_dir: Path, specs: Sequence[FilterSpec]) -> None:
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(process_image, plan(paths, out_dir, specs)))


# The asyncio-only shape: async nodes that call Pillow directly, so each call blocks the event loop.


class LoadNode(AsyncNode):
    async def prep_async(self, shared: Any) -> Path:
        job: Job = self.params["job"]
        return job.source

    async def exec_async(self, path: Path) -> Image.Image:
        return load_image(path)

    async def post_async(self, shared: Any, prep_res: Path, image: Image.Image) -> None:
        shared["image"] = image


class FilterNode(AsyncNode):
    async def prep_async(self, shared: Any) -> tuple[Image.Image, tuple[Output, ...]]:
        job: Job = self.params["job"]
        return shared["image"], job.outputs

    async def exec_async(self, prep_res: tuple[Image.Image, tuple[Output, ...]]) -> list[Image.Image]:
        image, outputs = prep_res
        return [out.spec(image) for out in outputs]

    async def post_async(self, shared: Any, prep_res: Any, filtered: list[Image.Image]) -> None:
        shared["filtered"] = filtered


class SaveNode(AsyncNode):
    async def prep_async(self, shared: Any) -> list[tuple[Image.Image, Path]]:
        job: Job = self.params["job"]
        return [(image, out.path) for image, out in zip(shared["filtered"], job.outputs)]

    async def exec_async(self, pairs: list[tuple[Image.Image, Path]]) -> None:
        for image, path in pairs:
            save_image(image, path, quality=QUALITY)


class AllImages(AsyncParallelBatchFlow):
    """One Load -> Filter -> Save run per image, all started "in parallel" on one event loop."""

    async def prep_async(self, shared: Any) -> list[dict[str, Job]]:
        return [{"job": job} for job in shared["jobs"]]


def run_asyncio_only(paths: list[Path], out_dir: Path, specs: Sequence[FilterSpec]) -> None:
    load = LoadNode()
    load >> FilterNode() >> SaveNode()
    flow = AsyncFlow(start=AllImages(load, isolate=True))
    asyncio.run(flow.run_async({"jobs": plan(paths, out_dir, specs)}))


def run_app(paths: list[Path], out_dir: Path, specs: Sequence[FilterSpec]) -> None:
    settings = Settings(filters=tuple(specs), out_dir=out_dir, quality=QUALITY, overwrite=True)
    shared: dict[str, Any] = {"images": paths}

    async def run() -> None:
        with ThreadPoolExecutor(settings.workers) as pool:
            await build_flow(settings, pool).run_async(shared)

    asyncio.run(run())
    if not shared["report"].ok:
        raise RuntimeError(f"the app reported failures: {shared['report'].failed[:3]}")


MODES: dict[str, Callable[[list[Path], Path, Sequence[FilterSpec]], None]] = {
    "sequential": run_sequential,
    "asyncio only": run_asyncio_only,
    "app pool": run_app,
    "process pool": run_process_pool,
}


# ------------------------------------------------------------------------------------------------ measuring


def _measure(mode: str, paths: list[Path], out_dir: Path, conn: Connection) -> None:
    """Child process entry: run one mode, send back its time and memory high-water marks."""
    specs = parse_filter_specs(FILTERS)
    started = time.perf_counter()
    MODES[mode](paths, out_dir, specs)
    seconds = time.perf_counter() - started
    kib = 1024  # Linux reports ru_maxrss in KiB
    conn.send({
        "seconds": seconds,
        "parent_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib / 2**20,
        "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * kib / 2**20,
    })  # fmt: skip
    conn.close()


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (user, nice, system, irq, softirq, steal) since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _our_cpu_seconds() -> float:
    """CPU seconds of this process and every child it has waited for (the mode processes and their workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(mode: str, paths: list[Path], out_dir: Path) -> ModeResult:
    """Run `mode` in a fresh (spawned) process and check what it wrote."""
    busy, ours, started = _machine_busy_seconds(), _our_cpu_seconds(), time.perf_counter()
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_measure, args=(mode, paths, out_dir, send), name=f"bench-{mode}")
    child.start()
    send.close()
    try:
        report = receive.recv()
    except EOFError:
        report = None
    child.join()
    if report is None:
        raise RuntimeError(f"mode {mode!r} died without a result (exit code {child.exitcode})")
    elapsed = time.perf_counter() - started
    other_load = max(0.0, (_machine_busy_seconds() - busy) - (_our_cpu_seconds() - ours)) / elapsed
    workers = (os.cpu_count() or 1) if mode == "process pool" else 0
    peak = report["parent_rss_mb"] + workers * report["worker_rss_mb"]
    return ModeResult(mode, report["seconds"], len(list(out_dir.iterdir())), peak, report["parent_rss_mb"],
                      report["worker_rss_mb"] if workers else 0.0, other_load)  # fmt: skip


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


# ------------------------------------------------------------------------------------------------ the run


def run(count: int, rounds: int, quick: bool) -> None:
    """`rounds` interleaved rounds of every mode; each mode's best round is reported (memory: its worst)."""
    cores = os.cpu_count() or 1
    runs: list[ModeResult] = []
    reference: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-images-", dir=CACHE) as tmp:
        folder = Path(tmp)
        (folder / "in").mkdir()
        paths = prepare_inputs(count, folder / "in")
        with Image.open(paths[0]) as first:
            size = first.size
        print(f"image_filters benchmark ({'quick' if quick else 'full'}): {count} images of about "
              f"{MEGAPIXELS:g} MP x {FILTERS} on {cores} cores, best of {rounds}", flush=True)  # fmt: skip
        for round_number in range(1, rounds + 1):
            for mode in MODES:
                out_dir = folder / mode.replace(" ", "-")
                out_dir.mkdir()
                result = measure(mode, paths, out_dir)
                written = digests(out_dir)
                reference = reference or written
                result.identical = written == reference
                runs.append(result)
                shutil.rmtree(out_dir)
                print(f"  round {round_number} {mode}: {result.seconds:.2f} s", flush=True)
    best = []
    for mode in MODES:
        mine = [r for r in runs if r.mode == mode]
        fastest = min(mine, key=lambda r: r.seconds)
        best.append(replace(fastest, peak_rss_mb=max(r.peak_rss_mb for r in mine),
                            identical=all(r.identical for r in mine)))  # fmt: skip
    report(best, runs, count, rounds, size, cores, quick)


def report(
    results: list[ModeResult], runs: list[ModeResult], count: int, rounds: int, size: tuple[int, int], cores: int,
    quick: bool,
) -> None:
    base = results[0].seconds
    expected = count * len(FILTERS.split(","))
    rows = [
        [r.mode, r.seconds, f"{base / r.seconds:.2f}x", f"{base / r.seconds / cores:.2f}", count / r.seconds,
         r.peak_rss_mb, f"{r.outputs}/{expected}", "yes" if r.identical else "NO", r.other_load]
        for r in results
    ]  # fmt: skip
    headers = ["mode", "seconds", "speed-up", "speed-up per core", "images/s", "peak RSS MB", "outputs",
               "same bytes as sequential", "other load (cores)"]  # fmt: skip
    table = Table(f"{count} images of {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP) x {FILTERS}, "
                  f"{cores} cores", headers, rows)  # fmt: skip
    by_mode = {r.mode: r for r in results}
    app_speedup = base / by_mode["app pool"].seconds
    asyncio_speedup = base / by_mode["asyncio only"].seconds
    checks = [
        Verdict(f"app pool at least {TARGET_APP_PER_CORE} x {cores} cores = {TARGET_APP_PER_CORE * cores:.2f}x "
                "sequential", app_speedup >= TARGET_APP_PER_CORE * cores, f"{app_speedup:.2f}x"),
        Verdict(f"asyncio only stays near 1x (within +-{ASYNCIO_NEAR_ONE:.0%})",
                abs(asyncio_speedup - 1) <= ASYNCIO_NEAR_ONE, f"{asyncio_speedup:.2f}x"),
        Verdict("every mode wrote every output, byte-identical to sequential",
                all(r.identical and r.outputs == expected for r in results), f"{expected} outputs per mode"),
    ]  # fmt: skip
    labels = [r.mode for r in results]
    charts = [
        Bars("speed-up over sequential", labels, [base / r.seconds for r in results], "x",
             reference=float(cores), reference_label=f"{cores} cores"),
        Bars("throughput", labels, [count / r.seconds for r in results], "images / second"),
        Bars("peak memory", labels, [r.peak_rss_mb for r in results], "RSS MB"),
    ]  # fmt: skip
    notes = [
        f"Inputs: apps/image_filters/samples/ scaled with Lanczos to about {MEGAPIXELS:g} MP and saved as JPEG "
        f"(quality {QUALITY}) in benchmarks/.cache/, copied to {count} distinct files. Upscaled photos are smoother "
        "than camera photos, so their JPEGs are smaller (about 1 MB) and decode a little faster.",
        f"Filters: {FILTERS} with the app's defaults (blur radius 2); outputs JPEG quality {QUALITY}, written "
        "atomically with fsync by utils.images.save_image in every mode.",
        "asyncio only: an AsyncParallelBatchFlow (isolate=True) over the images, sub-flow Load -> Filter -> Save "
        "AsyncNodes calling Pillow directly (no executor, no sleeps).",
        f"app pool: apps.image_filters.build_flow(Settings(workers={cores}), ThreadPoolExecutor({cores})), as its "
        f"CLI runs it. process pool: ProcessPoolExecutor({cores}) (fork), one task per image path.",
        f"Best of {rounds} interleaved round(s) per mode (peak memory: the highest of them), each run in a fresh "
        "spawned process; seconds exclude interpreter start-up and imports but include creating and shutting down "
        "pools.",
        "Other load: CPU the rest of the machine used while the mode ran (from /proc/stat, minus this benchmark's "
        "own CPU time), in cores on average; the machine is shared, and anything well above 0 steals from the "
        "parallel modes.",
        "Peak RSS: ru_maxrss of the mode's process (RUSAGE_SELF); for the process pool, plus the number of workers "
        "x the largest worker's ru_maxrss (RUSAGE_CHILDREN), an upper bound since forked workers share pages.",
    ] + ([f"--quick: {count} images, one round (full: {FULL_IMAGES} images, best of {FULL_ROUNDS}); the targets "
          "are shown for information."] if quick else [])  # fmt: skip
    data = {
        "quick": quick,
        "images": count,
        "image_size": list(size),
        "filters": FILTERS,
        "cores": cores,
        "rounds": rounds,
        "modes": [asdict(r) | {"speedup": base / r.seconds, "speedup_per_core": base / r.seconds / cores,
                               "images_per_second": count / r.seconds} for r in results],
        "all_runs": [asdict(r) for r in runs],
    }  # fmt: skip
    command = "python -m benchmarks.image_filters" + (" --quick" if quick else "")
    paths = write_report("image_filters", title="Image filters: sequential vs asyncio vs thread pool vs processes",
                         command=command, tables=[table], charts=charts, data=data, notes=notes, verdicts=checks)
    print()
    print(console_text([table], checks))
    print(f"\nwrote {paths.json}, {paths.markdown}, {paths.chart}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.image_filters", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_IMAGES} images, one round (default: {FULL_IMAGES} images, best of {FULL_ROUNDS})")
    parser.add_argument("--images", type=int, help="number of input images")
    parser.add_argument("--rounds", type=int, help="rounds of every mode; the best of each is reported")
    args = parse_args(parser, argv)
    CACHE.mkdir(exist_ok=True)
    count = args.images or (QUICK_IMAGES if args.quick else FULL_IMAGES)
    run(count, args.rounds or (1 if args.quick else FULL_ROUNDS), args.quick)


if __name__ == "__main__":
    main()
