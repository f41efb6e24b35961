"""Total-variation minimization defense (Guo et al., ICLR 2018), the paper's "TVM" baseline (spec §9).

Keep a random Bernoulli(p) subset of pixels and reconstruct the image that stays close to them while having
small total variation:  min_z Σ_rows‖m ⊙ (z − x)‖₂ + Σ_cols‖m ⊙ (z − x)‖₂ + λ·TV₂(z),  where TV₂ sums the
L2 norms of each row's and each column's finite differences (Guo et al., eq. 3, with p = 2) per channel.

Why by hand: scikit-image's TV denoisers (Chambolle, split Bregman) have no pixel mask, so they cannot do
Guo's reconstruction from a random pixel subset. We solve the smooth objective with torch's L-BFGS,
vectorized over the whole image, instead of ART's per-row SciPy loop.
"""

from __future__ import annotations

import numpy as np
import torch

from rsdesk.core.progress import CancelFn, check_cancel

_EPS = 1e-8


def _objective(z: torch.Tensor, x: torch.Tensor, m: torch.Tensor, lam: float) -> torch.Tensor:
    r = m * (z - x)  # 3×H×W
    fit = (r.pow(2).sum(2) + _EPS).sqrt().sum() + (r.pow(2).sum(1) + _EPS).sqrt().sum()
    dy = z[:, 1:, :] - z[:, :-1, :]
    dx = z[:, :, 1:] - z[:, :, :-1]
    tv = (dx.pow(2).sum(2) + _EPS).sqrt().sum() + (dy.pow(2).sum(1) + _EPS).sqrt().sum()
    return fit + lam * tv


def tv_minimize(
    img: np.ndarray,
    keep_prob: float = 0.3,
    lam: float = 0.5,
    iterations: int = 40,
    seed: int | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Guo et al.'s TVM on an H×W×3 image in [0, 1]; ``seed`` None draws a fresh pixel mask each call."""
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep probability must be within (0, 1], got {keep_prob}")
    if lam < 0:
        raise ValueError("λ must be ≥ 0")
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1).double().contiguous()
    m = torch.from_numpy(rng.random((h, w)) < keep_prob).double().expand(3, h, w)
    z = x.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=1.0, max_iter=iterations, history_size=10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        check_cancel(cancel)
        opt.zero_grad()
        loss = _objective(z, x, m, lam)
        loss.backward()
        return loss

    opt.step(closure)
    out = z.detach().clamp(0.0, 1.0).permute(1, 2, 0).float().numpy()
    return np.ascontiguousarray(out)
