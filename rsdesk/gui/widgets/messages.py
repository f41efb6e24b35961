"""Non-blocking messages: a bar above the panels (one message, details on demand) and the Log tab that
keeps every message with its details. Nothing here ever opens a modal dialog."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

STYLES = {
    "info": ("ℹ", "#e3f2fd", "#0d47a1"),
    "warning": ("⚠", "#fff8e1", "#8a5a00"),
    "error": ("✖", "#ffebee", "#b71c1c"),
}
INFO_TIMEOUT_MS = 10000


class MessageBar(QFrame):
    """Shows the latest message; errors stay until closed, information fades after a while."""

    shown = Signal(str, str, str)  # kind, text, details

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(lambda on: self.details.setVisible(on))
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Close this message")
        close.clicked.connect(self.dismiss)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(160)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.hide()
        row = QHBoxLayout()
        row.addWidget(self.icon)
        row.addWidget(self.text, 1)
        row.addWidget(self.details_button)
        row.addWidget(close)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addLayout(row)
        lay.addWidget(self.details)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.kind = ""
        self.hide()

    def show_message(self, kind: str, text: str, details: str = "") -> None:
        icon, bg, fg = STYLES.get(kind, STYLES["info"])
        self.kind = kind
        self.setStyleSheet(
            f"#messageBar {{ background: {bg}; border: 1px solid {fg}; border-radius: 4px; }}"
            f" #messageBar QLabel {{ color: {fg}; }}"
        )
        self.icon.setText(icon)
        self.text.setText(text)
        self.details.setPlainText(details)
        self.details_button.setVisible(bool(details))
        self.details_button.setChecked(False)
        self.details.hide()
        self.show()
        if kind == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()
        self.shown.emit(kind, text, details)

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()


class LogView(QPlainTextEdit):
    """Every message of the session, newest last, with details indented below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

    def add(self, kind: str, text: str, details: str = "") -> None:
        stamp = time.strftime("%H:%M:%S")
        self.appendPlainText(f"{stamp} {kind.upper():7} {text}")
        if details:
            self.appendPlainText("\n".join("        " + line for line in details.rstrip().splitlines()))
