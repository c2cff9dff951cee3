"""Colours, frames, metadata and size limits survive the pipeline: ICC profiles (Adobe RGB kept, CMYK converted
through its profile, none on grey), the contact sheet in sRGB, every frame of GIF/WebP/TIFF with its timing,
EXIF by --metadata, a 102 MP camera-sized JPEG, and resizes past --max-pixels refused before any work."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageSequence

from apps.image_filters import render
from apps.image_filters.__main__ import main
from apps.image_filters.filters import parse_filter_specs
from tests.image_filters.make_images import animation, cmyk_profile, exif_with_gps, gradient, rgb_profile
from tests.image_filters.test_pipeline import report_of, run_flow

GREENISH = (50, 150, 50)


def adobe_rgb_jpeg(path: Path, colour: tuple[int, int, int] = GREENISH, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95, icc_profile=rgb_profile())
    return path


def info_of(path: Path) -> dict[str, Any]:
    with Image.open(path) as img:
        return dict(img.info)


@pytest.mark.parametrize("fmt", ["keep", "png", "webp"])
def test_rgb_profile_is_kept_in_colour_outputs_and_left_out_of_grey_ones(tmp_path: Path, fmt: str) -> None:
    src = adobe_rgb_jpeg(tmp_path / "in" / "green.jpg")
    shared = run_flow([src], "sepia,blur,grayscale", tmp_path / "out", format=fmt)
    assert report_of(shared).failed == []
    ext = ".jpg" if fmt == "keep" else f".{fmt}"
    stem = "green" if fmt == "keep" else "green-jpg"
    for label in ("sepia", "blur"):
        assert info_of(tmp_path / "out" / f"{stem}_{label}{ext}").get("icc_profile") == rgb_profile(), label
    with Image.open(tmp_path / "out" / f"{stem}_grayscale{ext}") as grey:
        assert grey.mode == ("RGB" if fmt == "webp" else "L") and "icc_profile" not in grey.info  # WebP has no grey


def test_tiff_keeps_its_profile_and_all_its_pages(tmp_path: Path) -> None:
    src = animation(tmp_path / "pages.tif", icc_profile=rgb_profile())
    run_flow([src], "invert", tmp_path / "out")
    with Image.open(tmp_path / "out" / "pages_invert.tif") as out:
        assert out.info.get("icc_profile") == rgb_profile() and out.n_frames == 3


def test_cmyk_is_converted_through_its_own_profile(tmp_path: Path) -> None:
    src = tmp_path / "cyan.jpg"
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(src, icc_profile=cmyk_profile(cyan_looks_like=(255, 0, 0)))
    run_flow([src], "blur:radius=0", tmp_path / "out")
    with Image.open(tmp_path / "out" / "cyan_blur-radius0.jpg") as out:
        red, green, blue = out.convert("RGB").getpixel((8, 8))  # type: ignore[misc]
        profile = ImageCms.ImageCmsProfile(io.BytesIO(out.info["icc_profile"]))
    assert red > 230 and green < 30 and blue < 30, "the profile says this ink prints red; without it, it's cyan"
    assert "sRGB" in ImageCms.getProfileDescription(profile)


def test_contact_sheet_thumbnails_are_converted_to_srgb(tmp_path: Path) -> None:
    src = adobe_rgb_jpeg(tmp_path / "green.jpg")
    shared = run_flow([src], "invert", tmp_path / "out", contact_sheet=True)
    with Image.open(shared["contact_sheet"]) as sheet:
        from apps.image_filters.contact_sheet import Layout

        layout = Layout(rows=1, cols=2)
        x, y = layout.placement(0, 0, (64, 48))
        got = np.asarray(sheet.crop((x + 20, y + 15, x + 40, y + 30)), np.int16).reshape(-1, 3).mean(axis=0)
    converted = ImageCms.profileToProfile(Image.new("RGB", (1, 1), GREENISH),
                                          ImageCms.ImageCmsProfile(io.BytesIO(rgb_profile())),
                                          ImageCms.createProfile("sRGB"))  # fmt: skip
    assert converted is not None
    want = np.array(converted.getpixel((0, 0)))
    assert np.abs(got - want).max() <= 4, (got, want)
    assert np.abs(got - np.array(GREENISH)).max() > 30, "the raw Adobe RGB values would be off by ~50 levels"


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".tif", ".png"])
def test_every_frame_is_filtered_and_timing_kept(tmp_path: Path, suffix: str) -> None:
    options: dict[str, Any] = {"disposal": [2, 1, 2]} if suffix == ".gif" else {}
    src = animation(tmp_path / f"anim{suffix}", **options)
    shared = run_flow([src], "invert", tmp_path / "out")
    assert report_of(shared).failed == [] and report_of(shared).warnings == []
    with Image.open(src) as before, Image.open(tmp_path / "out" / f"anim_invert{suffix}") as after:
        assert after.n_frames == before.n_frames == 3
        for frame_in, frame_out in zip(ImageSequence.Iterator(before), ImageSequence.Iterator(after), strict=True):
            r, g, b = frame_in.convert("RGB").getpixel((5, 5))  # type: ignore[misc]
            got = frame_out.convert("RGB").getpixel((5, 5))
            assert all(abs(x - y) <= 8 for x, y in zip(got, (255 - r, 255 - g, 255 - b), strict=True)), (got, r, g, b)
            if suffix != ".tif":
                assert frame_out.info.get("duration") == frame_in.info.get("duration")
            if suffix == ".gif":
                assert getattr(frame_out, "disposal_method", None) == getattr(frame_in, "disposal_method", None)
        if suffix != ".tif":
            assert after.info.get("loop") == 2


def test_frames_a_format_cannot_hold_are_reported(tmp_path: Path) -> None:
    src = animation(tmp_path / "anim.gif")
    shared = run_flow([src], "invert", tmp_path / "out", format="jpg")
    [warning] = report_of(shared).warnings
    assert str(src) in warning and "3 frames" in warning and "anim-gif_invert.jpg" in warning


@pytest.mark.parametrize(
    ("policy", "camera", "gps"), [("camera", True, False), ("all", True, True), ("none", False, False)]
)
def test_metadata_policy(tmp_path: Path, policy: str, camera: bool, gps: bool) -> None:
    src = tmp_path / "geo.jpg"
    gradient((40, 20)).save(src, exif=exif_with_gps(orientation=6), quality=95)
    run_flow([src], "sepia,grayscale", tmp_path / "out", metadata=policy)
    for label in ("sepia", "grayscale"):
        with Image.open(tmp_path / "out" / f"geo_{label}.jpg") as out:
            exif = out.getexif()
            assert out.size == (20, 40), "upright"
            assert ExifTags.Base.Orientation not in exif, "already applied, so never applied twice"
            assert (exif.get(ExifTags.Base.Make) == "TestCam") is camera
            assert (exif.get(ExifTags.Base.Copyright) == "(c) A. Photographer") is camera
            assert bool(exif.get_ifd(ExifTags.IFD.GPSInfo)) is gps


def test_a_102_megapixel_camera_file_is_accepted_and_shrunk_on_load(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "camera.jpg"
    Image.new("L", (11648, 8760), 120).save(src, quality=50)  # 102 MP; a solid colour encodes fast
    specs = parse_filter_specs("thumbnail:size=64")
    picture = render.load_source(src, specs, render.OutputOptions())
    assert picture.size[0] <= 11648 // 8 + 1, "decoded at 1/8 scale (JPEG draft), not at 102 MP"
    assert main([str(src), "-f", "thumbnail:size=64", "-o", str(tmp_path / "out"), "-q"]) == 0
    with Image.open(tmp_path / "out" / "camera_thumbnail-size64.jpg") as thumb:
        assert thumb.size == (64, 48)
    assert main([str(src), "-f", "thumbnail:size=64", "-o", str(tmp_path / "o2"), "--max-pixels", "100000000"]) == 1
    assert "is over the limit of 100000000" in capsys.readouterr().err


def test_shrink_on_load_stays_close_to_a_full_decode(tmp_path: Path) -> None:
    src = tmp_path / "photo.jpg"
    gradient((64, 48)).resize((2048, 1536), Image.Resampling.BICUBIC).save(src, quality=95)
    specs = parse_filter_specs("resize:width=200")
    small = render.apply_filter(render.load_source(src, specs, render.OutputOptions()), specs[0]).image
    with Image.open(src) as full:
        reference = full.convert("RGB").resize(small.size, Image.Resampling.LANCZOS)
    assert small.size == (200, 150)
    assert np.abs(np.asarray(small, np.int16) - np.asarray(reference, np.int16)).mean() <= 1.0


def test_a_resize_past_the_pixel_limit_is_refused_before_any_work(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (1, 2, 3)).save(src)
    decoded: list[Path] = []
    real = render.load_source
    monkeypatch.setattr(render, "load_source", lambda path, *a: decoded.append(path) or real(path, *a))
    assert main([str(src), "-f", "resize:width=20000", "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "resize-width20000 would make a 20000x20000 image (400000000 pixels), over the limit" in err
    assert decoded == [] and not list((tmp_path / "out").glob("*.png"))
    assert main([str(src), "-f", "resize:width=20000,invert", "-o", str(tmp_path / "out"), "-q"]) == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["dot_invert.png"]  # the rest still done


def test_real_photographs_keep_their_profiles_and_stay_within_a_level_of_pillow(tmp_path: Path) -> None:
    """The bundled photographs (see samples/SOURCES.md): their own ICC profiles survive, and the OpenCV kernels
    stay within a level of Pillow on them, through the whole pipeline."""
    from PIL import ImageFilter

    from apps.image_filters.inputs import SAMPLES

    photos = [SAMPLES / "rocket.jpg", SAMPLES / "astronaut.png"]
    run_flow(photos, "blur,sharpen,edges,grayscale", tmp_path / "out", format="png")
    direct = {"blur": ImageFilter.GaussianBlur(2), "sharpen": ImageFilter.UnsharpMask(2, 150, 3),
              "edges": ImageFilter.FIND_EDGES}  # fmt: skip
    for photo in photos:
        with Image.open(photo) as original:
            profile = original.info["icc_profile"]
            rgb = original.convert("RGB")
        stem = photo.stem if photo.suffix == ".png" else f"{photo.stem}-jpg"
        for label, kernel in direct.items():
            with Image.open(tmp_path / "out" / f"{stem}_{label}.png") as out:
                assert out.info.get("icc_profile") == profile, (photo.name, label)
                diff = np.abs(np.asarray(out, np.int16) - np.asarray(rgb.filter(kernel), np.int16)).mean()
            assert diff <= 1.0, (photo.name, label, diff)
        assert "icc_profile" not in info_of(tmp_path / "out" / f"{stem}_grayscale.png")
