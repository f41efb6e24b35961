"""Exact local surrogates of the purifiers, for BPDA with a true gradient instead of the identity.

RegionSparse is not differentiable only through its discrete choices: the object mask, each patch's OMP
support, and the bin of OpenCV's exp table each bilateral weight reads. Held at their values for one image,
what is left is a smooth map of the input (:class:`Linearization`) whose vector-Jacobian product is the
purifier's own gradient almost everywhere around the image (wherever no choice flips)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from rsdesk.core.sparse.filters import bilateral
from rsdesk.core.sparse.patches import NORM_EPS, padded_grid
from rsdesk.core.sparse.purifier import RegionSparse, Supports

#: The backward passes a defense-aware attack may take through a purifier: the identity (classic BPDA) …
IDENTITY = "identity"
#: … or the exact vector-Jacobian product of the purifier with its discrete choices held fixed.
LINEAR = "linear"

#: OpenCV's float bilateral filter: bins of its exp lookup table per channel of the image's value range.
EXP_BINS_PER_CHANNEL = 1 << 12


@dataclass
class Linearization:
    """One image's purification and the differentiable map that reproduces it around that image.

    ``function`` takes and returns 3×H×W tensors (any float dtype, any device; it computes in the input's
    dtype) and equals ``purified`` at the image to float tolerance.
    """

    purified: np.ndarray  # H×W×3 float32: exactly what the real defense returns
    function: Callable[[torch.Tensor], torch.Tensor]


class _Constants:
    """The CPU tensors a surrogate holds, handed out in the dtype and on the device of its input (cached:
    an attack calls the same function once per step)."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        self.base, self.cache = tensors, {}

    def like(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        key = (x.device, x.dtype)
        if key not in self.cache:
            self.cache[key] = {
                k: v.to(x.device, x.dtype if v.is_floating_point() else None) for k, v in self.base.items()
            }
        return self.cache[key]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def clamped(lin: Linearization) -> Linearization:
    """The same surrogate followed by a clip to [0, 1] (torch.clamp: zero gradient where it clips)."""
    return Linearization(np.clip(lin.purified, 0, 1), lambda x, f=lin.function: torch.clamp(f(x), 0, 1))


# ----- the bilateral filter ------------------------------------------------------------------------


def _reflect101(idx: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's BORDER_REFLECT_101 (``gfedcb|abcdefgh|gfedcba``) of any index, repeated for wide borders."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.abs(idx) % period
    return np.where(idx < n, idx, period - idx)


def _border(radius: int, n: int) -> torch.Tensor:
    """Source index of every position of a side padded by ``radius`` (reflect-101)."""
    return torch.from_numpy(_reflect101(np.arange(-radius, n + radius), n))


def _bilateral_weights(
    img: np.ndarray, d: int, sigma_color: float, sigma_space: float
) -> tuple[int, list[tuple[int, int]], torch.Tensor, torch.Tensor] | None:
    """Every neighbour's weight in OpenCV's float bilateral filter as ``w = base + gain · L1`` (L1: colour
    distance), exact within the table bin the image's distance falls in. Follows ``bilateralFilter_32f``
    in float32: radius, disk, spatial weights, the exp table over the image's value range, interpolated.
    Returns (radius, the disk's offsets with the centre (weight 1), base and gain: K×H×W float32), or None
    where OpenCV returns its input (a flat image, a vanishing sigma)."""
    src = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    h, w, cn = src.shape
    if sigma_color <= 1e-6 or sigma_space <= 1e-6:
        return None
    lo, hi = float(src.min()), float(src.max())
    if abs(lo - hi) < np.finfo(np.float32).eps:
        return None
    radius = max(d // 2 if d > 0 else round(sigma_space * 1.5), 1)
    n_bins = EXP_BINS_PER_CHANNEL * cn
    scale = np.float32(n_bins) / (np.float32(hi - lo) * np.float32(cn))
    lut = np.exp((np.arange(n_bins + 2) / float(scale)) ** 2 * (-0.5 / sigma_color**2)).astype(np.float32)
    if (lut <= 0.0).any():  # OpenCV stops evaluating the exponential after the first zero
        lut[np.argmax(lut <= 0.0) :] = 0.0
    # The table's line through each bin in L1 units, w = base + gain·L1 (in float64, so it reproduces the
    # interpolation to float32 rounding at the image).
    slope = lut[1:].astype(np.float64) - lut[:-1]
    base_of = torch.from_numpy(lut[:-1] - slope * np.arange(n_bins + 1))
    gain_of = torch.from_numpy(slope * float(scale))
    src_c = src.permute(2, 0, 1).contiguous()  # channels first: each channel's window is a strided view
    padded = src_c.index_select(1, _border(radius, h)).index_select(2, _border(radius, w))
    offsets, kweights = [], []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            r = np.sqrt(float(dy * dy + dx * dx))
            if r <= radius:  # the centre too: distance 0, weight exp(0) = 1, as OpenCV adds it
                offsets.append((dy, dx))
                kweights.append(float(np.float32(np.exp(r * r * (-0.5 / sigma_space**2)))))
    base = torch.empty((len(offsets), h, w), dtype=torch.float32)
    gain = torch.empty_like(base)
    scale_t = torch.tensor(scale, dtype=torch.float32)
    ad = torch.empty_like(src_c)
    for k, (dy, dx) in enumerate(offsets):
        torch.sub(padded[:, radius + dy : radius + dy + h, radius + dx : radius + dx + w], src_c, out=ad)
        alpha = ad.abs_()[0] + ad[1]
        for ch in range(2, cn):  # OpenCV's order: (|Δb| + |Δg|) + |Δr|
            alpha += ad[ch]
        alpha *= scale_t
        idx = alpha.int().clamp_(max=n_bins).flatten()  # the bin, truncated as OpenCV's v_trunc
        base[k] = (base_of.index_select(0, idx) * kweights[k]).view(h, w)
        gain[k] = (gain_of.index_select(0, idx) * kweights[k]).view(h, w)
    return radius, offsets, base, gain


class _BilateralMap(torch.autograd.Function):
    """``out_i = Σ_k w_ik x_(i+k) / Σ_k w_ik``, ``w_ik = base_ik + gain_ik · Σ_c |g_(i+k),c − g_i,c|`` on the
    guide g (x itself, or the fixed image), its VJP and JVP written out: autograd through 49 slices of a
    padded copy costs several times more. ∂w/∂x is ``gain · sign(Δ)`` (0 where Δ is 0, as torch's |·|)."""

    @staticmethod
    def forward(ctx, x, guide, op):  # noqa: ANN001
        c = op.consts.like(x)
        padded, gpad = op.pad(x, c), (op.pad(guide, c) if guide is not None else None)
        num, den = torch.zeros_like(x), torch.zeros_like(x[0])
        weights = torch.empty((len(op.offsets), *den.shape), dtype=x.dtype, device=x.device)
        for k in range(len(op.offsets)):
            g_win, g_c = (op.window(gpad, k), guide) if gpad is not None else (op.window(padded, k), x)
            torch.addcmul(c["base"][k], c["gain"][k], (g_win - g_c).abs_().sum(0), out=weights[k])
            num.addcmul_(weights[k], op.window(padded, k))
            den += weights[k]
        out = num / den
        ctx.state = (op, c, padded, out.detach(), den, weights, x.detach() if guide is None else None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # noqa: ANN001
        op, c, padded, out, den, weights, follow = ctx.state
        a = grad / den
        acc = torch.zeros_like(padded)
        centre = torch.zeros_like(a)
        for k in range(len(op.offsets)):
            win = op.window(padded, k)
            op.window(acc, k).addcmul_(weights[k], a)
            if follow is not None:  # the weights' own dependence on x
                t = torch.sign(win - follow).mul_(c["gain"][k] * (a * (win - out)).sum(0))
                op.window(acc, k).add_(t)
                centre -= t
        return op.unpad(acc, c) + centre, None, None

    @staticmethod
    def jvp(ctx, v, _guide_t, _op_t):  # noqa: ANN001
        op, c, padded, out, den, weights, follow = ctx.state
        vpad = op.pad(v, c)
        dnum = torch.zeros_like(v)
        for k in range(len(op.offsets)):
            win, vwin = op.window(padded, k), op.window(vpad, k)
            dnum.addcmul_(weights[k], vwin)
            if follow is not None:
                dw = c["gain"][k] * (torch.sign(win - follow) * (vwin - v)).sum(0)
                dnum.addcmul_(dw, win - out)
        return dnum / den


@dataclass
class _Disk:
    """A bilateral filter's disk of offsets and its reflect-101 border, for :class:`_BilateralMap`."""

    radius: int
    offsets: list[tuple[int, int]]
    consts: _Constants
    size: tuple[int, int]

    def pad(self, x: torch.Tensor, c: dict[str, torch.Tensor]) -> torch.Tensor:
        return x.index_select(1, c["ys"]).index_select(2, c["xs"])

    def window(self, t: torch.Tensor, k: int) -> torch.Tensor:
        (dy, dx), r, (h, w) = self.offsets[k], self.radius, self.size
        return t[:, r + dy : r + dy + h, r + dx : r + dx + w]

    def unpad(self, t: torch.Tensor, c: dict[str, torch.Tensor]) -> torch.Tensor:
        """The adjoint of :meth:`pad`: every border pixel's value added back onto the pixel it copies."""
        h, w = self.size
        cols = t.new_zeros((t.shape[0], t.shape[1], w)).index_add_(2, c["xs"], t)
        return t.new_zeros((t.shape[0], h, w)).index_add_(1, c["ys"], cols)


def bilateral_function(
    img: np.ndarray, d: int, sigma_color: float, sigma_space: float, hold_weights: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    """OpenCV's bilateral filter as a torch map that equals it at ``img`` (``sigma_color`` in 8-bit units,
    as :func:`rsdesk.core.sparse.filters.bilateral` takes it): ``out_i = Σ_j w_ij x_j / Σ_j w_ij``.

    The colour weights are smooth functions of the image, not choices, so by default they follow x: only
    each weight's lookup-table bin, the |·| signs and the value range that scales the table are held, and
    the gradient is the filter's own almost everywhere. ``hold_weights`` freezes the weights at their values
    for ``img`` instead (a linear map; its Jacobian is not the filter's: measured cos 0.62 to the real
    filter's directional derivatives along noise on a photo).
    """
    found = _bilateral_weights(img, int(d), float(sigma_color) / 255.0, float(sigma_space))
    if found is None:
        return _identity
    radius, offsets, base, gain = found
    h, w = img.shape[:2]
    image = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)
    consts = _Constants(base=base, gain=gain, ys=_border(radius, h), xs=_border(radius, w), image=image)
    disk = _Disk(radius, offsets, consts, (h, w))
    if hold_weights:
        return lambda x: _BilateralMap.apply(x, consts.like(x)["image"], disk)
    return lambda x: _BilateralMap.apply(x, None, disk)


def linearize_bilateral(
    img: np.ndarray, d: int, sigma_color: float, sigma_space: float, hold_weights: bool = False
) -> Linearization:
    """OpenCV's bilateral filter at ``img`` (``purified``, unclipped as OpenCV returns it) and its local
    surrogate (see :func:`bilateral_function`)."""
    img = np.asarray(img, dtype=np.float32)
    fn = bilateral_function(img, d, sigma_color, sigma_space, hold_weights)
    return Linearization(bilateral(img, d, sigma_color, sigma_space), fn)


# ----- RegionSparse --------------------------------------------------------------------------------


def _support_inverses(gram: torch.Tensor, idx: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """(G_SS)⁻¹ per patch in float64: least squares on a support is ``c = G_SS⁻¹ · A_S z``, which is what
    OMP's coefficients are. Unused slots get an identity row and column, so their coefficient is 0."""
    gs = gram.detach().cpu().double()[idx[:, :, None], idx[:, None, :]]
    both = used[:, :, None] & used[:, None, :]
    return torch.linalg.inv(torch.where(both, gs, torch.eye(idx.shape[1], dtype=torch.float64)))


def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """√v with gradient 0 (not ∞) where v is 0: a dimension no patch varies in."""
    pos = v > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, v, torch.ones_like(v))), torch.zeros_like(v))


def sparse_code_function(
    purifier: RegionSparse, img: np.ndarray, supports: Supports
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The sparse coding of :func:`~rsdesk.core.sparse.purifier.sparse_code` with every patch's OMP support
    held at what sparse_code chose for ``img`` (``supports``, recorded by that call).

    Differentiable in x: the patch statistics μ and σ (they are smooth functions of the image; holding them
    fixed would give a different, less exact map), the z-scores, the least-squares coefficients on each
    support, the rebuild, and the overlap-average (its counts are fixed by the selection). Uncovered pixels
    keep their input; the result is clamped to [0, 1] as sparse_code clips it.
    """
    p = purifier.params
    b, stride = purifier.dictionary.patch_size, p.stride
    if supports.sel is None:
        return _identity  # nothing coded: sparse_code returns its input
    sel, idx, used = supports.sel, supports.idx, supports.used
    assert idx is not None and used is not None
    h, w = img.shape[:2]
    ids = sel.flatten().nonzero().squeeze(1)
    _, py, px = padded_grid(torch.ones((1, 1, h, w)), b, stride)
    hp, wp, n_cols = h + py, w + px, sel.numel()
    sel_cols = torch.zeros((b * b, n_cols), dtype=torch.float64)
    sel_cols[:, ids] = 1.0
    count = F.fold(sel_cols[None], (hp, wp), kernel_size=b, stride=stride)[0]
    atoms, inverses = purifier._atoms.detach().cpu().double(), _support_inverses(purifier._gram, idx, used)
    consts = _Constants(atoms=atoms, inverses=inverses, used=used.double(), idx=idx, ids=ids, count=count)
    normalize = p.normalize

    def function(x: torch.Tensor) -> torch.Tensor:
        c = consts.like(x)
        atoms = c["atoms"]
        xp, _, _ = padded_grid(x[None], b, stride)
        patches = F.unfold(xp, kernel_size=b, stride=stride)[0].index_select(1, c["ids"]).T  # N×m
        if normalize:
            mu = patches.mean(0)
            sd = _safe_sqrt((patches - mu).square().mean(0)) + NORM_EPS
            z = (patches - mu) / sd
        else:
            z = patches
        # Each patch's support atoms (N×k×m): correlating with those only is k/A of the full z·Aᵀ.
        chosen = atoms.index_select(0, c["idx"].flatten()).view(*c["idx"].shape, -1)
        corr = torch.bmm(chosen, z.unsqueeze(-1)).squeeze(-1) * c["used"]
        coef = torch.bmm(c["inverses"], corr.unsqueeze(-1)).squeeze(-1)
        rec = torch.bmm(coef.unsqueeze(1), chosen).squeeze(1)
        if normalize:
            rec = rec * sd + mu
        cols = torch.zeros((rec.shape[1], n_cols), dtype=x.dtype, device=x.device)
        cols = cols.index_copy(1, c["ids"], rec.T)
        total = F.fold(cols[None], (hp, wp), kernel_size=b, stride=stride)[0]
        out = torch.where(c["count"] > 0, total / c["count"].clamp_min(1.0), xp[0])
        return torch.clamp(out[:, :h, :w], 0.0, 1.0)

    return function


def linearize_regionsparse(
    purifier: RegionSparse, img: np.ndarray, hold_weights: bool = False
) -> Linearization:
    """RegionSparse's purification of ``img`` and its exact local surrogate.

    Held at their values for ``img``: the localization (the blend weight W and the region it selects), each
    coded patch's OMP support and each bilateral weight's table bin. The surrogate is
    ``clamp(W·SC(x) + (1 − W)·BF(x), 0, 1)`` with SC from :func:`sparse_code_function` and BF from
    :func:`bilateral_function` (``hold_weights`` passed on; the identity with the background filter off).
    """
    p = purifier.params
    img = np.asarray(img, dtype=np.float32)
    real = purifier.purify(img, keep_supports=True)
    weight = real.weight
    assert real.supports is not None
    sc = sparse_code_function(purifier, img, real.supports)
    if p.background_filter:
        bg = bilateral_function(img, p.bilateral_d, p.sigma_color, p.sigma_space, hold_weights)
    else:
        bg = _identity
    consts = _Constants(weight=torch.from_numpy(weight.astype(np.float64))[None])

    def function(x: torch.Tensor) -> torch.Tensor:
        wt = consts.like(x)["weight"]
        return torch.clamp(wt * sc(x) + (1.0 - wt) * bg(x), 0.0, 1.0)

    return Linearization(real.purified, function)
