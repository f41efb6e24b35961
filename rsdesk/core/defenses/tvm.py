"""Total-variation minimization defense (Guo et al., ICLR 2018), the paper's "TVM" baseline (spec §9).

Keep a random Bernoulli(p) subset of pixels and reconstruct, channel by channel, an image that stays close
to them while having small total variation (Guo et al., eq. 3 with p = 2):

    min_z ‖m ⊙ (z − x)‖₂ + λ·(Σ_k ‖z[k, :] − z[k−1, :]‖₂ + Σ_k ‖z[:, k] − z[:, k−1]‖₂)

This is ART's ``TotalVarMin`` (the implementation its users know) step for step, so that the two share an
operating point: one independent mask per channel (``rand(H, W, C) < p``), the fidelity term one L2 norm
over the whole channel (not one per row/column), L2 norms of whole rows/columns of differences, and
SciPy's L-BFGS-B from z = x with ``maxiter`` 10 per channel, using ART's gradient as it is. That gradient
gives the TV term a factor p (= 2) that its loss does not have; L-BFGS-B follows it, so reproducing it is
what reproduces ART's result (with the exact derivative the 10-iteration output moves by ≈ 0.002 mean,
0.05 max). The fidelity term's gradient has unit norm whatever the distance to x, so the TV term dominates
and the iteration count, not convergence, sets how smooth the output is: more iterations smooth more.

Why by hand rather than ART: ART is a test-only dependency, and it draws its masks from NumPy's global
random state, so a seed could not be kept per call; here a private ``RandomState(seed)`` draws exactly the
mask that ``np.random.seed(seed)`` gives ART. Why not scikit-image: its TV denoisers (Chambolle, split
Bregman) have no pixel mask. Why not torch: its L-BFGS (another line search) lands ≈ 0.01 mean, 0.17 max
away from ART's output after 10 iterations, a different operating point.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from rsdesk.core.defenses.base import Defense, DefenseResult
from rsdesk.core.params import Param
from rsdesk.core.progress import CancelFn, check_cancel, report

#: ART's floor under the norms it divides by in the gradient (the loss itself has none)
_FLOOR = 1e-6
#: the TV norm (Guo's and ART's p = 2); ART's gradient carries it as a factor, see the module docstring
_NORM = 2


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits: threadpool_limits | None = None


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """One BLAS thread while L-BFGS-B runs: its vector operations are too small to split, and a threaded
    OpenBLAS made the solve 15–25× slower (0.1 s → 4 ms per 64² channel). The limit is process-wide, so
    concurrent solves share it and the last one out restores the original thread counts."""
    global _blas_users, _blas_limits
    with _blas_lock:
        if _blas_users == 0:
            _blas_limits = threadpool_limits(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limits is not None:
                _blas_limits.restore_original_limits()
                _blas_limits = None


def _loss_and_grad(
    z_flat: np.ndarray, x: np.ndarray, mask: np.ndarray, lam: float, cancel: CancelFn | None
) -> tuple[float, np.ndarray]:
    """ART's ``_loss_func`` and ``_deri_loss_func`` for p = 2, on one channel (``mask`` is 0/1 float)."""
    check_cancel(cancel)
    z = z_flat.reshape(x.shape)
    r = z - x
    fit = float(np.sqrt(np.dot((r * r).ravel(), mask.ravel())))
    dr = z[1:, :] - z[:-1, :]  # differences between consecutive rows; one norm per row
    dc = z[:, 1:] - z[:, :-1]  # between consecutive columns; one norm per column
    n_r = np.sqrt((dr * dr).sum(axis=1))
    n_c = np.sqrt((dc * dc).sum(axis=0))
    loss = fit + lam * float(n_r.sum()) + lam * float(n_c.sum())

    grad = (r * mask) / max(fit, _FLOOR)
    g_r = _NORM * dr / np.maximum(n_r, _FLOOR)[:, None]
    g_c = _NORM * dc / np.maximum(n_c, _FLOOR)[None, :]
    tv = np.zeros_like(z)
    tv[:-1, :] -= g_r
    tv[1:, :] += g_r
    tv[:, :-1] -= g_c
    tv[:, 1:] += g_c
    grad += lam * tv
    return loss, grad.ravel()


def tv_mask(shape: tuple[int, ...], keep_prob: float, seed: int | None = None) -> np.ndarray:
    """The kept pixels, one independent Bernoulli(p) draw per channel, as ART draws them.

    ``RandomState(seed).random_sample`` is the stream ``np.random.seed(seed); np.random.rand`` gives ART,
    so a seeded mask here equals ART's; ``seed`` None draws a fresh one.
    """
    return np.random.RandomState(seed).random_sample(shape) < keep_prob


def tv_minimize(
    img: np.ndarray,
    keep_prob: float = 0.3,
    lam: float = 0.5,
    iterations: int = 10,
    seed: int | None = None,
    cancel: CancelFn | None = None,
    *,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Guo et al.'s TVM on an H×W×C image in [0, 1], as ART's ``TotalVarMin`` computes it.

    ``iterations`` is L-BFGS-B's ``maxiter`` per channel (ART's default, 10). ``seed`` None draws a fresh
    mask each call; ``mask`` (H×W×C, True = kept) replaces the draw, so a caller can share one with ART.
    The output is clipped to [0, 1] (ART's ``clip_values=(0, 1)``).
    """
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep probability must be within (0, 1], got {keep_prob}")
    if lam < 0:
        raise ValueError("λ must be ≥ 0")
    if iterations < 1:
        raise ValueError(f"iterations must be ≥ 1, got {iterations}")
    x = np.asarray(img, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"expected an H×W×C image, got shape {x.shape}")
    keep = tv_mask(x.shape, keep_prob, seed) if mask is None else np.asarray(mask, dtype=bool)
    if keep.shape != x.shape:
        raise ValueError(f"mask shape {keep.shape} differs from the image's {x.shape}")
    out = np.empty(x.shape, dtype=np.float32)
    with _single_threaded_blas():
        for c in range(x.shape[2]):
            xc = np.ascontiguousarray(x[:, :, c])
            res = minimize(
                _loss_and_grad,
                xc.ravel(),
                args=(xc, keep[:, :, c].astype(np.float64), lam, cancel),
                method="L-BFGS-B",
                jac=True,
                options={"maxiter": iterations},
            )
            out[:, :, c] = res.x.reshape(xc.shape)
    return np.clip(out, 0.0, 1.0, out=out)


class TVM(Defense):
    name, title = "tvm", "Total variation minimization"
    short_title = "TVM"
    randomized = True
    MAIN_PARAMS = ("keep", "lam", "iterations")
    PARAMS = (
        Param("keep", "pixel keep probability", 0.3, 0.01, 1.0, "Bernoulli p of kept pixels", symbol="p"),
        Param("lam", "λ (TV weight)", 0.5, 0.0, 10.0, symbol="λ"),
        # ART's TotalVarMin default (max_iter 10); its fidelity term is weak, so this sets the smoothing:
        # more iterations, a smoother image (see rsdesk.core.defenses.tvm)
        Param("iterations", "L-BFGS-B iterations", 10, 1, 500, "more: smoother (ART: 10)", integer=True),
        Param("seed", "seed (-1: random)", -1, -1, 2**31 - 1, integer=True),
    )

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        seed = int(self.values["seed"])
        out = tv_minimize(
            img,
            keep_prob=float(self.values["keep"]),
            lam=float(self.values["lam"]),
            iterations=int(self.values["iterations"]),
            seed=None if seed < 0 else seed,
            cancel=cancel,
        )
        report(progress, 1.0, "done")
        return DefenseResult(purified=out)
