"""`python -m apps.translate [files] -l fr,de,ja -o translations/`: translate Markdown into many languages at once.

Output: `<out>/<stem>.<code><suffix>` (README.md in French -> translations/README.fr.md). A language with a failed
chunk gets no file (a previous complete file, if any, is left as it was); its finished chunks stay cached, so
rerunning pays only for what failed. Exit status: 0 everything written, 1 some language failed, an input could
not be read or the run stopped on an error, 2 usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from apps.cli import add_standard_options, prog, quiet_on_broken_pipe, setup_logging
from apps.translate.batch import BatchOutcome, batch_text, cost_line, run_batches
from apps.translate.cache import CACHE_FILE, CacheError, TranslationCache
from apps.translate.flow import create_translate_flow
from apps.translate.jobs import (
    DEFAULT_CHUNK_TOKENS,
    InputError,
    Job,
    PathError,
    TranslateSettings,
    check_outputs,
    input_problem,
    output_folder_problem,
    previous_translations,
)
from apps.translate.languages import DEFAULT_LANGUAGES, UnknownLanguageError, parse_languages
from apps.translate.outputs import own_outputs
from apps.translate.report import BarProgress, plan_text, summary_table, usage_line
from utils.config import PROVIDERS, check, env
from utils.config import settings as llm_settings
from utils.llm import (
    LLMConfigError,
    LLMError,
    aclose_clients,
    configure,
    reset_usage,
    usage_totals,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_TERMINATED = 128 + signal.SIGTERM


class UsageError(ValueError):
    """A command-line mistake: reported as one line, exit status 2."""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog("apps.translate"),
        description="Translate Markdown files into many languages at once, keeping the Markdown intact.",
        epilog="Output files are <out>/<stem>.<language-code><suffix>, e.g. translations/README.fr.md.",
    )
    parser.add_argument("files", nargs="*", default=["README.md"], help="Markdown files (default: README.md)")
    default_codes = ",".join(lang.code for lang in DEFAULT_LANGUAGES)
    parser.add_argument("-l", "--languages", default=default_codes,
                        help=f"comma-separated English names or ISO codes (default: {default_codes})")
    parser.add_argument("-o", "--out", default="translations", help="output folder (default: translations/)")
    parser.add_argument("--provider", choices=PROVIDERS,
                        help="LLM provider (default: LLM_PROVIDER, else the one whose key is set, else offline)")
    parser.add_argument("--model", help="model name (default: LLM_MODEL or the provider's default)")
    parser.add_argument("--concurrency", type=_positive, help="chunks in flight at once (default: LLM_MAX_CONCURRENCY)")
    parser.add_argument("--rpm", type=_positive, help="requests per minute limit (default: LLM_RPM, none)")
    parser.add_argument("--chunk-tokens", type=_positive, default=DEFAULT_CHUNK_TOKENS,
                        help=f"token budget per chunk (default: {DEFAULT_CHUNK_TOKENS})")
    parser.add_argument("--front-matter-keys", default="",
                        help="front matter keys whose values are translated, e.g. title,description "
                             "(default: none; front matter is kept as is)")
    parser.add_argument("--cache-dir", default=".cache/translate",
                        help="where finished chunks are cached (default: .cache/translate)")
    parser.add_argument("--sequential", action="store_true", help="translate one chunk at a time (for comparison)")
    parser.add_argument("--force", action="store_true", help="ignore cached chunks (the cache is still refreshed)")
    parser.add_argument("--dry-run", action="store_true",
                        help="show chunks, requests and estimated tokens; send nothing")
    parser.add_argument("--batch", action="store_true",
                        help="send the chunks not cached yet as one provider batch (half price, answered within "
                             "24 h); the same command collects it later")
    parser.add_argument("--wait", action="store_true", help="with --batch: poll until the batch has ended")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar or summary table (errors still shown)")
    add_standard_options(parser, verbose="log retries, waits, rate pacing and which .env file was read")
    return parser  # fmt: skip


def settings_from(args: argparse.Namespace) -> tuple[TranslateSettings, list[Path]]:
    """Check the arguments against the file system and the language table, before any request: the settings and
    the inputs skipped as translations of other inputs. Raises UsageError."""
    files: dict[Path, Path] = {}  # resolved -> as given: one file named twice is translated once
    for name in args.files:
        path = Path(name)
        if problem := input_problem(path):
            raise UsageError(f"{problem}: {name}")
        files.setdefault(path.resolve(), path)
    try:
        languages = parse_languages(args.languages)
    except UnknownLanguageError as exc:
        raise UsageError(str(exc)) from None
    if args.chunk_tokens < 16:
        raise UsageError("--chunk-tokens must be at least 16")
    if args.wait and not args.batch:
        raise UsageError("--wait waits for a batch: use it with --batch")
    if problem := output_folder_problem(Path(args.out)):
        raise UsageError(problem)
    skipped = previous_translations(list(files.values()))
    inputs = [path for path in files.values() if path not in skipped]
    try:
        check_outputs(inputs, languages, Path(args.out), named=files.values(), own=own_outputs(Path(args.out)))
    except PathError as exc:
        raise UsageError(str(exc)) from None
    return TranslateSettings(
        files=tuple(inputs),
        languages=tuple(languages),
        out_dir=Path(args.out),
        provider=args.provider,
        model=args.model,
        chunk_tokens=args.chunk_tokens,
        front_matter_keys=frozenset(key.strip() for key in args.front_matter_keys.split(",") if key.strip()),
        force=args.force,
        dry_run=args.dry_run,
    ), skipped


def _report_failures(jobs: Sequence[Job]) -> None:
    """One stderr line per failed chunk (numbered as in the document, with its first words) or failed file."""
    for job in jobs:
        segments = job.document.segments
        for failure in job.failures:
            number = sum(seg.translate for seg in segments[: failure.segment]) + 1
            start = segments[failure.segment].body.split("\n", 1)[0][:40]
            print(
                f"failed: {job.document.path} [{job.language.name}] chunk {number}/{job.total} "
                f"({start!r}): {failure.reason}",
                file=sys.stderr,
            )
        if job.status == "failed" and not job.failures:
            print(f"failed: {job.document.path} [{job.language.name}]: {job.error}", file=sys.stderr)


async def run(args: argparse.Namespace) -> int:
    """Run the translation for parsed arguments; returns the exit status (usage errors included)."""
    try:
        settings, skipped = settings_from(args)
        configure(max_concurrency=args.concurrency, rpm=args.rpm)
        # Before any work: a missing key fails here, naming its source, not after the progress bar has started.
        provider = (llm_settings if args.dry_run else check)(settings.provider, settings.model).provider
    except (UsageError, LLMConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if provider == "offline" and settings.provider is None and not env("LLM_PROVIDER"):  # chosen for lack of a key
        print(
            "note: no LLM provider configured, so the offline provider pseudo-localizes instead of translating "
            "(set OPENAI_API_KEY or ANTHROPIC_API_KEY for real translations)",
            file=sys.stderr,
        )
    for path in skipped:
        print(f"note: skipping {path}, a translation of another input (name it alone to translate it)", file=sys.stderr)
    reset_usage()
    cache_dir = Path(args.cache_dir)
    progress = None if args.quiet or args.dry_run else BarProgress()
    shared: dict[str, object] = {"settings": settings, "progress": progress}
    flow = create_translate_flow(sequential=args.sequential, max_concurrency=args.concurrency)
    try:
        if args.dry_run and not (cache_dir / CACHE_FILE).exists():
            await flow.run_async(shared)  # a dry run creates no cache folder
        else:
            with TranslationCache(cache_dir, rebuild=args.force) as cache, logging_redirect_tqdm():
                if cache.kept is not None:
                    print(f"note: the damaged translation cache was moved to {cache.kept}; starting a new one",
                          file=sys.stderr)  # fmt: skip
                shared["cache"] = cache
                if args.batch and not args.dry_run:
                    batches = await run_batches(settings, cache, wait=args.wait)
                    shared["batch"] = batches
                    if text := batch_text(batches):
                        print(text, file=sys.stderr)
                    if batches.pending:
                        return EXIT_OK
                await flow.run_async(shared)
    except (LLMConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (LLMError, CacheError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if progress is not None:
            progress.close()
        await aclose_clients()
    jobs: list[Job] = shared["jobs"]  # type: ignore[assignment]
    if args.dry_run:
        print(plan_text(shared["documents"], jobs, shared["work"]))  # type: ignore[arg-type]
        return EXIT_OK
    if not args.quiet:
        print(summary_table(jobs))
        print(usage_line(usage_totals()))
        outcome: BatchOutcome | None = shared.get("batch")  # type: ignore[assignment]
        if (cost := cost_line(usage_totals(), outcome.usage if outcome else None)) is not None:
            print(cost)
    _report_failures(jobs)
    unreadable: list[InputError] = shared["unreadable"]  # type: ignore[assignment]
    for problem in unreadable:
        print(f"skipped: {problem}", file=sys.stderr)
    return EXIT_OK if all(job.status == "done" for job in jobs) and not unreadable else EXIT_FAILED


@quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:  # the app says which provider runs in its own words (see run); don't repeat utils.llm's
        logging.getLogger("utils.llm").setLevel(logging.ERROR)
        logging.getLogger("utils.llm.wait").setLevel(logging.WARNING)  # but do say why nothing moves for a while
    terminated = asyncio.Event()

    async def run_until_terminated() -> int:
        """SIGTERM takes Ctrl-C's way out: the run is cancelled, so everything finished is cached and written."""
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            terminated.set()
            task.cancel()

        with contextlib.suppress(NotImplementedError):  # no loop signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)
        return await run(args)

    try:
        return asyncio.run(run_until_terminated())
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError) and not terminated.is_set():
            raise
        print(
            f"{'terminated' if terminated.is_set() else 'interrupted'}: finished chunks are cached in "
            f"{args.cache_dir}; run the same command to continue",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated.is_set() else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
