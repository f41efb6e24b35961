"""Parameter editors generated from the core's specs."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QSpinBox

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.defenses import DEFENSES
from rsdesk.gui.widgets.param_widgets import ParamEditor, ParamForm


@pytest.mark.parametrize("name", list(ATTACKS) + list(DEFENSES))
def test_param_forms_follow_the_core_specs(qtbot, name):
    specs = (ATTACKS.get(name) or DEFENSES[name]).PARAMS
    form = ParamForm(specs)
    qtbot.addWidget(form)
    assert set(form.editors) == {p.name for p in specs}
    for spec in specs:
        ed = form.editors[spec.name]
        if spec.is_bool:
            continue
        if spec.choices:  # a word from a list (BPDA's surrogate): a combo box offering exactly those
            assert [ed.box.itemText(i) for i in range(ed.box.count())] == list(spec.choices)
            ed.set_value(spec.choices[-1])
            assert ed.value() == spec.choices[-1]
            with qtbot.waitSignal(ed.value_changed) as blocker:
                ed.box.setCurrentIndex(0)
            assert blocker.args == [spec.name, spec.choices[0]]
            continue
        if not spec.optional:
            assert ed.box.maximum() == pytest.approx(min(spec.maximum, 2**31 - 1))
            assert (
                spec.minimum <= ed.box.minimum() <= spec.minimum + 10.0 ** -getattr(ed.box, "decimals", int)()
            )
        ed.set_value(spec.default)
        assert ed.value() == (spec.default if spec.default is None else pytest.approx(spec.default))


def test_optional_param_has_auto_and_edits_emit(qtbot):
    spec = {p.name: p for p in ATTACKS["bim"].PARAMS}["alpha"]
    ed = ParamEditor(spec)
    qtbot.addWidget(ed)
    ed.set_value(None)
    assert ed.value() is None and ed.box.text() == "auto"
    with qtbot.waitSignal(ed.value_changed) as blocker:
        ed.box.setValue(1.5)
    assert blocker.args == ["alpha", 1.5]
    steps = ParamEditor({p.name: p for p in ATTACKS["bim"].PARAMS}["steps"])
    assert isinstance(steps.box, QSpinBox)
    eps = ParamEditor({p.name: p for p in ATTACKS["bim"].PARAMS}["eps"], slider=True)
    qtbot.addWidget(eps)
    with qtbot.waitSignal(eps.value_changed) as blocker:
        eps.slider.setValue(8)  # half-steps: 4/255
    assert blocker.args == ["eps", 4.0]
