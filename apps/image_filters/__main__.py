"""CLI: python -m apps.image_filters [inputs...] -f grayscale,blur:radius=4 -o output/ ...

Exit codes: 0 everything succeeded, 1 some image or output failed (each reported on one line),
2 bad command line (nothing was done), 130 interrupted (files already written are complete).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

from tqdm import tqdm

from apps.cli import add_standard_options, prog, quiet_on_broken_pipe, setup_logging
from pocketflow import BaseNode, Tracer, tracing

from .filters import FilterSpecError, describe_filters, parse_filter_specs
from .flow import ProcessImages, Settings, build_flow
from .inputs import SAMPLES, InputError, find_images
from .plan import FORMATS
from .report import Report

PROG = prog("apps.image_filters")
DEFAULT_FILTERS = "grayscale,blur,sepia"
log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not usage + message."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
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
    p.add_argument("--workers", type=_int_in(1, 256), default=os.cpu_count() or 1,
                   help="threads for Pillow work, also the number of images in flight (default: number of cores)")
    p.add_argument("--format", choices=FORMATS, default="keep", help="output format (default: keep the input's)")
    p.add_argument("--quality", type=_int_in(1, 100), default=90, help="JPEG/WebP quality 1-100 (default: 90)")
    p.add_argument("--overwrite", action="store_true", help="redo outputs that exist and are newer than the input")
    p.add_argument("--sequential", action="store_true", help="do the same work one step at a time (for comparison)")
    p.add_argument("--contact-sheet", action="store_true", help="also write <out>/contact_sheet.png")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no summary; failures are still shown")
    add_standard_options(p)
    p.add_argument("--list-filters", action="store_true", help="describe every filter and its parameters, then exit")
    return p


class ProgressBar(Tracer):
    """Advances a tqdm bar as each image's sub-flow run finishes."""

    def __init__(self, bar: tqdm[Any]) -> None:
        self.bar = bar

    def on_item_done(self, node: BaseNode, done: int, failed: int, total: int) -> None:
        if isinstance(node, ProcessImages):
            self.bar.total = total
            self.bar.update(done - self.bar.n)


async def run(settings: Settings, images: list[Path], *, sequential: bool, quiet: bool) -> tuple[Report, Path | None]:
    """Run the flow with a thread pool (or none when sequential); returns the report and the contact sheet."""
    shared: dict[str, Any] = {"images": images, "report": Report()}
    pool = None if sequential else ThreadPoolExecutor(settings.workers, thread_name_prefix="image-filters")
    try:
        flow = build_flow(settings, pool)
        with tqdm(unit="image", disable=True if quiet else None, leave=False) as bar, tracing(ProgressBar(bar)):
            await flow.run_async(shared)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return shared["report"], shared.get("contact_sheet")


@quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.list_filters:
        print(describe_filters())
        return 0
    try:
        specs = parse_filter_specs(args.filters)
        images = find_images(args.inputs or [SAMPLES], exclude=args.out)
        settings = Settings(tuple(specs), args.out, args.format, args.quality, args.overwrite, args.workers,
                            args.contact_sheet)
        start = time.perf_counter()
        report, sheet = asyncio.run(run(settings, images, sequential=args.sequential, quiet=args.quiet))
        seconds = time.perf_counter() - start
    except (FilterSpecError, InputError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: outputs already written are complete; run again to finish the rest", file=sys.stderr)
        return 130
    except Exception as exc:  # a CLI shows one line; the traceback goes to the debug log
        log.debug("run failed", exc_info=True)
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for failure in report.failed:
        print(f"failed: {failure.message}", file=sys.stderr)
    if not args.quiet:
        if sheet is not None:
            print(f"contact sheet: {sheet}")
        print(report.summary(seconds))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
