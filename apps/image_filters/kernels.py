"""The heavy pixel kernels, run by OpenCV on numpy copies of Pillow images, matching Pillow within a level.

Pillow stays in charge of modes, formats and metadata; only the arithmetic moves here, because OpenCV's
separable and 3x3 filters are several times faster than Pillow's (a 12 MP Gaussian blur of radius 2:
about 0.03 s against 0.35 s). Each function takes and returns an 8-bit Pillow image of the same mode.

- gaussian_blur reproduces Pillow's own blur, not a true Gaussian: Pillow runs three passes of an
  "extended box" whose fractional width comes from Gwosdek et al. (2011), horizontally then vertically,
  rounding to 8 bits after each. OpenCV runs the same boxes folded into one kernel on images large next to
  it; on smaller ones it runs Pillow's six passes one by one (still 2-4x faster than Pillow from about 50x40
  pixels up: 68 against 148 us on 96x64); past radius ~10, where Pillow's running sums win, and on thumbnails,
  Pillow blurs.
- unsharp_mask applies Pillow's rule exactly on that blur, reproduced pass by pass.
- kernel_3x3 is Pillow's ImageFilter.Kernel convolution (Pillow's kernel rows run bottom to top), and like
  Pillow it leaves the one-pixel border as it was.
- colour_matrix is Image.convert("RGB", matrix) (sepia), four times faster in OpenCV on large images.

Moving pixels into numpy is itself a cost as large as a 12 MP blur (`numpy.asarray` packs them through
Pillow's chunked `tobytes`, then joins the chunks): `pixels` packs in one pass, and keeps the array of a frame
marked with `keep_pixels` (a decoded picture's frames, which the parallel jobs of its outputs share and
nobody changes in place) so its other filters reuse it.
"""

from __future__ import annotations

import functools
import math
import threading

import cv2
import numpy as np
from PIL import Image, ImageFilter

__all__ = ["gaussian_blur", "unsharp_mask", "kernel_3x3", "colour_matrix", "keep_pixels", "pixels"]

_KEPT = "_kernels_pixels"  # attribute of a frame marked by keep_pixels: [lock, its packed pixels or None]
_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "RGBa": 4}
MIN_MATRIX_PIXELS = 256 * 256  # below this Pillow's matrix convert beats the trip through numpy


def keep_pixels(img: Image.Image) -> None:
    """Let `pixels` keep `img`'s array for the next filter of it. Only for images nobody changes in place."""
    img.__dict__.setdefault(_KEPT, [threading.Lock(), None])


def pixels(img: Image.Image) -> np.ndarray:
    """`img`'s pixels as a read-only (height, width[, channels]) uint8 array, as `numpy.asarray` gives them."""
    slot = img.__dict__.get(_KEPT)
    if slot is None:
        return _packed(img)
    with slot[0]:  # one packing per frame, however many of its filters ask at once
        if slot[1] is None:
            slot[1] = _packed(img)
        kept: np.ndarray = slot[1]
        return kept


def _packed(img: Image.Image) -> np.ndarray:
    """One raw-encoder pass into one buffer: half the time of numpy.asarray's chunked tobytes on 12 MP."""
    channels = _CHANNELS.get(img.mode)
    if channels is None:
        return np.asarray(img)
    img.load()
    width, height = img.size
    try:
        encoder = Image._getencoder(img.mode, "raw", img.mode)  # Pillow's own packer, as tobytes uses it
        encoder.setimage(img.im, (0, 0, width, height))
        _, status, data = encoder.encode(width * height * channels)
    except (AttributeError, TypeError, ValueError, OSError):  # a Pillow whose internals moved: the slow way
        return np.asarray(img)
    if status != 1 or len(data) != width * height * channels:
        return np.asarray(img)
    flat = np.frombuffer(data, np.uint8)
    return flat.reshape(height, width) if channels == 1 else flat.reshape(height, width, channels)


@functools.lru_cache(maxsize=64)
def _pillow_box(radius: float, passes: int = 3) -> np.ndarray:
    """One of Pillow's `passes` extended boxes for a Gaussian of `radius`, as a 1-D kernel."""
    sigma2 = radius * radius / passes
    whole = math.floor((math.sqrt(12.0 * sigma2 + 1.0) - 1.0) / 2.0)
    fraction = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2) / (6 * (sigma2 - (whole + 1) ** 2))
    box = np.ones(2 * whole + 3)
    box[0] = box[-1] = fraction
    box /= 2 * (whole + fraction) + 1
    out: np.ndarray = box.astype(np.float32)
    return out


_ONE = np.ones(1, np.float32)
_FOLD_MIN_KERNELS = 8  # fold the passes only when the image's short side spans this many folded kernels
_MAX_FOLDED = 64  # longer folded kernels are slower in OpenCV than Pillow's running sums (radius above ~6)
_MAX_BOX = 21  # the same for the six box passes of a blur or an unsharp mask (radius above ~10)
_PASSES_MIN_PIXELS = 2048  # below this Pillow's blur beats six OpenCV passes (16x16: 10 against 25 us)


def _blurred_exactly(pixels: np.ndarray, radius: float, passes: int = 3) -> np.ndarray:
    """Pillow's order and rounding: every horizontal box pass, then every vertical one, each back to 8 bits,
    edge pixels repeated; equal to Pillow's blur but for the odd tie. For unsharp masks, which amplify errors."""
    box = _pillow_box(radius, passes)
    out = pixels
    for _ in range(passes):
        out = cv2.sepFilter2D(out, -1, box, _ONE, borderType=cv2.BORDER_REPLICATE)
    for _ in range(passes):
        out = cv2.sepFilter2D(out, -1, _ONE, box, borderType=cv2.BORDER_REPLICATE)
    return out


@functools.lru_cache(maxsize=64)
def _folded(radius: float, passes: int = 3) -> np.ndarray:
    """Pillow's `passes` boxes convolved into one kernel: one separable OpenCV call instead of 2 x passes."""
    box = _pillow_box(radius, passes).astype(np.float64)
    kernel = box
    for _ in range(passes - 1):
        kernel = np.convolve(kernel, box)
    out: np.ndarray = kernel.astype(np.float32)
    return out


def gaussian_blur(img: Image.Image, radius: float) -> Image.Image:
    """Image.filter(ImageFilter.GaussianBlur(radius)) within a level.

    OpenCV runs the folded kernel where that is faster than Pillow's running-sum boxes (whose cost doesn't grow
    with the radius) and the image is large next to it (Pillow rounds after each pass and repeats the edge
    per pass, which a single pass only approximates near the borders); else Pillow's passes one by one, where
    those are faster than Pillow; otherwise Pillow blurs.
    """
    if radius <= 0:
        return img.copy()
    kernel = _folded(radius)
    if len(kernel) <= _MAX_FOLDED and min(img.size) >= _FOLD_MIN_KERNELS * len(kernel):
        blurred = cv2.sepFilter2D(pixels(img), -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
    elif len(_pillow_box(radius)) <= _MAX_BOX and img.width * img.height >= _PASSES_MIN_PIXELS:
        blurred = _blurred_exactly(pixels(img), radius)
    else:
        return img.filter(ImageFilter.GaussianBlur(radius))
    return Image.fromarray(blurred, img.mode)


def unsharp_mask(img: Image.Image, radius: float, percent: int, threshold: int) -> Image.Image:
    """Image.filter(ImageFilter.UnsharpMask(radius, percent, threshold)) within a level.

    Pillow's rule on Pillow's blur (reproduced pass by pass, since the mask multiplies any error): where
    |pixel - blurred| > threshold, add (pixel - blurred) * percent / 100, truncated toward zero, clipped.
    """
    if radius <= 0:
        return img.copy()
    if len(_pillow_box(radius)) > _MAX_BOX:
        return img.filter(ImageFilter.UnsharpMask(radius, percent, threshold))
    before = pixels(img)
    blurred = _blurred_exactly(before, radius)
    step = cv2.LUT(cv2.absdiff(before, blurred), _unsharp_steps(percent, threshold))
    out = cv2.subtract(before, step)  # saturating, as Pillow clips
    np.copyto(out, cv2.add(before, step), where=before > blurred)
    return Image.fromarray(out, img.mode)


@functools.lru_cache(maxsize=64)
def _unsharp_steps(percent: int, threshold: int) -> np.ndarray:
    """|pixel - blurred| -> how far the pixel moves (0 at or below the threshold), as a 256-entry table."""
    diff = np.arange(256)
    steps = np.where(diff > threshold, np.minimum(diff * percent // 100, 255), 0)
    out: np.ndarray = steps.astype(np.uint8)
    return out


def kernel_3x3(img: Image.Image, weights: tuple[float, ...], scale: float, offset: float) -> Image.Image:
    """Image.filter(ImageFilter.Kernel((3, 3), weights, scale, offset)), border pixels kept as Pillow does."""
    before = pixels(img)
    kernel = np.array(weights, np.float32).reshape(3, 3)[::-1] / scale
    out = cv2.filter2D(before, -1, np.ascontiguousarray(kernel), delta=offset, borderType=cv2.BORDER_REPLICATE)
    out[0], out[-1], out[:, 0], out[:, -1] = before[0], before[-1], before[:, 0], before[:, -1]
    return Image.fromarray(out, img.mode)


def colour_matrix(img: Image.Image, matrix: tuple[float, ...]) -> Image.Image:
    """img.convert("RGB", matrix) of an RGB image within a level (OpenCV rounds halves to even, Pillow up)."""
    if img.mode != "RGB" or img.width * img.height < MIN_MATRIX_PIXELS:
        return img.convert("RGB", matrix)
    weights = np.array(matrix, np.float32).reshape(3, 4)  # the fourth column is the offset, in both
    return Image.fromarray(cv2.transform(pixels(img), weights), "RGB")
