"""RegionSparse purification (spec §2–6): localize the object, sparse-code it, filter the background, blend.

``purified = W ⊙ SC(x) + (1 − W) ⊙ BF(x)`` with ``W = θ·M + (1 − θ)·(1 − M)`` (eq. 19 read per pixel),
where M is the feathered object mask, SC the sparse-coded image (Batch-OMP at sparsity K over overlapping
b×b×3 patches, z-scored with the image's own statistics and averaged where patches overlap) and BF the
bilateral-filtered image. Each step can be switched off for the paper's ablations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report
from rsdesk.core.sparse.dictionary_file import Dictionary
from rsdesk.core.sparse.filters import bilateral
from rsdesk.core.sparse.localization import LocalizationParams, localize_object
from rsdesk.core.sparse.omp import OmpWorkspace, batch_omp, chunk_for, sparse_reconstruct
from rsdesk.core.sparse.patches import NORM_EPS, image_to_tensor, padded_grid, tensor_to_image


@dataclass(frozen=True)
class RegionSparseParams:
    """Knobs of the purifier. Defaults were chosen by measurement (see README, "Defaults")."""

    k: int = 4  # OMP sparsity: the strong knob (robustness vs. clean accuracy)
    theta: float = 1.0  # 1: object sparse-coded, background filtered; 0.5: both everywhere
    stride: int = 4  # patch grid step; 1 codes every overlapping patch
    bilateral_d: int = 9
    sigma_color: float = 75.0  # in 8-bit units, as in OpenCV's examples
    sigma_space: float = 75.0
    feather: float = 2.0  # mask edge blur (px)
    localize: bool = True  # False: the "Whole" ablation (sparse-code the whole image)
    background_filter: bool = True  # False: the "noBS" ablation (background left as is)
    normalize: bool = True  # False: the "noPN" ablation (raw patches, no z-score)

    def validate(self, n_atoms: int | None = None) -> None:
        if self.k < 1 or (n_atoms is not None and self.k > n_atoms):
            raise ValueError(f"K must be between 1 and the number of atoms ({n_atoms}), got {self.k}")
        if not 0.0 <= self.theta <= 1.0:
            raise ValueError(f"θ must be within 0…1, got {self.theta}")
        if not 1 <= self.stride <= 16:
            raise ValueError(f"stride must be 1…16, got {self.stride}")
        if not 1 <= self.bilateral_d <= 31:
            raise ValueError(f"bilateral diameter must be 1…31, got {self.bilateral_d}")
        if self.sigma_color <= 0 or self.sigma_space <= 0:
            raise ValueError("bilateral sigmas must be positive")
        if self.feather < 0:
            raise ValueError("feather must be ≥ 0")


@dataclass
class Supports:
    """What :func:`sparse_code` chose for one image, kept when asked (the exact surrogate holds it fixed):
    which grid patches it coded (gh×gw), the atoms Batch-OMP chose for each (N×k, grid order) and the slots
    it filled (an early-stopped patch leaves the rest at coefficient 0). ``sel`` stays None where no patch
    was coded. All on the CPU."""

    sel: torch.Tensor | None = None
    idx: torch.Tensor | None = None
    used: torch.Tensor | None = None


@dataclass
class Purification:
    """The purified image and the intermediates the panels show (the mask, the blend weight, the sparse-coded
    image and the filtered background), with timings."""

    purified: np.ndarray
    mask: np.ndarray  # H×W bool object region
    weight: np.ndarray  # H×W float blend weight of the sparse-coded image
    sparse_coded: np.ndarray
    background: np.ndarray
    info: dict[str, float | str | bool] = field(default_factory=dict)
    #: each coded patch's OMP support, where :meth:`RegionSparse.purify` was asked to keep it
    supports: Supports | None = None


def _patch_statistics(
    xp: torch.Tensor, sel: torch.Tensor, b: int, stride: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std (3·b·b each) over the selected grid patches, without building them.

    Patch dimension (c, dy, dx) samples channel c on the grid shifted by (dy, dx), so its sum over the
    selected patches is the correlation of the image with the selection map dilated by the stride: one
    convolution per moment. The image is centred per channel first so the float32 variance (E[x²] − E[x]²)
    does not cancel.
    """
    w = sel.to(xp.dtype)[None, None]
    n = w.sum().clamp_min(1.0)
    centre = xp.mean(dim=(2, 3), keepdim=True)
    img = (xp - centre)[0].unsqueeze(1)  # 3×1×H×W: channels as a batch
    s1 = F.conv2d(img, w, dilation=stride)[:, 0, :b, :b].flatten() / n
    s2 = F.conv2d(img * img, w, dilation=stride)[:, 0, :b, :b].flatten() / n
    var = (s2 - s1 * s1).clamp_min(0.0)
    mean = s1 + centre.flatten().repeat_interleave(b * b)
    return mean, var.sqrt()


def _scatter_kernels(
    sel: torch.Tensor, kernels: torch.Tensor, stride: int, size: tuple[int, int]
) -> torch.Tensor:
    """Σ over selected grid positions of a b×b kernel placed there (a transposed convolution).

    Done as a plain convolution of the zero-stuffed selection map with the flipped kernels, which OpenCV-
    style direct convolution runs an order of magnitude faster than ``conv_transpose2d`` on the CPU.
    """
    gh, gw = sel.shape
    b = kernels.shape[-1]
    stuffed = torch.zeros(
        ((gh - 1) * stride + 1, (gw - 1) * stride + 1), dtype=kernels.dtype, device=sel.device
    )
    stuffed[::stride, ::stride] = sel.to(kernels.dtype)
    out = F.conv2d(F.pad(stuffed[None, None], (b - 1, b - 1, b - 1, b - 1)), kernels.flip(-1, -2))
    return out[..., : size[0], : size[1]]


def sparse_code(
    img: np.ndarray,
    atoms: torch.Tensor,
    patch_size: int,
    k: int,
    stride: int = 1,
    region: np.ndarray | None = None,
    normalize: bool = True,
    gram: torch.Tensor | None = None,
    cancel: CancelFn | None = None,
    chunk: int | None = None,
    record: Supports | None = None,
) -> tuple[np.ndarray, int]:
    """Sparse-code the patches of ``img`` that touch ``region`` (all if None) and average them back.

    Pixels no coded patch covers keep their input value. Returns the image and the number of patches;
    ``record``, where given, receives the selection and every patch's OMP support.

    The patch matrix of a whole image (≈50 000 × 192 at stride 1) does not fit in cache, and every pass
    over it costs more than the arithmetic, so the work is fused per band of patch rows: extract the band's
    patches, correlate them with the atoms, run OMP, rebuild them and overlap-add them into the output,
    all while the band is in cache. Patch Normalization is folded into the atoms instead of applied to the
    patches: with z = (p − μ)/σ, ``z·Aᵀ = p·(A/σ)ᵀ − (μ/σ)·Aᵀ`` and the rebuilt patch is
    ``Σ c_j (a_j ⊙ σ) + μ``; the μ part of the overlap-add is one transposed convolution.
    """
    b = patch_size
    dev = atoms.device
    dt = atoms.dtype
    chunk = chunk or chunk_for(dev)
    x = image_to_tensor(img, dev).to(dt)
    h, w = x.shape[-2:]
    xp, _, _ = padded_grid(x, b, stride)
    hp, wp = xp.shape[-2:]
    gh, gw = (hp - b) // stride + 1, (wp - b) // stride + 1
    if region is not None:
        r = torch.from_numpy(np.ascontiguousarray(region, dtype=np.float32)).to(dev)[None, None]
        r = F.pad(r, (0, wp - w, 0, hp - h))
        sel = F.max_pool2d(r, kernel_size=b, stride=stride)[0, 0] > 0
    else:
        sel = torch.ones((gh, gw), dtype=torch.bool, device=dev)
    n_sel = int(sel.sum())
    if n_sel == 0:
        return np.asarray(img, dtype=np.float32).copy(), 0
    rows_per_band = max(1, chunk // gw)
    if normalize:
        mean, std = _patch_statistics(xp, sel, b, stride)
        std = std + NORM_EPS
    else:
        mean = torch.zeros(atoms.shape[1], dtype=dt, device=dev)
        std = torch.ones_like(mean)
    corr_atoms = atoms / std  # correlate raw patches with these …
    offset = corr_atoms @ mean  # … and subtract this: the correlations of the z-scored patches
    rebuild_atoms = atoms * std
    g = gram if gram is not None else atoms @ atoms.T
    total = torch.zeros_like(xp)
    # Band-sized buffers reused for every band: fresh multi-megabyte tensors per band would be
    # allocated and page-faulted in again each time, which costs as much as the arithmetic.
    rows_max = rows_per_band * gw
    m = atoms.shape[1]
    patch_buf = torch.empty((rows_max, m), dtype=dt, device=dev)
    chosen_buf = torch.empty_like(patch_buf)
    rec_buf = torch.empty_like(patch_buf)
    gather_buf = torch.empty_like(patch_buf)
    cols_buf = torch.empty((m, rows_max), dtype=dt, device=dev)
    xy_buf = torch.empty((rows_max, atoms.shape[0]), dtype=dt, device=dev)
    workspace = OmpWorkspace(rows_max, atoms.shape[0], k, dt, dev)
    idx_parts: list[torch.Tensor] = []
    used_parts: list[torch.Tensor] = []
    for r0 in range(0, gh, rows_per_band):
        check_cancel(cancel)
        r1 = min(gh, r0 + rows_per_band)
        ids = sel[r0:r1].flatten().nonzero().squeeze(1)
        n_band, n_ids = (r1 - r0) * gw, ids.numel()
        if n_ids == 0:
            continue
        y0, y1 = r0 * stride, (r1 - 1) * stride + b
        # The band's patches, (c, dy, dx)-major like F.unfold, copied from a strided view.
        view = xp[0, :, y0:y1].unfold(1, b, stride).unfold(2, b, stride).permute(1, 2, 0, 3, 4)
        patches = patch_buf[:n_band]
        patches.view(r1 - r0, gw, 3, b, b).copy_(view)
        chosen = patches if n_ids == n_band else torch.index_select(patches, 0, ids, out=chosen_buf[:n_ids])
        xy = torch.addmm(offset, chosen, corr_atoms.T, beta=-1.0, out=xy_buf[:n_ids])
        idx, coef = batch_omp(xy, g, k, chunk=max(chunk, n_ids), workspace=workspace)
        if record is not None:
            idx_parts.append(idx.cpu())
            used_parts.append((coef != 0).cpu())
        rec = sparse_reconstruct(idx, coef, rebuild_atoms, out=rec_buf[:n_ids], tmp=gather_buf[:n_ids])
        # Rebuilt patches as columns (the layout F.fold reads), zeros where a patch was not coded.
        cols = cols_buf[:, :n_band]
        if n_ids == n_band:
            cols.copy_(rec.T)
        else:
            cols.zero_().index_copy_(1, ids, rec.T)
        total[..., y0:y1, :] += F.fold(cols.unsqueeze(0), (y1 - y0, wp), kernel_size=b, stride=stride)
    # The μ part of every rebuilt patch, and how many patches cover each pixel, in one convolution.
    kernels = torch.cat([mean.view(3, 1, b, b), torch.ones((1, 1, b, b), dtype=dt, device=dev)])
    spread = _scatter_kernels(sel, kernels, stride, (hp, wp))
    total += spread[:, :3]
    count = spread[:, 3:]
    out = torch.where(count > 0, total / count.clamp_min(1.0), xp)[..., :h, :w]
    if record is not None:
        record.sel, record.idx, record.used = sel.cpu(), torch.cat(idx_parts), torch.cat(used_parts)
    return np.clip(tensor_to_image(out), 0.0, 1.0), n_sel


class RegionSparse:
    """The RegionSparse purifier with a fixed dictionary; cheap to re-run with new parameters."""

    def __init__(
        self,
        dictionary: Dictionary,
        params: RegionSparseParams | None = None,
        device: torch.device | str = "cpu",
        localization: LocalizationParams | None = None,
    ) -> None:
        self.dictionary = dictionary
        self.params = params or RegionSparseParams()
        self.params.validate(dictionary.n_atoms)
        self.localization = localization or LocalizationParams()
        self.device = torch.device(device)
        self._atoms = torch.from_numpy(dictionary.atoms).to(self.device)
        self._gram = self._atoms @ self._atoms.T

    def with_params(self, **changes: object) -> RegionSparse:
        """A purifier sharing this one's dictionary (and cached Gram matrix) with some parameters changed."""
        new = object.__new__(RegionSparse)
        new.__dict__.update(self.__dict__)
        new.params = replace(self.params, **changes)  # type: ignore[arg-type]
        new.params.validate(self.dictionary.n_atoms)
        return new

    def purify(
        self,
        img: np.ndarray,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        keep_supports: bool = False,
    ) -> Purification:
        """``keep_supports``: also return each coded patch's OMP support (:class:`Supports`), which the exact
        surrogate holds fixed, so it need not run OMP a second time."""
        p = self.params
        supports = Supports() if keep_supports else None
        b = self.dictionary.patch_size
        if min(img.shape[:2]) < b:
            raise ValueError(f"image is smaller than the dictionary's {b}×{b} patches")
        img = np.asarray(img, dtype=np.float32)
        t0 = time.perf_counter()
        report(progress, 0.0, "localizing the object")
        if p.localize:
            loc = localize_object(img, replace(self.localization, feather_sigma=p.feather))
            mask, soft, fallback = loc.mask, loc.soft, loc.fallback
        else:
            mask = np.ones(img.shape[:2], dtype=bool)
            soft, fallback = mask.astype(np.float32), False
        weight = p.theta * soft + (1.0 - p.theta) * (1.0 - soft)
        t1 = time.perf_counter()
        check_cancel(cancel)
        report(progress, 0.15, "sparse coding")
        region = weight > 1e-3
        sc, n_patches = sparse_code(
            img,
            self._atoms,
            b,
            p.k,
            p.stride,
            region=None if region.all() else region,
            normalize=p.normalize,
            gram=self._gram,
            cancel=cancel,
            record=supports,
        )
        t2 = time.perf_counter()
        report(progress, 0.85, "filtering the background")
        bg = bilateral(img, p.bilateral_d, p.sigma_color, p.sigma_space) if p.background_filter else img
        w3 = weight[..., None]
        purified = np.clip(w3 * sc + (1.0 - w3) * bg, 0.0, 1.0).astype(np.float32)
        t3 = time.perf_counter()
        report(progress, 1.0, "done")
        return Purification(
            purified=purified,
            mask=mask,
            weight=weight.astype(np.float32),
            sparse_coded=sc,
            background=np.asarray(bg, dtype=np.float32),
            info={
                "coverage": float(mask.mean()),
                "fallback_whole_image": bool(fallback),
                "patches": n_patches,
                "seconds_localize": t1 - t0,
                "seconds_sparse_code": t2 - t1,
                "seconds_background": t3 - t2,
                "seconds": t3 - t0,
            },
            supports=supports,
        )
