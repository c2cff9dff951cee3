"""Command-line habits both apps share: the name they were run as, --version, -v, and a quiet end on a closed pipe."""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

from apps.installation import OURS, check_installation

# Again here (free: the answer is cached), for when another distribution's apps/__init__.py replaced ours.
check_installation()

P = ParamSpec("P")


def prog(module: str) -> str:
    """`pf-translate` when started through the installed script, else `python -m apps.translate`."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name.startswith("pf-") else f"python -m {module}"


def version() -> str:
    try:
        return f"{OURS} {importlib.metadata.version(OURS)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{OURS} (not installed: run from a checkout)"


def add_standard_options(parser: argparse.ArgumentParser, verbose: str) -> None:
    """--version and -v/--verbose, whose help says what it shows (each app has its own -q/--quiet)."""
    parser.add_argument("--version", action="version", version=f"%(prog)s ({version()})")
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose)


def setup_logging(verbose: bool) -> None:
    """Warnings only, or with -v this project's INFO lines too (not every HTTP request of the SDKs)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if verbose:
        for name in ("apps", "utils", "pocketflow"):
            logging.getLogger(name).setLevel(logging.INFO)


def quiet_on_broken_pipe(main: Callable[P, int]) -> Callable[P, int]:
    """A reader that stops early (`--dry-run | head -1`) ends the command quietly, as it ends other Unix tools."""

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            status = main(*args, **kwargs)
            sys.stdout.flush()
            return status
        except BrokenPipeError:
            try:  # Python flushes stdout again at exit: point it at /dev/null so that says nothing either
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            return 128 + signal.SIGPIPE

    return run
