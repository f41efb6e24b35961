"""The target-class picker: typing names, numbers or synsets selects; junk keeps the last valid target."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from rsdesk.gui.widgets.class_picker import ClassPicker


@pytest.fixture
def picker(qtbot):
    w = ClassPicker()
    qtbot.addWidget(w)
    w.show()
    return w


def _type(qtbot, picker: ClassPicker, text: str) -> None:
    line = picker.combo.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def test_starts_untargeted_with_all_classes(picker):
    assert picker.target() is None
    assert picker.combo.count() == 1001
    assert picker.combo.itemText(0) == "untargeted"
    assert picker.combo.itemText(282) == "281 tabby"


@pytest.mark.parametrize("text", ["tabby", "Tabby", "281", "281 tabby", "n02123045", "281 tabby n02123045"])
def test_typing_selects_the_class_and_emits(qtbot, picker, text):
    with qtbot.waitSignal(picker.target_changed, timeout=1000) as blocker:
        _type(qtbot, picker, text)
    assert blocker.args == [281]
    assert picker.target() == 281
    assert picker.combo.currentText() == "281 tabby"  # shown in its canonical form
    assert not picker.hint.isVisible()


def test_untargeted_emits_none(qtbot, picker):
    picker.set_target(1)
    with qtbot.waitSignal(picker.target_changed, timeout=1000) as blocker:
        _type(qtbot, picker, "untargeted")
    assert blocker.args == [None]
    assert picker.target() is None


@pytest.mark.parametrize(
    ("junk", "why"),
    [("xyzzy", "not an ImageNet class"), ("cat", "matches 8 classes"), ("1000", "0 to 999")],
)
def test_junk_keeps_the_last_valid_target(qtbot, picker, junk, why):
    picker.set_target(1)
    emitted: list[object] = []
    picker.target_changed.connect(emitted.append)
    _type(qtbot, picker, junk)
    assert picker.target() == 1 and emitted == []
    assert picker.hint.isVisible()
    assert "keeping 1 goldfish" in picker.hint.text()
    assert why in picker.hint_text()
    _type(qtbot, picker, "goldfish")  # a valid entry clears the hint
    assert not picker.hint.isVisible() and picker.target() == 1


def test_hint_while_typing_text_that_cannot_match(qtbot, picker):
    qtbot.keyClicks(picker.combo.lineEdit(), "qqqq")
    assert picker.hint.isVisible() and picker.target() is None
    picker.combo.lineEdit().clear()
    qtbot.keyClicks(picker.combo.lineEdit(), "cat")  # several candidates: still searching, no warning
    assert not picker.hint.isVisible()


def test_completer_finds_by_name_and_synset(qtbot, picker):
    completer = picker.combo.lineEdit().completer()
    completer.setCompletionPrefix("n02123045")
    assert completer.completionCount() == 1
    assert completer.currentCompletion().startswith("281 tabby")
    completer.setCompletionPrefix("TIGER")
    found = [completer.completionModel().index(i, 0).data() for i in range(completer.completionCount())]
    assert any(f.startswith("292 tiger ") for f in found)
    assert any(f.startswith("282 tiger cat") for f in found)
    with qtbot.waitSignal(picker.target_changed, timeout=1000) as blocker:
        completer.activated.emit("282 tiger cat n02123159")
    assert blocker.args == [282]
    qtbot.waitUntil(lambda: picker.combo.currentText() == "282 tiger cat", timeout=1000)


def test_choosing_from_the_list(qtbot, picker):
    with qtbot.waitSignal(picker.target_changed, timeout=1000) as blocker:
        picker.combo.activated.emit(3)  # what a click on row 3 of the drop-down sends
    assert blocker.args == [2] and picker.target() == 2
    with qtbot.waitSignal(picker.target_changed, timeout=1000) as blocker:
        picker.combo.activated.emit(0)
    assert blocker.args == [None]


def test_set_target(qtbot, picker):
    with qtbot.waitSignal(picker.target_changed, timeout=1000) as blocker:
        picker.set_target(999)
    assert blocker.args == [999] and picker.combo.currentText().startswith("999 ")
    with qtbot.assertNotEmitted(picker.target_changed):
        picker.set_target(999)  # no change, no signal
    with pytest.raises(ValueError, match="0…999"):
        picker.set_target(1000)
    assert picker.target() == 999
