"""utils.images: upright, normalised, fully loaded images; clear errors for bad files; atomic, format-aware saves."""

from __future__ import annotations

import io
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.image_filters.make_images import bad_inputs, exif_rotated_jpeg, gradient, png_bomb
from utils import images
from utils.images import ImageLoadError, load_image, load_image_async, save_image, save_image_async


def pixels(img: Image.Image) -> list[Any]:
    return list(img.get_flattened_data())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---- load: modes -------------------------------------------------------------------------------------------


def test_rgb_and_rgba_are_kept(tmp_path: Path) -> None:
    Image.new("RGBA", (3, 2), (10, 20, 30, 40)).save(tmp_path / "a.png")
    gradient().save(tmp_path / "g.png")
    rgba = load_image(tmp_path / "a.png")
    assert rgba.mode == "RGBA" and rgba.getpixel((0, 0)) == (10, 20, 30, 40)
    assert pixels(load_image(tmp_path / "g.png")) == pixels(gradient())


@pytest.mark.parametrize(("mode", "value", "expected"), [("1", 1, (255, 255, 255)), ("L", 77, (77, 77, 77))])
def test_bilevel_and_grey_become_rgb(tmp_path: Path, mode: str, value: int, expected: tuple[int, ...]) -> None:
    Image.new(mode, (3, 2), value).save(tmp_path / "x.png")
    img = load_image(tmp_path / "x.png")
    assert img.mode == "RGB" and set(pixels(img)) == {expected}


def test_grey_with_alpha_becomes_rgba(tmp_path: Path) -> None:
    Image.new("LA", (3, 2), (90, 30)).save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png")
    assert img.mode == "RGBA" and set(pixels(img)) == {(90, 90, 90, 30)}


def palette_image() -> Image.Image:
    img = Image.new("P", (4, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    img.putdata([0, 1, 2, 3])
    return img


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_without_transparency_becomes_rgb(tmp_path: Path, suffix: str) -> None:
    palette_image().save(tmp_path / f"p{suffix}")
    img = load_image(tmp_path / f"p{suffix}")
    assert img.mode == "RGB" and pixels(img) == [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)]


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_with_transparency_becomes_rgba(tmp_path: Path, suffix: str) -> None:
    palette_image().save(tmp_path / f"p{suffix}", transparency=1)
    img = load_image(tmp_path / f"p{suffix}")
    assert img.mode == "RGBA"
    assert [p[3] for p in pixels(img)] == [255, 0, 255, 255]
    assert pixels(img)[2] == (0, 0, 255, 255)


def test_rgb_colour_key_becomes_alpha(tmp_path: Path) -> None:
    """An RGB PNG with a tRNS colour key: left as RGB, the key would outlive any filter and mark the wrong pixels."""
    img = Image.new("RGB", (3, 1), (255, 0, 0))
    img.putpixel((0, 0), (0, 0, 255))
    img.save(tmp_path / "key.png", transparency=(0, 0, 255))
    loaded = load_image(tmp_path / "key.png")
    assert loaded.mode == "RGBA" and "transparency" not in loaded.info
    assert pixels(loaded) == [(0, 0, 255, 0), (255, 0, 0, 255), (255, 0, 0, 255)]


def test_cmyk_jpeg_becomes_rgb_and_drops_its_cmyk_profile(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", icc_profile=b"not-an-rgb-profile")
    with Image.open(tmp_path / "c.jpg") as raw:
        expected = pixels(raw.convert("RGB"))
    img = load_image(tmp_path / "c.jpg")
    assert img.mode == "RGB" and pixels(img) == expected
    assert img.getpixel((4, 4))[0] > 200 and img.getpixel((4, 4))[1] < 50  # red
    assert "icc_profile" not in img.info


@pytest.mark.parametrize("raw_mode", ["I;16", "I;16B"])
def test_16_bit_grey_is_scaled_not_clipped(tmp_path: Path, raw_mode: str) -> None:
    values = [0, 255, 256, 4660, 32768, 65535]
    byte_order = ">" if raw_mode == "I;16B" else "<"
    img16 = Image.frombytes(raw_mode, (len(values), 1), struct.pack(f"{byte_order}{len(values)}H", *values))
    path = tmp_path / ("g.tif" if raw_mode == "I;16B" else "g.png")
    img16.save(path)
    with Image.open(path) as raw:
        assert raw.mode == raw_mode
    img = load_image(path)
    assert img.mode == "RGB"
    assert [p[0] for p in pixels(img)] == [v >> 8 for v in values]


# ---- load: orientation, resources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "top", "bottom"), [(6, (255, 0, 0), (0, 0, 255)), (8, (0, 0, 255), (255, 0, 0))]
)
def test_exif_rotated_jpeg_comes_out_upright(
    tmp_path: Path, orientation: int, top: tuple[int, int, int], bottom: tuple[int, int, int]
) -> None:
    img = load_image(exif_rotated_jpeg(tmp_path / "r.jpg", orientation))
    assert img.size == (20, 40)
    for got, want in ((img.getpixel((10, 5)), top), (img.getpixel((10, 35)), bottom)):
        assert max(abs(a - b) for a, b in zip(got, want)) < 10, (got, want)
    assert img.getexif().get(0x0112, 1) == 1


def test_image_is_fully_loaded_and_file_closed(tmp_path: Path) -> None:
    gradient().save(tmp_path / "g.png")
    before = open_fds()
    img = load_image(tmp_path / "g.png")
    assert open_fds() == before
    os.unlink(tmp_path / "g.png")
    assert pixels(img.convert("RGB")) == pixels(gradient())


# ---- load: bad files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("corrupt", "corrupt"),
        ("truncated", "truncated"),
        ("empty", "empty file"),
        ("text", "not an image"),
        ("bomb", "225000000 pixels"),
    ],
)
def test_bad_files_raise_image_load_error_naming_the_file(tmp_path: Path, kind: str, words: str) -> None:
    path = bad_inputs(tmp_path)[kind]
    before = open_fds()
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert str(path) in message and words in message and "\n" not in message
    assert open_fds() == before


def test_the_pixel_limit_is_ours_and_refuses_before_decoding(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "b.png", side=10000)  # 100 MP: past Pillow's warning, under its hard limit
    with pytest.raises(ImageLoadError, match="10000x10000 = 100000000 pixels is over the limit of 50000000"):
        load_image(bomb, max_pixels=50_000_000)
    with pytest.raises(ImageLoadError, match="over the limit of 178956970"):
        load_image(png_bomb(tmp_path / "big.png", side=15000))  # 225 MP, over the default
    assert images.DEFAULT_MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS  # at least Pillow's own hard limit


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.png")


# ---- save ----------------------------------------------------------------------------------------------------


def test_rgba_to_jpeg_is_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (32, 8), (255, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 16, 8))
    save_image(img, tmp_path / "a.jpg")
    with Image.open(tmp_path / "a.jpg") as out:
        assert out.format == "JPEG" and out.mode == "RGB"
        left, right = out.getpixel((4, 4)), out.getpixel((28, 4))
    assert left[0] > 240 and left[1] < 15 and min(right) > 240


def test_grey_alpha_to_jpeg_stays_grey(tmp_path: Path) -> None:
    save_image(Image.new("LA", (8, 8), (0, 128)), tmp_path / "la.jpg")
    with Image.open(tmp_path / "la.jpg") as out:
        assert out.mode == "L" and abs(out.getpixel((4, 4)) - 127) <= 2


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_alpha_is_kept_where_the_format_has_it(tmp_path: Path, fmt: str) -> None:
    save_image(Image.new("RGBA", (8, 8), (1, 2, 3, 100)), tmp_path / f"a.{fmt}")
    with Image.open(tmp_path / f"a.{fmt}") as out:
        assert out.mode == "RGBA" and abs(out.getpixel((4, 4))[3] - 100) <= 2


def test_palette_and_16_bit_to_jpeg(tmp_path: Path) -> None:
    palette = palette_image()
    palette.info["transparency"] = 1
    save_image(palette, tmp_path / "p.jpg")
    img16 = Image.new("I;16", (8, 8), 65535)
    save_image(img16, tmp_path / "g.jpg")
    with Image.open(tmp_path / "g.jpg") as out:
        assert out.mode == "L" and out.getpixel((4, 4)) == 255


def test_format_argument_overrides_extension_and_quality_matters(tmp_path: Path) -> None:
    img = gradient((128, 128))
    save_image(img, tmp_path / "low.out", format="jpg", quality=20)
    save_image(img, tmp_path / "high.out", format="JPEG", quality=95)
    with Image.open(tmp_path / "low.out") as out:
        assert out.format == "JPEG"
    assert (tmp_path / "low.out").stat().st_size < (tmp_path / "high.out").stat().st_size


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot tell an image format"):
        save_image(gradient(), tmp_path / "x.unknown")
    with pytest.raises(ValueError, match="unknown image format 'nope'"):
        save_image(gradient(), tmp_path / "x.png", format="nope")


def test_save_is_atomic_and_encodes_to_a_real_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "deep" / "out.png"
    save_image(Image.new("RGB", (4, 4), "red"), target)
    assert os.listdir(target.parent) == ["out.png"]

    real_save = Image.Image.save
    seen: list[object] = []

    def failing_save(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        seen.append(fp)
        real_save(self, fp, *args, **kwargs)  # the temp file exists now ...
        raise OSError("encoder exploded")  # ... and must be cleaned up

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="encoder exploded"):
        save_image(Image.new("RGB", (4, 4), "blue"), target)
    # a real file (Pillow encodes straight to its descriptor, the GIL released)
    assert isinstance(seen[0], io.BufferedRandom)
    assert os.listdir(target.parent) == ["out.png"]
    with Image.open(target) as kept:
        assert kept.getpixel((0, 0)) == (255, 0, 0)


async def test_async_wrappers_run_on_the_given_executor(tmp_path: Path) -> None:
    submitted: list[str] = []

    class CountingPool(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            submitted.append(getattr(fn, "__name__", getattr(getattr(fn, "func", None), "__name__", "?")))
            return super().submit(fn, *args, **kwargs)

    with CountingPool(2) as pool:
        await save_image_async(gradient(), tmp_path / "g.webp", quality=100, executor=pool)
        img = await load_image_async(tmp_path / "g.webp", executor=pool)
    assert img.size == gradient().size
    assert submitted == ["save_image", "load_image"]


def test_concurrent_bomb_checks_do_not_leak_warning_filters(tmp_path: Path) -> None:
    import warnings

    before = list(warnings.filters)
    gradient().save(tmp_path / "g.png")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: load_image(tmp_path / "g.png"), range(50)))
    assert warnings.filters == before
    assert images._open_lock.acquire(blocking=False)
    images._open_lock.release()


# ---- pictures: frames, profiles, metadata --------------------------------------------------------------------


def test_picture_round_trip_keeps_frames_timing_profile_and_camera_exif(tmp_path: Path) -> None:
    from tests.image_filters.make_images import animation, exif_with_gps, rgb_profile

    gif = images.load_picture(animation(tmp_path / "a.gif"))
    assert len(gif.frames) == 3 and gif.durations == (100, 200, 300) and gif.loop == 2
    images.save_picture(gif, tmp_path / "b.webp")
    webp = images.load_picture(tmp_path / "b.webp")
    assert len(webp.frames) == 3 and webp.durations == (100, 200, 300) and webp.loop == 2

    gradient().save(tmp_path / "c.jpg", icc_profile=rgb_profile(), exif=exif_with_gps(orientation=8))
    photo = images.load_picture(tmp_path / "c.jpg")
    assert photo.size == (32, 48) and images.image_size(tmp_path / "c.jpg") == (32, 48)  # upright
    images.save_picture(photo, tmp_path / "d.png")
    with Image.open(tmp_path / "d.png") as out:
        exif = out.getexif()
        assert out.info["icc_profile"] == rgb_profile() and exif[0x010F] == "TestCam"
        assert 0x0112 not in exif and not exif.get_ifd(0x8825)
    with pytest.raises(ValueError, match="unknown metadata policy 'most'"):
        images.save_picture(photo, tmp_path / "e.png", metadata="most")


def test_to_srgb_converts_through_the_profile_and_leaves_unprofiled_images_alone() -> None:
    from tests.image_filters.make_images import rgb_profile

    img = Image.new("RGB", (2, 2), (50, 150, 50))
    assert images.to_srgb(img, None) is img
    converted = images.to_srgb(img, rgb_profile()).getpixel((0, 0))
    assert isinstance(converted, tuple) and converted[0] < 20 and abs(converted[1] - 151) <= 2
    assert images.to_srgb(img, b"not a profile") is img
