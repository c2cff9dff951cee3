"""The command line: defaults, summary and exit codes, one-line errors (exit 2, nothing done), bad inputs
(exit 1), --list-filters, and Ctrl-C (exit 130, complete files only)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from apps.image_filters.__main__ import main
from apps.image_filters.filters import FILTERS
from apps.image_filters.inputs import SAMPLES
from tests.image_filters.make_images import bad_inputs, solid

ROOT = Path(__file__).resolve().parents[2]


def test_default_run_filters_the_bundled_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    names = sorted(n for n in os.listdir(tmp_path / "output") if not n.startswith("."))
    stems = sorted(p.stem for p in SAMPLES.iterdir() if p.suffix != ".md")
    assert names == sorted(f"{s}_{f}{'.jpg' if s == 'rocket' else '.png'}" for s in stems
                           for f in ("grayscale", "blur", "sepia"))
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("images: 4, outputs written: 12, skipped: 0, failed: 0, ")
    assert out[-1].endswith(" images/s")


def test_options_reach_the_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = solid(tmp_path / "in" / "pic.png", (10, 20, 30), (64, 64))
    argv = [str(tmp_path / "in"), "-f", "invert,resize:width=32", "-o", str(tmp_path / "o"), "--format", "webp",
            "--quality", "50", "--workers", "1", "--contact-sheet", "--quiet"]
    assert main(argv) == 0
    assert capsys.readouterr().out == ""
    assert sorted(os.listdir(tmp_path / "o")) == [".image_filters.json", "contact_sheet.png", "pic-png_invert.webp",
                                                  "pic-png_resize-width32.webp"]
    with Image.open(tmp_path / "o" / "pic-png_resize-width32.webp") as img:
        assert img.format == "WEBP" and img.size == (32, 32)
    assert main(argv) == 0  # second run: everything fresh, nothing rewritten
    os.utime(src, (time.time() + 60,) * 2)
    assert main([*argv[:-1]]) == 0
    assert "outputs written: 2, skipped: 0" in capsys.readouterr().out


def test_bad_inputs_exit_1_with_one_line_each_and_the_rest_done(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = bad_inputs(tmp_path / "in")
    solid(tmp_path / "in" / "ok.png", (1, 2, 3))
    assert main([str(tmp_path / "in"), str(bad["text"]), "-f", "invert", "-o", str(tmp_path / "o")]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith("failed: ") for line in lines)
    for path in bad.values():
        assert sum(str(path) in line for line in lines) == 1
    assert "Traceback" not in captured.err
    assert "images: 6, outputs written: 1, skipped: 0, failed: 5" in captured.out
    assert sorted(os.listdir(tmp_path / "o")) == [".image_filters.json", "ok_invert.png"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-f", "blurr"], "unknown filter 'blurr' (did you mean 'blur'? see --list-filters)"),
        (["-f", "grayscale,blur:radius=-1"], "blur: radius must be between 0 and 100, got -1"),
        (["-f", "rotate:angle=3"], "rotate: unknown parameter 'angle' (parameters: degrees, expand)"),
        (["--quality", "0"], "argument --quality: must be between 1 and 100, got 0"),
        (["--workers", "two"], "argument --workers: expected a whole number, got 'two'"),
        (["--format", "gif"], "argument --format: invalid choice: 'gif' (choose from "),
        (["{tmp}/missing.png"], "input not found: {tmp}/missing.png"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_command_line_errors_are_one_line_exit_2_and_do_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.format(tmp=tmp_path) for a in argv] + ["-o", str(tmp_path / "o")]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert code == 2
    [line] = captured.err.splitlines()
    assert line.startswith(f"python -m apps.image_filters: error: {message.format(tmp=tmp_path)}")
    assert not (tmp_path / "o").exists()


def test_list_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-filters"]) == 0
    text = capsys.readouterr().out
    assert all(f"  {name} " in text for name in FILTERS)


def test_ctrl_c_exits_130_leaving_only_complete_files(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(40):
        shutil.copy(SAMPLES / "astronaut.png", src / f"a{i:02d}.png")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.image_filters", str(src), "-o", str(out), "-f", "blur:radius=8,sharpen,sepia"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while not (out.exists() and any(n.endswith(".png") for n in os.listdir(out))) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        "interrupted: outputs already written are complete; run again to finish the rest")
    assert "Traceback" not in stderr
    written = [n for n in os.listdir(out) if n != ".image_filters.json"]
    assert 0 < len(written) < 120 and all(n.endswith(".png") and not n.startswith(".") for n in written)
    for name in written:
        with Image.open(out / name) as img:
            img.load()
