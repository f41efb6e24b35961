"""Background dictionary training: core ``train_dictionary`` on a QThread, reported by signals.

Training takes minutes on a full image folder, so it runs off the GUI thread with the core's cooperative
cancel token; the worker never touches a widget, it only emits. One training at a time: a second start
while one runs is refused (it would double the CPU load and race on the result).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from rsdesk.core.dictionary import Dictionary, TrainingConfig, save_dictionary, train_dictionary
from rsdesk.core.images import list_images
from rsdesk.core.progress import Cancelled, CancelToken, check_cancel
from rsdesk.gui.settings import data_dir

_CORE_ETA = re.compile(r",?\s*~(\d+(?:\.\d+)?) s left")
#: The core maps patch extraction to 0…0.2 of the progress and learning to 0.2…1.
_LEARNING_STARTS = 0.2


def format_time_left(seconds: float | None) -> str:
    """``0:41 left``, ``1:02:03 left``, or an honest "estimating" before there is a rate to go on."""
    if seconds is None:
        return "estimating time left"
    s = max(0, round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return (f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}") + " left"


def dictionary_file_name(config: TrainingConfig, when: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    return f"dictionary-{stamp}-h{config.h:g}-{config.n_atoms}.npz"


class _TrainingThread(QThread):
    """Runs one training; emits from the worker thread (delivered queued to the GUI thread)."""

    progressed = Signal(float, str)
    skipped = Signal(str)
    succeeded = Signal(object, object)
    errored = Signal(str)
    stopped = Signal()

    def __init__(
        self, images: list[Path], config: TrainingConfig, out: Path, folder: Path, parent: QObject
    ) -> None:
        super().__init__(parent)
        self.images, self.config, self.out, self.folder = images, config, out, folder
        self.token = CancelToken()

    def run(self) -> None:
        try:
            d = train_dictionary(
                self.images,
                self.config,
                progress=self.progressed.emit,
                cancel=self.token,
                on_skip=self.skipped.emit,
            )
            check_cancel(self.token)  # a cancel during the last batch still means "do not save"
            path = save_dictionary(self.out, d)
        except Cancelled:
            self.stopped.emit()
        except ValueError as exc:
            text = str(exc)
            if text.startswith("no usable training images"):
                detail = text.removeprefix("no usable training images").strip()
                text = f"no usable images in {self.folder}" + (f" {detail}" if detail else "")
            self.errored.emit(text)
        except MemoryError:
            self.errored.emit("not enough memory: use fewer patches per image or fewer images")
        except Exception as exc:  # the thread must always report an end, whatever went wrong
            self.errored.emit(f"dictionary training failed: {type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(path, d)


class DictionaryTrainer(QObject):
    """Trains a dictionary from a folder of images in the background, one training at a time."""

    progress = Signal(float, str)
    finished = Signal(object, object)
    failed = Signal(str)
    cancelled = Signal()
    skipped = Signal(str)
    #: emitted when a training really begins (not for a refused start)
    started = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _TrainingThread | None = None
        self._alive: set[_TrainingThread] = set()
        self._t0 = 0.0
        self._learn_start: tuple[float, float] | None = None
        self._time_left: float | None = None
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._shutdown)

    # ----- control ----------------------------------------------------------------------------------
    def start(self, folder: Path, config: TrainingConfig) -> None:
        """Begin training from the images in ``folder``; problems arrive through ``failed``."""
        if self.is_running():
            self._fail_later("training already running")
            return
        folder = Path(folder).expanduser()
        problem = self._check(folder, config)
        if problem:
            self._fail_later(problem)
            return
        images = list_images([folder])
        out = data_dir() / "dictionaries" / dictionary_file_name(config)
        n = 2
        while out.exists():  # two trainings within one second must not overwrite each other
            out = out.with_name(f"{dictionary_file_name(config).removesuffix('.npz')}-{n}.npz")
            n += 1
        thread = _TrainingThread(images, config, out, folder, self)
        thread.progressed.connect(self._on_progress)
        thread.skipped.connect(self.skipped)
        thread.succeeded.connect(self._on_succeeded)
        thread.errored.connect(self._on_errored)
        thread.stopped.connect(self._on_stopped)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        self._alive.add(thread)
        self._t0 = time.monotonic()
        self._learn_start = None
        self._time_left = None
        thread.start(QThread.Priority.LowPriority)
        self.started.emit()

    @staticmethod
    def _check(folder: Path, config: TrainingConfig) -> str | None:
        try:
            config.validate()
        except ValueError as exc:
            return f"invalid training settings: {exc}"
        if not folder.exists():
            return f"folder not found: {folder}"
        if not folder.is_dir():
            return f"{folder} is not a folder"
        if not list_images([folder]):
            return f"no usable images in {folder} (no image files found)"
        return None

    def cancel(self) -> None:
        """Ask the running training to stop at its next check; ``cancelled`` follows."""
        if self._thread is not None:
            self._thread.token.cancel()

    def is_running(self) -> bool:
        return self._thread is not None

    def time_left(self) -> float | None:
        """Seconds left by the latest estimate (None before there is one)."""
        return self._time_left

    def wait(self, msecs: int = 10000) -> bool:
        """Block until every worker thread has ended (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + msecs / 1000.0
        for t in list(self._alive):
            if shiboken6.isValid(t):
                left = max(0, int((deadline - time.monotonic()) * 1000))
                if not t.wait(left):
                    return False
        return True

    def _shutdown(self) -> None:
        self.cancel()
        self.wait(30000)

    def _fail_later(self, message: str) -> None:
        # Failures arrive asynchronously, like every other outcome, so callers can connect after start().
        QTimer.singleShot(0, self, lambda: self.failed.emit(message))

    # ----- results (GUI thread) ----------------------------------------------------------------------
    def _estimate(self, fraction: float, message: str) -> tuple[float | None, str]:
        now = time.monotonic()
        m = _CORE_ETA.search(message)
        if m:  # the core measures its own learning rate: the best estimate there is
            return float(m.group(1)), _CORE_ETA.sub("", message)
        if fraction >= _LEARNING_STARTS and self._learn_start is None:
            self._learn_start = (now, fraction)
        if self._learn_start is not None:
            t, f = self._learn_start
            if fraction > f:
                return (now - t) / (fraction - f) * (1.0 - fraction), message
            return self._time_left, message
        elapsed = now - self._t0
        if fraction > 0.01 and elapsed > 0.5:
            return elapsed / fraction * (1.0 - fraction), message
        return None, message

    def _on_progress(self, fraction: float, message: str) -> None:
        if self._thread is None:
            return
        self._time_left, text = self._estimate(fraction, message)
        self.progress.emit(fraction, f"{text} · {format_time_left(self._time_left)}")

    def _end(self) -> None:
        self._thread = None
        self._time_left = None

    def _on_succeeded(self, path: Path, dictionary: Dictionary) -> None:
        self._end()
        self.finished.emit(path, dictionary)

    def _on_errored(self, message: str) -> None:
        self._end()
        self.failed.emit(message)

    def _on_stopped(self) -> None:
        self._end()
        self.cancelled.emit()

    def _on_thread_finished(self) -> None:
        thread = self.sender()
        if isinstance(thread, _TrainingThread):
            self._alive.discard(thread)
            thread.deleteLater()


class TrainingStatusWidget(QWidget):
    """Status-bar strip: "Training dictionary [▇▇░ 43%] 0:41 left ✕", hidden while idle."""

    def __init__(self, trainer: DictionaryTrainer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trainer = trainer
        self.label = QLabel("Training dictionary")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFormat("%p%")
        self.bar.setTextVisible(True)
        self.bar.setFixedWidth(120)
        self.bar.setMaximumHeight(16)
        self.time_left = QLabel()
        self.cancel_button = QToolButton()
        self.cancel_button.setText("✕")
        self.cancel_button.setToolTip("Cancel dictionary training")
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.clicked.connect(self._on_cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.setSpacing(6)
        for w in (self.label, self.bar, self.time_left, self.cancel_button):
            lay.addWidget(w)
        trainer.started.connect(self._on_started)
        trainer.progress.connect(self._on_progress)
        for sig in (trainer.finished, trainer.failed, trainer.cancelled):
            sig.connect(self._on_ended)
        self.setVisible(trainer.is_running())

    def _on_started(self) -> None:
        self.bar.setValue(0)
        self.label.setText("Training dictionary")
        self.time_left.setText(format_time_left(None))
        self.cancel_button.setEnabled(True)
        self.setToolTip("")
        self.show()

    def _on_progress(self, fraction: float, message: str) -> None:
        if not self.isVisible():
            self._on_started()
        self.bar.setValue(round(fraction * 1000))
        if self.cancel_button.isEnabled():
            self.time_left.setText(format_time_left(self.trainer.time_left()))
        self.setToolTip(message)

    def _on_cancel(self) -> None:
        self.trainer.cancel()
        self.cancel_button.setEnabled(False)
        self.time_left.setText("cancelling…")

    def _on_ended(self, *_args: object) -> None:
        # A refused second start also reports ``failed``; the running training must stay visible.
        if not self.trainer.is_running():
            self.hide()
