"""The one job runner: background jobs on Qt's global thread pool, reporting to the GUI thread by queued
signals; a job started in a *slot* supersedes the one running there.

A job is a plain function ``fn(ctx)`` that calls core functions with ``ctx.progress`` and ``ctx.cancel`` and
returns a result; it never touches a widget. The :class:`Job` handle lives on the GUI thread: the worker
emits private signals that are queued to the handle's slots, which re-emit them on the GUI thread.
Cancellation is cooperative (core functions raise ``Cancelled``).

Superseding is the runner's rule, so every caller gets it the same way: ``submit(name, fn, slot=key)``
cancels the job running under ``key`` and marks it superseded; a superseded job delivers nothing more —
no progress, partial result, result, failure or cancel — only ``finished``, so a late result of an old
request can never land anywhere. Jobs without a slot (imports) run side by side.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

from rsdesk.core.errors import error_text
from rsdesk.core.progress import Cancelled, CancelToken

#: Worker threads run "nicer" than the GUI thread, so the scheduler wakes the event loop promptly.
WORKER_NICENESS = 5
#: Enough pool threads that the pipeline, an import, a batch and a dictionary training never queue
#: behind one another.
MIN_THREADS = 5
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
    """GUI-side handle on one background task. Signals are delivered on the GUI thread.

    Every background task reports in these shapes: ``progress(fraction, message)``, ``partial(value)``,
    ``succeeded(result)``, ``failed(message, details)``, ``cancelled()``, then always ``finished()``, after
    which the handle deletes itself: keep no reference past ``finished`` (wait on ``done`` instead).
    """

    progress = Signal(float, str)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)  # message for a user, details (traceback)
    cancelled = Signal()
    finished = Signal()  # always last, whatever the outcome (superseded jobs too)

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
        #: set by the worker when it has returned (a threading.Event: safe to wait on from any thread)
        self.done = threading.Event()
        self.superseded = False
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

    def supersede(self) -> None:
        """Cancel the job and drop everything it would still deliver (except ``finished``)."""
        self.superseded = True
        self.token.cancel()

    def is_running(self) -> bool:
        return self._running

    def _live(self) -> bool:
        return not self.superseded

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        if self._live() and not self.token.cancelled:
            self.progress.emit(fraction, message)

    @Slot(object)
    def _on_partial(self, value: object) -> None:
        if self._live():
            self.partial.emit(value)

    @Slot(object)
    def _on_succeeded(self, value: object) -> None:
        if self._live():
            self.succeeded.emit(value)

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        if self._live():
            self.failed.emit(message, details)

    @Slot()
    def _on_cancelled(self) -> None:
        if self._live():
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
            # post ``finished`` before announcing ``done``: a thread that waits on ``done`` may delete this
            # job at once, and emitting on a deleted QObject would crash
            self._w_finished.emit()
            self.done.set()


class JobRunner(QObject):
    """Starts jobs on the global thread pool; keeps each until it finishes (cancel-all and wait on close)."""

    def __init__(self, parent: QObject | None = None, min_threads: int = MIN_THREADS) -> None:
        super().__init__(parent)
        self.pool = QThreadPool.globalInstance()
        if self.pool.maxThreadCount() < min_threads:
            self.pool.setMaxThreadCount(min_threads)
        self._jobs: set[Job] = set()
        self._slots: dict[Hashable, Job] = {}

    def submit(self, name: str, fn: Callable[[JobContext], object], slot: Hashable | None = None) -> Job:
        """Start ``fn`` on a pool thread; with ``slot``, the job running there is superseded first.

        Connect to the returned job's signals right away: nothing is delivered before control returns to
        the event loop.
        """
        if slot is not None:
            self.supersede(slot)
        job = Job(name, fn, self)
        self._jobs.add(job)
        if slot is not None:
            self._slots[slot] = job
        job.finished.connect(lambda j=job, s=slot: self._finished(j, s))
        self.pool.start(job.run)
        return job

    def supersede(self, slot: Hashable) -> None:
        """Cancel the job in ``slot`` (if any) and drop whatever it would still deliver."""
        job = self._slots.pop(slot, None)
        if job is not None:
            job.supersede()

    def running(self, slot: Hashable) -> Job | None:
        """The job now running in ``slot`` (None once it finished or was superseded)."""
        return self._slots.get(slot)

    def _finished(self, job: Job, slot: Hashable | None) -> None:
        self._jobs.discard(job)
        if slot is not None and self._slots.get(slot) is job:
            del self._slots[slot]

    def active(self) -> list[Job]:
        """Every job whose thread has not reported its end yet (superseded ones included)."""
        return [j for j in self._jobs if j.is_running()]

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    def shutdown(self, msecs: int = 10000) -> bool:
        """Supersede every job and block until the pool threads are idle (window close)."""
        for slot in list(self._slots):
            self.supersede(slot)
        self.cancel_all()
        return self.pool.waitForDone(msecs)
