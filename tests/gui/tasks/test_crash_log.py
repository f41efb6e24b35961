"""The crash log: an unexpected error from any thread is written with the version, the time and the traceback
to a capped file in the user log folder, and a burst of them becomes one notice."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from rsdesk import __version__
from rsdesk.gui.models.settings import log_dir
from rsdesk.gui.tasks import crash_log
from rsdesk.gui.tasks.crash_log import CrashNotice, log_file, record_unexpected
from rsdesk.gui.tasks.runner import JobRunner


def _boom(n: int = 0) -> ZeroDivisionError:
    try:
        1 / n
    except ZeroDivisionError as exc:
        return exc
    raise AssertionError


def test_the_log_folder_honours_rsdesk_log_dir():
    folder = Path(os.environ["RSDESK_LOG_DIR"])  # set by the isolation fixture in tests/conftest.py
    assert log_dir() == folder and log_file() == folder / "rsdesk.log"


def test_an_entry_has_version_time_where_and_traceback():
    path = record_unexpected("a test", _boom())
    text = path.read_text(encoding="utf-8")
    assert path == log_file()
    assert f"RSDesk {__version__}" in text and "unexpected error in a test" in text
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError: division by zero" in text
    assert text.startswith("=== 20")  # the date and time lead the entry


def test_the_log_is_capped(monkeypatch):
    monkeypatch.setattr(crash_log, "MAX_BYTES", 4000)
    for _ in range(200):
        record_unexpected("a loop", _boom())
    files = sorted(log_file().parent.iterdir())
    assert [f.name for f in files] == ["rsdesk.log", "rsdesk.log.1", "rsdesk.log.2"]
    assert all(f.stat().st_size <= 4000 for f in files)


def test_an_unwritable_log_folder_never_raises(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("RSDESK_LOG_DIR", str(blocker / "log"))  # a folder below a file cannot exist
    assert record_unexpected("a test", _boom()) is None


def test_a_burst_from_many_threads_is_one_notice_then_quiet_lines(qtbot):
    notice = CrashNotice(burst_ms=100, quiet_s=60)
    shown, more = [], []
    notice.notice.connect(lambda t, d: shown.append((t, d)))
    notice.more.connect(more.append)
    exc = _boom()
    threads = [
        threading.Thread(target=notice.report, args=("a worker", ZeroDivisionError, exc, exc.__traceback__))
        for _ in range(50)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    qtbot.waitUntil(lambda: len(shown) > 0, timeout=3000)
    qtbot.wait(300)
    assert len(shown) == 1 and more == []
    text, details = shown[0]
    assert text == (
        "Unexpected error: ZeroDivisionError: division by zero (in a worker) and 49 more. "
        f"RSDesk keeps running; details are in {log_file()}."
    )
    assert "Traceback" in details
    notice.report("a slot", ZeroDivisionError, exc, exc.__traceback__)
    qtbot.waitUntil(lambda: len(more) > 0, timeout=3000)
    assert len(shown) == 1
    assert more == [
        "1 more unexpected error(s) (first: ZeroDivisionError: division by zero (in a slot)); "
        f"details are in {log_file()}"
    ]
    assert log_file().read_text(encoding="utf-8").count("unexpected error in ") == 51


def test_a_bug_in_a_background_job_is_logged_a_bad_input_is_not(qtbot):
    runner = JobRunner()
    outcomes: list = []

    def bug(_ctx):
        raise KeyError("k")

    def bad_input(_ctx):
        raise ValueError("photo.png is not an image")

    for fn in (bug, bad_input):
        runner.submit(fn.__name__, fn).failed.connect(lambda m, d: outcomes.append((m, d)))
    qtbot.waitUntil(lambda: len(outcomes) == 2, timeout=5000)
    assert runner.shutdown(5000)
    details = dict(outcomes)
    assert details["KeyError: 'k'"].endswith(f"(logged to {log_file()})")
    assert "logged to" not in details["photo.png is not an image"]
    text = log_file().read_text(encoding="utf-8")
    assert text.count("unexpected error in ") == 1 and "the background job 'bug'" in text
