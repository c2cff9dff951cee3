"""Image filters, side by side in one run: this app against the tools a user would pick instead.

Run: python -m benchmarks.image_filters [--quick] [--images N] [--tiny N]. Writes image_filters.{json,md,png} to --out.

Job 1 (photos): N JPEGs of about 12 MP (the app's sample photos scaled up with Lanczos, written once to
benchmarks/.cache/) x grayscale, Gaussian blur radius 2, sepia, JPEG quality 90, one output file per pair:
  app              `python -m apps.image_filters` as a user runs it (main() in-process; default workers);
  app --sequential the same command with --sequential (one image and one filter at a time);
  app --cluster local:2  the same command on a Dask LocalCluster of 2 worker processes it starts (the dask
                   extra; start-up included; benchmarks.image_cluster measures a standing cluster too);
  Pillow pool      a plain Pillow script on a ThreadPoolExecutor (one task per image: open, 3 x filter + save);
  OpenCV pool      a plain OpenCV script on a ThreadPoolExecutor (imread, cvtColor / GaussianBlur / transform,
                   imwrite), OpenCV's own threading left at its default;
  pyvips           a plain pyvips script on a ThreadPoolExecutor (libvips' own threads inside each pipeline).
Job 2 (tiny): M small JPEGs (96x64) x the same filters: the app against the Pillow pool; per-file costs
(fsync, planning, bookkeeping) dominate here.

Every run writes to a folder of its own, synced before the next run starts and deleted only at the end (a full
run keeps about 2.6 GB meanwhile in benchmarks/.cache/), so no mode pays for another's write-back or deletions.
Each mode runs in a fresh spawned process, so its peak RSS (ru_maxrss) is its own, plus the largest of the processes
it started (the app's worker processes for small files, the Dask workers). Each peer's outputs are
compared with the app's: mean absolute difference in levels over the pixels of every output of the first
images (decoded, so JPEG's own loss counts for both).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from apps.image_filters.cpus import usable_cpus
from apps.image_filters.inputs import SAMPLES, find_images
from benchmarks.report import Bars, Table, Verdict, console_text, parse_args, write_report

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
FILTERS = ("grayscale", "blur", "sepia")
QUALITY = 90
MEGAPIXELS = 12.0
BLUR_RADIUS = 2.0
SEPIA = (0.393, 0.769, 0.189, 0, 0.349, 0.686, 0.168, 0, 0.272, 0.534, 0.131, 0)
FULL_IMAGES, QUICK_IMAGES = 16, 6
FULL_TINY, QUICK_TINY = 2000, 400
TINY_SIZE = (96, 64)
FULL_ROUNDS = 3
PROBE_FILES = 200  # files created to time the file system before each measured run
COMPARED_IMAGES = 3  # images whose outputs are compared pixel by pixel with the app's

TARGET_VS_OPENCV = 0.8  # the app's speed at least this fraction of the OpenCV pool's
TARGET_VS_PYVIPS = 1.0  # ahead of pyvips
TARGET_TINY_VS_PILLOW = 1.0  # tiny images: at least as fast as the Pillow pool
TARGET_LEVELS = 1.0  # the app within this many levels (mean absolute difference) of plain Pillow


@dataclass
class ModeResult:
    """One run of one mode on one job."""

    job: str
    mode: str
    seconds: float
    outputs: int
    peak_rss_mb: float
    other_load: float  # cores kept busy by other processes meanwhile, on average (the machine is shared)
    levels_from_app: float | None = None  # mean absolute difference from the app's outputs
    cpu_seconds: float = 0.0  # user + system time the mode's process (and its own children) used
    create_us: float = 0.0  # microseconds per file creation just before the run (see create_cost_us)


# ------------------------------------------------------------------------------------------------ inputs


def scaled_samples(megapixels: float, cache: Path) -> list[Path]:
    """The sample photos scaled (Lanczos) to about `megapixels`, as JPEG; made once, then reused from `cache`."""
    folder = cache / f"images-{megapixels:g}mp"
    folder.mkdir(parents=True, exist_ok=True)
    targets = []
    for source in find_images([SAMPLES]):
        target = folder / f"{source.stem}.jpg"
        if not target.exists():
            with Image.open(source) as opened:
                image = opened.convert("RGB")
            scale = math.sqrt(megapixels * 1e6 / (image.width * image.height))
            size = (round(image.width * scale), round(image.height * scale))
            image.resize(size, Image.Resampling.LANCZOS).save(target, quality=QUALITY)
        targets.append(target)
    return targets


def prepare_photos(count: int, folder: Path) -> list[Path]:
    """`count` distinct input files cycling through the scaled samples."""
    samples = scaled_samples(MEGAPIXELS, CACHE)
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        source = samples[i % len(samples)]
        path = folder / f"{source.stem}-{i:04d}.jpg"
        shutil.copyfile(source, path)
        paths.append(path)
    return paths


def prepare_tiny(count: int, folder: Path) -> list[Path]:
    """`count` small JPEGs, each a different crop of a sample photo (so outputs differ)."""
    folder.mkdir(parents=True)
    photos = [Image.open(p).convert("RGB") for p in find_images([SAMPLES])]
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        x = (i * 37) % (photo.width - TINY_SIZE[0])
        y = (i * 53) % (photo.height - TINY_SIZE[1])
        path = folder / f"tiny-{i:05d}.jpg"
        photo.crop((x, y, x + TINY_SIZE[0], y + TINY_SIZE[1])).save(path, quality=QUALITY)
        paths.append(path)
    return paths


def output_path(out_dir: Path, source: Path, filter_name: str) -> Path:
    """The app's own output name (`<stem>_<filter>.jpg`), used by every peer so outputs compare one to one."""
    return out_dir / f"{source.stem}_{filter_name}.jpg"


# ------------------------------------------------------------------------------------------------ the modes


def run_app(paths: list[Path], out_dir: Path, *extra: str) -> None:
    from apps.image_filters.__main__ import main

    argv = [*map(str, paths), "-o", str(out_dir), "-f", ",".join(FILTERS), "--quality", str(QUALITY), "-q", *extra]
    code = main(argv)
    if code != 0:
        raise RuntimeError(f"the app exited with {code}")


def run_app_sequential(paths: list[Path], out_dir: Path) -> None:
    run_app(paths, out_dir, "--sequential")


def run_app_on_cluster(paths: list[Path], out_dir: Path) -> None:
    from benchmarks.image_cluster import run_app_on_local_cluster  # more of it: python -m benchmarks.image_cluster

    run_app_on_local_cluster(paths, out_dir)


def _pillow_one(source: Path, out_dir: Path) -> None:
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    image.convert("L").save(output_path(out_dir, source, "grayscale"), quality=QUALITY)
    image.filter(ImageFilter.GaussianBlur(BLUR_RADIUS)).save(output_path(out_dir, source, "blur"), quality=QUALITY)
    image.convert("RGB", SEPIA).save(output_path(out_dir, source, "sepia"), quality=QUALITY)


def run_pillow_pool(paths: list[Path], out_dir: Path) -> None:
    with ThreadPoolExecutor(usable_cpus()) as pool:
        list(pool.map(_pillow_one, paths, [out_dir] * len(paths)))


def _opencv_one(source: Path, out_dir: Path) -> None:
    import cv2

    bgr = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"OpenCV could not read {source}")
    params = [cv2.IMWRITE_JPEG_QUALITY, QUALITY]
    cv2.imwrite(str(output_path(out_dir, source, "grayscale")), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), params)
    blurred = cv2.GaussianBlur(bgr, (0, 0), BLUR_RADIUS, borderType=cv2.BORDER_REPLICATE)
    cv2.imwrite(str(output_path(out_dir, source, "blur")), blurred, params)
    rgb_matrix = np.array(SEPIA, np.float32).reshape(3, 4)[:, :3]
    bgr_matrix = rgb_matrix[::-1, ::-1].copy()  # same weights, channels in OpenCV's B, G, R order
    cv2.imwrite(str(output_path(out_dir, source, "sepia")), cv2.transform(bgr, bgr_matrix), params)


def run_opencv_pool(paths: list[Path], out_dir: Path) -> None:
    with ThreadPoolExecutor(usable_cpus()) as pool:
        list(pool.map(_opencv_one, paths, [out_dir] * len(paths)))


def _pyvips_one(source: Path, out_dir: Path) -> None:
    import pyvips  # type: ignore[import-untyped]

    image = pyvips.Image.new_from_file(str(source))
    image.colourspace("b-w").write_to_file(str(output_path(out_dir, source, "grayscale")), Q=QUALITY)
    image.gaussblur(BLUR_RADIUS).write_to_file(str(output_path(out_dir, source, "blur")), Q=QUALITY)
    matrix = pyvips.Image.new_from_array([list(SEPIA[0:3]), list(SEPIA[4:7]), list(SEPIA[8:11])])
    image.recomb(matrix).cast("uchar").write_to_file(str(output_path(out_dir, source, "sepia")), Q=QUALITY)


def run_pyvips(paths: list[Path], out_dir: Path) -> None:
    with ThreadPoolExecutor(usable_cpus()) as pool:
        list(pool.map(_pyvips_one, paths, [out_dir] * len(paths)))


def pyvips_available() -> bool:
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


PHOTO_MODES: dict[str, Callable[[list[Path], Path], None]] = {
    "app": run_app,
    "app --sequential": run_app_sequential,
    **({"app --cluster local:2": run_app_on_cluster} if importlib.util.find_spec("distributed") else {}),
    "Pillow pool": run_pillow_pool,
    "OpenCV pool": run_opencv_pool,
    **({"pyvips": run_pyvips} if pyvips_available() else {}),
}
TINY_MODES: dict[str, Callable[[list[Path], Path], None]] = {"app": run_app, "Pillow pool": run_pillow_pool}
MODES = {("photos", m): f for m, f in PHOTO_MODES.items()} | {("tiny", m): f for m, f in TINY_MODES.items()}


# ------------------------------------------------------------------------------------------------ measuring


def _measure(job: str, mode: str, paths: list[Path], out_dir: Path, conn: Connection) -> None:
    """Child process entry: run one mode, send back its time and memory high-water mark (imports not timed)."""
    import cv2  # noqa: F401

    import apps.image_filters.__main__  # noqa: F401

    if pyvips_available():
        import pyvips  # noqa: F401
    cpu_before, started = _own_cpu_seconds(), time.perf_counter()
    MODES[job, mode](paths, out_dir)
    seconds, cpu = time.perf_counter() - started, _own_cpu_seconds() - cpu_before
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    conn.send({"seconds": seconds, "cpu": cpu, "rss_mb": (own.ru_maxrss + children.ru_maxrss) / 1024})
    conn.close()


def _own_cpu_seconds() -> float:
    """CPU seconds of this process's threads and of the processes it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (user, nice, system, irq, softirq, steal) since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def create_cost_us(folder: Path) -> float:
    """Microseconds to create (and write 3 KB to) one new file in `folder`, over PROBE_FILES files.

    This machine's file system now and then turns 10-20x slower at creating files for a minute or more (its
    host is shared); the tiny-image job is mostly file creation, so each run shows what it met.
    """
    probe = Path(tempfile.mkdtemp(prefix=".probe-", dir=folder))  # left for the caller's clean-up (see run)
    started = time.perf_counter()
    for i in range(PROBE_FILES):
        (probe / str(i)).write_bytes(b"x" * 3000)
    return (time.perf_counter() - started) / PROBE_FILES * 1e6


def measure(job: str, mode: str, paths: list[Path], out_dir: Path) -> ModeResult:
    """Run `mode` in a fresh (spawned) process and count what it wrote.

    Everything written before is synced first (untimed), so no mode pays for the write-back of another's
    outputs: the app syncs its file system once at the end, which would otherwise include them.
    """
    os.sync()
    create_us = create_cost_us(out_dir.parent)
    busy, ours, started = _machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_measure, args=(job, mode, paths, out_dir, send), name=f"bench-{mode}")
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
    other_load = max(0.0, (_machine_busy_seconds() - busy) - (_own_cpu_seconds() - ours)) / elapsed
    outputs = sum(1 for p in out_dir.iterdir() if not p.name.startswith("."))
    return ModeResult(job, mode, report["seconds"], outputs, report["rss_mb"], other_load, cpu_seconds=report["cpu"],
                      create_us=create_us)


def mean_levels(a_dir: Path, b_dir: Path, sources: Sequence[Path]) -> float:
    """Mean absolute difference (0-255 levels) between same-named outputs of two modes, over all their pixels."""
    total, count = 0.0, 0
    for source in sources:
        for name in FILTERS:
            with Image.open(output_path(a_dir, source, name)) as a, Image.open(output_path(b_dir, source, name)) as b:
                mode = "L" if a.mode == "L" and b.mode == "L" else "RGB"
                pixels_a = np.asarray(a.convert(mode), np.int16)
                pixels_b = np.asarray(b.convert(mode), np.int16)
            total += float(np.abs(pixels_a - pixels_b).sum())
            count += pixels_a.size
    return total / count


# ------------------------------------------------------------------------------------------------ the run


def run(count: int, tiny: int, rounds: int, quick: bool) -> None:
    """`rounds` interleaved rounds of every mode; each mode's best round is reported (memory: its worst)."""
    cores = usable_cpus()
    runs: list[ModeResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-images-", dir=CACHE) as tmp:
        folder = Path(tmp)
        inputs = {"photos": prepare_photos(count, folder / "in-photos"), "tiny": prepare_tiny(tiny, folder / "in-tiny")}
        with Image.open(inputs["photos"][0]) as first:
            size = first.size
        print(f"image_filters benchmark ({'quick' if quick else 'full'}): {count} photos of {size[0]}x{size[1]} and "
              f"{tiny} tiny images x {','.join(FILTERS)} on {cores} usable CPUs, best of {rounds}", flush=True)
        for round_number in range(1, rounds + 1):
            for job, mode in MODES:
                # A folder per run, nothing deleted until the end: deleting thousands of files leaves work for
                # the file system's next journal commit, which the app's one sync would then pay for.
                out_dir = folder / f"{job}-{mode.replace(' ', '_')}-{round_number}"
                out_dir.mkdir()
                result = measure(job, mode, inputs[job], out_dir)
                runs.append(result)
                print(f"  round {round_number} {job} / {mode}: {result.seconds:.2f} s (file create "
                      f"{result.create_us:.0f} us)", flush=True)
        compared = inputs["photos"][:COMPARED_IMAGES]
        app_dir = folder / "photos-app-1"
        levels = {mode: mean_levels(app_dir, folder / f"photos-{mode.replace(' ', '_')}-1", compared)
                  for mode in PHOTO_MODES if mode != "app"}  # fmt: skip
    best = []
    for job, mode in MODES:
        mine = [r for r in runs if (r.job, r.mode) == (job, mode)]
        fastest = min(mine, key=lambda r: r.seconds)
        level = (0.0 if mode == "app" else levels.get(mode)) if job == "photos" else None
        best.append(replace(fastest, peak_rss_mb=max(r.peak_rss_mb for r in mine), levels_from_app=level))
    report(best, runs, count, tiny, rounds, size, cores, quick)


def report(
    results: list[ModeResult], runs: list[ModeResult], count: int, tiny: int, rounds: int, size: tuple[int, int],
    cores: int, quick: bool,
) -> None:
    photos = {r.mode: r for r in results if r.job == "photos"}
    tinies = {r.mode: r for r in results if r.job == "tiny"}
    app = photos["app"].seconds
    expected = {"photos": count * len(FILTERS), "tiny": tiny * len(FILTERS)}

    def row(r: ModeResult, app_seconds: float, images: int) -> list[Any]:
        levels = "-" if r.levels_from_app is None else f"{r.levels_from_app:.2f}"
        return [r.mode, r.seconds, f"{r.seconds / app_seconds:.2f}x", images / r.seconds, r.cpu_seconds,
                r.peak_rss_mb, f"{r.outputs}/{expected[r.job]}", levels, r.other_load, r.create_us]  # fmt: skip

    headers = ["mode", "seconds", "its time / app's", "images/s", "CPU s", "peak RSS MB", "outputs",
               "levels from the app's outputs", "other load (cores)", "file create us"]  # fmt: skip
    tables = [
        Table(f"{count} photos of {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP) x {','.join(FILTERS)}, "
              f"JPEG q{QUALITY}, {cores} CPUs", headers, [row(r, app, count) for r in photos.values()]),
        Table(f"{tiny} tiny images ({TINY_SIZE[0]}x{TINY_SIZE[1]}) x {','.join(FILTERS)}", headers,
              [row(r, tinies["app"].seconds, tiny) for r in tinies.values()]),
    ]  # fmt: skip
    verdicts = [
        Verdict(f"app at least {TARGET_VS_OPENCV}x the speed of the OpenCV pool",
                photos["OpenCV pool"].seconds / app >= TARGET_VS_OPENCV, f"{photos['OpenCV pool'].seconds / app:.2f}x"),
        Verdict(f"app within {TARGET_LEVELS:g} level of plain Pillow's outputs (mean absolute difference)",
                (photos["Pillow pool"].levels_from_app or 0) <= TARGET_LEVELS,
                f"{photos['Pillow pool'].levels_from_app:.2f} levels"),
        Verdict(f"tiny images: app at least {TARGET_TINY_VS_PILLOW}x the speed of the Pillow pool",
                tinies["Pillow pool"].seconds / tinies["app"].seconds >= TARGET_TINY_VS_PILLOW,
                f"{tinies['Pillow pool'].seconds / tinies['app'].seconds:.2f}x"),
        Verdict("every mode wrote every output", all(r.outputs == expected[r.job] for r in results), ""),
    ]  # fmt: skip
    if "pyvips" in photos:
        verdicts.insert(1, Verdict("app ahead of pyvips", photos["pyvips"].seconds / app >= TARGET_VS_PYVIPS,
                                   f"{photos['pyvips'].seconds / app:.2f}x"))  # fmt: skip
    labels = list(photos)
    charts = [
        Bars("photos: throughput", labels, [count / photos[m].seconds for m in labels], "images / second"),
        Bars("photos: peak memory", labels, [photos[m].peak_rss_mb for m in labels], "RSS MB"),
        Bars("tiny images: throughput", list(tinies), [tiny / r.seconds for r in tinies.values()], "images / second"),
    ]
    notes = [
        "Its time / app's: above 1x the app was faster (1.25x: the peer took 25% longer), below 1x slower.",
        f"Photos: apps/image_filters/samples/ scaled with Lanczos to about {MEGAPIXELS:g} MP, JPEG q{QUALITY}, "
        f"copied to {count} files. Tiny: {tiny} crops of them, {TINY_SIZE[0]}x{TINY_SIZE[1]}, JPEG.",
        "app: `python -m apps.image_filters <files> -o <dir> -f grayscale,blur,sepia --quality 90 -q` run through "
        "its main() (OpenCV kernels, atomic writes, one file-system sync and a manifest at the end; small files "
        "in batches on forked worker processes). "
        "app --sequential: the same with --sequential.",
        f"Peers: plain scripts on ThreadPoolExecutor({cores}), one task per image, writing with their library's own "
        "save (no temp files, no sync). Pillow: convert('L'), GaussianBlur(2), convert with the sepia matrix. "
        "OpenCV: imread, cvtColor, GaussianBlur(sigma 2, replicated border), transform. pyvips: "
        "colourspace('b-w'), gaussblur(2), recomb; its grey is CIELAB lightness, not Rec. 601 luma, hence the "
        "larger difference.",
        f"Levels from the app's outputs: mean absolute difference over every pixel of the outputs of the first "
        f"{COMPARED_IMAGES} photos (decoded JPEGs).",
        f"Best of {rounds} interleaved round(s) per mode (peak memory: the highest), each in a fresh spawned "
        "process; seconds exclude interpreter start-up and imports. Peak RSS: the mode's process plus the largest "
        "process it started (app: its worker processes for small files; --cluster: a Dask worker).",
        "Other load: CPU the rest of the machine used meanwhile, in cores on average (the machine is shared). "
        "CPU s: user + system time of the mode's own process (and any it started), which other load disturbs "
        "less than wall time; on a busy machine compare it too.",
        f"File create us: the time to create one 3 KB file, over {PROBE_FILES} made just before the run in the "
        "same folder. This machine's file system now and then turns 10-20x slower at it (about 40 us against "
        "500-800) for a minute or more; the tiny-image job is mostly creating files, so compare its rows only "
        "where this column is alike.",
    ] + ([f"--quick: {count} photos, {tiny} tiny images, one round (full: {FULL_IMAGES}, {FULL_TINY}, best of "
          f"{FULL_ROUNDS}); the targets are shown for information."] if quick else [])  # fmt: skip
    data = {
        "quick": quick, "images": count, "tiny_images": tiny, "image_size": list(size), "filters": list(FILTERS),
        "cores": cores, "rounds": rounds, "modes": [asdict(r) for r in results], "all_runs": [asdict(r) for r in runs],
    }  # fmt: skip
    command = "python -m benchmarks.image_filters" + (" --quick" if quick else "")
    paths = write_report("image_filters", title="Image filters: this app vs Pillow, OpenCV and pyvips",
                         command=command, tables=tables, charts=charts, data=data, notes=notes, verdicts=verdicts)
    print()
    print(console_text(tables, verdicts))
    print(f"\nwrote {paths.json}, {paths.markdown}, {paths.chart}")


def parse_sizes(
    prog: str, description: str, full: tuple[int, int, int], quick: tuple[int, int], argv: Sequence[str] | None
) -> tuple[int, int, int, bool]:
    """--quick, --images, --tiny, --rounds (and --out): photos, tiny images, rounds, and whether it's quick.

    `full`: (photos, tiny images, rounds) by default; `quick`: (photos, tiny images) with --quick, one round.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true",
                        help=f"{quick[0]} photos, {quick[1]} tiny images, one round "
                             f"(default: {full[0]}, {full[1]}, best of {full[2]})")  # fmt: skip
    parser.add_argument("--images", type=int, help="number of photos")
    parser.add_argument("--tiny", type=int, help="number of tiny images")
    parser.add_argument("--rounds", type=int, help="rounds of every mode; the best of each is reported")
    args = parse_args(parser, argv)
    images, tiny, rounds = (*quick, 1) if args.quick else full
    return args.images or images, args.tiny or tiny, args.rounds or rounds, args.quick


def main(argv: Sequence[str] | None = None) -> None:
    count, tiny, rounds, quick = parse_sizes("python -m benchmarks.image_filters", __doc__.split("\n")[0],
                                             (FULL_IMAGES, FULL_TINY, FULL_ROUNDS), (QUICK_IMAGES, QUICK_TINY), argv)
    CACHE.mkdir(exist_ok=True)
    run(count, tiny, rounds, quick)


if __name__ == "__main__":
    main()
