"""The torch online dictionary learner against scikit-learn's MiniBatchDictionaryLearning on the same
patches: at least as good on held-out patches (OMP K = 4 reconstruction), and well-behaved."""

from __future__ import annotations

import numpy as np
import pytest

from rsdesk.core.progress import Cancelled
from rsdesk.core.sparse.dictlearn import learn_atoms_torch, reconstruction_error
from rsdesk.core.sparse.training import TrainingConfig, learn_atoms_sklearn, patch_dataset


@pytest.fixture(scope="module")
def patches(sample_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from rsdesk.core.io.assets import sample_image_paths
    from rsdesk.core.io.images import load_image

    imgs = [load_image(p) for p in sample_image_paths()]
    cfg = TrainingConfig(h=10, patch_size=6, patches_per_image=1500, n_atoms=64, seed=0)
    train, _ = patch_dataset(imgs[:4], cfg)
    held, _ = patch_dataset(imgs[4:], TrainingConfig(**{**cfg.__dict__, "seed": 1}))
    return train, held


def test_torch_learner_is_at_least_as_good_as_sklearn_on_held_out_patches(patches):
    train, held = patches
    cfg = TrainingConfig(patch_size=6, n_atoms=64, seed=0, batch_size=256)
    ours = learn_atoms_torch(train, 64, k=4, batch_size=256, seed=0)
    ref = learn_atoms_sklearn(train, cfg)
    err_ours = reconstruction_error(ours, held, k=4)
    err_ref = reconstruction_error(ref, held, k=4)
    rng = np.random.default_rng(0)
    err_rand = reconstruction_error(rng.standard_normal(ours.shape), held, k=4)
    assert err_ours <= 1.05 * err_ref, (err_ours, err_ref)
    assert err_ours < 0.5 * err_rand
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_torch_learner_is_seeded_and_reports_progress(patches):
    train, _ = patches
    seen: list[float] = []
    a = learn_atoms_torch(train[:3000], 32, k=3, batch_size=128, seed=5, progress=lambda f, m: seen.append(f))
    b = learn_atoms_torch(train[:3000], 32, k=3, batch_size=128, seed=5)
    np.testing.assert_array_equal(a, b)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_torch_learner_cancels_and_checks_its_input(patches):
    train, _ = patches
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        learn_atoms_torch(train, 32, batch_size=64, cancel=cancel)
    with pytest.raises(ValueError, match="at least as many patches"):
        learn_atoms_torch(train[:10], 32)
