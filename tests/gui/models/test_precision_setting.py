"""The "Attack gradients" setting (fp32 / bf16): checked against the core's spec and the device, and carried
to the attack stage and to the Evaluate tab's plan."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rsdesk.core.attacks.base import Attack
from rsdesk.core.evaluation import parse_plan
from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.models import precision as prec
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.gui.models.configs import AttackConfig
from rsdesk.gui.models.evaluation_plan import PlanChoice, build_plan, run_context
from rsdesk.gui.models.settings import Settings, load_settings
from rsdesk.gui.models.settings_bridge import apply_settings, capture_settings
from rsdesk.gui.models.state import AppState, DictionaryInfo
from rsdesk.gui.tasks import stages

needs_bf16 = pytest.mark.skipif(not prec.bf16_supported("cpu"), reason="this CPU has no native bf16")


def _info() -> DictionaryInfo:
    return DictionaryInfo(load_dictionary(default_dictionary_path()))


def test_a_bad_or_unsupported_precision_falls_back_to_fp32_with_a_warning(tmp_path, monkeypatch):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 1, "precision": "fp16"}), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings.precision == "fp32"
    assert any(w.startswith("Attack gradients: 'fp16' is not one of fp32, bf16") for w in warnings)
    monkeypatch.setattr("rsdesk.gui.models.settings.bf16_unsupported_reason", lambda _d: "no bf16 here")
    problems = Settings(precision="bf16").field_problems()
    assert problems == [("precision", "Attack gradients: bf16 is not supported on cpu: no bf16 here")]
    assert Settings(precision="fp32").field_problems() == []


@needs_bf16
def test_the_setting_reaches_the_attack_config_and_redoes_the_attack(qtbot):
    state = AppState(_info())
    assert state.attack_config().precision == "fp32"
    with qtbot.waitSignal(state.attack_changed):
        assert apply_settings(state, Settings(precision="bf16")) == []
    config = state.attack_config()
    assert config.precision == "bf16" and "bf16 gradients" in config.describe()
    assert config.key() != AttackConfig(config.name, config.values).key()  # cached apart from fp32's
    assert capture_settings(state, Settings(precision="bf16")).precision == "bf16"
    with pytest.raises(ValueError, match="not one of fp32, bf16"):
        state.set_precision("fp16")


def test_the_attack_stage_runs_the_attack_in_the_configs_precision(monkeypatch, tiny_classifier, tmp_path):
    seen = []
    original = Attack.run

    def run(self, *args, **kwargs):
        seen.append(kwargs.get("precision"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Attack, "run", run)
    img = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    orig = stages.run_original(tiny_classifier, tmp_path / "noise.png", img, None)
    precision = "bf16" if prec.bf16_supported("cpu") else "fp32"
    config = AttackConfig("fgsm", (("eps", 8.0),), precision=precision)
    result = stages.run_attack(tiny_classifier, orig, config, None)
    assert seen == [precision]
    assert result.prediction.index == tiny_classifier.classify(result.image).index  # judged in fp32


def test_the_evaluate_tabs_plan_carries_the_setting():
    ctx = run_context([], Settings(precision="bf16"), _info())
    assert ctx.precision == "bf16"
    assert parse_plan(build_plan(PlanChoice(), ctx.precision)).precision == "bf16"
    assert parse_plan(build_plan(PlanChoice(preset="demo"), "bf16")).precision == "bf16"
    assert parse_plan(build_plan(PlanChoice())).precision == "fp32"
