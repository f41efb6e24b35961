"""The JPEG, feature-squeezing and TVM baselines equal ART's reference implementations at the same parameters.

A baseline counts only if it is the method its users know, so each is compared with ART's preprocessor
(``adversarial-robustness-toolbox``, a test-only dependency; skipped without it) on small natural images:
the bundled samples at 64×64, as loaded (8-bit) and with a random ±8/255 perturbation (off the 8-bit grid,
as an attacked image is).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rsdesk.core.defenses import JPEG, TVM, FeatureSqueezing
from rsdesk.core.defenses.tvm import tv_mask, tv_minimize
from rsdesk.core.io.assets import sample_image_paths
from rsdesk.core.io.images import load_image, quantize, to_uint8

art_pre = pytest.importorskip("art.defences.preprocessor")

SIDE = 64


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Three bundled samples, 64×64, 8-bit values (as a file loads)."""
    out = []
    for path in sample_image_paths()[:3]:
        small = cv2.resize(load_image(path), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        out.append(quantize(small))
    return out


@pytest.fixture(scope="module")
def perturbed(photos: list[np.ndarray]) -> list[np.ndarray]:
    """The samples with a ±8/255 uniform perturbation: float values between the 8-bit levels."""
    rng = np.random.default_rng(0)
    return [np.clip(p + rng.uniform(-8 / 255, 8 / 255, p.shape), 0, 1).astype(np.float32) for p in photos]


def _art(preprocessor: object, img: np.ndarray) -> np.ndarray:
    out, _ = preprocessor(img[None])  # type: ignore[operator]
    return np.asarray(out[0])


# ----- JPEG ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [10, 50, 75, 95])
def test_jpeg_equals_art_on_8bit_images(photos, quality):
    # Exact: the same Pillow call on the same bytes. Compared as 8-bit levels because ART divides by 255 in
    # float64 and RSDesk in float32 (the same level, possibly one float32 ulp apart).
    ours, ref = JPEG(quality=quality), art_pre.JpegCompression(clip_values=(0, 1), quality=quality)
    for img in photos:
        np.testing.assert_array_equal(to_uint8(ours(img)), to_uint8(_art(ref, img)))


def test_jpeg_rounds_where_art_truncates(perturbed):
    """The one deliberate difference: ART casts x·255 to uint8 (floor), RSDesk rounds as an 8-bit file does.

    So on off-grid input RSDesk equals ART exactly on the rounded image, and differs from ART on the float
    image by what a half-level shift does to JPEG (a mean of ~1–2 levels at 64×64, coefficient flips).
    """
    ours, ref = JPEG(quality=75), art_pre.JpegCompression(clip_values=(0, 1), quality=75)
    for img in perturbed:
        np.testing.assert_array_equal(to_uint8(ours(img)), to_uint8(_art(ref, quantize(img))))
        floor_then_round = quantize(np.floor(img * np.float32(255)) / 255)
        np.testing.assert_array_equal(to_uint8(_art(ref, img)), to_uint8(_art(ref, floor_then_round)))


# ----- feature squeezing -----------------------------------------------------------------------------------


def _boundaries(bits: int) -> np.ndarray:
    """Values on (and a float32 ulp around) the rounding boundaries (k + ½)/(2^bits − 1)."""
    levels = 2**bits - 1
    mid = ((np.arange(levels) + 0.5) / levels).astype(np.float32)
    vals = np.concatenate([mid, np.nextafter(mid, 0), np.nextafter(mid, 1), [0.0, 1.0]]).astype(np.float32)
    side = int(np.ceil(np.sqrt(len(vals))))
    return np.resize(vals, (side, side, 3)).astype(np.float32)


@pytest.mark.parametrize("bits", range(1, 9))
def test_bit_depth_equals_art_exactly(perturbed, bits):
    ref = art_pre.FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=bits)
    ours = FeatureSqueezing(bits=bits, median=1)
    for img in [*perturbed, _boundaries(bits)]:
        np.testing.assert_array_equal(ours(img), _art(ref, img).astype(np.float32))


@pytest.mark.parametrize("window", [2, 3, 5])
def test_median_equals_art_spatial_smoothing_exactly(perturbed, window):
    # Window 2 (the paper's 2×2) included: ART's SpatialSmoothing accepts any window ≥ 1, and both call
    # scipy's median_filter with mode "reflect", which takes the upper middle value for even windows.
    squeeze = art_pre.FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=5)
    smooth = art_pre.SpatialSmoothing(window_size=window)
    ours = FeatureSqueezing(bits=5, median=window)
    for img in perturbed:
        expected = _art(smooth, _art(squeeze, img)).astype(np.float32)
        np.testing.assert_array_equal(ours(img), expected)


# ----- TVM --------------------------------------------------------------------------------------------------

# Both sides run the same float64 arithmetic through the same SciPy L-BFGS-B; only summation order (BLAS)
# may differ, amplified a little by 10 iterations (measured: ≤ 1e-7 mean, ≤ 3e-6 max at 224²). A quarter of
# an 8-bit level (1e-3) leaves room for other BLAS builds, and is far below what a different method gives:
# the exact TV gradient instead of ART's moves the output by ~0.05 max, torch's L-BFGS by ~0.17, the old
# per-row/column objective with a shared mask by ~0.7.
TVM_MAX, TVM_MEAN = 1e-3, 1e-5


def _art_tvm(img: np.ndarray, seed: int, **params: object) -> np.ndarray:
    """ART's TotalVarMin with NumPy's global generator seeded (and restored afterwards)."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return _art(art_pre.TotalVarMin(clip_values=(0.0, 1.0), **params), img)
    finally:
        np.random.set_state(state)


def test_tvm_defaults_are_arts():
    ref = art_pre.TotalVarMin()
    defaults = TVM().values
    assert (defaults["keep"], defaults["lam"], defaults["iterations"]) == (ref.prob, ref.lamb, ref.max_iter)
    assert ref.norm == 2 and ref.solver == "L-BFGS-B"


def test_tvm_mask_is_arts_draw():
    state = np.random.get_state()
    try:
        np.random.seed(11)
        expected = np.random.rand(SIDE, SIDE, 3) < 0.3
    finally:
        np.random.set_state(state)
    mask = tv_mask((SIDE, SIDE, 3), 0.3, seed=11)
    np.testing.assert_array_equal(mask, expected)
    # one independent draw per channel, not one mask shared by the three
    assert not np.array_equal(mask[..., 0], mask[..., 1])


@pytest.mark.parametrize(
    ("ours", "art"),
    [
        ({}, {}),
        ({"keep": 0.5, "lam": 0.2, "iterations": 5}, {"prob": 0.5, "lamb": 0.2, "max_iter": 5}),
    ],
    ids=["defaults", "p0.5-lam0.2-it5"],
)
def test_tvm_equals_art(photos, perturbed, ours, art):
    for seed, img in enumerate([*photos, *perturbed]):
        expected = _art_tvm(img, seed, **art)
        got = TVM(seed=seed, **ours)(img)
        diff = np.abs(got - expected)
        assert diff.max() <= TVM_MAX and diff.mean() <= TVM_MEAN, (seed, diff.max(), diff.mean())
        assert np.abs(got - img).mean() > 0.005  # it did something: not a trivially equal identity


def test_tvm_with_an_injected_mask_equals_arts_minimizer(perturbed):
    img = perturbed[0]
    mask = np.random.default_rng(3).random(img.shape) < 0.3
    expected = art_pre.TotalVarMin()._minimize(img, mask.astype(int))  # the step after ART's draw
    got = tv_minimize(img, mask=mask)
    diff = np.abs(got - np.clip(expected, 0, 1))
    assert diff.max() <= TVM_MAX and diff.mean() <= TVM_MEAN
