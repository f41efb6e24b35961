"""Python's cyclic garbage collector, run only on the GUI thread while a window is open.

The collector runs in whichever thread happens to allocate when a threshold is crossed. If that is a
worker, it may destroy Python-owned QObjects (a closed dialog, an old panel caught in a reference cycle)
there; their destructors then need a Qt lock the GUI thread holds while it waits for the GIL — a deadlock
(seen here with the pipeline's workers). So while the window lives, automatic collection is off and this
timer collects, generation by generation as Python would, on the GUI thread (pyqtgraph does the same).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 250
_active = 0  # windows using it; automatic collection comes back when the last one is gone
_was_enabled = True


class GuiThreadGC(QObject):
    """Disables automatic collection on creation; :meth:`stop` (on window close) undoes it."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        global _active, _was_enabled
        if _active == 0:
            _was_enabled = gc.isenabled()
        _active += 1
        gc.disable()
        self._running = True
        self._threshold = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect)
        self._timer.start()

    def collect(self) -> int:
        """Collect the generations whose counts passed their thresholds; returns the objects freed."""
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self._threshold
        freed = 0
        if c0 > t0:
            freed += gc.collect(0)
            if c1 > t1:
                freed += gc.collect(1)
                if c2 > t2:
                    freed += gc.collect(2)
        return freed

    def stop(self) -> None:
        """Hand collection back to Python (call once the window's worker threads have ended)."""
        global _active
        if not self._running:
            return
        self._running = False
        self._timer.stop()
        _active -= 1
        if _active == 0 and _was_enabled:
            gc.enable()
