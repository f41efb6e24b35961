"""rsdesk.core.sparse.purifier: sparse coding against a plain reference, blending, ablations, errors."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import orthogonal_mp_gram

from rsdesk.core.progress import Cancelled
from rsdesk.core.sparse.dictionary_file import Dictionary, random_dictionary
from rsdesk.core.sparse.filters import bilateral
from rsdesk.core.sparse.patches import NORM_EPS
from rsdesk.core.sparse.purifier import RegionSparse, RegionSparseParams, sparse_code


def _test_image(h: int = 37, w: int = 53, seed: int = 0) -> np.ndarray:
    """Smooth shapes plus texture, values in [0, 1], odd size."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.5 + 0.4 * np.sin(6 * x), 0.5 + 0.4 * np.cos(5 * y), 0.3 + 0.4 * x * y], axis=2)
    return np.clip(base + 0.08 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


def _scene(size: int = 96, seed: int = 0) -> np.ndarray:
    """A flat, slightly noisy background with a textured object in the middle."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 0.45, np.float32) + 0.01 * rng.standard_normal((size, size, 3))
    s0, s1 = size // 4, 3 * size // 4
    img[s0:s1, s0:s1] = rng.random((s1 - s0, s1 - s0, 3))  # per-pixel texture: edges everywhere
    return np.clip(img, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def small_dict() -> Dictionary:
    return random_dictionary(64, 4, seed=7)


def reference_sparse_code(
    img: np.ndarray,
    atoms: np.ndarray,
    b: int,
    k: int,
    stride: int,
    region: np.ndarray | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """The spec's sparse coding written plainly: all grid patches (bottom/right reflect padding), z-score
    over the coded patches, scikit-learn OMP in float64, de-normalize, average overlaps; uncovered pixels
    keep their value."""
    h, w = img.shape[:2]
    x = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None]
    py, px = (-(h - b)) % stride, (-(w - b)) % stride
    xp = F.pad(x, (0, px, 0, py), mode="reflect") if (py or px) else x
    hp, wp = xp.shape[-2:]
    patches = F.unfold(xp, kernel_size=b, stride=stride)[0].T.numpy()  # L × 3b²
    if region is None:
        sel = np.ones(patches.shape[0], bool)
    else:
        r = np.zeros((hp, wp), np.float64)
        r[:h, :w] = region
        sel = F.max_pool2d(torch.from_numpy(r)[None, None], b, stride).flatten().numpy() > 0
    chosen = patches[sel]
    if normalize:
        mean = chosen.mean(0)
        scale = chosen.std(0) + NORM_EPS
    else:
        mean, scale = np.zeros(chosen.shape[1]), np.ones(chosen.shape[1])
    z = (chosen - mean) / scale
    a = atoms.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        codes = orthogonal_mp_gram(a @ a.T, (z @ a.T).T, n_nonzero_coefs=k).reshape(a.shape[0], -1).T
    recon = (codes @ a) * scale + mean
    full = np.zeros_like(patches)
    full[sel] = recon
    ones = np.zeros_like(patches)
    ones[sel] = 1.0
    fold = lambda p: F.fold(torch.from_numpy(p).T[None], (hp, wp), kernel_size=b, stride=stride)  # noqa: E731
    total, count = fold(full), fold(ones)
    out = torch.where(count > 0, total / count.clamp_min(1.0), xp)[0, :, :h, :w]
    return np.clip(out.permute(1, 2, 0).numpy(), 0, 1)


# ----- sparse coding ------------------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("normalize", [True, False])
def test_sparse_code_matches_reference(small_dict, stride, normalize):
    img = _test_image()
    atoms = torch.from_numpy(small_dict.atoms)
    out, n = sparse_code(img, atoms, 4, 3, stride=stride, normalize=normalize)
    ref = reference_sparse_code(img, small_dict.atoms, 4, 3, stride, normalize=normalize)
    assert out.shape == (37, 53, 3) and out.dtype == np.float32
    gh = (37 - 4 + (-(37 - 4)) % stride) // stride + 1
    gw = (53 - 4 + (-(53 - 4)) % stride) // stride + 1
    assert n == gh * gw
    np.testing.assert_allclose(out, ref, atol=2e-4)
    assert np.abs(out - img).mean() > 1e-3  # coding with 3 atoms does change the image


@pytest.mark.parametrize("stride", [1, 4])
def test_sparse_code_of_a_region_matches_reference(small_dict, stride):
    img = _test_image(seed=1)
    region = np.zeros((37, 53), bool)
    region[10:25, 20:41] = True
    atoms = torch.from_numpy(small_dict.atoms)
    out, n = sparse_code(img, atoms, 4, 2, stride=stride, region=region)
    ref = reference_sparse_code(img, small_dict.atoms, 4, 2, stride, region=region)
    np.testing.assert_allclose(out, ref, atol=2e-4)
    # far from the region (more than a patch away) the image is untouched
    far = ~cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[far], img[far])
    assert not np.allclose(out[region], img[region], atol=1e-3)
    assert 0 < n < (37 - 3) * (53 - 3)


def test_sparse_code_band_size_does_not_change_the_result(small_dict):
    img = _test_image(seed=2)
    atoms = torch.from_numpy(small_dict.atoms)
    a, _ = sparse_code(img, atoms, 4, 4, stride=1)
    b, _ = sparse_code(img, atoms, 4, 4, stride=1, chunk=40)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_sparse_code_with_an_empty_region_returns_the_input(small_dict):
    img = _test_image()
    out, n = sparse_code(img, torch.from_numpy(small_dict.atoms), 4, 2, region=np.zeros((37, 53), bool))
    assert n == 0
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("normalize", [True, False])
def test_complete_orthonormal_dictionary_reconstructs_the_image(normalize):
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((48, 48)))
    atoms = torch.from_numpy(q.T.astype(np.float32))  # 48 orthonormal atoms for 4×4×3 patches
    img = _test_image(seed=3)
    out, _ = sparse_code(img, atoms, 4, 48, stride=2, normalize=normalize)
    np.testing.assert_allclose(out, img, atol=2e-4)
    # and through the purifier, with the whole image coded
    d = Dictionary(q.T.astype(np.float32), 4, h=0.0)
    res = RegionSparse(d, RegionSparseParams(k=48, stride=2, localize=False, normalize=normalize)).purify(img)
    np.testing.assert_allclose(res.sparse_coded, img, atol=2e-4)
    np.testing.assert_allclose(res.purified, img, atol=2e-4)


# ----- the purifier -------------------------------------------------------------------------------


def test_result_keeps_every_intermediate(small_dict):
    img = _scene()
    calls: list[float] = []
    res = RegionSparse(small_dict, RegionSparseParams(k=2, stride=2)).purify(
        img, progress=lambda f, _m: calls.append(f)
    )
    assert res.purified.shape == (96, 96, 3) and res.purified.dtype == np.float32
    assert res.purified.min() >= 0 and res.purified.max() <= 1
    assert res.mask.shape == (96, 96) and res.mask.dtype == bool
    assert res.weight.shape == (96, 96) and res.weight.dtype == np.float32
    assert res.weight.min() >= 0 and res.weight.max() <= 1
    for im in (res.sparse_coded, res.background):
        assert im.shape == (96, 96, 3) and im.dtype == np.float32
        assert im.min() >= 0 and im.max() <= 1
    assert res.info["coverage"] == pytest.approx(res.mask.mean())
    assert 0.1 < res.info["coverage"] < 0.8
    assert res.info["fallback_whole_image"] is False
    assert res.info["patches"] > 0
    assert res.info["seconds"] >= 0
    assert calls[-1] == 1.0 and calls == sorted(calls)
    np.testing.assert_allclose(res.background, bilateral(img, 9, 75, 75), atol=1e-6)


def test_blend_formula_holds_everywhere(small_dict):
    img = _scene(seed=4)
    for theta in (1.0, 0.7, 0.5, 0.0):
        res = RegionSparse(small_dict, RegionSparseParams(k=2, stride=2, theta=theta)).purify(img)
        w = res.weight[..., None]
        expected = np.clip(w * res.sparse_coded + (1 - w) * res.background, 0, 1)
        np.testing.assert_allclose(res.purified, expected, atol=1e-6)


def test_theta_one_codes_the_object_and_filters_the_background(small_dict):
    img = _scene(seed=5)
    res = RegionSparse(small_dict, RegionSparseParams(k=2, stride=2, theta=1.0, feather=1.0)).purify(img)
    core = cv2.erode(res.mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    outside = ~cv2.dilate(res.mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert core.sum() > 100 and outside.sum() > 100
    np.testing.assert_allclose(res.weight[core], 1.0, atol=1e-6)
    np.testing.assert_allclose(res.weight[outside], 0.0, atol=1e-6)
    np.testing.assert_allclose(res.purified[core], res.sparse_coded[core], atol=1e-6)
    np.testing.assert_allclose(res.purified[outside], res.background[outside], atol=1e-6)
    np.testing.assert_allclose(res.background[outside], bilateral(img)[outside], atol=1e-6)


def test_theta_half_is_the_average(small_dict):
    img = _scene(seed=6)
    res = RegionSparse(small_dict, RegionSparseParams(k=2, stride=2, theta=0.5)).purify(img)
    np.testing.assert_allclose(res.weight, 0.5, atol=1e-7)
    np.testing.assert_allclose(res.purified, (res.sparse_coded + res.background) / 2, atol=1e-6)
    assert res.info["patches"] == ((96 - 4) // 2 + 1) ** 2  # θ = 0.5 codes everywhere


def test_theta_zero_swaps_the_roles(small_dict):
    img = _scene(seed=7)
    res = RegionSparse(small_dict, RegionSparseParams(k=2, stride=2, theta=0.0, feather=1.0)).purify(img)
    core = cv2.erode(res.mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    np.testing.assert_allclose(res.purified[core], res.background[core], atol=1e-6)


def test_no_background_filter_leaves_the_background(small_dict):
    img = _scene(seed=8)
    res = RegionSparse(small_dict, RegionSparseParams(k=2, stride=2, background_filter=False)).purify(img)
    np.testing.assert_array_equal(res.background, img)
    outside = res.weight == 0.0
    assert outside.sum() > 100
    np.testing.assert_array_equal(res.purified[outside], img[outside])


def test_whole_image_ablation(small_dict):
    img = _scene(seed=9)
    res = RegionSparse(small_dict, RegionSparseParams(k=2, stride=2, localize=False)).purify(img)
    assert res.mask.all() and res.info["coverage"] == 1.0
    assert res.info["fallback_whole_image"] is False
    np.testing.assert_array_equal(res.weight, np.ones((96, 96), np.float32))
    np.testing.assert_allclose(res.purified, res.sparse_coded, atol=1e-7)
    ref, _ = sparse_code(img, torch.from_numpy(small_dict.atoms), 4, 2, stride=2)
    np.testing.assert_allclose(res.sparse_coded, ref, atol=1e-6)


def test_flat_image_uses_the_whole_image(small_dict):
    img = np.full((40, 40, 3), 0.3, np.float32)
    res = RegionSparse(small_dict, RegionSparseParams(k=2)).purify(img)
    assert res.info["fallback_whole_image"] is True and res.mask.all()
    np.testing.assert_allclose(res.purified, img, atol=1e-5)  # nothing to remove from a flat image


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_strides_on_odd_sizes(small_dict, stride):
    img = _test_image(37, 53, seed=10)
    res = RegionSparse(small_dict, RegionSparseParams(k=4, stride=stride, localize=False)).purify(img)
    assert res.purified.shape == (37, 53, 3)
    assert np.isfinite(res.purified).all()
    ref = reference_sparse_code(img, small_dict.atoms, 4, 4, stride)
    np.testing.assert_allclose(res.purified, ref, atol=2e-4)
    assert np.abs(res.purified - img).mean() > 1e-3


def test_with_params_shares_the_dictionary(small_dict):
    rs = RegionSparse(small_dict, RegionSparseParams(k=2, stride=2))
    rs3 = rs.with_params(k=3, theta=0.5)
    assert rs3.params.k == 3 and rs3.params.theta == 0.5 and rs3.params.stride == 2
    assert rs.params.k == 2  # the original is unchanged
    assert rs3._gram is rs._gram
    with pytest.raises(ValueError, match="K must be between 1 and the number of atoms"):
        rs.with_params(k=65)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k": 0}, r"K must be between 1 and the number of atoms \(64\), got 0"),
        ({"k": 65}, r"got 65"),
        ({"theta": 1.5}, "θ must be within 0…1, got 1.5"),
        ({"theta": -0.1}, "θ must be within 0…1"),
        ({"stride": 0}, "stride must be 1…16, got 0"),
        ({"stride": 17}, "stride must be 1…16"),
        ({"bilateral_d": 0}, "bilateral diameter must be 1…31"),
        ({"sigma_color": 0.0}, "bilateral sigmas must be positive"),
        ({"feather": -1.0}, "feather must be ≥ 0"),
    ],
)
def test_invalid_parameters(small_dict, changes, message):
    with pytest.raises(ValueError, match=message):
        RegionSparse(small_dict, RegionSparseParams(**changes))


def test_image_smaller_than_the_patch():
    d = random_dictionary(16, 8, seed=0)
    with pytest.raises(ValueError, match="image is smaller than the dictionary's 8×8 patches"):
        RegionSparse(d).purify(np.zeros((6, 30, 3), np.float32))
    assert RegionSparse(d).purify(np.zeros((8, 8, 3), np.float32)).purified.shape == (8, 8, 3)


def test_cancel(small_dict):
    rs = RegionSparse(small_dict, RegionSparseParams(k=2))
    img = _scene()
    with pytest.raises(Cancelled):
        rs.purify(img, cancel=lambda: True)
    seen: list[float] = []

    def progress(f: float, _m: str) -> None:
        seen.append(f)

    # cancel once sparse coding has started
    with pytest.raises(Cancelled):
        rs.purify(img, progress=progress, cancel=lambda: bool(seen) and seen[-1] >= 0.15)
    assert 1.0 not in seen


# ----- the bundled dictionary on real images ------------------------------------------------------


@pytest.mark.slow
def test_bundled_dictionary_removes_most_of_random_noise(sample_image):
    from rsdesk.core.io.assets import default_dictionary_path
    from rsdesk.core.sparse.dictionary_file import load_dictionary

    rs = RegionSparse(load_dictionary(default_dictionary_path()), RegionSparseParams(localize=False))
    rng = np.random.default_rng(0)
    noisy = np.clip(sample_image + 8 / 255 * np.sign(rng.standard_normal(sample_image.shape)), 0, 1)
    clean_p = rs.purify(sample_image).purified
    noisy_p = rs.purify(noisy.astype(np.float32)).purified
    ratio = np.linalg.norm(noisy_p - clean_p) / np.linalg.norm(noisy - sample_image)
    assert ratio < 0.6, ratio
    # and it stays an image of the same scene
    assert np.abs(clean_p - sample_image).mean() < 0.05


@pytest.mark.slow
def test_purification_shrinks_an_adversarial_perturbation(classifier, sample_image):
    from rsdesk.core.attacks import BIM
    from rsdesk.core.defenses import RegionSparseDefense

    adv = BIM(eps=8, steps=10).run(classifier, classifier.to_tensor(sample_image))[0].adversarial
    defense = RegionSparseDefense()
    clean_p, adv_p = defense(sample_image), defense(adv)
    assert np.linalg.norm(adv_p - clean_p) < 0.95 * np.linalg.norm(adv - sample_image)
    p_adv, p_pur = classifier.classify_many([adv, adv_p])
    assert p_adv.index != 967
    assert p_pur.probs[967] > 2 * p_adv.probs[967]  # purification moves it back toward espresso
