"""How far utils.tokens' estimate (and the old characters/4) is from OpenAI's o200k tokenizer, language by language.

Run: python -m benchmarks.token_estimate [--files N]. Writes token_estimate.{json,md,png} to --out.

Text nobody on this project wrote: the translations in the gettext catalogues of the Debian packages installed
here (/usr/share/locale), and the Markdown READMEs of the installed Python distributions. The tokenizer is
tiktoken's o200k_base; its vocabulary file comes from the bpe-openai package (tiktoken downloads it at run time,
which this machine cannot), checked against the SHA-256 that tiktoken expects.
"""

from __future__ import annotations

import argparse
import gettext
import gzip
import hashlib
import importlib.metadata
import importlib.resources
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks.report import Bars, Table, Verdict, console_text, parse_args, write_report
from utils.tokens import estimate_tokens

LOCALES = Path("/usr/share/locale")
LANGUAGES = ("de", "fr", "es", "pl", "tr", "vi", "ru", "uk", "el", "ar", "he", "hi", "th", "zh_CN", "zh_TW", "ja", "ko")
TOLERANCE = 0.2  # every language's total within 20% of o200k's


def o200k() -> Callable[[str], int]:
    """tiktoken's o200k_base, with its vocabulary read from bpe-openai's copy after checking its hash."""
    import tiktoken
    from tiktoken_ext import openai_public  # type: ignore[import-untyped]

    data = gzip.decompress(importlib.resources.files("bpe_openai").joinpath("data/o200k_base.tiktoken.gz").read_bytes())
    load = openai_public.load_tiktoken_bpe

    def local(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        if hashlib.sha256(data).hexdigest() != expected_hash:
            raise RuntimeError(f"bpe-openai's o200k_base is not the file tiktoken expects from {url}")
        with tempfile.NamedTemporaryFile(suffix=".tiktoken") as copy:
            copy.write(data)
            copy.flush()
            ranks: dict[bytes, int] = load(copy.name, expected_hash)
            return ranks

    with mock.patch.object(openai_public, "load_tiktoken_bpe", local):
        encoding = tiktoken.Encoding(**openai_public.o200k_base())
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def catalogue_texts(language: str, files: int) -> list[str]:
    """Translated messages from up to `files` readable .mo catalogues of one language, 40 to a text (a chunk's size:
    a lone three-word message would mostly measure the rounding up)."""
    texts: list[str] = []
    read = 0
    for path in sorted((LOCALES / language / "LC_MESSAGES").glob("*.mo")):
        try:
            with path.open("rb") as handle:
                catalogue: Any = gettext.GNUTranslations(handle)
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # a catalogue in a legacy encoding
        texts += [text for key, text in catalogue._catalog.items() if key and isinstance(text, str) and text]
        read += 1
        if read == files:
            break
    return ["\n".join(texts[start : start + 40]) for start in range(0, len(texts), 40)]


def readmes() -> list[str]:
    """The Markdown long descriptions of the distributions in this environment (real READMEs, mostly English);
    site-packages only, so that what else is on sys.path at the time changes nothing."""
    found = []
    site = sorted({sysconfig.get_paths()[key] for key in ("purelib", "platlib")})
    for dist in sorted(importlib.metadata.distributions(path=site), key=lambda dist: dist.metadata["Name"] or ""):
        # The importlib_metadata backport (once something imports it, it finds distributions too) moves the body
        # into a Description field.
        body = dist.metadata.get_payload() or (dist.metadata.get_all("Description") or [""])[0]  # type: ignore[attr-defined]
        kind = (dist.metadata.get_all("Description-Content-Type") or [""])[0]
        if isinstance(body, str) and "markdown" in kind and len(body) > 2000:
            found.append(body[:100_000])
    return found


def measure(texts: list[str], count: Callable[[str], int]) -> dict[str, float]:
    """Totals over `texts` (each counted on its own, as chunks are): o200k, ours, characters/4."""
    real = sum(count(text) for text in texts)
    return {
        "o200k": real,
        "estimate / o200k": sum(estimate_tokens(text) for text in texts) / real,
        "chars/4 / o200k": sum((len(text) + 3) // 4 for text in texts) / real,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.token_estimate", description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20, help="catalogues per language (default: 20)")
    args = parse_args(parser, argv)
    count = o200k()
    results = {"Markdown READMEs": measure(readmes(), count)}
    for language in LANGUAGES:
        if texts := catalogue_texts(language, args.files):
            results[language] = measure(texts, count)
    rows = [[name, int(r["o200k"]), r["estimate / o200k"], r["chars/4 / o200k"]] for name, r in results.items()]
    headers = ["text", "o200k tokens", "estimate", "chars/4"]
    table = Table("Estimated / real o200k tokens (1.00 is exact)", headers, rows)
    worst = max(results, key=lambda name: abs(results[name]["estimate / o200k"] - 1))
    checks = [Verdict(f"every language within {TOLERANCE:.0%} of o200k", abs(results[worst]["estimate / o200k"] - 1)
                      <= TOLERANCE, f"worst {worst}: {results[worst]['estimate / o200k']:.2f}")]  # fmt: skip
    charts = [Bars("estimate / o200k", list(results), [r["estimate / o200k"] for r in results.values()], "ratio",
                   reference=1.0, reference_label="exact"),
              Bars("chars/4 / o200k", list(results), [r["chars/4 / o200k"] for r in results.values()], "ratio",
                   reference=1.0, reference_label="exact")]  # fmt: skip
    paths = write_report("token_estimate", title="Token estimate by script vs o200k_base",
                         command="python -m benchmarks.token_estimate", tables=[table], charts=charts,
                         data={"results": results}, verdicts=checks,
                         notes=[f"Up to {args.files} gettext catalogues per language from {LOCALES}, 40 messages "
                                "to a text; READMEs from installed distributions' METADATA; each text counted on its "
                                "own."])  # fmt: skip
    print(console_text([table], checks))
    print(f"\nwrote {paths.json}, {paths.markdown}, {paths.chart}")


if __name__ == "__main__":
    main()
