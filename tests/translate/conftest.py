"""Fixtures for the translate tests: a clean LLM configuration (no real key, fast retries) and a CLI runner."""
from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from apps.translate.__main__ import _parser, run
from tests.utils.llm_env import clean_llm_env  # noqa: F401  (autouse: no key, no .env, fresh limiters)

FIXTURE = Path(__file__).parent / "fixtures" / "tricky.md"

Cli = Callable[..., Awaitable[int]]


@pytest.fixture
def tricky(tmp_path: Path) -> Path:
    """A copy of the tricky fixture in the test's own folder."""
    return Path(shutil.copy(FIXTURE, tmp_path / "tricky.md"))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """`await cli(args...)` runs the CLI in-process with --out and --cache-dir inside tmp_path by default."""

    async def invoke(*argv: str) -> int:
        extra = []
        if not any(a in ("-o", "--out") for a in argv):
            extra += ["-o", str(tmp_path / "out")]
        if "--cache-dir" not in argv:
            extra += ["--cache-dir", str(tmp_path / "cache")]
        return await run(_parser().parse_args([*argv, *extra]))

    return invoke
