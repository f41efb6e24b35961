"""The Settings dialog: edits reach the returned settings, Cancel changes nothing, invalid input blocks OK."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit

from rsdesk.core.sparse.dictionary_file import random_dictionary, save_dictionary
from rsdesk.core.sparse.training import TRAINING_PARAMS
from rsdesk.gui.dialogs.settings_dialog import SettingsDialog
from rsdesk.gui.models.configs import param_spec
from rsdesk.gui.models.settings import Settings, field_label, field_spec

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def dialog(qtbot):
    def make(settings: Settings) -> SettingsDialog:
        dlg = SettingsDialog(settings)
        qtbot.addWidget(dlg)
        dlg.show()
        return dlg

    return make


def _w(dlg: SettingsDialog, name: str):
    return dlg._bindings[name].widget


def _button(dlg: SettingsDialog, which: QDialogButtonBox.StandardButton):
    return dlg.buttons.button(which)


def test_shows_the_given_values(dialog):
    s = Settings(k=7, theta=0.25, attack="cw", eps=4.0, cw_c=0.5, device="auto", defense="tvm")
    dlg = dialog(s)
    assert _w(dlg, "k").value() == 7
    assert _w(dlg, "theta").value() == pytest.approx(0.25)
    assert _w(dlg, "attack").currentData() == "cw"
    assert _w(dlg, "cw_c").text() == "0.5"
    assert _w(dlg, "device").currentData() == "auto"
    assert _w(dlg, "defense").currentData() == "tvm"
    assert dlg.pages.count() == dlg.stack.count() == 4
    assert not dlg.message.isVisible()
    assert "256 atoms" in dlg.dictionary_info.text()


def test_edits_and_ok_return_new_settings(dialog, qtbot, tmp_path):
    original = Settings()
    dlg = dialog(original)
    path = save_dictionary(tmp_path / "d.npz", random_dictionary(n_atoms=32, patch_size=4))
    _w(dlg, "k").setValue(12)
    _w(dlg, "theta").setValue(0.5)
    _w(dlg, "dictionary_path").setText(str(path))
    _w(dlg, "n_atoms").setValue(64)
    _w(dlg, "attack").setCurrentIndex(_w(dlg, "attack").findData("mifgsm"))
    _w(dlg, "cw_c").setText("1e-3")
    _w(dlg, "classifier").setCurrentIndex(_w(dlg, "classifier").findData("torchvision/resnet18"))
    _w(dlg, "weights").setText(str(path))  # any existing file passes the settings check
    assert "32 atoms" in dlg.dictionary_info.text()
    with qtbot.waitSignal(dlg.accepted, timeout=1000):
        qtbot.mouseClick(_button(dlg, QDialogButtonBox.StandardButton.Ok), LEFT)
    assert dlg.result() == QDialog.DialogCode.Accepted
    new = dlg.settings()
    assert (new.k, new.theta, new.n_atoms, new.attack) == (12, 0.5, 64, "mifgsm")
    assert new.cw_c == pytest.approx(1e-3) and isinstance(new.cw_c, float)
    assert new.dictionary_path == str(path)
    assert new.classifier == "torchvision/resnet18"
    assert new.validate() == []
    assert original == Settings()  # the passed-in object is never edited


def test_cancel_leaves_the_original_untouched(dialog, qtbot):
    original = Settings(k=5)
    before = replace(original)
    dlg = dialog(original)
    _w(dlg, "k").setValue(9)
    _w(dlg, "eps").setValue(16.0)
    with qtbot.waitSignal(dlg.rejected, timeout=1000):
        qtbot.mouseClick(_button(dlg, QDialogButtonBox.StandardButton.Cancel), LEFT)
    assert dlg.result() == QDialog.DialogCode.Rejected
    assert original == before
    assert dlg.original() == before


def test_restore_defaults(dialog, qtbot):
    dlg = dialog(Settings(k=9, theta=0.3, eps=2.0, cw_steps=7, device="auto", patch_size=6))
    qtbot.mouseClick(_button(dlg, QDialogButtonBox.StandardButton.RestoreDefaults), LEFT)
    assert dlg.isVisible()  # restoring does not close the dialog
    assert dlg.settings() == Settings()
    assert _w(dlg, "k").value() == 4 and _w(dlg, "cw_c").text() == "0.1"


def test_invalid_value_blocks_ok_and_names_the_field(dialog, qtbot, tmp_path):
    dlg = dialog(Settings())
    _w(dlg, "cw_c").setText("lots")
    assert dlg.message.isVisible()
    assert "CW c" in dlg.message.text() and "not a number" in dlg.message.text()
    assert dlg.pages.item(2).text().endswith("⚠")  # the page holding the bad field is marked
    qtbot.mouseClick(_button(dlg, QDialogButtonBox.StandardButton.Ok), LEFT)
    assert dlg.isVisible() and dlg.result() != QDialog.DialogCode.Accepted
    assert dlg.stack.currentIndex() == 2  # OK jumps to the page with the problem

    _w(dlg, "cw_c").setText("0.2")
    missing = tmp_path / "gone.npz"
    _w(dlg, "dictionary_path").setText(str(missing))
    assert "Dictionary file: file not found" in dlg.message.text()
    assert "CW c" not in dlg.message.text()
    qtbot.mouseClick(_button(dlg, QDialogButtonBox.StandardButton.Ok), LEFT)
    assert dlg.isVisible() and dlg.stack.currentIndex() == 0

    _w(dlg, "dictionary_path").clear()
    assert not dlg.message.isVisible()
    with qtbot.waitSignal(dlg.accepted, timeout=1000):
        qtbot.mouseClick(_button(dlg, QDialogButtonBox.StandardButton.Ok), LEFT)
    assert dlg.settings().cw_c == pytest.approx(0.2)


def test_k_above_the_dictionary_atoms_is_refused(dialog, tmp_path):
    path = save_dictionary(tmp_path / "small.npz", random_dictionary(n_atoms=8, patch_size=4))
    dlg = dialog(Settings(dictionary_path=str(path), k=8))
    assert not dlg.message.isVisible()
    _w(dlg, "k").setValue(10)
    assert "K (sparsity)" in dlg.message.text() and "8 atoms" in dlg.message.text()
    dlg.accept()
    assert dlg.result() != QDialog.DialogCode.Accepted


def test_classifier_needing_weights_is_explained(dialog):
    dlg = dialog(Settings())
    combo = _w(dlg, "classifier")
    combo.setCurrentIndex(combo.findData("inception-v3"))
    assert "Weights file" in dlg.message.text() and "needs a weights file" in dlg.message.text()
    assert dlg.pages.item(3).text().endswith("⚠")


def test_every_editor_holds_the_range_and_label_of_its_core_spec(dialog):
    dlg = dialog(Settings())
    checked = set()
    for name, binding in dlg._bindings.items():
        spec = field_spec(name)
        if spec is None or isinstance(binding.widget, QLineEdit):
            continue
        if spec.choices:  # a word from a list: the editor offers exactly the spec's words
            widget = binding.widget
            assert [widget.itemText(i) for i in range(widget.count())] == list(spec.choices), name
            checked.add(name)
            continue
        assert (binding.widget.minimum(), binding.widget.maximum()) == (spec.minimum, spec.maximum), name
        checked.add(name)
    assert checked >= {"k", "theta", "h", "patch_size", "n_atoms", "patches_per_image", "eps", "steps"}
    assert "precision" in checked and field_label("precision") == "Attack gradients"
    assert field_spec("k") is param_spec("defense", "regionsparse", "k")
    assert field_spec("cw_kappa") is param_spec("attack", "cw", "kappa")
    assert field_spec("eps") is param_spec("attack", "bim", "eps")
    training = ("h", "patch_size", "n_atoms", "patches_per_image")
    assert {field_spec(n) for n in training} == set(TRAINING_PARAMS)
    assert field_label("stride") == "Patch stride" and field_label("cw_steps") == "CW steps"
    assert "BIM" in _w(dlg, "eps").parent().toolTip()  # a shared default says which attacks it reaches
    assert "CW-L2" not in _w(dlg, "eps").parent().toolTip()
