"""Object localization for RegionSparse (spec §2): Sobel → G = Gx − Gy → Otsu → morphology → contours.

The paper keeps "high horizontal and low vertical gradient" with G = Gx − Gy. We binarize |G| with Otsu's
threshold (|G| rescaled to 8 bits), close and dilate with an elliptical kernel whose size scales with the
image (so a 224 px and a 2000 px image get the same mask shape), fill the external contours, drop specks,
and fall back to the whole image when nothing is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class LocalizationParams:
    #: morphology kernel side as a fraction of the shorter image side
    kernel_fraction: float = 1 / 28
    #: contours smaller than this fraction of the image are dropped
    min_area_fraction: float = 0.002
    #: Gaussian feathering of the mask edge, in pixels (0: hard edge)
    feather_sigma: float = 2.0


@dataclass(frozen=True)
class ObjectMask:
    mask: np.ndarray  # H×W bool, True on the object region
    soft: np.ndarray  # H×W float32 in [0, 1], the feathered mask used for blending
    fallback: bool  # True when nothing was found and the whole image is the region

    @property
    def coverage(self) -> float:
        return float(self.mask.mean())


def _odd(n: float) -> int:
    k = max(3, round(n))
    return k if k % 2 else k + 1


def gradient_map(img: np.ndarray) -> np.ndarray:
    """The paper's G = Gx − Gy on the grayscale image (float32, H×W)."""
    gray = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return gx - gy


def localize_object(img: np.ndarray, params: LocalizationParams | None = None) -> ObjectMask:
    """Find the object region of an H×W×3 image in [0, 1]."""
    p = params or LocalizationParams()
    h, w = img.shape[:2]
    g = np.abs(gradient_map(img))
    top = float(g.max())
    if top <= 1e-8:  # a flat image has no edges: code everything
        full = np.ones((h, w), dtype=bool)
        return ObjectMask(full, full.astype(np.float32), True)
    g8 = np.clip(g / top * 255.0, 0, 255).astype(np.uint8)
    _, binary = cv2.threshold(g8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = _odd(min(h, w) * p.kernel_fraction)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    binary = cv2.dilate(binary, kernel)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    min_area = p.min_area_fraction * h * w
    keep = [c for c in contours if cv2.contourArea(c) >= min_area]
    filled = np.zeros((h, w), dtype=np.uint8)
    if keep:
        cv2.drawContours(filled, keep, -1, 1, thickness=cv2.FILLED)
    mask = filled.astype(bool)
    fallback = not mask.any()
    if fallback:
        mask = np.ones((h, w), dtype=bool)
    soft = mask.astype(np.float32)
    if p.feather_sigma > 0 and not fallback:
        soft = cv2.GaussianBlur(soft, (0, 0), p.feather_sigma)
    return ObjectMask(mask, np.clip(soft, 0.0, 1.0), fallback)
