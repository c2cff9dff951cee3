"""Every Python block of the README runs as shown, offline: the LLM calls go to the loopback server on 127.0.0.1
through the real SDKs, and the blocks run in order in one fresh interpreter, as a reader pasting them would."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from apps.image_filters.__main__ import build_parser as image_filters_parser
from apps.image_filters.filters import parse_filter_specs
from apps.translate.__main__ import _parser as translate_parser
from apps.translate.languages import parse_languages
from utils.llm_server import LLMServer

ROOT = Path(__file__).resolve().parent.parent
RUN_BLOCKS = """
import json, sys
namespace = {"__name__": "__main__"}
for line, code in json.loads(sys.stdin.read()):
    exec(compile(code, f"README.md, block at line {line}", "exec"), namespace)
"""


def python_blocks() -> list[tuple[int, str]]:
    tokens = MarkdownIt().parse((ROOT / "README.md").read_text(encoding="utf-8"))
    return [(token.map[0] + 1 if token.map else 0, token.content) for token in tokens
            if token.type == "fence" and token.info.strip() == "python"]  # fmt: skip


def server_env(server: LLMServer) -> dict[str, str]:
    """Both providers pointed at the loopback server; no key or .env of the machine's reaches the run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_", "ANTHROPIC_"))}
    env.update(OPENAI_API_KEY="test", OPENAI_BASE_URL=server.base_url, ANTHROPIC_API_KEY="test",
               ANTHROPIC_BASE_URL=server.anthropic_base_url, LLM_DOTENV="", PYTHONWARNINGS="default")  # fmt: skip
    return env


async def run_python(args: list[str], stdin: str, env: dict[str, str]) -> tuple[int, str, str]:
    """A subprocess that doesn't block the loop the server runs on."""
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(sys.executable, *args, cwd=ROOT, env=env, stdin=pipe, stdout=pipe,
                                                stderr=pipe)  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_the_readme_has_the_blocks_this_test_expects() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 4
    assert any("asyncio.run(main())" in code and "complete_async" in code for _, code in blocks)
    assert not any(line.startswith(("await ", "text = await")) for _, code in blocks for line in code.splitlines())


async def test_every_python_block_runs_as_shown() -> None:
    async with LLMServer() as server:
        status, out, err = await run_python(["-c", RUN_BLOCKS], json.dumps(python_blocks()), server_env(server))
        requests = server.stats.requests
    assert status == 0, err
    assert "Traceback" not in err and "Task was destroyed" not in err and "never awaited" not in err, err
    assert "'README.md': 'Echo: Summarize:" in out  # the parallel-flow example's summaries, from the server
    assert "PerFile: 1/1 done, 0 failed" in out and "flowchart" in out
    assert "Echo: Say hi" in out  # call_llm_async, then complete_async through the Anthropic SDK
    assert requests >= 5


async def test_the_asyncio_repl_exits_cleanly_after_a_real_call() -> None:
    typed = (
        "from utils.llm import call_llm_async\n"
        'await call_llm_async("Say hi")\n'
        'await call_llm_async("Say hi", provider="anthropic")\n'
    )
    async with LLMServer() as server:
        status, out, err = await run_python(["-m", "asyncio"], typed, server_env(server))
    assert status == 0, err
    assert out.count("'Echo: Say hi'") == 2, out + err  # the results the REPL echoes
    assert "exiting asyncio REPL" in err
    assert "Task was destroyed" not in err and "Exception ignored" not in err and "Traceback" not in err, err


def app_commands() -> list[tuple[str, list[str]]]:
    """Every app command line shown in the READMEs' code blocks: (app, arguments), comments and `.venv/bin/` cut."""
    found = []
    for readme in (ROOT / "README.md", ROOT / "apps" / "image_filters" / "README.md"):
        for token in MarkdownIt().parse(readme.read_text(encoding="utf-8")):
            if token.type not in ("code_block", "fence") or token.info.strip() == "python":
                continue
            for line in token.content.splitlines():
                for part in line.split("#", 1)[0].split("&&"):
                    words = shlex.split(part.replace(".venv/bin/", ""))
                    for app, start in (("translate", 3), ("image_filters", 3), ("pf-translate", 1),
                                       ("pf-image-filters", 1)):  # fmt: skip
                        command = ["python", "-m", f"apps.{app}"] if start == 3 else [app]
                        if words[:start] == command:
                            found.append((app.removeprefix("pf-").replace("-", "_"), words[start:]))
    return found


def test_every_app_command_in_the_readmes_parses() -> None:
    """Options shown in the docs exist: each command line goes through the app's own argument parser."""
    parsers = {"translate": translate_parser, "image_filters": image_filters_parser}
    commands = app_commands()
    assert {app for app, _ in commands} == set(parsers) and len(commands) >= 8
    for app, arguments in commands:
        if "--help" in arguments:
            continue
        args = parsers[app]().parse_args(arguments)  # exits (a test failure) on an unknown option or a bad value
        if app == "translate":
            parse_languages(args.languages)
        else:
            parse_filter_specs(args.filters)


@pytest.mark.parametrize("block", [code for _, code in python_blocks()][:1])
def test_the_first_example_needs_nothing_but_pocketflow(block: str) -> None:
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["shared"] == {"name": "Ada", "greeting": "Hello, Ada"}
