"""A method added to the core's registry appears in the window with no GUI change: its traits drive the
toolbar (name, main parameters, what ⚙ holds) and the state runs it."""

from __future__ import annotations

from rsdesk.core import attacks
from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.gui.models.state import AppState, DictionaryInfo
from rsdesk.gui.views.attack_controls import AttackControls
from rsdesk.gui.views.defense_controls import DefenseControls


class Hammer(attacks.BIM):
    """A BIM under another name, as a newcomer would register a new attack."""

    name, title = "hammer", "Hammer (a test attack)"
    MAIN_PARAMS = ("eps",)


def test_a_registered_attack_is_offered_with_its_main_parameters(qtbot, monkeypatch):
    monkeypatch.setitem(attacks.ATTACKS, Hammer.name, Hammer)
    state = AppState(DictionaryInfo(load_dictionary(default_dictionary_path())))
    controls = AttackControls(state, [])
    qtbot.addWidget(controls)
    row = controls.combo.findData("hammer")
    assert row >= 0 and controls.combo.itemText(row) == "Hammer"
    controls.combo.setCurrentIndex(row)
    assert state.attack == "hammer"
    assert set(controls.inline.editors) == {"eps"}
    assert set(controls.more_form.editors) == {"steps", "alpha"}
    controls.editor("eps").set_value(3.0)
    controls.editor("eps").value_changed.emit("eps", 3.0)
    cfg = state.attack_config()
    assert isinstance(cfg.create(), Hammer) and cfg.params["eps"] == 3.0
    assert cfg.describe() == "Hammer ε 3/255, 10 steps"


def test_defense_controls_follow_the_dictionary_limits(qtbot):
    state = AppState(DictionaryInfo(load_dictionary(default_dictionary_path())))
    controls = DefenseControls(state, _toggle(qtbot))
    qtbot.addWidget(controls)
    assert controls.combo.itemText(0) == "RegionSparse" and controls.combo.findData("none") == -1
    assert controls.editor("k").box.maximum() == 64  # the spec's range: the bundled dictionary has 256 atoms
    from rsdesk.core.sparse.dictionary_file import random_dictionary

    state.set_dictionary(DictionaryInfo(random_dictionary(n_atoms=8)))
    assert controls.editor("k").box.maximum() == 8
    messages: list = []
    controls.message.connect(lambda *m: messages.append(m))
    controls.editor("k").value_changed.emit("k", 9)
    assert messages == [("warning", "K must not exceed the dictionary's 8 atoms", "")]


def _toggle(qtbot):
    from PySide6.QtGui import QAction

    return QAction("Defense On")
