"""Each way a model gets a Markdown translation wrong, served by the loopback server (utils.llm_translators) to
the real `openai` SDK on a corpus document: it is caught, the language gets no file (or a correct one), the exit
status is 1, nothing wrong is cached, and a rerun against an honest server writes the correct file. And cached
answers written under an older validator are checked again when read, so a validator fix repairs old caches.
"""
from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from apps.translate.cache import CACHE_FILE
from apps.translate.validate import MIN_LETTERS_FOR_ECHO as MIN_LETTERS
from apps.translate.validate import VALIDATOR_VERSION
from tests.translate.conftest import Cli
from tests.translate.independent import differences
from utils.llm_server import LLMServer
from utils.llm_translators import TRANSLATORS

DOCUMENT = Path(__file__).parent / "corpus" / "node-api-corepack.md"  # code spans, inline and reference links
CHUNK_TOKENS = "300"  # several chunks, so some fail and the others are cached
ARGS = ("-l", "de", "--provider", "openai", "--chunk-tokens", CHUNK_TOKENS, "--quiet")


@pytest.fixture
def document(tmp_path: Path) -> Path:
    return Path(shutil.copy(DOCUMENT, tmp_path / DOCUMENT.name))


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LLMServer]:
    async with LLMServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield srv


async def _expected(cli: Cli, document: Path, tmp_path: Path) -> bytes:
    """What a correct run writes: the offline provider answers with the same pseudo-localizer."""
    args = ["-o", str(tmp_path / "offline"), "--cache-dir", str(tmp_path / "offline-cache")]
    assert await cli(str(document), "-l", "de", "--provider", "offline", "--chunk-tokens", CHUNK_TOKENS, *args) == 0
    return (tmp_path / "offline" / "node-api-corepack.de.md").read_bytes()


@pytest.mark.parametrize("mode", [mode for mode in TRANSLATORS if mode not in ("faithful", "think")])
async def test_a_misbehaving_model_is_caught_and_nothing_wrong_is_kept(
    cli: Cli, server: LLMServer, document: Path, tmp_path: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = await _expected(cli, document, tmp_path)
    output = tmp_path / "out" / "node-api-corepack.de.md"
    server.translator = mode
    code = await cli(str(document), *ARGS)
    assert code == 1
    assert not output.exists()
    err = capsys.readouterr().err
    assert "failed: " in err and "Traceback" not in err
    failed = server.stats.requests // 2  # each failing chunk was asked twice: the answer and the stricter retry
    assert (tmp_path / "cache" / CACHE_FILE).exists()

    server.translator = "faithful"
    server.reset_stats()
    assert await cli(str(document), *ARGS) == 0
    written = output.read_text(encoding="utf-8")
    if mode == "echo":  # a chunk too short to tell (a name such as "# Corepack") may stay as it is
        source = document.read_text(encoding="utf-8").split("\n")
        for line, want, was in zip(written.split("\n"), expected.decode().split("\n"), source, strict=True):
            assert line == want or (line == was and sum(ch.isalpha() for ch in was) < MIN_LETTERS), line
    else:
        assert written.encode() == expected  # no wrong answer came back from the cache
    assert differences(document.read_text(encoding="utf-8"), output.read_text(encoding="utf-8")) == []
    assert 0 < server.stats.requests <= failed + 1


async def test_a_leading_reasoning_block_is_stripped_and_the_file_is_correct(
    cli: Cli, server: LLMServer, document: Path, tmp_path: Path
) -> None:
    expected = await _expected(cli, document, tmp_path)
    server.translator = "think"
    assert await cli(str(document), *ARGS) == 0
    assert (tmp_path / "out" / "node-api-corepack.de.md").read_bytes() == expected


def _rows(cache: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(cache / CACHE_FILE) as db:
        return [(str(k), str(t), str(v)) for k, t, v in db.execute("SELECT key, translation, validator FROM chunks")]


async def test_old_cached_answers_are_checked_again_and_only_the_wrong_one_is_paid_again(
    cli: Cli, server: LLMServer, document: Path, tmp_path: Path
) -> None:
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
