"""Loading and saving images as float32 RGB arrays in [0, 1], with clear errors for bad input.

Pillow decodes every common format (JPEG, PNG, BMP, TIFF, WebP, GIF) and knows EXIF orientation, palettes,
CMYK and 16-bit modes; OpenCV does the resizing. Saving is atomic (temp file, then rename) so a crash never
leaves half an image behind.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Largest image accepted, in pixels (width × height). Larger files are refused before decoding, which
#: also guards against decompression bombs (a tiny file that expands to gigabytes).
MAX_PIXELS = 50_000_000
#: Smallest side accepted by default: one RegionSparse patch (8 px) must fit.
MIN_SIDE = 8

# The process umask, read once: mkstemp creates 0600 files, and saved files should get normal permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".npy"})


class ImageError(ValueError):
    """An image could not be used; the message says why in words a user understands."""


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a suffix RSDesk can read (content is checked on load)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _pil_to_rgb_float(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to float32 RGB in [0, 1]."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        gray = np.clip(arr / top, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        top = 1.0 if arr.max(initial=0) <= 1.0 else (255.0 if arr.max() <= 255 else 65535.0)
        return np.repeat(np.clip(arr / top, 0, 1)[..., None], 3, axis=2).astype(np.float32)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        # Composite transparent pixels onto white, the way viewers show them.
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    rgb = im.convert("RGB")
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _check_size(width: int, height: int, max_pixels: int, min_side: int, name: str) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: image is too large ({width}×{height} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {max_pixels / 1e6:.0f} megapixels)"
        )
    if min(width, height) < min_side:
        raise ImageError(
            f"{name}: image is too small ({width}×{height}); each side needs at least {min_side} pixels"
        )


def load_npy_image(path: Path, *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE) -> np.ndarray:
    """Load a float image saved by :func:`save_npy` (H×W×3, values in [0, 1]); never unpickles."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ImageError(f"{path.name}: not a readable NumPy image file ({exc})") from exc
    if arr.ndim != 3 or arr.shape[2] != 3 or not np.issubdtype(arr.dtype, np.number):
        raise ImageError(f"{path.name}: expected an H×W×3 numeric array, found shape {arr.shape}")
    _check_size(arr.shape[1], arr.shape[0], max_pixels, min_side, path.name)
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise ImageError(f"{path.name}: values must be finite and within [0, 1]")
    return np.clip(arr, 0.0, 1.0)


def load_image(
    path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE
) -> np.ndarray:
    """Read an image file as float32 RGB (H×W×3) in [0, 1], EXIF orientation applied.

    Raises :class:`ImageError` for missing, unreadable, corrupt, too large or too small files.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise ImageError(f"{name}: file not found")
    if path.is_dir():
        raise ImageError(f"{name}: is a folder, not an image")
    if path.suffix.lower() == ".npy":
        return load_npy_image(path, max_pixels=max_pixels, min_side=min_side)
    try:
        with Image.open(path) as im:
            _check_size(im.width, im.height, max_pixels, min_side, name)
            im.load()
            im = ImageOps.exif_transpose(im)
            return _pil_to_rgb_float(im)
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name}: not an image file RSDesk can read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: image is too large to decode safely") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: the image file is damaged or truncated ({exc})") from exc


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round a float [0, 1] image to uint8 (the precision of an 8-bit file)."""
    return np.clip(np.rint(np.asarray(img, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def from_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 image to float32 in [0, 1]."""
    return np.asarray(img, dtype=np.float32) / 255.0


def quantize(img: np.ndarray) -> np.ndarray:
    """The float image an 8-bit file of ``img`` would load back as."""
    return from_uint8(to_uint8(img))


def atomic_write(path: str | os.PathLike[str], write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write a file through ``write(fileobj)`` into a temporary file beside it, then rename over ``path``.

    Readers never see a partial file, and a failed write leaves any previous file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def save_png(path: str | os.PathLike[str], img: np.ndarray) -> Path:
    """Save a float [0, 1] RGB image as a lossless 8-bit PNG (atomically)."""
    data = to_uint8(img)
    pil = Image.fromarray(data, mode="RGB") if data.ndim == 3 else Image.fromarray(data, mode="L")
    return atomic_write(path, lambda fh: pil.save(fh, format="PNG"))


def save_npy(path: str | os.PathLike[str], img: np.ndarray) -> Path:
    """Save the exact float32 image as ``.npy`` (no pickle): an adversarial example survives bit for bit."""
    arr = np.ascontiguousarray(img, dtype=np.float32)
    return atomic_write(path, lambda fh: np.save(fh, arr, allow_pickle=False))


def save_image(path: str | os.PathLike[str], img: np.ndarray) -> Path:
    """Save by suffix: ``.npy`` keeps float precision, anything else is written as PNG."""
    if Path(path).suffix.lower() == ".npy":
        return save_npy(path, img)
    return save_png(path, img)


def resize_center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """Scale the shorter side to ``size`` and cut the central ``size``×``size`` square.

    An image already ``size``×``size`` comes back unchanged (same values), so an adversarial image saved at
    the model's resolution is classified exactly as it was attacked. Downscaling uses area averaging
    (no aliasing), upscaling bicubic interpolation.
    """
    h, w = img.shape[:2]
    if h == size and w == size:
        return img
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(np.ascontiguousarray(img), (new_w, new_h), interpolation=interp)
    y0, x0 = (new_h - size) // 2, (new_w - size) // 2
    out = resized[y0 : y0 + size, x0 : x0 + size]
    return np.clip(out, 0.0, 1.0).astype(np.float32)
