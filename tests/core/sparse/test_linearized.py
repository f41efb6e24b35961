"""rsdesk.core.sparse.linearized: the exact local surrogates equal the real purifiers at the image, and their
derivatives are what finite differences of the same (discrete choices fixed) map say."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD

from rsdesk.core.io.assets import default_dictionary_path, resource_path
from rsdesk.core.io.images import load_image, resize_center_crop
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.core.sparse.filters import bilateral
from rsdesk.core.sparse.linearized import (
    _reflect101,
    clamped,
    linearize_bilateral,
    linearize_regionsparse,
    sparse_code_function,
)
from rsdesk.core.sparse.purifier import RegionSparse, RegionSparseParams, Supports, sparse_code

# torch's forward-mode AD of some indexing ops goes through a TorchScript decomposition, which warns.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def bundled():
    return load_dictionary(default_dictionary_path())


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 64×64 photo (the cat sample): real edges for the localization, texture for OMP. In 8-bit steps, as
    a decoded file is: two values are equal or 1/255 apart, never within a finite-difference step of a
    kink of the bilateral filter's |Δ| (where the filter itself is not differentiable)."""
    img = resize_center_crop(load_image(resource_path("samples", "chelsea.jpg")), 64)
    return (np.round(img * 255) / 255).astype(np.float32)


def _chw(img: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(dtype)


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().permute(1, 2, 0).numpy()


def _jvp(f, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Forward-mode J·v: computed independently of the backward pass the attacks use."""
    with fwAD.dual_level():
        return fwAD.unpack_dual(f(fwAD.make_dual(x, v))).tangent


def _check_derivatives(f, img: np.ndarray, seed: int = 0, h: float = 1e-7) -> None:
    """Central differences of f along random v equal the JVP, and ⟨u, J v⟩ = ⟨Jᵀu, v⟩ with Jᵀu from the VJP,
    in float64. A small h: where two neighbours' colours tie exactly the bilateral weight's |Δ| has a kink,
    the JVP takes its symmetric derivative (0) and central differences reach it only as O(h) (measured
    1.5e-8 relative at h 1e-7, 1.5e-6 at 1e-5; without the filter 3e-9 at 1e-5; the dot test to 1e-12)."""
    x = _chw(img)
    g = torch.Generator().manual_seed(seed)
    for _ in range(2):
        v = torch.randn(x.shape, generator=g, dtype=torch.float64)
        u = torch.randn(x.shape, generator=g, dtype=torch.float64)
        jv = _jvp(f, x, v)
        fd = (f(x + h * v) - f(x - h * v)) / (2 * h)
        assert float((fd - jv).norm() / jv.norm()) < 1e-6
        xr = x.clone().requires_grad_(True)
        (jtu,) = torch.autograd.grad(f(xr), xr, u)
        lhs, rhs = float((u * fd).sum()), float((jtu * v).sum())
        assert lhs == pytest.approx(rhs, rel=1e-6)


# ----- the bilateral filter ------------------------------------------------------------------------


def test_reflect101_is_opencvs_border():
    for n, border in ((7, 3), (3, 5), (2, 4), (1, 2)):
        row = np.arange(n, dtype=np.float32)[None]
        want = cv2.copyMakeBorder(row, 0, 0, border, border, cv2.BORDER_REFLECT_101)[0]
        assert list(_reflect101(np.arange(-border, n + border), n)) == list(want.astype(int))


@pytest.mark.parametrize(
    ("size", "d", "sigma_color", "sigma_space"),
    [
        ((64, 64), 9, 75.0, 75.0),
        ((37, 53), 5, 30.0, 10.0),
        ((20, 31), 15, 200.0, 3.0),
        ((16, 16), 1, 75.0, 75.0),
    ],
)
def test_bilateral_surrogate_reproduces_opencv(photo, size, d, sigma_color, sigma_space):
    img = np.ascontiguousarray(photo[: size[0], : size[1]])
    lin = linearize_bilateral(img, d, sigma_color, sigma_space)
    np.testing.assert_array_equal(lin.purified, bilateral(img, d, sigma_color, sigma_space))
    for dtype in (torch.float64, torch.float32):  # measured: ≤ 4e-7 in both
        assert np.abs(_hwc(lin.function(_chw(img, dtype))) - lin.purified).max() <= 1e-5


def test_bilateral_surrogate_of_a_flat_image_is_the_identity():
    img = np.full((12, 12, 3), 0.3, np.float32)
    lin = linearize_bilateral(img, 9, 75.0, 75.0)
    x = torch.rand(3, 12, 12, dtype=torch.float64)
    assert torch.equal(lin.function(x), x)


@pytest.mark.parametrize("hold", [False, True])
def test_bilateral_surrogate_derivatives(photo, hold):
    img = photo[:40, :48]
    _check_derivatives(linearize_bilateral(img, 9, 75.0, 75.0, hold_weights=hold).function, img)


def test_held_weights_make_a_linear_map(photo):
    f = linearize_bilateral(photo[:40, :48], 9, 75.0, 75.0, hold_weights=True).function
    a, b = torch.rand(2, 3, 40, 48, dtype=torch.float64)
    np.testing.assert_allclose(f(2 * a - b), 2 * f(a) - f(b), atol=1e-12)


def test_bilateral_surrogate_has_the_real_filters_derivative(photo):
    """Along noise and along smooth directions, the JVP is what finite differences of OpenCV's own filter
    say (float32, h 1e-3: their own noise is ≈ 0.6 %; measured 0.4–0.9 %). Holding the colour weights fixed
    instead is far off along noise (measured 77 %): they are smooth in x, not a choice."""
    img = photo[:48, :48]
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(img.shape).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    for v in (noise, smooth / smooth.std()):
        h = 1e-3
        fd = (bilateral(img + h * v, 9, 75, 75).astype(np.float64) - bilateral(img - h * v, 9, 75, 75)) / (
            2 * h
        )
        errors = []
        for hold in (False, True):
            jv = _hwc(_jvp(linearize_bilateral(img, 9, 75, 75, hold).function, _chw(img), _chw(v)))
            errors.append(np.linalg.norm(jv - fd) / np.linalg.norm(fd))
        assert errors[0] < 0.03
        assert errors[1] > 2 * errors[0]
    assert errors[1] > 0.02


def test_clamped_clips_value_and_gradient():
    lin = clamped(
        linearize_bilateral(np.linspace(-0.5, 1.5, 300, dtype=np.float32).reshape(10, 10, 3), 5, 50, 5)
    )
    assert lin.purified.min() >= 0.0 and lin.purified.max() <= 1.0
    x = torch.full((3, 10, 10), 2.0, requires_grad=True)
    lin.function(x).sum().backward()
    assert torch.count_nonzero(x.grad) == 0


# ----- RegionSparse --------------------------------------------------------------------------------

CONFIGS = [
    {},
    {"stride": 1},
    {"stride": 3, "normalize": False},
    {"localize": False},
    {"background_filter": False, "theta": 0.7},
    {"theta": 0.5, "k": 6},
    {"theta": 0.0, "localize": False},  # nothing is sparse-coded
]


@pytest.mark.parametrize("changes", CONFIGS)
def test_regionsparse_surrogate_equals_the_purification(bundled, photo, changes):
    rs = RegionSparse(bundled, RegionSparseParams(**changes))
    lin = linearize_regionsparse(rs, photo)
    np.testing.assert_array_equal(lin.purified, rs.purify(photo).purified)
    for dtype in (torch.float64, torch.float32):  # measured: ≤ 6e-7
        assert np.abs(_hwc(lin.function(_chw(photo, dtype))) - lin.purified).max() <= 1e-5


@pytest.mark.parametrize("stride", [2, 5])
def test_sparse_code_surrogate_matches_sparse_code_on_odd_sizes_and_regions(bundled, photo, stride):
    img = np.ascontiguousarray(photo[:61, :59])
    region = np.zeros(img.shape[:2], bool)
    region[10:40, 15:50] = True
    rs = RegionSparse(bundled, RegionSparseParams(stride=stride))
    supports = Supports()
    want, _ = sparse_code(img, rs._atoms, 8, rs.params.k, stride, region=region, record=supports)
    got = _hwc(sparse_code_function(rs, img, supports)(_chw(img)))
    assert np.abs(got - want).max() <= 1e-5
    np.testing.assert_array_equal(got[50:], img[50:])  # uncovered pixels keep their input


@pytest.mark.parametrize(
    "changes", [{}, {"stride": 3, "normalize": False}, {"stride": 2, "localize": False, "theta": 0.6}]
)
def test_regionsparse_surrogate_derivatives(bundled, photo, changes):
    # Kept off 0 and 1 so no clamp sits at its kink exactly at the image.
    img = (0.05 + 0.9 * photo).astype(np.float32)
    lin = linearize_regionsparse(RegionSparse(bundled, RegionSparseParams(**changes)), img)
    _check_derivatives(lin.function, img)


def test_regionsparse_surrogate_at_224(bundled, sample_image):
    img = np.asarray(sample_image, dtype=np.float32)
    rs = RegionSparse(bundled, RegionSparseParams(stride=4))
    lin = linearize_regionsparse(rs, img)
    np.testing.assert_array_equal(lin.purified, rs.purify(img).purified)
    x = _chw(img, torch.float32).requires_grad_(True)
    y = lin.function(x)
    assert np.abs(_hwc(y) - lin.purified).max() <= 1e-5  # measured 1.1e-6
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert torch.isfinite(g).all() and g.abs().sum() > 0
