"""The run's manifest (plan.json's provenance) and the one rule reading a plan's dictionary names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsdesk.core.defenses import RANDOM_DICTIONARY
from rsdesk.core.defenses.regionsparse import (
    DICTIONARY_FILE,
    NAMED_DICTIONARIES,
    dictionary_source,
    is_dictionary_name,
)
from rsdesk.core.evaluation import parse_plan
from rsdesk.core.evaluation.manifest import dictionary_identity
from rsdesk.core.evaluation.worker import _build
from rsdesk.core.io.assets import bundled_dictionary_path, default_dictionary_path, file_sha256
from rsdesk.core.sparse.dictionary_file import load_dictionary


def test_the_names_a_plan_may_give_instead_of_a_file():
    assert DICTIONARY_FILE.names == NAMED_DICTIONARIES == ("bundled", "noIS", "noPN", RANDOM_DICTIONARY)
    assert all(is_dictionary_name(n) for n in NAMED_DICTIONARIES)
    assert not any(is_dictionary_name(v) for v in (None, "my.npz", "NOIS", "default"))


def test_a_name_or_file_or_none_maps_to_what_create_defense_takes(tmp_path):
    assert dictionary_source(None) is None and dictionary_source("bundled") is None  # the bundled default
    assert dictionary_source(RANDOM_DICTIONARY) == RANDOM_DICTIONARY
    assert dictionary_source("noIS") == bundled_dictionary_path("noIS")
    assert dictionary_source("noPN") == bundled_dictionary_path("noPN")
    assert dictionary_source(str(tmp_path / "mine.npz")) == tmp_path / "mine.npz"  # a file: never read here


def test_provenance_names_the_file_each_dictionary_resolves_to():
    default = dictionary_identity(None)
    assert default == dictionary_identity("bundled")
    path = default_dictionary_path()
    assert default == {"file": str(path), "sha256": file_sha256(path)}
    assert dictionary_identity("noIS")["file"] == str(bundled_dictionary_path("noIS"))
    assert dictionary_identity("noIS")["sha256"] != default["sha256"]
    assert dictionary_identity(RANDOM_DICTIONARY)["file"] is None


def _entry(dictionary):
    plan = {
        "attacks": {"fgsm": {}},
        "defenses": {"regionsparse": {} if dictionary is None else {"dictionary": dictionary}},
        "experiments": [{"name": "e", "attacks": {"fgsm": [4]}, "defenses": ["regionsparse"]}],
    }
    return parse_plan(plan).defenses["regionsparse"]


def test_titles_and_the_worker_read_names_the_same_way(tmp_path):
    mine = tmp_path / "mine.npz"
    mine.write_bytes(default_dictionary_path().read_bytes())
    titles = {v: _entry(v).title for v in (None, "bundled", "noIS", RANDOM_DICTIONARY, str(mine))}
    assert titles == {
        None: "RegionSparse",
        "bundled": "RegionSparse",
        "noIS": "RegionSparse [noIS]",
        RANDOM_DICTIONARY: f"RegionSparse [{RANDOM_DICTIONARY}]",
        str(mine): "RegionSparse [mine]",
    }
    for value, path in (("noIS", bundled_dictionary_path("noIS")), ("bundled", default_dictionary_path())):
        built = _build(_entry(value), "cpu").dictionary.atoms  # type: ignore[attr-defined]
        assert np.array_equal(built, load_dictionary(path).atoms)


@pytest.mark.parametrize("module", ["series", "manifest", "rundir"])
def test_importing_the_pure_modules_does_not_load_matplotlib(module):
    code = f"import sys, rsdesk.core.evaluation.{module}; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])
