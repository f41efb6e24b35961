"""The settings model: JSON round trip, tolerant loading, validation messages, user directories."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from rsdesk.core.defenses import create_defense
from rsdesk.core.sparse.dictionary_file import random_dictionary, save_dictionary
from rsdesk.core.sparse.training import TRAINING_PARAMS, TrainingConfig
from rsdesk.gui.models.settings import (
    SCHEMA_VERSION,
    Settings,
    config_dir,
    data_dir,
    load_settings,
    save_settings,
)


def test_defaults_are_valid():
    assert Settings().validate() == []


def test_round_trip_through_the_default_path(tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    s = Settings(
        k=8,
        theta=0.5,
        stride=2,
        attack="cw",
        eps=4.0,
        cw_kappa=2.5,
        n_atoms=128,
        classifier="torchvision/resnet18",
        weights=str(weights),
        device="auto",
        defense="jpeg",
    )
    path = save_settings(s)
    assert path == config_dir() / "settings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema_version"] == SCHEMA_VERSION
    loaded, warnings = load_settings()
    assert warnings == []
    assert loaded == s
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temp file behind


def test_missing_file_gives_defaults_without_warning(tmp_path):
    assert load_settings(tmp_path / "nope.json") == (Settings(), [])


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", "\xff\xfe garbage", ""])
def test_corrupt_or_foreign_file_gives_defaults_and_a_warning(tmp_path, content):
    path = tmp_path / "settings.json"
    path.write_text(content, encoding="latin-1")
    settings, warnings = load_settings(path)
    assert settings == Settings()
    assert len(warnings) == 1
    assert "settings.json" in warnings[0]


def test_bad_values_fall_back_per_field_with_a_warning_each(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "k": 500,  # out of range
                "theta": "high",  # wrong type
                "stride": 2,  # fine, must survive
                "eps": True,  # a bool is not a number
                "attack": "teleport",  # unknown name
                "classifier": "nonsense",  # unknown classifier
                "device": "tpu",
                "n_atoms": 1,
                "dictionary_path": str(tmp_path / "missing.npz"),
                "unknown_key": 42,  # ignored silently
            }
        ),
        encoding="utf-8",
    )
    settings, warnings = load_settings(path)
    d = Settings()
    assert settings.stride == 2
    for name in ("k", "theta", "eps", "attack", "classifier", "device", "n_atoms", "dictionary_path"):
        assert getattr(settings, name) == getattr(d, name), name
    assert len(warnings) == 8
    joined = "\n".join(warnings)
    for label in ("K (sparsity)", "θ", "ε", "Attack", "Classifier", "Device", "Atoms", "Dictionary file"):
        assert label in joined
    assert "unknown_key" not in joined
    assert settings.validate() == []


def test_newer_schema_warns_but_keeps_known_values(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "k": 6}), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings.k == 6
    assert len(warnings) == 1 and "newer" in warnings[0]


def test_cross_field_problem_resets_the_field_it_depends_on(tmp_path):
    # inception-v3 without weights cannot load: the classifier falls back, not the (empty) weights field
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"classifier": "inception-v3"}), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings.classifier == "efficientnet-lite0"
    assert len(warnings) == 1 and "weights" in warnings[0].lower()


def test_validate_names_the_field(tmp_path):
    s = Settings(k=0, theta=1.5, patch_size=1, device="gpu", weights=str(tmp_path / "x.pth"))
    problems = s.validate()
    assert any(p.startswith("K (sparsity)") and "1…64" in p for p in problems)
    assert any(p.startswith("θ (region weight)") for p in problems)
    assert any(p.startswith("Patch size") for p in problems)
    assert any(p.startswith("Device") for p in problems)
    assert any(p.startswith("Weights file") and "not found" in p for p in problems)


def test_k_must_fit_the_chosen_dictionary(tmp_path):
    path = save_dictionary(tmp_path / "d.npz", random_dictionary(n_atoms=8, patch_size=4))
    assert Settings(dictionary_path=str(path), k=8).validate() == []
    problems = Settings(dictionary_path=str(path), k=9).validate()
    assert len(problems) == 1 and "8 atoms" in problems[0]
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    assert "not a RegionSparse dictionary" in Settings(dictionary_path=str(broken)).validate()[0]


def test_cuda_only_when_available():
    import torch

    problems = Settings(device="cuda").validate()
    assert (problems == []) == torch.cuda.is_available()


def test_defense_params_build_the_defense(tmp_path):
    s = Settings(k=6, theta=0.5, stride=8, bilateral_d=5, sigma_color=30.0, sigma_space=20.0)
    params = s.defense_params()
    assert params == {
        "k": 6,
        "theta": 0.5,
        "stride": 8,
        "bilateral_d": 5,
        "sigma_color": 30.0,
        "sigma_space": 20.0,
    }
    d = create_defense(s.defense, **params)
    assert d.values["k"] == 6 and d.values["stride"] == 8
    other = Settings(defense="jpeg")
    assert other.defense_params() == {}
    assert create_defense(other.defense, **other.defense_params()).values["quality"] == 75


def test_training_config_and_dictionary_file():
    s = Settings(h=3.0, patch_size=6, n_atoms=64, patches_per_image=100)
    cfg = s.training_config()
    assert isinstance(cfg, TrainingConfig)
    assert (cfg.h, cfg.patch_size, cfg.n_atoms, cfg.patches_per_image) == (3.0, 6, 64, 100)
    cfg.validate()
    assert Settings().dictionary_file().name == "default_dictionary.npz"
    assert Settings(dictionary_path="/x/y.npz").dictionary_file() == Path("/x/y.npz")


def test_environment_variables_choose_the_directories(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDESK_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("RSDESK_DATA_DIR", str(tmp_path / "data"))
    assert config_dir() == tmp_path / "cfg"
    assert data_dir() == tmp_path / "data"
    assert save_settings(Settings()) == tmp_path / "cfg" / "settings.json"
    monkeypatch.delenv("RSDESK_CONFIG_DIR")
    monkeypatch.delenv("RSDESK_DATA_DIR")
    assert config_dir().name.lower() == "rsdesk"
    assert data_dir().name.lower() == "rsdesk"


def test_integral_floats_in_json_load_as_ints(tmp_path):
    path = tmp_path / "settings.json"
    payload = asdict(Settings())
    payload.update(k=5.0, stride=2.5)
    path.write_text(json.dumps(payload), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings.k == 5 and isinstance(settings.k, int)
    assert settings.stride == 4 and len(warnings) == 1 and "Patch stride" in warnings[0]
    assert np.isclose(settings.theta, 1.0)


def test_training_fields_are_checked_against_the_core_training_specs():
    spec = {p.name: p for p in TRAINING_PARAMS}["patch_size"]
    too_big = int(spec.maximum) + 1
    assert Settings(patch_size=too_big).validate() == [f"Patch size: must be within 2…32, got {too_big}"]
    with pytest.raises(ValueError, match=f"patch size must be 2…32, got {too_big}"):
        Settings(patch_size=too_big).training_config().validate()
    assert Settings(h=float("nan")).validate() == ["NLM strength h: not a number"]
