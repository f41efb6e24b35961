"""The crash log and the crash notice: an unexpected exception anywhere (a slot, a Python thread, a background
job) is written with the version, the time and the traceback to ``rsdesk.log`` in the user log folder
(``$RSDESK_LOG_DIR`` isolates tests), and shown to the user once per burst, never as a storm of dialogs.

Why a file: the Log tab dies with the window, and a bug report needs the traceback after a restart. Why
capped (a rotating file): a slot that fails on every repaint must not fill the disk. Why one notice per
burst: fifty failing repaints are one problem to the user, and the app keeps running.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from rsdesk import __version__
from rsdesk.gui.models.settings import log_dir

LOG_NAME = "rsdesk.log"
#: The log's size cap: one file of this size plus this many older ones.
MAX_BYTES = 512 * 1024
BACKUP_COUNT = 2
#: Errors that arrive within this time of the first are one burst, shown as one notice.
BURST_MS = 300
#: After a notice, further errors for this long only add a line to the Log tab.
QUIET_S = 30.0

_lock = threading.Lock()
_logger = logging.getLogger("rsdesk.crash")
_logger.propagate = False
_logger.setLevel(logging.ERROR)


def log_file() -> Path:
    """The crash log of this run (the folder the environment names now)."""
    return log_dir() / LOG_NAME


def _handler(path: Path) -> RotatingFileHandler:
    """The handler writing to ``path``; replaced when the log folder changed (tests isolate each one)."""
    for h in _logger.handlers:
        if isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path.absolute():
            return h
        _logger.removeHandler(h)
        h.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    h = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8")
    h.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(h)
    return h


def record_unexpected(
    where: str,
    exc: BaseException,
    exc_type: type[BaseException] | None = None,
    tb: TracebackType | None = None,
) -> Path | None:
    """Append one entry (version, time, where, traceback) to the crash log; from any thread.

    Returns the log file, or None when it could not be written: logging a crash must never raise.
    """
    exc_type = exc_type or type(exc)
    text = "".join(traceback.format_exception(exc_type, exc, tb if tb is not None else exc.__traceback__))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z")
    head = (
        f"=== {stamp} RSDesk {__version__} (Python {platform.python_version()}, {platform.platform()}): "
        f"unexpected error in {where}"
    )
    path = log_file()
    try:
        with _lock:
            handler = _handler(path)
            record = logging.LogRecord(_logger.name, logging.ERROR, __file__, 0, "%s\n%s", (head, text), None)
            if handler.shouldRollover(record):
                handler.doRollover()
            handler.stream.write(handler.format(record) + "\n")
            handler.stream.flush()
    except (OSError, ValueError):  # an unwritable log folder, a closed stream: the notice still shows
        return None
    return path


class CrashNotice(QObject):
    """Unexpected errors from any thread become one ``notice(text, details)`` per burst on the GUI thread;
    errors within :data:`QUIET_S` after a notice become one ``more(text)`` line per burst instead."""

    notice = Signal(str, str)
    more = Signal(str)
    _arrived = Signal()

    def __init__(
        self, parent: QObject | None = None, burst_ms: int = BURST_MS, quiet_s: float = QUIET_S
    ) -> None:
        super().__init__(parent)
        self._pending: list[tuple[str, str, Path | None]] = []
        self._pending_lock = threading.Lock()
        self._quiet_s = quiet_s
        self._last_notice = float("-inf")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(burst_ms)
        self._timer.timeout.connect(self._flush)
        self._arrived.connect(self._start, Qt.ConnectionType.QueuedConnection)

    def report(
        self, where: str, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        """Log the error and queue it for the notice. Safe from any thread."""
        path = record_unexpected(where, exc, exc_type, tb)
        summary = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        with self._pending_lock:
            self._pending.append((f"{summary} (in {where})", details, path))
        self._arrived.emit()

    @Slot()
    def _start(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def _flush(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        first, _details, path = pending[0]
        more = f" and {len(pending) - 1} more" if len(pending) > 1 else ""
        where = f"details are in {path}" if path is not None else "the crash log could not be written"
        now = time.monotonic()
        if now - self._last_notice < self._quiet_s:
            self.more.emit(f"{len(pending)} more unexpected error(s) (first: {first}); {where}")
            return
        self._last_notice = now
        text = f"Unexpected error: {first}{more}. RSDesk keeps running; {where}."
        self.notice.emit(text, "\n".join(d for _s, d, _p in pending[:5]))
