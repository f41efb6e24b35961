"""Images made to be looked at, not classified: a CAM heatmap over its image, the object mask over the
adversarial image, and a perturbation (or what a defense removed) amplified so the eye can see it.

Qt-free so the panels, the HTML report and any figure script draw the very same pixels.
"""

from __future__ import annotations

import cv2
import numpy as np


def overlay_heatmap(img: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a JET-coloured heatmap over an RGB image (OpenCV's colormap is BGR; converted to RGB here)."""
    h, w = img.shape[:2]
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    rgb = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return np.clip((1 - alpha) * np.asarray(img, dtype=np.float32) + alpha * rgb, 0.0, 1.0)


def amplify_difference(a: np.ndarray, b: np.ndarray, gain: float | None = None) -> tuple[np.ndarray, float]:
    """``(a − b)`` made visible: mid-grey is zero, scaled by ``gain`` (auto: the largest change fills 0…1).

    Returns the image and the gain used, so the panel can say "×N".
    """
    delta = np.asarray(a, np.float32) - np.asarray(b, np.float32)
    peak = float(np.abs(delta).max(initial=0.0))
    if gain is None:
        gain = 0.5 / peak if peak > 1e-8 else 1.0
    return np.clip(0.5 + gain * delta, 0.0, 1.0).astype(np.float32), float(gain)


def overlay_mask(img: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Tint the object region and darken the background, with the region's outline drawn in white."""
    base = np.asarray(img, np.float32)
    m = np.asarray(mask, bool)
    tint = np.array([1.0, 0.75, 0.1], np.float32)
    out = base * 0.45  # background: darkened, still recognisable
    out[m] = (1 - alpha) * base[m] + alpha * tint
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.ascontiguousarray(out)
    cv2.drawContours(out, contours, -1, (1.0, 1.0, 1.0), thickness=1)
    return np.clip(out, 0.0, 1.0)
