"""rsdesk.core.sparse.training: .npz files without pickle, validation messages, and seedable training."""

from __future__ import annotations

import errno
import gc
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from rsdesk.core.errors import DictionaryError
from rsdesk.core.io.assets import default_dictionary_path, sample_image_paths
from rsdesk.core.io.images import load_image
from rsdesk.core.progress import Cancelled
from rsdesk.core.sparse import dictionary_file
from rsdesk.core.sparse.dictionary_file import (
    FORMAT_VERSION,
    Dictionary,
    load_dictionary,
    random_dictionary,
    save_dictionary,
    validate_atoms,
)
from rsdesk.core.sparse.filters import smooth_nlm
from rsdesk.core.sparse.omp import omp, sparse_reconstruct
from rsdesk.core.sparse.patches import random_patches, zscore_columns
from rsdesk.core.sparse.training import TrainingConfig, train_dictionary

TINY = TrainingConfig(h=5.0, patch_size=4, patches_per_image=200, n_atoms=64, batch_size=64, resize_to=96)


@pytest.fixture(scope="module")
def training_images() -> list[np.ndarray]:
    """Four bundled photos as arrays (the last one is held out for the reconstruction check)."""
    return [load_image(p) for p in sample_image_paths()[:4]]


def _write_npz(path, **arrays) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _valid_fields(patch_size: int = 4, n_atoms: int = 6) -> dict[str, object]:
    rng = np.random.default_rng(0)
    return {
        "atoms": rng.standard_normal((n_atoms, 3 * patch_size * patch_size)).astype(np.float32),
        "patch_size": np.int64(patch_size),
        "h": np.float64(10.0),
        "format_version": np.int64(FORMAT_VERSION),
    }


# ----- files --------------------------------------------------------------------------------------


def test_bundled_dictionary_loads():
    d = load_dictionary(default_dictionary_path())
    assert d.n_atoms == 256
    assert d.patch_size == 8
    assert d.dim == 192 and d.atoms.shape == (256, 192)
    assert d.atoms.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d.atoms, axis=1), 1.0, atol=1e-5)
    assert d.normalized
    assert d.provenance
    assert d.describe() == f"256 atoms, 8×8 patches, h {d.h:g}"


def test_save_load_round_trip(tmp_path):
    atoms = random_dictionary(20, 4, seed=3).atoms
    d = Dictionary(atoms, 4, h=3.5, n_images=7, seed=11, normalized=False, provenance="test – ünïcode")
    path = save_dictionary(tmp_path / "d.npz", d)
    assert path == tmp_path / "d.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]  # no temp file left
    back = load_dictionary(path)
    # loading re-normalizes the atoms, which may move the last bit of a float32
    np.testing.assert_allclose(back.atoms, d.atoms, rtol=0, atol=1e-7)
    assert back.atoms.shape == d.atoms.shape
    assert (back.patch_size, back.h, back.n_images, back.seed, back.normalized, back.provenance) == (
        4,
        3.5,
        7,
        11,
        False,
        "test – ünïcode",
    )
    # Everything in the file is readable without pickle, and no entry is an object array.
    with np.load(path, allow_pickle=False) as z:
        expected = {"atoms", "patch_size", "h", "n_images", "seed", "format_version", "provenance"}
        assert set(z.files) >= expected
        assert all(z[k].dtype != object for k in z.files)
        assert int(z["format_version"]) == FORMAT_VERSION


def test_failed_save_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    save_dictionary(path, random_dictionary(8, 4, seed=1))
    before = path.read_bytes()

    def broken(fh, array, **_kwargs):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dictionary_file.npformat, "write_array", broken)
    with pytest.raises(OSError) as info:
        save_dictionary(path, random_dictionary(8, 4, seed=2))
    assert str(info.value) == f"cannot save {path}: the disk is full"
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]
    np.testing.assert_allclose(load_dictionary(path).atoms, random_dictionary(8, 4, seed=1).atoms, atol=1e-7)


def test_ctrl_c_during_a_save_leaves_nothing_and_no_unclosed_archive(tmp_path, monkeypatch):
    real, written, unraisable = dictionary_file.npformat.write_array, [], []

    def interrupted(fh, array, **kwargs):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(array)
        real(fh, array, **kwargs)

    monkeypatch.setattr(dictionary_file.npformat, "write_array", interrupted)
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(KeyboardInterrupt):
        save_dictionary(tmp_path / "d.npz", random_dictionary(8, 4))
    gc.collect()
    assert list(tmp_path.iterdir()) == [] and unraisable == []


def test_missing_file(tmp_path):
    with pytest.raises(DictionaryError, match="dictionary file not found"):
        load_dictionary(tmp_path / "nope.npz")


def test_not_an_npz(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(DictionaryError, match=r"text\.npz: not a RegionSparse dictionary \(\.npz\) file"):
        load_dictionary(path)


def test_truncated_npz(tmp_path):
    data = default_dictionary_path().read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DictionaryError, match=r"cut\.npz: not a RegionSparse dictionary"):
        load_dictionary(path)


def test_plain_npy_array_is_refused(tmp_path):
    path = tmp_path / "atoms.npy"
    np.save(path, np.ones((4, 48), np.float32))
    with pytest.raises(DictionaryError, match=r"atoms\.npy: expected an \.npz archive with an 'atoms' array"):
        load_dictionary(path)


def test_npz_without_atoms(tmp_path):
    fields = _valid_fields()
    del fields["atoms"]
    _write_npz(tmp_path / "noatoms.npz", **fields)
    with pytest.raises(DictionaryError, match=r"noatoms\.npz: not a RegionSparse dictionary \(missing atoms"):
        load_dictionary(tmp_path / "noatoms.npz")


def test_pickled_entries_are_not_loaded(tmp_path):
    fields = _valid_fields()
    fields["provenance"] = np.array([{"evil": True}], dtype=object)
    path = tmp_path / "pickled.npz"
    with open(path, "wb") as fh:
        np.savez(fh, **fields)  # np.savez pickles object arrays; loading must refuse them
    with pytest.raises(DictionaryError, match=r"pickled\.npz"):
        load_dictionary(path)


def test_wrong_atom_width(tmp_path):
    fields = _valid_fields(patch_size=4)
    fields["patch_size"] = np.int64(8)
    _write_npz(tmp_path / "w.npz", **fields)
    with pytest.raises(DictionaryError, match="atoms have 48 values each, but 8×8×3 patches need 192"):
        load_dictionary(tmp_path / "w.npz")


def test_nan_atoms(tmp_path):
    fields = _valid_fields()
    fields["atoms"][2, 5] = np.nan
    _write_npz(tmp_path / "nan.npz", **fields)
    with pytest.raises(DictionaryError, match="NaN or infinite"):
        load_dictionary(tmp_path / "nan.npz")


def test_zero_atoms(tmp_path):
    fields = _valid_fields()
    fields["atoms"][3] = 0.0
    _write_npz(tmp_path / "zero.npz", **fields)
    with pytest.raises(DictionaryError, match="some atoms are all zeros"):
        load_dictionary(tmp_path / "zero.npz")


def test_newer_format_version(tmp_path):
    fields = _valid_fields()
    fields["format_version"] = np.int64(FORMAT_VERSION + 1)
    _write_npz(tmp_path / "new.npz", **fields)
    with pytest.raises(DictionaryError, match=f"format version {FORMAT_VERSION + 1} is newer"):
        load_dictionary(tmp_path / "new.npz")


def test_malformed_metadata(tmp_path):
    fields = _valid_fields()
    fields["format_version"] = np.str_("one")
    _write_npz(tmp_path / "meta.npz", **fields)
    with pytest.raises(DictionaryError, match=r"meta\.npz: malformed metadata"):
        load_dictionary(tmp_path / "meta.npz")


def test_minimal_valid_file_loads_with_unit_atoms(tmp_path):
    fields = _valid_fields()
    _write_npz(tmp_path / "ok.npz", **fields)
    d = load_dictionary(tmp_path / "ok.npz")
    assert d.n_atoms == 6 and d.patch_size == 4
    np.testing.assert_allclose(np.linalg.norm(d.atoms, axis=1), 1.0, atol=1e-6)
    # atoms are normalized, not otherwise changed
    direction = fields["atoms"] / np.linalg.norm(fields["atoms"], axis=1, keepdims=True)
    np.testing.assert_allclose(d.atoms, direction, atol=1e-6)
    assert (d.n_images, d.seed, d.normalized, d.provenance) == (0, 0, True, "")


def test_validate_atoms_messages():
    with pytest.raises(DictionaryError, match="2-D matrix"):
        validate_atoms(np.ones(48, np.float32), 4)
    with pytest.raises(DictionaryError, match="floating point"):
        validate_atoms(np.ones((4, 48), np.int64), 4)
    with pytest.raises(DictionaryError, match="at least 2 atoms"):
        validate_atoms(np.ones((1, 48), np.float32), 4)
    with pytest.raises(DictionaryError, match="infinite"):
        validate_atoms(np.full((3, 48), np.inf, np.float32), 4)


# ----- helpers ------------------------------------------------------------------------------------


def test_random_dictionary():
    d = random_dictionary(32, 5, seed=4)
    assert d.atoms.shape == (32, 75) and d.atoms.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d.atoms, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(d.atoms, random_dictionary(32, 5, seed=4).atoms)
    assert not np.array_equal(d.atoms, random_dictionary(32, 5, seed=5).atoms)
    assert d.h == 0 and d.seed == 4 and "random" in d.provenance


def test_zscore_columns():
    rng = np.random.default_rng(0)
    p = rng.normal(loc=[3.0, -2.0, 0.5], scale=[2.0, 0.5, 10.0], size=(5000, 3))
    z = zscore_columns(p)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    s = p.std(axis=0)
    np.testing.assert_allclose(z.std(axis=0), s / (s + 1e-3), rtol=1e-5)  # ε = 1e-3 keeps flat columns finite
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=3e-3)
    # a constant column (flat patches) stays finite: zero
    flat = zscore_columns(np.ones((10, 2)))
    assert np.isfinite(flat).all() and not flat.any()


def test_smooth_nlm():
    rng = np.random.default_rng(1)
    clean = np.full((48, 48, 3), 0.5, np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32)
    assert np.array_equal(smooth_nlm(noisy, 0), noisy)
    smoothed = smooth_nlm(noisy, 15)
    assert smoothed.shape == noisy.shape and smoothed.dtype == np.float32
    assert np.abs(smoothed - clean).std() < 0.5 * np.abs(noisy - clean).std()


# ----- training -----------------------------------------------------------------------------------


def test_training_config_validation():
    for bad, msg in [
        ({"patch_size": 1}, "patch size must be 2…32"),
        ({"n_atoms": 1}, "atoms must be 2…4096"),
        ({"patches_per_image": 0}, "patches per image"),
        ({"h": -1}, "h must be within 0…100"),
        ({"epochs": 0}, "epochs and batch size"),
    ]:
        with pytest.raises(ValueError, match=msg):
            train_dictionary([np.zeros((16, 16, 3), np.float32)], TrainingConfig(**bad))
    with pytest.raises(ValueError, match="no training images"):
        train_dictionary([], TINY)


@pytest.mark.slow
def test_training_is_seedable_and_reports_progress(training_images):
    calls: list[float] = []
    a = train_dictionary(training_images[:3], TINY, progress=lambda f, _m: calls.append(f))
    b = train_dictionary(training_images[:3], TINY)
    c = train_dictionary(training_images[:3], TrainingConfig(**{**TINY.__dict__, "seed": 1}))
    assert a.atoms.shape == (64, 48) and a.atoms.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a.atoms, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a.atoms, b.atoms)
    assert not np.array_equal(a.atoms, c.atoms)
    assert (a.patch_size, a.h, a.n_images, a.seed, a.normalized) == (4, 5.0, 3, 0, True)
    assert "600 patches" in a.provenance
    assert calls and calls[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in calls)
    assert calls == sorted(calls), "progress must never go backwards"
    assert len(calls) >= 3


@pytest.mark.slow
def test_learned_atoms_beat_random_atoms_on_held_out_patches(training_images):
    learned = train_dictionary(training_images[:3], TINY)
    rand = random_dictionary(64, 4, seed=0)
    held_out = training_images[3]
    rng = np.random.default_rng(99)
    patches = zscore_columns(random_patches(smooth_nlm(held_out, 5.0), 4, 2000, rng))
    x = torch.from_numpy(patches)

    def rel_error(d: Dictionary) -> float:
        atoms = torch.from_numpy(d.atoms)
        recon = sparse_reconstruct(*omp(x, atoms, 2), atoms)
        return float((x - recon).norm() / x.norm())

    e_learned, e_random = rel_error(learned), rel_error(rand)
    assert e_learned < 0.85 * e_random, (e_learned, e_random)


@pytest.mark.slow
def test_training_can_be_cancelled(training_images):
    calls: list[float] = []

    def progress(f: float, _m: str) -> None:
        calls.append(f)

    with pytest.raises(Cancelled):
        train_dictionary(training_images[:3], TINY, progress=progress, cancel=lambda: len(calls) >= 1)
    assert calls and calls[-1] < 1.0


@pytest.mark.slow
def test_training_skips_unreadable_files(tmp_path, training_images):
    good = []
    for i, img in enumerate(training_images[:2]):
        p = tmp_path / f"good{i}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(p)
        good.append(p)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    tiny = tmp_path / "dot.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tiny)
    skipped: list[str] = []
    d = train_dictionary([good[0], text, good[1], tiny], TINY, on_skip=skipped.append)
    assert d.n_images == 2
    assert len(skipped) == 2
    assert any("notes.jpg" in s for s in skipped)
    assert any("dot.png" in s and "small" in s for s in skipped)
    assert "from 2 images" in d.provenance


def test_training_with_no_usable_image(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    with pytest.raises(ValueError, match=r"no usable training images \(bad\.png"):
        train_dictionary([bad], TINY, on_skip=lambda _m: None)


def test_training_ranges_and_defaults_live_in_the_training_specs():
    from rsdesk.core.sparse.training import TRAINING_PARAMS

    defaults = TrainingConfig()
    assert [p.name for p in TRAINING_PARAMS] == ["h", "patch_size", "n_atoms", "patches_per_image"]
    for spec in TRAINING_PARAMS:
        assert getattr(defaults, spec.name) == spec.default
        kind = int if spec.integer else float
        for edge in (spec.minimum, spec.maximum):
            TrainingConfig(**{spec.name: kind(edge)}, train_k=1).validate()  # the edges are usable
        with pytest.raises(ValueError, match=f"^{spec.symbol or spec.label} must be"):
            TrainingConfig(**{spec.name: kind(spec.maximum) + 1}).validate()
