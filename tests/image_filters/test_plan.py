"""Input discovery (files, recursive folders, globs) and output planning (names, collisions, freshness)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apps.image_filters.filters import parse_filter_specs
from apps.image_filters.inputs import InputError, find_images
from apps.image_filters.plan import output_extension, output_names, plan_jobs
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


def test_output_folder_inside_an_input_folder_is_left_out(tmp_path: Path) -> None:
    touch_images(tmp_path, "a.png", "out/a_blur.png")
    assert find_images([tmp_path], exclude=tmp_path / "out") == [tmp_path / "a.png"]
    assert find_images([str(tmp_path / "**/*.png")], exclude=tmp_path / "out") == [tmp_path / "a.png"]


@pytest.mark.parametrize(
    ("make", "arg", "message"),
    [
        (None, "missing.png", "input not found: {root}/missing.png"),
        (None, "*.nothing", "no files match {root}/*.nothing"),
        ("empty", "empty", "no images (.bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp) in folder {root}/empty"),
    ],
)
def test_inputs_that_name_nothing_are_errors(tmp_path: Path, make: str | None, arg: str, message: str) -> None:
    if make:
        (tmp_path / make).mkdir()
    with pytest.raises(InputError) as info:
        find_images([str(tmp_path / arg)])
    assert str(info.value) == message.format(root=tmp_path)


def test_same_stems_in_different_folders_get_the_folder_name() -> None:
    names = output_names([Path("trip/photo.jpg"), Path("home/photo.png"), Path("home/cat.png")])
    assert names == {Path("trip/photo.jpg"): "photo-trip", Path("home/photo.png"): "photo-home",
                     Path("home/cat.png"): "cat"}


def test_same_stems_with_same_folder_names_get_a_path_hash_independent_of_order() -> None:
    paths = [Path("x/a/photo.png"), Path("y/a/photo.png"), Path("x/a/photo.jpg")]
    names = output_names(paths)
    assert len(set(names.values())) == 3
    assert all(n.startswith("photo-") and len(n) == len("photo-") + 8 for n in names.values())
    assert output_names(paths[::-1]) == names


def test_a_suffixed_name_never_collides_with_a_real_stem() -> None:
    paths = [Path("a/photo.png"), Path("b/photo.png"), Path("c/photo-a.png")]
    names = output_names(paths)
    assert len(set(names.values())) == 3 and names[paths[1]] == "photo-b"


def test_unsafe_stems_are_made_safe() -> None:
    assert output_names([Path("../..photo?.png")]) == {Path("../..photo?.png"): "photo_"}


@pytest.mark.parametrize(
    ("name", "fmt", "ext"),
    [("a.JPG", "keep", ".jpg"), ("a.tif", "keep", ".tif"), ("a.gif", "keep", ".gif"), ("a", "keep", ".png"),
     ("a.xyz", "keep", ".png"), ("a.png", "jpg", ".jpg"), ("a.jpg", "webp", ".webp")],
)
def test_output_extension(name: str, fmt: str, ext: str) -> None:
    assert output_extension(Path(name), fmt) == ext


def test_outputs_newer_than_their_input_are_fresh_unless_overwriting(tmp_path: Path) -> None:
    [src] = touch_images(tmp_path, "in/a.png")
    specs = parse_filter_specs("grayscale,blur:radius=4")
    out = tmp_path / "out"
    [job] = plan_jobs([src], specs, out)
    assert [o.path for o in job.outputs] == [out / "a_grayscale.png", out / "a_blur-radius4.png"]
    assert job.pending == job.outputs
    for o in job.outputs:
        solid(o.path, (0, 0, 0))
    t = src.stat().st_mtime_ns
    os.utime(job.outputs[0].path, ns=(t + 10**9, t + 10**9))  # newer: fresh
    os.utime(job.outputs[1].path, ns=(t - 10**9, t - 10**9))  # older than the input: redo
    [job] = plan_jobs([src], specs, out)
    assert [o.fresh for o in job.outputs] == [True, False]
    [job] = plan_jobs([src], specs, out, overwrite=True)
    assert [o.fresh for o in job.outputs] == [False, False]
