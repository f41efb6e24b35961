"""rsdesk.core.defenses: the registry and the paper's baselines (JPEG, squeezing, TVM, bilateral, NLM)."""

from __future__ import annotations

import numpy as np
import pytest

from rsdesk.core.defenses import (
    DEFENSES,
    JPEG,
    NLM,
    TVM,
    Bilateral,
    FeatureSqueezing,
    NoDefense,
    RegionSparseDefense,
    create_defense,
)
from rsdesk.core.defenses.base import DefenseResult
from rsdesk.core.defenses.tvm import tv_minimize
from rsdesk.core.errors import DictionaryError
from rsdesk.core.io.images import quantize
from rsdesk.core.progress import Cancelled
from rsdesk.core.sparse.dictionary_file import random_dictionary, save_dictionary


def _photo_like(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth colour regions with a sharp edge (what photos look like to these filters)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.3 + 0.4 * x, 0.6 - 0.3 * y, 0.5 + 0.2 * np.sin(8 * x)], axis=2)
    img[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = rng.random(3)  # a flat square with sharp edges
    return img.astype(np.float32)


def _noisy(img: np.ndarray, sigma: float = 0.06, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + sigma * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


def _total_variation(img: np.ndarray) -> float:
    return float(np.abs(np.diff(img, axis=0)).sum() + np.abs(np.diff(img, axis=1)).sum())


def test_registry():
    assert list(DEFENSES) == [
        *("none", "regionsparse", "jpeg", "squeeze", "tvm", "bilateral", "nlm", "comdefend")
    ]
    assert isinstance(create_defense("JPEG"), JPEG)
    assert isinstance(create_defense("feature-squeezing"), FeatureSqueezing)
    assert isinstance(create_defense("rs"), RegionSparseDefense)
    assert isinstance(create_defense("non_local_means"), NLM)
    with pytest.raises(ValueError, match=r"unknown defense 'magnet'; choose one of none, regionsparse"):
        create_defense("magnet")


@pytest.mark.parametrize("name", list(DEFENSES))
def test_every_defense_returns_an_image_of_the_input_shape(name):
    params = {"seed": 0, "iterations": 10} if name == "tvm" else {}
    if name == "regionsparse":
        params = {"stride": 4}
    defense = create_defense(name, **params)
    img = _noisy(_photo_like(45, 61))
    calls: list[float] = []
    res = defense.purify(img, progress=lambda f, _m: calls.append(f))
    assert isinstance(res, DefenseResult)
    out = res.purified
    assert out.shape == (45, 61, 3)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert calls and calls[-1] == 1.0
    if not defense.randomized:
        np.testing.assert_array_equal(defense(img), out)  # deterministic
    assert defense.describe().startswith(defense.title)


def test_none_is_the_identity_and_copies():
    img = _photo_like()
    out = NoDefense()(img)
    np.testing.assert_array_equal(out, img)
    assert out is not img


def test_jpeg_quality():
    img = _photo_like()
    q100 = JPEG(quality=100)(img)
    q10 = JPEG(quality=10)(img)
    e100 = np.abs(q100 - quantize(img)).mean()
    e10 = np.abs(q10 - quantize(img)).mean()
    assert e100 < 0.01  # nearly the identity
    assert e10 > 3 * e100
    assert JPEG().values == {"quality": 75}
    # its output is 8-bit
    np.testing.assert_array_equal(q10, quantize(q10))


def test_feature_squeezing_one_bit():
    img = _photo_like()
    out = FeatureSqueezing(bits=1, median=1)(img)
    assert set(np.unique(out)) <= {0.0, 1.0}
    np.testing.assert_array_equal(out, (img > 0.5).astype(np.float32))


def test_feature_squeezing_levels_and_median():
    img = _noisy(_photo_like())
    out = FeatureSqueezing(bits=3, median=1)(img)
    np.testing.assert_allclose(out * 7, np.round(out * 7), atol=1e-5)  # 8 levels
    assert len(np.unique(out)) <= 8
    smoothed = FeatureSqueezing(bits=8, median=3)(img)
    assert _total_variation(smoothed) < 0.8 * _total_variation(img)
    even = FeatureSqueezing(bits=8, median=2)(img)  # the paper's 2×2 window is allowed
    assert even.shape == img.shape


def test_tvm_identity_settings_return_the_input():
    img = _noisy(_photo_like(32, 40))
    out = TVM(keep=1.0, lam=0.0, seed=0)(img)
    np.testing.assert_allclose(out, img, atol=1e-6)


def test_tvm_reduces_total_variation_and_is_seedable():
    img = _noisy(_photo_like(32, 40), 0.08)
    a = TVM(seed=3, iterations=30)(img)
    b = TVM(seed=3, iterations=30)(img)
    c = TVM(seed=4, iterations=30)(img)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert _total_variation(a) < 0.7 * _total_variation(img)
    assert np.abs(a - _photo_like(32, 40)).mean() < np.abs(img - _photo_like(32, 40)).mean() + 0.05
    assert TVM.randomized and not JPEG.randomized


def test_tvm_validation_and_cancel():
    img = _photo_like(16, 16)
    with pytest.raises(ValueError, match="keep probability"):
        tv_minimize(img, keep_prob=0.0)
    with pytest.raises(ValueError, match="λ must be ≥ 0"):
        tv_minimize(img, lam=-1)
    with pytest.raises(Cancelled):
        TVM(seed=0).purify(img, cancel=lambda: True)


@pytest.mark.parametrize("defense", [Bilateral(), NLM(h=15)], ids=["bilateral", "nlm"])
def test_smoothing_defenses_remove_noise(defense):
    clean = _photo_like()
    noisy = _noisy(clean, 0.06)
    out = defense(noisy)
    assert np.std(out - clean) < 0.6 * np.std(noisy - clean)


def test_nlm_with_zero_strength_is_the_identity():
    img = _noisy(_photo_like())
    np.testing.assert_array_equal(NLM(h=0)(img), img)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("jpeg", {"quality": 0}, r"quality must be within 1…100, got 0"),
        ("jpeg", {"quality": 50.5}, "quality must be a whole number"),
        ("squeeze", {"bits": 9}, r"bit depth must be within 1…8"),
        ("tvm", {"keep": 0}, r"pixel keep probability must be within"),
        ("bilateral", {"d": 40}, "diameter must be within 1…31"),
        ("nlm", {"h": "strong"}, r"h \(strength\): 'strong' is not a number"),
        ("regionsparse", {"k": 0}, r"K \(sparsity\) must be within 1…64"),
        ("regionsparse", {"localize": "maybe"}, "object localization: 'maybe' is not on/off"),
        ("jpeg", {"qualty": 50}, r"JPEG compression: unknown parameter\(s\) qualty; known: quality"),
    ],
)
def test_parameters_are_validated(name, params, message):
    with pytest.raises(ValueError, match=message):
        create_defense(name, **params)


def test_params_from_strings():
    d = create_defense("regionsparse", k="3", theta="0.5", localize="off", stride="2")
    assert d.values["k"] == 3 and d.values["theta"] == 0.5 and d.values["localize"] is False
    assert d.purifier.params.k == 3 and d.purifier.params.localize is False and d.purifier.params.stride == 2
    assert "k=3" in d.describe() and "256 atoms" in d.describe()


def test_regionsparse_defense_loads_a_dictionary_path(tmp_path):
    path = save_dictionary(tmp_path / "small.npz", random_dictionary(32, 4, seed=0))
    d = RegionSparseDefense(dictionary=path, k=2, stride=2)
    assert d.dictionary.n_atoms == 32 and d.dictionary.patch_size == 4
    out = d(_photo_like())
    assert out.shape == (48, 64, 3)
    d2 = RegionSparseDefense(dictionary=str(path), k=2, stride=2)
    np.testing.assert_array_equal(d2(_photo_like()), out)


def test_regionsparse_defense_rejects_a_bad_dictionary(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a dictionary")
    with pytest.raises(DictionaryError, match=r"bad\.npz"):
        RegionSparseDefense(dictionary=bad)
    with pytest.raises(DictionaryError, match="not found"):
        RegionSparseDefense(dictionary=tmp_path / "missing.npz")
    # K larger than the dictionary is refused with the dictionary's size in the message
    path = save_dictionary(tmp_path / "small.npz", random_dictionary(8, 4, seed=0))
    with pytest.raises(ValueError, match=r"number of atoms \(8\), got 9"):
        RegionSparseDefense(dictionary=path, k=9)


def test_regionsparse_defense_cancel():
    d = RegionSparseDefense(stride=4)
    with pytest.raises(Cancelled):
        d.purify(_photo_like(), cancel=lambda: True)


def test_traits_describe_every_defense():
    from rsdesk.core.defenses import DEFENSES

    for name, cls in DEFENSES.items():
        specs = {p.name for p in cls.PARAMS}
        assert set(cls.MAIN_PARAMS) <= specs, name
        assert cls.short_title and cls.title
    assert [n for n, c in DEFENSES.items() if c.identity] == ["none"]
    assert [n for n, c in DEFENSES.items() if c.needs_dictionary] == ["regionsparse"]
    assert [n for n, c in DEFENSES.items() if c.randomized] == ["tvm"]


def test_the_one_builder_takes_a_dictionary_only_where_one_is_needed(tmp_path):
    from rsdesk.core.defenses import RANDOM_DICTIONARY
    from rsdesk.core.sparse.dictionary_file import random_dictionary, save_dictionary

    small = save_dictionary(tmp_path / "d.npz", random_dictionary(n_atoms=8, patch_size=8, seed=3))
    jpeg = create_defense("jpeg", {"quality": "40"}, file=small, device="auto")
    assert isinstance(jpeg, JPEG) and jpeg.values["quality"] == 40  # the dictionary is not its business
    rs = create_defense("rs", {"k": 2}, file=small, device="auto", stride=8)
    assert rs.dictionary.n_atoms == 8 and rs.values["k"] == 2 and rs.values["stride"] == 8
    noise = create_defense("regionsparse", file=RANDOM_DICTIONARY)
    np.testing.assert_array_equal(noise.dictionary.atoms, random_dictionary().atoms)  # noTR: seeded
    assert create_defense("regionsparse").dictionary.n_atoms == 256  # None: the bundled one
    with pytest.raises(ValueError, match=r"number of atoms \(8\), got 9"):
        create_defense("regionsparse", {"k": 9}, file=small)


def test_summaries_and_dictionary_limits():
    from rsdesk.core.defenses import DEFENSES
    from rsdesk.core.sparse.dictionary_file import random_dictionary

    rs = DEFENSES["regionsparse"]
    assert rs.summary(create_defense("rs", k=3).values) == "RegionSparse K 3, θ 1, stride 4"
    assert DEFENSES["jpeg"].summary({"quality": 75}) == "JPEG compression (quality=75)"
    assert rs.param_limits(random_dictionary(n_atoms=8)) == {"k": 8}
    assert DEFENSES["jpeg"].param_limits(random_dictionary(n_atoms=8)) == {}
