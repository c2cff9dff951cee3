"""The translate app on real Markdown that nobody on the project wrote (tests/translate/corpus, see SOURCES.md).

Every file goes through the command line in-process, offline into three languages (one in a non-Latin script)
and through the loopback server's faithful translator with the real `openai` SDK; each output is then compared
with its source by tests/translate/independent.py, which walks markdown-it-py tokens on its own (not the app's
validator): code blocks, code spans, link and image targets and the block structure must be identical.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from apps.translate.__main__ import main as cli_main
from tests.translate.conftest import Cli
from tests.translate.independent import differences
from utils.llm_server import LLMServer
from utils.markdown import inline_spans, normalize, parse_with_spans

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(path for path in CORPUS.glob("*.md") if path.name != "SOURCES.md")
LANGUAGES = ("fr", "ja", "ru")  # Japanese and Russian: non-Latin scripts

log = logging.getLogger(__name__)


def _features(path: Path) -> set[str]:
    raw = path.read_bytes()
    found = {"BOM"} if raw.startswith(b"\xef\xbb\xbf") else set()
    if b"\r\n" in raw:
        found.add("CRLF")
    tokens, env = parse_with_spans(normalize(raw.decode("utf-8")))
    for token in tokens:
        found.add(token.type.removesuffix("_open"))
        if token.type == "inline":
            found.update(link.kind + " link" for link in inline_spans(env, token).links)
            found.update(child.type for child in token.children or ())
    return found


def _compare(pair: tuple[Path, Path]) -> tuple[str, list[str]]:
    source, output = pair
    if not output.exists():
        return output.name, ["not written"]
    source_text = source.read_bytes().decode("utf-8")  # bytes: no newline translation
    output_text = output.read_bytes().decode("utf-8")
    found = differences(source_text, output_text)
    if output_text == source_text:
        found.append("the output is the source, untranslated")
    if output_text.startswith("\ufeff") != source_text.startswith("\ufeff"):
        found.append("BOM added or lost")
    for eol in ("\r\n", "\n"):
        if output_text.count(eol) != source_text.count(eol):
            found.append(f"{eol!r} line endings: {source_text.count(eol)} in the source, {output_text.count(eol)} out")
    return output.name, found


def _compare_all(pairs: list[tuple[Path, Path]]) -> dict[str, list[str]]:
    """Independent comparisons of (source, output) pairs, on both cores."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        return {name: found for name, found in pool.map(_compare, pairs, chunksize=4) if found}


def test_the_corpus_is_real_varied_and_documented() -> None:
    assert len(FILES) >= 30
    assert max(path.stat().st_size for path in FILES) > 1_000_000
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| (\S+\.md) \|", sources, re.MULTILINE))
    assert listed == {path.name for path in FILES}
    features = set().union(*(_features(path) for path in FILES))
    # Display math: markdown-it-texmath's test file has `$$` blocks; pymdown-extensions' Arithmatex page has
    # `$$ ... $$` and `\frac` inside a paragraph, which dollar math reads as inline math.
    wanted = {
        "footnote_reference", "footnote_ref", "full link", "collapsed link", "shortcut link", "inline link",
        "code_block", "fence", "html_block", "table", "math_inline", "math_block", "CRLF", "BOM", "code_inline",
    }  # fmt: skip
    assert wanted <= features, wanted - features


def _halves() -> list[list[Path]]:
    """The corpus in two halves of about the same size (the largest file alone is about half of it)."""
    halves: list[list[Path]] = [[], []]
    sizes = [0, 0]
    for path in sorted(FILES, key=lambda p: -p.stat().st_size):
        i = sizes.index(min(sizes))
        halves[i].append(path)
        sizes[i] += path.stat().st_size
    return halves


async def _cli_on_both_cores(tmp_path: Path, *options: str) -> list[int]:
    """The command line run on each half of the corpus at once, one process per core (same out and cache)."""
    loop = asyncio.get_running_loop()
    common = [*options, "--quiet", "-o", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = [loop.run_in_executor(pool, cli_main, [*map(str, half), *common]) for half in _halves()]
        return list(await asyncio.gather(*runs))


async def test_the_whole_corpus_translates_offline_into_three_languages(tmp_path: Path) -> None:
    started = time.perf_counter()
    codes = await _cli_on_both_cores(tmp_path, "-l", ",".join(LANGUAGES), "--provider", "offline")
    seconds = time.perf_counter() - started
    log.warning("corpus offline: %d files x %d languages in %.1f s", len(FILES), len(LANGUAGES), seconds)
    assert codes == [0, 0]
    pairs = [(path, tmp_path / "out" / f"{path.stem}.{lang}.md") for path in FILES for lang in LANGUAGES]
    assert _compare_all(pairs) == {}


async def test_the_corpus_through_the_loopback_server_with_the_openai_sdk(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with LLMServer(translator="faithful") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        started = time.perf_counter()
        codes = await _cli_on_both_cores(tmp_path, "-l", "ru", "--provider", "openai", "--concurrency", "16")
        log.warning("corpus via openai SDK: %d requests in %.1f s", server.stats.requests,
                    time.perf_counter() - started)  # fmt: skip
    assert codes == [0, 0]
    assert server.stats.responses_by_status == {200: server.stats.requests}
    pairs = [(path, tmp_path / "out" / f"{path.stem}.ru.md") for path in FILES]
    assert _compare_all(pairs) == {}
    small = [path for path in FILES if path.stat().st_size < 100_000]
    offline = ["-o", str(tmp_path / "offline"), "--cache-dir", str(tmp_path / "offline-cache")]
    assert await cli(*map(str, small), "-l", "ru", "--provider", "offline", "--quiet", *offline) == 0
    for path in small:  # the faithful translator is the pseudo-localizer: the same bytes as offline
        name = f"{path.stem}.ru.md"
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "offline" / name).read_bytes(), name
