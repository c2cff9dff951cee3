"""End to end through the real openai and anthropic SDKs against the loopback LLM server."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from apps.translate import nodes
from apps.translate.cache import TranslationCache
from apps.translate.chunking import split_markdown
from apps.translate.jobs import DEFAULT_CHUNK_TOKENS
from tests.translate.conftest import Cli
from tests.translate.structure import assert_structure_kept
from utils.llm import LLMResult
from utils.llm_server import LLMServer


def unique_chunks(path: Path) -> int:
    """Requests per language for a document: its distinct translatable chunk bodies."""
    segments = split_markdown(path.read_text(encoding="utf-8"), max_tokens=DEFAULT_CHUNK_TOKENS)
    return len({seg.body for seg in segments if seg.translate})


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LLMServer]:
    """A loopback server that both SDKs are pointed at (OpenAI is the provider unless a test says otherwise)."""
    async with LLMServer(ttft=0.01) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.anthropic_base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        yield srv


@pytest.mark.parametrize(("provider", "path"), [("openai", "/v1/chat/completions"), ("anthropic", "/v1/messages")])
async def test_both_wire_formats_write_the_same_files_as_offline(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, provider: str, path: str
) -> None:
    assert await cli(str(tricky), "-l", "fr,ja", "--provider", provider, "--quiet") == 0
    assert server.stats.requests_by_path == {path: 2 * unique_chunks(tricky)}
    offline = ["-o", str(tmp_path / "offline"), "--cache-dir", str(tmp_path / "offline-cache")]
    assert await cli(str(tricky), "-l", "fr,ja", "--provider", "offline", "--quiet", *offline) == 0
    source = tricky.read_text(encoding="utf-8")
    for code in ("fr", "ja"):
        output = (tmp_path / "out" / f"tricky.{code}.md").read_text(encoding="utf-8")
        assert_structure_kept(source, output)
        assert output == (tmp_path / "offline" / f"tricky.{code}.md").read_text(encoding="utf-8")


async def test_failed_chunks_fail_only_their_language_and_a_rerun_pays_only_for_them(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    server.faults.server_error_count = 1  # the first request: the longest chunk, in French (languages in order)
    assert await cli(str(tricky), "-l", "fr,de,es", "--concurrency", "1") == 1
    out = capsys.readouterr()
    assert out.err.count("failed: ") == 1 and "Traceback" not in out.err
    assert "French" in out.err and "- (not written)" in out.out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.md")) == ["tricky.de.md", "tricky.es.md"]

    server.reset_stats()
    assert await cli(str(tricky), "-l", "fr,de,es", "--quiet") == 0
    assert server.stats.requests == 1
    assert (tmp_path / "out" / "tricky.fr.md").exists()


async def test_an_interrupted_run_resumes_paying_only_for_missing_chunks(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path
) -> None:
    server.ttft = 0.05
    total = 4 * unique_chunks(tricky)
    task = asyncio.create_task(cli(str(tricky), "-l", "fr,de,es,ko", "--concurrency", "4", "--quiet"))
    while len(server.stats.translations) < total // 2:  # noqa: ASYNC110 - polling the server's own counters
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with TranslationCache(tmp_path / "cache") as cache:
        cached = len(cache)
    assert 0 < cached < total  # replies still on the wire when cancelled are not cached, and are paid again

    server.reset_stats()
    server.ttft = 0.0
    assert await cli(str(tricky), "-l", "fr,de,es,ko", "--quiet") == 0
    assert server.stats.requests == total - cached


async def test_a_truncated_reply_is_retried_once_then_reported(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.faults.truncate_count = 2  # the first chunk: its first attempt and its retry
    assert await cli(str(tricky), "-l", "fr,de", "--concurrency", "1", "--quiet") == 1
    assert "truncated" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").glob("*.md")) == ["tricky.de.md"]

    server.reset_stats()
    server.faults.truncate_count = 1  # one truncation: the stricter retry gets through
    assert await cli(str(tricky), "-l", "fr,de", "--quiet") == 0
    assert server.stats.requests == 2
    assert_structure_kept(tricky.read_text(encoding="utf-8"), (tmp_path / "out" / "tricky.fr.md").read_text())


async def test_replies_that_drop_code_blocks_cannot_break_the_document(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path
) -> None:
    server.faults.drop_code_blocks = 1.0  # code is never sent, so there is nothing for the model to drop
    assert await cli(str(tricky), "-l", "de", "--quiet") == 0
    assert_structure_kept(tricky.read_text(encoding="utf-8"), (tmp_path / "out" / "tricky.de.md").read_text())


async def test_a_damaged_answer_gets_a_stricter_retry(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    prompts: list[str] = []
    real = nodes.complete_async
    damage = {"left": 1}

    async def dropping_inline_code(prompt: str, **kwargs: object) -> LLMResult:
        prompts.append(prompt)
        result = await real(prompt, **kwargs)  # type: ignore[arg-type]
        if "An introduction with" in prompt and damage["left"]:
            damage["left"] -= 1
            return LLMResult(**{**result.__dict__, "text": result.text.replace("`inline code`", "inline code")})
        return result

    monkeypatch.setattr(nodes, "complete_async", dropping_inline_code)
    assert await cli(str(tricky), "-l", "fr", "--quiet") == 0
    assert sum("rejected because: inline code changed or missing" in p for p in prompts) == 1
    assert_structure_kept(tricky.read_text(encoding="utf-8"), (tmp_path / "out" / "tricky.fr.md").read_text())

    damage["left"] = 2  # the intro chunk's first attempt and retry both damaged: reported, file not written
    assert await cli(str(tricky), "-l", "de", "--quiet") == 1
    assert "inline code changed or missing" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tricky.de.md").exists()


async def test_sequential_and_parallel_write_identical_files(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path
) -> None:
    server.ttft = 0.02
    assert await cli(str(tricky), "-l", "fr,ja", "--quiet", "--concurrency", "8") == 0
    parallel_peak = server.stats.peak_in_flight
    server.reset_stats()
    sequential = ["-o", str(tmp_path / "seq"), "--cache-dir", str(tmp_path / "seq-cache")]
    assert await cli(str(tricky), "-l", "fr,ja", "--quiet", "--sequential", *sequential) == 0
    assert server.stats.peak_in_flight == 1 and parallel_peak > 1
    for name in ("tricky.fr.md", "tricky.ja.md"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "seq" / name).read_bytes()


async def test_dry_run_sends_nothing_and_force_pays_again(cli: Cli, server: LLMServer, tricky: Path) -> None:
    assert await cli(str(tricky), "-l", "fr", "--dry-run") == 0
    assert server.stats.requests == 0
    assert await cli(str(tricky), "-l", "fr", "--quiet") == 0
    assert server.stats.requests == unique_chunks(tricky)
    server.reset_stats()
    assert await cli(str(tricky), "-l", "fr", "--quiet") == 0
    assert server.stats.requests == 0
    assert await cli(str(tricky), "-l", "fr", "--quiet", "--force") == 0
    assert server.stats.requests == unique_chunks(tricky)


async def test_a_rejected_key_is_one_line(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with LLMServer(expected_api_key="the-right-key") as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "a-wrong-key")
        assert await cli(str(tricky), "-l", "fr,de", "--quiet") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "OPENAI_API_KEY" in err
    assert "a-wrong-key" not in err and not (tmp_path / "out").exists()


async def test_an_unreachable_server_is_one_line(
    cli: Cli, tricky: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("LLM_MAX_RETRIES", "1")
    assert await cli(str(tricky), "-l", "fr", "--quiet") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and f"127.0.0.1:{port}" in err
