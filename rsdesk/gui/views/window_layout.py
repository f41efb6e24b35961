"""The window's layout between runs: :meth:`WindowLayout.restore` when the app starts (never in a
``--screenshot`` run: screenshots stay the same whatever the last session left), :meth:`WindowLayout.save`
when the window closes — only after a restore, so a screenshot run or a test never overwrites the user's.

What is kept and the file's rules are in :mod:`rsdesk.gui.models.window_state`; this side reads and sets
the widgets, on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QObject, QRect, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow, QSplitter, QTabWidget

from rsdesk.gui.models.window_state import (
    WindowState,
    fit_to_screens,
    load_window_state,
    save_window_state,
)

DOCKS_VERSION = 1


def screen_rects() -> list[tuple[int, int, int, int]]:
    """The usable area of every screen attached now (x, y, width, height)."""
    rects = [s.availableGeometry() for s in QGuiApplication.screens()]
    return [(r.x(), r.y(), r.width(), r.height()) for r in rects]


class WindowLayout(QObject):
    """Reads and applies a :class:`WindowState` for ``window``; problems go to ``log(kind, text)``."""

    def __init__(
        self,
        window: QMainWindow,
        splitter: QSplitter,
        tabs: QTabWidget,
        log: Callable[[str, str], None],
    ) -> None:
        super().__init__(window)
        self.window, self.splitter, self.tabs, self.log = window, splitter, tabs, log
        self.enabled = False
        self._pending: WindowState | None = None
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.timeout.connect(self._apply_inner)

    def capture(self) -> WindowState:
        """The layout as it is now (the normal geometry, even while maximized or full screen)."""
        g = self.window.normalGeometry()
        if g.isEmpty():
            g = self.window.geometry()
        return WindowState(
            geometry=(g.x(), g.y(), g.width(), g.height()),
            maximized=self.window.isMaximized(),
            splitter=tuple(self.splitter.sizes()),
            tab=self.tabs.tabText(self.tabs.currentIndex()),
            docks=bytes(self.window.saveState(DOCKS_VERSION).data()),
        )

    def save(self) -> None:
        """Write the layout, if this run restored one; a failed write is one log line, never an error."""
        if not self.enabled:
            return
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)  # sizes after the last change
        try:
            save_window_state(self.capture())
        except OSError as exc:
            self.log("warning", f"the window layout could not be saved ({exc})")

    def restore(self) -> None:
        """Apply the saved layout: the geometry now (before the window shows), the rest once shown."""
        self.enabled = True
        state, problem = load_window_state()
        if problem:
            self.log("warning", problem)
        if state is None:
            return
        self.apply(state)

    def apply(self, state: WindowState) -> None:
        """Set ``state`` on the window; a geometry off every current screen is left to the system."""
        if state.geometry is not None:
            rect = fit_to_screens(state.geometry, screen_rects())
            if rect is not None:
                self.window.setGeometry(QRect(*rect))
        if state.maximized:
            self.window.setWindowState(self.window.windowState() | Qt.WindowState.WindowMaximized)
        self._pending = state
        if self.window.isVisible():
            self._apply_inner()
        else:  # the window sizes its splitter when first shown: ours must come after that
            self.window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Show:
            self.window.removeEventFilter(self)
            self._later.start(0)
        return False

    def _apply_inner(self) -> None:
        state, self._pending = self._pending, None
        if state is None:
            return
        if state.docks and not self.window.restoreState(QByteArray(state.docks), DOCKS_VERSION):
            self.log("warning", "the saved dock layout does not fit this window; it is ignored")
        if len(state.splitter) == self.splitter.count() and sum(state.splitter) > 0:
            self.splitter.setSizes(list(state.splitter))
        titles = [self.tabs.tabText(i) for i in range(self.tabs.count())]
        if state.tab in titles:
            self.tabs.setCurrentIndex(titles.index(state.tab))
