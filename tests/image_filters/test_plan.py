"""Input discovery (files, recursive folders, globs) and output planning (names, collisions, freshness)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.image_filters import manifest
from apps.image_filters.filters import parse_filter_specs
from apps.image_filters.inputs import InputError, find_images, readable_suffixes
from apps.image_filters.plan import Output, fit_name, iter_jobs, output_extension, output_names
from tests.image_filters.make_images import solid


def touch_images(root: Path, *names: str) -> list[Path]:
    return [solid(root / name, (1, 2, 3)) if name.endswith((".png", ".jpg")) else _text(root / name) for name in names]


def _text(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


def test_folders_are_searched_recursively_skipping_hidden_and_non_images(tmp_path: Path) -> None:
    touch_images(tmp_path, "b.png", "a/c.jpg", "a/deep/d.PNG", ".hidden/e.png", "a/.f.png", "notes.txt")
    found = find_images([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/c.jpg", "a/deep/d.PNG", "b.png"]


def test_files_globs_and_duplicates(tmp_path: Path) -> None:
    a, b, c = touch_images(tmp_path, "x/a.png", "x/b.png", "y/c.jpg")
    text = _text(tmp_path / "readme.txt")
    found = find_images([b, str(tmp_path / "x" / "*.png"), tmp_path / "y", text, str(tmp_path / "**" / "c.*")])
    assert found == [b, a, c, text]  # named files are taken as they are, even non-images; each file once


@pytest.mark.parametrize(
    ("make", "arg", "message"),
    [
        (None, "missing.png", "input not found: {root}/missing.png"),
        (None, "*.nothing", "no files match {root}/*.nothing"),
        ("empty", "empty", "no images ({suffixes}) in folder {root}/empty"),
    ],
)
def test_inputs_that_name_nothing_are_errors(tmp_path: Path, make: str | None, arg: str, message: str) -> None:
    if make:
        (tmp_path / make).mkdir()
    with pytest.raises(InputError) as info:
        find_images([str(tmp_path / arg)])
    suffixes = ", ".join(sorted(readable_suffixes()))
    assert str(info.value) == message.format(root=tmp_path, suffixes=suffixes)
    assert {".jpg", ".png", ".webp", ".tiff"} <= readable_suffixes()


def test_a_folder_of_jpegs_and_pngs_is_scanned_without_importing_every_pillow_plugin(tmp_path: Path) -> None:
    """Every plugin is ~25 ms of imports on every run's clock; a .tif in the folder still needs them all."""
    touch_images(tmp_path / "common", "a.jpg", "b.png")
    touch_images(tmp_path / "more", "a.jpg")
    (tmp_path / "more" / "c.tif").write_bytes((tmp_path / "more" / "a.jpg").read_bytes())
    script = (
        "import sys; from apps.image_filters.inputs import find_images; "
        "print(len(find_images(sys.argv[1:])), 'PIL.PcxImagePlugin' in sys.modules)"
    )
    root = Path(__file__).parents[2]
    for folder, expected in (("common", "2 False"), ("more", "2 True")):
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / folder)], cwd=root, capture_output=True,
                              text=True, check=True)  # fmt: skip
        assert done.stdout.split() == expected.split()


def test_names_come_from_the_input_alone() -> None:
    """Adding photo.png beside photo.jpg renames nothing: with --format keep the extensions differ, and when the
    format changes the input's extension joins the name."""
    jpg, png = Path("in/photo.jpg"), Path("in/photo.png")
    assert output_names([jpg, png, Path("in/cat.png")]) == {jpg: "photo", png: "photo", Path("in/cat.png"): "cat"}
    assert output_names([jpg, png]) == {jpg: "photo", png: "photo"}  # photo_blur.jpg and photo_blur.png
    assert output_names([jpg, png], "jpg") == {jpg: "photo", png: "photo-png"}
    assert output_names([png], "jpg") == {png: "photo-png"}
    specs = parse_filter_specs("blur")
    paths = {o.path.name for job in list(iter_jobs([jpg, png], specs, Path("o"))) for o in job.outputs}
    assert paths == {"photo_blur.jpg", "photo_blur.png"}


def test_same_name_in_two_folders_the_recorded_owner_keeps_the_plain_name(tmp_path: Path) -> None:
    first, second = touch_images(tmp_path, "y/photo.png", "x/photo.png")
    specs = parse_filter_specs("invert")
    out = tmp_path / "out"
    assert output_names([first])[first] == "photo"
    names = output_names([second, first])
    assert names[second] == "photo" and names[first] == f"photo-{names[first][-8:]}"  # x/ sorts first
    assert output_names([first, second]) == names  # independent of order
    [job] = list(iter_jobs([first], specs, out))
    manifest.update(out, {job.outputs[0].path.name: manifest.Record(str(first.resolve()), (1, 1, 1), "s", (1, 1))})
    later = output_names([second, first], records=manifest.read(out))
    assert later[first] == "photo" and later[second].startswith("photo-")  # y/photo.png keeps its outputs' names


def test_unsafe_stems_are_made_safe() -> None:
    assert output_names([Path("../..photo?.png")]) == {Path("../..photo?.png"): "photo_"}


@pytest.mark.parametrize(
    ("name", "fmt", "ext"),
    [("a.JPG", "keep", ".jpg"), ("a.tif", "keep", ".tif"), ("a.gif", "keep", ".gif"), ("a", "keep", ".png"),
     ("a.xyz", "keep", ".png"), ("a.png", "jpg", ".jpg"), ("a.jpg", "webp", ".webp")],
)
def test_output_extension(name: str, fmt: str, ext: str) -> None:
    assert output_extension(Path(name), fmt) == ext


def test_freshness_follows_the_manifest_not_dates(tmp_path: Path) -> None:
    [src] = touch_images(tmp_path, "in/a.png")
    specs = parse_filter_specs("grayscale,blur:radius=4")
    out = tmp_path / "out"
    [job] = list(iter_jobs([src], specs, out))
    assert [o.path for o in job.outputs] == [out / "a_grayscale.png", out / "a_blur-radius4.png"]
    assert job.pending == job.outputs
    for o in job.outputs:
        solid(o.path, (0, 0, 0))
    [job] = list(iter_jobs([src], specs, out))
    assert job.pending == job.outputs, "outputs nobody recorded are redone, however new"
    stamp = manifest.source_stamp(src)
    assert stamp is not None

    def record(o: Output) -> manifest.Record:
        written = manifest.output_stamp(o.path)
        assert written is not None
        return manifest.Record(str(src.resolve()), stamp, o.settings, written)

    manifest.update(out, {o.path.name: record(o) for o in job.outputs})
    [job] = list(iter_jobs([src], specs, out))
    assert [o.fresh for o in job.outputs] == [True, True]
    assert [o.fresh for o in list(iter_jobs([src], specs, out, overwrite=True))[0].outputs] == [False, False]
    # PNG: no quality
    assert [o.fresh for o in list(iter_jobs([src], specs, out, quality=80))[0].outputs] == [True, True]
    assert [o.fresh for o in list(iter_jobs([src], specs, out, metadata="none"))[0].outputs] == [False, False]
    assert [o.fresh for o in list(iter_jobs([src], parse_filter_specs("blur:radius=4.5"), out))[0].outputs] == [False]

    older = src.stat().st_mtime_ns - 10**10
    solid(src, (9, 9, 9))
    os.utime(src, ns=(older, older))  # replaced by an older-dated file: still redone
    assert [o.fresh for o in list(iter_jobs([src], specs, out))[0].outputs] == [False, False]


def test_long_names_fit_the_file_system(tmp_path: Path) -> None:
    stem = "é" * 100 + "x" * 50  # 250 bytes
    [src] = touch_images(tmp_path, f"{stem}.png")
    specs = parse_filter_specs("sharpen:radius=2.5:percent=300:threshold=10,invert")
    [job] = list(iter_jobs([src], specs, tmp_path / "out"))
    names = [o.path.name for o in job.outputs]
    assert len(set(names)) == 2 and all(len(n.encode()) <= 230 for n in names)
    assert fit_name("short", "_blur.png") == "short_blur.png"
    assert names[0].endswith("_sharpen-radius2.5-percent300-threshold10.png")
    for o in job.outputs:
        solid(o.path, (1, 1, 1))  # creatable, temp name included
    other = touch_images(tmp_path, "é" * 100 + "x" * 51 + ".png")[0]
    assert list(iter_jobs([other], specs, tmp_path / "out"))[0].outputs[0].path.name not in names
