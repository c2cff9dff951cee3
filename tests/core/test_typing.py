"""Types for users: subclasses may name hook parameters freely, and the public API is fully typed for pyright."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pocketflow

USER_CODE = '''
from typing import Any
from pocketflow import AsyncNode, AsyncParallelBatchNode, Flow, Node, Tracer, BaseNode


class Upstreamish(Node):  # parameter names as in upstream's own tests and cookbook
    def prep(self, shared_storage: dict[str, Any]) -> int:
        return 1

    def exec(self, prep_result: int) -> int:
        return prep_result

    def exec_fallback(self, prep_result: int, error: Exception) -> int:
        return 0

    def post(self, shared_storage: dict[str, Any], prep_result: int, exec_result: int) -> str:
        return "done"


class Async(AsyncParallelBatchNode):
    async def prep_async(self, store: dict[str, Any]) -> list[int]:
        return [1]

    async def exec_async(self, number: int) -> int:
        return number

    async def post_async(self, store: dict[str, Any], numbers: list[int], doubled: list[int]) -> None:
        return None


class Progress(Tracer):
    def on_item_done(self, step: BaseNode, finished: int, errors: int, of: int) -> None:
        return None


Flow(start=Upstreamish())
'''


@pytest.fixture
def site(tmp_path):
    """A folder holding only pocketflow, for checkers that can't follow the editable install's import hook."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "pocketflow").symlink_to(Path(pocketflow.__file__).parent)
    return tmp_path / "site"


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "user_nodes.py"
    path.write_text(USER_CODE)
    return path


def env(**extra):
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **extra}


def test_mypy_accepts_hooks_with_the_users_own_parameter_names(user_file, site):
    pytest.importorskip("mypy")
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user_file)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=user_file.parent, env=env(MYPYPATH=str(site)))
    assert done.returncode == 0, done.stdout


def pyright():
    found = shutil.which("pyright") or str(Path(sys.executable).with_name("pyright"))
    if not Path(found).exists():
        pytest.skip("pyright not installed")
    return found


def test_pyright_accepts_hooks_with_the_users_own_parameter_names(user_file, site):
    command = [pyright(), "--pythonpath", sys.executable, "--outputjson", str(user_file)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=user_file.parent, env=env(PYTHONPATH=str(site)))
    report = json.loads(done.stdout)
    assert report["summary"]["errorCount"] == 0, [d["message"] for d in report["generalDiagnostics"]]


def test_public_api_type_completeness_is_at_least_90_percent(site):
    done = subprocess.run([pyright(), "--pythonpath", sys.executable, "--verifytypes", "pocketflow"],
                          capture_output=True, text=True, cwd=site.parent, env=env(PYTHONPATH=str(site)))  # fmt: skip
    score = re.search(r"Type completeness score: ([\d.]+)%", done.stdout)
    assert score and float(score.group(1)) >= 90, done.stdout[-3000:]
