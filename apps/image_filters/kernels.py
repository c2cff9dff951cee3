"""The heavy pixel kernels, run by OpenCV on numpy copies of Pillow images, matching Pillow within a level.

Pillow stays in charge of modes, formats and metadata; only the arithmetic moves here, because OpenCV's
separable and 3x3 filters are several times faster than Pillow's (a 12 MP Gaussian blur of radius 2:
about 0.03 s against 0.35 s). Each function takes and returns an 8-bit Pillow image of the same mode.

- gaussian_blur reproduces Pillow's own blur, not a true Gaussian: Pillow runs three passes of an
  "extended box" whose fractional width comes from Gwosdek et al. (2011), horizontally then vertically,
  rounding to 8 bits after each. OpenCV runs the same boxes folded into one kernel; past radius ~6, where
  Pillow's running sums win, and on images small next to the kernel, Pillow blurs.
- unsharp_mask applies Pillow's rule exactly on that blur, reproduced pass by pass.
- kernel_3x3 is Pillow's ImageFilter.Kernel convolution (Pillow's kernel rows run bottom to top), and like
  Pillow it leaves the one-pixel border as it was.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from PIL import Image, ImageFilter

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
_FOLD_MIN_KERNELS = 8  # fold the passes only when the image's short side spans this many folded kernels
_MAX_FOLDED = 64  # longer folded kernels are slower in OpenCV than Pillow's running sums (radius above ~6)
_MAX_BOX = 21  # the same for the six box passes of an unsharp mask (radius above ~10)


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
    per pass, which a single pass only approximates near the borders); otherwise Pillow blurs.
    """
    if radius <= 0:
        return img.copy()
    kernel = _folded(radius)
    if len(kernel) > _MAX_FOLDED or min(img.size) < _FOLD_MIN_KERNELS * len(kernel):
        return img.filter(ImageFilter.GaussianBlur(radius))
    pixels = np.asarray(img)
    return Image.fromarray(cv2.sepFilter2D(pixels, -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE), img.mode)


def unsharp_mask(img: Image.Image, radius: float, percent: int, threshold: int) -> Image.Image:
    """Image.filter(ImageFilter.UnsharpMask(radius, percent, threshold)) within a level.

    Pillow's rule on Pillow's blur (reproduced pass by pass, since the mask multiplies any error): where
    |pixel - blurred| > threshold, add (pixel - blurred) * percent / 100, truncated toward zero, clipped.
    """
    if radius <= 0:
        return img.copy()
    if len(_pillow_box(radius)) > _MAX_BOX:
        return img.filter(ImageFilter.UnsharpMask(radius, percent, threshold))
    pixels = np.asarray(img)
    blurred = _blurred_exactly(pixels, radius)
    step = cv2.LUT(cv2.absdiff(pixels, blurred), _unsharp_steps(percent, threshold))
    out = cv2.subtract(pixels, step)  # saturating, as Pillow clips
    np.copyto(out, cv2.add(pixels, step), where=pixels > blurred)
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
    pixels = np.asarray(img)
    kernel = np.array(weights, np.float32).reshape(3, 3)[::-1] / scale
    out = cv2.filter2D(pixels, -1, np.ascontiguousarray(kernel), delta=offset, borderType=cv2.BORDER_REPLICATE)
    out[0], out[-1], out[:, 0], out[:, -1] = pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]
    return Image.fromarray(out, img.mode)
