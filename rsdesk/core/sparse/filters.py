"""The image filters RegionSparse uses around its sparse coding: non-local means (smoothing before
dictionary training, spec §1; also the NLM baseline) and the bilateral filter (the background, spec §5; also
the bilateral baseline). Both are OpenCV's, on [0, 1] float images."""

from __future__ import annotations

import cv2
import numpy as np

from rsdesk.core.io.images import to_uint8


def smooth_nlm(img: np.ndarray, h: float) -> np.ndarray:
    """Non-local-means smoothing (OpenCV, on uint8, h = hColor = ``h``); ``h <= 0`` returns the input."""
    if h <= 0:
        return np.asarray(img, dtype=np.float32)
    out = cv2.fastNlMeansDenoisingColored(to_uint8(img), None, float(h), float(h), 7, 21)
    return out.astype(np.float32) / 255.0


def bilateral(
    img: np.ndarray, d: int = 9, sigma_color: float = 75.0, sigma_space: float = 75.0
) -> np.ndarray:
    """OpenCV's bilateral filter on a float [0, 1] image, sigma_color given in 8-bit units."""
    src = np.ascontiguousarray(img, dtype=np.float32)
    return cv2.bilateralFilter(src, int(d), float(sigma_color) / 255.0, float(sigma_space))
