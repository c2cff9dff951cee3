"""Cached answers on a corpus document: a cached answer is validated again when read under another validator
version (so a validator fix repairs an old cache), and one stamped with the current version is trusted."""
from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from apps.translate.cache import CACHE_FILE
from apps.translate.validate import VALIDATOR_VERSION
from tests.translate.conftest import Cli
from utils.llm_server import LLMServer

DOCUMENT = Path(__file__).parent / "corpus" / "node-api-corepack.md"
ARGS = ("-l", "de", "--provider", "openai", "--chunk-tokens", "300", "--quiet")


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LLMServer]:
    async with LLMServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield srv


def _rows(cache: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(cache / CACHE_FILE) as db:
        return [(str(k), str(t), str(v)) for k, t, v in db.execute("SELECT key, translation, validator FROM chunks")]


async def test_old_cached_answers_are_checked_again_and_only_the_wrong_one_is_paid_again(
    cli: Cli, server: LLMServer, tmp_path: Path
) -> None:
    document = Path(shutil.copy(DOCUMENT, tmp_path / DOCUMENT.name))
    assert await cli(str(document), *ARGS) == 0
    output = tmp_path / "out" / "node-api-corepack.de.md"
    correct = output.read_bytes()
    rows = _rows(tmp_path / "cache")
    assert len(rows) >= 3 and {v for _, _, v in rows} == {VALIDATOR_VERSION}
    # An old cache: every answer stamped by an earlier validator, one of them wrong in a way it let through.
    broken_key, broken = next((k, t) for k, t, _ in rows if "`" in t)
    with sqlite3.connect(tmp_path / "cache" / CACHE_FILE) as db:
        db.execute("UPDATE chunks SET validator = 'structure-v0'")
        db.execute("UPDATE chunks SET translation = ? WHERE key = ?", (broken.replace("`", ""), broken_key))
    output.unlink()

    server.reset_stats()
    assert await cli(str(document), *ARGS) == 0
    assert server.stats.requests == 1  # only the wrong answer is translated again
    assert output.read_bytes() == correct
    assert {v for _, _, v in _rows(tmp_path / "cache")} == {VALIDATOR_VERSION}

    server.reset_stats()  # stamped with the current version: read back as they are, nothing is asked
    assert await cli(str(document), *ARGS) == 0
    assert server.stats.requests == 0 and output.read_bytes() == correct
