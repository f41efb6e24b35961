"""The defenses' surrogate traits: which offer the exact linear backward pass, and that its value at the image
is the defense's own output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdesk.core.defenses import DEFENSES, Bilateral, create_defense
from rsdesk.core.defenses.base import Defense
from rsdesk.core.io.assets import resource_path
from rsdesk.core.io.images import load_image, resize_center_crop
from rsdesk.core.sparse.linearized import IDENTITY, LINEAR


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return resize_center_crop(load_image(resource_path("samples", "coffee.jpg")), 64).astype(np.float32)


def _value(lin, img: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(img).permute(2, 0, 1).double()
    return lin.function(x).permute(1, 2, 0).numpy()


def test_every_defense_offers_the_identity_and_linear_only_with_linearize():
    for name, cls in DEFENSES.items():
        assert IDENTITY in cls.surrogates, name
        assert set(cls.surrogates) <= {IDENTITY, LINEAR}, name
        overrides = cls.linearize is not Defense.linearize
        assert (LINEAR in cls.surrogates) == overrides, name
    assert LINEAR in DEFENSES["regionsparse"].surrogates
    assert LINEAR in DEFENSES["bilateral"].surrogates


@pytest.mark.parametrize(
    ("name", "title"), [("jpeg", "JPEG compression"), ("tvm", "Total variation minimization")]
)
def test_a_defense_without_a_linear_surrogate_says_so(photo, name, title):
    defense = create_defense(name)
    assert defense.surrogates == (IDENTITY,)
    with pytest.raises(ValueError, match=f"^{title} offers no linear surrogate$"):
        defense.linearize(photo)


@pytest.mark.parametrize(
    "params",
    [{"stride": 4}, {"stride": 2, "theta": 0.5}, {"stride": 4, "localize": False, "normalize": False}],
)
def test_regionsparse_linearize_is_its_purification(photo, params):
    defense = create_defense("regionsparse", **params)
    lin = defense.linearize(photo)
    np.testing.assert_array_equal(lin.purified, defense.purify(photo).purified)
    assert np.abs(_value(lin, photo) - lin.purified).max() <= 1e-5


def test_bilateral_linearize_is_its_purification_clipped_as_it_clips():
    rng = np.random.default_rng(0)
    img = rng.uniform(-0.2, 1.2, (32, 40, 3)).astype(np.float32)  # out of range: the clip matters
    defense = Bilateral(d=7, sigma_color=40.0, sigma_space=5.0)
    lin = defense.linearize(img)
    np.testing.assert_array_equal(lin.purified, defense.purify(img).purified)
    assert lin.purified.min() == 0.0 and lin.purified.max() == 1.0
    assert np.abs(_value(lin, img) - lin.purified).max() <= 1e-5
