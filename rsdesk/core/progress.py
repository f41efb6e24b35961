"""Cooperative progress reporting and cancellation shared by every long-running core function.

Core functions take two optional callables: ``progress(fraction, message)`` and ``cancel() -> bool``.
They call ``progress`` now and then and check ``cancel`` at every iteration, raising :class:`Cancelled`
so callers (CLI, GUI workers) can tell a user's cancel from a failure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


class Cancelled(Exception):
    """Raised inside a core function when its cancel callable returned True."""


class CancelToken:
    """A thread-safe cancel flag that can be passed wherever a ``CancelFn`` is expected."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the running job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:
        return self._event.is_set()


def check_cancel(cancel: CancelFn | None) -> None:
    """Raise :class:`Cancelled` if ``cancel`` says so; a ``None`` cancel never cancels."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled by request")


def report(progress: ProgressFn | None, fraction: float, message: str = "") -> None:
    """Call ``progress`` if given, clamping the fraction to [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)


def scaled(progress: ProgressFn | None, start: float, stop: float) -> ProgressFn | None:
    """Map a sub-task's 0..1 progress into ``[start, stop]`` of the caller's progress."""
    if progress is None:
        return None

    def _inner(fraction: float, message: str) -> None:
        progress(start + (stop - start) * fraction, message)

    return _inner
