"""rsdesk.core.overlays: heatmap and mask overlays, and the amplified difference, as RGB images."""

from __future__ import annotations

import numpy as np

from rsdesk.core.overlays import amplify_difference, overlay_heatmap, overlay_mask


def test_overlay_is_rgb():
    img = np.full((20, 30, 3), 0.5, np.float32)
    hot = overlay_heatmap(img, np.ones((20, 30), np.float32))
    cold = overlay_heatmap(img, np.zeros((20, 30), np.float32))
    assert hot.shape == cold.shape == (20, 30, 3) and hot.dtype == np.float32
    assert (hot[..., 0] > hot[..., 2] + 0.1).all()  # JET's top is red
    assert (cold[..., 2] > cold[..., 0] + 0.1).all()  # JET's bottom is blue
    # With alpha 1 the output is the colormap itself: dark red (128, 0, 0) for 1, dark blue for 0.
    np.testing.assert_allclose(overlay_heatmap(img, np.ones((20, 30)), alpha=1.0)[0, 0], [128 / 255, 0, 0])
    np.testing.assert_allclose(overlay_heatmap(img, np.zeros((20, 30)), alpha=1.0)[0, 0], [0, 0, 128 / 255])
    np.testing.assert_array_equal(overlay_heatmap(img, np.ones((20, 30)), alpha=0.0), img)
    # a heatmap of another size is resized to the image
    assert overlay_heatmap(img, np.ones((7, 7), np.float32)).shape == (20, 30, 3)


def test_mask_overlay_tints_the_object_and_darkens_the_background():
    img = np.full((20, 20, 3), 0.5, np.float32)
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    out = overlay_mask(img, mask)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], 0.5 * 0.45)  # background: darkened
    np.testing.assert_allclose(out[10, 10], 0.55 * 0.5 + 0.45 * np.array([1.0, 0.75, 0.1]), atol=1e-6)
    assert (out[5, 5:15] == 1.0).all()  # the outline, in white


def test_amplified_difference_is_mid_grey_where_nothing_changed():
    a = np.zeros((4, 4, 3), np.float32)
    same, gain = amplify_difference(a, a)
    assert (same == 0.5).all() and gain == 1.0
    b = a.copy()
    b[0, 0, 0] = -0.1
    out, gain = amplify_difference(b, a, gain=2.0)
    assert gain == 2.0 and out[0, 0, 0] == np.float32(0.3)
