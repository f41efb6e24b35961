"""Background jobs on Qt's global thread pool, reporting back to the GUI thread by queued signals.

A job is a plain function ``fn(ctx)`` that calls core functions with ``ctx.progress`` and ``ctx.cancel``
and returns a result; it never touches a widget. The :class:`Job` handle lives on the GUI thread: the
worker emits private signals that are queued to the handle's slots, which call the caller's callbacks on
the GUI thread. Cancellation is cooperative (core functions raise ``Cancelled``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

from rsdesk.core.progress import Cancelled, CancelToken
from rsdesk.gui.jobs import error_text

#: Worker threads run "nicer" than the GUI thread, so the scheduler wakes the event loop promptly.
WORKER_NICENESS = 5
_tls = threading.local()


def _lower_priority() -> None:
    if getattr(_tls, "niced", False):
        return
    _tls.niced = True
    with contextlib.suppress(AttributeError, OSError):  # Linux only; elsewhere threads keep their priority
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS)


@dataclass
class JobContext:
    """What a job function gets: throttled progress, the cancel flag, and a channel for partial results."""

    progress: Callable[[float, str], None]
    cancel: CancelToken
    partial: Callable[[object], None]


class Job(QObject):
    """GUI-side handle on one background task. Signals are delivered on the GUI thread."""

    progress = Signal(float, str)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)  # message, details (traceback)
    cancelled = Signal()
    finished = Signal()  # always last, whatever the outcome

    # emitted on the worker thread, queued to the slots below
    _w_progress = Signal(float, str)
    _w_partial = Signal(object)
    _w_succeeded = Signal(object)
    _w_failed = Signal(str, str)
    _w_cancelled = Signal()
    _w_finished = Signal()

    def __init__(self, name: str, fn: Callable[[JobContext], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._fn = fn
        self.token = CancelToken()
        self._running = True
        self._last_progress = 0.0
        queued = Qt.ConnectionType.QueuedConnection
        self._w_progress.connect(self._on_progress, queued)
        self._w_partial.connect(self._on_partial, queued)
        self._w_succeeded.connect(self._on_succeeded, queued)
        self._w_failed.connect(self._on_failed, queued)
        self._w_cancelled.connect(self._on_cancelled, queued)
        self._w_finished.connect(self._on_finished, queued)

    # ----- GUI thread ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop at its next check; its ``cancelled`` (or a late result) still arrives."""
        self.token.cancel()

    def is_running(self) -> bool:
        return self._running

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        if not self.token.cancelled:
            self.progress.emit(fraction, message)

    @Slot(object)
    def _on_partial(self, value: object) -> None:
        self.partial.emit(value)

    @Slot(object)
    def _on_succeeded(self, value: object) -> None:
        self.succeeded.emit(value)

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self.failed.emit(message, details)

    @Slot()
    def _on_cancelled(self) -> None:
        self.cancelled.emit()

    @Slot()
    def _on_finished(self) -> None:
        self._running = False
        self.finished.emit()
        self.deleteLater()

    # ----- worker thread ------------------------------------------------------------------------------
    def _progress(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        # At most ~25 updates a second: a flood of queued events would itself slow the event loop.
        if fraction >= 1.0 or now - self._last_progress >= 0.04:
            self._last_progress = now
            self._w_progress.emit(float(fraction), message)

    def run(self) -> None:
        _lower_priority()
        ctx = JobContext(self._progress, self.token, self._w_partial.emit)
        try:
            if self.token.cancelled:
                raise Cancelled("cancelled before it started")
            result = self._fn(ctx)
            if self.token.cancelled:
                raise Cancelled("cancelled")
            self._w_succeeded.emit(result)
        except Cancelled:
            self._w_cancelled.emit()
        except Exception as exc:  # a job's failure is shown in the window, never a crash
            self._w_failed.emit(error_text(exc), traceback.format_exc())
        finally:
            self._w_finished.emit()


class JobRunner(QObject):
    """Starts jobs on the global thread pool and keeps them until they finish (for cancel-all on close)."""

    def __init__(self, parent: QObject | None = None, min_threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool.globalInstance()
        # The pipeline, imports and dictionary training must not queue behind one another.
        if self.pool.maxThreadCount() < min_threads:
            self.pool.setMaxThreadCount(min_threads)
        self._jobs: set[Job] = set()

    def submit(self, name: str, fn: Callable[[JobContext], object]) -> Job:
        """Start ``fn`` on a pool thread. Connect to the returned job's signals right away: nothing is
        delivered before control returns to the event loop."""
        job = Job(name, fn, self)
        self._jobs.add(job)
        job.finished.connect(lambda j=job: self._jobs.discard(j))
        self.pool.start(job.run)
        return job

    def active(self) -> list[Job]:
        return [j for j in self._jobs if j.is_running()]

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    def wait(self, msecs: int = 10000) -> bool:
        """Block until every pool thread is idle (used on close, after cancel_all)."""
        return self.pool.waitForDone(msecs)
