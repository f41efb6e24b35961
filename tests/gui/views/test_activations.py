"""The activation visualization: ratio curves per conv layer, heat grids, None handling, γ."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from rsdesk.core.models.explain import activation_profile, activation_ratio
from rsdesk.core.sparse.filters import bilateral
from rsdesk.gui.views.activations import ActivationsView


@pytest.fixture(scope="module")
def profiles(classifier, sample_image):
    rng = np.random.default_rng(0)
    delta = rng.uniform(-8 / 255, 8 / 255, sample_image.shape)
    noisy = np.clip(sample_image + delta, 0, 1).astype(np.float32)
    smooth = np.clip(bilateral(noisy, 5, 30.0, 5.0), 0, 1)
    return tuple(activation_profile(classifier, x) for x in (sample_image, noisy, smooth))


@pytest.fixture
def view(qtbot):
    v = ActivationsView()
    qtbot.addWidget(v)
    v.resize(1000, 320)
    v.show()
    return v


def _curve(curve):
    x, y = curve.getData()
    return (np.array([]), np.array([])) if x is None else (x, y)


def test_one_point_per_conv_layer(view, profiles, classifier):
    original, adversarial, purified = profiles
    n_conv = sum(isinstance(m, nn.Conv2d) for m in classifier.net.modules())
    view.set_profiles(original, adversarial, purified)
    for curve, profile in ((view.adversarial_curve, adversarial), (view.purified_curve, purified)):
        x, y = _curve(curve)
        assert len(x) == len(y) == n_conv == len(original.layer_names)
        np.testing.assert_array_equal(x, np.arange(n_conv))
        np.testing.assert_allclose(y, activation_ratio(profile, original, 0.0))
    assert "adversarial: mean" in view.summary.text() and "purified: mean" in view.summary.text()
    # heat grids: 3 rows (original / adversarial / purified) × channels, original's max scaled to 1
    for combo, img in zip(view.layer_combos, view.heat_images):
        layer = combo.currentData()
        data = img.image
        assert data.shape == (3, len(original.values[layer]))
        assert np.nanmax(data[0]) == pytest.approx(1.0)
        assert np.isfinite(data).all()
    assert [c.currentData() for c in view.layer_combos] == [0, n_conv // 2, n_conv - 1]


def test_updates_reuse_the_plot_items(view, profiles):
    original, adversarial, purified = profiles
    view.set_profiles(original, adversarial, None)
    items = (view.adversarial_curve, view.purified_curve, *view.heat_images)
    n_items = len(view.plot.getPlotItem().listDataItems())
    view.set_profiles(original, purified, adversarial)
    assert (view.adversarial_curve, view.purified_curve, *view.heat_images) == items
    assert len(view.plot.getPlotItem().listDataItems()) == n_items == 2
    np.testing.assert_allclose(_curve(view.adversarial_curve)[1], activation_ratio(purified, original))


def test_none_profiles(view, profiles):
    original, adversarial, _ = profiles
    view.set_profiles(original, None, None)
    assert len(_curve(view.adversarial_curve)[0]) == 0 and len(_curve(view.purified_curve)[0]) == 0
    assert view.ratios() == (None, None)
    data = view.heat_images[0].image
    assert np.isfinite(data[0]).all() and np.isnan(data[1:]).all()
    assert "attack the image" in view.summary.text()

    view.set_profiles(None, adversarial, None)  # no original: nothing to divide by, but the grid shows
    assert view.ratios() == (None, None)
    assert np.isfinite(view.heat_images[0].image[1]).all()

    view.set_profiles(original, adversarial, None)
    assert len(_curve(view.adversarial_curve)[0]) == len(original.values)
    view.clear()
    assert len(_curve(view.adversarial_curve)[0]) == 0
    assert view.heat_images[0].image is None
    assert all(not c.isEnabled() for c in view.layer_combos)
    assert "No activations" in view.summary.text()


def test_gamma_recomputes_the_curves(view, qtbot, profiles):
    original, adversarial, purified = profiles
    view.set_profiles(original, adversarial, purified, gamma=0.0)
    before = _curve(view.adversarial_curve)[1].copy()
    with qtbot.waitSignal(view.gamma_changed, timeout=1000) as blocker:
        view.gamma_spin.setValue(2.0)
    assert blocker.args == [2.0]
    after = _curve(view.adversarial_curve)[1]
    np.testing.assert_allclose(after, activation_ratio(adversarial, original, 2.0), equal_nan=True)
    assert not np.allclose(before, after, equal_nan=True)


def test_set_profiles_gamma_does_not_echo(view, qtbot, profiles):
    original, adversarial, _ = profiles
    emitted: list[float] = []
    view.gamma_changed.connect(emitted.append)
    view.set_profiles(original, adversarial, None, gamma=1.5)
    assert view.gamma() == 1.5 and emitted == []
    expected = activation_ratio(adversarial, original, 1.5)
    np.testing.assert_allclose(_curve(view.adversarial_curve)[1], expected, equal_nan=True)


def test_layer_choice_and_sorting(view, profiles):
    original, adversarial, purified = profiles
    view.set_profiles(original, adversarial, purified)
    combo, img = view.layer_combos[0], view.heat_images[0]
    combo.setCurrentIndex(5)
    assert img.image.shape == (3, len(original.values[5]))
    assert view.layer_markers[0].value() == 5
    row = img.image[0]
    assert np.all(np.diff(row) <= 0)  # sorted by the original's activation, strongest first
    view.sort_box.setChecked(False)
    np.testing.assert_allclose(img.image[0], original.values[5] / original.values[5].max(), rtol=1e-6)


def test_profiles_from_different_networks(view, profiles, tiny_classifier, tiny_batch):
    tiny = activation_profile(tiny_classifier, tiny_batch[0].permute(1, 2, 0).numpy())
    view.set_profiles(profiles[0], tiny, None)
    assert view.ratios() == (None, None)
    assert "different networks" in view.summary.text()
