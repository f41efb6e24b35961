"""Crash safety in the window: an unexpected exception in a slot or a Python thread is logged to the crash
log (version, time, traceback) and shown once as a non-modal notice naming the log; the app keeps running."""

from __future__ import annotations

import threading

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from rsdesk import __version__
from rsdesk.gui.app import install_excepthook
from rsdesk.gui.tasks.crash_log import log_file


def _fail(n: int = 0) -> None:
    1 / n


def test_a_burst_of_slot_and_thread_errors_is_one_notice_and_the_window_goes_on(qtbot, make_window, tmp_path):
    w = make_window()
    errors: list[tuple[str, str]] = []
    w.messages.shown.connect(lambda kind, text, _d: kind == "error" and errors.append((kind, text)))
    restore = install_excepthook(w)
    try:
        for _ in range(45):
            QTimer.singleShot(0, _fail)  # an exception in a slot
        threads = [threading.Thread(target=_fail, name=f"helper {i}") for i in range(5)]
        for t in threads:
            t.start()
        qtbot.waitUntil(lambda: len(errors) > 0, timeout=5000)
        qtbot.wait(500)
    finally:
        restore()
    assert len(errors) == 1  # one notice, no storm, no modal dialog
    text = errors[0][1]
    assert text.startswith("Unexpected error: ZeroDivisionError: division by zero (in ")
    assert text.endswith(f" and 49 more. RSDesk keeps running; details are in {log_file()}.")
    assert QApplication.activeModalWidget() is None and w.messages.isVisible()
    log = log_file().read_text(encoding="utf-8")
    assert log.count(f"RSDesk {__version__}") == 50 and log.count("Traceback") == 50
    assert (
        "unexpected error in a slot of the window" in log
        and "unexpected error in the thread 'helper 0'" in log
    )
    w.messages.grab().save(str(tmp_path / "crash_notice.png"))
    # the window goes on: it still imports and shows an image
    from rsdesk.core.io.assets import resource_path

    w.import_paths([resource_path("samples", "coffee.jpg")], select=True)
    qtbot.waitUntil(lambda: w.state.image is not None, timeout=30000)
