"""The status-bar strip of a dictionary training: "Training dictionary [▇▇░ 43%] 0:41 left ✕", hidden while
no training runs. A view of :class:`DictionaryTrainer`."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from rsdesk.gui.tasks.training import DictionaryTrainer, format_time_left


class TrainingStatusWidget(QWidget):
    """Status-bar strip: "Training dictionary [▇▇░ 43%] 0:41 left ✕", hidden while idle."""

    def __init__(self, trainer: DictionaryTrainer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trainer = trainer
        self.label = QLabel("Training dictionary")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFormat("%p%")
        self.bar.setTextVisible(True)
        self.bar.setFixedWidth(120)
        self.bar.setMaximumHeight(16)
        self.time_left = QLabel()
        self.cancel_button = QToolButton()
        self.cancel_button.setText("✕")
        self.cancel_button.setToolTip("Cancel dictionary training")
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.clicked.connect(self._on_cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.setSpacing(6)
        for w in (self.label, self.bar, self.time_left, self.cancel_button):
            lay.addWidget(w)
        trainer.started.connect(self._on_started)
        trainer.progress.connect(self._on_progress)
        for sig in (trainer.finished, trainer.failed, trainer.cancelled):
            sig.connect(self._on_ended)
        self.setVisible(trainer.is_running())

    def _on_started(self) -> None:
        self.bar.setValue(0)
        self.label.setText("Training dictionary")
        self.time_left.setText(format_time_left(None))
        self.cancel_button.setEnabled(True)
        self.setToolTip("")
        self.show()

    def _on_progress(self, fraction: float, message: str) -> None:
        if not self.isVisible():
            self._on_started()
        self.bar.setValue(round(fraction * 1000))
        if self.cancel_button.isEnabled():
            self.time_left.setText(format_time_left(self.trainer.time_left()))
        self.setToolTip(message)

    def _on_cancel(self) -> None:
        self.trainer.cancel()
        self.cancel_button.setEnabled(False)
        self.time_left.setText("cancelling…")

    def _on_ended(self, *_args: object) -> None:
        # A refused second start also reports ``failed``; the running training must stay visible.
        if not self.trainer.is_running():
            self.hide()
