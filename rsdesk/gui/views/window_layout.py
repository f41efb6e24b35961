"""The window's layout between runs: :meth:`WindowLayout.restore` when the app starts (never in a
``--screenshot`` run: screenshots stay the same whatever the last session left), :meth:`WindowLayout.save`
when the window closes — only after a restore, so a screenshot run or a test never overwrites the user's.

What is kept and the file's rules are in :mod:`rsdesk.gui.models.window_state`; this side reads and sets
the widgets, on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QObject, QRect, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import QMainWindow, QSplitter, QTabWidget, QWidget

from rsdesk.gui.models.window_state import (
    WindowState,
    first_geometry,
    fit_to_screens,
    load_window_state,
    save_window_state,
)

DOCKS_VERSION = 1
#: How much of the height the upper side of the splitter keeps when a lower tab asks for room.
UPPER_SHARE_MIN = 0.3


def available_rect(screen: QScreen) -> tuple[int, int, int, int]:
    """A screen's usable area (x, y, width, height): its size less the panels and docks."""
    r = screen.availableGeometry()
    return r.x(), r.y(), r.width(), r.height()


def screen_rects() -> list[tuple[int, int, int, int]]:
    """The usable area of every screen attached now (x, y, width, height)."""
    return [available_rect(s) for s in QGuiApplication.screens()]


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
        if state is None or state.geometry is None:
            self.first_start()
        if state is not None:
            self.apply(state)

    def first_start(self) -> None:
        """No saved geometry: the window's size as built, fitted to the screen it opens on (a 1680×1050
        window on a 1366×768 projector would put the Purified column and the status bar off screen)."""
        screen = self.window.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        a = available_rect(screen)
        size = self.window.size()
        rect, maximize = first_geometry((size.width(), size.height()), a)
        self.window.setGeometry(QRect(*rect))
        if maximize:
            self.window.setWindowState(self.window.windowState() | Qt.WindowState.WindowMaximized)

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
        titles = [self.tabs.tabText(i) for i in range(self.tabs.count())]
        if state.tab in titles:  # before the sizes: a raised tab may ask for room, the saved sizes win
            self.tabs.setCurrentIndex(titles.index(state.tab))
        if len(state.splitter) == self.splitter.count() and sum(state.splitter) > 0:
            self.splitter.setSizes(list(state.splitter))


class TabRoom(QObject):
    """Room for the lower tabs that need height to be read (the Activations plots, the Evaluate tab's
    curves and table): raising one moves the splitter up to the tab's readable height (its
    ``readable_height()``, else its size hint), as far as the panels allow — they fold to images +
    verdict (views/panel_layout) and keep at least :data:`UPPER_SHARE_MIN` of the height. Leaving it for
    a tab that needs nothing (the Log) gives the height back, unless the user moved the splitter in
    between. Nothing is ever squeezed: a tab shorter than it wants scrolls or folds its own parts.

    Build it before anything else that listens to the tabs (the Evaluate tab's own room-making then
    finds the room made and leaves it)."""

    def __init__(self, splitter: QSplitter, tabs: QTabWidget) -> None:
        super().__init__(splitter)
        self.splitter, self.tabs = splitter, tabs
        self.wanting: tuple[QWidget, ...] = ()
        self._lent: tuple[list[int], list[int]] | None = None  # (sizes before, sizes set)
        tabs.currentChanged.connect(self._changed)
        tabs.tabBarClicked.connect(self._changed)  # clicked again: room again

    def rooms(self, *tabs: QWidget) -> None:
        """The tabs that get their readable height when raised."""
        self.wanting = tabs

    def wanted(self, tab: QWidget | None) -> int:
        if tab not in self.wanting:
            return 0
        readable = getattr(tab, "readable_height", None)
        return readable() if callable(readable) else tab.sizeHint().height()

    def _changed(self, index: int) -> None:
        want = self.wanted(self.tabs.widget(index))
        sizes = self.splitter.sizes()
        if len(sizes) != 2 or sum(sizes) <= 0 or not self.splitter.isVisible():
            return
        if want <= 0:
            if self._lent is not None and sizes == self._lent[1]:
                self.splitter.setSizes(self._lent[0])
            self._lent = None
            return
        total = sum(sizes)
        upper_min = max(self.splitter.widget(0).minimumSizeHint().height(), int(UPPER_SHARE_MIN * total))
        page = self.tabs.currentWidget()
        frame = self.tabs.height() - page.height() if page is not None and page.height() > 0 else 0
        chrome = max(frame, self.tabs.tabBar().sizeHint().height() + 8)  # the tab bar and the frame
        lower = min(want + chrome, total - upper_min)
        if lower <= sizes[1]:
            return
        before = sizes if self._lent is None else self._lent[0]
        self.splitter.setSizes([total - lower, lower])
        self._lent = (before, self.splitter.sizes())
