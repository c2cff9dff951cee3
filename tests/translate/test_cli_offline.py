"""The CLI end to end on the offline provider (no key configured), and its usage errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from apps.translate.cache import TranslationCache
from apps.translate.languages import DEFAULT_LANGUAGES
from tests.translate.conftest import Cli
from tests.translate.structure import assert_structure_kept
from tests.translate.test_cli_server import unique_chunks


async def test_no_key_translates_everything_offline_and_says_so(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli(str(tricky)) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "offline provider pseudo-localizes" in captured.err
    source = tricky.read_text(encoding="utf-8")
    for lang in DEFAULT_LANGUAGES:
        output = (tmp_path / "out" / f"tricky.{lang.code}.md").read_text(encoding="utf-8")
        assert_structure_kept(source, output)
        assert output.startswith(source.split("\n---\n", 1)[0])  # front matter untouched by default
    table = captured.out
    assert table.splitlines()[0].split() == ["language", "chunks", "tokens", "seconds", "file", "status"]
    assert table.count(" done") == 8 and "Korean" in table
    requests = len(DEFAULT_LANGUAGES) * unique_chunks(tricky)
    assert table.splitlines()[-1].startswith(f"offline/offline: {requests} requests, 0 retries")


async def test_offline_chosen_on_purpose_gets_no_note(
    cli: Cli, tricky: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    assert await cli(str(tricky), "-l", "fr", "--quiet") == 0
    assert capsys.readouterr().err == ""


async def test_front_matter_keys_translate_only_those_values(cli: Cli, tricky: Path, tmp_path: Path) -> None:
    assert await cli(str(tricky), "-l", "fr", "--front-matter-keys", "title", "--quiet") == 0
    output = (tmp_path / "out" / "tricky.fr.md").read_text(encoding="utf-8")
    title, description = output.split("\n")[1:3]
    assert title.startswith('title: "') and title.endswith('"') and "Ţŕíçķý" in title
    assert description == "description: Shows everything a translator must keep intact"


async def test_rerun_is_served_from_the_cache(cli: Cli, tricky: Path, tmp_path: Path) -> None:
    assert await cli(str(tricky), "-l", "fr,de", "--quiet") == 0
    first = (tmp_path / "out" / "tricky.de.md").read_bytes()
    (tmp_path / "out" / "tricky.de.md").unlink()
    assert await cli(str(tricky), "-l", "fr,de", "--quiet") == 0
    assert (tmp_path / "out" / "tricky.de.md").read_bytes() == first


async def test_quiet_prints_nothing_on_success(cli: Cli, tricky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli(str(tricky), "-l", "ko", "--quiet", "--provider", "offline") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


async def test_dry_run_plans_without_writing(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli(str(tricky), "-l", "fr,ja", "--dry-run", "--chunk-tokens", "200") == 0
    plan = capsys.readouterr().out
    assert "tricky.md" in plan and "dry run: nothing was sent" in plan
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    # Half of the work cached: the plan counts only the rest.
    assert await cli(str(tricky), "-l", "fr", "--quiet", "--chunk-tokens", "200") == 0
    capsys.readouterr()
    assert await cli(str(tricky), "-l", "fr,ja", "--dry-run", "--chunk-tokens", "200") == 0
    with TranslationCache(tmp_path / "cache") as cache:
        per_language = len(cache)
    assert f"\n{per_language} requests" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.md"], "error: input file not found: missing.md"),
        (["{tricky}", "-l", "Klingon"], "error: unknown language 'Klingon'"),
        (["{tricky}", "-l", "../x"], "error: unknown language '../x'"),
        (["{tricky}", "-l", "fr,../../escape"], "error: unknown language '../../escape'"),
        (["{tricky}", "{tricky_copy}"], "error: {tricky} and {tricky_copy} would both be written to"),
    ],
)
async def test_usage_errors_are_one_line_and_exit_2(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    copy = tmp_path / "sub" / "tricky.md"
    copy.parent.mkdir()
    copy.write_bytes(tricky.read_bytes())
    argv = [a.format(tricky=tricky, tricky_copy=copy) for a in argv]
    assert await cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(tricky=tricky, tricky_copy=copy)) and err.count("\n") == 1
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "tricky.md"]  # nothing written anywhere


def test_main_rejects_bad_numbers_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    from apps.translate.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--concurrency", "0"])
    assert exit_info.value.code == 2 and "must be at least 1" in capsys.readouterr().err


async def test_a_file_that_is_not_utf8_is_reported_and_the_others_are_translated(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "latin1.md").write_bytes("# Caf\xe9\n".encode("latin-1"))
    assert await cli(str(tmp_path / "latin1.md"), str(tricky), "-l", "fr", "--quiet") == 1
    err = capsys.readouterr().err
    assert f"skipped: {tmp_path / 'latin1.md'} is not UTF-8 text (at byte offset 5)" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").glob("*.md")) == ["tricky.fr.md"]
