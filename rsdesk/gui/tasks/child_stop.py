"""Stopping the sweep's child process without leaving half a file in its run directory.

``rsdesk evaluate`` saves every file atomically (a temp file beside it, then a rename) and handles Ctrl-C:
the save in progress removes its temp file and the command exits 130 with every finished row kept. So the
window stops it as Ctrl-C would (SIGINT) rather than with SIGTERM, which ends a Python process on the spot,
mid-save. A child that does not stop in time is killed; the temp file it may have left is then removed
here, once no writer is left: the run directory holds complete files or none.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from PySide6.QtCore import QProcess

#: How deep below the run directory temp files are looked for (adversarials/, figures/).
TEMP_DEPTH = 2


def interrupt(proc: QProcess) -> None:
    """Ask ``proc`` to stop as Ctrl-C would (POSIX); elsewhere, or if that fails, terminate it."""
    pid = int(proc.processId())
    if os.name == "posix" and pid > 0:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGINT)
            return
    proc.terminate()


def is_temp_file(name: str) -> bool:
    """Whether ``name`` is an atomic save's temp file (``.NAME.random.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3


def remove_temp_files(folder: Path | None) -> list[Path]:
    """Delete the temp files a stopped writer left in ``folder`` and below it; returns those removed.

    Call only once the writer has ended. Links are not followed; a file that cannot be removed stays.
    """
    removed: list[Path] = []
    if folder is None:
        return removed
    pending = [(Path(folder), 0)]
    while pending:
        current, depth = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False) and depth < TEMP_DEPTH:
                    pending.append((Path(entry.path), depth + 1))
                elif entry.is_file(follow_symlinks=False) and is_temp_file(entry.name):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed
