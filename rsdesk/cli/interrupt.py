"""Ctrl-C for the command line: exit 130 with one ``error: interrupted`` line, whatever was running.

Python's default handler raises ``KeyboardInterrupt`` wherever the main thread is. Raised inside library
clean-up code (a ``ZipFile`` being closed while a dictionary is saved) it can be swallowed, print an
"Exception ignored in ..." block, or turn into another exception (``ValueError: Can't close the ZIP file
while there is an open writing handle``) that would read as a bad option (exit 2). So the command line's
handler first records that the user asked to stop: whatever exception then ends the command, the exit is
130 with one line, and the noise of half-closed objects is kept off the screen. The saves themselves clean
up after any exception (:func:`rsdesk.core.io.files.atomic_write`), so no partial file is left.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C that a command has already explained (e.g. where the finished results are kept)."""

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)
        self.message = message


def caused_by_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a ``KeyboardInterrupt`` or was raised while one was being handled."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__context__ or exc.__cause__
    return False


class InterruptGuard:
    """While active (a ``with`` block in the main thread): SIGINT is recorded, then raised as usual.

    ``interrupted`` tells the caller that any exception it catches is the consequence of Ctrl-C; errors that
    objects report from their finalizers after it ("Exception ignored in ...") are not printed.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self._old_handler: Any = None
        self._old_hook: Any = None
        self._active = False

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True
        raise KeyboardInterrupt

    def _unraisable(self, info: Any) -> None:
        if self.interrupted or caused_by_interrupt(info.exc_value):
            return  # a half-closed object complaining on its way out: the one "interrupted" line says it
        self._old_hook(info)

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
            self._old_hook = sys.unraisablehook
            sys.unraisablehook = self._unraisable
            self._active = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._active:
            return
        signal.signal(signal.SIGINT, self._old_handler)
        if not self.interrupted:  # after Ctrl-C, objects collected at exit may still complain: stay quiet
            sys.unraisablehook = self._old_hook
        self._active = False
