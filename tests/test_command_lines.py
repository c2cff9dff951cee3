"""Command-line habits the apps share (apps.cli, utils.config): what -v shows, settings checked before any work and
blamed on their source, the command's own name in its usage, and where the benchmarks write."""

from __future__ import annotations

import argparse
import ast
import asyncio
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values

from apps.cli import prog
from apps.translate.__main__ import main as translate_main
from benchmarks import report
from tests.utils.llm_env import clean_llm_env  # noqa: F401  (autouse: no key, no .env, fresh limiters)
from utils import config
from utils.llm_server import Faults, LLMServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _restore_log_levels() -> Iterator[None]:
    """The apps' main() sets logger levels for the process; later tests expect the defaults back."""
    loggers = [logging.getLogger(name) for name in ("apps", "utils", "utils.llm", "pocketflow")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


def use_dotenv_search(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    """As a user runs it: no LLM_DOTENV, so the nearest .env from the working directory upwards is read."""
    monkeypatch.delenv("LLM_DOTENV")
    monkeypatch.chdir(cwd)
    config._dotenv.cache_clear()


def test_a_missing_key_stops_before_any_work_naming_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text("LLM_PROVIDER=openai\n")
    (tmp_path / "doc.md").write_text("# Title\n\nText.\n")
    use_dotenv_search(monkeypatch, tmp_path)
    assert translate_main(["doc.md", "-l", "fr"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "translating" not in err  # one line, no progress bar started
    assert f"chosen by LLM_PROVIDER in {tmp_path / '.env'}" in err and "needs OPENAI_API_KEY" in err
    assert not (tmp_path / "translations").exists() and not (tmp_path / ".cache").exists()


def test_a_bad_number_names_the_file_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("LLM_RPM=lots\n")
    use_dotenv_search(monkeypatch, tmp_path)
    with pytest.raises(config.LLMConfigError, match=f"LLM_RPM must be a number, got 'lots' \\(in {tmp_path}/.env\\)"):
        config.settings("offline")


def test_llm_model_from_a_parent_env_stays_with_its_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text("LLM_PROVIDER=openai\nOPENAI_API_KEY=sk-test\nLLM_MODEL=gpt-custom\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "doc.md").write_text("# Title\n\nText.\n")
    use_dotenv_search(monkeypatch, project)
    assert config.settings().model == "gpt-custom"
    assert config.settings("offline").model == "offline"
    assert config.settings("anthropic").model == config.DEFAULT_MODELS["anthropic"]
    assert translate_main(["doc.md", "-l", "fr", "--provider", "offline", "--cache-dir", "c"]) == 0
    assert "offline/offline:" in capsys.readouterr().out


async def test_verbose_shows_the_env_file_retries_waits_and_pacing(tmp_path: Path) -> None:
    (tmp_path / "doc.md").write_text("# Title\n\nA paragraph.\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_", "ANTHROPIC_"))}
    env["PYTHONPATH"] = str(ROOT)
    async with LLMServer(faults=Faults(rate_limit_count=1, retry_after=0.05)) as server:
        (tmp_path / ".env").write_text(f"OPENAI_BASE_URL={server.base_url}\nLLM_RETRY_BASE=0.01\nLLM_RPM=6000\n")
        outputs = {}
        for flag in ("-v", "-q"):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "apps.translate", "doc.md", "-l", "fr", "--force", flag, cwd=tmp_path, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
            assert proc.returncode == 0, err.decode()
            outputs[flag] = err.decode()
    verbose, quiet = outputs["-v"], outputs["-q"]
    assert f".env file {tmp_path / '.env'} (the nearest one from the working directory upwards)" in verbose
    assert "429" in verbose and "retry 1 of" in verbose  # the retry, with its wait
    assert "pacing" in verbose  # the rate limits in force
    assert ".env file" not in quiet and "retry" not in quiet and "pacing" not in quiet


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        ("/home/u/.venv/bin/pf-translate", "pf-translate"),
        ("/repo/apps/translate/__main__.py", "python -m apps.translate"),
        ("/usr/bin/pytest", "python -m apps.translate"),
    ],
)
def test_usage_names_the_command_as_it_was_run(monkeypatch: pytest.MonkeyPatch, argv0: str, expected: str) -> None:
    monkeypatch.setattr(sys, "argv", [argv0])
    assert prog("apps.translate") == expected


def test_benchmarks_write_to_out_never_to_the_committed_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report, "_out", report.DEFAULT_OUT)
    args = report.parse_args(argparse.ArgumentParser(), [])
    assert args.out == Path("benchmark-results") and not args.out.resolve().is_relative_to(report.RESULTS_DIR)
    chosen = report.parse_args(argparse.ArgumentParser(), ["--out", str(tmp_path / "mine")])
    bars = [report.Bars("t", ["a"], [1.0], "s")]
    written = report.write_report("demo", title="Demo", command="demo", tables=[], charts=bars, data={})
    assert chosen.out == tmp_path / "mine" and written.json.parent == tmp_path / "mine"


def test_the_env_template_documents_every_setting_and_ships_with_the_package(tmp_path: Path) -> None:
    """`python -m utils.config > .env` gives a wheel user the template; every variable utils.config reads is in it."""
    printed = subprocess.run([sys.executable, "-m", "utils.config"], capture_output=True, text=True, check=True,
                             cwd=tmp_path).stdout  # fmt: skip
    assert printed == config.example() and printed.startswith("# Settings of utils/llm.py")
    template = dotenv_values(stream=io.StringIO(printed))
    source = ast.parse(Path(config.__file__).read_text(encoding="utf-8"))
    read = {node.value for node in ast.walk(source) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.isupper() and node.value.startswith(("LLM_", "OPENAI_", "ANTHROPIC_"))}  # fmt: skip
    assert {"LLM_PROVIDER", "LLM_MODEL", "OPENAI_API_KEY", "LLM_RPM"} <= read
    assert read - set(template) == {"LLM_DOTENV"}  # read from the real environment only, documented in a comment
    assert "LLM_DOTENV" in printed
