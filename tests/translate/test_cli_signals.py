"""Signals on the real command: SIGTERM is a clean stop like Ctrl-C, and Ctrl-C while starting prints no traceback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from apps.translate.cache import TranslationCache
from tests.translate.test_cli_server import unique_chunks
from tests.translate.test_interrupt import ROOT, command, start_interruptible
from utils.llm_server import LLMServer


def test_sigterm_stops_cleanly_with_143_and_the_rerun_removes_stale_temp_files(tricky: Path, tmp_path: Path) -> None:
    server = LLMServer(ttft=0.1).start_in_thread()
    try:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key", "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(command(tricky, tmp_path), env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while len(server.stats.translations) < 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 143, err
        assert err.startswith("terminated: finished chunks are cached") and err.count("\n") == 1, err
        with TranslationCache(tmp_path / "cache") as cache:
            cached = len(cache)
        total = 4 * unique_chunks(tricky)
        assert 0 < cached < total

        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        stale = out / ".tricky.fr.md.0123456789ab.tmp"  # what a run killed mid-write (SIGKILL, power cut) leaves
        stale.write_text("half a file")
        unrelated = out / ".notes.md.0123456789ab.tmp"
        unrelated.write_text("not ours")
        server.reset_stats()
        done = subprocess.run(command(tricky, tmp_path), env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert server.stats.requests == total - cached
        assert not stale.exists() and unrelated.exists()
    finally:
        server.stop()


def test_ctrl_c_while_starting_prints_no_traceback(tricky: Path, tmp_path: Path) -> None:
    """Interrupted while its modules load or while it checks its inputs, the command says one line."""
    env = {**os.environ, "LLM_PROVIDER": "offline", "PYTHONPATH": str(ROOT)}
    for delay in (0.1, 0.15, 0.25):  # after the interpreter's own start-up, while ours runs
        proc = start_interruptible([*command(tricky, tmp_path), "--force"], env)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 130, -signal.SIGINT), err  # finished first, or stopped with one line
        assert err.count("\n") <= 1, err


def test_the_quiet_interrupt_hook_is_only_for_commands() -> None:
    """Importing the apps as a library leaves the interpreter's excepthook alone."""
    code = "import sys, apps; print(sys.excepthook is sys.__excepthook__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert done.stdout.strip() == "True", done.stderr
