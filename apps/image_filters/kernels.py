"""The heavy pixel kernels, run by OpenCV on numpy copies of Pillow images, matching Pillow within a level.

Pillow stays in charge of modes, formats and metadata; only the arithmetic moves here, because OpenCV's
separable and 3x3 filters are several times faster than Pillow's (a 12 MP Gaussian blur: about 0.06 s
against 0.46 s). Each function takes and returns an 8-bit Pillow image of the same mode (RGB, RGBa or L).

- gaussian_blur reproduces Pillow's own blur, not a true Gaussian: Pillow runs three passes of an
  "extended box" whose fractional width comes from Gwosdek et al. (2011), horizontally then vertically,
  rounding to 8 bits after each; OpenCV runs the same boxes in the same order.
- unsharp_mask applies Pillow's rule exactly on that blur: where |pixel - blurred| > threshold, add
  (pixel - blurred) * percent / 100, truncated toward zero, then clip.
- kernel_3x3 is Pillow's ImageFilter.Kernel convolution (Pillow's kernel rows run bottom to top), and like
  Pillow it leaves the one-pixel border as it was.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from PIL import Image

__all__ = ["gaussian_blur", "unsharp_mask", "kernel_3x3"]


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


def _pixels(img: Image.Image) -> np.ndarray:
    """A writable (height, width[, bands]) uint8 copy of `img`'s pixels."""
    return np.array(img)


def _blurred(pixels: np.ndarray, radius: float, passes: int = 3) -> np.ndarray:
    """Pillow's order and rounding: every horizontal pass, then every vertical one, each back to uint8 with
    the edge pixels repeated (so results match at the borders too, however large the radius)."""
    box = _pillow_box(radius, passes)
    out = pixels
    for _ in range(passes):
        out = cv2.sepFilter2D(out, -1, box, _ONE, borderType=cv2.BORDER_REPLICATE)
    for _ in range(passes):
        out = cv2.sepFilter2D(out, -1, _ONE, box, borderType=cv2.BORDER_REPLICATE)
    return out


def gaussian_blur(img: Image.Image, radius: float) -> Image.Image:
    """Image.filter(ImageFilter.GaussianBlur(radius)) within a level."""
    if radius <= 0:
        return img.copy()
    return Image.fromarray(_blurred(_pixels(img), radius), img.mode)


def unsharp_mask(img: Image.Image, radius: float, percent: int, threshold: int) -> Image.Image:
    """Image.filter(ImageFilter.UnsharpMask(radius, percent, threshold)) within a level (at moderate percent)."""
    if radius <= 0:
        return img.copy()
    pixels = _pixels(img)
    diff = pixels.astype(np.int32) - _blurred(pixels, radius)
    boost = diff * percent
    step = np.sign(boost) * (np.abs(boost) // 100)  # C's integer division truncates toward zero
    sharpened = np.clip(pixels + step, 0, 255).astype(np.uint8)
    out = np.where(np.abs(diff) > threshold, sharpened, pixels)
    return Image.fromarray(out, img.mode)


def kernel_3x3(img: Image.Image, weights: tuple[float, ...], scale: float, offset: float) -> Image.Image:
    """Image.filter(ImageFilter.Kernel((3, 3), weights, scale, offset)), border pixels kept as Pillow does."""
    pixels = _pixels(img)
    kernel = np.array(weights, np.float32).reshape(3, 3)[::-1] / scale
    out = cv2.filter2D(pixels, -1, np.ascontiguousarray(kernel), delta=offset, borderType=cv2.BORDER_REPLICATE)
    out[0], out[-1], out[:, 0], out[:, -1] = pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]
    return Image.fromarray(out, img.mode)
