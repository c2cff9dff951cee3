"""The flow itself: outputs equal to Pillow called directly, isolation under a race, bad inputs skipped,
real-world modes, skip/overwrite, same-name inputs, the contact sheet, and sequential == parallel."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tqdm import tqdm

from apps.image_filters import Report, Settings, build_flow, parse_filter_specs
from apps.image_filters import flow as flow_module
from apps.image_filters import nodes as nodes_module
from apps.image_filters import render as render_module
from apps.image_filters.__main__ import ProgressBar
from apps.image_filters.contact_sheet import Layout
from apps.image_filters.inputs import SAMPLES
from apps.image_filters.render import thumbnail
from pocketflow import tracing
from tests.image_filters.make_images import bad_inputs, exif_rotated_jpeg, solid
from utils.images import load_image, load_picture, save_image

SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.suffix != ".md")


def run_flow(images: list[Path], filters: str, out: Path, *, workers: int = 2, sequential: bool = False,
             tracer: Any = None, report: Report | None = None, **options: Any) -> dict[str, Any]:
    settings = Settings(parse_filter_specs(filters), out, workers=workers, **options)
    shared: dict[str, Any] = {"images": images, "report": report or Report()}

    async def go() -> None:
        pool = None if sequential else ThreadPoolExecutor(workers)
        try:
            if tracer is None:
                await build_flow(settings, pool).run_async(shared)
            else:
                with tracing(tracer):
                    await build_flow(settings, pool).run_async(shared)
        finally:
            if pool is not None:
                pool.shutdown()

    asyncio.run(go())
    return shared


def visible(folder: Path) -> list[str]:
    """File names in `folder` except hidden ones (the manifest)."""
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def report_of(shared: dict[str, Any]) -> Report:
    report: Report = shared["report"]
    return report


def test_outputs_equal_the_filter_applied_by_hand(tmp_path: Path) -> None:
    filters = "grayscale,sepia,rotate:degrees=30,posterize:bits=3"
    shared = run_flow(SAMPLE_FILES, filters, tmp_path / "out")
    report = report_of(shared)
    assert (report.images, len(report.written), report.skipped, report.failed) == (4, 16, [], [])
    for src in SAMPLE_FILES:
        for spec in parse_filter_specs(filters):
            out = tmp_path / "out" / f"{src.stem}_{spec.label}{src.suffix}"
            reference = tmp_path / "ref" / out.name
            save_image(spec(load_image(src)), reference)  # JPEG is lossy: compare what both decode to
            with Image.open(out) as written, Image.open(reference) as expected:
                assert written.mode == expected.mode and written.tobytes() == expected.tobytes(), out.name


def test_sequential_and_parallel_write_identical_files(tmp_path: Path) -> None:
    filters = "grayscale,blur:radius=3,sepia,sharpen,edges,thumbnail:size=100"
    run_flow(SAMPLE_FILES, filters, tmp_path / "par", workers=3, contact_sheet=True)
    run_flow(SAMPLE_FILES, filters, tmp_path / "seq", sequential=True, contact_sheet=True)
    names = visible(tmp_path / "par")
    assert len(names) == 4 * 6 + 1 and names == visible(tmp_path / "seq")
    for name in names:
        assert (tmp_path / "par" / name).read_bytes() == (tmp_path / "seq" / name).read_bytes(), name


@pytest.mark.parametrize("path", ["one job per small image", "load, then a job per output"])
def test_isolation_race_every_output_shows_its_own_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         path: str) -> None:
    """40 images of distinct colour and size, 8 in flight, loads finishing in random order, awaits between nodes."""
    if path != "one job per small image":
        monkeypatch.setattr(flow_module, "SMALL_FILE", 0)
        monkeypatch.setattr(nodes_module, "SMALL_PICTURE", 0)
    rng = random.Random(7)
    images = [solid(tmp_path / "in" / f"img{i:02d}.png", (i * 6, 255 - i * 5, (i * 37) % 256), (10 + i, 30 - i // 2))
              for i in range(40)]
    real_load, real_render = nodes_module.decode_for_outputs, render_module.render_outputs

    def jittery_load(path: Path, *args: Any) -> Any:
        time.sleep(rng.random() * 0.004)
        return real_load(path, *args)

    def jittery_render(path: Path, *args: Any) -> Any:
        time.sleep(rng.random() * 0.004)
        return real_render(path, *args)

    real_prep = nodes_module.FilterAndSave.prep_async

    async def prep_after_a_pause(self: Any, shared: Any) -> Any:
        await asyncio.sleep(rng.random() * 0.004)  # other runs' loads land in between
        return await real_prep(self, shared)

    monkeypatch.setattr(nodes_module, "decode_for_outputs", jittery_load)
    monkeypatch.setattr(render_module, "render_outputs", jittery_render)
    monkeypatch.setattr(nodes_module.FilterAndSave, "prep_async", prep_after_a_pause)
    shared = run_flow(images, "invert,rotate:degrees=90,blur:radius=0", tmp_path / "out", workers=8)
    assert len(report_of(shared).written) == 120
    for i in range(len(images)):
        colour = (i * 6, 255 - i * 5, (i * 37) % 256)
        w, h = 10 + i, 30 - i // 2
        with Image.open(tmp_path / "out" / f"img{i:02d}_invert.png") as inv:
            assert inv.size == (w, h) and set(inv.get_flattened_data()) == {tuple(255 - c for c in colour)}
        with Image.open(tmp_path / "out" / f"img{i:02d}_rotate-degrees90.png") as rot:
            assert rot.size == (h, w) and set(rot.get_flattened_data()) == {colour}
        with Image.open(tmp_path / "out" / f"img{i:02d}_blur-radius0.png") as same:
            assert same.size == (w, h) and set(same.get_flattened_data()) == {colour}


def test_bad_inputs_are_reported_and_skipped_while_the_rest_complete(tmp_path: Path) -> None:
    bad = bad_inputs(tmp_path / "in")
    good = [solid(tmp_path / "in" / "good1.png", (200, 0, 0)), solid(tmp_path / "in" / "good2.png", (0, 200, 0))]
    shared = run_flow([*bad.values(), *good], "invert,grayscale", tmp_path / "out")
    report = report_of(shared)
    assert sorted(p.name for p in report.written) == sorted(f"good{i}_{f}.png" for i in (1, 2)
                                                           for f in ("invert", "grayscale"))
    assert {f.path for f in report.failed} == set(bad.values()) == report.failed_images
    for failure in report.failed:
        assert str(failure.path) in failure.message and "\n" not in failure.message
    assert visible(tmp_path / "out") == sorted(p.name for p in report.written)


def test_real_world_modes_work_and_keep_alpha_where_the_format_can(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGBA", (12, 8), (255, 0, 0, 100)).save(src / "rgba.png")
    Image.new("LA", (12, 8), (50, 60)).save(src / "la.png")
    palette = Image.new("P", (12, 8), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30])
    palette.save(src / "pal.png")
    palette.save(src / "pal_t.gif", transparency=0)
    Image.new("CMYK", (12, 8), (0, 200, 200, 0)).save(src / "cmyk.jpg")
    Image.new("I;16", (12, 8), 40000).save(src / "deep.png")
    Image.new("1", (12, 8), 1).save(src / "bits.png")
    inputs = sorted(src.iterdir())

    shared = run_flow(inputs, "sepia,grayscale", tmp_path / "keep")
    assert report_of(shared).failed == [] and len(report_of(shared).written) == 14
    modes = {}
    for name in visible(tmp_path / "keep"):
        with Image.open(tmp_path / "keep" / name) as img:
            modes[name] = img.mode
    assert modes["rgba_sepia.png"] == "RGBA" and modes["rgba_grayscale.png"] == "LA"
    assert modes["la_sepia.png"] == "RGBA" and modes["pal_sepia.png"] == "RGB"
    with Image.open(tmp_path / "keep" / "deep_grayscale.png") as deep:
        assert deep.getpixel((0, 0)) == 40000 >> 8  # scaled, not clipped to white
    with Image.open(tmp_path / "keep" / "rgba_sepia.png") as rgba:
        assert rgba.getpixel((0, 0))[3] == 100

    shared = run_flow(inputs, "sepia,grayscale", tmp_path / "jpg", format="jpg")
    assert report_of(shared).failed == [] and len(report_of(shared).written) == 14
    for name in visible(tmp_path / "jpg"):
        with Image.open(tmp_path / "jpg" / name) as img:
            assert img.format == "JPEG" and img.mode in ("RGB", "L")


def test_exif_rotated_jpeg_comes_out_upright(tmp_path: Path) -> None:
    src = exif_rotated_jpeg(tmp_path / "sideways.jpg", orientation=6)
    run_flow([src], "invert", tmp_path / "out", format="png")
    with Image.open(tmp_path / "out" / "sideways-jpg_invert.png") as out:
        assert out.size == (20, 40)
        top, bottom = out.getpixel((10, 5)), out.getpixel((10, 35))
    assert top[0] < 20 and top[2] > 235, "inverted red (cyan) should be on top"
    assert bottom[0] > 235 and bottom[2] < 20, "inverted blue (yellow) should be at the bottom"


def test_fresh_outputs_are_skipped_unless_overwriting(tmp_path: Path) -> None:
    a, b = solid(tmp_path / "a.png", (1, 2, 3)), solid(tmp_path / "b.png", (4, 5, 6))
    out = tmp_path / "out"
    first = report_of(run_flow([a, b], "invert,sepia", out))
    assert len(first.written) == 4
    stamps = {p: p.stat().st_mtime_ns for p in first.written}

    second = report_of(run_flow([a, b], "invert,sepia", out))
    assert (len(second.written), len(second.skipped)) == (0, 4)
    assert {p: p.stat().st_mtime_ns for p in first.written} == stamps

    later = time.time() + 60
    os.utime(a, (later, later))  # a changed after its outputs were made
    third = report_of(run_flow([a, b], "invert,sepia", out))
    assert sorted(p.name for p in third.written) == ["a_invert.png", "a_sepia.png"]
    assert sorted(p.name for p in third.skipped) == ["b_invert.png", "b_sepia.png"]

    fourth = report_of(run_flow([a, b], "invert,sepia", out, overwrite=True))
    assert (len(fourth.written), len(fourth.skipped)) == (4, 0)


def test_same_name_in_two_folders_gives_two_sets_of_outputs(tmp_path: Path) -> None:
    red = solid(tmp_path / "trip" / "photo.png", (255, 0, 0))
    blue = solid(tmp_path / "home" / "photo.png", (0, 0, 255))
    report = report_of(run_flow([red, blue], "invert", tmp_path / "out"))
    trip_name = f"photo-{hashlib.sha1(str(red.resolve()).encode()).hexdigest()[:8]}_invert.png"
    assert sorted(p.name for p in report.written) == sorted([trip_name, "photo_invert.png"])  # home/ sorts first
    with Image.open(tmp_path / "out" / trip_name) as trip:
        assert trip.getpixel((0, 0)) == (0, 255, 255)
    with Image.open(tmp_path / "out" / "photo_invert.png") as home:
        assert home.getpixel((0, 0)) == (255, 255, 0)


def test_contact_sheet_layout(tmp_path: Path) -> None:
    wide = solid(tmp_path / "wide.png", (250, 10, 10), (300, 100))
    tall = solid(tmp_path / "tall.png", (10, 10, 250), (50, 120))
    shutil.copy(SAMPLE_FILES[1], tmp_path / "photo.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"junk")
    images = [wide, broken, tall, tmp_path / "photo.png"]
    shared = run_flow(images, "invert,rotate:degrees=90", tmp_path / "out", contact_sheet=True)
    sheet_path = shared["contact_sheet"]
    assert sheet_path == tmp_path / "out" / "contact_sheet.png"
    layout = Layout(rows=3, cols=3)  # the broken image has no row
    with Image.open(sheet_path) as sheet:
        assert sheet.size == layout.size
        rows = [wide, tall, tmp_path / "photo.png"]
        for row, src in enumerate(rows):
            out = tmp_path / "out"
            cells = [src, out / f"{src.stem}_invert.png", out / f"{src.stem}_rotate-degrees90.png"]
            for col, path in enumerate(cells):
                thumb = Image.open(io.BytesIO(thumbnail(load_picture(path), layout.cell)))
                assert max(thumb.size) == min(layout.cell, max(load_image(path).size))
                x, y = layout.placement(row, col, thumb.size)
                got = sheet.crop((x, y, x + thumb.width, y + thumb.height))
                assert got.tobytes() == thumb.convert("RGB").tobytes(), (row, col)
                left, top, right, bottom = layout.cell_box(row, col)
                assert left <= x and x + thumb.width <= right and top <= y and y + thumb.height <= bottom
        # Labels are drawn in the header band and the label column (dark ink on white).
        assert sheet.crop((layout.label_width, 0, layout.size[0], layout.header)).getextrema()[0][0] < 100
        assert sheet.crop((0, layout.header, layout.label_width, layout.size[1])).getextrema()[0][0] < 100


def test_progress_bar_follows_the_images_batched_or_not(tmp_path: Path) -> None:
    images = [solid(tmp_path / f"{i}.png", (i, i, i)) for i in range(20)]  # small: a batch of 16, one of 4
    images.append(tmp_path / "big.png")
    Image.effect_noise((600, 600), 64).save(images[-1])  # over the small-file size: a run of its own
    report = Report()
    seen: list[int] = []
    with tqdm(total=21, file=io.StringIO(), disable=False) as bar:
        tracer = ProgressBar(bar, report)
        real = tracer.on_item_done
        tracer.on_item_done = lambda *a: (real(*a), seen.append(bar.n))  # type: ignore[method-assign]
        shared = run_flow(images, "invert", tmp_path / "out", tracer=tracer, report=report)
        assert (bar.n, bar.total) == (21, 21) and len(report_of(shared).written) == 21
    assert seen == sorted(seen) and seen[-1] == 21 and min(seen) < 21  # moved along, ended at the total


def test_render_image_makes_one_images_outputs_from_paths_alone(tmp_path: Path) -> None:
    """The path-only entry point (for workers that get no pixels): results in order, a refusal in its place."""
    from apps.image_filters.render import OutputOptions, render_image

    src = solid(tmp_path / "a.png", (10, 20, 30), (8, 4))
    specs = parse_filter_specs("invert,resize:width=20000,grayscale")
    outputs = [(spec, tmp_path / "out" / f"a_{spec.label}.png") for spec in specs]
    errors = render_image(src, outputs, OutputOptions())
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None and "over the limit" in errors[1]
    assert visible(tmp_path / "out") == ["a_grayscale.png", "a_invert.png"]


def test_outputs_are_synced_once_after_the_last_and_before_being_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Durability rests on SaveRecords' one sync, after the last output and before the manifest."""
    out = tmp_path / "out"
    syncs: list[tuple[int, bool]] = []  # (outputs in the folder, manifest written)

    def sync(folder: Path) -> None:
        syncs.append((len(visible(out)), (out / ".image_filters.json").exists()))

    monkeypatch.setattr(nodes_module, "sync_filesystem", sync)
    images = [solid(tmp_path / f"in/{i:02d}.jpg", (20 * i, 90, 40), (120, 80)) for i in range(12)]
    report = report_of(run_flow(images, "grayscale,blur", out))
    assert len(report.written) == 24 and not report.failed
    assert syncs == [(24, False)]  # every output there, none recorded yet
    assert (out / ".image_filters.json").exists()


def test_the_first_images_are_made_before_the_last_ones_are_planned(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    images = []
    for i in range(12):  # noise: over the small-file size, so one run each rather than one batch of all
        images.append(tmp_path / f"{i:02d}.png")
        Image.frombytes("RGB", (400, 300), random.Random(i).randbytes(400 * 300 * 3)).save(images[-1])
    events: list[str] = []
    real_stamp, real_decode = flow_module.iter_jobs.__globals__["manifest"].source_stamp, render_module.load_source

    def planning(source: Path) -> Any:
        events.append(f"plan {source.name}")
        return real_stamp(source)

    def decoding(source: Path, *args: Any) -> Any:
        events.append(f"decode {source.name}")
        return real_decode(source, *args)

    monkeypatch.setattr(flow_module.iter_jobs.__globals__["manifest"], "source_stamp", planning)
    monkeypatch.setattr(render_module, "load_source", decoding)
    shared = run_flow(images, "invert", tmp_path / "out")
    assert len(shared["report"].written) == 12 and len(shared["jobs"]) == 12
    assert events.index("decode 00.png") < events.index("plan 11.png")
