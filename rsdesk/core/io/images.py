"""Loading and saving images as float32 RGB arrays in [0, 1], with clear errors for bad input.

Pillow decodes every common format (JPEG, PNG, BMP, TIFF, WebP, GIF) and knows EXIF orientation, palettes,
CMYK and 16-bit modes; OpenCV does the resizing. Saving is atomic (temp file, then rename) so a crash never
leaves half an image behind.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from rsdesk.core.errors import ImageError
from rsdesk.core.io.files import (
    atomic_write,
    read_array_after_header,
    read_npy_header,
    require_regular_file,
)

#: Largest image accepted, in pixels (width × height). Larger files are refused before decoding, which
#: also guards against decompression bombs (a tiny file that expands to gigabytes).
MAX_PIXELS = 50_000_000
# Pillow warns on stderr about images over its own (larger) limit; MAX_PIXELS refuses them with a message.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
#: Smallest side accepted by default: one RegionSparse patch (8 px) must fit.
MIN_SIDE = 8

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".npy"})


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
    """Load a float image saved by :func:`save_npy` (H×W×3, values in [0, 1]); never unpickles.

    The header is checked before any data is read, so a file claiming a huge shape costs nothing.
    """
    path = require_regular_file(path, "image")
    try:
        with open(path, "rb") as fh:
            header = read_npy_header(fh)
            shape = header.shape
            if header.dtype.hasobject:
                raise ImageError(
                    f"{path.name}: not a readable NumPy image file (it holds Python objects, which could "
                    "run code; RSDesk never loads them)"
                )
            if len(shape) != 3 or shape[2] != 3 or not header.numeric:
                raise ImageError(
                    f"{path.name}: expected an H×W×3 numeric array, found shape {shape} of {header.dtype}"
                )
            _check_size(shape[1], shape[0], max_pixels, min_side, path.name)
            if os.fstat(fh.fileno()).st_size != header.header_len + header.nbytes:
                raise ImageError(f"{path.name}: the NumPy image file is damaged or truncated")
            arr = read_array_after_header(fh, header, "the image data")
    except ImageError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise ImageError(f"{path.name}: not a readable NumPy image file ({exc})") from exc
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise ImageError(f"{path.name}: values must be finite and within [0, 1]")
    return np.clip(arr, 0.0, 1.0)


def load_image(
    path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE
) -> np.ndarray:
    """Read an image file as float32 RGB (H×W×3) in [0, 1], EXIF orientation applied.

    Raises :class:`ImageError` for missing, unreadable, corrupt, too large or too small files, and for
    anything that is not a regular file (a named pipe would block forever): those are never opened.
    """
    path = require_regular_file(path, "image")
    name = path.name
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
    except MemoryError as exc:
        raise ImageError(f"{name}: not enough memory to decode this image") from exc
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        zlib.error,
        IndexError,
        TypeError,
    ) as exc:
        # Pillow's decoders signal damaged files with any of these
        raise ImageError(f"{name}: the image file is damaged or truncated ({_first_line(exc)})") from exc


#: What Pillow's decoders raise for damaged files.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, TypeError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round a float [0, 1] image to uint8 (the precision of an 8-bit file)."""
    return np.clip(np.rint(np.asarray(img, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def from_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 image to float32 in [0, 1]."""
    return np.asarray(img, dtype=np.float32) / 255.0


def quantize(img: np.ndarray) -> np.ndarray:
    """The float image an 8-bit file of ``img`` would load back as."""
    return from_uint8(to_uint8(img))


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


#: The coefficient of OpenCV's bicubic kernel (``INTER_CUBIC``).
_CUBIC_A = -0.75


def _cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    a = _CUBIC_A
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    return [w0, w1, w2, 1 - w0 - w1 - w2]


def _cubic_axis(img: np.ndarray, axis: int, n_out: int, start: int, count: int) -> np.ndarray:
    """Rows/columns ``start … start+count`` of OpenCV's bicubic resize of ``img`` to ``n_out`` along ``axis``.

    The same sample positions, kernel and edge rule (replicate) as ``cv2.resize``, but only the requested
    part is computed, so the memory is that of the output.
    """
    n_in = img.shape[axis]
    pos = ((np.arange(start, start + count, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5).astype(
        np.float32
    )
    base = np.floor(pos).astype(np.int64)
    frac = pos - base
    shape = [1] * img.ndim
    shape[axis] = count
    out = np.zeros((*img.shape[:axis], count, *img.shape[axis + 1 :]), dtype=np.float32)
    for k, weight in enumerate(_cubic_weights(frac)):
        taken = np.take(img, np.clip(base + k - 1, 0, n_in - 1), axis=axis)
        out += weight.astype(np.float32).reshape(shape) * taken
    return out


def resize_center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """Scale the shorter side to ``size`` and cut the central ``size``×``size`` square.

    An image already ``size``×``size`` comes back unchanged (same values), so an adversarial image saved at
    the model's resolution is classified exactly as it was attacked. Downscaling uses area averaging
    (no aliasing; the scaled image is smaller than the source), upscaling bicubic interpolation computed
    for the crop only: scaling a 50000×10 strip up whole first would take gigabytes.
    """
    h, w = img.shape[:2]
    if h == size and w == size:
        return img
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    y0, x0 = (new_h - size) // 2, (new_w - size) // 2
    if scale < 1:
        resized = cv2.resize(np.ascontiguousarray(img), (new_w, new_h), interpolation=cv2.INTER_AREA)
        out = resized[y0 : y0 + size, x0 : x0 + size]
    else:
        src = np.asarray(img, dtype=np.float32)
        out = _cubic_axis(_cubic_axis(src, 1, new_w, x0, size), 0, new_h, y0, size)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
