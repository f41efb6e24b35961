"""Stopping the sweep's child process without leaving half a file in its run directory.

``rsdesk evaluate`` saves every file atomically (a temp file beside it, then a rename) and handles Ctrl-C:
the save in progress removes its temp file and the command exits 130 with every finished row kept. So the
window stops it as Ctrl-C would (SIGINT) rather than with SIGTERM, which ends a Python process on the spot,
mid-save. A child that does not stop in time is killed; the temp file it may have left is then removed
by the core's rule for stale temp files (``rsdesk.core.io.files.remove_stale_temps``): the run directory holds
complete files or none.
"""

from __future__ import annotations

import contextlib
import os
import signal

from PySide6.QtCore import QProcess


def interrupt(proc: QProcess) -> None:
    """Ask ``proc`` to stop as Ctrl-C would (POSIX); elsewhere, or if that fails, terminate it."""
    pid = int(proc.processId())
    if os.name == "posix" and pid > 0:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGINT)
            return
    proc.terminate()
