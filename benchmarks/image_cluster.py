"""Image filters on a Dask cluster against the app's own thread pool, side by side in one run.

Run: python -m benchmarks.image_cluster [--quick] [--images N] [--tiny N] [--rounds N] [--out DIR].
Writes image_cluster.{json,md,png} to --out. Needs the `dask` extra.

The job is benchmarks.image_filters' photo job (N JPEGs of about 12 MP x grayscale, blur, sepia, JPEG q90), run
through the app's command line (its main(), in a fresh spawned process per run):
  app (thread pool)      `python -m apps.image_filters ...`, default workers (one thread per usable CPU);
  app --cluster tcp://   the same command with --cluster pointing at a LocalCluster of WORKERS single-threaded
                         worker processes started before the clock, as a standing cluster would be;
  app --cluster local:N  the same with --cluster local:N, which starts and stops its own workers on the clock.
The per-image overhead of going through the scheduler comes from tiny images (96x64), whose pixel work is next
to nothing: (cluster seconds - pool seconds) / images. Every cluster run must write byte-identical files.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks import image_filters as photos_job
from benchmarks.report import Bars, Table, Verdict, console_text, write_report

WORKERS = 2
FULL_IMAGES, QUICK_IMAGES = 16, 6
FULL_TINY, QUICK_TINY = 400, 100
FULL_ROUNDS = 2
TARGET_EFFICIENCY = 0.8  # the standing cluster's speed at least this fraction of the local thread pool's

POOL, STANDING, LOCAL = "app (thread pool)", "app --cluster tcp:// (standing)", f"app --cluster local:{WORKERS}"


@dataclass
class Run:
    job: str  # photos | tiny
    mode: str
    seconds: float
    outputs: int
    identical: bool  # same names and bytes as the thread pool's outputs of this job


def available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def run_app_on_local_cluster(paths: list[Path], out_dir: Path) -> None:
    """benchmarks.image_filters' row: the app with --cluster local:WORKERS (workers started on the clock)."""
    photos_job.run_app(paths, out_dir, "--cluster", f"local:{WORKERS}")


def _timed_main(argv: list[str], conn: Connection) -> None:
    """Child process entry: run the app's main() and send back its exit code and seconds."""
    from apps.image_filters.__main__ import main

    if "--cluster" in argv:
        import distributed  # noqa: F401  (imported by main() on demand; imports are kept off the clock)

    started = time.perf_counter()
    code = main(argv)
    conn.send((code, time.perf_counter() - started))
    conn.close()


def timed(paths: list[Path], out_dir: Path, *extra: str) -> float:
    """Seconds the app's main() took in a fresh spawned process (interpreter start-up and imports excluded)."""
    argv = [*map(str, paths), "-o", str(out_dir), "-f", ",".join(photos_job.FILTERS),
            "--quality", str(photos_job.QUALITY), "-q", *extra]  # fmt: skip
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_timed_main, args=(argv, send))
    child.start()
    send.close()
    try:
        code, seconds = receive.recv()
    except EOFError:
        code, seconds = None, 0.0
    child.join()
    if code != 0:
        raise RuntimeError(f"the app exited with {code} ({' '.join(extra) or 'thread pool'})")
    return float(seconds)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if not p.name.startswith(".")}


def run(count: int, tiny: int, rounds: int, quick: bool) -> None:
    from apps.image_filters.cluster import local_cluster

    runs: list[Run] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-cluster-", dir=photos_job.CACHE) as tmp,
        local_cluster(WORKERS) as cluster,  # the workers --cluster local:N starts, as README's setup advises
    ):  # fmt: skip
        folder = Path(tmp)
        inputs = {"photos": photos_job.prepare_photos(count, folder / "in-photos"),
                  "tiny": photos_job.prepare_tiny(tiny, folder / "in-tiny")}  # fmt: skip
        modes = {POOL: (), STANDING: ("--cluster", cluster.scheduler_address), LOCAL: ("--cluster", f"local:{WORKERS}")}
        print(f"image_cluster benchmark ({'quick' if quick else 'full'}): {count} photos and {tiny} tiny images x "
              f"{','.join(photos_job.FILTERS)}; thread pool vs {WORKERS} Dask worker processes; best of {rounds}; "
              f"load average at start {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        timed(inputs["tiny"][:4], folder / "warm-up", *modes[STANDING])  # workers import the app once, untimed
        for round_number in range(1, rounds + 1):
            for job in ("photos", "tiny"):
                reference: dict[str, str] = {}
                for mode, extra in modes.items():
                    if job == "tiny" and mode == LOCAL:
                        continue
                    out_dir = folder / f"{job}-{len(runs)}"
                    seconds = timed(inputs[job], out_dir, *extra)
                    written = digests(out_dir)
                    reference = reference or written
                    runs.append(Run(job, mode, seconds, len(written), written == reference))
                    shutil.rmtree(out_dir)
                    print(f"  round {round_number} {job} / {mode}: {seconds:.2f} s", flush=True)
        load_after = os.getloadavg()[0]
    best: dict[tuple[str, str], Run] = {}
    for r in runs:
        if (r.job, r.mode) not in best or r.seconds < best[r.job, r.mode].seconds:
            best[r.job, r.mode] = r
    report(best, runs, count, tiny, rounds, quick, load_after)


def report(
    best: dict[tuple[str, str], Run], runs: list[Run], count: int, tiny: int, rounds: int, quick: bool, load: float
) -> None:
    pool, standing, local = best["photos", POOL], best["photos", STANDING], best["photos", LOCAL]
    efficiency = pool.seconds / standing.seconds
    overhead_ms = (best["tiny", STANDING].seconds - best["tiny", POOL].seconds) / tiny * 1000
    expected = {"photos": count * len(photos_job.FILTERS), "tiny": tiny * len(photos_job.FILTERS)}

    def rows(job: str, images: int) -> list[list[Any]]:
        base = best[job, POOL].seconds
        return [[r.mode, r.seconds, f"{base / r.seconds:.2f}x", images / r.seconds, f"{r.outputs}/{expected[job]}",
                 "yes" if r.identical else "NO"] for (j, _), r in best.items() if j == job]  # fmt: skip

    headers = ["mode", "seconds", "speed vs thread pool", "images/s", "outputs", "same bytes as the pool"]
    filters = ",".join(photos_job.FILTERS)
    tables = [
        Table(f"{count} photos of about {photos_job.MEGAPIXELS:g} MP x {filters}", headers, rows("photos", count)),
        Table(f"{tiny} tiny images (96x64) x {filters}: the cost of the scheduler", headers, rows("tiny", tiny)),
    ]
    verdicts = [
        Verdict(
            f"a standing {WORKERS}-worker cluster at least {TARGET_EFFICIENCY}x the local thread pool's speed",
            efficiency >= TARGET_EFFICIENCY,
            f"{efficiency:.2f}x",
        ),  # fmt: skip
        Verdict(
            "every cluster run wrote every output, byte-identical to the thread pool's",
            all(r.identical and r.outputs == expected[r.job] for r in runs),
            f"{len(runs)} runs",
        ),  # fmt: skip
    ]
    notes = [
        f"Per-image overhead of the scheduler: {overhead_ms:.1f} ms (tiny images: cluster minus pool seconds, per "
        "image); each image is 5 cluster jobs: decode, describe (frames, thumbnail) and one filter-and-encode "
        "per filter.",
        f"{LOCAL} includes starting and stopping {WORKERS} worker processes ({local.seconds - standing.seconds:.2f} s "
        "more than the standing cluster here).",
        "The cluster's workers are single-threaded processes on this same machine, so they compete with the "
        "client and the scheduler for its cores; on separate machines the work scales with the workers' cores.",
        f"Best of {rounds} interleaved round(s) per mode, each in a fresh spawned process; seconds exclude "
        f"interpreter start-up and imports. Load average after the run: {load:.2f} (the machine is shared).",
    ] + ([f"--quick: {count} photos, {tiny} tiny images, one round (full: {FULL_IMAGES}, {FULL_TINY}, best of "
          f"{FULL_ROUNDS}); the targets are shown for information."] if quick else [])  # fmt: skip
    charts = [
        Bars("photos: throughput", [r[0] for r in rows("photos", count)], [r[3] for r in rows("photos", count)],
             "images / second"),
        Bars("tiny images: throughput", [r[0] for r in rows("tiny", tiny)], [r[3] for r in rows("tiny", tiny)],
             "images / second"),
    ]  # fmt: skip
    data = {"quick": quick, "images": count, "tiny_images": tiny, "workers": WORKERS, "rounds": rounds,
            "efficiency": efficiency, "overhead_ms_per_image": overhead_ms,
            "modes": [asdict(r) for r in best.values()], "all_runs": [asdict(r) for r in runs]}  # fmt: skip
    command = "python -m benchmarks.image_cluster" + (" --quick" if quick else "")
    paths = write_report(
        "image_cluster",
        title="Image filters on a Dask cluster vs the local thread pool",
        command=command,
        tables=tables,
        charts=charts,
        data=data,
        notes=notes,
        verdicts=verdicts,
    )
    print()
    print(console_text(tables, verdicts))
    print(f"\nwrote {paths.json}, {paths.markdown}, {paths.chart}")


def main(argv: Sequence[str] | None = None) -> None:
    count, tiny, rounds, quick = photos_job.parse_sizes(
        "python -m benchmarks.image_cluster", __doc__.split("\n")[0], (FULL_IMAGES, FULL_TINY, FULL_ROUNDS),
        (QUICK_IMAGES, QUICK_TINY), argv)  # fmt: skip
    if not available():
        print("benchmarks.image_cluster needs Dask: pip install -e '.[dask]'", file=sys.stderr)
        raise SystemExit(2)
    photos_job.CACHE.mkdir(exist_ok=True)
    run(count, tiny, rounds, quick)


if __name__ == "__main__":
    main()
