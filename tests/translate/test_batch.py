"""`--batch` through the real SDKs against the loopback server's batch APIs: same files as an interactive run,
resumed (not resubmitted) after an interruption, failed and expired chunks retried, the cost summary."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from apps.translate import batch
from apps.translate.cache import CACHE_FILE
from tests.translate.conftest import Cli
from utils.llm_server import LLMServer

CHAT_PATHS = ("/v1/chat/completions", "/v1/messages")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LLMServer]:
    async with LLMServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.anthropic_base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setattr(batch, "POLL_FIRST", 0.05)
        yield srv


def live_requests(server: LLMServer) -> int:
    return sum(server.stats.requests_by_path.get(path, 0) for path in CHAT_PATHS)


def outputs(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.md"))}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_batch_writes_the_same_files_as_an_interactive_run(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, provider: str
) -> None:
    interactive = ["-o", str(tmp_path / "live"), "--cache-dir", str(tmp_path / "live-cache")]
    assert await cli(str(tricky), "-l", "fr,ja", "--provider", provider, "--quiet", *interactive) == 0
    live = live_requests(server)
    assert live > 2

    server.batches.delay = 0.2
    assert await cli(str(tricky), "-l", "fr,ja", "--provider", provider, "--quiet", "--batch", "--wait") == 0
    assert live_requests(server) == live  # everything came from the batch
    assert server.batches.stats.batches_created == 1
    assert server.batches.stats.requests_submitted == live
    assert outputs(tmp_path / "out") == outputs(tmp_path / "live")

    assert await cli(str(tricky), "-l", "fr,ja", "--provider", provider, "--quiet", "--batch") == 0
    assert server.batches.stats.batches_created == 1  # all cached: nothing to submit


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_interrupted_run_resumes_the_same_batch(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, provider: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server.batches.delay = 3600
    args = (str(tricky), "-l", "fr,de", "--provider", provider, "--quiet", "--batch")
    waiting = asyncio.create_task(cli(*args, "--wait"))
    for _ in range(500):  # until the batch is submitted
        if server.batches.stats.batches_created:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # polling
    waiting.cancel()  # Ctrl-C
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not (tmp_path / "out").exists()

    assert await cli(*args) == 0  # a second run without --wait: still running, says how to collect
    assert "still running" in capsys.readouterr().err
    with sqlite3.connect(tmp_path / "cache" / CACHE_FILE) as db:  # the batch is in the cache file
        [(batch_id, requests)] = db.execute(
            "SELECT b.id, COUNT(*) FROM batches b JOIN batch_requests r ON r.batch_id = b.id GROUP BY b.id"
        ).fetchall()
    assert requests == server.batches.stats.requests_submitted

    server.batches.delay = 0  # the batch ends; a restart collects it
    assert await cli(*args, "--wait") == 0
    assert server.batches.stats.batches_created == 1 and live_requests(server) == 0
    assert sorted(path.name for path in (tmp_path / "out").glob("*.md")) == ["tricky.de.md", "tricky.fr.md"]
    with sqlite3.connect(tmp_path / "cache" / CACHE_FILE) as db:
        assert db.execute("SELECT collected IS NOT NULL FROM batches WHERE id = ?", (batch_id,)).fetchone() == (1,)


# A run killed (kill -9) at one point of submitting an OpenAI batch: after it was created, before its id was
# recorded ("rename"), or after the mark was recorded, before anything was sent ("_submit").
KILLED_AT = """
import os, sys
from apps.translate import batch
from apps.translate.__main__ import main
def killed(*args, **kwargs):
    os._exit(137)
if sys.argv[1] == "rename":
    batch.Ledger.rename = killed
else:
    batch._submit = killed
sys.exit(main(sys.argv[2:]))
"""


async def killed_run(point: str, *args: str) -> int:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_AT, point, *args, cwd=ROOT)
    return await asyncio.wait_for(proc.wait(), 60)


async def test_a_run_killed_before_recording_its_openai_batch_finds_it_again(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path
) -> None:
    """The batch was created, then the run died before its id was in the cache: the next run finds the batch by
    the mark in its metadata instead of paying twice."""
    args = (str(tricky), "-l", "fr,de", "--provider", "openai", "--quiet", "--batch")
    folders = ("-o", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"))
    assert await killed_run("rename", *args, *folders) == 137
    assert server.batches.stats.batches_created == 1
    [created] = server.batches._batches.values()
    for number in range(120):  # batches others made on the account since: the search goes past a page of 100
        server.batches._batches[f"batch_newer{number}"] = replace(created, id=f"batch_newer{number}", metadata=None,
                                                                  created=created.created + 1 + number)  # fmt: skip

    assert await cli(*args, "--wait") == 0
    assert server.batches.stats.batches_created == 1 and server.batches.stats.lists == 2
    assert live_requests(server) == 0
    assert sorted(path.name for path in (tmp_path / "out").glob("*.md")) == ["tricky.de.md", "tricky.fr.md"]
    with sqlite3.connect(tmp_path / "cache" / CACHE_FILE) as db:
        assert db.execute("SELECT id, collected IS NOT NULL FROM batches").fetchall() == [(created.id, 1)]


async def test_a_batch_that_never_reached_openai_is_submitted_again(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path
) -> None:
    args = (str(tricky), "-l", "fr", "--provider", "openai", "--quiet", "--batch")
    folders = ("-o", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"))
    assert await killed_run("_submit", *args, *folders) == 137
    assert server.batches.stats.batches_created == 0
    assert await cli(*args, "--wait") == 0
    assert server.batches.stats.batches_created == 1 and live_requests(server) == 0
    assert [path.name for path in (tmp_path / "out").glob("*.md")] == ["tricky.fr.md"]


async def test_failed_and_expired_chunks_are_translated_interactively(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.batches.fail_count, server.batches.expire_count = 1, 1
    assert await cli(str(tricky), "-l", "fr", "--batch", "--wait") == 0
    assert "2 left to translate interactively" in capsys.readouterr().err
    assert live_requests(server) == 2 and server.batches.stats.batches_created == 1
    interactive = ["-o", str(tmp_path / "live"), "--cache-dir", str(tmp_path / "live-cache")]
    assert await cli(str(tricky), "-l", "fr", *interactive) == 0
    assert outputs(tmp_path / "out") == outputs(tmp_path / "live")


async def test_summary_shows_the_cost_and_what_batch_saved(
    cli: Cli, server: LLMServer, tricky: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLM_PRICE_INPUT", "2")
    monkeypatch.setenv("LLM_PRICE_OUTPUT", "8")
    server.batches.fail_count = 1
    assert await cli(str(tricky), "-l", "fr", "--batch", "--wait") == 0
    out = capsys.readouterr().out
    cost = next(line for line in out.splitlines() if line.startswith("cost: "))
    assert "at 2 input / 8 output per million tokens" in cost and "at half price: saved" in cost
    saved = float(cost.rsplit("saved ", 1)[1].rstrip(")"))
    assert saved > 0


async def test_batch_needs_a_provider_with_a_batch_api(
    cli: Cli, tricky: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli(str(tricky), "-l", "fr", "--provider", "offline", "--batch") == 2
    assert "--batch needs the openai or anthropic provider" in capsys.readouterr().err


async def test_wait_without_batch_is_a_usage_error(cli: Cli, tricky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli(str(tricky), "-l", "fr", "--wait") == 2
    assert "use it with --batch" in capsys.readouterr().err
