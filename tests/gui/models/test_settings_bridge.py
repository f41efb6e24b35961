"""Settings ↔ state: which attacks a shared field reaches, and that a session ends as it will start."""

from __future__ import annotations

from dataclasses import replace

from rsdesk.core import attacks
from rsdesk.core.attacks import ATTACKS, BIM
from rsdesk.core.attacks.base import ABSOLUTE_L2, STEPS
from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.params import Param
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.gui.models.settings import Settings, shared_attack_targets
from rsdesk.gui.models.settings_bridge import apply_settings, capture_settings
from rsdesk.gui.models.state import AppState, DictionaryInfo


def _state(qtbot) -> AppState:
    return AppState(DictionaryInfo(load_dictionary(default_dictionary_path())))


def test_shared_fields_reach_every_attack_that_has_the_parameter(qtbot):
    state = _state(qtbot)
    s = Settings(eps=3.0, steps=7, cw_steps=11, cw_c=0.5, cw_kappa=2.0, k=2, theta=0.5, attack="mifgsm")
    assert apply_settings(state, s) == []
    with_eps = [n for n, c in ATTACKS.items() if any(p.name == "eps" for p in c.PARAMS)]
    assert with_eps == [
        "fgsm",
        "bim",
        "mifgsm",
        "apgd-ce",
        "apgd-dlr",
        "bpda",
        "bpda-apgd-ce",
        "bpda-apgd-dlr",
        "square",
    ]
    assert all(state.attack_values(n)["eps"] == 3.0 for n in with_eps)
    assert [state.attack_values(n)["steps"] for n in ("bim", "mifgsm", "bpda")] == [7, 7, 7]
    cw = state.attack_values("cw")
    assert (cw["steps"], cw["c"], cw["kappa"]) == (11, 0.5, 2.0)  # CW-L2 keeps its own steps
    assert state.attack == "mifgsm" and state.defense_values("regionsparse")["k"] == 2


def test_capture_writes_back_what_the_toolbars_changed(qtbot):
    state = _state(qtbot)
    apply_settings(state, Settings())
    state.set_attack("cw")
    state.set_attack_param("steps", 30)
    state.set_attack("bim")
    state.set_attack_param("eps", 5.0)
    state.set_defense_param("theta", 0.25)
    out = capture_settings(state, Settings())
    assert (out.attack, out.eps, out.steps, out.cw_steps, out.theta) == ("bim", 5.0, 10, 30, 0.25)
    assert isinstance(out.eps, float) and isinstance(out.steps, int)
    state.set_attack("fgsm")  # no steps: the shared steps field keeps its value
    assert capture_settings(state, replace(out, steps=9)).steps == 9
    again = _state(qtbot)
    apply_settings(again, out)
    assert capture_settings(again, out) == out  # the next start looks like this one ended


class Radius(BIM):
    """A throwaway L2 attack whose budget parameter is also called ``eps``: an absolute ‖δ‖₂ radius."""

    name, title = "radius", "Radius (a test L2 attack)"
    strength = ABSOLUTE_L2
    PARAMS = (Param("eps", "‖δ‖₂", 1.5, 0.0, 1000.0, positive=True), STEPS)


def test_the_linf_budget_reaches_only_the_linf_attacks(qtbot, monkeypatch):
    monkeypatch.setitem(attacks.ATTACKS, Radius.name, Radius)
    assert "radius" not in shared_attack_targets("eps")
    assert "radius" in shared_attack_targets("steps")  # not a budget: every attack with steps takes it
    state = _state(qtbot)
    assert apply_settings(state, Settings(eps=3.0, steps=7)) == []
    assert state.attack_values("radius")["eps"] == 1.5  # its own default, not 3/255 read as a radius
    assert state.attack_values("radius")["steps"] == 7
    assert state.attack_values("bim")["eps"] == 3.0
    state.set_attack("radius")
    state.set_attack_param("eps", 20.0)
    assert capture_settings(state, Settings(eps=3.0)).eps == 3.0  # an L2 radius never becomes the L∞ ε
