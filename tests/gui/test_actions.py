"""The keyboard map: Train From Folder… is off while a training runs, and one-letter shortcuts (D) work
while a spin box (K, θ) has the focus — typing digits there still works."""

from __future__ import annotations

from gui_helpers import settle_trainer, training_images
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QMainWindow, QSpinBox, QVBoxLayout, QWidget

from rsdesk.core.sparse.training import TrainingConfig
from rsdesk.gui.actions import Actions

LONG = TrainingConfig(h=0.0, patch_size=4, n_atoms=64, patches_per_image=2000)


def _main_window(qtbot, trainer=None) -> tuple[QMainWindow, Actions, QSpinBox, QLineEdit]:
    w = QMainWindow()
    qtbot.addWidget(w)
    acts = Actions(w, trainer)
    central = QWidget()
    lay = QVBoxLayout(central)
    box, text = QSpinBox(), QLineEdit()
    box.setRange(1, 256)
    box.setValue(4)
    lay.addWidget(box)
    lay.addWidget(text)
    w.setCentralWidget(central)
    w.show()
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    return w, acts, box, text


def test_d_toggles_the_defense_while_a_spin_box_has_the_focus(qtbot):
    _w, acts, box, text = _main_window(qtbot)
    acts.toggle_defense.setChecked(True)
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    qtbot.keyClick(box, Qt.Key.Key_D)
    assert not acts.toggle_defense.isChecked()
    qtbot.keyClick(box, Qt.Key.Key_D)
    assert acts.toggle_defense.isChecked()
    # digits still go into the box
    box.selectAll()
    qtbot.keyClicks(box, "12")
    assert box.value() == 12 and acts.toggle_defense.isChecked()
    # a text field keeps its letters: "d" is typed, not a shortcut
    text.setFocus()
    qtbot.waitUntil(text.hasFocus, timeout=2000)
    qtbot.keyClick(text, Qt.Key.Key_D)
    assert text.text() == "d" and acts.toggle_defense.isChecked()


def test_train_is_off_while_a_training_runs(qtbot, trainer, tmp_path):
    _w, acts, _box, _text = _main_window(qtbot, trainer)
    assert acts.train.isEnabled()
    tip = acts.train.toolTip()
    folder = training_images(tmp_path / "imgs", 8, size=64)
    with qtbot.waitSignal(trainer.started, timeout=5000):
        trainer.start(folder, LONG)
    assert not acts.train.isEnabled() and "running" in acts.train.toolTip()
    triggered: list[bool] = []
    acts.train.triggered.connect(lambda *_: triggered.append(True))
    acts.train.trigger()  # Ctrl+T (or the h warning's Retrain…) does nothing now
    assert triggered == []
    trainer.start(folder, LONG)  # a refused second start reports failed: the action stays off
    qtbot.wait(50)
    assert not acts.train.isEnabled()
    with qtbot.waitSignal(trainer.cancelled, timeout=60000):
        trainer.cancel()
    assert acts.train.isEnabled() and acts.train.toolTip() == tip
    settle_trainer(qtbot, trainer)


def test_d_on_the_real_k_box_turns_the_defense_off(window, qtbot):
    box = window.defense_controls.editor("k").box
    on = window.state.defense_enabled
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    qtbot.keyClick(box, Qt.Key.Key_D)
    assert window.state.defense_enabled is not on
