"""The one job runner: background jobs on Qt's global thread pool, reporting to the GUI thread by queued
signals; a job started in a *slot* supersedes the one running there.

A job is a plain function ``fn(ctx)`` that calls core functions with ``ctx.progress`` and ``ctx.cancel`` and
returns a result; it never touches a widget. The :class:`Job` handle lives on the GUI thread; the pool runs a
plain callable (never a QObject's method) that posts to one process-wide dispatcher, which re-emits on the
handle if it still exists: a runner dropped without ``shutdown`` while a worker runs cannot crash the app.
An unexpected exception in a job (a bug, not a bad input) is also written to the crash log.
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
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThreadPool, QTimer, Signal, Slot

from rsdesk.core.errors import USER_ERRORS, error_text
from rsdesk.core.progress import Cancelled, CancelToken
from rsdesk.gui.tasks.crash_log import record_unexpected

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


class _Dispatcher(QObject):
    """The one receiver of every worker's signals, alive for the whole process on the GUI thread.

    Workers never emit on a job handle: the handle may be deleted with its runner while the worker still
    runs (a runner dropped without ``shutdown``), and emitting on a deleted QObject crashes the process.
    They emit here instead; the slot finds the handle by a weak reference and drops what is addressed to a
    handle that is gone.
    """

    deliver = Signal(object)  # (weak reference to the Job, method name, arguments)

    def __init__(self) -> None:
        super().__init__()
        self.deliver.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _deliver(self, item: tuple[weakref.ref, str, tuple]) -> None:
        ref, method, args = item
        job = ref()
        if job is not None and shiboken6.isValid(job):
            getattr(job, method)(*args)


_dispatcher: _Dispatcher | None = None


def _the_dispatcher() -> _Dispatcher:
    """Created on first use, which is on the GUI thread (a runner is built there), and never deleted."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()
    return _dispatcher


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

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.token = CancelToken()
        #: set by the worker when it has returned (a threading.Event: safe to wait on from any thread)
        self.done = threading.Event()
        self.superseded = False
        self._running = True

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

    # ----- delivered on the GUI thread by the dispatcher ----------------------------------------------
    def _on_progress(self, fraction: float, message: str) -> None:
        if self._live() and not self.token.cancelled:
            self.progress.emit(fraction, message)

    def _on_partial(self, value: object) -> None:
        if self._live():
            self.partial.emit(value)

    def _on_succeeded(self, value: object) -> None:
        if self._live():
            self.succeeded.emit(value)

    def _on_failed(self, message: str, details: str) -> None:
        if self._live():
            self.failed.emit(message, details)

    def _on_cancelled(self) -> None:
        if self._live():
            self.cancelled.emit()

    def _on_finished(self, _fn: object = None) -> None:
        self._running = False
        self.finished.emit()
        self.deleteLater()


class _Work:
    """What the pool runs: a plain callable holding the job function, its cancel token and ``done`` event,
    and only a weak reference to the GUI-side handle, so nothing the pool keeps can be deleted under it."""

    def __init__(self, job: Job, fn: Callable[[JobContext], object]) -> None:
        self._ref = weakref.ref(job)
        self._fn = fn
        self._token = job.token
        self._done = job.done
        self._name = job.name
        self._dispatch = _the_dispatcher().deliver
        self._last_progress = 0.0

    def _post(self, method: str, *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the dispatcher is gone: the interpreter is shutting down
            self._dispatch.emit((self._ref, method, args))

    def _progress(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        # At most ~25 updates a second: a flood of queued events would itself slow the event loop.
        if fraction >= 1.0 or now - self._last_progress >= 0.04:
            self._last_progress = now
            self._post("_on_progress", float(fraction), message)

    def __call__(self) -> None:
        _lower_priority()
        ctx = JobContext(self._progress, self._token, lambda value: self._post("_on_partial", value))
        try:
            if self._token.cancelled:
                raise Cancelled("cancelled before it started")
            result = self._fn(ctx)
            if self._token.cancelled:
                raise Cancelled("cancelled")
            self._post("_on_succeeded", result)
        except Cancelled:
            self._post("_on_cancelled")
        except Exception as exc:  # a job's failure is shown in the window, never a crash
            details = traceback.format_exc()
            if not isinstance(exc, USER_ERRORS):  # a bug, not a bad input: keep the evidence in the log
                where = record_unexpected(f"the background job {self._name!r}", exc)
                if where is not None:
                    details += f"\n(logged to {where})"
            self._post("_on_failed", error_text(exc), details)
        finally:
            # post ``finished`` before announcing ``done``: a thread waiting on ``done`` may then go on. The
            # job's function travels with it, so its closure is freed on the GUI thread, as before.
            fn, self._fn = self._fn, None
            self._post("_on_finished", fn)
            self._done.set()


def _job_ended(runner: weakref.ref, job: weakref.ref, slot: Hashable | None) -> None:
    r, j = runner(), job()
    if r is not None and j is not None and shiboken6.isValid(r):
        r._finished(j, slot)


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
        job = Job(name, self)
        self._jobs.add(job)
        if slot is not None:
            self._slots[slot] = job
        # Weak references only: a job's connection must not keep its runner alive, or a dropped runner would
        # be freed from inside its own child's destructor when that connection goes (a crash).
        job.finished.connect(partial(_job_ended, weakref.ref(self), weakref.ref(job), slot))
        self.pool.start(_Work(job, fn))
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


class SoleJob:
    """What a long job that runs one at a time shares (a dictionary training, a fine-tune): whether one is
    running, cancel, its time-left estimate, waiting for its threads, cancel on quit, and refusals
    delivered like every other outcome. Mixed into a QObject that has a ``failed(str, str)`` signal; call
    :meth:`_init_sole_job` from its ``__init__``; ``start`` sets ``_job`` and adds it to ``_alive``."""

    failed: Signal

    def _init_sole_job(self) -> None:
        self._job: Job | None = None  # the job whose outcome is still to come
        self._alive: set[Job] = set()  # jobs whose thread has not reported its end yet
        self._time_left: float | None = None
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._shutdown)

    def cancel(self) -> None:
        """Ask the running job to stop at its next check; ``cancelled`` follows."""
        if self._job is not None:
            self._job.cancel()

    def is_running(self) -> bool:
        return self._job is not None

    def time_left(self) -> float | None:
        """Seconds left by the latest estimate (None before there is one)."""
        return self._time_left

    def wait(self, msecs: int = 10000) -> bool:
        """Block until every thread of these jobs has returned (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + msecs / 1000.0
        return all(job.done.wait(max(0.0, deadline - time.monotonic())) for job in list(self._alive))

    def _shutdown(self) -> None:
        self.cancel()
        self.wait(30000)

    def _fail_later(self, message: str) -> None:
        # Failures arrive asynchronously, like every other outcome, so callers can connect after start().
        QTimer.singleShot(0, self, lambda: self.failed.emit(message, ""))  # type: ignore[call-overload]
