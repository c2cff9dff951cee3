"""The translate command at the provider boundary under real faults: no traceback, no lost answer, no hang.

Through the real SDKs against the loopback server and, for the key behaviours, against tests/hostile_server.py
(written apart from utils.llm_server), so that the behaviour does not rest on our own server's habits.
"""
from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from apps.translate.cache import CACHE_FILE, TranslationCache
from apps.translate.flow import translate
from apps.translate.jobs import TranslateSettings
from apps.translate.languages import find_language
from tests.hostile_server import HostileServer, silent_port
from tests.translate.conftest import Cli
from tests.translate.test_cli_server import unique_chunks
from utils import llm
from utils.llm_server import LLMServer


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LLMServer]:
    async with LLMServer() as srv:
        point_at(monkeypatch, srv.base_url, srv.anthropic_base_url)
        yield srv


def point_at(monkeypatch: pytest.MonkeyPatch, openai_url: str, anthropic_url: str, *, retries: int = 0) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-key")
    monkeypatch.setenv("LLM_MAX_RETRIES", str(retries))


@contextlib.asynccontextmanager
async def one_fault(monkeypatch: pytest.MonkeyPatch, hostile: bool, kind: str) -> AsyncIterator[None]:
    """Either server, pointed at, its next request failing as `kind` (a HostileServer mode and Faults kind)."""
    if hostile:
        with HostileServer(trickle_delay=0.2) as hs:
            point_at(monkeypatch, hs.openai_url, hs.anthropic_url)
            hs.script.append(kind)
            yield
    else:
        async with LLMServer() as srv:
            point_at(monkeypatch, srv.base_url, srv.anthropic_base_url)
            srv.faults.trickle_delay = 0.2
            setattr(srv.faults, f"{kind}_count", 1)
            yield


def outputs(tmp_path: Path) -> list[str]:
    folder = tmp_path / "out"
    return sorted(p.name for p in folder.glob("*.md")) if folder.exists() else []


def cached(tmp_path: Path) -> int:
    with TranslationCache(tmp_path / "cache") as cache:
        return len(cache)


# --- responses and deadlines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("kind", ["html", "cut", "empty", "null"])
async def test_a_200_without_an_answer_fails_one_chunk_and_is_retried(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    provider: str, kind: str,
) -> None:  # fmt: skip
    with HostileServer() as hs:
        point_at(monkeypatch, hs.openai_url, hs.anthropic_url)
        hs.script.append(kind)  # the first request of the run, which is French (concurrency 1)
        assert await cli(str(tricky), "-l", "fr,de", "--provider", provider, "--concurrency", "1", "--quiet") == 1
        err = capsys.readouterr().err
        assert "failed: " in err and "gave no usable answer on 1 attempt" in err and "Traceback" not in err
        assert outputs(tmp_path) == ["tricky.de.md"]
        assert cached(tmp_path) == 2 * unique_chunks(tricky) - 1  # every answer received is kept

        monkeypatch.setenv("LLM_MAX_RETRIES", "1")
        hs.script.append(kind)
        hs.requests.clear()
        assert await cli(str(tricky), "-l", "fr,de", "--provider", provider, "--quiet") == 0
        assert len(hs.requests) == 2  # the one missing chunk: a broken answer, then a good one
    assert outputs(tmp_path) == ["tricky.de.md", "tricky.fr.md"]


@pytest.mark.parametrize("hostile", [False, True])
async def test_a_trickling_answer_times_out_its_chunk_only(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    hostile: bool,
) -> None:  # fmt: skip
    monkeypatch.setenv("LLM_TIMEOUT", "0.5")
    started = time.monotonic()
    async with one_fault(monkeypatch, hostile, "trickle"):
        status = await cli(str(tricky), "-l", "fr,de", "--concurrency", "1", "--quiet")
    assert status == 1 and time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "timed out (LLM_TIMEOUT=0.5s per request)" in err and err.count("failed: ") == 1
    assert outputs(tmp_path) == ["tricky.de.md"]


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
async def test_an_unusable_llm_timeout_is_a_usage_error_before_any_request(
    cli: Cli, server: LLMServer, tricky: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("LLM_TIMEOUT", value)
    assert await cli(str(tricky), "-l", "fr") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: LLM_TIMEOUT must be") and err.count("\n") == 1
    assert server.stats.requests == 0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_no_quota_stops_the_run_at_once_keeping_every_answer_received(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    provider: str,
) -> None:  # fmt: skip
    with HostileServer() as hs:
        point_at(monkeypatch, hs.openai_url, hs.anthropic_url, retries=4)
        hs.script.extend(["ok", "ok", "ok", "quota"])
        hs.default = "quota"
        assert await cli(str(tricky), "-l", "fr,de", "--provider", provider, "--concurrency", "1", "--quiet") == 1
        assert len(hs.requests) == 4  # not retried, and no other chunk tried after it
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "no quota or credit left" in err and ("plan and billing" in err or "Plans & Billing" in err)
    assert "LLM_MAX_CONCURRENCY" not in err
    assert cached(tmp_path) == 3


async def test_loopback_quota_and_credit_errors_are_one_line(
    cli: Cli, server: LLMServer, tricky: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for provider in ("openai", "anthropic"):
        server.faults.quota_count = 1
        assert await cli(str(tricky), "-l", "fr", "--provider", provider, "--concurrency", "1", "--quiet") == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "no quota or credit left" in err and err.count("\n") == 1


@pytest.mark.parametrize("hostile", [False, True])
async def test_a_dropped_connection_fails_its_chunk_not_the_run(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    hostile: bool,
) -> None:  # fmt: skip
    async with one_fault(monkeypatch, hostile, "drop"):
        status = await cli(str(tricky), "-l", "fr,de", "--concurrency", "1", "--quiet")
    assert status == 1
    err = capsys.readouterr().err
    assert "lost the connection" in err and err.count("failed: ") == 1 and "error: " not in err
    assert outputs(tmp_path) == ["tricky.de.md"]


async def test_a_server_that_goes_down_stops_the_run(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    point_at(monkeypatch, f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port}", retries=1)
    assert await cli(str(tricky), "-l", "fr,de,es", "--quiet") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "could not be reached" in err


async def test_a_server_that_takes_no_connection_stops_the_run(
    cli: Cli, tricky: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with silent_port() as port:
        point_at(monkeypatch, f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("LLM_TIMEOUT", "0.6")
        assert await cli(str(tricky), "-l", "fr,de,es", "--quiet") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "could not be reached" in err


@pytest.mark.parametrize("kind", ["truncate", "null_content"])
async def test_every_token_paid_for_is_counted(
    server: LLMServer, tricky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The first answer is cut off (retried with a bigger budget) or empty (retried as transient): both billed."""
    monkeypatch.setenv("LLM_MAX_RETRIES", "1")
    setattr(server.faults, f"{kind}_count", 1)
    settings = TranslateSettings(files=(tricky,), languages=(find_language("fr"),), out_dir=tmp_path / "out")
    jobs = await translate(settings, max_concurrency=1)
    assert jobs[0].status == "done"
    assert jobs[0].tokens == server.stats.input_tokens + server.stats.output_tokens


# --- files, signals, cache -----------------------------------------------------------------------------------


async def test_an_output_that_is_also_an_input_is_refused_before_any_request(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    human = tmp_path / "tricky.fr.md"
    human.write_text("# Une traduction faite à la main\n", encoding="utf-8")
    assert await cli(str(tricky), str(human), "-l", "fr", "-o", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {human} is an input and would be overwritten by the French translation")
    assert human.read_text(encoding="utf-8") == "# Une traduction faite à la main\n"
    assert server.stats.requests == 0 and not (tmp_path / "tricky.fr.fr.md").exists()


async def test_earlier_translations_among_the_inputs_are_skipped_unless_named_alone(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = tmp_path / "tricky.fr.md"
    earlier.write_text("# Bonjour\n\nUn paragraphe.\n", encoding="utf-8")
    assert await cli(str(tricky), str(earlier), "-l", "de", "--quiet") == 0
    assert f"note: skipping {earlier}" in capsys.readouterr().err
    assert outputs(tmp_path) == ["tricky.de.md"]

    assert await cli(str(earlier), "-l", "de", "--quiet") == 0
    assert outputs(tmp_path) == ["tricky.de.md", "tricky.fr.de.md"]


async def test_inputs_whose_safe_names_collide_are_refused_before_any_request(
    cli: Cli, server: LLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("x:y.md", "x;y.md"):
        (tmp_path / name).write_text("# Title\n\nSome text.\n", encoding="utf-8")
    assert await cli(str(tmp_path / "x:y.md"), str(tmp_path / "x;y.md"), "-l", "fr") == 2
    err = capsys.readouterr().err
    assert "would both be written to" in err and "x_y.fr.md" in err and err.count("\n") == 1
    assert server.stats.requests == 0 and outputs(tmp_path) == []


@pytest.mark.parametrize("kind", ["folder", "fifo"])
async def test_an_input_that_is_no_file_is_named_before_any_request(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    odd = tmp_path / "odd.md"
    if kind == "folder":
        odd.mkdir()
    else:
        os.mkfifo(odd)
    assert await cli(str(tricky), str(odd), "-l", "fr") == 2
    err = capsys.readouterr().err
    expected = "the input is a folder" if kind == "folder" else "the input is not a regular file"
    assert err.startswith(f"error: {expected}") and str(odd) in err and err.count("\n") == 1
    assert server.stats.requests == 0


async def test_an_output_folder_that_is_a_file_is_refused_before_any_request(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("a file")
    for out in ("taken", "taken/sub"):
        assert await cli(str(tricky), "-l", "fr", "-o", str(tmp_path / out)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {tmp_path / 'taken'} is a file, not a folder") and err.count("\n") == 1
    assert server.stats.requests == 0


async def test_a_damaged_cache_is_named_and_rebuilt_on_force(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cache").mkdir()
    damaged = tmp_path / "cache" / CACHE_FILE
    damaged.write_bytes(b"this is not an SQLite database, not even close" * 20)
    assert await cli(str(tricky), "-l", "fr", "--quiet") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the translation cache {damaged} is damaged") and "--force" in err
    assert server.stats.requests == 0

    assert await cli(str(tricky), "-l", "fr", "--quiet", "--force") == 0
    err = capsys.readouterr().err
    (kept,) = (tmp_path / "cache").glob(f"{CACHE_FILE}.damaged-*")
    assert f"moved to {kept}" in err and kept.read_bytes().startswith(b"this is not an SQLite")
    assert cached(tmp_path) == unique_chunks(tricky)


async def test_the_cache_key_includes_the_endpoint(
    cli: Cli, server: LLMServer, tricky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await cli(str(tricky), "-l", "fr", "--quiet") == 0
    async with LLMServer() as other:
        point_at(monkeypatch, other.base_url, other.anthropic_base_url)
        assert await cli(str(tricky), "-l", "fr", "--quiet", "-o", str(tmp_path / "other")) == 0
        assert other.stats.requests == unique_chunks(tricky)  # same provider and model name, another server
    # credentials are no part of the endpoint: the same server with a password in its URL is served from the cache
    server.reset_stats()
    point_at(monkeypatch, server.base_url.replace("http://", "http://u:p4ss@"), server.anthropic_base_url)
    assert await cli(str(tricky), "-l", "fr", "--quiet", "-o", str(tmp_path / "again")) == 0
    assert server.stats.requests == 0


# --- secrets and what the user sees -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_credentials_in_the_base_url_never_reach_the_terminal(
    cli: Cli, tricky: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    with HostileServer("echo_auth") as hs:
        base = hs.openai_url if provider == "openai" else hs.anthropic_url
        url = base.replace("http://", "http://alice:pa55word-xyz@") + "?api-key=query-secret-123"
        point_at(monkeypatch, url, url)
        assert await cli(str(tricky), "-l", "fr", "--provider", provider) == 1
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "bad credentials" in shown  # the server's message is passed on, redacted
    for secret in ("pa55word-xyz", base64.b64encode(b"alice:pa55word-xyz").decode(), "query-secret-123",
                   "sk-test-secret-key", "sk-ant-test-secret-key"):  # fmt: skip
        assert secret not in shown


@pytest.mark.usefixtures("logging_restored")
def test_verbose_log_lines_carry_no_credentials(
    tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.translate.__main__ import main

    with HostileServer("echo_auth") as hs:
        url = hs.openai_url.replace("http://", "http://alice:pa55word-xyz@") + "?api-key=query-secret-123"
        point_at(monkeypatch, url, url, retries=2)
        hs.script.extend(["wait", "drop"])  # two retries logged, then the server's echoes of what it was sent
        argv = [str(tricky), "-l", "fr", "-o", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"), "-v"]
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert "HTTP 429; retry 1 of 2" in err and "connection failed; retry 1 of 2" in err
    assert "bad credentials: Basic ***" in err  # the server's echo of the Authorization header, redacted
    for secret in ("pa55word-xyz", base64.b64encode(b"alice:pa55word-xyz").decode(), "query-secret-123",
                   "sk-test-secret-key"):  # fmt: skip
        assert secret not in err


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """main() sets up logging for the process: undo it, so that other tests see the logging they expect."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in ("apps", "utils", "utils.llm", "utils.llm.wait")}
    yield
    root.handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("logging_restored")
def test_long_waits_are_shown_on_their_own_line(
    tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.translate.__main__ import main

    monkeypatch.setattr(llm, "LONG_WAIT", 0.01)  # instead of a real wait of several seconds
    with HostileServer(retry_after=1) as hs:
        point_at(monkeypatch, hs.openai_url, hs.anthropic_url, retries=1)
        hs.script.append("wait")
        status = main([str(tricky), "-l", "fr", "-o", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")])
    assert status == 0
    err = capsys.readouterr().err
    assert "\nopenai/gpt-5.4-mini: rate-limited, waiting 0 s\n" in "\n" + err
    assert "\r" not in err  # no progress bar redrawn into a pipe


def test_the_progress_bar_is_drawn_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.translate.report import BarProgress

    class Terminal:
        def __init__(self, tty: bool) -> None:
            self.tty, self.text = tty, ""

        def isatty(self) -> bool:
            return self.tty

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    for tty in (False, True):
        terminal = Terminal(tty)
        monkeypatch.setattr("sys.stderr", terminal)
        bar = BarProgress()
        bar.start(10, 0)
        bar.advance(3, 100)
        bar.close()
        assert ("translating" in terminal.text) is tty
