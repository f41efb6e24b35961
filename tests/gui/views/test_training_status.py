"""The training strip in the status bar: shown while a training runs, cancels it, hides afterwards."""

from __future__ import annotations

from gui_helpers import settle_trainer, training_images
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from rsdesk.core.sparse.training import TrainingConfig
from rsdesk.gui.views.training_status import TrainingStatusWidget

# Long enough (tens of seconds uncancelled) that a cancel on the first progress report always lands.
LONG = TrainingConfig(h=0.0, patch_size=4, n_atoms=64, patches_per_image=2000)


def test_status_widget_shows_hides_and_cancels(qtbot, trainer, tmp_path):
    window = QMainWindow()
    qtbot.addWidget(window)
    widget = TrainingStatusWidget(trainer)
    window.statusBar().addPermanentWidget(widget)
    window.show()
    assert widget.isHidden()  # idle: the status bar shows nothing of it
    folder = training_images(tmp_path / "imgs", 8, size=64)
    seen: list[tuple[bool, int, str]] = []

    def on_progress(*_):
        if not seen:
            seen.append((widget.isVisible(), widget.bar.value(), widget.time_left.text()))
            qtbot.mouseClick(widget.cancel_button, Qt.MouseButton.LeftButton)

    trainer.progress.connect(on_progress)
    with qtbot.waitSignal(trainer.started, timeout=5000):
        trainer.start(folder, LONG)
    assert widget.isVisible() and widget.cancel_button.isEnabled()
    with qtbot.waitSignal(trainer.cancelled, timeout=60000):
        pass
    visible, value, left = seen[0]
    assert visible and value > 0 and "left" in left
    assert widget.isHidden()
    settle_trainer(qtbot, trainer)
