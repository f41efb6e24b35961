"""The bundled noIS and noPN ablation dictionaries (the paper's Fig. 4) and bundled dictionaries by name."""

from __future__ import annotations

import numpy as np
import pytest

from rsdesk.core.io.assets import ABLATION_DICTIONARIES, bundled_dictionary_path, default_dictionary_path
from rsdesk.core.sparse.dictionary_file import load_dictionary


@pytest.fixture(scope="module")
def default():
    return load_dictionary(default_dictionary_path())


@pytest.mark.parametrize("name", ["noIS", "noPN"])
def test_ablation_dictionary_is_shaped_like_the_default(name, default):
    d = load_dictionary(bundled_dictionary_path(name))
    assert d.atoms.shape == default.atoms.shape
    assert (d.n_atoms, d.patch_size) == (default.n_atoms, default.patch_size)
    assert (d.n_images, d.seed) == (default.n_images, default.seed)
    assert not np.allclose(d.atoms, default.atoms)
    assert name in d.provenance


def test_no_is_was_trained_without_smoothing(default):
    d = load_dictionary(bundled_dictionary_path("noIS"))
    assert d.h == 0.0
    assert d.normalized
    assert default.h > 0


def test_no_pn_was_trained_without_patch_normalization(default):
    d = load_dictionary(bundled_dictionary_path("noPN"))
    assert not d.normalized
    assert d.h == default.h
    assert default.normalized


def test_bundled_dictionary_path_resolves_names():
    assert bundled_dictionary_path("default") == default_dictionary_path()
    assert bundled_dictionary_path("Bundled") == default_dictionary_path()
    assert bundled_dictionary_path("NOIS").name == "noIS.npz"
    assert bundled_dictionary_path("nopn").name == "noPN.npz"
    assert set(ABLATION_DICTIONARIES) == {"noIS", "noPN"}
    for name in ABLATION_DICTIONARIES:
        assert bundled_dictionary_path(name).is_file()


def test_bundled_dictionary_path_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"unknown bundled dictionary 'noTR'.*default, bundled, noIS, noPN"):
        bundled_dictionary_path("noTR")
