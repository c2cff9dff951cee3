"""Ctrl-C on the real command: one line, exit 130, finished chunks kept for the next run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from apps.translate.cache import TranslationCache
from tests.translate.test_cli_server import unique_chunks
from utils.llm_server import LLMServer

ROOT = Path(__file__).resolve().parents[2]


def command(tricky: Path, tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "apps.translate", str(tricky), "-l", "fr,de,es,ko", "-o", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache"), "--concurrency", "2", "--quiet"]  # fmt: skip


def start_interruptible(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `argv` with SIGINT handled: a shell's background job (`pytest &`) inherits SIGINT ignored."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # handlers are reset to default across exec
    try:
        return subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_exits_130_and_the_rerun_pays_only_for_missing_chunks(tricky: Path, tmp_path: Path) -> None:
    server = LLMServer(ttft=0.1).start_in_thread()
    try:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key", "PYTHONPATH": str(ROOT)}
        proc = start_interruptible(command(tricky, tmp_path), env)
        deadline = time.monotonic() + 30
        while len(server.stats.translations) < 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert err.startswith("interrupted: finished chunks are cached") and err.count("\n") == 1, err
        with TranslationCache(tmp_path / "cache") as cache:
            cached = len(cache)
        total = 4 * unique_chunks(tricky)
        assert 0 < cached < total

        server.reset_stats()
        done = subprocess.run(command(tricky, tmp_path), env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert server.stats.requests == total - cached
        assert len(list((tmp_path / "out").glob("*.md"))) == 4
    finally:
        server.stop()
