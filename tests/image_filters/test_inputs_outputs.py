"""What goes in and what comes out: the app's own outputs are never inputs, symlink loops end, skipped things are
reported, names and freshness depend on the input itself, long names fit, -o naming a file, stale temp files,
SIGTERM, the paged contact sheet made from the run's thumbnails, the summary's rate, the progress bar, and the
default worker count."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from apps.image_filters import __main__ as cli
from apps.image_filters import contact_sheet, cpus, inputs, manifest
from apps.image_filters import nodes as nodes_module
from apps.image_filters.__main__ import main
from apps.image_filters.inputs import SAMPLES, scan_inputs
from tests.image_filters.make_images import solid
from tests.image_filters.test_pipeline import report_of, run_flow, visible

ROOT = Path(__file__).resolve().parents[2]


def names(folder: Path) -> list[str]:
    return visible(folder)


def test_own_outputs_are_never_inputs_however_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    solid(folder / "a.png", (10, 20, 30))
    solid(folder / "b.jpg", (40, 50, 60))
    monkeypatch.chdir(tmp_path)
    assert main(["in", "-o", "in", "-f", "blur", "-q"]) == 0  # -o in in: the folder is still an input
    assert names(folder) == ["a.png", "a_blur.png", "b.jpg", "b_blur.jpg"]
    files = [str(p) for p in sorted(folder.iterdir()) if not p.name.startswith(".")]  # what `in/*` expands to
    assert main([*files, "-o", "in", "-f", "blur", "-q"]) == 0
    assert main(["in/*", "-o", "in", "-f", "blur", "-q"]) == 0
    assert names(folder) == ["a.png", "a_blur.png", "b.jpg", "b_blur.jpg"]  # no a_blur_blur.png
    os.symlink(folder / "a_blur.png", tmp_path / "renamed.png")
    assert scan_inputs([tmp_path / "renamed.png", folder / "a.png"]).images == [folder / "a.png"]


def test_symlink_loops_end_and_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "photos"
    solid(root / "a.png", (1, 1, 1))
    solid(root / "sub" / "b.png", (2, 2, 2))
    os.symlink(root, root / "sub" / "loop")  # sub/loop -> photos: endless without a visited set
    os.symlink(root / "sub", root / "sub" / "self")
    found = scan_inputs([root])
    assert found.images == [root / "a.png", root / "sub" / "b.png"]
    assert sum("symlink loop" in line for line in found.skipped) == 2
    by_glob = scan_inputs([f"{root}/**/*.png"])
    assert sorted(by_glob.images) == [root / "a.png", root / "sub" / "b.png"]
    assert main([f"{root}/**/*.png", "-o", str(tmp_path / "out"), "-f", "invert", "-q"]) == 0
    assert "skipped: " in capsys.readouterr().err


def test_unreadable_folders_and_undecodable_images_are_reported(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    solid(root / "a.png", (1, 1, 1))
    solid(root / "locked" / "b.png", (2, 2, 2))
    (root / "phone.heic").write_bytes(b"\0\0\0\x18ftypheic")
    (root / "notes.txt").write_text("not an image, not reported")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path).name == "locked":  # chmod 000 means nothing to root, so refuse as the kernel would
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(inputs.os, "scandir", scandir)
    found = scan_inputs([root])
    assert found.images == [root / "a.png"]
    assert f"{root / 'locked'}: folder not read (Permission denied)" in found.skipped
    heic = f"{root / 'phone.heic'}: this Pillow has no decoder for .heic"
    assert any(line.startswith(heic) for line in found.skipped)
    assert not any("notes.txt" in line for line in found.skipped)


def test_avif_is_an_input_when_pillow_reads_it(tmp_path: Path) -> None:
    if ".avif" not in inputs.readable_suffixes():
        pytest.skip("this Pillow has no AVIF decoder (then .avif files are reported as skipped)")
    solid(tmp_path / "in" / "x.png", (9, 9, 9))
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "in" / "pic.avif")
    assert scan_inputs([tmp_path / "in"]).images == [tmp_path / "in" / "pic.avif", tmp_path / "in" / "x.png"]


def test_a_new_sibling_renames_nothing_and_redoes_nothing(tmp_path: Path) -> None:
    jpg = tmp_path / "in" / "photo.jpg"
    solid(jpg, (200, 100, 50))
    first = report_of(run_flow([jpg], "blur", tmp_path / "out"))
    assert [p.name for p in first.written] == ["photo_blur.jpg"]
    png = solid(tmp_path / "in" / "photo.png", (1, 2, 3))
    second = report_of(run_flow([jpg, png], "blur", tmp_path / "out"))
    assert [p.name for p in second.written] == ["photo_blur.png"]
    assert [p.name for p in second.skipped] == ["photo_blur.jpg"]
    third = report_of(run_flow([jpg, png], "blur", tmp_path / "out2", format="jpg"))
    assert sorted(p.name for p in third.written) == ["photo-png_blur.jpg", "photo_blur.jpg"]


def test_replaced_inputs_and_changed_settings_are_redone_exactly(tmp_path: Path) -> None:
    a, b = solid(tmp_path / "a.jpg", (10, 10, 10)), solid(tmp_path / "b.jpg", (20, 20, 20))
    out = tmp_path / "out"
    assert len(report_of(run_flow([a, b], "invert,blur", out)).written) == 4
    old = a.stat().st_mtime_ns - 10**10
    solid(a, (250, 250, 250))
    os.utime(a, ns=(old, old))  # replaced by an older-dated file
    again = report_of(run_flow([a, b], "invert,blur", out))
    assert sorted(p.name for p in again.written) == ["a_blur.jpg", "a_invert.jpg"]
    with Image.open(out / "a_invert.jpg") as inverted:
        assert inverted.getpixel((0, 0))[0] < 20  # type: ignore[index]
    changed = report_of(run_flow([a, b], "invert,blur:radius=3", out, quality=80))
    assert sorted(p.name for p in changed.written) == ["a_blur-radius3.jpg", "a_invert.jpg", "b_blur-radius3.jpg",
                                                       "b_invert.jpg"]  # fmt: skip
    (out / "b_invert.jpg").write_bytes(b"edited by hand")
    fixed = report_of(run_flow([a, b], "invert", out, quality=80))
    assert [p.name for p in fixed.written] == ["b_invert.jpg"]


def test_long_names_do_not_hit_enametoolong(tmp_path: Path) -> None:
    src = solid(tmp_path / ("é" * 90 + "x" * 30 + ".png"), (5, 5, 5))  # 210 bytes of stem
    assert main([str(src), "-f", "sharpen:radius=2.5:percent=300:threshold=10,invert", "-o", str(tmp_path / "out"),
                 "-q"]) == 0  # fmt: skip
    assert len(names(tmp_path / "out")) == 2


def test_out_naming_an_existing_file_is_one_command_line_error(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = solid(tmp_path / "a.png", (1, 1, 1))
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    assert main([str(src), "-o", str(target)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith(f"error: output folder {target} is an existing file; give a folder with -o")
    assert target.read_text() == "keep me"


def test_stale_temp_files_are_removed_on_the_next_run(tmp_path: Path) -> None:
    src = solid(tmp_path / "a.png", (1, 1, 1))
    out = tmp_path / "out"
    out.mkdir()
    ours = out / ".a_invert.png.0123456789ab.tmp"  # a killed run's, for an output this run makes
    old = out / ".other.png.abcdef012345.tmp"  # an old one for something else
    recent = out / ".busy.png.abcdef012345.tmp"  # maybe another run's, still writing
    user = out / ".notes.tmp"  # not ours at all
    for path in (ours, old, recent, user):
        path.write_bytes(b"partial")
    os.utime(old, (time.time() - 7200,) * 2)
    run_flow([src], "invert", out)
    assert not ours.exists() and not old.exists() and recent.exists() and user.exists()


def test_sigterm_stops_like_ctrl_c_and_records_what_was_finished(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(40):
        shutil.copy(SAMPLES / "astronaut.png", src / f"a{i:02d}.png")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "apps.image_filters", str(src), "-o", str(out), "-f",
                             "blur:radius=8,sharpen,sepia"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    def one_image_done() -> bool:
        done = set(os.listdir(out)) if out.exists() else set()
        return any({f"a{i:02d}_{f}.png" for f in ("blur-radius8", "sharpen", "sepia")} <= done for i in range(40))

    deadline = time.monotonic() + 60
    while not one_image_done() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # its results reach the report
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].startswith("terminated (SIGTERM); outputs already written are complete")
    assert "Traceback" not in stderr
    written = names(out)
    assert 0 < len(written) < 120 and not [n for n in os.listdir(out) if n.endswith(".tmp")]
    recorded = json.loads((out / manifest.MANIFEST_NAME).read_text())["outputs"]
    assert set(recorded) <= set(written) and recorded, "finished outputs are recorded, so not redone"


def test_contact_sheet_pages_come_from_the_run_not_from_decoding_outputs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [solid(tmp_path / "in" / f"p{i}.png", (i * 40, 0, 0), (30, 20)) for i in range(5)]
    monkeypatch.setattr(contact_sheet, "ROWS_PER_PAGE", 2)
    read_back: list[Path] = []
    real = nodes_module._thumbnail_from_file
    monkeypatch.setattr(nodes_module, "_thumbnail_from_file", lambda p: read_back.append(p) or real(p))
    shared = run_flow(images, "invert,grayscale", tmp_path / "out", contact_sheet=True)
    pages = shared["contact_sheet_pages"]
    assert [p.name for p in pages] == ["contact_sheet.png", "contact_sheet-2.png", "contact_sheet-3.png"]
    assert read_back == []
    with Image.open(pages[-1]) as last:
        assert last.size == contact_sheet.Layout(rows=1, cols=3).size
    run_flow(images, "invert,grayscale", tmp_path / "out", contact_sheet=True)  # all fresh: read back small
    assert len(read_back) == 15  # nothing was decoded this time: originals and outputs, read back small
    assert "contact_sheet.png" in manifest.output_names(tmp_path / "out")


def test_summary_rate_counts_only_processed_images(tmp_path: Path) -> None:
    good = [solid(tmp_path / f"g{i}.png", (i, i, i)) for i in range(2)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    report = report_of(run_flow([*good, bad], "invert", tmp_path / "out"))
    assert report.processed == set(good) and report.summary(2.0).endswith("1.00 images/s")
    again = report_of(run_flow([*good, bad], "invert", tmp_path / "out"))
    assert again.processed == set() and again.summary(1.0).endswith("0.00 images/s")


def test_progress_bar_has_its_total_from_the_start_and_only_draws_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars: list[Any] = []
    real_bar = cli.Bar

    def spy(*args: Any, **kwargs: Any) -> Any:
        bar = real_bar(*args, file=io.StringIO(), **kwargs)  # a StringIO is no terminal
        bars.append((kwargs.get("total"), bar))
        return bar

    monkeypatch.setattr(cli, "Bar", spy)
    images = [solid(tmp_path / f"{i}.png", (i, i, i)) for i in range(3)]
    assert main([*map(str, images), "-o", str(tmp_path / "out"), "-f", "invert"]) == 0
    [(total, bar)] = bars
    assert total == 3 and bar.disable


def test_default_workers_follow_affinity_and_the_container_quota(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cgroup").write_text("0::/box/job\n")
    for folder, limit in (("box", "300000 100000"), ("box/job", "150000 100000")):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "cpu.max").write_text(limit + "\n")
    assert cpus.cgroup_cpu_quota(tmp_path, tmp_path / "cgroup") == 1.5
    (tmp_path / "box" / "job" / "cpu.max").write_text("max 100000\n")
    assert cpus.cgroup_cpu_quota(tmp_path, tmp_path / "cgroup") == 3.0  # the parent's limit still applies
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: 1.5)
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert cpus.usable_cpus() == 2
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: None)
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _pid: {3})
    assert cpus.usable_cpus() == 1
