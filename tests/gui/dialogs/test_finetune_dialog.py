"""The fine-tune dialog: its form reads the window's settings, the plot gains one point per epoch, a second
start is refused while one runs, "Use as classifier" goes through the settings, and it fits 1366×768."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from finetune_helpers import TINY_NAME, FakeFinetune, photo_folder, register_tiny
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from rsdesk.core.defenses import DEFENSES
from rsdesk.gui.dialogs.finetune_dialog import FinetuneDialog, show_finetune
from rsdesk.gui.models.settings import Settings
from rsdesk.gui.tasks import finetuning
from rsdesk.gui.tasks.finetuning import FineTuner

LEFT = Qt.MouseButton.LeftButton


class StubSession:
    """The three things the dialog asks of the window's session."""

    def __init__(self, settings: Settings) -> None:
        self.finetuner = FineTuner()
        self.settings = settings
        self.used: list[tuple[str, Path]] = []

    def current_settings(self) -> Settings:
        return self.settings

    def use_classifier_weights(self, classifier: str, weights: Path) -> None:
        self.used.append((classifier, weights))
        self.settings = replace(self.settings, classifier=classifier, weights=str(weights))


@pytest.fixture
def session():
    s = StubSession(Settings())
    yield s
    s.finetuner.cancel()
    assert s.finetuner.wait(30000)


@pytest.fixture
def dialog(qtbot, session):
    parent = QWidget()
    qtbot.addWidget(parent)
    dlg = show_finetune(parent, session)
    assert show_finetune(parent, session) is dlg  # one dialog per window
    yield dlg  # (the parent stays referenced until the test ends)
    parent.close()


def _run(qtbot, dlg: FinetuneDialog, tmp_path, epochs: int = 3) -> None:
    dlg.add_folder(photo_folder(tmp_path / "photos", 2))
    dlg.epochs.setValue(epochs)
    dlg.out.setText(str(tmp_path / "out" / "m.pth"))
    with qtbot.waitSignal(dlg.finetuner.finished, timeout=30000):
        qtbot.mouseClick(dlg.start_button, LEFT)


def test_the_form_starts_from_the_window(dialog, tmp_path):
    titles = [dialog.transform.itemText(i) for i in range(dialog.transform.count())]
    assert titles == ["none (the clean images)", *(c.title for c in DEFENSES.values() if not c.identity)]
    assert dialog.transform.currentData() == Settings().defense  # the window's defense
    assert "EfficientNet-Lite0" in dialog.start_from.text() and "packaged" in dialog.start_from.text()
    assert "K 4" in dialog.transform_info.text()
    assert "add a folder" in dialog.problem.text() and not dialog.start_button.isEnabled()
    dialog.add_folder(tmp_path)
    assert dialog.start_button.isEnabled() and not dialog.problem.isVisible()
    config = dialog.config()
    assert config.transform_params == Settings().defense_params() and config.transform_file is None
    assert config.adversarial is None and config.train == "bn" and config.lr is None
    assert str(dialog.output(config)).endswith(".pth") and dialog.out.placeholderText() == str(
        dialog.output(config)
    )
    dialog.fgsm.setChecked(True)
    dialog.eps.setValue(4)
    dialog.lr.setText("1e-4")
    config = dialog.config()
    assert (config.adversarial, config.eps, config.lr) == ("fgsm", 4.0, 1e-4)
    dialog.lr.setText("fast")
    assert "not a number" in dialog.problem.text() and not dialog.start_button.isEnabled()


def test_the_window_dictionary_goes_with_regionsparse(qtbot, tmp_path):
    s = StubSession(Settings(dictionary_path=str(tmp_path / "d.npz"), k=6))
    dlg = FinetuneDialog(s.finetuner, s.current_settings)
    qtbot.addWidget(dlg)
    config = dlg.config()
    assert config.transform_file == str(tmp_path / "d.npz") and config.transform_params["k"] == 6


def test_the_plot_gets_one_point_per_epoch(qtbot, dialog, tmp_path, monkeypatch):
    monkeypatch.setattr(finetuning, "finetune", FakeFinetune())
    shown: list[int] = []
    dialog.finetuner.epoch.connect(lambda _r: shown.append(dialog.plot.epochs_shown()))
    _run(qtbot, dialog, tmp_path, epochs=3)
    assert shown == [1, 2, 3] and dialog.plot.epochs_shown() == 3
    x, _y = dialog.plot.clean.getData()
    assert list(x) == [0, 1, 2, 3]  # the starting model at epoch 0
    assert "before → after" in dialog.summary.text() and "clean 100% → 94%" in dialog.summary.text()
    assert dialog.use_button.isEnabled() and dialog.bar.value() == 1000


def test_use_as_classifier_sets_the_weights(qtbot, dialog, session, tmp_path, monkeypatch):
    monkeypatch.setattr(finetuning, "finetune", FakeFinetune())
    _run(qtbot, dialog, tmp_path, epochs=1)
    qtbot.mouseClick(dialog.use_button, LEFT)
    out = tmp_path / "out" / "m.pth"
    assert session.used == [("efficientnet-lite0", out)] and session.settings.weights == str(out)
    assert out.name in dialog.start_from.text() and str(out) in dialog.start_from.toolTip()
    assert not dialog.use_button.isEnabled()


def test_already_done_says_so_and_offers_the_model(qtbot, dialog, tmp_path, monkeypatch):
    monkeypatch.setattr(finetuning, "finetune", FakeFinetune(already_done=True))
    _run(qtbot, dialog, tmp_path, epochs=2)
    assert dialog.summary.text().startswith("Already done: m.pth was made with these settings")
    assert dialog.use_button.isEnabled() and dialog.plot.epochs_shown() == 2


def test_a_second_start_while_running_is_refused(qtbot, dialog, tmp_path, monkeypatch):
    gate = threading.Event()
    monkeypatch.setattr(finetuning, "finetune", FakeFinetune(gate=gate))
    dialog.add_folder(photo_folder(tmp_path / "photos", 2))
    assert dialog.start()
    assert not dialog.start_button.isEnabled() and not dialog.form.isEnabled()
    assert dialog.cancel_button.isEnabled()
    assert not dialog.start()  # the button is off, and a programmatic second start is refused too
    with qtbot.waitSignal(dialog.finetuner.cancelled, timeout=30000):
        qtbot.mouseClick(dialog.cancel_button, LEFT)
    assert dialog.summary.text().startswith("Cancelled — stopped before the first epoch finished")
    assert dialog.start_button.isEnabled() and dialog.form.isEnabled() and not dialog.use_button.isEnabled()


def test_cancel_then_resume_continues_the_plot(qtbot, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    s = StubSession(Settings(classifier=TINY_NAME, defense="jpeg"))
    dlg = FinetuneDialog(s.finetuner, s.current_settings)
    qtbot.addWidget(dlg)
    real, calls = finetuning.finetune, []

    def cancel_after_epoch_one_the_first_time(files, config, out, *, cancel, on_epoch, **kw):
        calls.append(1)

        def on(r):
            on_epoch(r)
            if len(calls) == 1:
                cancel.cancel()  # on the worker: lands before epoch 2's first batch

        return real(files, config, out, cancel=cancel, on_epoch=on, **kw)

    monkeypatch.setattr(finetuning, "finetune", cancel_after_epoch_one_the_first_time)
    dlg.add_folder(photo_folder(tmp_path / "photos"))
    dlg.batch.setValue(4)
    with qtbot.waitSignal(s.finetuner.cancelled, timeout=60000):
        assert dlg.start()
    assert "resume from epoch 2" in dlg.summary.text() and dlg.start_button.text() == "Resume"
    assert dlg.plot.epochs_shown() == 1
    dlg.epochs.setValue(4)  # another run: it would start over
    assert dlg.start_button.text() == "Start"
    dlg.epochs.setValue(3)
    assert dlg.start_button.text() == "Resume"
    shown: list[int] = []
    s.finetuner.epoch.connect(lambda _r: shown.append(dlg.plot.epochs_shown()))
    with qtbot.waitSignal(s.finetuner.finished, timeout=60000) as blocker:
        qtbot.mouseClick(dlg.start_button, LEFT)
    assert blocker.args[0].resumed_from == 1 and shown == [2, 3]  # epoch 1 stayed on the plot
    assert dlg.summary.text().startswith("Resumed after epoch 1.") and "through JPEG" in dlg.summary.text()
    x, _y = dlg.plot.through.getData()
    assert list(x) == [0, 1, 2, 3]
    assert s.finetuner.wait(30000)


def test_failure_is_shown_in_the_dialog(qtbot, dialog, tmp_path):
    dialog.add_folder(tmp_path / "gone")
    with qtbot.waitSignal(dialog.finetuner.failed, timeout=5000):
        qtbot.mouseClick(dialog.start_button, LEFT)
    assert dialog.summary.text() == f"Failed: folder not found: {tmp_path / 'gone'}"


def test_fits_a_1366x768_screen(dialog):
    hint = dialog.minimumSizeHint()
    assert hint.width() <= 1300 and hint.height() <= 680, hint
    assert dialog.width() <= 1366 and dialog.height() <= 700
    assert dialog.form.height() >= dialog.form.minimumSizeHint().height()  # nothing squeezed


def test_from_the_menu_to_the_window_classifier(qtbot, make_window, classifier, tmp_path, monkeypatch):
    from rsdesk.gui.dialogs.settings_dialog import SettingsDialog

    w = make_window(Settings(attack="fgsm"))
    menus = {a.text(): a.menu() for a in w.menuBar().actions() if a.menu() is not None}
    assert w.acts.finetune in menus["&Classifier"].actions()
    monkeypatch.setattr(
        finetuning, "finetune", FakeFinetune(write=lambda p: torch.save(classifier.net.state_dict(), p))
    )
    w.acts.finetune.trigger()
    dlg = w.findChild(FinetuneDialog)
    assert dlg is not None and dlg.isVisible() and dlg.finetuner is w.session.finetuner
    qtbot.waitUntil(lambda: w.state.classifier is not None, timeout=30000)
    _run(qtbot, dlg, tmp_path, epochs=1)
    qtbot.mouseClick(dlg.use_button, LEFT)
    out = str(tmp_path / "out" / "m.pth")
    assert w.session.settings.weights == out
    qtbot.waitUntil(lambda: w.state.classifier is not None, timeout=60000)  # reloaded from the new weights
    settings_dialog = SettingsDialog(w.session.current_settings())
    qtbot.addWidget(settings_dialog)
    assert settings_dialog._bindings["weights"].widget.text() == out
