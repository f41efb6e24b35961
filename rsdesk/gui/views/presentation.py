"""Presentation mode (F11): full screen, larger fonts, only the panels and the controls a demo needs."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QMainWindow, QWidget

FONT_SCALE = 1.6


class Presentation(QObject):
    """Toggles a window into and out of presentation mode, restoring exactly what it changed."""

    def __init__(self, window: QMainWindow, hide: list[QWidget], parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.hide = hide
        self.active = False
        self._font: QFont | None = None
        self._visible: list[bool] = []
        self._maximized = False

    def toggle(self) -> None:
        self.leave() if self.active else self.enter()

    def enter(self) -> None:
        if self.active:
            return
        self.active = True
        self._font = QFont(self.window.font())
        self._maximized = self.window.isMaximized()
        self._visible = [w.isVisible() for w in self.hide]
        big = QFont(self._font)
        big.setPointSizeF(self._font.pointSizeF() * FONT_SCALE)
        self.window.setFont(big)
        for w in self.hide:
            w.hide()
        self.window.showFullScreen()

    def leave(self) -> None:
        if not self.active:
            return
        self.active = False
        if self._font is not None:
            self.window.setFont(self._font)
        for w, visible in zip(self.hide, self._visible):
            w.setVisible(visible)
        if self._maximized:
            self.window.showMaximized()
        else:
            self.window.showNormal()
