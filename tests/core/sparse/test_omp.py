"""rsdesk.core.sparse.omp: Batch-OMP against scikit-learn's ``orthogonal_mp_gram`` (float64 reference)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import orthogonal_mp_gram

from rsdesk.core.sparse.omp import batch_omp, dense_codes, omp, sparse_reconstruct


def _unit_rows(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _sklearn_codes(atoms: np.ndarray, signals: np.ndarray, k: int) -> np.ndarray:
    """N×A codes from scikit-learn in float64 (it warns when OMP stops early; that is expected here)."""
    a = atoms.astype(np.float64)
    x = signals.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        coef = orthogonal_mp_gram(a @ a.T, (x @ a.T).T, n_nonzero_coefs=k)
    return coef.reshape(a.shape[0], -1).T


def _ours(atoms: np.ndarray, signals: np.ndarray, k: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(signals.astype(np.float32))
    idx, coef = omp(x, torch.from_numpy(atoms.astype(np.float32)), k)
    return dense_codes(idx, coef, atoms.shape[0]).numpy(), idx, coef


def _merge_duplicates(codes: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """Sum the coefficients of identical atoms onto the first copy.

    With exact duplicates, the choice between copies is a tie that scikit-learn breaks by its internal
    column swaps; both choices give the same representation, so codes are compared per distinct atom.
    """
    _, first, inverse = np.unique(atoms, axis=0, return_index=True, return_inverse=True)
    merged = np.zeros_like(codes)
    np.add.at(merged.T, first[inverse.ravel()], codes.T)
    return merged


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_matches_sklearn_on_random_dictionaries(k):
    rng = np.random.default_rng(k)
    atoms = _unit_rows(rng.standard_normal((96, 48)))
    signals = rng.standard_normal((300, 48))
    signals[:7] = 0.0  # exactly zero signals (flat patches after normalization)
    signals[7:20] *= 1e-3  # and small ones
    ours, idx, coef = _ours(atoms, signals, k)
    ref = _sklearn_codes(atoms, signals, k)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert idx.shape == coef.shape == (300, k)
    # zero signals get all-zero codes; the others use exactly k atoms, all distinct
    assert not ours[:7].any()
    assert (np.count_nonzero(ours[7:], axis=1) == k).all()
    assert all(len(set(row)) == k for row in idx[7:].tolist())
    np.testing.assert_array_equal(np.count_nonzero(ref, axis=1), np.count_nonzero(ours, axis=1))


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_matches_sklearn_with_duplicated_atoms(k):
    rng = np.random.default_rng(10 + k)
    base = _unit_rows(rng.standard_normal((40, 48)))
    atoms = np.concatenate([base, base[:10], base[[3]]])  # 11 atoms are exact copies
    signals = rng.standard_normal((200, 48))
    signals[:30] = base[:3].sum(0)  # exactly representable with 3 atoms: OMP must stop there
    signals[30:40] = base[5]  # a single (duplicated) atom
    signals[40:45] = 0.0
    ours, idx, coef = _ours(atoms, signals, k)
    ref = _sklearn_codes(atoms, signals, k)
    np.testing.assert_allclose(_merge_duplicates(ours, atoms), _merge_duplicates(ref, atoms), atol=1e-4)
    # the code of an exactly representable signal puts (almost) all weight on the right atoms
    recon = sparse_reconstruct(idx, coef, torch.from_numpy(atoms.astype(np.float32))).numpy()
    np.testing.assert_allclose(recon[: 30 if k >= 3 else 0], signals[: 30 if k >= 3 else 0], atol=1e-4)
    np.testing.assert_allclose(recon[30:40], signals[30:40], atol=1e-5)
    assert np.isfinite(coef.numpy()).all()
    assert np.abs(coef.numpy()).max() < 10  # no blow-up from a dependent atom
    assert not ours[40:45].any()


def test_matches_sklearn_when_atoms_span_a_low_dimensional_space():
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((6, 48))
    atoms = _unit_rows(rng.standard_normal((32, 6)) @ basis)  # rank 6: any 7 atoms are dependent
    signals = rng.standard_normal((100, 6)) @ basis
    ours, _, _ = _ours(atoms, signals, 8)
    ref = _sklearn_codes(atoms, signals, 8)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_batch_omp_equals_omp_and_chunking_does_not_matter():
    rng = np.random.default_rng(20)
    atoms = torch.from_numpy(_unit_rows(rng.standard_normal((64, 27))).astype(np.float32))
    signals = torch.from_numpy(rng.standard_normal((103, 27)).astype(np.float32))
    i1, c1 = omp(signals, atoms, 4)
    i2, c2 = batch_omp(signals @ atoms.T, atoms @ atoms.T, 4)
    i3, c3 = omp(signals, atoms, 4, chunk=10)
    assert torch.equal(i1, i2) and torch.equal(i1, i3)
    torch.testing.assert_close(c1, c2)
    torch.testing.assert_close(c1, c3, rtol=1e-5, atol=1e-6)


def test_float64_inputs():
    rng = np.random.default_rng(21)
    atoms = _unit_rows(rng.standard_normal((50, 30)))
    signals = rng.standard_normal((40, 30))
    idx, coef = omp(torch.from_numpy(signals), torch.from_numpy(atoms), 5)
    assert coef.dtype == torch.float64
    np.testing.assert_allclose(
        dense_codes(idx, coef, 50).numpy(), _sklearn_codes(atoms, signals, 5), atol=1e-10
    )


def test_sparse_reconstruct_and_dense_codes_agree():
    rng = np.random.default_rng(22)
    atoms = torch.from_numpy(_unit_rows(rng.standard_normal((64, 48))).astype(np.float32))
    signals = torch.from_numpy(rng.standard_normal((50, 48)).astype(np.float32))
    idx, coef = omp(signals, atoms, 6)
    dense = dense_codes(idx, coef, 64)
    assert dense.shape == (50, 64)
    recon = sparse_reconstruct(idx, coef, atoms)
    torch.testing.assert_close(recon, dense @ atoms, rtol=1e-5, atol=1e-5)
    # OMP's residual is orthogonal to the selected atoms, so the error never exceeds the signal
    resid = signals - recon
    sel_atoms = atoms[idx]  # N×k×m
    torch.testing.assert_close(
        torch.einsum("nkm,nm->nk", sel_atoms, resid), torch.zeros(50, 6), atol=1e-4, rtol=0
    )
    assert (resid.norm(dim=1) < signals.norm(dim=1)).all()


def test_more_atoms_never_reconstruct_worse():
    rng = np.random.default_rng(23)
    atoms = torch.from_numpy(_unit_rows(rng.standard_normal((64, 48))).astype(np.float32))
    signals = torch.from_numpy(rng.standard_normal((100, 48)).astype(np.float32))
    errors = []
    for k in (1, 2, 4, 8, 16):
        recon = sparse_reconstruct(*omp(signals, atoms, k), atoms)
        errors.append(float((signals - recon).norm()))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.8 * errors[0]


def test_complete_orthonormal_dictionary_reconstructs_exactly():
    rng = np.random.default_rng(24)
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    atoms = torch.from_numpy(q.T.astype(np.float32))
    signals = torch.from_numpy(rng.standard_normal((30, 12)).astype(np.float32))
    recon = sparse_reconstruct(*omp(signals, atoms, 12), atoms)
    torch.testing.assert_close(recon, signals, atol=1e-5, rtol=1e-5)
    # With orthonormal atoms, K = 1 picks the largest coefficient |<x, a>|.
    idx, coef = omp(signals, atoms, 1)
    corr = signals @ atoms.T
    assert torch.equal(idx[:, 0], corr.abs().argmax(1))
    torch.testing.assert_close(coef[:, 0], corr.gather(1, idx)[:, 0])


def test_k_out_of_range():
    atoms = torch.eye(8)
    x = torch.ones(3, 8)
    with pytest.raises(ValueError, match=r"K must be between 1 and the number of atoms \(8\), got 0"):
        omp(x, atoms, 0)
    with pytest.raises(ValueError, match=r"got 9"):
        omp(x, atoms, 9)
    idx, _ = omp(x, atoms, 8)
    assert idx.shape == (3, 8)


def test_no_signals():
    atoms = torch.eye(8)
    idx, coef = omp(torch.zeros(0, 8), atoms, 3)
    assert idx.shape == (0, 3) and coef.shape == (0, 3)
    assert idx.dtype == torch.long
