"""rsdesk.core.sparse.localization: the Sobel G = Gx − Gy object mask, its fallback and its feathering."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rsdesk.core.sparse.localization import LocalizationParams, gradient_map, localize_object


def _textured_square(size: int = 128, top: int = 40, side: int = 48, seed: int = 0) -> np.ndarray:
    """A flat gray background with one strongly textured square (random 4-px checker cells)."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 0.5, np.float32)
    cells = rng.random((side // 4, side // 4, 3)).astype(np.float32)
    img[top : top + side, top : top + side] = np.kron(cells, np.ones((4, 4, 1), np.float32))
    return img


def test_mask_covers_the_textured_square():
    img = _textured_square()
    loc = localize_object(img)
    assert loc.mask.shape == (128, 128) and loc.mask.dtype == bool
    assert not loc.fallback
    square = np.zeros((128, 128), bool)
    square[40:88, 40:88] = True
    assert loc.mask[square].mean() > 0.97  # covers the object
    # and little else: nothing beyond a margin of a few kernel sizes around the square
    k = max(3, round(128 / 28)) | 1
    near = cv2.dilate(square.astype(np.uint8), np.ones((4 * k + 1, 4 * k + 1), np.uint8)).astype(bool)
    assert not loc.mask[~near].any()
    assert 48 * 48 / 128**2 <= loc.coverage < 0.3
    assert loc.coverage == pytest.approx(loc.mask.mean())


def test_soft_mask_is_feathered_and_in_range():
    img = _textured_square()
    loc = localize_object(img, LocalizationParams(feather_sigma=3.0))
    assert loc.soft.shape == (128, 128) and loc.soft.dtype == np.float32
    assert loc.soft.min() >= 0.0 and loc.soft.max() <= 1.0
    assert loc.soft[64, 64] == pytest.approx(1.0, abs=1e-6)  # deep inside
    assert loc.soft[2, 2] == pytest.approx(0.0, abs=1e-6)  # far outside
    edge = loc.soft[(loc.soft > 0.01) & (loc.soft < 0.99)]
    assert edge.size > 0  # a gradual seam exists
    hard = localize_object(img, LocalizationParams(feather_sigma=0.0))
    assert set(np.unique(hard.soft)) <= {0.0, 1.0}
    np.testing.assert_array_equal(hard.soft, hard.mask.astype(np.float32))
    np.testing.assert_array_equal(hard.mask, loc.mask)


@pytest.mark.parametrize("value", [0.0, 0.37, 1.0])
def test_flat_image_falls_back_to_the_whole_image(value):
    img = np.full((40, 60, 3), value, np.float32)
    loc = localize_object(img)
    assert loc.fallback
    assert loc.mask.all() and loc.coverage == 1.0
    np.testing.assert_array_equal(loc.soft, np.ones((40, 60), np.float32))


def test_tiny_specks_are_dropped():
    img = np.full((200, 200, 3), 0.5, np.float32)
    img[100, 100] = 1.0  # one bright pixel: a contour far below min_area_fraction after morphology
    loc = localize_object(img, LocalizationParams(min_area_fraction=0.05))
    assert loc.fallback and loc.mask.all()


def test_mask_scales_with_image_size():
    small = localize_object(_textured_square(128, 40, 48))
    big_img = cv2.resize(_textured_square(128, 40, 48), (512, 512), interpolation=cv2.INTER_NEAREST)
    big = localize_object(big_img)
    assert abs(big.coverage - small.coverage) < 0.05


def test_gradient_map_is_gx_minus_gy():
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    horizontal = np.repeat(ramp[..., None], 3, axis=2)  # brighter to the right: Gx > 0, Gy = 0
    g = gradient_map(horizontal)
    assert g.shape == (32, 32) and g.dtype == np.float32
    assert (g[5:-5, 5:-5] > 0).all()
    vertical = np.ascontiguousarray(horizontal.transpose(1, 0, 2))  # brighter downwards: Gy > 0 → G < 0
    assert (gradient_map(vertical)[5:-5, 5:-5] < 0).all()
    np.testing.assert_allclose(gradient_map(vertical)[5:-5, 5:-5], -g[5:-5, 5:-5], atol=1e-5)
