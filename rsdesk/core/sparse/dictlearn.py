"""Online dictionary learning (Mairal, Bach, Ponce & Sapiro, ICML 2009 / JMLR 2010) in torch.

Why by hand: scikit-learn's ``MiniBatchDictionaryLearning`` codes each mini-batch with LARS one sample at a
time and spends most of its time there. This learner follows the same algorithm — sparse-code a mini-batch
with the current dictionary, accumulate the sufficient statistics A = Σ αα^T and B = Σ xα^T with the
paper's mini-batch forgetting factor, then one pass of block-coordinate descent over the atoms — but codes
the batch with the Batch-OMP of :mod:`rsdesk.core.sparse.omp` at the sparsity K that purification uses.
Atoms that
stop being used are re-seeded from the current batch's worst-reconstructed patches.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report
from rsdesk.core.sparse.omp import batch_omp, dense_codes, sparse_reconstruct


def _unit_rows(d: torch.Tensor) -> torch.Tensor:
    return d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)


def learn_atoms_torch(
    patches: np.ndarray,
    n_atoms: int,
    k: int = 4,
    batch_size: int = 512,
    epochs: int = 1,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Learn ``n_atoms`` unit-norm atoms (rows) from an N×m patch matrix; returns float32 n_atoms×m."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    x_all = torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))
    n, m = x_all.shape
    if n < n_atoms:
        raise ValueError(f"need at least as many patches ({n}) as atoms ({n_atoms})")
    k = max(1, min(k, n_atoms))
    # The online algorithm needs a couple of hundred dictionary updates per epoch to settle: on 6 000
    # patches, 64 atoms, batches of 256 (23 updates) left a held-out error 10 % above scikit-learn's,
    # batches of 32–64 (≥ 90 updates) 2 % below. Small data sets therefore get smaller batches.
    batch_size = max(1, min(batch_size, max(32, n // 200)))
    # Start from distinct random patches (plus a little noise so duplicates are not identical).
    start = torch.randperm(n, generator=gen)[:n_atoms]
    d = x_all[start].clone() + 1e-3 * torch.randn((n_atoms, m), generator=gen)
    d = _unit_rows(d).to(dev)
    a_stat = torch.zeros((n_atoms, n_atoms), device=dev)
    b_stat = torch.zeros((m, n_atoms), device=dev)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total = steps_per_epoch * epochs
    t0 = time.perf_counter()
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for s in range(0, n, batch_size):
            check_cancel(cancel)
            x = x_all[order[s : s + batch_size]].to(dev)
            eta = x.shape[0]
            idx, coef = batch_omp(x @ d.T, d @ d.T, k)
            codes = dense_codes(idx, coef, n_atoms)
            step += 1
            # Forgetting factor for mini-batches (Mairal et al. 2010, Sec. 3.4.3): old statistics fade
            # quickly at first, then ever more slowly.
            theta = step * eta if step < eta else eta * eta + step - eta
            beta = (theta + 1.0 - eta) / (theta + 1.0)
            a_stat.mul_(beta).addmm_(codes.T, codes, alpha=1.0 / eta)
            b_stat.mul_(beta).addmm_(x.T, codes, alpha=1.0 / eta)
            d = _update_dictionary(d, a_stat, b_stat, x, idx, coef)
            if step % 8 == 0 or step == total:
                left = (time.perf_counter() - t0) / step * (total - step)
                report(progress, step / total, f"batch {step}/{total}, ~{left:.0f} s left")
    return _unit_rows(d).cpu().numpy().astype(np.float32)


def _update_dictionary(
    d: torch.Tensor,
    a_stat: torch.Tensor,
    b_stat: torch.Tensor,
    x: torch.Tensor,
    idx: torch.Tensor,
    coef: torch.Tensor,
) -> torch.Tensor:
    """One pass of block-coordinate descent over the atoms (Mairal et al. 2009, Algorithm 2)."""
    dt = d.T.contiguous()  # m × atoms: columns are atoms
    diag = torch.diagonal(a_stat)
    unused = (diag < 1e-10).nonzero().squeeze(1).tolist()
    for j in range(dt.shape[1]):
        ajj = float(diag[j])
        if ajj < 1e-10:
            continue
        u = dt[:, j] + (b_stat[:, j] - dt @ a_stat[:, j]) / ajj
        dt[:, j] = u / max(1.0, float(u.norm()))
    if unused:
        # Re-seed atoms nobody uses with the patches this batch reconstructs worst.
        err = (x - sparse_reconstruct(idx, coef, dt.T.contiguous())).square().sum(1)
        worst = err.argsort(descending=True)[: len(unused)]
        for j, w in zip(unused, worst.tolist()):
            dt[:, j] = x[w] / x[w].norm().clamp_min(1e-12)
    return dt.T.contiguous()


def reconstruction_error(atoms: np.ndarray, patches: np.ndarray, k: int = 4) -> float:
    """Mean relative squared error ‖x − Dα‖² / ‖x‖² of K-sparse OMP codes (held-out quality measure)."""
    a = torch.from_numpy(np.ascontiguousarray(atoms, dtype=np.float32))
    a = _unit_rows(a)
    x = torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))
    idx, coef = batch_omp(x @ a.T, a @ a.T, k)
    rec = sparse_reconstruct(idx, coef, a)
    num = (x - rec).square().sum(1)
    den = x.square().sum(1).clamp_min(1e-12)
    return float((num / den).mean())
