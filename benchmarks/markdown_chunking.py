"""How long the translate app's Markdown work takes on 2 MB documents, beside a bare markdown-it-py parse.

Run: python -m benchmarks.markdown_chunking [--repeat N]. Writes markdown_chunking.{json,md,png} to --out.

Inputs are built from the checked-in corpus (tests/translate/corpus, real documents from installed packages):
the aws-sdk-go CHANGELOG (1 MB, all lists and headings) repeated to 2 MB, and every corpus file joined (2 MB of
READMEs, API docs and changelogs with code, HTML, tables and footnotes). For each: split_markdown (the chunker:
one parse, line maps, packing), a bare CommonMark parse of the same text with markdown-it-py for comparison,
and the offline pseudo-translation plus validation of every chunk (what one language costs without a model).
Target: the chunker handles a 2 MB document in under 10 s.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from markdown_it import MarkdownIt

from apps.translate.chunking import split_markdown
from apps.translate.jobs import DEFAULT_CHUNK_TOKENS
from apps.translate.validate import check_translation, strip_definitions
from benchmarks.report import Bars, Table, Verdict, console_text, parse_args, write_report
from utils.pseudo import pseudo_localize

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "translate" / "corpus"
TARGET_SECONDS = 10.0
SIZE = 2_000_000


def documents() -> dict[str, str]:
    changelog = (CORPUS / "aws-sdk-go-CHANGELOG.md").read_text(encoding="utf-8")
    joined = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.md")) if p.name != "SOURCES.md")
    return {
        "aws-sdk-go CHANGELOG, repeated": (changelog * (SIZE // len(changelog) + 1))[: SIZE + len(changelog) // 2],
        "whole corpus, joined": (joined * (SIZE // len(joined) + 1))[:SIZE],
    }


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def translate_offline(text: str) -> int:
    """Pseudo-translate and validate every chunk into one language; returns the chunks that failed (0)."""
    failed = 0
    for seg in split_markdown(text, max_tokens=DEFAULT_CHUNK_TOKENS):
        if seg.translate and seg.style == "markdown":
            sent = f"{seg.body}\n\n{seg.definitions}" if seg.definitions else seg.body
            answer = pseudo_localize(sent, "French")
            if seg.definitions:  # as apps.translate.nodes does: the definitions sent along are not kept
                answer = strip_definitions(answer, seg.definitions)
            failed += bool(check_translation(seg.body, answer, language_code="fr", definitions=seg.definitions))
    return failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.markdown_chunking", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each step; the best is kept")
    args = parse_args(parser, argv)
    bare = MarkdownIt("commonmark").enable("table")
    rows: list[list[object]] = []
    verdicts: list[Verdict] = []
    chunker_times: list[float] = []
    names = list(documents())
    for name, text in documents().items():
        megabytes = len(text.encode("utf-8")) / 1e6
        chunks = sum(seg.translate for seg in split_markdown(text, max_tokens=DEFAULT_CHUNK_TOKENS))
        parse = best_of(args.repeat, partial(bare.parse, text))
        chunk = best_of(args.repeat, partial(split_markdown, text, max_tokens=DEFAULT_CHUNK_TOKENS))
        start = time.perf_counter()
        failed = translate_offline(text)
        offline = time.perf_counter() - start
        rows.append([name, f"{megabytes:.2f}", chunks, parse, chunk, f"{chunk / parse:.2f}x", offline, failed])
        chunker_times.append(chunk)
        verdicts.append(
            Verdict(f"{name}: chunker under {TARGET_SECONDS:g} s", chunk < TARGET_SECONDS, f"{chunk:.2f} s")
        )
        verdicts.append(Verdict(f"{name}: every pseudo-translated chunk passes validation", failed == 0,
                                f"{failed} of {chunks} failed"))  # fmt: skip
    headers = ["document", "MB", "chunks", "bare parse s", "chunker s", "chunker / parse", "offline fr s", "failed"]
    tables = [Table("2 MB documents", headers, rows)]
    charts = [Bars("chunker, 2 MB", [n.split(",")[0] for n in names], chunker_times, "seconds",
                   reference=TARGET_SECONDS, reference_label=f"target {TARGET_SECONDS:g} s")]  # fmt: skip
    notes = [
        f"best of {args.repeat} runs for the bare parse and the chunker; one run for the offline translation",
        "bare parse: markdown-it-py CommonMark + tables, no plugins, tokens only",
        "chunker: apps.translate.chunking.split_markdown with the default budget of "
        f"{DEFAULT_CHUNK_TOKENS} tokens (parse with plugins, line maps, packing, definitions per chunk)",
        "offline fr: utils.pseudo.pseudo_localize and apps.translate.validate.check_translation for every chunk",
    ]
    paths = write_report("markdown_chunking", title="Markdown chunking on 2 MB documents",
                         command="python -m benchmarks.markdown_chunking", tables=tables, charts=charts,
                         data={"rows": rows}, notes=notes, verdicts=verdicts)  # fmt: skip
    print(console_text(tables, verdicts))
    print(f"\nwrote {paths.json}, {paths.markdown}, {paths.chart}")


if __name__ == "__main__":
    main()
