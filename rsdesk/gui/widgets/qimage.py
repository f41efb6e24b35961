"""numpy ↔ QImage conversions (cheap at the classifier's 224 px; always copies, so no buffer outlives
its array)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from rsdesk.core.io.images import to_uint8


def to_qimage(img: np.ndarray) -> QImage:
    """An H×W×3 float [0, 1] or uint8 RGB image (or H×W gray) as an owned QImage."""
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    arr = np.ascontiguousarray(arr[..., :3])
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def from_qimage(image: QImage) -> np.ndarray:
    """A QImage as an H×W×3 uint8 RGB array (for tests and exports)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = rgb.width(), rgb.height(), rgb.bytesPerLine()
    buf = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()
