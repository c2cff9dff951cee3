"""Every filter against Pillow called directly (pixel-equal unless a tolerance is stated), alpha handling,
and the filter-spec syntax with its one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from apps.image_filters.filters import FILTERS, FilterSpecError, describe_filters, parse_filter_specs
from apps.image_filters.inputs import SAMPLES
from tests.image_filters.make_images import gradient

RGB = gradient((48, 32))


def apply(text: str, img: Image.Image = RGB) -> Image.Image:
    [spec] = parse_filter_specs(text)
    before = img.tobytes()
    out = spec(img)
    assert img.tobytes() == before, "filters must not modify their (shared) input"
    return out


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()


REFERENCES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "grayscale": lambda im: im.convert("L"),
    "invert": ImageOps.invert,
    "posterize:bits=2": lambda im: ImageOps.posterize(im, 2),
    "autocontrast:cutoff=5": lambda im: ImageOps.autocontrast(im, cutoff=5),
    "resize:width=24": lambda im: im.resize((24, 16), Image.Resampling.LANCZOS),
    "resize:height=8": lambda im: im.resize((12, 8), Image.Resampling.LANCZOS),
    "resize:width=10:height=30": lambda im: im.resize((10, 30), Image.Resampling.LANCZOS),
    "rotate:degrees=90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "rotate:degrees=30:expand=false": lambda im: im.rotate(30, Image.Resampling.BICUBIC),
    "rotate:degrees=-45": lambda im: im.rotate(-45, Image.Resampling.BICUBIC, expand=True),
}


# The kernels OpenCV runs: within one level (mean absolute difference) of Pillow's own result, on a photo.
OPENCV_REFERENCES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "blur": lambda im: im.filter(ImageFilter.GaussianBlur(2)),
    "blur:radius=0.5": lambda im: im.filter(ImageFilter.GaussianBlur(0.5)),
    "blur:radius=3": lambda im: im.filter(ImageFilter.GaussianBlur(3)),
    "blur:radius=12.5": lambda im: im.filter(ImageFilter.GaussianBlur(12.5)),
    "sharpen": lambda im: im.filter(ImageFilter.UnsharpMask(2, 150, 3)),
    "sharpen:radius=5:percent=50:threshold=10": lambda im: im.filter(ImageFilter.UnsharpMask(5, 50, 10)),
    "sharpen:radius=0.5:percent=300:threshold=0": lambda im: im.filter(ImageFilter.UnsharpMask(0.5, 300, 0)),
    "edges": lambda im: im.filter(ImageFilter.FIND_EDGES),
    "emboss": lambda im: im.filter(ImageFilter.EMBOSS),
    "contour": lambda im: im.filter(ImageFilter.CONTOUR),
}
PHOTO = Image.open(SAMPLES / "chelsea.png").convert("RGB")
SMALL_PHOTO = PHOTO.crop((100, 50, 196, 114))  # 96x64: blurred pass by pass, too small for the folded kernel


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.mode == b.mode and a.size == b.size
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


@pytest.mark.parametrize("text", list(REFERENCES))
def test_filter_matches_pillow_exactly(text: str) -> None:
    assert same(apply(text), REFERENCES[text](RGB))


@pytest.mark.parametrize("text", list(OPENCV_REFERENCES))
@pytest.mark.parametrize("picture", ["photo", "small photo", "gradient"])
def test_opencv_kernels_are_within_one_level_of_pillow(text: str, picture: str) -> None:
    img = {"photo": PHOTO, "small photo": SMALL_PHOTO, "gradient": RGB}[picture]
    got, want = apply(text, img), OPENCV_REFERENCES[text](img)
    assert mean_abs_diff(got, want) <= 1.0
    assert not same(got, img), "the filter did nothing"


def test_3x3_kernels_are_exact_and_blur_is_not_a_copy() -> None:
    for text in ("edges", "emboss", "contour"):
        assert same(apply(text, PHOTO), OPENCV_REFERENCES[text](PHOTO)), text
    assert mean_abs_diff(apply("blur", PHOTO), PHOTO) > 1.0


def test_thumbnail_matches_pillow_and_never_enlarges() -> None:
    expected = RGB.copy()
    expected.thumbnail((20, 20), Image.Resampling.LANCZOS)
    out = apply("thumbnail:size=20")
    assert out.size == (20, 13) and same(out, expected)
    assert apply("thumbnail:size=500").size == RGB.size


def test_sepia_matches_the_sepia_formula_within_one_level() -> None:
    """Independent of Pillow's matrix convert: the classic sepia weights per pixel, rounded, clipped."""
    out = apply("sepia")
    weights = ((0.393, 0.769, 0.189), (0.349, 0.686, 0.168), (0.272, 0.534, 0.131))
    for (r, g, b), got in zip(RGB.get_flattened_data(), out.get_flattened_data()):
        want = tuple(min(255, round(wr * r + wg * g + wb * b)) for wr, wg, wb in weights)
        assert all(abs(x - y) <= 1 for x, y in zip(got, want)), (got, want)


def test_invert_and_posterize_match_their_definitions() -> None:
    for src, inv, post in zip(RGB.get_flattened_data(), apply("invert").get_flattened_data(),
                              apply("posterize:bits=3").get_flattened_data()):
        assert inv == tuple(255 - v for v in src)
        assert post == tuple(v & 0b11100000 for v in src)


def test_every_registered_filter_is_covered() -> None:
    covered = {text.split(":")[0] for text in [*REFERENCES, *OPENCV_REFERENCES]} | {"sepia", "thumbnail"}
    assert covered == set(FILTERS)


# ---- alpha -------------------------------------------------------------------------------------------------


def rgba_picture() -> Image.Image:
    img = RGB.convert("RGBA")
    img.putalpha(Image.linear_gradient("L").resize(RGB.size))
    return img


@pytest.mark.parametrize(
    "text", ["sepia", "sharpen", "edges", "emboss", "contour", "invert", "posterize:bits=2", "autocontrast"]
)
def test_colour_filters_keep_alpha_and_filter_the_colour(text: str) -> None:
    img = rgba_picture()
    out = apply(text, img)
    assert out.mode == "RGBA"
    assert out.getchannel("A").tobytes() == img.getchannel("A").tobytes()
    assert same(out.convert("RGB"), apply(text, img.convert("RGB")))


def test_grayscale_keeps_alpha() -> None:
    img = rgba_picture()
    out = apply("grayscale", img)
    assert out.mode == "LA" and out.getchannel("A").tobytes() == img.getchannel("A").tobytes()


def test_blur_does_not_bleed_colour_out_of_transparent_pixels() -> None:
    img = Image.new("RGBA", (40, 10), (255, 0, 0, 0))  # invisible red ...
    img.paste((0, 0, 255, 255), (20, 0, 40, 10))  # ... next to opaque blue
    out = apply("blur:radius=4", img)
    visible = [p for p in out.get_flattened_data() if p[3] > 0]
    assert any(p[3] < 255 for p in visible), "the alpha edge should be blurred too"
    assert max(p[0] for p in visible) <= 2, "red from fully transparent pixels leaked into the blur"


@pytest.mark.parametrize(("text", "size"), [("rotate:degrees=30", None), ("resize:width=20", (20, 5))])
def test_geometry_filters_keep_alpha(text: str, size: Any) -> None:
    img = Image.new("RGBA", (40, 10), (0, 200, 0, 255))
    out = apply(text, img)
    assert out.mode == "RGBA"
    if size:
        assert out.size == size
    else:
        assert out.getpixel((0, 0))[3] == 0, "the corners a rotation exposes are transparent"


# ---- spec syntax ---------------------------------------------------------------------------------------------


def test_labels_name_the_parameters_the_user_set() -> None:
    specs = parse_filter_specs("grayscale, blur:radius=4 ,resize:height=600:width=800,rotate:expand=no")
    assert [s.label for s in specs] == ["grayscale", "blur-radius4", "resize-width800-height600",
                                        "rotate-expandfalse"]
    assert specs[1].values() == {"radius": 4.0}
    assert specs[3].values() == {"degrees": 90.0, "expand": False}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blurr", "unknown filter 'blurr' (did you mean 'blur'? see --list-filters)"),
        ("nope", "unknown filter 'nope' (see --list-filters)"),
        ("blur:radius=abc", "blur: radius must be a number, got 'abc'"),
        ("blur:radius=nan", "blur: radius must be a number, got 'nan'"),
        ("blur:radius=500", "blur: radius must be between 0 and 100, got 500"),
        ("posterize:bits=2.5", "posterize: bits must be a whole number, got '2.5'"),
        ("posterize:bits=0", "posterize: bits must be between 1 and 8, got 0"),
        ("rotate:expand=maybe", "rotate: expand must be true or false, got 'maybe'"),
        ("blur:4", "blur: expected key=value, got '4'"),
        ("blur:sigma=3", "blur: unknown parameter 'sigma' (parameters: radius)"),
        ("invert:x=1", "invert: unknown parameter 'x' (parameters: none)"),
        ("blur:radius=1:radius=2", "blur: parameter 'radius' is given twice"),
        ("resize", "resize: give width, height or both (e.g. resize:width=800)"),
        ("blur,blur", "filter 'blur' is given twice"),
        ("grayscale,", "empty filter name in the filter list (check for a stray comma)"),
    ],
)
def test_bad_specs_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(FilterSpecError) as info:
        parse_filter_specs(text)
    assert str(info.value) == message


def test_list_documents_every_filter_and_parameter() -> None:
    text = describe_filters()
    for flt in FILTERS.values():
        assert f"  {flt.name} " in text
        for p in flt.params:
            assert f"{p.name}=" in text
    assert "radius=2 (float, 0..100): blur radius in pixels" in text
