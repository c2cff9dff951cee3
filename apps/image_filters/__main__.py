"""CLI: python -m apps.image_filters [inputs...] -f grayscale,blur:radius=4 -o output/ ...

Exit codes: 0 everything succeeded, 1 some image or output failed (each reported on one line),
2 bad command line (nothing was done), 130 interrupted by Ctrl-C and 143 by SIGTERM (files already
written are complete and recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

from tqdm import tqdm

from apps.cli import add_standard_options, prog, quiet_on_broken_pipe, setup_logging
from pocketflow import BaseNode, Tracer, tracing
from utils.images import DEFAULT_MAX_PIXELS, METADATA_POLICIES

from .cluster import INSTALL_HINT, Cluster, ClusterAddress, ClusterError
from .cpus import usable_cpus
from .filters import FilterSpecError, describe_filters, parse_filter_specs
from .flow import BATCH_SMALL, ProcessImages, Settings, build_flow
from .heap import keep_image_buffers
from .inputs import SAMPLES, InputError, scan_inputs
from .nodes import record_outputs
from .plan import FORMATS
from .processes import small_image_pool
from .report import Report

PROG = prog("apps.image_filters")
DEFAULT_FILTERS = "grayscale,blur,sepia"
INTERRUPTED = "interrupted: outputs already written are complete; run again to finish the rest"
log = logging.getLogger(__name__)


class Terminated(Exception):
    """SIGTERM arrived; the run stopped the way Ctrl-C stops it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not usage + message."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Apply image filters to many images on every core.")
    p.add_argument("inputs", nargs="*", help="image files, folders (searched recursively) or glob patterns; "
                   "default: the bundled sample photos")
    p.add_argument("-f", "--filters", default=DEFAULT_FILTERS,
                   help=f"comma-separated filters, each `name` or `name:key=value[:key=value]` "
                        f"(default: {DEFAULT_FILTERS}; see --list-filters)")
    p.add_argument("-o", "--out", type=Path, default=Path("output"), help="output folder (default: output/)")
    p.add_argument("--workers", type=_int_in(1, 256),
                   help="threads for pixel work, also the number of images in flight (default: the CPUs this "
                        "process may use, after affinity and container limits; with --cluster, the cluster's worker "
                        "threads)")
    p.add_argument("--format", choices=FORMATS, default="keep", help="output format (default: keep the input's)")
    p.add_argument("--quality", type=_int_in(1, 100), default=90, help="JPEG/WebP quality 1-100 (default: 90)")
    p.add_argument("--metadata", choices=METADATA_POLICIES, default="camera",
                   help="EXIF kept in outputs: camera = all but the GPS location (default), all = EXIF and XMP "
                        "as they are, none = nothing; colour profiles are always kept")
    p.add_argument("--max-pixels", type=_int_in(1, 2**40), default=DEFAULT_MAX_PIXELS,
                   help=f"refuse inputs, and outputs of resize/rotate, larger than this many pixels (default: "
                        f"{DEFAULT_MAX_PIXELS}, Pillow's decompression-bomb limit)")
    p.add_argument("--overwrite", action="store_true", help="redo every output, even those still up to date")
    p.add_argument("--sequential", action="store_true", help="do the same work one step at a time (for comparison)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="decode, filter and save on a Dask cluster: a scheduler (tcp://host:8786), or local or "
                        f"local:N to start N worker processes here; workers need this machine's paths ({INSTALL_HINT})")
    p.add_argument("--contact-sheet", action="store_true",
                   help="also write <out>/contact_sheet.png (and contact_sheet-2.png... for over "
                        "50 images)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no summary; failures are still shown")
    add_standard_options(p, verbose="log more than errors, such as files left by an interrupted run being removed")
    p.add_argument("--list-filters", action="store_true", help="describe every filter and its parameters, then exit")
    return p


class Bar(tqdm):  # type: ignore[type-arg]
    """tqdm without its monitor thread, which outlives the bar: a later run in this process could then not fork
    its small-image workers (.processes). The bar is updated at every finished image or batch anyway."""

    monitor_interval = 0


class ProgressBar(Tracer):
    """Advances a tqdm bar (its total: every image) as sub-flow runs (an image, or a batch of small ones) finish."""

    def __init__(self, bar: tqdm[Any], report: Report) -> None:
        self.bar, self.report = bar, report

    def on_item_done(self, node: BaseNode, done: int, failed: int, total: int) -> None:
        if isinstance(node, ProcessImages):
            self.bar.update(node.settled + self.report.finished - self.bar.n)


async def run(
    settings: Settings, images: list[Path], *, sequential: bool, quiet: bool, cluster: Cluster | None = None
) -> tuple[Report, list[Path]]:
    """Run the flow with a thread pool (none when sequential, a Dask cluster's workers with `cluster`, prepared);
    returns the report and the contact sheet pages.

    SIGTERM cancels the run like Ctrl-C (raising Terminated). Interrupted, the outputs finished so far are
    synced and recorded before the exception leaves, so the next run doesn't redo them.
    """
    shared: dict[str, Any] = {"images": images, "report": Report()}
    parallel = not sequential and cluster is None
    pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="image-filters") if parallel else None
    # forked before any thread starts, and only where there can be batches of small files
    processes = small_image_pool(settings.workers, pool) if pool and len(images) >= 2 * BATCH_SMALL else None
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        if main_task is not None:
            main_task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    bar = Bar(total=len(images), unit="image", disable=True if quiet else None, leave=False)
    try:
        with bar, tracing(ProgressBar(bar, shared["report"])):
            flow = cluster.build_flow(settings) if cluster else build_flow(settings, pool, batch_executor=processes)
            await flow.run_async(shared)
    except BaseException:
        _shut_down(pool, processes)  # the jobs in hand finish writing before the sync that records them
        record_outputs(settings.out_dir, shared["report"])
        if terminated:
            raise Terminated() from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        _shut_down(pool, processes)
    return shared["report"], shared.get("contact_sheet_pages", [])


def _shut_down(*executors: Executor | None) -> None:
    for executor in executors:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def check_out_dir(out: Path) -> None:
    """InputError unless `out` is a folder or can become one."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is an existing file; give a folder with -o")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(f"output folder {out} can't be made: {parent} is a file")


@quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.list_filters:
        print(describe_filters())
        return 0
    cluster = None
    previous_sigterm = signal.signal(signal.SIGTERM, _terminate)  # while scanning too, not only in the run
    try:
        specs = parse_filter_specs(args.filters)
        check_out_dir(args.out)
        found = scan_inputs(args.inputs or [SAMPLES])
        for line in found.skipped:
            print(f"skipped: {line}", file=sys.stderr)
        if not found.images:
            raise InputError("no images to process: every input is an output of this app")
        workers = args.workers or usable_cpus()
        settings = Settings(tuple(specs), args.out, args.format, args.quality, args.overwrite, workers,
                            args.contact_sheet, args.metadata, args.max_pixels)  # fmt: skip
        images = found.images
        if args.cluster:
            if args.sequential:
                raise ClusterError("--cluster and --sequential don't go together; choose one")
            cluster = Cluster.open(ClusterAddress.parse(args.cluster))
            settings, images = cluster.prepare(settings, images, args.workers)
        keep_image_buffers()  # this process decodes (or, with a cluster, may draw a contact sheet)
        start = time.perf_counter()
        report, pages = asyncio.run(
            run(settings, images, sequential=args.sequential, quiet=args.quiet, cluster=cluster))
        seconds = time.perf_counter() - start
    except (FilterSpecError, InputError, ClusterError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except Terminated:
        print(f"terminated (SIGTERM); {INTERRUPTED.removeprefix('interrupted: ')}", file=sys.stderr)
        return 143
    except Exception as exc:  # a CLI shows one line; the traceback goes to the debug log
        log.debug("run failed", exc_info=True)
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        if cluster is not None:
            cluster.close()
    for failure in report.failed:
        print(f"failed: {failure.message}", file=sys.stderr)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        if pages:
            print(f"contact sheet: {pages[0]}" + (f" (+{len(pages) - 1} more pages)" if len(pages) > 1 else ""))
        print(report.summary(seconds))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
