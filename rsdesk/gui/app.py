"""Starting the window: the QApplication, settings, the main window, and the ``--screenshot`` mode that runs
the pipeline offscreen, waits for every stage, saves the window as PNG and exits."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

#: How long screenshot mode waits for the classifier and every stage before giving up.
SCREENSHOT_TIMEOUT_S = 240.0
#: How long, after the window closed, the app waits for background threads before exiting without them:
#: a worker stuck in a blocking call (a read that never returns) must not keep the process alive forever.
STUCK_WAIT_S = 5.0
SCREENSHOT_SIZE = (1680, 1050)


def configure_torch() -> None:
    """Leave the GUI thread a core: torch's intra-op threads would otherwise take them all."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def _application(offscreen: bool) -> object:
    if offscreen and not os.environ.get("QT_QPA_PLATFORM") and not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from rsdesk.core.io.assets import resource_path

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("RSDesk")
    app.setOrganizationName("RSDesk")
    app.setApplicationDisplayName("RSDesk")
    # The desktop entry's name (packaging/linux): Wayland compositors match the window to its icon by it.
    app.setDesktopFileName("io.github.rsdesk.rsdesk")
    icon = resource_path("icons", "rsdesk.svg")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def wait_until_settled(window: object, timeout_s: float) -> str:
    """Process events until the classifier is loaded, imports are done and every stage has finished.

    Returns "" when settled, else what is still missing.
    """
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if window.session.classifier_error:
            return f"the classifier did not load ({window.session.classifier_error})"
        if not window.importer.is_running() and window.gallery.rowCount() == 0:
            return "no image could be opened"
        settled = (
            window.state.classifier is not None
            and not window.importer.is_running()
            and window.pipeline.is_idle()
            and window.state.image is not None
        )
        if settled:
            return ""
        time.sleep(0.01)
    if window.state.classifier is None:
        return "the classifier did not load"
    return "the pipeline did not finish"


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns about window features it lacks; that is noise in screenshot mode."""
    from PySide6.QtCore import qInstallMessageHandler

    previous = None

    def handler(mode: object, context: object, message: str) -> None:
        if "does not support propagateSizeHints" in message:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            print(message, file=sys.stderr)

    previous = qInstallMessageHandler(handler)


def show_run(window: object, run_dir: Path, timeout_s: float) -> str:
    """Open an evaluation run directory on the Evaluate tab and wait until its curves, table and checks are
    drawn. Returns "" when shown, else what went wrong."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    if not window.evaluation.open_run(run_dir):
        return f"{run_dir} is not an evaluation run directory (plan.json and results.csv)"
    tab, deadline = window.evaluation.tab, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if tab.is_settled():
            return "" if tab.results.summary is not None else f"the run in {run_dir} could not be read"
        time.sleep(0.01)
    return f"the run in {run_dir} was not read"


def _screenshot(app: object, window: object, out: Path, open_run: str | None, timeout_s: float) -> int:
    from PySide6.QtCore import QCoreApplication

    from rsdesk.gui.models.results import Row, Status

    _quiet_offscreen_warnings()
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    missing = wait_until_settled(window, timeout_s)
    if open_run and not missing:
        missing = show_run(window, Path(open_run), timeout_s)
    failed = [r for r in Row if window.results.stage(r).status is Status.FAILED]
    code = 0
    if missing:
        print(f"error: screenshot not taken: {missing} within {timeout_s:g} s", file=sys.stderr)
        code = 1
    elif failed:
        for r in failed:
            print(f"error: {r.name.lower()} stage failed: {window.results.stage(r).message}", file=sys.stderr)
        code = 1
    if not missing:
        for _ in range(5):
            QCoreApplication.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out), "PNG"):
            print(f"error: could not write {out}", file=sys.stderr)
            code = 1
        else:
            print(f"saved {out}")
    if not window.shutdown(round(STUCK_WAIT_S * 1000)):
        _exit_now(code)
    window.close()
    return code


def _exit_now(code: int) -> None:
    """A background thread is stuck in a call that never returns: exit without it. Qt's thread pool would
    wait for it forever at interpreter exit, so this skips the exit handlers, after flushing the output."""
    print(
        f"error: a background task did not stop within {STUCK_WAIT_S:g} s; RSDesk exits without it",
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 1)


def install_excepthook(window: object) -> Callable[[], None]:
    """Unexpected exceptions in slots (``sys.excepthook``) and Python threads (``threading.excepthook``) are
    written to the crash log and shown once per burst as an error message in the window (details: the
    traceback, and where the log is), not a dead window and never a storm of dialogs: the demo goes on.

    Returns a function that puts the previous hooks back.
    """
    import threading
    import traceback

    from rsdesk.gui.tasks.crash_log import CrashNotice, record_unexpected

    notice = CrashNotice(window)  # deleted with the window: nothing is shown on a window that is gone
    notice.notice.connect(lambda text, details: window.notify("error", text, details))
    notice.more.connect(lambda text: window.log.add("error", text))

    def report(where: str, exc_type: type[BaseException], exc: BaseException, tb: object) -> None:
        print("".join(traceback.format_exception(exc_type, exc, tb)), file=sys.stderr)
        try:
            notice.report(where, exc_type, exc, tb)
        except RuntimeError:  # the window (and its notice) is already gone: the log still keeps it
            record_unexpected(where, exc, exc_type, tb)

    def hook(exc_type: type[BaseException], exc: BaseException, tb: object) -> None:
        report("a slot of the window", exc_type, exc, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        report(f"the thread {name!r}", args.exc_type, args.exc_value, args.exc_traceback)

    previous = sys.excepthook, threading.excepthook
    sys.excepthook, threading.excepthook = hook, thread_hook

    def restore() -> None:
        sys.excepthook, threading.excepthook = previous

    return restore


def no_display_message() -> str | None:
    """Why a window cannot open here, if it cannot (Qt itself would abort the process with a core dump)."""
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open. "
        "Run RSDesk on a desktop session; for a headless render use `rsdesk --screenshot out.png`, "
        "or set QT_QPA_PLATFORM=offscreen."
    )


#: The libraries Qt's xcb platform plugin loads that a bare Linux (a server or minimal image) may lack, with
#: the Debian/Ubuntu package of each. Without one, QApplication aborts the process ("could not load the Qt
#: platform plugin 'xcb'") in C++, so they are looked for before it is created.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def _loadable(name: str) -> bool:
    """Whether the dynamic loader finds ``name`` (as Qt's plugin would: the same search path)."""
    import ctypes

    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_xcb_message(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    loadable: Callable[[str], bool] | None = None,
) -> str | None:
    """One line naming the X libraries Qt's xcb plugin needs and cannot find, with the apt-get command that
    installs them; None where Qt will not use xcb (another platform, Wayland, no display) or all are there."""
    env = os.environ if env is None else env
    if (platform or sys.platform) != "linux":
        return None
    qpa = env.get("QT_QPA_PLATFORM", "")
    if qpa:
        if qpa.split(":", 1)[0] != "xcb":  # another plugin, or a list Qt falls back along
            return None
    elif not env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    found = loadable or _loadable
    missing = [name for name in XCB_LIBRARIES if not found(name)]
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(XCB_LIBRARIES[name] for name in missing))
    return (
        f"Qt cannot open a window: its xcb platform plugin needs {', '.join(missing)}, not found on this "
        f"system. Install with: sudo apt-get install {packages}"
    )


def run(
    images: list[str],
    screenshot: str | None = None,
    open_run: str | None = None,
    timeout_s: float = SCREENSHOT_TIMEOUT_S,
) -> int:
    """Open the window on ``images`` (the bundled samples when empty); with ``screenshot``, save and exit
    (giving up after ``timeout_s``); with ``open_run``, show that evaluation run directory on the Evaluate
    tab. Exits promptly even when a background thread is stuck (see :func:`_exit_now`)."""
    if screenshot is None and (problem := no_display_message() or missing_xcb_message()):
        print(f"error: {problem}", file=sys.stderr)
        return 1
    if screenshot is not None and not os.environ.get("QT_QPA_PLATFORM") and missing_xcb_message():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen, nor the X libraries
    app = _application(offscreen=screenshot is not None)
    configure_torch()
    from rsdesk.gui.main_window import MainWindow
    from rsdesk.gui.models.settings import Settings, load_settings

    # A screenshot renders the bundled defaults, like the window layout (see WindowLayout), so it is the
    # same whatever the last session left; it never writes the user's settings back either.
    settings, warnings = (Settings(), []) if screenshot else load_settings()
    window = MainWindow(settings, warnings)
    window.session.persist_settings = not screenshot
    restore_hooks = install_excepthook(window)
    try:
        window.open_startup(list(images))
        if screenshot:
            return _screenshot(app, window, Path(screenshot), open_run, timeout_s)
        window.resize(*SCREENSHOT_SIZE)
        window.window_layout.restore()  # the last run's layout (never in screenshot mode: see above)
        window.show()
        if open_run:
            window.evaluation.open_run(Path(open_run))
        code = int(app.exec())
        if not window.shutdown(round(STUCK_WAIT_S * 1000)):  # closing waited already; a stuck one stays
            _exit_now(code)
        return code
    finally:
        restore_hooks()
