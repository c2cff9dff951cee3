"""Translating into the inputs' own folder twice: the app replaces its own earlier translations, never a file a
person wrote or edited since."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.translate.outputs import RECORD
from tests.translate.conftest import Cli


async def test_a_rerun_into_the_input_folder_replaces_only_its_own_files(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["-o", str(tmp_path), "-l", "fr,de", "--quiet"]
    assert await cli(str(tricky), *out) == 0
    french, german = tmp_path / "tricky.fr.md", tmp_path / "tricky.de.md"
    assert set(json.loads((tmp_path / RECORD).read_text(encoding="utf-8"))) == {french.name, german.name}
    capsys.readouterr()

    # `translate docs/*.md -o docs` again: the shell names the earlier outputs too.
    assert await cli(str(tricky), str(french), str(german), *out) == 0
    err = capsys.readouterr().err
    assert f"note: skipping {french}" in err and "error" not in err
    assert not (tmp_path / "tricky.fr.fr.md").exists()

    german.write_text(german.read_text(encoding="utf-8") + "\nEine Korrektur von Hand.\n", encoding="utf-8")
    edited = german.read_bytes()
    assert await cli(str(tricky), str(french), str(german), *out) == 2
    assert capsys.readouterr().err.startswith(f"error: {german} is an input and would be overwritten")
    assert german.read_bytes() == edited


async def test_a_damaged_record_protects_every_file(
    cli: Cli, tricky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["-o", str(tmp_path), "-l", "fr", "--quiet"]
    assert await cli(str(tricky), *out) == 0
    (tmp_path / RECORD).write_text("{not json", encoding="utf-8")
    french = tmp_path / "tricky.fr.md"
    assert await cli(str(tricky), str(french), *out) == 2
    assert "would be overwritten" in capsys.readouterr().err
