"""The filter registry: each filter's name, documented typed parameters, and implementation.

Pillow does everything except the heavy convolutions (blur, unsharp mask, 3x3 kernels), which run
through OpenCV in .kernels, within a level of Pillow's own result.

Filters take an RGB or RGBA image (what utils.images.load_image returns) and
return a new image without touching the input, which several filters share.
Alpha is kept: colour filters work on the RGB bands and put the original alpha
back; blur works premultiplied so transparent pixels don't bleed colour.

Spec syntax on the command line: `name` or `name:key=value[:key=value...]`,
e.g. `blur:radius=4` or `resize:width=800:height=600`; specs are comma-separated.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFilter, ImageOps

from . import kernels

__all__ = ["FilterSpecError", "Param", "Filter", "FilterSpec", "FILTERS", "parse_filter_specs", "describe_filters"]

_SEPIA = (0.393, 0.769, 0.189, 0, 0.349, 0.686, 0.168, 0, 0.272, 0.534, 0.131, 0)
_MAX_RADIUS = 100  # pixels, for blur and sharpen
_MAX_SIDE = 20000  # pixels, for resize and thumbnail


class FilterSpecError(ValueError):
    """A filter spec names an unknown filter or parameter, or gives a value of the wrong type or range."""


@dataclass(frozen=True)
class Param:
    """One filter parameter: its type, default and allowed range, with a line of documentation."""

    name: str
    type: type[int] | type[float] | type[bool]
    default: int | float | bool
    doc: str
    min: float | None = None
    max: float | None = None

    def parse(self, filter_name: str, text: str) -> int | float | bool:
        """The value of `text` for this parameter, or FilterSpecError saying what is wrong."""
        where = f"{filter_name}: {self.name}"
        try:
            value = _BOOL_WORDS[text.lower()] if self.type is bool else self.type(text)
            if not math.isfinite(value):
                raise ValueError(text)
        except (KeyError, ValueError):
            kind = {int: "a whole number", float: "a number", bool: "true or false"}[self.type]
            raise FilterSpecError(f"{where} must be {kind}, got {text!r}") from None
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise FilterSpecError(f"{where} must be between {_fmt(self.min)} and {_fmt(self.max)}, got {text}")
        return value

    def describe(self) -> str:
        limits = "" if self.min is None else f", {_fmt(self.min)}..{_fmt(self.max)}"
        return f"{self.name}={_fmt(self.default)} ({self.type.__name__}{limits}): {self.doc}"


_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class Filter:
    """A named image operation with its parameters; `apply(img, **params)` returns a new image."""

    name: str
    doc: str
    apply: Callable[..., Image.Image]
    params: tuple[Param, ...] = ()
    check: Callable[[Mapping[str, Any]], str | None] = lambda _values: None  # cross-parameter rule -> problem

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise FilterSpecError(f"{self.name}: unknown parameter {name!r} (parameters: {known})")


@dataclass(frozen=True)
class FilterSpec:
    """A filter with the parameter values given by the user (defaults filled in); picklable and hashable."""

    name: str
    given: tuple[tuple[str, int | float | bool], ...]

    @property
    def filter(self) -> Filter:
        return FILTERS[self.name]

    @property
    def label(self) -> str:
        """Used in output file names: the filter name, plus the parameters the user set (`blur-radius4`)."""
        return self.name + "".join(f"-{key}{_fmt(value)}" for key, value in self.given)

    def values(self) -> dict[str, int | float | bool]:
        return {p.name: p.default for p in self.filter.params} | dict(self.given)

    def __call__(self, img: Image.Image) -> Image.Image:
        return self.filter.apply(img, **self.values())


def parse_filter_specs(text: str) -> list[FilterSpec]:
    """Parse `grayscale,blur:radius=4,...` into specs, or raise FilterSpecError with one clear line."""
    specs: list[FilterSpec] = []
    for chunk in text.split(","):
        spec = _parse_one(chunk.strip())
        if spec.label in (s.label for s in specs):
            raise FilterSpecError(f"filter {chunk.strip()!r} is given twice")
        specs.append(spec)
    return specs


def _parse_one(text: str) -> FilterSpec:
    if not text:
        raise FilterSpecError("empty filter name in the filter list (check for a stray comma)")
    name, *assignments = text.split(":")
    name = name.strip().lower()
    if name not in FILTERS:
        close = difflib.get_close_matches(name, FILTERS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise FilterSpecError(f"unknown filter {name!r} ({hint}see --list-filters)")
    flt = FILTERS[name]
    given: dict[str, int | float | bool] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise FilterSpecError(f"{name}: expected key=value, got {assignment!r}")
        param = flt.param(key.strip())
        if param.name in given:
            raise FilterSpecError(f"{name}: parameter {param.name!r} is given twice")
        given[param.name] = param.parse(name, value.strip())
    ordered = tuple((p.name, given[p.name]) for p in flt.params if p.name in given)
    spec = FilterSpec(name, ordered)
    problem = flt.check(spec.values())
    if problem:
        raise FilterSpecError(f"{name}: {problem}")
    return spec


def describe_filters() -> str:
    """The --list-filters text: every filter with its documentation and parameters."""
    lines = ["Filters (syntax: name or name:key=value[:key=value], comma-separated):"]
    for flt in FILTERS.values():
        lines.append(f"  {flt.name:<13}{flt.doc}")
        lines.extend(f"  {'':<15}{p.describe()}" for p in flt.params)
    return "\n".join(lines)


def _fmt(value: float | bool | None) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _on_colour(op: Callable[..., Image.Image]) -> Callable[..., Image.Image]:
    """Make `op(rgb, **params)` a filter that works on the RGB bands and puts the original alpha back."""

    @functools.wraps(op)
    def apply(img: Image.Image, **params: Any) -> Image.Image:
        if img.mode != "RGBA":
            return op(img, **params)
        out = op(img.convert("RGB"), **params)
        out.putalpha(img.getchannel("A"))
        return out

    return apply


# ---- implementations ------------------------------------------------------------------------------------------


def grayscale(img: Image.Image) -> Image.Image:
    return img.convert("LA" if img.mode == "RGBA" else "L")


def blur(img: Image.Image, radius: float) -> Image.Image:
    if img.mode == "RGBA":  # premultiplied, so fully transparent pixels don't smear their colour
        return kernels.gaussian_blur(img.convert("RGBa"), radius).convert("RGBA")
    return kernels.gaussian_blur(img, radius)


@_on_colour
def sepia(rgb: Image.Image) -> Image.Image:
    return kernels.colour_matrix(rgb, _SEPIA)


@_on_colour
def sharpen(rgb: Image.Image, radius: float, percent: int, threshold: int) -> Image.Image:
    return kernels.unsharp_mask(rgb, radius, percent, threshold)


def _kernel(kernel: ImageFilter.BuiltinFilter) -> Callable[[Image.Image], Image.Image]:
    _size, scale, offset, weights = kernel.filterargs

    @_on_colour
    def apply(rgb: Image.Image) -> Image.Image:
        return kernels.kernel_3x3(rgb, weights, scale, offset)

    return apply


invert = _on_colour(ImageOps.invert)


@_on_colour
def posterize(rgb: Image.Image, bits: int) -> Image.Image:
    return ImageOps.posterize(rgb, bits)


@_on_colour
def autocontrast(rgb: Image.Image, cutoff: float) -> Image.Image:
    return ImageOps.autocontrast(rgb, cutoff=cutoff)


def resize(img: Image.Image, width: int, height: int) -> Image.Image:
    w, h = img.size
    size = (width or max(1, round(w * height / h)), height or max(1, round(h * width / w)))
    return img.resize(size, Image.Resampling.LANCZOS)


def thumbnail(img: Image.Image, size: int) -> Image.Image:
    out = img.copy()
    out.thumbnail((size, size), Image.Resampling.LANCZOS)
    return out


def rotate(img: Image.Image, degrees: float, expand: bool) -> Image.Image:
    return img.rotate(degrees, Image.Resampling.BICUBIC, expand=expand)


def _need_a_size(values: Mapping[str, Any]) -> str | None:
    return None if values["width"] or values["height"] else "give width, height or both (e.g. resize:width=800)"


_FILTERS = [
    Filter("grayscale", "shades of grey (alpha kept)", grayscale),
    Filter("blur", "Gaussian blur", blur, (Param("radius", float, 2.0, "blur radius in pixels", 0, _MAX_RADIUS),)),
    Filter("sepia", "warm brown old-photo tone", sepia),
    Filter(
        "sharpen",
        "unsharp mask",
        sharpen,
        (
            Param("radius", float, 2.0, "radius of the blur it subtracts, in pixels", 0, _MAX_RADIUS),
            Param("percent", int, 150, "strength in percent", 0, 1000),
            Param("threshold", int, 3, "minimum brightness change to sharpen", 0, 255),
        ),
    ),
    Filter("edges", "edge detection (FIND_EDGES kernel)", _kernel(ImageFilter.FIND_EDGES())),
    Filter("emboss", "embossed relief (EMBOSS kernel)", _kernel(ImageFilter.EMBOSS())),
    Filter("contour", "pencil contour lines (CONTOUR kernel)", _kernel(ImageFilter.CONTOUR())),
    Filter("invert", "photographic negative", invert),
    Filter("posterize", "fewer colour levels", posterize, (Param("bits", int, 4, "bits kept per channel", 1, 8),)),
    Filter(
        "autocontrast",
        "stretch levels to the full range",
        autocontrast,
        (Param("cutoff", float, 0.0, "percent of darkest and lightest pixels ignored", 0, 49),),
    ),
    Filter(
        "resize",
        "scale to a size; a missing side follows the aspect ratio",
        resize,
        (
            Param("width", int, 0, "width in pixels (0 = from height)", 0, _MAX_SIDE),
            Param("height", int, 0, "height in pixels (0 = from width)", 0, _MAX_SIDE),
        ),
        check=_need_a_size,
    ),
    Filter(
        "thumbnail",
        "shrink to fit a square, keeping the aspect ratio (never enlarges)",
        thumbnail,
        (Param("size", int, 256, "maximum width and height in pixels", 1, _MAX_SIDE),),
    ),
    Filter(
        "rotate",
        "rotate counter-clockwise",
        rotate,
        (
            Param("degrees", float, 90.0, "angle, counter-clockwise", -360, 360),
            Param("expand", bool, True, "grow the canvas to fit the rotated picture", None, None),
        ),
    ),
]
FILTERS: dict[str, Filter] = {f.name: f for f in _FILTERS}
