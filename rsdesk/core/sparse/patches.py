"""Patch extraction for sparse coding (the overlap-averaging is fused into regionsparse.sparse_code).

A patch vector is laid out channel-major, ``(c, y, x)`` flattened to ``3·b·b`` values: the order of
``torch.nn.functional.unfold``. Dictionary training and purification both go through this module, so the
atoms and the coded patches always agree on the layout.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def image_to_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """H×W×3 float image → 1×3×H×W tensor."""
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None].to(device)


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """1×3×H×W (or 3×H×W) tensor → H×W×3 float32 image."""
    if t.ndim == 4:
        t = t[0]
    return t.permute(1, 2, 0).detach().float().cpu().numpy().copy()


def random_patches(img: np.ndarray, b: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random b×b×3 patches of an H×W×3 image as an n×(3·b·b) float32 matrix (with replacement)."""
    h, w = img.shape[:2]
    if h < b or w < b:
        raise ValueError(f"image {w}×{h} is smaller than the patch size {b}")
    ys = rng.integers(0, h - b + 1, size=n)
    xs = rng.integers(0, w - b + 1, size=n)
    chw = np.ascontiguousarray(np.asarray(img, dtype=np.float32).transpose(2, 0, 1))
    # sliding_window_view gives a zero-copy (3, H-b+1, W-b+1, b, b) view; fancy indexing copies n patches.
    windows = np.lib.stride_tricks.sliding_window_view(chw, (b, b), axis=(1, 2))
    picked = windows[:, ys, xs]  # 3×n×b×b
    return np.ascontiguousarray(picked.transpose(1, 0, 2, 3).reshape(n, 3 * b * b))


def padded_grid(x: torch.Tensor, b: int, stride: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad 1×3×H×W on the bottom/right so patches at ``stride`` reach the last row and column.

    Returns the padded tensor and the pad added in y and x.
    """
    h, w = x.shape[-2:]
    py = (-(h - b)) % stride
    px = (-(w - b)) % stride
    if py or px:
        mode = "reflect" if py < h and px < w else "replicate"
        x = F.pad(x, (0, px, 0, py), mode=mode)
    return x, py, px


def extract_grid(x: torch.Tensor, b: int, stride: int) -> torch.Tensor:
    """All b×b patches of a (padded) 1×3×H×W tensor on a grid with ``stride``: L×(3·b·b)."""
    return F.unfold(x, kernel_size=b, stride=stride)[0].T


#: Added to every per-dimension standard deviation so flat regions do not divide by zero.
NORM_EPS = 1e-3


# ----- training ------------------------------------------------------------------------------------


def zscore_columns(p: np.ndarray, eps: float = NORM_EPS) -> np.ndarray:
    """Patch Normalization: z-score every patch dimension over the rows of ``p`` (one image's patches)."""
    mean = p.mean(axis=0, keepdims=True)
    std = p.std(axis=0, keepdims=True)
    return ((p - mean) / (std + eps)).astype(np.float32)
